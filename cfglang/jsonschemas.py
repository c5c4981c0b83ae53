"""The shipped JSON Schemas (inventory, plan, report) and the config schema generated
from the config schema (:mod:`cfglang.schema`), plus one way to validate against
them with messages that say where and what.

The config schema is protobuf's JSON mapping with the proto field names (the
names a ``.cfg`` uses), enums as names. It states what JSON Schema can say:
kinds, exact integer bounds, enums, required fields, oneofs (at most one
member), no unknown keys, and the value constraints (docs/rules.md, V rules)
that concern one value (``quant_bits`` in {6, 7, 8}, ``0 < reg_param < 1``, ...),
read from :mod:`cfglang.ranges` and the target's capability table. Constraints
between values (``search_range_start < search_range_end``) and duplicate
override keys are left to the checker.
"""

from __future__ import annotations

import functools
import itertools
import json
from typing import Any

from cfglang import schema as config
from cfglang.capabilities import QUANTIZABLE, TARGETS, get_target
from cfglang.float32 import shortest_float32
from cfglang.ranges import NUM_OF_BINS, VALUE_RANGES
from cfglang.resources import data_file

__all__ = ["SCHEMAS", "schema", "config_schema", "validation_errors", "json_pointer", "with_targets"]

# name -> shipped file; "config" is generated (config_schema)
SCHEMAS = {"inventory": "inventory.schema.json", "plan": "plan.schema.json", "report": "report.schema.json",
           "config": None}

_DRAFT = "https://json-schema.org/draft/2020-12/schema"

# the value constraints (V rules), as JSON Schema keywords: (message, field) -> keywords
_CONSTRAINTS: dict[tuple[str, str], dict[str, Any]] = {
    **{key: bound.json_keywords() for key, bound in VALUE_RANGES.items()},  # cfglang.ranges
    # the widths come from a target's capability table (_target_constraints)
    ("HFMGQuantize", "num_of_bins"): {"enum": list(NUM_OF_BINS)},
    ("OverrideLayerType", "layer_type"): {"enum": list(QUANTIZABLE)},
    ("AMCTConfig", "skip_layer_types"): {"enum": list(QUANTIZABLE)},
}


@functools.cache
def schema(name: str, target: str | None = None) -> dict[str, Any]:
    """The JSON Schema called ``name`` (``config``, ``plan``, ``inventory`` or ``report``); the config schema with
    the widths that ``target`` accepts (None: the default target)."""
    if name not in SCHEMAS:
        raise KeyError(name)
    if SCHEMAS[name] is None:
        return config_schema(target)
    shipped = json.loads(data_file("schemas", SCHEMAS[name]).read_text(encoding="utf-8"))
    return with_targets(shipped) if name == "plan" else shipped


def with_targets(plan_schema: dict[str, Any]) -> dict[str, Any]:
    """The plan schema with what the targets' capability tables allow: the target names, every ARQ
    weight width and every activation width of some target (the shipped file says the same; a test
    compares them)."""
    plan_schema["properties"]["target"]["enum"] = list(TARGETS)
    arq_bits = sorted({bits for t in TARGETS.values() for bits in t.weight_bits})
    act_bits = sorted({t.dst_type_bits(name) for t in TARGETS.values() for name in t.activation_bits})
    plan_schema["$defs"]["weight"]["properties"]["bits"] = {"enum": arq_bits}  # AdaRound: 8 only
    plan_schema["$defs"]["activation"]["properties"]["bits"] = {"enum": act_bits}
    return plan_schema


def _scalar(info: config.FieldInfo) -> dict[str, Any]:
    if info.kind == "integer":
        return {"type": "integer", "minimum": info.minimum, "maximum": info.maximum}
    if info.kind == "float":
        return {"type": "number"}  # JSON has no inf or nan, and V rules want finite floats
    if info.kind == "bool":
        return {"type": "boolean"}
    if info.kind == "string":
        return {"type": "string"}
    if info.kind == "enum":
        return {"enum": [name for name, _ in info.enum_values]}
    return {"$ref": f"#/$defs/{info.message}"}


