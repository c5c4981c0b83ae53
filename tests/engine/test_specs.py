"""The plan at the engine's boundary: one conversion into typed specs, algorithms found by spec type,
the fused activation read from the plan, the typed plan kept in the result."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

import cfglang
from cfglang.plan import Plan
from quant import QuantizeError, model_inventory, quantize
from quant.binding import as_plan, layer_specs
from quant.calibrators import CALIBRATORS
from quant.core import ACTIVATION_SPECS, WEIGHT_SPECS, AdaRoundSpec, ARQSpec, DMQSpec, HFMGSpec, IFMRSpec
from quant.engine import WEIGHT_ALGOS
from quant_helpers import hfmg, layer, plan, small_cnn, small_cnn_plan


def test_every_spec_type_has_its_algorithm() -> None:
    assert set(WEIGHT_ALGOS) == set(WEIGHT_SPECS.values()) == {ARQSpec, AdaRoundSpec}
    assert set(CALIBRATORS) == set(ACTIVATION_SPECS.values()) == {IFMRSpec, HFMGSpec}


def test_a_plan_dict_becomes_typed_specs_with_the_schema_defaults() -> None:
    p = plan([layer("conv", "Conv2d", weight={"algo": "ada", "bits": 8, "channel_wise": True},
                    act={"algo": "hfmg", "bits": 8, "asymmetric": False}, dmq={}),
              layer("fc", "Linear")], fusions=[("conv", "bn")])
    conv, fc = layer_specs(small_cnn(), as_plan(p))
    assert conv.weight == AdaRoundSpec(channel_wise=True) and conv.activation == HFMGSpec(asymmetric=False)
    assert conv.dmq_balancer == DMQSpec() and conv.fused_activation is None
    assert fc.weight == ARQSpec(8, False) and fc.activation == IFMRSpec()
    # IFMR's floats are the proto's float32 values, as AMCT reads them
    assert fc.activation.search_range_start == float(torch.tensor(0.7, dtype=torch.float32))


def test_a_plan_that_is_not_one_is_a_quantize_error() -> None:
    with pytest.raises(QuantizeError, match="plan is a `list`, expected a `Plan` or the native plan JSON dict"):
        quantize(small_cnn(), [], [torch.randn(2, 3, 8, 8)], progress=False)
    with pytest.raises(QuantizeError, match=r"plan: not a valid plan: `batch_num`: found 0"):
        quantize(small_cnn(), {**small_cnn_plan(), "batch_num": 0}, [torch.randn(2, 3, 8, 8)], progress=False)


def test_adaround_reconstructs_through_the_plans_fused_activation(monkeypatch) -> None:
    import quant.adaround as ada

    seen: dict[str, str | None] = {}
    original = ada.collect_samples

    def spy(float_model, quant_model, name, batches, capacity, *, activation=None, seed=0):
        seen[name] = activation
        return original(float_model, quant_model, name, batches, capacity, activation=activation, seed=seed)

    monkeypatch.setattr(ada, "collect_samples", spy)
    model = small_cnn()
    resolved = cfglang.resolve("batch_num: 2\ncommon_config { ada_quantize { num_iteration: 2 } }\n",
                               model_inventory(model))
    assert resolved.layer("conv").fused_activation == "relu"
    data = [torch.randn(2, 3, 8, 8) for _ in range(2)]
    quantize(model, resolved, data, progress=False)
    assert isinstance(seen["conv"], nn.ReLU) and seen["fc"] is None
    # a plan without the field: no fused activation, whatever the model's graph
    plain = dataclasses.replace(resolved, layers=tuple(dataclasses.replace(l, fused_activation=None)
                                                       for l in resolved.layers))
    quantize(model, plain, data, progress=False)
    assert seen["conv"] is None


def test_a_fused_activation_the_model_does_not_have_is_refused() -> None:
    p = small_cnn_plan(act=hfmg())
    p["layers"][0]["fused_activation"] = "gelu"
    with pytest.raises(QuantizeError, match="plan layer `conv` has fused activation `gelu`, which is not a module"):
        quantize(small_cnn(), p, [torch.randn(2, 3, 8, 8)] * 2, progress=False)


def test_the_result_keeps_the_typed_plan() -> None:
    resolved = cfglang.resolve("batch_num: 2\n", model_inventory(small_cnn()))
    result = quantize(small_cnn(), resolved, [torch.randn(2, 3, 8, 8)] * 2, progress=False)
    assert result.plan is resolved and isinstance(result.plan, Plan)
    from_dict = quantize(small_cnn(), resolved.to_dict(), [torch.randn(2, 3, 8, 8)] * 2, progress=False)
    assert from_dict.plan == resolved and from_dict.amct_config() == resolved.to_amct_json()

