"""What the plan leaves in float and why, subclass layers, transposed weights and tied weights (M021, M022),
from inventory JSON as `amct layers` writes it (torch-free)."""

from __future__ import annotations

import json

import jsonschema
import pytest

from cfglang.checker import check
from cfglang.inventory import Inventory, InventoryError, Layer
from cfglang.jsonschemas import schema
from cfglang.plan import Plan
from cfglang.planner import resolve

from .conftest import validate_plan

INVENTORY = {
    "version": 1,
    "layers": [
        {"name": "embed", "type": "Embedding"},
        {"name": "conv", "type": "Conv3d", "in_channels": 8, "groups": 1, "bias": False, "class_name": "Conv3DSimple"},
        {"name": "bn", "type": "BatchNorm3d"},
        {"name": "attn.out_proj", "type": "Linear", "in_channels": 8, "bias": True,
         "class_name": "NonDynamicallyQuantizableLinear", "called": False},
        {"name": "proj", "type": "Linear", "in_channels": 8, "bias": True, "class_name": "Conv1D",
         "weight_transposed": True},
        {"name": "norm", "type": "LayerNorm"},
        {"name": "lm_head", "type": "Linear", "in_channels": 8, "bias": False},
    ],
    "foldable": [{"conv": "conv", "bn": "bn"}],
    "activations": [],
    "weights": [
        {"name": "embed", "type": "Embedding"},
        {"name": "bn", "type": "BatchNorm3d"},
        {"name": "attn.in_proj_weight", "type": "MultiheadAttention", "parameter": True},
        {"name": "norm", "type": "LayerNorm"},
    ],
    "shared": [["embed.weight", "lm_head.weight"]],
}

CONFIG = "common_config { arq_quantize { } ifmr_quantize { } }\n"


def _plan(text: str = CONFIG, data: dict = INVENTORY) -> Plan:
    plan = resolve(check(text, "quant.cfg"), Inventory.from_dict(data, "layers.json"))
    validate_plan(plan)
    return plan


def test_the_inventory_json_keeps_the_new_fields_and_leaves_out_their_defaults() -> None:
    inventory = Inventory.from_dict(INVENTORY)
    assert inventory.to_dict() == INVENTORY
    jsonschema.Draft202012Validator(schema("inventory")).validate(inventory.to_dict())
    assert [layer.label for layer in inventory.quantizable] == [
        "Conv3DSimple (Conv3d)", "NonDynamicallyQuantizableLinear (Linear)", "Conv1D (Linear, transposed weight)",
        "Linear"]
    assert Layer("fc", "Linear").to_dict() == {"name": "fc", "type": "Linear"}
    assert inventory.holder("lm_head.weight") == "lm_head"
    assert inventory.holder("conv.parametrizations.weight.original0") == "conv"  # a parametrized layer's weight
    assert inventory.holder("attn.in_proj_weight") == "attn"


def test_subclass_and_transposed_layers_are_planned_with_their_class() -> None:
    plan = _plan()
    assert [(layer.name, layer.type, layer.quantize) for layer in plan.layers] == [
        ("conv", "Conv3d", True), ("attn.out_proj", "Linear", False), ("proj", "Linear", True),
        ("lm_head", "Linear", True)]
    proj = plan.layer("proj").to_dict()
    assert proj["class_name"] == "Conv1D" and proj["weight_transposed"] is True
    lm_head = plan.layer("lm_head").to_dict()
    assert "class_name" not in lm_head and "weight_transposed" not in lm_head
    assert "Conv3DSimple (Conv3d)" in plan.to_table()


def test_every_weight_left_in_float_has_a_reason() -> None:
    plan = _plan('skip_layers: "lm_head"\n' + CONFIG)
    assert plan.left_in_float() == [
        ("attn.out_proj", "NonDynamicallyQuantizableLinear (Linear)", "not_called"),
        ("lm_head", "Linear", "skip_layers"),
        ("embed", "Embedding", "not_quantizable"),
        ("attn.in_proj_weight", "MultiheadAttention", "outside_call"),
        ("norm", "LayerNorm", "not_quantizable"),  # the folded BatchNorm is quantized with its convolution
    ]
    assert plan.layer("attn.out_proj").skip.reason == "not_called"
    assert "attn.out_proj" not in plan.to_amct_json()  # not in AMCT's graph either


