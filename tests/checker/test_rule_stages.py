"""A rule's stage, and its checks beside it: where each family's diagnostics come from."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cfglang.checker import check
from cfglang.ranges import VALUE_RANGES
from cfglang.rules import FAMILIES, REGISTRY, STAGES, all_rules, stage_of
from cfglang.rules import capability as C
from cfglang.rules import model as M
from cfglang.rules import schema as F
from cfglang.rules import value as V

ROOT = Path(__file__).resolve().parents[2]


def test_every_rule_has_the_stage_of_its_family() -> None:
    assert {family.stage for family in FAMILIES.values()} == set(STAGES)
    for r in all_rules():
        assert r.stage == FAMILIES[r.family].stage
        assert stage_of(r.code) == r.stage
    assert stage_of("S001") == "parse" and stage_of("F001") == "check" and stage_of("M001") == "resolve"
    assert stage_of("L001") == "lint" and stage_of("X999") is None


def test_the_check_stage_reports_only_check_stage_codes() -> None:
    text = ("batch_num: 0\nskip_layer_types: \"conv2d\"\nfoo: 1\ncommon_config { ada_quantize { reg_param: 1 } }\n"
            "override_layer_types { layer_type: \"Conv1d\" calibration_config { ada_quantize { } } }\n")
    stages = {stage_of(d.code) for d in check(text).diagnostics}
    assert stages == {"check"}


def test_no_code_in_cfglang_branches_on_a_code_letter() -> None:
    # `code.startswith("S")` and the like: a rule's stage says where it comes from (Rule.stage, stage_of)
    found = []
    for path in sorted((ROOT / "cfglang").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "startswith"
                    and node.args and isinstance(node.args[0], ast.Constant)
                    and node.args[0].value in {family.letter for family in FAMILIES.values()}):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, found


@pytest.mark.parametrize("module", [F, V, C], ids=lambda m: m.__name__)
def test_a_family_module_checks_only_its_own_rules(module) -> None:
    # each check sits beside the rules it reports: every `Finding(CODE, ...)` of a family module names a rule
    # that the module itself registers
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    named = [node.args[0].id for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Name) and node.func.id == "Finding" and isinstance(node.args[0], ast.Name)]
    constants = [name for name in named if name.isupper()]
    assert constants
    family = module.__name__.rpartition(".")[2]
    for name in constants:
        assert REGISTRY[getattr(module, name)].family == family, name


def test_the_model_family_checks_its_rules_below_them() -> None:
    # the M checks read a resolution and report through `_diag(CODE, ...)`: each M rule, and only M rules,
    # from checks in the family's own table, in the family's modules (model.py and those it registers)
    from cfglang.rules import overrides, weights

    modules = (M, overrides, weights)
    codes = set()
    for module in modules:
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        codes |= {getattr(module, node.args[0].id) for node in ast.walk(tree) if isinstance(node, ast.Call)
                  and isinstance(node.func, ast.Name) and node.func.id == "_diag"
                  and isinstance(node.args[0], ast.Name)}
    assert codes == {r.code for r in all_rules() if r.family == "model"}
    checks = M.CHECKS.resolution + M.CHECKS.layer_attributes
    assert checks and all(check.__module__ in {m.__name__ for m in modules} for check in checks)


@pytest.mark.parametrize("code", [V.MIGRATION_STRENGTH_RANGE, V.REG_PARAM_RANGE, V.WARM_START_RANGE,
                                  V.PERCENTILE_RANGE])
def test_a_range_rule_states_its_interval(code: str) -> None:
    # the summary comes from cfglang.ranges: the interval written there, and nowhere else
    stated = {str(bound) for bound in VALUE_RANGES.values() if str(bound) in REGISTRY[code].summary}
    assert len(stated) == 1


def test_every_capability_fallback_has_its_words_beside_its_rule() -> None:
    # the model-aware twin of a C rule: what the resolver's events of a type that cannot take a value say
    assert set(C.FALLBACKS) == {"quant_bits", "dst_type", "ada_quantize", "dmq_balancer", "asymmetric"}
