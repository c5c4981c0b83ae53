"""The incremental linter on hand-picked edits: same diagnostics as a full lint, and the reuse happens.

Each case is a sequence of texts. After each, the incremental diagnostics must
equal :func:`cfglang.lint.lint`'s; ``full`` says after which steps a full lint
is expected (the first text, and texts with syntax problems), so a linter that
always fell back to a full lint fails here.
"""

from __future__ import annotations

import pytest

import cfglang.incremental as incremental
from cfglang.incremental import IncrementalLinter
from cfglang.lint import lint
from cfglang.settings import Settings


def entry(name: str, bits: int = 8) -> str:
    return (f'override_layer_configs {{\n  layer_name: "{name}"\n'
            f"  calibration_config {{ arq_quantize {{ quant_bits: {bits} }} }}\n}}\n")


HEAD = "# header\nbatch_num: 1\ncommon_config { arq_quantize { channel_wise: true } }\n"
BODY = HEAD + "".join(entry(f"layer{i}") for i in range(6))


def _replace(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


CASES = {
    "value in the head": [BODY, _replace(BODY, "batch_num: 1", "batch_num: 0"), _replace(BODY, "batch_num: 1", "batch_num: 3")],
    "value in an entry": [BODY, _replace(BODY, "quant_bits: 8", "quant_bits: 9"), BODY],
    "key repeated across entries": [
        BODY,
        _replace(BODY, '"layer4"', '"layer1"'),  # a duplicate of an earlier entry's key
        _replace(_replace(BODY, '"layer4"', '"layer1"'), '"layer0"', '"layer1"'),  # the first use moves up
        BODY,
    ],
    "entry deleted and pasted back": [BODY, BODY.replace(entry("layer2"), ""), BODY, BODY + entry("layer2")],
    "suppression in the head reaches an entry": [
        BODY,
        _replace(BODY, "quant_bits: 8", "quant_bits: 9"),
        "# amct: noqa-file: V002\n" + _replace(BODY, "quant_bits: 8", "quant_bits: 9"),
        "# amct: noqa-file: V002\n" + BODY,  # now unused: L001
    ],
    "noqa on an entry line": [BODY, _replace(BODY, "quant_bits: 8 }", "quant_bits: 9 }  # amct: noqa: V002\n")],
    "two lines joined": [BODY, _replace(BODY, '}\noverride_layer_configs {\n  layer_name: "layer3"',
                                        '} override_layer_configs {\n  layer_name: "layer3"')],
    "appended at the end without a line break": [BODY + "batch_num: 2", BODY + "batch_num: 20", BODY + "batch_num: 0"],
    "crlf": [BODY.replace("\n", "\r\n"), BODY.replace("\n", "\r\n").replace("quant_bits: 8", "quant_bits: 7", 1)],
    "bom": ["\ufeff" + BODY, "\ufeff" + _replace(BODY, "batch_num: 1", "batch_num: 0")],
    "second bom": ["\ufeff" + BODY, "\ufeff\ufeff" + BODY, "\ufeff" + BODY],
    "common_config given twice across entries": [BODY, BODY + "common_config { arq_quantize { quant_bits: 6 } }\n"],
    "syntax error and back": [BODY, _replace(BODY, '"layer3"', '"layer3'), BODY,
                              _replace(BODY, '"layer3"', '"layer33"')],
    "unclosed entry": [BODY, BODY + "override_layer_configs {\n", BODY],
}

FULL_AFTER = {  # steps that cannot reuse anything
    "appended at the end without a line break": {0},
    "bom": {0},
    "second bom": {0, 1},
    "syntax error and back": {0, 1},  # mending it compares with the last clean text: no full lint
    "unclosed entry": {0, 1},
}


@pytest.fixture
def full_lints(monkeypatch):
    """How many times the incremental linter fell back to a full lint."""
    calls = []

    def counting(*args, **kwargs):
        calls.append(args[0])
        return lint(*args, **kwargs)

    monkeypatch.setattr(incremental, "lint", counting)
    return calls


@pytest.mark.parametrize("name", list(CASES))
def test_same_diagnostics_as_full_lint(name, full_lints):
    linter = IncrementalLinter("x.cfg")
    settings = Settings()
    for step, text in enumerate(CASES[name]):
        before = len(full_lints)
        got = linter.lint(text, settings)
        want = lint(text, "x.cfg", settings)
        assert got.diagnostics == want.diagnostics, f"step {step}"
        assert (got.text, got.has_bom, got.syntax_ok) == (want.text, want.has_bom, want.syntax_ok)
        assert got.check.diagnostics == want.check.diagnostics
        expected_full = step in FULL_AFTER.get(name, {0})
        assert (len(full_lints) > before) == expected_full, f"step {step}: full lint {'not ' if expected_full else ''}run"


def test_cases_have_findings_to_compare():
    """The cases exercise the cross-entry rules: a duplicate key and an unused suppression appear."""
    codes = {d.code for texts in CASES.values() for text in texts for d in lint(text, "x.cfg").diagnostics}
    assert {"F013", "L001", "V002", "V001"} <= codes


def test_settings_apply_to_reused_segments():
    linter = IncrementalLinter("x.cfg")
    text = _replace(BODY, "quant_bits: 8", "quant_bits: 9")
    assert [d.code for d in linter.lint(text).diagnostics] == ["V002"]
    edited = _replace(text, "batch_num: 1", "batch_num: 2")
    assert linter.lint(edited, Settings(ignore=("V002",))).diagnostics == ()


def test_check_is_computed_when_asked(monkeypatch):
    linter = IncrementalLinter("x.cfg")
    linter.lint(BODY)
    checks, parses = [], []
    real_check, real_parse = incremental.check, incremental.parse

    def counting_check(source, *args, **kwargs):
        checks.append(len(source) if isinstance(source, str) else "tree")
        return real_check(source, *args, **kwargs)

    def counting_parse(source, *args, **kwargs):
        parses.append(len(source))
        return real_parse(source, *args, **kwargs)

    monkeypatch.setattr(incremental, "check", counting_check)
    monkeypatch.setattr(incremental, "parse", counting_parse)
    result = linter.lint(_replace(BODY, "batch_num: 1", "batch_num: 2"))
    # the changed piece, then the blanked text of the segments other than entries
    assert len(checks) == 2 and checks[0] < len(BODY) and checks[1] == len(BODY)
    assert parses == []
    assert result.document.fields[0].name == "batch_num"  # the tree alone: one parse, no check
    assert parses == [len(BODY)] and len(checks) == 2
    assert result.check.config.batch_num == 2  # the check of that tree
    assert checks[2:] == ["tree"] and len(parses) == 1


def test_model_aware_diagnostics_are_incremental_too(full_lints):
    from cfglang.inventory import Inventory, Layer

    inventory = Inventory(tuple(Layer(f"layer{i}", "Conv2d") for i in range(5)) + (Layer("fc", "Linear"),))
    steps = [
        BODY,  # `layer5` is not in the model (M001), common_config's channel_wise reaches `fc` (M009),
        # and overrides that change nothing (M012)
        _replace(BODY, '"layer5"', '"layer4"'),  # a duplicate name now, and no unknown layer
        _replace(BODY, '"layer5"', '"fc"'),  # the override drops common_config's channel_wise for `fc` (M011)
        _replace(_replace(BODY, '"layer5"', '"fc"'), "batch_num: 1", "batch_num: 2"),
    ]
    linter = IncrementalLinter("x.cfg")
    codes = []
    for step, text in enumerate(steps):
        got = linter.lint(text, Settings(), inventory)
        want = lint(text, "x.cfg", Settings(), inventory)
        assert got.diagnostics == want.diagnostics, f"step {step}"
        codes.append(sorted({d.code for d in got.diagnostics}))
    assert len(full_lints) == 1  # the first text only
    assert codes[0] == ["M001", "M009", "M012"] and "F013" in codes[1] and "M001" not in codes[1]
    assert codes[2] == codes[3] == ["M011", "M012"]
