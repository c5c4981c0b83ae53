"""The config as JSON: its JSON Schema, generated from the proto descriptor, and
the two conversions ``.cfg`` -> JSON -> ``.cfg``.

The JSON form is protobuf's JSON mapping with the proto field names (the names
a ``.cfg`` uses), enums as names. The schema states what JSON Schema can say:
kinds, exact integer bounds, enums, required fields, oneofs (at most one
member), no unknown keys, and the value constraints (docs/rules.md, V rules) that
concern one value (``quant_bits`` in {6, 7, 8}, ``0 < reg_param < 1``, ...).
Constraints between values (``search_range_start < search_range_end``) and
duplicate override keys are left to the checker.
"""

from __future__ import annotations

import functools
import itertools
import json
from typing import Any

from cfglang.capabilities import QUANTIZABLE, get_target
from cfglang.ranges import NUM_OF_BINS, VALUE_RANGES

__all__ = ["config_schema", "to_json", "from_json", "to_cfg", "dumps", "ConvertError"]

_DRAFT = "https://json-schema.org/draft/2020-12/schema"

# the value constraints (V rules), as JSON Schema keywords: (message, field) -> keywords
_CONSTRAINTS: dict[tuple[str, str], dict[str, Any]] = {
    **{key: bound.json_keywords() for key, bound in VALUE_RANGES.items()},  # cfglang.ranges
    # the widths come from a target's capability table (_target_constraints)
    ("HFMGQuantize", "num_of_bins"): {"enum": list(NUM_OF_BINS)},
    ("OverrideLayerType", "layer_type"): {"enum": list(QUANTIZABLE)},
    ("AMCTConfig", "skip_layer_types"): {"enum": list(QUANTIZABLE)},
}

_INTEGER_BOUNDS = {"int32": (-2**31, 2**31 - 1), "uint32": (0, 2**32 - 1),
                   "int64": (-2**63, 2**63 - 1), "uint64": (0, 2**64 - 1)}


class ConvertError(ValueError):
    """A JSON config that cannot be converted: the message says where and what."""


def _descriptor():
    from cfglang._proto import calibration_config_pytorch_pb2 as pb

    return pb.AMCTConfig.DESCRIPTOR


def _scalar(fd) -> dict[str, Any]:
    from google.protobuf.descriptor import FieldDescriptor as FD

    integer = {FD.TYPE_INT32: "int32", FD.TYPE_SINT32: "int32", FD.TYPE_SFIXED32: "int32",
               FD.TYPE_UINT32: "uint32", FD.TYPE_FIXED32: "uint32", FD.TYPE_INT64: "int64",
               FD.TYPE_UINT64: "uint64"}.get(fd.type)
    if integer is not None:
        low, high = _INTEGER_BOUNDS[integer]
        return {"type": "integer", "minimum": low, "maximum": high}
    if fd.type in (FD.TYPE_FLOAT, FD.TYPE_DOUBLE):
        return {"type": "number"}  # JSON has no inf or nan, and V rules want finite floats
    if fd.type == FD.TYPE_BOOL:
        return {"type": "boolean"}
    if fd.type == FD.TYPE_STRING:
        return {"type": "string"}
    if fd.type == FD.TYPE_ENUM:
        return {"enum": [v.name for v in fd.enum_type.values]}
    return {"$ref": f"#/$defs/{fd.message_type.name}"}


def _target_constraints(target: str | None) -> dict[tuple[str, str], dict[str, Any]]:
    """``_CONSTRAINTS`` with the widths that ``target`` (cfglang.capabilities; None: the default) accepts."""
    table = get_target(target)
    dst_types = {"enum": list(table.dst_types())}
    return {**_CONSTRAINTS, ("ARQuantize", "quant_bits"): {"enum": list(table.bits_values())},
            ("FMRQuantize", "dst_type"): dst_types, ("HFMGQuantize", "dst_type"): dst_types}


