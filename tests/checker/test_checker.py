"""The check stage: span table, messages, fixes, ordering, load/ConfigError."""

from __future__ import annotations

import pytest

import cfglang
from cfglang.checker import CheckResult, ConfigError, Loc, SpanTable, check, load
from cfglang.diagnostics import Severity
from cfglang.rules import all_rules


def _codes(text: str, target: str | None = None) -> list[str]:
    return [d.code for d in check(text, target=target).diagnostics]


def _one(text: str, code: str):
    found = [d for d in check(text).diagnostics if d.code == code]
    assert len(found) == 1, check(text).diagnostics
    return found[0]


def _apply(text: str, fix) -> str:
    for edit in sorted(fix.edits, key=lambda e: e.start, reverse=True):
        text = text[: edit.start] + edit.new_text + text[edit.end:]
    return text


# --- span table -----------------------------------------------------------------

SAMPLE = """batch_num: 2
skip_layers: ["a", "b"]
override_layer_configs {
  layer_name: "fc"
  calibration_config {
    ifmr_quantize { asymmetric: true }
  }
}
common_config { arq_quantize { quant_bits: 8 } }
"""


def test_span_table_paths_follow_the_architecture_notes() -> None:
    result = check(SAMPLE)
    spans = result.spans
    assert isinstance(spans, SpanTable)
    text = result.document.text

    def value(path):
        s = spans[path].value_span
        return text[s.start:s.end]

    assert value(("batch_num",)) == "2"
    assert value(("skip_layers", 1)) == '"b"'
    assert value(("override_layer_configs", 0, "layer_name")) == '"fc"'
    assert value(("override_layer_configs", 0, "calibration_config", "ifmr_quantize", "asymmetric")) == "true"
    loc = spans[("common_config", "arq_quantize")]
    assert isinstance(loc, Loc)
    assert text[loc.name_span.start:loc.name_span.end] == "arq_quantize"
    assert spans[("override_layer_configs", 0)].field.name == "override_layer_configs"


def test_span_table_find_walks_up_to_the_nearest_set_ancestor() -> None:
    spans = check(SAMPLE).spans
    path, loc = spans.find(("common_config", "arq_quantize", "channel_wise"))
    assert path == ("common_config", "arq_quantize")
    assert spans.find(("do_fusion",)) is None


def test_duplicate_scalar_points_at_the_winner() -> None:
    result = check("batch_num: 2\nbatch_num: 4\n")
    loc = result.spans[("batch_num",)]
    assert loc.value_span.line == 2
    assert result.config.batch_num == 4


def test_dropped_oneof_member_leaves_the_span_table() -> None:
    text = "common_config { arq_quantize { quant_bits: 7 } ada_quantize { num_iteration: 3 } }"
    spans = check(text).spans
    assert ("common_config", "arq_quantize", "quant_bits") not in spans
    assert ("common_config", "arq_quantize") not in spans
    assert ("common_config", "ada_quantize", "num_iteration") in spans


def test_repeated_index_is_the_position_in_the_message() -> None:
    text = 'skip_layers: "a"\nskip_layers: ["b", "c"]\noverride_layer_types [{layer_type: "Conv2d"}, {layer_type: "Linear"}]'
    result = check(text)
    assert list(result.config.skip_layers) == ["a", "b", "c"]
    assert result.spans[("skip_layers", 2)].value_span.line == 2
    assert result.spans[("override_layer_types", 1, "layer_type")].value.text == "Linear"


# --- messages -------------------------------------------------------------------

def test_unknown_field_did_you_mean_with_an_unsafe_rename() -> None:
    d = _one("common_config { arq_quantize { quant_bit: 7 } }", "F001")
    assert d.severity is Severity.ERROR
    assert d.message == "unknown field `quant_bit` in `arq_quantize`"
    assert d.hint == "did you mean `quant_bits`?"
    assert d.fix is not None and not d.fix.safe
    assert _apply("common_config { arq_quantize { quant_bit: 7 } }", d.fix) == \
        "common_config { arq_quantize { quant_bits: 7 } }"


