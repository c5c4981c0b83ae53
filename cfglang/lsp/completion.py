"""Completion: field names of the enclosing message, and values for the field being set.

Works from the text before the cursor (:mod:`cfglang.lsp.context`), so a
half-typed file completes as well as a valid one.
"""

from __future__ import annotations

from lsprotocol import types

from cfglang import schema
from cfglang.lsp import fields
from cfglang.lsp.analysis import Analysis
from cfglang.lsp.context import CursorContext

__all__ = ["complete", "client_supports_snippets"]


def client_supports_snippets(capabilities: types.ClientCapabilities) -> bool:
    document = capabilities.text_document
    completion = document.completion if document else None
    item = completion.completion_item if completion else None
    return bool(item and item.snippet_support)


def complete(analysis: Analysis, position: types.Position, snippets: bool = False) -> list[types.CompletionItem]:
    offset = analysis.positions.offset(position)
    context = analysis.cursor_context(offset)
    message = fields.message_at(context.path)
    if message is None:
        return []
    replace = analysis.positions.range(context.prefix_start, offset)
    if context.slot == "name":
        if context.in_string:
            return []
        return _field_names(message, replace, snippets)
    info = schema.field_info(message, context.field or "")
    if info is None:
        return []
    return _values(message, info, context, replace, analysis)


def _field_names(message: str, replace: types.Range, snippets: bool) -> list[types.CompletionItem]:
    items = []
    for i, info in enumerate(schema.fields_of(message).values()):
        is_message = info.kind == "message"
        if is_message:
            text = f"{info.name} {{\n\t$0\n}}" if snippets else f"{info.name} {{"
        else:
            text = f"{info.name}: $0" if snippets else f"{info.name}: "
        default = fields.default_text(info)
        detail = fields.signature(info) + (f" [default = {default}]" if default else "")
        items.append(types.CompletionItem(
            label=info.name,
            kind=types.CompletionItemKind.Module if is_message else types.CompletionItemKind.Field,
            detail=detail,
            documentation=types.MarkupContent(kind=types.MarkupKind.Markdown,
                                              value=fields.describe_field(message, info.name)),
            sort_text=f"{i:03d}",
            text_edit=types.TextEdit(range=replace, new_text=text),
            insert_text_format=types.InsertTextFormat.Snippet if snippets else types.InsertTextFormat.PlainText,
        ))
    return items


def _values(message: str, info: schema.FieldInfo, context: CursorContext, replace: types.Range,
            analysis: Analysis) -> list[types.CompletionItem]:
    key = (message, info.name)
    if info.kind == "string":
        if key in fields.LAYER_TYPE_FIELDS:
            return _strings([(t, "quantizable layer type") for t in fields.allowed_values(message, info)],
                            types.CompletionItemKind.Class, context, replace)
        if key in fields.LAYER_NAME_FIELDS:
            return _strings(_layer_names(info.name, analysis), types.CompletionItemKind.Reference, context,
                            replace)
        return []
    if context.in_string or info.kind == "message":
        return []
    kind = types.CompletionItemKind.EnumMember if info.kind == "enum" else types.CompletionItemKind.Value
    values = fields.allowed_values(message, info)
    default = fields.default_text(info)
    if not values and default is not None:
        values = [default]
    meanings = fields.enum_value_help(info)
    return [
        types.CompletionItem(
            label=value, kind=kind, detail="default" if value == default else None,
            documentation=types.MarkupContent(kind=types.MarkupKind.Markdown, value=meanings[value])
            if value in meanings else None,
            sort_text=f"{i:03d}", text_edit=types.TextEdit(range=replace, new_text=value),
        )
        for i, value in enumerate(values)
    ]


def _layer_names(field_name: str, analysis: Analysis) -> list[tuple[str, str]]:
    inventory = analysis.inventory
    if inventory is None:
        return []
    if field_name == "skip_fusion_layers":
        return [(f.conv, f"folds {f.bn}") for f in inventory.foldable]
    return [(layer.name, layer.type) for layer in inventory.quantizable]


def _strings(values: list[tuple[str, str]], kind: types.CompletionItemKind, context: CursorContext,
             replace: types.Range) -> list[types.CompletionItem]:
    """String values: inside a string only the content is replaced; outside, quotes are added."""
    items = []
    for i, (value, detail) in enumerate(values):
        escaped = value.replace("\\", "\\\\").replace(context.quote or '"', "\\" + (context.quote or '"'))
        new_text = escaped if context.in_string else f'"{escaped}"'
        items.append(types.CompletionItem(
            label=value, kind=kind, detail=detail, sort_text=f"{i:05d}",
            filter_text=new_text, text_edit=types.TextEdit(range=replace, new_text=new_text),
        ))
    return items
