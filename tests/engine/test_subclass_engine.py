"""Layers the plan maps to an AMCT type through their class (issue 18, item 3) quantize as that type:
transformers' ``Conv1D`` exactly as the ``nn.Linear`` with the transposed weight, weight-normed layers
on the weight they compute, and the user's model is left as it was."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

import cfglang
import quant
from cfglang.record import parse_record

CONFIGS = {
    "arq": "batch_num: 2\n",
    "dmq": "batch_num: 2\ncommon_config { dmq_balancer { migration_strength: 0.5 } }\n",
    "ada": "batch_num: 2\ncommon_config { ada_quantize { num_iteration: 20 } }\n",
}


def _plan(model: nn.Module, config: str, example: torch.Tensor):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cfglang.resolve(config, quant.model_inventory(model, example=example))


class Mlp(nn.Module):
    def __init__(self, first: nn.Module, second: nn.Module) -> None:
        super().__init__()
        self.first, self.act, self.second = first, nn.GELU(), second

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.act(self.first(x)))


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_conv1d_quantizes_exactly_as_the_transposed_linear(config: str) -> None:
    pytest.importorskip("transformers")
    from transformers.pytorch_utils import Conv1D

    torch.manual_seed(0)
    conv = Mlp(Conv1D(24, 16), Conv1D(8, 24)).eval()
    linear = Mlp(nn.Linear(16, 24), nn.Linear(24, 8)).eval()
    with torch.no_grad():
        for c, l in ((conv.first, linear.first), (conv.second, linear.second)):
            l.weight.copy_(c.weight.t())
            l.bias.copy_(c.bias)
    batches = [torch.randn(4, 5, 16) for _ in range(2)]
    conv_plan, linear_plan = _plan(conv, CONFIGS[config], batches[0]), _plan(linear, CONFIGS[config], batches[0])
    assert [(l.type, l.weight_transposed) for l in conv_plan.layers] == [("Linear", True)] * 2
    got = quant.quantize(conv, conv_plan, batches, progress=False)
    expected = quant.quantize(linear, linear_plan, batches, progress=False)
    assert parse_record(got.record) == parse_record(expected.record)
    assert type(got.model.first).__name__ == "ParametrizedConv1D" and got.model.first.nf == 24
    assert torch.equal(got.model.first.weight, expected.model.first.weight.t())
    x = torch.randn(3, 5, 16)
    with torch.no_grad():
        torch.testing.assert_close(got.model(x), expected.model(x), rtol=1e-6, atol=1e-6)


def _weight_normed() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(weight_norm(nn.Conv1d(4, 8, 3)), nn.ReLU(), weight_norm(nn.Linear(6, 5))).eval()


def test_weight_normed_layers_quantize_the_weight_they_compute(tmp_path) -> None:
    model = _weight_normed()
    untouched = copy.deepcopy(model.state_dict())
    batches = [torch.randn(2, 4, 8) for _ in range(2)]
    plan = _plan(model, "batch_num: 2\n", batches[0])
    assert [(l.name, l.type, l.quantize) for l in plan.layers] == [("0", "Conv1d", True), ("2", "Linear", True)]
    result = quant.quantize(model, plan, batches, progress=False)
    # the user's model: its tensors and its own parametrization (its class's weight property) intact
    assert all(torch.equal(untouched[k], v) for k, v in model.state_dict().items())
    with torch.no_grad():
        reference = model(batches[1])
        quantized = result.model(batches[1])
    assert nn.functional.cosine_similarity(reference.flatten(), quantized.flatten(), dim=0) > 0.99
    result.save(tmp_path / "out", onnx=False)
    loaded = quant.load_fake_quant_model(tmp_path / "out" / "fake_quant_model.pt", _weight_normed)
    with torch.no_grad():
        assert torch.equal(loaded(batches[1]), quantized)
