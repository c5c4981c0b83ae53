"""Helpers for resolution tests: check + resolve, and validate every produced plan."""

from __future__ import annotations

import json
from dataclasses import dataclass

import jsonschema
import pytest

from cfglang.checker import check
from cfglang.inventory import Inventory
from cfglang.jsonschemas import schema
from cfglang.plan import Plan
from cfglang.planner import resolve


@dataclass
class Resolved:
    plan: Plan
    checked: object

    @property
    def codes(self) -> list[str]:
        """Codes of everything reported: the checker's and resolution's."""
        return sorted(d.code for d in (*self.checked.diagnostics, *self.plan.diagnostics))

    def layer(self, name: str):
        found = self.plan.layer(name)
        assert found is not None, name
        return found

    def diag(self, code: str):
        found = [d for d in (*self.checked.diagnostics, *self.plan.diagnostics) if d.code == code]
        assert found, f"no {code} among {self.codes}"
        return found[0]


def validate_plan(plan: Plan) -> None:
    """Every produced plan validates against the shipped schema and reads back equal."""
    data = json.loads(json.dumps(plan.to_dict()))
    jsonschema.Draft202012Validator(schema("plan")).validate(data)
    assert Plan.from_dict(data) == plan
    assert Plan.from_dict(data).to_dict() == data


def run(text: str, layers, foldable=(), activations=(), traced: bool = True) -> Resolved:
    checked = check(text, "quant.cfg")
    errors = [d for d in checked.diagnostics if d.severity.label == "error"]
    assert not errors, [(d.code, d.message) for d in errors]
    inventory = Inventory.of(layers, foldable, activations, traced)
    plan = resolve(checked, inventory)
    validate_plan(plan)
    return Resolved(plan, checked)


@pytest.fixture
def resolved():
    return run
