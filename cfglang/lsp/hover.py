"""Hover: what a field is; with an inventory, what a value resolves to and why; with a sensitivity report,
what it measured for a layer name."""

from __future__ import annotations

import os

from lsprotocol import types

from cfglang import schema
from cfglang.lsp import fields, provenance, reports
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
        measured = _measured(analysis, offset)
        if measured is not None:
            start, end, text_part = measured
            parts.append(text_part)
    if not parts:
        return None
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value="\n\n".join(parts)),
        range=analysis.positions.range(start, end),
    )


def _measured(analysis: Analysis, offset: int) -> tuple[int, int, str] | None:
    """The sensitivity report's figures for the layer name at ``offset``."""
    found = analysis.report()
    document = analysis.document
    if found is None or document is None:
        return None
    scalar = provenance.layer_name_at(document, offset)
    if scalar is None:
        return None
    shown = os.path.relpath(found.path, os.path.dirname(analysis.path or ""))
    return scalar.start, scalar.end, reports.layer_hover(found, scalar.text, analysis.core_text, shown)
