"""``amct fmt`` properties (issue 4): idempotent, keeps every comment, keeps the
meaning (``load(fmt(x)) == load(x)``), follows the input's line endings and
final newline, and refuses text with syntax errors.
"""

from __future__ import annotations

import pytest
from google.protobuf import text_format
from hypothesis import given
from hypothesis import strategies as st

from .strategies import Rendered, merge_documents, mutated_documents, valid_documents


def _fmt(text: str | bytes, indent: int = 2) -> str:
    from cfglang.formatter import format_text
    from cfglang.settings import FormatOptions

    return format_text(text, FormatOptions(indent_width=indent))


def _comments(text: str) -> list[str]:
    import cfglang

    return sorted(c.text.rstrip("\r") for c in cfglang.parse(text).comments)


def _wire(text: str) -> bytes:
    import cfglang

    return cfglang.check(text).config.SerializePartialToString(deterministic=True)


def _merge_wire(text: str) -> bytes:
    from cfglang._proto.calibration_config_pytorch_pb2 import AMCTConfig

    message = AMCTConfig()
    text_format.Merge(text, message)
    return message.SerializePartialToString(deterministic=True)


documents = st.one_of(valid_documents(), merge_documents())


@given(documents, st.sampled_from([2, 4]))
def test_format_is_idempotent(doc: Rendered, indent: int) -> None:
    once = _fmt(doc.text, indent)
    assert _fmt(once, indent) == once


@given(documents)
def test_format_keeps_every_comment(doc: Rendered) -> None:
    assert _comments(_fmt(doc.text)) == sorted(doc.comments)


@given(documents)
def test_format_keeps_the_meaning(doc: Rendered) -> None:
    import cfglang

    out = _fmt(doc.text)
    assert cfglang.parse(out).diagnostics == []
    assert _wire(out) == _wire(doc.text)
    # the oracle agrees too: AMCT reads the formatted file as it read the original
    assert _merge_wire(out) == _merge_wire(doc.text)


@given(documents)
def test_format_follows_line_endings_and_final_newline(doc: Rendered) -> None:
    out = _fmt(doc.text)
    if "\n" not in doc.text:
        pass  # nothing to follow: the default applies
    elif doc.newline == "\r\n":
        assert out.count("\n") == out.count("\r\n")
    else:
        assert "\r" not in out
    assert out.endswith("\n") == (doc.text.endswith("\n") and out != "")


@given(mutated_documents())
def test_format_refuses_text_with_syntax_errors(source: str | bytes) -> None:
    import cfglang
    from cfglang.formatter import FormatError

    doc = cfglang.parse(source)
    if doc.diagnostics:
        with pytest.raises(FormatError):
            _fmt(source)
    else:
        out = _fmt(source)
        assert _fmt(out) == out
        assert _comments(out) == sorted(c.text.rstrip("\r") for c in doc.comments)
