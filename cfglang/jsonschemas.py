"""The shipped JSON Schemas (inventory, plan) and the config schema generated
from the proto descriptor, plus one way to validate against them with
messages that say where and what.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from cfglang.resources import data_file

__all__ = ["SCHEMAS", "schema", "validation_errors", "json_pointer", "with_targets"]

# name -> shipped file; "config" is generated (cfglang.convert.config_schema)
SCHEMAS = {"inventory": "inventory.schema.json", "plan": "plan.schema.json", "config": None}


@functools.cache
def schema(name: str, target: str | None = None) -> dict[str, Any]:
    """The JSON Schema called ``name`` (``config``, ``plan`` or ``inventory``); the config schema with
    the widths that ``target`` accepts (None: the default target)."""
    if name not in SCHEMAS:
        raise KeyError(name)
    if SCHEMAS[name] is None:
        from cfglang.convert import config_schema

        return config_schema(target)
    shipped = json.loads(data_file("schemas", SCHEMAS[name]).read_text(encoding="utf-8"))
    return with_targets(shipped) if name == "plan" else shipped


def with_targets(plan_schema: dict[str, Any]) -> dict[str, Any]:
    """The plan schema with what the targets' capability tables allow: the target names, every ARQ
    weight width and every activation width of some target (the shipped file says the same; a test
    compares them)."""
    from cfglang.capabilities import TARGETS

    plan_schema["properties"]["target"]["enum"] = list(TARGETS)
    arq_bits = sorted({bits for t in TARGETS.values() for bits in t.weight_bits})
    act_bits = sorted({t.dst_type_bits(name) for t in TARGETS.values() for name in t.activation_bits})
    for variant in plan_schema["$defs"]["weight"]["oneOf"]:
        if variant["properties"]["algo"] == {"const": "arq"}:
            variant["properties"]["bits"] = {"enum": arq_bits}
    for variant in plan_schema["$defs"]["activation"]["oneOf"]:
        variant["properties"]["bits"] = {"enum": act_bits}
    return plan_schema


@functools.cache
def _validator(name: str):
    import jsonschema

    return jsonschema.Draft202012Validator(schema(name))


def json_pointer(path) -> str:
    """``layers[2].name`` style for a jsonschema error path."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def validation_errors(instance: Any, name: str, limit: int = 5) -> list[str]:
    """Messages for the first ``limit`` schema violations (empty when valid), most specific first."""
    errors = sorted(_validator(name).iter_errors(instance), key=lambda e: (list(e.absolute_path), e.message))
    messages = []
    for error in errors[:limit]:
        messages.append(f"`{json_pointer(error.absolute_path)}`: {_describe(error)}")
    if len(errors) > limit:
        messages.append(f"and {len(errors) - limit} more")
    return messages


def _describe(error) -> str:
    found = json.dumps(error.instance)
    if len(found) > 60:
        found = found[:57] + "..."
    keyword = error.validator
    if keyword == "required":
        missing = [p for p in error.validator_value if p not in error.instance]
        return "missing " + ", ".join(f"`{p}`" for p in missing)
    if keyword == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return "unknown key " + ", ".join(f"`{p}`" for p in extra)
    if keyword == "type":
        return f"found {found}, expected a value of type {error.validator_value}"
    if keyword in ("enum", "const"):
        allowed = error.validator_value if keyword == "enum" else [error.validator_value]
        return f"found {found}, expected one of {', '.join(json.dumps(a) for a in allowed)}"
    return f"found {found}: {error.message}"
