"""Every lexical form of the protobuf text format, read as protobuf's Python parser reads it."""

from __future__ import annotations

import pytest

import cfglang
from cfglang.syntax import ListValue, MessageValue, Scalar

from .treedump import diags


def value(text: str) -> Scalar:
    document = cfglang.parse(text)
    assert document.diagnostics == [], [d.message for d in document.diagnostics]
    scalar = document.fields[0].value
    assert isinstance(scalar, Scalar)
    return scalar


@pytest.mark.parametrize(
    ("literal", "decoded"),
    [
        (r'"\a\b\f\n\r\t\v"', "\a\b\f\n\r\t\v"),
        (r'"\\ \' \""', "\\ ' \""),
        (r"'\" \''", "\" '"),
        (r'"\101\60\0"', "A0\0"),
        (r'"\1011"', "A1"),
        (r'"\x41\x4a\xf"', "AJ\x0f"),
        (r'"\x414"', "A4"),
        (r'"\u00e9\u4e2d"', "é中"),
        (r'"\U0001F600"', "\U0001F600"),
        (r'"\303\251"', "é"),
        (r'"\xc3\xa9"', "é"),
        ('"é中😀"', "é中😀"),
        ('""', ""),
        ("''", ""),
    ],
)
def test_string_escapes(literal: str, decoded: str) -> None:
    scalar = value(f"a: {literal}")
    assert (scalar.kind, scalar.text) == ("string", decoded)
    assert (scalar.start, scalar.end) == (3, 3 + len(literal))


def test_adjacent_strings_concatenate_across_comments_and_lines() -> None:
    text = 'a: "x" \'y\' # note\n   "z"\n b: 1'
    scalar = value(text)
    assert scalar.text == "xyz"
    assert (scalar.start, scalar.end) == (3, text.index('"z"') + 3)
    # bytes of one character split over two literals join before UTF-8 decoding
    assert value(r'a: "\xc3" "\xa9"').text == "é"


@pytest.mark.parametrize(
    ("literal", "kind"),
    [
        ("0", "integer"), ("17", "integer"), ("-17", "integer"), ("017", "integer"), ("0x1F", "integer"),
        ("0X1f", "integer"), ("-0x1F", "integer"), ("-0", "integer"),
        ("1.", "float"), (".5", "float"), ("-.5", "float"), ("1.5", "float"), ("1e-3", "float"),
        ("1E+3", "float"), ("2.5f", "float"), ("2.5F", "float"), ("1f", "float"), ("0.0", "float"),
        ("1e3f", "float"), ("-inf", "float"), ("-Infinity", "float"), ("-NaN", "float"),
        ("inf", "float"), ("INF", "float"), ("infinity", "float"), ("nan", "float"), ("NaN", "float"),
        ("true", "identifier"), ("False", "identifier"), ("t", "identifier"), ("FORCE_FP16_QUANT", "identifier"),
    ],
)
def test_number_and_identifier_forms(literal: str, kind: str) -> None:
    scalar = value(f"a: {literal}")
    assert (scalar.kind, scalar.text) == (kind, literal)
    assert (scalar.start, scalar.end) == (3, 3 + len(literal))


@pytest.mark.parametrize(
    ("literal", "kind"),
    [("+5", "integer"), ("1_000", "integer"), ("0o17", "integer"), ("0b101", "integer"), ("+1.5", "float"),
     ("1ff", "float"), ("1.5e3ff", "float")],
)
def test_python_only_numbers_are_read_with_a_warning(literal: str, kind: str) -> None:
    document = cfglang.parse(f"a: {literal}")
    scalar = document.fields[0].value
    assert isinstance(scalar, Scalar) and (scalar.kind, scalar.text) == (kind, literal)
    assert diags(document) == [f"S018 warning 1:4-1:{4 + len(literal)}"]


@pytest.mark.parametrize("literal", ["1.2.3", "08", "09.5", "01.5", "0x", "-", "+", "1e", "0x1G", "- 5"])
def test_invalid_numbers(literal: str) -> None:
    document = cfglang.parse(f"a: {literal}\nb: 1")
    assert [d.code for d in document.diagnostics][:1] in (["S006"], ["S007"])
    assert document.fields[0].value is None
    assert document.fields[-1].name == "b"


def test_number_may_not_run_into_an_identifier() -> None:
    document = cfglang.parse("batch_num: 2do_fusion: true")
    assert diags(document) == ["S007 error 1:12-1:22"]
    assert [f.name for f in document.fields] == ["batch_num", "do_fusion"]
    assert document.fields[0].value is None
    assert cfglang.parse("batch_num: 2, do_fusion: true").diagnostics == []
    assert cfglang.parse("batch_num: 2 do_fusion: true").diagnostics == []


def test_messages_colons_brackets_and_separators() -> None:
    document = cfglang.parse("a { b: 1 } c: { } d < e: 2 >, f: < >; g {}")
    assert document.diagnostics == []
    fields = document.fields
    assert [(f.name, f.colon) for f in fields] == [("a", False), ("c", True), ("d", False), ("f", True), ("g", False)]
    assert all(isinstance(f.value, MessageValue) for f in fields)
    assert [f.value.open for f in fields] == ["{", "{", "<", "<", "{"]
    assert fields[2].sep_end == fields[2].end + 1
    assert fields[3].sep_end == fields[3].end + 1
    assert fields[0].sep_end is None


def test_lists_of_scalars_and_messages() -> None:
    document = cfglang.parse('a: [1, -2.5, "x" \'y\', t] b: [{c: 1}, <c: 2>] d [{}] e: [] f []')
    assert document.diagnostics == []
    a, b, d, e, f = document.fields
    assert isinstance(a.value, ListValue)
    assert [(x.kind, x.text) for x in a.value.items] == [("integer", "1"), ("float", "-2.5"), ("string", "xy"),
                                                         ("identifier", "t")]
    assert [x.open for x in b.value.items] == ["{", "<"]
    assert (d.colon, len(d.value.items)) == (False, 1)
    assert e.value.items == [] and f.value.items == [] and not f.colon


def test_comments_are_collected_in_order() -> None:
    text = "# proto-message: AMCTConfig\r\na: 1 # trailing\r\n#\nb: '#not a comment' # last"
    document = cfglang.parse(text)
    assert document.diagnostics == []
    assert [c.text for c in document.comments] == ["# proto-message: AMCTConfig", "# trailing", "#", "# last"]
    assert all(text[c.start : c.end] == c.text for c in document.comments)
    assert document.fields[1].value.text == "#not a comment"


def test_whitespace_forms() -> None:
    assert cfglang.parse("a:\t1\x0bb:\x0c2\r\nc : 3").diagnostics == []
    document = cfglang.parse("a:\u00a01")
    assert diags(document) == ["S019 warning 1:3-1:4"]
    assert document.fields[0].value.text == "1"


@pytest.mark.parametrize(
    ("literal", "decoded"),
    [(r'"\?"', "\\?"), (r'"\q"', "\\q"), (r'"\N{DIGIT ONE}"', "1"), (r'"\8"', "\\8")],
)
def test_escapes_only_python_protobuf_reads(literal: str, decoded: str) -> None:
    document = cfglang.parse(f"a: {literal}")
    assert [d.code for d in document.diagnostics] == ["S017"]
    assert document.fields[0].value.text == decoded


def test_identifier_with_sign_is_invalid() -> None:
    document = cfglang.parse("a: true-\nb: 1")
    assert diags(document) == ["S020 error 1:4-1:9"]
    assert document.fields[0].value is None and document.fields[1].value.text == "1"
