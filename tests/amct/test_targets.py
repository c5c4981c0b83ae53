"""Targets as capability tables: the setting everywhere it can be given, what each table makes of
INT4 weights and INT16 activations (check, resolve, plan JSON, schemas), and the hints for names
from AMCT's other configs and frameworks."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from cfglang.capabilities import TARGETS, TargetError, format_target, get_target
from cfglang.checker import check
from amct_cli import run
from cfglang.settings import SettingsError, load_settings_file

A8W4_A16W8 = "common_config {\n  arq_quantize { quant_bits: 4 }\n  ifmr_quantize { dst_type: INT16 }\n}\n"
INVENTORY = {"version": 1, "layers": [
    {"name": "conv", "type": "Conv2d"}, {"name": "pool", "type": "AvgPool2d"}, {"name": "rnn", "type": "LSTM"},
    {"name": "c3", "type": "Conv3d"}, {"name": "fc", "type": "Linear"}], "foldable": [], "activations": []}


def codes(text: str, target: str | None = None) -> list[str]:
    return [d.code for d in check(text, target=target).diagnostics]


# the tables ---------------------------------------------------------------------------


def test_targets_differ_only_where_amct_changed() -> None:
    documented, v91, v92 = TARGETS["documented"], TARGETS["amct-9.1"], TARGETS["amct-9.2"]
    assert documented.bits_values() == (6, 7, 8) and v91.bits_values() == v92.bits_values() == (4, 6, 7, 8)
    assert documented.dst_types() == ("INT8",) and v91.dst_types() == ("INT8", "INT16")
    assert v92.dst_type_types("INT16") - v91.dst_type_types("INT16") == {"LSTM", "GRU"}
    assert v91.dst_type_bits("INT16") == 16 and documented.dst_type_bits("INT16") == 8
    for name in ("channel_wise", "ada", "dmq", "asymmetric"):
        assert getattr(documented, name) == getattr(v91, name) == getattr(v92, name)


def test_unknown_target_names_the_known_ones() -> None:
    with pytest.raises(TargetError, match="expected one of `documented`, `amct-9.1`, `amct-9.2`"):
        get_target("amct-8")
    assert get_target(None).name == "documented" and get_target(" AMCT-9.1 ").name == "amct-9.1"


def test_format_target_lists_the_table() -> None:
    text = format_target(TARGETS["amct-9.2"])
    assert "dst_type INT16 (16 bits)  Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, Linear, LSTM, GRU" in text
    assert "quant_bits 4" in text and "every type with weights" in text


# the checker ---------------------------------------------------------------------------


def test_documented_refuses_int4_and_int16_and_names_the_targets_that_accept_them() -> None:
    found = check(A8W4_A16W8).diagnostics
    assert [d.code for d in found] == ["V002", "V013"]
    assert found[0].message == ("`quant_bits` is 4, expected 6, 7 or 8 under target `documented` (targets "
                                "`amct-9.1` and `amct-9.2` accept it)")
    assert found[0].hint == "if the file is for AMCT's code rather than its documentation, check it with " \
                            "`--target amct-9.1`"
    assert found[1].message == ("`dst_type` is INT16, expected INT8 under target `documented` (targets `amct-9.1` "
                                "and `amct-9.2` accept it)")
    # a value no target accepts names none
    (other,) = check("common_config { arq_quantize { quant_bits: 5 } }\n").diagnostics
    assert other.message == "`quant_bits` is 5, expected 6, 7 or 8 under target `documented`" and other.hint is None


def test_amct_targets_accept_int4_everywhere_and_int16_with_a_fallback_from_common_config() -> None:
    for target in ("amct-9.1", "amct-9.2"):
        found = check(A8W4_A16W8, target=target).diagnostics
        assert [(d.code, d.severity.label) for d in found] == [("C011", "info")]
    assert codes("common_config { arq_quantize { quant_bits: 5 } }\n", "amct-9.1") == ["V002"]


def test_int16_type_override_errors_where_amct_raises() -> None:
    text = ('override_layer_types { layer_type: "GRU" calibration_config { hfmg_quantize { dst_type: INT16 } } }\n'
            'override_layer_types { layer_type: "Conv3d" calibration_config { hfmg_quantize { dst_type: INT16 } } }\n')
    assert [(d.code, d.span.line) for d in check(text, target="amct-9.1").diagnostics] == [("C010", 1), ("C010", 2)]
    assert [(d.code, d.span.line) for d in check(text, target="amct-9.2").diagnostics] == [("C010", 2)]


# resolution and the plan -----------------------------------------------------------------


def test_plan_records_its_target_and_the_widths_it_allows() -> None:
    import cfglang
    from cfglang.jsonschemas import validation_errors
    from cfglang.plan import Plan

    plan = cfglang.resolve(check(A8W4_A16W8, target="amct-9.1"), INVENTORY)
    data = plan.to_dict()
    assert data["target"] == "amct-9.1" and validation_errors(data, "plan") == []
    got = {layer["name"]: (layer["weight"] and layer["weight"]["bits"], layer["activation"]["bits"])
           for layer in data["layers"]}
    # INT16 for the table's types; AvgPool2d, LSTM (9.1) and Conv3d fall back to INT8
    assert got == {"conv": (4, 16), "pool": (None, 8), "rnn": (4, 8), "c3": (4, 8), "fc": (4, 16)}
    assert plan.layer("rnn").provenance["activation.bits"].source == "fallback"
    assert Plan.from_dict(data).target == "amct-9.1"
    v92 = cfglang.resolve(A8W4_A16W8, INVENTORY, target="amct-9.2")
    assert v92.target == "amct-9.2" and v92.layer("rnn").activation.bits == 16


def test_int16_in_a_layer_override_for_a_layer_outside_the_table_is_an_error() -> None:
    import cfglang

    text = 'override_layer_configs { layer_name: "pool" calibration_config { ifmr_quantize { dst_type: INT16 } } }\n'
    plan = cfglang.resolve(check(text, target="amct-9.1"), INVENTORY)
    assert [(d.code, d.severity.label) for d in plan.diagnostics] == [("M008", "error")]
    assert "INT16 activations are for" in plan.diagnostics[0].message


def test_a_plan_without_target_reads_as_documented_and_a_wrong_one_is_refused() -> None:
    import cfglang
    from cfglang.plan import Plan, PlanError

    data = cfglang.resolve("", INVENTORY).to_dict()
    assert data["target"] == "documented"
    del data["target"]
    assert Plan.from_dict(data).target == "documented"
    with pytest.raises(PlanError, match="target"):
        Plan.from_dict({**data, "target": "amct-8"})


def test_shipped_plan_schema_lists_what_the_tables_allow() -> None:
    from cfglang.jsonschemas import schema, with_targets
    from cfglang.resources import data_file

    shipped = json.loads(data_file("schemas", "plan.schema.json").read_text(encoding="utf-8"))
    assert shipped == with_targets(json.loads(json.dumps(shipped)))
    assert schema("plan")["properties"]["target"]["enum"] == list(TARGETS)


# the setting -------------------------------------------------------------------------------


def test_target_setting_in_amct_toml(tmp_path: Path) -> None:
    (tmp_path / "amct.toml").write_text('target = "amct-9.1"\n', encoding="utf-8")
    assert load_settings_file(tmp_path / "amct.toml").target == "amct-9.1"
    (tmp_path / "amct.toml").write_text('target = "newest"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="unknown target `newest`.*`target` in"):
        load_settings_file(tmp_path / "amct.toml")


def test_cli_target_option_wins_over_the_settings(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.amct]\ntarget = "amct-9.1"\n', encoding="utf-8")
    cfg = tmp_path / "q.cfg"
    cfg.write_text(A8W4_A16W8, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    assert run(["lint", str(cfg), "--format", "concise"], out, err) == 0
    assert "C011" in out.getvalue()
    out = io.StringIO()
    assert run(["lint", str(cfg), "--format", "concise", "--target", "documented"], out, err) == 1
    assert "V002" in out.getvalue() and "V013" in out.getvalue()
    err = io.StringIO()
    assert run(["lint", str(cfg), "--target", "amct-7"], io.StringIO(), err) == 2
    assert "unknown target `amct-7`" in err.getvalue()


def test_amct_plan_and_explain_take_the_target(tmp_path: Path) -> None:
    cfg, layers = tmp_path / "q.cfg", tmp_path / "layers.json"
    cfg.write_text(A8W4_A16W8, encoding="utf-8")
    layers.write_text(json.dumps(INVENTORY), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    assert run(["plan", str(cfg), "--layers", str(layers), "--target", "amct-9.2"], out, err) == 0, err.getvalue()
    plan = json.loads(out.getvalue())
    assert plan["target"] == "amct-9.2" and plan["layers"][2]["activation"]["bits"] == 16
    assert run(["plan", str(cfg), "--layers", str(layers)], io.StringIO(), io.StringIO()) == 1  # documented: V002
    out = io.StringIO()
    assert run(["explain", str(cfg), "--layer", "fc", "--layers", str(layers), "--target", "amct-9.1"],
               out, io.StringIO()) == 0
    assert "activation.bits = 16" in out.getvalue()
    out = io.StringIO()
    assert run(["explain", "amct-9.1"], out, io.StringIO()) == 0 and out.getvalue().startswith("target amct-9.1")


def test_incremental_linter_follows_a_change_of_target() -> None:
    from cfglang.incremental import IncrementalLinter
    from cfglang.lint import lint
    from cfglang.settings import Settings

    linter = IncrementalLinter("q.cfg")
    text = A8W4_A16W8 + 'override_layer_types { layer_type: "LSTM" calibration_config { ifmr_quantize { } } }\n'
    for target in ("documented", "amct-9.1", "amct-9.1", "documented"):
        settings = Settings(target=target)
        edited = text + f"batch_num: {len(target)}\n"
        assert linter.lint(edited, settings).diagnostics == lint(edited, "q.cfg", settings).diagnostics


def test_language_server_takes_the_target_of_its_initialization_options() -> None:
    from cfglang.lsp.analysis import Analyzer

    analyzer = Analyzer()
    assert [d.code for d in analyzer.analyse(A8W4_A16W8, None).result.diagnostics] == ["V002", "V013"]
    analyzer.target = "amct-9.1"
    analyzer.invalidate()
    assert [d.code for d in analyzer.analyse(A8W4_A16W8, None).result.diagnostics] == ["C011"]


# names from other frameworks and configs -------------------------------------------------


@pytest.mark.parametrize(("name", "hint"), [
    ("Gemm", "`Gemm` is an op type of ONNX configs; the PyTorch class is `Linear`"),
    ("InnerProduct", "`InnerProduct` is an op type of Caffe configs; the PyTorch class is `Linear`"),
    ("Pooling", "`Pooling` is an op type of Caffe configs; the PyTorch class is `AvgPool2d`"),
    ("ConvTranspose", "`ConvTranspose` is an op type of ONNX configs; the PyTorch class is `ConvTranspose2d`"),
    ("conv2d", "did you mean `Conv2d`?"),
    ("layer1.0", "`layer1.0` looks like a layer name: layers are skipped by name in `skip_layers`"),
    ("features", "`features` looks like a layer name: layers are skipped by name in `skip_layers`"),
])
def test_skip_layer_types_hints(name: str, hint: str) -> None:
    (found,) = check(f'skip_layer_types: "{name}"\n').diagnostics
    assert (found.code, found.hint) == ("C001", hint)


def test_layer_type_of_an_override_gets_the_pytorch_class_but_no_layer_name_hint() -> None:
    found = check('override_layer_types { layer_type: "Gemm" calibration_config { } }\n').diagnostics
    assert [(d.code, d.hint) for d in found] == [("C001", "`Gemm` is an op type of ONNX configs; the PyTorch class is "
                                                          "`Linear`")]
    (found,) = check('override_layer_types { layer_type: "fc" calibration_config { } }\n').diagnostics
    assert "skip_layers" not in found.hint


def test_config_schema_takes_the_widths_of_a_target() -> None:
    import jsonschema

    from cfglang.jsonschemas import schema

    config = {"common_config": {"arq_quantize": {"quant_bits": 4}, "ifmr_quantize": {"dst_type": "INT16"}}}
    errors = list(jsonschema.Draft202012Validator(schema("config")).iter_errors(config))
    assert sorted(str(e.instance) for e in errors) == ["4", "INT16"]
    assert list(jsonschema.Draft202012Validator(schema("config", "amct-9.1")).iter_errors(config)) == []
    out = io.StringIO()
    assert run(["schema", "config", "--target", "amct-9.2"], out, io.StringIO()) == 0
    assert json.loads(out.getvalue())["$defs"]["ARQuantize"]["properties"]["quant_bits"]["enum"] == [4, 6, 7, 8]


@pytest.mark.parametrize(("block", "code"), [
    ("arq_quantize { channel_wise: true }", "M008"), ("dmq_balancer { }", "M008"), ("ada_quantize { }", "M008"),
    ("arq_quantize { quant_bits: 7 }", "M008"), ("arq_quantize { channel_wise: false }", "M016"),
    ("ifmr_quantize { dst_type: INT16 }", "M008"),
])
def test_an_override_of_a_module_amct_does_not_quantize(block: str, code: str) -> None:
    """AMCT runs its per-layer checks on the override of any module (proto_config.py
    _get_override_layer_configs): what no such module can take is refused, the rest ignored."""
    import cfglang

    text = f'override_layer_configs {{ layer_name: "bn" calibration_config {{ {block} }} }}\n'
    inventory = {"version": 1, "layers": [{"name": "fc", "type": "Linear"}, {"name": "bn", "type": "BatchNorm1d"}],
                 "foldable": [], "activations": []}
    plan = cfglang.resolve(check(text, target="amct-9.1"), inventory)
    assert [d.code for d in plan.diagnostics] == [code]