def test_unknown_field_that_belongs_to_a_neighbouring_block() -> None:
    d = _one("common_config { ifmr_quantize { num_of_bins: 2048 } }", "F001")
    assert d.hint == "`num_of_bins` belongs to `hfmg_quantize`"
    assert d.fix is None


def test_enum_values_come_from_the_right_nested_enum() -> None:
    d = _one("common_config { hfmg_quantize { dst_type: FORCE_FP16_QUANT } }", "F006")
    assert "`INT8` (1), `INT16` (2)" in d.message
    assert _codes("fakequant_precision_mode: INT8") == ["F006"]


@pytest.mark.parametrize("text, code", [
    ("batch_num: -0", "F004"),
    ("batch_num: -3", "F004"),
    ("batch_num: 1.0", "F005"),
    ("batch_num: 1e3", "F005"),
    ("batch_num: 4294967296", "F003"),
    ("do_fusion: \"true\"", "F002"),
    ("do_fusion: yes", "F002"),
    ("common_config: 3", "F002"),
    ("batch_num { }", "F002"),
    ("batch_num: [1, 2]", "F007"),
    ("common_config { ada_quantize { reg_param: inf } }", "V014"),
    ("common_config { ada_quantize { reg_param: -nan } }", "V014"),
])
def test_schema_errors(text: str, code: str) -> None:
    assert code in _codes(text)


def test_defaults_count_in_value_constraints() -> None:
    d = _one("common_config { ada_quantize { beta_range_end: 30 } }", "V007")
    assert "the default 20" in d.message
    assert _codes("common_config { ada_quantize { beta_range_start: 40 beta_range_end: 30 } }") == []


def test_float32_bounds_are_inclusive_where_documented() -> None:
    for value in ("0.2", "0.8"):
        assert _codes(f"common_config {{ dmq_balancer {{ migration_strength: {value} }} }}") == []
    assert _codes("common_config { ifmr_quantize { max_percentile: 1.0 } }") == []
    assert _codes("common_config { ifmr_quantize { search_range_start: 0.8 search_range_end: 1.2 search_step: 0.4 } }") == []


def test_ifmr_candidate_count() -> None:
    assert _codes("common_config { ifmr_quantize { search_step: 0.001 } }") == []  # 600 candidates
    assert _codes("common_config { ifmr_quantize { search_step: 0.0005 } }") == ["V011"]


def test_capabilities_in_type_overrides_only() -> None:
    linear = 'override_layer_types {{ layer_type: "Linear" calibration_config {{ {} }} }}'
    assert _codes(linear.format("arq_quantize { quant_bits: 6 }")) == ["C002"]
    assert _codes(linear.format("arq_quantize { channel_wise: true }")) == ["C005"]
    assert _codes(linear.format("ada_quantize { channel_wise: true }")) == ["C005"]
    assert _codes(linear.format("ada_quantize { } dmq_balancer { }")) == []
    assert _codes("common_config { arq_quantize { quant_bits: 6 } }") == ["C003"]
    assert _codes("common_config { arq_quantize { channel_wise: true } ada_quantize { } }") == ["F011"]
    assert _codes('override_layer_configs { layer_name: "fc" calibration_config { arq_quantize { quant_bits: 6 } } }') == []


def test_type_did_you_mean() -> None:
    d = _one('skip_layer_types: "conv2d"', "C001")
    assert d.hint == "did you mean `Conv2d`?"


# --- fixes ----------------------------------------------------------------------

def test_duplicate_fix_deletes_the_earlier_line_and_keeps_the_message() -> None:
    text = "batch_num: 2\ndo_fusion: true\nbatch_num: 4\n"
    d = _one(text, "F009")
    assert d.fix.safe
    assert d.related[0][1] == "first set here" and d.related[0][0].line == 1
    fixed = _apply(text, d.fix)
    assert fixed == "do_fusion: true\nbatch_num: 4\n"
    assert check(fixed).diagnostics == ()
    assert check(fixed).config == check(text).config


