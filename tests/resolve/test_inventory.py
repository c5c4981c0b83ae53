"""The layer inventory JSON: round trip, schema, and clear errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from cfglang.inventory import Inventory, InventoryError
from cfglang.jsonschemas import schema

GOOD = {
    "version": 1,
    "layers": [{"name": "conv1", "type": "Conv2d"}, {"name": "bn1", "type": "BatchNorm2d"},
               {"name": "relu1", "type": "ReLU"}, {"name": "fc", "type": "Linear"}],
    "foldable": [{"conv": "conv1", "bn": "bn1"}],
    "activations": [{"layer": "conv1", "activation": "relu1", "type": "ReLU"}],
}


def test_round_trip_and_schema() -> None:
    inv = Inventory.from_dict(GOOD)
    assert inv.to_dict() == GOOD
    jsonschema.Draft202012Validator(schema("inventory")).validate(inv.to_dict())
    assert [layer.name for layer in inv.quantizable] == ["conv1", "fc"]
    assert inv.bn_of("conv1") == "bn1" and inv.bn_of("fc") is None
    assert inv.activation_of("conv1").activation == "relu1"


def test_the_shipped_schema_is_a_valid_draft_2020_12_schema() -> None:
    for name in ("inventory", "plan", "config"):
        jsonschema.Draft202012Validator.check_schema(schema(name))


@pytest.mark.parametrize("data, message", [
    ({"layers": []}, "`(top level)`: missing `version`"),
    ({"version": 1, "layers": [{"name": "a"}]}, "`layers[0]`: missing `type`"),
    ({"version": 1, "layers": [{"name": "a", "type": 3}]}, "`layers[0].type`: found an integer, expected a value of type string"),
    ({"version": 1, "layers": [], "extra": 1}, "`(top level)`: an unknown key"),
    ({"version": 2, "layers": []}, "`version`: found an integer other than 1, expected 1"),
    ({"version": 1, "layers": [{"name": "a", "type": "Conv2d"}, {"name": "a", "type": "Linear"}]},
     "`layers[1].name`: a layer listed twice"),
    ({"version": 1, "layers": [{"name": "a", "type": "Conv2d"}], "foldable": [{"conv": "a", "bn": "b"}]},
     "`foldable[0].bn`: names no layer of `layers`"),
])
def test_bad_inventories_say_where_and_what(data: dict, message: str) -> None:
    with pytest.raises(InventoryError) as info:
        Inventory.from_dict(data, "layers.json")
    assert str(info.value).startswith("layers.json: not a valid layer inventory: ")
    assert message in str(info.value)


def test_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "layers.json"
    bad.write_text('{"version": 1,\n "layers": [,]}')
    with pytest.raises(InventoryError, match=r"layers.json:2:13: not valid JSON"):
        Inventory.load(bad)
    with pytest.raises(InventoryError, match="cannot read layer inventory"):
        Inventory.load(tmp_path / "missing.json")
    bad.write_text(json.dumps(GOOD))
    assert Inventory.load(bad) == Inventory.from_dict(GOOD)