def test_an_unfolded_batchnorm_stays_float() -> None:
    assert ("bn", "BatchNorm3d", "not_quantizable") in _plan("do_fusion: false\n" + CONFIG).left_in_float()


def test_plans_of_inventories_without_the_new_fields_are_as_before() -> None:
    data = {"version": 1, "layers": [{"name": "fc", "type": "Linear"}]}
    written = _plan(data=data).to_dict()
    assert "left_float" not in written and set(written["layers"][0]) == {
        "name", "type", "quantize", "skip", "weight", "activation", "dmq_balancer", "provenance"}


def test_a_plan_json_reads_back_its_float_list() -> None:
    data = json.loads(json.dumps(_plan().to_dict()))
    assert data["left_float"][0] == {"name": "embed", "type": "Embedding", "reason": "not_quantizable"}
    assert Plan.from_dict(data).left_float == _plan().left_float


def test_an_override_of_a_layer_never_called_is_a_warning() -> None:
    text = ('override_layer_configs {\n  layer_name: "attn.out_proj"\n  calibration_config { hfmg_quantize { } }\n}\n'
            + CONFIG)
    plan = _plan(text)
    found = [d for d in plan.diagnostics if d.code == "M021"]
    assert [(d.severity.label, d.span.line, d.span.column) for d in found] == [("warning", 2, 15)]
    assert found[0].message == ("`attn.out_proj` in `override_layer_configs` is never called by the model's forward: "
                                "it stays in float and the entry changes nothing")
    assert not plan.layer("attn.out_proj").quantize
    assert "M021" not in {d.code for d in _plan().diagnostics}  # only where the config names it


def test_a_quantized_layer_with_a_shared_weight_is_a_warning_at_its_source() -> None:
    found = [d for d in _plan().diagnostics if d.code == "M022"]
    assert [(d.severity.label, d.span.line, d.span.column) for d in found] == [("warning", 1, 1)]
    assert found[0].message == ("`lm_head` is quantized and shares its weight `lm_head.weight` with `embed`: the "
                                "engine quantizes a copy of it for `lm_head`, and the other users keep the float "
                                "weight")
    assert found[0].hint == '`skip_layers: "lm_head"` keeps the weight shared, in float'
    text = ('common_config { arq_quantize { } ifmr_quantize { } dmq_balancer { } }\n'
            'override_layer_configs {\n  layer_name: "lm_head"\n  calibration_config { arq_quantize { } '
            'ifmr_quantize { } dmq_balancer { } }\n}\n')
    found = [d for d in _plan(text).diagnostics if d.code == "M022"]
    assert [(d.span.line, d.span.column) for d in found] == [(3, 15)]
    assert "(and folds its `dmq_balancer` scale into that copy only)" in found[0].message
    assert not [d for d in _plan('skip_layers: "lm_head"\n' + CONFIG).diagnostics if d.code == "M022"]


def test_explain_says_why_a_layer_never_called_stays_float() -> None:
    from cfglang.plan import explain_layer

    assert explain_layer(_plan(), "attn.out_proj") == (
        "attn.out_proj (NonDynamicallyQuantizableLinear (Linear))\n"
        "  not quantized: never called by the model's forward (unused, or another module reads its weight)\n")
    assert explain_layer(_plan(), "proj").startswith("proj (Conv1D (Linear, transposed weight))\n")


def test_a_recurrent_layer_amct_does_not_quantize_is_listed_with_its_attribute() -> None:
    data = {"version": 1, "layers": [{"name": "rnn", "type": "LSTM", "num_layers": 2}, {"name": "fc", "type": "Linear"}]}
    assert _plan(data=data).left_in_float() == [("rnn", "LSTM with num_layers=2", "unsupported")]


def test_an_inventory_whose_weights_name_a_quantizable_layer_is_refused() -> None:
    data = {"version": 1, "layers": [{"name": "fc", "type": "Linear"}], "weights": [{"name": "fc", "type": "Linear"}]}
    with pytest.raises(InventoryError, match=r"^layers\.json: not a valid layer inventory: `weights\[0\]\.name`: "
                                             r"names a quantizable layer of `layers`$"):
        Inventory.from_dict(data, "layers.json")
