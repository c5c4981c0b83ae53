"""The document outline: every field, with each override named by its layer or type."""

from __future__ import annotations

from lsprotocol import types

from cfglang.lsp.analysis import Analysis
from cfglang.lsp.positions import Positions
from cfglang.syntax import Field, ListValue, MessageValue, Scalar

__all__ = ["document_symbols"]

# an override entry is shown with the value of its key field
_KEYS = {"override_layer_configs": "layer_name", "override_layer_types": "layer_type"}


def document_symbols(analysis: Analysis) -> list[types.DocumentSymbol]:
    """An outline of what parsed (a broken file still has one for its good parts)."""
    if analysis.document is None:
        return []
    return [s for f in analysis.document.fields for s in _field_symbols(f, analysis.positions)]


def _field_symbols(field: Field, positions: Positions) -> list[types.DocumentSymbol]:
    value = field.value
    end = field.sep_end or field.end
    if isinstance(value, ListValue):
        if any(isinstance(item, MessageValue) for item in value.items):
            # `override_layer_configs: [{...}, {...}]`: one entry per element, like repeated fields
            return [_message_symbol(field, item, item.start, item.end, positions) if isinstance(item, MessageValue)
                    else _scalar_symbol(field, item.start, item.end, positions, item)
                    for item in value.items]
        return [_symbol(field.name, _list_detail(value), types.SymbolKind.Array, field.start, end,
                        field, positions)]
    if isinstance(value, MessageValue):
        return [_message_symbol(field, value, field.start, end, positions)]
    return [_scalar_symbol(field, field.start, end, positions, value)]


def _message_symbol(field: Field, value: MessageValue, start: int, end: int,
                    positions: Positions) -> types.DocumentSymbol:
    key = _key(field.name, value)
    name = field.name if key is None else f"{field.name}: {key}"
    children = [s for f in value.fields for s in _field_symbols(f, positions)]
    kind = types.SymbolKind.Struct if field.name in _KEYS else types.SymbolKind.Object
    symbol = _symbol(name, None, kind, min(start, field.start), end, field, positions)
    symbol.children = children
    return symbol


def _scalar_symbol(field: Field, start: int, end: int, positions: Positions,
                   value: Scalar | MessageValue | None) -> types.DocumentSymbol:
    detail = None
    if isinstance(value, Scalar):
        detail = f'"{value.text}"' if value.kind == "string" else value.text
    return _symbol(field.name, detail, types.SymbolKind.Property, min(start, field.start), end, field, positions)


def _symbol(name: str, detail: str | None, kind: types.SymbolKind, start: int, end: int, field: Field,
            positions: Positions) -> types.DocumentSymbol:
    return types.DocumentSymbol(
        name=name,
        detail=detail,
        kind=kind,
        range=positions.range(start, max(end, field.name_end)),
        selection_range=positions.range(field.name_start, field.name_end),
    )


def _key(field_name: str, value: MessageValue) -> str | None:
    key_field = _KEYS.get(field_name)
    if key_field is None:
        return None
    for f in value.fields:
        if f.name == key_field and isinstance(f.value, Scalar):
            return f.value.text
    return None


def _list_detail(value: ListValue) -> str:
    texts = [f'"{i.text}"' if i.kind == "string" else i.text for i in value.items if isinstance(i, Scalar)]
    shown = ", ".join(texts[:4])
    return f"[{shown}{', ...' if len(texts) > 4 else ''}]"