def _field_schema(message, fd, constraints: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    from cfglang.schema import field_info

    info = field_info(message.name, fd.name)
    item = _scalar(fd)
    constraint = constraints.get((message.name, fd.name), {})
    if "enum" in constraint:
        item = {k: v for k, v in item.items() if k not in ("minimum", "maximum", "type")}
    item.update(constraint)
    if info.enum_values:
        # `enumDescriptions`: the annotation VS Code's JSON support shows beside each enum value
        meanings = dict(zip((name for name, _ in info.enum_values), info.enum_descriptions))
        item["enumDescriptions"] = [meanings[value] for value in item["enum"]]
    if info.has_default and info.kind != "message":
        default = info.default
        if fd.enum_type is not None:
            default = fd.enum_type.values_by_number[default].name
        elif isinstance(default, float):
            from cfglang.plan import shortest_float32

            default = shortest_float32(default)
        item["default"] = default
    if fd.is_repeated:
        return {"description": info.description, "type": "array", "items": item}
    return {"description": info.description, **item}


def _message_schema(message, constraints: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    from cfglang.schema import message_description

    out: dict[str, Any] = {
        "description": message_description(message.name),
        "type": "object",
        "additionalProperties": False,
        "properties": {fd.name: _field_schema(message, fd, constraints) for fd in message.fields},
    }
    required = [fd.name for fd in message.fields if fd.is_required]
    if required:
        out["required"] = required
    exclusive = [{"not": {"required": [a, b]}} for oneof in message.oneofs
                 for a, b in itertools.combinations([f.name for f in oneof.fields], 2)]
    if exclusive:
        out["allOf"] = exclusive
    return out


@functools.cache
def config_schema(target: str | None = None) -> dict[str, Any]:
    """The JSON Schema (Draft 2020-12) of ``AMCTConfig`` as JSON, with the widths ``target`` accepts
    (None: the default target)."""
    root = _descriptor()
    constraints = _target_constraints(target)
    defs: dict[str, Any] = {}
    pending = [root]
    while pending:
        message = pending.pop()
        if message.name in defs:
            continue
        defs[message.name] = _message_schema(message, constraints)
        pending.extend(fd.message_type for fd in message.fields if fd.message_type is not None)
    top = defs.pop(root.name)
    return {
        "$schema": _DRAFT,
        "$id": "https://amct-cfg.invalid/schemas/config.schema.json",
        "title": "AMCT PyTorch quantization config (AMCTConfig) as JSON",
        **top,
        "description": top["description"] + " As JSON: protobuf's JSON mapping of "
                       "proto/calibration_config_pytorch.proto with the proto field names.",
        "$defs": dict(sorted(defs.items())),
    }


def to_json(config: Any) -> dict[str, Any]:
    """An ``AMCTConfig`` message as its JSON form."""
    from google.protobuf import json_format

    return json_format.MessageToDict(config, preserving_proto_field_name=True)


def from_json(data: Any, source: str = "config") -> Any:
    """The ``AMCTConfig`` message of a JSON config; schema violations raise :class:`ConvertError`."""
    from google.protobuf import json_format

    from cfglang._proto import calibration_config_pytorch_pb2 as pb
    from cfglang.jsonschemas import validation_errors

    problems = validation_errors(data, "config")
    if problems:
        raise ConvertError(f"{source}: not a valid config: " + "; ".join(problems))
    try:
        return json_format.ParseDict(data, pb.AMCTConfig())
    except json_format.ParseError as exc:  # the schema should catch everything first
        raise ConvertError(f"{source}: not a valid config: {exc}") from None


def to_cfg(config: Any) -> str:
    """An ``AMCTConfig`` message as ``.cfg`` text in the canonical layout."""
    from google.protobuf import text_format

    header = "# proto-file: proto/calibration_config_pytorch.proto\n# proto-message: AMCTConfig\n\n"
    return header + text_format.MessageToString(config)


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2) + "\n"