def test_duplicate_fix_on_a_shared_line_deletes_field_and_separator() -> None:
    text = "common_config { arq_quantize { channel_wise: true, channel_wise: false } }"
    fixed = _apply(text, _one(text, "F009").fix)
    assert fixed == "common_config { arq_quantize { channel_wise: false } }"


def test_oneof_fix_deletes_the_dropped_block_and_keeps_the_message() -> None:
    text = "common_config {\n  ifmr_quantize {\n    search_step: 0.02\n  }\n  hfmg_quantize { num_of_bins: 2048 }\n}\n"
    d = _one(text, "F011")
    assert d.span.line == 2 and d.related[0][0].line == 5
    fixed = _apply(text, d.fix)
    assert fixed == "common_config {\n  hfmg_quantize { num_of_bins: 2048 }\n}\n"
    assert check(fixed).config == check(text).config
    assert check(fixed).diagnostics == ()


def test_oneof_switching_twice_warns_for_each_dropped_block() -> None:
    text = "common_config { arq_quantize { } ada_quantize { } arq_quantize { quant_bits: 7 } }"
    drops = [d for d in check(text).diagnostics if d.code == "F011"]
    assert [d.message.split("`")[1] for d in drops] == ["arq_quantize", "ada_quantize"]


# --- results and loading --------------------------------------------------------

def test_semantic_diagnostics_in_text_order_after_syntax() -> None:
    text = "batch_num: 0\nfoo: 1\ncommon_config { arq_quantize { quant_bits: 5 } }\nbar: {"
    result = check(text)
    codes = [d.code for d in result.diagnostics]
    first_semantic = next(i for i, c in enumerate(codes) if not c.startswith("S"))
    assert all(c.startswith("S") for c in codes[:first_semantic])
    semantic = [d for d in result.diagnostics if not d.code.startswith("S")]
    assert [d.span.start for d in semantic] == sorted(d.span.start for d in semantic)
    assert {"V001", "F001", "V002"} <= set(codes)


def test_check_accepts_a_document_and_bytes() -> None:
    doc = cfglang.parse(b"batch_num: 3", "x.cfg")
    result = check(doc)
    assert isinstance(result, CheckResult) and result.document is doc and result.ok
    assert check(b"batch_num: 3").config.batch_num == 3


def test_load_raises_with_every_diagnostic(tmp_path) -> None:
    path = tmp_path / "bad.cfg"
    path.write_text("batch_num: 0\nfoo: 1\n")
    with pytest.raises(ConfigError) as info:
        load(path)
    assert [d.code for d in info.value.diagnostics] == ["V001", "F001"]
    assert str(info.value).startswith(f"{path}:1:12: `batch_num` is 0")
    good = tmp_path / "good.cfg"
    good.write_text("batch_num: 3\n")
    assert load(good).batch_num == 3 and load(str(good)).batch_num == 3
    assert load("batch_num: 5").batch_num == 5


def test_warnings_do_not_stop_load() -> None:
    assert load("batch_num: 2 batch_num: 3").batch_num == 3


def test_check_never_raises_on_damaged_input() -> None:
    texts = ["", "{", "}", "a: [", "common_config { arq_quantize { quant_bits: } }", "\x00\xff", "batch_num: 2do",
             "override_layer_types [{}, 3]", "skip_layers: [{}]", "common_config < ada_quantize { reg_param: 1e999 >"]
    for text in texts:
        check(text)
    check(b"\xff\xfe batch_num: 1")


# --- the registry ---------------------------------------------------------------

@pytest.mark.parametrize("rule", [r for r in all_rules() if r.family in ("schema", "value", "capability")],
                         ids=lambda r: r.code)
def test_rule_examples(rule) -> None:
    """Each entry's bad example triggers it and its good example does not."""
    assert rule.code in _codes(rule.bad, rule.target)
    assert rule.code not in _codes(rule.good, rule.target)
    assert not check(rule.good, target=rule.target).has_errors
