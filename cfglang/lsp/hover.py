"""Hover: what a field is, and, with an inventory, what a value resolves to and why."""

from __future__ import annotations

from lsprotocol import types

from cfglang import schema
from cfglang.lsp import fields, provenance
from cfglang.lsp.analysis import Analysis
from cfglang.lsp.context import word_at

__all__ = ["hover"]


def hover(analysis: Analysis, position: types.Position) -> types.Hover | None:
    offset = analysis.positions.offset(position)
    text = analysis.core_text
    word = word_at(text, offset)
    start, end = word if word else (offset, offset)
    context = analysis.cursor_context(start)
    message = fields.message_at(context.path)
    parts: list[str] = []
    if context.slot == "name" and not context.in_string and word is not None and message is not None:
        if schema.field_info(message, text[start:end]) is None:
            return None
        parts.append(fields.describe_field(message, text[start:end]))
    else:
        resolved = provenance.describe_value(analysis, offset)
        if resolved is not None:
            start, end, value_text = resolved
            parts.append(value_text)
        elif message is not None and word is not None and schema.field_info(message, context.field or "") is not None:
            parts.append(fields.describe_field(message, context.field or ""))
    if not parts:
        return None
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value="\n\n".join(parts)),
        range=analysis.positions.range(start, end),
    )
