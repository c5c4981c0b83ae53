"""The formatter: the canonical layout (golden pairs), idempotence, comments kept, and semantics kept with
protobuf's ``text_format.Merge`` as the oracle on the valid corpus and on generated files."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest
from google.protobuf import text_format
from hypothesis import given, reject

from cfglang._proto.calibration_config_pytorch_pb2 import AMCTConfig
from cfglang.formatter import FormatError, FormatOptions, format_text
from cfglang.parser import parse

TESTS = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
VALID = sorted((TESTS / "data" / "valid").glob("*.cfg")) + sorted(DATA.glob("*.cfg"))

sys.path.insert(0, str(TESTS))  # the property tests' generators live in tests/properties
from properties.strategies import merge_documents  # noqa: E402


def merged(text: str) -> bytes:
    message = AMCTConfig()
    text_format.Merge(text.lstrip("\ufeff"), message)
    return message.SerializePartialToString(deterministic=True)


def comments(text: str) -> Counter[str]:
    return Counter(c.text.rstrip("\r") for c in parse(text).comments)


@pytest.mark.parametrize("source", sorted(DATA.glob("*.in.cfg")), ids=lambda p: p.name)
def test_golden_pairs(source: Path) -> None:
    expected = source.with_name(source.name.replace(".in.", ".out.")).read_text(encoding="utf-8")
    assert format_text(source.read_text(encoding="utf-8")) == expected


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_corpus_keeps_meaning_and_comments_and_is_idempotent(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    once = format_text(text)
    assert merged(once) == merged(text)
    assert comments(once) == comments(text)
    assert format_text(once) == once


@given(merge_documents())
def test_generated_files_keep_meaning_and_comments_and_are_idempotent(rendered) -> None:
    text = rendered.text
    try:
        expected = merged(text)
    except text_format.ParseError:  # the generator's promise is broken (a `\\u005c` escape, say): not ours
        reject()
    once = format_text(text)
    assert merged(once) == expected
    assert comments(once) == comments(text)
    assert format_text(once) == once


def test_crlf_and_a_missing_final_newline_follow_the_input() -> None:
    assert format_text("a {\r\nb: 1}\r\n") == "a {\r\n  b: 1\r\n}\r\n"
    assert format_text("b:1") == "b: 1"
    assert format_text("b:1\n\n\n") == "b: 1\n"
    assert format_text("") == "" and format_text("\n\n") == ""
    assert format_text("\ufeffb:1\n") == "\ufeffb: 1\n"


def test_options_indent_width_and_line_ending() -> None:
    text = "a { b { c: 1 } }\n"
    assert format_text(text, FormatOptions(indent_width=4)) == "a {\n    b {\n        c: 1\n    }\n}\n"
    assert format_text(text, FormatOptions(line_ending="crlf")).count("\r\n") == 5


def test_comments_inside_a_field_move_above_it() -> None:
    assert format_text("a # why\n: 1\nb # how\n{ c: 2 }\n") == "# why\na: 1\n# how\nb {\n  c: 2\n}\n"


def test_a_file_with_syntax_errors_is_refused() -> None:
    with pytest.raises(FormatError, match=r"^1:\d+: .* \(\d+ syntax errors?\)$") as caught:
        format_text('a: "unterminated\n')
    assert caught.value.diagnostics[0].code.startswith("S")

