"""Hover over a value of a file with an inventory: what it resolves to, for which layers, and why.

Everything comes from the resolved :class:`cfglang.plan.Plan`: each resolved
value carries the span of the text that set it, so the layers a value reaches
are those whose provenance points at it.
"""

from __future__ import annotations

from collections import defaultdict

from cfglang.diagnostics import LineIndex
from cfglang.lsp.analysis import Analysis
from cfglang.plan import LayerPlan, Plan, explain_layer
from cfglang.syntax import Document, Field, ListValue, MessageValue, Scalar

__all__ = ["describe_value", "layer_name_at"]

_NAME_FIELDS = {"layer_name", "skip_layers", "skip_fusion_layers"}
_MAX_LAYERS = 12


def describe_value(analysis: Analysis, offset: int) -> tuple[int, int, str] | None:
    """``(start, end, markdown)`` for the value at ``offset``, or None without a plan or a value there."""
    plan = analysis.plan()
    document = analysis.document
    if plan is None or document is None:
        return None
    found = _scalar_at(document, offset)
    if found is None:
        return None
    field, scalar = found
    if scalar.kind == "string" and field.name in _NAME_FIELDS:
        return scalar.start, scalar.end, _layer(plan, scalar.text, analysis.core_text)
    if scalar.kind == "string" and field.name == "layer_type":
        return scalar.start, scalar.end, _layer_type(plan, scalar.text)
    reached = _reached(plan, document.index, scalar.start, scalar.end)
    if not reached:
        return scalar.start, scalar.end, "reaches no layer of the model: every layer it could apply to takes " \
                                         "its value from elsewhere"
    return scalar.start, scalar.end, _values(reached)


def layer_name_at(document: Document, offset: int) -> Scalar | None:
    """The layer name (a string of ``layer_name``, ``skip_layers`` or ``skip_fusion_layers``) at ``offset``."""
    found = _scalar_at(document, offset)
    if found is None or found[1].kind != "string" or found[0].name not in _NAME_FIELDS:
        return None
    return found[1]


def _scalar_at(document: Document, offset: int) -> tuple[Field, Scalar] | None:
    fields = document.fields
    while True:
        field = next((f for f in fields if f.start <= offset <= f.end), None)
        if field is None:
            return None
        value = field.value
        if isinstance(value, Scalar):
            return (field, value) if value.start <= offset <= value.end else None
        if isinstance(value, ListValue):
            for item in value.items:
                if item.start <= offset <= item.end:
                    if isinstance(item, Scalar):
                        return field, item
                    fields = item.fields
                    break
            else:
                return None
            continue
        if isinstance(value, MessageValue):
            fields = value.fields
            continue
        return None


def _reached(plan: Plan, index: LineIndex, start: int, end: int) -> list[tuple[LayerPlan, str, str]]:
    """(layer, value key, level) for every resolved value written at ``start:end``."""
    out = []
    for layer in plan.layers:
        for key, prov in layer.provenance.items():
            if prov.span is not None:  # a fallback keeps the span of the value that caused it
                hit = prov.span.start <= start and end <= prov.span.end
            else:  # a written value carries only where it starts
                hit = prov.line is not None and index.offset(prov.line, prov.column) == start
            if hit:
                out.append((layer, key, prov.source))
    return out


def _shown(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _names(layers: list[str]) -> str:
    shown = ", ".join(f"`{n}`" for n in layers[:_MAX_LAYERS])
    more = len(layers) - _MAX_LAYERS
    return shown + (f" and {more} more" if more > 0 else "")


def _values(reached: list[tuple[LayerPlan, str, str]]) -> str:
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for layer, key, source in reached:
        groups[(key, _shown(layer.value(key)), source)].append(layer.name)
    lines = ["**resolved**"]
    for (key, value, source), layers in groups.items():
        count = f"{len(layers)} layer" + ("s" if len(layers) != 1 else "")
        lines.append(f"- `{key}` = `{value}` ({source}) for {count}: {_names(layers)}")
    return "\n".join(lines)


def _layer(plan: Plan, name: str, text: str) -> str:
    if plan.layer(name) is None:
        return f"`{name}` is not a quantizable layer of the model"
    return f"```text\n{explain_layer(plan, name, text).rstrip()}\n```"


def _layer_type(plan: Plan, layer_type: str) -> str:
    layers = [layer for layer in plan.layers if layer.type == layer_type]
    if not layers:
        return f"no layer of the model has type `{layer_type}`"
    using = [layer.name for layer in layers
             if any(p.source == "override_layer_types" for p in layer.provenance.values())]
    lines = [f"**{len(layers)} `{layer_type}` layer" + ("s" if len(layers) != 1 else "") + f"**: "
             f"{_names([layer.name for layer in layers])}"]
    others = [layer.name for layer in layers if layer.name not in using]
    lines.append(f"- take this override: {_names(using) if using else 'none'}")
    if others:
        lines.append(f"- do not (skipped or overridden by name): {_names(others)}")
    return "\n".join(lines)
