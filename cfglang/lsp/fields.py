"""What the server says about a field: its type, what it does, default, allowed values and rules.

Shared by hover and completion, so both describe a field the same way. The
facts come from :mod:`cfglang.schema` (the proto descriptor and its
descriptions file), the rules registry and :mod:`cfglang.capabilities`; this
module only words them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from cfglang import capabilities, schema
from cfglang.float32 import format_number
from cfglang.rules import all_rules
from cfglang.schema import FieldInfo

__all__ = ["message_at", "default_text", "allowed_values", "enum_value_help", "signature", "describe_field",
           "LAYER_TYPE_FIELDS", "LAYER_NAME_FIELDS"]

# string fields whose values are layer types, and those whose values are layer names
LAYER_TYPE_FIELDS = frozenset({("OverrideLayerType", "layer_type"), ("AMCTConfig", "skip_layer_types")})
LAYER_NAME_FIELDS = frozenset({
    ("OverrideLayer", "layer_name"), ("AMCTConfig", "skip_layers"), ("AMCTConfig", "skip_fusion_layers"),
})


def message_at(path: Sequence[str]) -> str | None:
    """The message type reached by following message fields ``path`` from the root."""
    message = schema.ROOT
    for name in path:
        info = schema.field_info(message, name)
        if info is None or info.message is None:
            return None
        message = info.message
    return message


def default_text(info: FieldInfo) -> str | None:
    """The declared default (``[default = ...]``); None when the proto declares none.

    Fields without one (``channel_wise``, ``asymmetric``) get their value from
    the layer type or another level at resolution, so no fixed default is shown.
    """
    if info.repeated or info.kind == "message" or not info.has_default:
        return None
    value = info.default
    if info.kind == "enum":
        return next((name for name, number in info.enum_values if number == value), str(value))
    if info.kind == "bool":
        return "true" if value else "false"
    if info.kind == "float":
        return format_number(value)
    return str(value)


def allowed_values(message: str, info: FieldInfo) -> list[str]:
    """Value names the field accepts when they are few: enum names, booleans, layer types."""
    if info.kind == "enum":
        return [name for name, _ in info.enum_values]
    if info.kind == "bool":
        return ["true", "false"]
    if (message, info.name) in LAYER_TYPE_FIELDS:
        return list(capabilities.QUANTIZABLE)
    return []


def enum_value_help(info: FieldInfo) -> dict[str, str]:
    """Enum value name -> what it means, for the values that have a description."""
    return {name: text for (name, _), text in zip(info.enum_values, info.enum_descriptions) if text}


def signature(info: FieldInfo) -> str:
    label = "repeated" if info.repeated else "required" if info.required else "optional"
    return f"{label} {info.type_name} {info.name} = {info.number}"


@functools.lru_cache(maxsize=None)
def _rules_about(field_name: str) -> tuple[tuple[str, str, str], ...]:
    """(code, name, summary) of the rules whose summary names the field."""
    mark = f"`{field_name}"
    return tuple((r.code, r.name, r.summary) for r in all_rules()
                 if r.status != "removed" and mark in r.summary)


@functools.lru_cache(maxsize=None)
def describe_field(message: str, name: str) -> str:
    """Markdown: signature, what it does, default, what it takes, oneof, allowed values and the rules that check it."""
    info = schema.field_info(message, name)
    if info is None:
        return ""
    lines = [f"```proto\n{signature(info)}\n```", f"field of `{message}`"]
    if info.description:
        lines.append(info.description)
    default = default_text(info)
    if default is not None:
        lines.append(f"default: `{default}`")
    allowed = allowed_values(message, info)
    if allowed:
        lines.append("values: " + ", ".join(f"`{v}`" for v in allowed))
        meanings = enum_value_help(info)
        if meanings:
            lines.append("\n".join(f"- `{value}`: {text}" for value, text in meanings.items()))
    else:
        lines.append(f"takes {schema.expected_value(info)}" + (", repeated" if info.repeated else ""))
    if info.oneof is not None:
        others = [m for m in schema.oneof_members(message)[info.oneof] if m != name]
        lines.append(f"one of `{info.oneof}`: the member written last wins"
                     + (" (the others: " + ", ".join(f"`{o}`" for o in others) + ")" if others else ""))
    rules = _rules_about(name)
    if rules:
        lines.append("checked by:\n" + "\n".join(f"- `{code}` {rule}: {summary}" for code, rule, summary in rules))
    return "\n\n".join(lines)
