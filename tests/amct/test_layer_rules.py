"""AMCT's per-layer width rules that read a layer's attributes (issue 15 follow-up): the inventory records
`in_channels`, `groups`, `bias` and `hidden_size`; under `amct-9.2` INT4 weights AMCT cannot pack along the
input channels become 8 bits (M018, hicann/amct commit ddf58b1 `check_int4_weight_quant_axis`); under
`amct-9.1` and `amct-9.2` a Linear without bias takes no INT16 (AMCT's `check_int16_quantize_type`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cfglang.capabilities import TARGETS, format_target
from cfglang.inventory import Inventory, InventoryError
from cfglang.lint import lint
from cfglang.plan import Plan, explain_layer
from cfglang.planner import resolve
from cfglang.settings import Settings

CORPUS = Path(__file__).parent / "corpus"
INT4_COMMON = "common_config { arq_quantize { quant_bits: 4 } }\n"
LINEAR_INT16 = ('override_layer_types {\n  layer_type: "Linear"\n'
                '  calibration_config { ifmr_quantize { dst_type: INT16 } }\n}\n')


@pytest.fixture(scope="module")
def model() -> Inventory:
    return Inventory.from_dict(json.loads((CORPUS / "attributes.layers.json").read_text(encoding="utf-8")))


def _bits(plan: Plan, what: str) -> dict[str, int]:
    return {layer.name: getattr(layer, what).bits for layer in plan.layers if getattr(layer, what) is not None}


def _messages(text: str, model: Inventory, target: str) -> list[tuple[str, str, int, str]]:
    return [(d.code, d.severity.label, d.span.line, d.message)
            for d in lint(text, "q.cfg", Settings(target=target), model).diagnostics]


def test_amct_9_2_gives_8_bits_to_layers_whose_int4_weights_cannot_be_packed(model: Inventory) -> None:
    plan = resolve(INT4_COMMON, model, "amct-9.2")
    assert _bits(plan, "weight") == {"stem": 8, "dw": 8, "pw": 4, "vol": 4, "up": 4, "rnn": 8, "fc": 4, "head": 4}
    # 9.1 wrote INT4 weights without packing: every layer keeps its 4 bits
    assert set(_bits(resolve(INT4_COMMON, model, "amct-9.1"), "weight").values()) == {4}


def test_the_plan_says_8_bits_and_why(model: Inventory) -> None:
    plan = resolve(INT4_COMMON, model, "amct-9.2")
    provenance = plan.layer("dw").to_dict()["provenance"]["weight.bits"]
    assert provenance == {"from": "fallback", "line": None, "column": None,
                          "reason": "a grouped convolution, `groups` > 1: AMCT packs INT4 weights two per byte "
                                    "along the input channels (target `amct-9.2`)"}
    assert "reason" not in plan.layer("pw").to_dict()["provenance"]["weight.bits"]
    again = Plan.from_dict(json.loads(json.dumps(plan.to_dict())))  # the plan schema takes the reason
    assert again.layer("rnn").provenance["weight.bits"].reason.startswith("an odd `hidden_size`: ")
    explained = explain_layer(plan, "stem", INT4_COMMON)
    assert ("weight.bits = 8  (fallback, because of q.cfg:1:44: an odd number of input channels: AMCT packs "
            "INT4 weights") in explained.replace("<config>", "q.cfg")


def test_m018_messages_at_each_level(model: Inventory) -> None:
    text = ('override_layer_types {\n  layer_type: "GRU"\n  calibration_config { arq_quantize { quant_bits: 4 } }\n'
            '}\noverride_layer_configs {\n  layer_name: "dw"\n'
            '  calibration_config { arq_quantize { quant_bits: 4 } }\n}\n')
    assert _messages(text, model, "amct-9.2") == [
        ("M018", "warning", 3, "`quant_bits: 4` in the `GRU` type override gives 1 `GRU` layer (`rnn`) 8-bit weights "
                               "(an odd `hidden_size`): AMCT packs INT4 weights two per byte along the input channels"),
        ("M018", "warning", 7, "`quant_bits: 4` in the override of `dw`, a `Conv2d` layer, gives it 8-bit weights "
                               "(a grouped convolution, `groups` > 1): AMCT packs INT4 weights two per byte along "
                               "the input channels"),
    ]
    assert _messages(text, model, "amct-9.1") == []


def test_an_inventory_without_attributes_keeps_4_bits() -> None:
    # written before inventories recorded attributes: the rule cannot judge the layers
    old = Inventory.of([("dw", "Conv2d"), ("rnn", "GRU")])
    plan = resolve(INT4_COMMON, old, "amct-9.2")
    assert _bits(plan, "weight") == {"dw": 4, "rnn": 4}
    # and says so (M020), at the value that asked for 4 bits
    (note,) = plan.diagnostics
    assert note.code == "M020" and note.severity.name == "INFO"
    assert "`groups` / `in_channels` / `hidden_size` of 2 layers" in note.message and "(`dw`, `rnn`)" in note.message
    # under amct-9.1 INT4 is not packed: there is nothing to judge and nothing to say
    assert not resolve(INT4_COMMON, old, "amct-9.1").diagnostics


def test_conv3d_takes_4_bits_under_both_amct_targets(model: Inventory) -> None:
    text = 'override_layer_types {\n  layer_type: "Conv3d"\n  calibration_config { arq_quantize { quant_bits: 4 } }\n}\n'
    for target in ("amct-9.1", "amct-9.2"):
        plan = resolve(text, model, target)
        assert plan.layer("vol").weight.bits == 4 and not plan.diagnostics
        assert 4 in TARGETS[target].weight_bits and "Conv3d" in TARGETS[target].bits_types(4)


@pytest.mark.parametrize("target", ["amct-9.1", "amct-9.2"])
def test_a_linear_without_bias_takes_no_int16(model: Inventory, target: str) -> None:
    # from the type override with common_config at INT8: AMCT's quantize_model refuses the layer
    assert _messages(LINEAR_INT16, model, target) == [
        ("M019", "error", 3, "`dst_type: INT16` in the `Linear` type override reaches 1 `Linear` layer without bias "
                             f"(`head`), which AMCT's `quantize_model` refuses: a `Linear` without bias takes INT8 "
                             f"activations only (target `{target}`)")]
    # with common_config at INT16 too, AMCT's check_int16_quantize_layers falls back instead
    both = "common_config { ifmr_quantize { dst_type: INT16 } }\n" + LINEAR_INT16
    found = [m for m in _messages(both, model, target) if m[0] != "C011"]
    assert found == [("M007", "info", 4, "`dst_type: INT16` in the `Linear` type override does not apply to 1 "
                                         "`Linear` layer without bias (`head`): INT8 instead")]
    plan = resolve(both, model, target)
    assert plan.layer("head").activation.bits == 8 and plan.layer("fc").activation.bits == 16
    assert plan.layer("head").provenance["activation.bits"].reason == (
        f"a `Linear` without bias takes INT8 activations only (target `{target}`)")
    # in the layer's own override: AMCT raises
    own = 'override_layer_configs {\n  layer_name: "head"\n  calibration_config { hfmg_quantize { dst_type: INT16 } }\n}\n'
    assert [m[:3] for m in _messages(own, model, target)] == [("M008", "error", 3)]


def test_documented_has_neither_rule() -> None:
    table = TARGETS["documented"]
    assert not table.int4_packed_along_cin and not table.int16_needs_bias
    assert TARGETS["amct-9.1"].int16_needs_bias == {"Linear"} and not TARGETS["amct-9.1"].int4_packed_along_cin
    assert TARGETS["amct-9.2"].int4_packed_along_cin
    assert "INT4 packed along Cin     8 bits instead for grouped convolutions" in format_target(TARGETS["amct-9.2"])
    assert "INT4 packed along Cin" not in format_target(TARGETS["amct-9.1"])


def test_inventory_attributes_round_trip_and_are_validated(model: Inventory) -> None:
    assert Inventory.from_dict(model.to_dict()) == model
    assert model.get("rnn").attributes() == {"in_channels": 16, "bias": True, "hidden_size": 7}
    for bad in ({"groups": 0}, {"bias": "yes"}, {"in_channels": 2.5}, {"hidden_size": True}):
        with pytest.raises(InventoryError, match=r"`layers\[0\]\.(groups|bias|in_channels|hidden_size)`"):
            Inventory.from_dict({"version": 1, "layers": [{"name": "c", "type": "Conv2d", **bad}]})
