"""A compact, comparable rendering of a syntax tree (every offset included)."""

from __future__ import annotations

from cfglang.syntax import Document, Field, ListValue, MessageValue, Scalar


def dump(node: object) -> object:
    if isinstance(node, Document):
        return (dump(node.fields), [(c.text, c.start, c.end) for c in node.comments], node.has_bom)
    if isinstance(node, list):
        return [dump(x) for x in node]
    if isinstance(node, Field):
        return ("field", node.name, node.name_start, node.name_end, node.colon, node.start, node.end,
                node.sep_end, dump(node.value))
    if isinstance(node, MessageValue):
        return ("message", node.open, node.start, node.end, node.closed, dump(node.fields))
    if isinstance(node, ListValue):
        return ("list", node.start, node.end, dump(node.items))
    if isinstance(node, Scalar):
        return (node.kind, node.text, node.start, node.end, node.pieces)
    assert node is None, node
    return None


def diags(document: Document) -> list[str]:
    """Diagnostics as ``CODE severity line:col-end_line:end_col``."""
    out = []
    for d in document.diagnostics:
        s = d.span
        out.append(f"{d.code} {d.severity.label} {s.line}:{s.column}-{s.end_line}:{s.end_column}")
    return out
