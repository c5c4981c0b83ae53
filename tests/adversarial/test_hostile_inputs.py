"""Hostile inputs with defined behaviour (issue 9): each gets a test that pins
the diagnostic (code, message, place), not just "no crash".

Limits come from the parser (``cfglang.parser.DEFAULT_MAX_DEPTH``,
``DEFAULT_MAX_SIZE``, both keyword arguments of ``parse``), so these tests
follow a documented change of either.
"""

from __future__ import annotations

import pytest

import cfglang
from cfglang.diagnostics import Severity
from cfglang.parser import DEFAULT_MAX_DEPTH, DEFAULT_MAX_SIZE
from cfglang.syntax import MessageValue

from properties.invariants import check_document, expected_position


def _codes(diagnostics) -> list[str]:
    return [d.code for d in diagnostics]


def _only(diagnostics, code: str):
    found = [d for d in diagnostics if d.code == code]
    assert len(found) == 1, [(d.code, d.message) for d in diagnostics]
    return found[0]


def _depth(fields) -> int:
    """Deepest message nesting of the tree, without recursion."""
    deepest, stack = 0, [(f, 1) for f in fields]
    while stack:
        f, level = stack.pop()
        if isinstance(f.value, MessageValue):
            deepest = max(deepest, level)
            stack += [(g, level + 1) for g in f.value.fields]
    return deepest


# ----------------------------------------------------------------- nesting


@pytest.mark.parametrize("opener,closer,colon", [("{", "}", ""), ("<", ">", ""), ("{", "}", ":")])
def test_nesting_10000_levels_is_one_clear_error_at_the_limit(opener: str, closer: str, colon: str) -> None:
    n = 10_000
    unit = f"a{colon} {opener}"
    text = unit * n + closer * n
    doc = cfglang.parse(text)
    check_document(doc, text)
    deep = _only(doc.diagnostics, "S014")
    assert deep.severity == Severity.ERROR
    assert "nested more than 100 levels" in deep.message or str(DEFAULT_MAX_DEPTH) in deep.message
    # the opener of the first message beyond the limit
    at = len(unit) * DEFAULT_MAX_DEPTH + len(unit) - 1
    assert (deep.span.start, deep.span.end) == (at, at + 1)
    assert doc.diagnostics == [deep]
    assert _depth(doc.fields) == DEFAULT_MAX_DEPTH
    # the later stages run on the bounded tree
    checked = cfglang.check(text)
    assert "S014" in _codes(checked.diagnostics)
    from cfglang.formatter import FormatError, format_text

    with pytest.raises(FormatError):
        format_text(text)


def test_nesting_exactly_at_the_limit_is_fine() -> None:
    text = "a {" * DEFAULT_MAX_DEPTH + "}" * DEFAULT_MAX_DEPTH
    doc = cfglang.parse(text)
    assert doc.diagnostics == []
    assert _depth(doc.fields) == DEFAULT_MAX_DEPTH


def test_nesting_limit_is_configurable() -> None:
    text = "a {" * 7 + "}" * 7
    doc = cfglang.parse(text, max_depth=5)
    deep = _only(doc.diagnostics, "S014")
    assert deep.span.start == 3 * 5 + 2
    assert _depth(doc.fields) == 5


def test_unclosed_deep_nesting_stops_at_the_error_limit() -> None:
    text = "a {" * 10_000
    doc = cfglang.parse(text)
    check_document(doc, text)
    codes = _codes(doc.diagnostics)
    assert codes[0] == "S014"
    assert "S016" in codes  # too many errors: the rest are not reported
    assert len(doc.diagnostics) <= 101


# ----------------------------------------------------------------- size


