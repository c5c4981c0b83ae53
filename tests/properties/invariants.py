"""Invariants every parse result must satisfy, whatever the input.

Shared by the property tests, the adversarial tests and the fuzz target
(``fuzz/fuzz_cfg.py``). Lines and columns are recomputed here from the text
alone, independently of :class:`cfglang.diagnostics.LineIndex`.

Violations raise :class:`InvariantError` (not ``assert``, so that they also
fire under ``python -O`` in the fuzzer).
"""

from __future__ import annotations

from typing import Iterator

from cfglang.diagnostics import Diagnostic, Severity, Span
from cfglang.syntax import Comment, Document, Field, ListValue, MessageValue, Scalar


class InvariantError(Exception):
    """A promise of the parser (or a later stage) was broken."""


def fail_unless(condition: bool, message: str) -> None:
    if not condition:
        raise InvariantError(message)


def expected_position(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column in code points) of ``offset``; lines end after ``\\n``."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def check_span(text: str, span: Span, what: str) -> None:
    fail_unless(isinstance(span, Span), f"{what}: span is {type(span).__name__}, not Span")
    fail_unless(
        0 <= span.start <= span.end <= len(text),
        f"{what}: span {span.start}..{span.end} outside the text (length {len(text)})",
    )
    got = (span.line, span.column, span.end_line, span.end_column)
    want = (*expected_position(text, span.start), *expected_position(text, span.end))
    fail_unless(got == want, f"{what}: line/column {got} disagree with offsets {span.start}..{span.end}: {want}")


def check_diagnostic(text: str, diag: Diagnostic, where: str = "diagnostic") -> None:
    fail_unless(isinstance(diag, Diagnostic), f"{where} is {type(diag).__name__}")
    fail_unless(isinstance(diag.code, str) and bool(diag.code), f"{where}: empty code")
    fail_unless(isinstance(diag.severity, Severity), f"{where} {diag.code}: severity {diag.severity!r}")
    msg = diag.message
    fail_unless(isinstance(msg, str) and bool(msg.strip()), f"{where} {diag.code}: empty message")
    # STYLE.md: lowercase, no final period (a code point such as `U+001F` is a
    # name, and a quote cut short with `...` is not a sentence's period)
    fail_unless(not msg[0].isupper() or msg.startswith("U+"), f"{where} {diag.code}: message starts uppercase: {msg!r}")
    fail_unless(not msg.endswith(".") or msg.endswith("..."), f"{where} {diag.code}: message ends with a period: {msg!r}")
    check_span(text, diag.span, f"{where} {diag.code} ({msg!r})")
    for i, (span, note) in enumerate(diag.related):
        fail_unless(isinstance(note, str), f"{where} {diag.code}: related note {i} is not text")
        check_span(text, span, f"{where} {diag.code} related {i}")


def walk_fields(fields: list[Field]) -> Iterator[Field]:
    for f in fields:
        yield f
        values = f.value.items if isinstance(f.value, ListValue) else [f.value]
        for v in values:
            if isinstance(v, MessageValue):
                yield from walk_fields(v.fields)


def _check_node_range(text: str, node: object, lo: int, hi: int, what: str) -> None:
    start, end = node.start, node.end  # type: ignore[attr-defined]
    fail_unless(lo <= start <= end <= hi, f"{what}: {start}..{end} not inside {lo}..{hi}")
    check_span(text, node.span, what)  # type: ignore[attr-defined]


def _check_value(text: str, value: object, lo: int, hi: int, what: str) -> None:
    _check_node_range(text, value, lo, hi, what)
    if isinstance(value, Scalar):
        fail_unless(value.kind in ("identifier", "integer", "float", "string"), f"{what}: kind {value.kind!r}")
        if value.kind == "string":
            fail_unless(text[value.start] in "\"'", f"{what}: string does not start at a quote")
        else:
            fail_unless(
                text[value.start:value.end] == value.text,
                f"{what}: text {value.text!r} is not the source {text[value.start:value.end]!r}",
            )
    elif isinstance(value, MessageValue):
        fail_unless(text[value.start] == value.open, f"{what}: message does not start at {value.open!r}")
        if value.closed:
            closer = "}" if value.open == "{" else ">"
            fail_unless(text[value.end - 1] == closer, f"{what}: closed message does not end at {closer!r}")
        for f in value.fields:
            _check_field(text, f, value.start, value.end, what + "." + f.name)
    elif isinstance(value, ListValue):
        fail_unless(text[value.start] == "[", f"{what}: list does not start at '['")
        for i, item in enumerate(value.items):
            fail_unless(isinstance(item, (Scalar, MessageValue)), f"{what}[{i}]: {type(item).__name__} in a list")
            _check_value(text, item, value.start, value.end, f"{what}[{i}]")
    else:
        raise InvariantError(f"{what}: value of type {type(value).__name__}")


def _check_field(text: str, f: Field, lo: int, hi: int, what: str) -> None:
    fail_unless(isinstance(f, Field), f"{what}: {type(f).__name__} among fields")
    _check_node_range(text, f, lo, hi, what)
    fail_unless(f.start <= f.name_start <= f.name_end <= f.end, f"{what}: name outside the field")
    fail_unless(text[f.name_start:f.name_end] == f.name, f"{what}: name {f.name!r} is not the source")
    check_span(text, f.name_span, what + " name")
    if f.sep_end is not None:
        fail_unless(f.end < f.sep_end <= hi and text[f.sep_end - 1] in ",;", f"{what}: bad separator end")
    if f.value is not None:
        _check_value(text, f.value, f.start, f.end, what + " value")


def check_document(doc: Document, source: str | bytes) -> None:
    """Everything :func:`cfglang.parse` promises about ``doc`` parsed from ``source``."""
    fail_unless(isinstance(doc, Document), f"parse returned {type(doc).__name__}")
    text = doc.text
    fail_unless(isinstance(text, str), "document text is not str")
    if isinstance(source, str):
        bom = source.startswith("\ufeff")
        fail_unless(doc.has_bom == bom, f"has_bom is {doc.has_bom}, source BOM {bom}")
        fail_unless(text == (source[1:] if bom else source), "document text differs from the source")
    fail_unless(doc.index.text == text, "line index built on another text")
    for i, d in enumerate(doc.diagnostics):
        check_diagnostic(text, d, f"diagnostic {i}")
    for f in doc.fields:
        _check_field(text, f, 0, len(text), f.name)
    previous_end = 0
    for c in doc.comments:
        fail_unless(isinstance(c, Comment), f"{type(c).__name__} among comments")
        _check_node_range(text, c, 0, len(text), "comment")
        fail_unless(c.start >= previous_end, "comments overlap or are out of order")
        fail_unless(text[c.start:c.end] == c.text and c.text.startswith("#"), f"comment {c.text!r} is not the source")
        fail_unless("\n" not in c.text, "comment contains a line break")
        previous_end = c.end