def _target_constraints(target: str | None) -> dict[tuple[str, str], dict[str, Any]]:
    """``_CONSTRAINTS`` with the widths that ``target`` (cfglang.capabilities; None: the default) accepts."""
    table = get_target(target)
    dst_types = {"enum": list(table.dst_types())}
    return {**_CONSTRAINTS, ("ARQuantize", "quant_bits"): {"enum": list(table.bits_values())},
            ("FMRQuantize", "dst_type"): dst_types, ("HFMGQuantize", "dst_type"): dst_types}


def _field_schema(message: str, info: config.FieldInfo,
                  constraints: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    item = _scalar(info)
    constraint = constraints.get((message, info.name), {})
    if "enum" in constraint:
        item = {k: v for k, v in item.items() if k not in ("minimum", "maximum", "type")}
    item.update(constraint)
    if info.enum_values:
        # `enumDescriptions`: the annotation VS Code's JSON support shows beside each enum value
        meanings = dict(zip((name for name, _ in info.enum_values), info.enum_descriptions))
        item["enumDescriptions"] = [meanings[value] for value in item["enum"]]
    if info.has_default and info.kind != "message":
        default = info.default
        if info.kind == "enum":
            default = {number: name for name, number in info.enum_values}[default]
        elif isinstance(default, float):
            default = shortest_float32(default)
        item["default"] = default
    if info.repeated:
        return {"description": info.description, "type": "array", "items": item}
    return {"description": info.description, **item}


def _message_schema(message: str, constraints: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    fields = config.fields_of(message)
    out: dict[str, Any] = {
        "description": config.message_description(message),
        "type": "object",
        "additionalProperties": False,
        "properties": {name: _field_schema(message, info, constraints) for name, info in fields.items()},
    }
    required = [info.name for info in config.required_fields(message)]
    if required:
        out["required"] = required
    exclusive = [{"not": {"required": [a, b]}} for members in config.oneof_members(message).values()
                 for a, b in itertools.combinations(members, 2)]
    if exclusive:
        out["allOf"] = exclusive
    return out


@functools.cache
def config_schema(target: str | None = None) -> dict[str, Any]:
    """The JSON Schema (Draft 2020-12) of ``AMCTConfig`` as JSON, with the widths ``target`` accepts
    (None: the default target)."""
    constraints = _target_constraints(target)
    defs: dict[str, Any] = {}
    pending = [config.ROOT]
    while pending:
        message = pending.pop()
        if message in defs:
            continue
        defs[message] = _message_schema(message, constraints)
        pending.extend(info.message for info in config.fields_of_kind(message, "message"))
    top = defs.pop(config.ROOT)
    return {
        "$schema": _DRAFT,
        "$id": "https://amct-cfg.invalid/schemas/config.schema.json",
        "title": "AMCT PyTorch quantization config (AMCTConfig) as JSON",
        **top,
        "description": top["description"] + " As JSON: protobuf's JSON mapping of "
                       "proto/calibration_config_pytorch.proto with the proto field names.",
        "$defs": dict(sorted(defs.items())),
    }


@functools.cache
def _validator(name: str):
    import jsonschema
    from referencing import Registry, Resource

    # the report refers to the plan's definitions (`plan.schema.json#/$defs/weight`)
    plan = schema("plan")
    registry = Registry().with_resource(plan["$id"], Resource.from_contents(plan))
    return jsonschema.Draft202012Validator(schema(name), registry=registry)


def json_pointer(path) -> str:
    """``layers[2].name`` style for a jsonschema error path (a key's control characters escaped)."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{_key(part)}" if out else _key(part))
    return out or "(top level)"


def _key(key: str) -> str:
    """A key of the document as a message shows it: on one line, as JSON escapes it (no quotes)."""
    return json.dumps(str(key))[1:-1]


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
        return "unknown key " + ", ".join(f"`{_key(p)}`" for p in extra)
    if keyword == "type":
        return f"found {found}, expected a value of type {error.validator_value}"
    if keyword in ("enum", "const"):
        allowed = error.validator_value if keyword == "enum" else [error.validator_value]
        return f"found {found}, expected one of {', '.join(json.dumps(a) for a in allowed)}"
    return f"found {found}: {error.message}"