def test_50_mb_file_is_refused_at_a_configurable_limit() -> None:
    data = b"skip_layers: \"conv1\"\n" * (50 * 1024 * 1024 // 21)
    doc = cfglang.parse(data, "big.cfg", max_size=16 * 1024 * 1024)
    big = _only(doc.diagnostics, "S015")
    assert big.severity == Severity.ERROR
    assert f"{len(data)} bytes" in big.message and str(16 * 1024 * 1024) in big.message
    assert (big.span.start, big.span.line, big.span.column) == (0, 1, 1)
    assert doc.fields == [] and doc.diagnostics == [big]


def test_default_size_limit_refuses_without_reading() -> None:
    data = b"#" * (DEFAULT_MAX_SIZE + 1)
    doc = cfglang.parse(data)
    assert _codes(doc.diagnostics) == ["S015"]
    assert doc.fields == [] and doc.comments == []


def test_size_limit_boundary_counts_utf8_bytes() -> None:
    assert cfglang.parse(b"batch_num: 1", max_size=12).diagnostics == []
    assert _codes(cfglang.parse(b"batch_num: 1 ", max_size=12).diagnostics) == ["S015"]
    # 7 characters, 13 bytes in UTF-8
    assert _codes(cfglang.parse("# éééééé", max_size=12).diagnostics) == ["S015"]


# ----------------------------------------------------------------- bytes and encodings


def test_nul_byte_is_an_unexpected_character_at_its_place() -> None:
    doc = cfglang.parse(b"batch_num: 1\x00\ndo_fusion: true\n")
    nul = _only(doc.diagnostics, "S002")
    assert (nul.span.start, nul.span.end, nul.span.line, nul.span.column) == (12, 13, 1, 13)
    assert "U+0000" in nul.message
    assert [f.name for f in doc.fields] == ["batch_num", "do_fusion"]  # recovery goes on


def test_nul_inside_a_string_is_part_of_the_value() -> None:
    # protobuf's tokenizer only excludes the quote, backslash and line feed from a string
    from google.protobuf import text_format

    from cfglang._proto.calibration_config_pytorch_pb2 import AMCTConfig

    text = 'skip_layers: "a\x00b"\n'  # a raw NUL character inside the quotes
    result = cfglang.check(text)
    assert not result.diagnostics
    merged = AMCTConfig()
    text_format.Merge(text, merged)
    assert list(result.config.skip_layers) == list(merged.skip_layers) == ["a\x00b"]


def test_binary_garbage_is_bounded_and_located() -> None:
    data = bytes(range(256)) * 8
    doc = cfglang.parse(data)
    check_document(doc, data)
    assert any(d.severity == Severity.ERROR for d in doc.diagnostics) and len(doc.diagnostics) <= 101
    encoding = [d for d in doc.diagnostics if d.code == "S001"]
    # one error per run of bytes that are not UTF-8, the first at the first such byte (0x80)
    assert encoding[0].span.start == 128 and "(80 81 82" in encoding[0].message
    assert len(encoding) == 8  # 0x80-0xff, eight times
    cfglang.check(data)  # the checker copes with what is left


def test_a_run_of_invalid_bytes_is_one_error() -> None:
    data = b'skip_layers: "a"\n' + bytes(range(0x80, 0xC0)) + b'\nbatch_num: 1 \xff\n'
    doc = cfglang.parse(data)
    bad = [d for d in doc.diagnostics if d.code == "S001"]
    assert len(bad) == 2  # the 64 bytes in a row, and the lone 0xff
    assert (bad[0].span.start, bad[0].span.end) == (17, 17 + 64)
    assert bad[0].message == "invalid UTF-8: 64 bytes (80 81 82 83 84 85 86 87 ...) in a row are not characters"
    assert bad[1].message == "invalid UTF-8: byte 0xff does not start a character"
    assert doc.text[bad[0].span.start : bad[0].span.end] == "\ufffd" * 64


def test_invalid_utf8_points_at_the_offending_byte() -> None:
    data = "# é\n".encode() + b'skip_layers: "conv\xff"\n'
    doc = cfglang.parse(data)
    bad = _only(doc.diagnostics, "S001")
    # offsets are in the decoded text: `é` is one character, the bad byte one U+FFFD
    assert (bad.span.line, bad.span.column) == (2, 19)
    assert "0xff" in bad.message
    assert doc.text[bad.span.start] == "\ufffd"


def test_truncated_utf8_sequence_at_end_of_file() -> None:
    doc = cfglang.parse(b'skip_layers: "\xe2\x82')
    assert "S001" in _codes(doc.diagnostics) and "S003" in _codes(doc.diagnostics)
    check_document(doc, b'skip_layers: "\xe2\x82')


@pytest.mark.parametrize("escape", ["\\ud800", "\\uDFFF", "\\U0000d800"])
def test_lone_surrogate_escape(escape: str) -> None:
    text = f'skip_layers: "{escape}"'
    doc = cfglang.parse(text)
    bad = _only(doc.diagnostics, "S004")
    assert (bad.span.start, bad.span.end) == (14, 14 + len(escape))
    assert "surrogate" in bad.message


def test_lone_surrogate_character_in_str_input() -> None:
    text = 'skip_layers: "\ud800"'
    doc = cfglang.parse(text)
    bad = _only(doc.diagnostics, "S004")
    assert (bad.span.start, bad.span.end) == (14, 15)


def test_escaped_utf8_bytes_join_across_adjacent_literals() -> None:
    doc = cfglang.parse('skip_layers: "\\303" \'\\251\'')
    assert doc.diagnostics == []
    assert doc.fields[0].value.text == "é"
    half = cfglang.parse('skip_layers: "\\303"')
    assert _codes(half.diagnostics) == ["S005"]


# ----------------------------------------------------------------- long strings and lines


def test_one_megabyte_string_is_read_whole() -> None:
    text = 'skip_layers: "' + "a" * 1_000_000 + '"\nbatch_num: 2\n'
    doc = cfglang.parse(text)
    assert doc.diagnostics == []
    assert len(doc.fields[0].value.text) == 1_000_000
    assert doc.fields[1].name_span.line == 2


def test_one_megabyte_unterminated_string() -> None:
    text = 'skip_layers: "' + "a" * 1_000_000 + "\nbatch_num: 2\n"
    doc = cfglang.parse(text)
    bad = _only(doc.diagnostics, "S003")
    assert (bad.span.start, bad.span.line, bad.span.column) == (13, 1, 14)
    assert bad.span.end_line == 1  # the string stops at the end of its line
    assert [f.name for f in doc.fields][-1] == "batch_num"  # and parsing resumes on the next


def test_error_at_the_end_of_a_100000_character_line() -> None:
    text = "skip_layers: [" + '"a", ' * 20_000 + '"a"] batch_num: 2do_fusion: true\n'
    assert len(text) > 100_000
    doc = cfglang.parse(text)
    bad = _only(doc.diagnostics, "S007")
    at = text.index("2do_fusion")
    assert bad.span.start == at
    assert (bad.span.line, bad.span.column) == expected_position(text, at) == (1, at + 1)


# ----------------------------------------------------------------- numbers


def _check_one(text: str, code: str, value: str):
    result = cfglang.check(text)
    found = [d for d in result.diagnostics if d.code == code]
    assert found, [(d.code, d.message) for d in result.diagnostics]
    d = found[0]
    assert d.severity == Severity.ERROR
    at = text.index(value)
    assert (d.span.start, d.span.end) == (at, at + len(value))
    assert f"`{value}`" in d.message or "inf" in d.message
    return d


def test_float_overflow_1e400_is_non_finite() -> None:
    d = _check_one("common_config { dmq_balancer { migration_strength: 1e400 } }", "V014", "1e400")
    assert "finite" in d.message


def test_float_literal_for_an_integer_field() -> None:
    _check_one("batch_num: 1e400", "F005", "1e400")


@pytest.mark.parametrize("field", ["batch_num", "common_config { arq_quantize { quant_bits"])
def test_two_to_the_64_is_out_of_range(field: str) -> None:
    text = f"{field}: 18446744073709551616" + (" } }" if "{" in field else "")
    d = _check_one(text, "F003", "18446744073709551616")
    assert "4294967295" in d.message


@pytest.mark.parametrize("zero", ["-0", "-00", "-0x0"])
def test_minus_zero_for_an_unsigned_field(zero: str) -> None:
    d = _check_one(f"batch_num: {zero}\n", "F004", zero)
    assert "unsigned" in d.message
    # the message itself still reads as protobuf's Merge reads it (0)
    assert cfglang.check(f"batch_num: {zero}\n").config.batch_num == 0
