"""The config as JSON: the two conversions ``.cfg`` -> JSON -> ``.cfg``.

The JSON form is protobuf's JSON mapping with the proto field names (the names
a ``.cfg`` uses), enums as names; a JSON config is validated against the config
JSON Schema (:func:`cfglang.jsonschemas.config_schema`) before it is read.
"""

from __future__ import annotations

import json
from typing import Any

from cfglang import schema
from cfglang.jsonschemas import validation_errors

__all__ = ["to_json", "from_json", "to_cfg", "dumps", "ConvertError"]


class ConvertError(ValueError):
    """A JSON config that cannot be converted: the message says where and what."""


def to_json(config: Any) -> dict[str, Any]:
    """An ``AMCTConfig`` message as its JSON form."""
    return schema.to_json(config)


def from_json(data: Any, source: str = "config") -> Any:
    """The ``AMCTConfig`` message of a JSON config; schema violations raise :class:`ConvertError`."""
    problems = validation_errors(data, "config")
    if problems:
        raise ConvertError(f"{source}: not a valid config: " + "; ".join(problems))
    try:
        return schema.from_json(data)
    except ValueError as exc:  # the schema should catch everything first
        raise ConvertError(f"{source}: not a valid config: {exc}") from None


def to_cfg(config: Any) -> str:
    """An ``AMCTConfig`` message as ``.cfg`` text in the canonical layout."""
    header = "# proto-file: proto/calibration_config_pytorch.proto\n# proto-message: AMCTConfig\n\n"
    return header + schema.to_text(config)


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2) + "\n"
