"""The hard limits: nesting depth and input size; parse never raises."""

from __future__ import annotations

import random

import pytest

import cfglang
from cfglang.parser import DEFAULT_MAX_DEPTH
from cfglang.syntax import MessageValue

from .treedump import diags, dump


def depth_of(fields) -> int:
    depth = 0
    while fields:
        value = fields[0].value
        if not isinstance(value, MessageValue):
            break
        depth += 1
        fields = value.fields
    return depth


@pytest.mark.parametrize("opener", ["{", "<"])
def test_ten_thousand_levels_are_cut_at_the_limit(opener: str) -> None:
    closer = "}" if opener == "{" else ">"
    text = f"a {opener}" * 10_000 + closer * 10_000
    document = cfglang.parse(text)
    assert [d.code for d in document.diagnostics] == ["S014"]
    assert document.diagnostics[0].span.start == 3 * DEFAULT_MAX_DEPTH + 2
    assert depth_of(document.fields) == DEFAULT_MAX_DEPTH
    assert dump(document) == dump(cfglang.parse(text, fast=False))


def test_depth_limit_is_configurable_and_keeps_the_rest() -> None:
    text = "a { b { c { d: 1 } } e: 2 }\nf: 3"
    assert cfglang.parse(text, max_depth=3).diagnostics == []
    document = cfglang.parse(text, max_depth=2)
    assert diags(document) == ["S014 error 1:11-1:12"]
    b = document.fields[0].value.fields[0]
    assert b.value.fields[0].name == "c" and b.value.fields[0].value is None
    assert [f.name for f in document.fields[0].value.fields] == ["b", "e"]
    assert document.fields[1].value.text == "3"


def test_unclosed_deep_nesting_does_not_recurse() -> None:
    document = cfglang.parse("a <" * 10_000)
    assert document.diagnostics[0].code == "S014"
    assert document.diagnostics[-1].code == "S016"  # capped, not 10,000 diagnostics
    assert len(document.diagnostics) <= 102


@pytest.mark.parametrize("data", ["a: 1 " * 10, b"a: 1 " * 10])
def test_input_above_max_size_is_refused(data: str | bytes) -> None:
    document = cfglang.parse(data, max_size=49)
    assert diags(document) == ["S015 error 1:1-1:1"]
    assert document.fields == [] and document.text == ""
    assert cfglang.parse(data, max_size=50).diagnostics == []


def test_parse_never_raises_on_random_bytes() -> None:
    rng = random.Random(20240611)
    pieces = [b"a", b"b_c", b": ", b"{", b"}", b"<", b">", b"[", b"]", b",", b";", b'"s"', b"'t'", b'"\\x41"',
              b"1", b"-2.5f", b"0x1F", b"inf", b"\n", b" ", b"# c\n", b"true", b"2do", b'"', b"\\", b"+", b"-",
              b"a: 1", b"b { c: 2 }", b'x: "y"', b"\xff", b"\xc3", b"\r\n", b"\t", "中".encode()]
    for n in range(400):
        if n % 2:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(80)))
        else:
            data = b"".join(rng.choice(pieces) for _ in range(rng.randrange(60)))
        document = cfglang.parse(data)
        for d in document.diagnostics:
            assert 0 <= d.span.start <= d.span.end <= len(document.text)
        # the folded fast path never changes the result
        fine = cfglang.parse(data, fast=False)
        assert diags(fine) == diags(document), data
        assert dump(fine) == dump(document), data
