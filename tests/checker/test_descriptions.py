"""Every message, field and enum value of the proto has help text, and the help file names nothing else.

A field added to proto/calibration_config_pytorch.proto without an entry in
cfglang/schemas/config.descriptions.toml fails here, so hover, completion and
the JSON Schema never show a field without saying what it does.
"""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from cfglang import schema
from cfglang.jsonschemas import config_schema
from cfglang.resources import data_file

FIELDS = [(m, f) for m in schema.message_names() for f in schema.fields_of(m)]
ENUM_VALUES = [(e, v) for e, values in schema.enum_names().items() for v in values]


def _table() -> dict[str, Any]:
    with data_file("schemas", "config.descriptions.toml").open("rb") as stream:
        return tomllib.load(stream)


@pytest.mark.parametrize("message", schema.message_names())
def test_every_message_has_a_description(message: str) -> None:
    assert schema.message_description(message).strip(), f"`{message}` has no entry in [messages]"


@pytest.mark.parametrize("message, name", FIELDS, ids=[f"{m}.{f}" for m, f in FIELDS])
def test_every_field_has_a_description(message: str, name: str) -> None:
    info = schema.field_info(message, name)
    assert info is not None and info.description.strip(), f"`{message}.{name}` has no entry in [fields.{message}]"


@pytest.mark.parametrize("enum, value", ENUM_VALUES, ids=[f"{e}.{v}" for e, v in ENUM_VALUES])
def test_every_enum_value_has_a_description(enum: str, value: str) -> None:
    text = _table().get("enums", {}).get(enum, {}).get(value, "")
    assert text.strip(), f"`{enum}.{value}` has no entry in [enums.\"{enum}\"]"


def test_enum_fields_carry_their_value_descriptions() -> None:
    info = schema.field_info("FMRQuantize", "dst_type")
    assert info is not None and [name for name, _ in info.enum_values] == ["INT8", "INT16"]
    assert len(info.enum_descriptions) == 2 and "amct-9.1" in info.enum_descriptions[1]


def test_the_descriptions_file_names_only_what_the_proto_has() -> None:
    table = _table()
    assert set(table) == {"messages", "fields", "enums"}
    assert set(table["messages"]) <= set(schema.message_names())
    stale_fields = [f"{m}.{f}" for m, names in table["fields"].items() for f in names
                    if m not in schema.message_names() or f not in schema.fields_of(m)]
    assert not stale_fields, f"descriptions of fields the proto does not have: {stale_fields}"
    enums = schema.enum_names()
    stale_values = [f"{e}.{v}" for e, values in table["enums"].items() for v in values
                    if v not in enums.get(e, ())]
    assert not stale_values, f"descriptions of enum values the proto does not have: {stale_values}"


def _properties(node: Any, where: str = ""):
    """(path, property schema) of every property in a JSON Schema, nested ones included."""
    if isinstance(node, dict):
        for name, value in node.get("properties", {}).items():
            yield f"{where}.{name}", value
        for key, value in node.items():
            yield from _properties(value, f"{where}/{key}")
    elif isinstance(node, list):
        for value in node:
            yield from _properties(value, where)


def test_the_json_schema_describes_every_property_and_enum_value() -> None:
    config = config_schema()
    found = list(_properties(config))
    assert len(found) == len(FIELDS)
    assert all(prop["description"] for _, prop in found), [p for p, prop in found if not prop.get("description")]
    assert config["description"].startswith(schema.message_description("AMCTConfig"))
    for name, definition in config["$defs"].items():
        assert definition["description"] == schema.message_description(name)
    mode = config["properties"]["fakequant_precision_mode"]
    assert mode["enumDescriptions"] == [schema.field_info("AMCTConfig", "fakequant_precision_mode").enum_descriptions[0]]
    # the JSON Schema allows INT8 only (the documented target), and its descriptions follow the enum it states
    dst = config["$defs"]["FMRQuantize"]["properties"]["dst_type"]
    assert dst["enum"] == ["INT8"] and len(dst["enumDescriptions"]) == 1
