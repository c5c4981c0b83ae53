"""Shared (tied) weights: a quantized layer gets its own copy, the other users stay float and unchanged.

An embedding tied to the output Linear (the zoo's ``tied_lm``, transformers' Qwen2 with
``tie_word_embeddings``): ARQ, DMQ and AdaRound quantize the Linear, the embedding of the quantized
model is the float one bit for bit, the user's model (ties included) is never modified, and the saved
fake-quant model reloads into a tied model exactly. A layer whose weight is used without calling it is
a clear error with DMQ as with IFMR.
"""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cfglang
import quant
from quant.core import QuantizeError, shared_copy
from quant.fakequant import weight_codes, weight_dequantizer

import quant_helpers as qh
from zoo.architectures import architecture

WEIGHTS = {
    "arq": "  arq_quantize { channel_wise: false }\n",
    "dmq": "  dmq_balancer { migration_strength: 0.5 }\n  arq_quantize { channel_wise: false }\n",
    "ada": "  ada_quantize { num_iteration: 2 }\n",
}

#: per architecture: the embedding and the Linear tied to it
TIED = {"tied_lm": ("embed", "lm_head"), "qwen2": ("model.embed_tokens", "lm_head")}


def _quantize(arch: str, algo: str):
    if arch == "qwen2":
        pytest.importorskip("transformers")
    torch.manual_seed(0)
    model, batches = architecture(arch)()
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # transformers models cannot be traced by torch.fx
        inventory = quant.model_inventory(model, arch)
    text = f"batch_num: 2\ncommon_config {{\n{WEIGHTS[algo]}  ifmr_quantize {{ }}\n}}\n"
    plan = cfglang.resolve(text, inventory)
    assert plan.ok, [d.message for d in plan.diagnostics]
    before = copy.deepcopy(model.state_dict())
    result = quant.quantize(model, plan, batches, progress=False)
    return model, before, result


@pytest.mark.parametrize("algo", list(WEIGHTS))
@pytest.mark.parametrize("arch", list(TIED))
def test_tied_embedding_stays_float_and_the_linear_is_quantized(arch: str, algo: str) -> None:
    embed_name, head_name = TIED[arch]
    model, before, result = _quantize(arch, algo)
    float_embed = model.get_submodule(embed_name).weight

    # the user's model: unchanged, its tie kept
    assert model.get_submodule(head_name).weight is float_embed
    assert all(torch.equal(value, model.state_dict()[key]) for key, value in before.items())

    # the quantized model: the embedding is the float one bit for bit, the head its own quantized weight
    embed = result.model.get_submodule(embed_name)
    assert torch.equal(embed.weight, float_embed)
    head = result.model.get_submodule(head_name)
    assert isinstance(head, nn.Linear)  # still the model's class (parametrized)
    codes, scale = weight_codes(head), weight_dequantizer(head).scale
    assert torch.equal(head.weight, codes.float() * scale)
    factors = result.balance_factors.get(head_name)
    expected = float_embed.detach() * (factors if factors is not None else 1.0)  # DMQ: folded into the copy
    assert (head.weight - expected).abs().max() <= scale.max() * (0.5 if algo != "ada" else 1.0) + 1e-6

    assert head_name in [layer.name for layer in result.layers]
    assert head_name in result.record


def test_the_saved_tied_model_reloads_exactly(tmp_path) -> None:
    model, _, result = _quantize("tied_lm", "dmq")
    result.save(tmp_path, onnx=False)
    factory = copy.deepcopy(model)  # tied, as the user's class builds it
    loaded = quant.load_fake_quant_model(tmp_path / "fake_quant_model.pt", factory)
    assert torch.equal(loaded.embed.weight, model.embed.weight)
    ids = torch.randint(0, 64, (2, 8))
    with torch.no_grad():
        assert torch.equal(loaded(ids), result.model(ids))


def test_the_shared_copy_holds_the_models_tensors_and_keeps_its_ties() -> None:
    model, _ = architecture("tied_lm")()
    copied = shared_copy(model)
    assert copied is not model and copied.embed is not model.embed
    assert copied.embed.weight is model.embed.weight and copied.lm_head.weight is copied.embed.weight
    assert all(a is b for a, b in zip(copied.buffers(), model.buffers()))
    copied.lm_head.weight = nn.Parameter(torch.zeros_like(copied.lm_head.weight))  # replacing unties
    assert model.lm_head.weight is model.embed.weight and copied.embed.weight is model.embed.weight


class DirectWeight(nn.Module):
    """``fc``'s weight is read directly (``F.linear``): its forward never runs."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(4, 8)
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(torch.relu(self.inp(x)), self.fc.weight, self.fc.bias)


@pytest.mark.parametrize("dmq", [None, {"migration_strength": 0.5}], ids=["ifmr", "dmq"])
def test_a_layer_used_without_calling_it_is_a_clear_error(dmq) -> None:
    torch.manual_seed(0)
    plan = qh.plan([qh.layer("inp", "Linear", dmq=dmq), qh.layer("fc", "Linear", dmq=dmq)])
    with pytest.raises(QuantizeError, match=r"^layer `fc` was not called by the model's forward in 2 calibration "
                                            r"batches$"):
        quant.quantize(DirectWeight().eval(), plan, [torch.randn(2, 4) for _ in range(2)], progress=False)


def test_adaround_names_a_layer_the_forward_never_calls() -> None:
    class DirectWeight(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = nn.Linear(8, 8)
            self.fc = nn.Linear(8, 4)

        def forward(self, x):
            return F.linear(torch.relu(self.inp(x)), self.fc.weight)

    torch.manual_seed(0)
    model = DirectWeight().eval()
    config = ("batch_num: 1\ncommon_config { ifmr_quantize { } }\noverride_layer_configs { layer_name: \"fc\" "
              "calibration_config { ada_quantize { num_iteration: 2 } ifmr_quantize { } } }\n")
    traced = cfglang.resolve(config, quant.model_inventory(model))  # the traced inventory knows: fc stays float
    assert traced.layer("fc").skip.reason == "not_called" and [d.code for d in traced.diagnostics] == ["M021"]
    plan = cfglang.resolve(config, cfglang.Inventory.of([("inp", "Linear"), ("fc", "Linear")]))  # one that does not
    with pytest.raises(QuantizeError, match=r"^layer `fc` was not called by the model's forward in 1 calibration "
                                            r"batch$"):
        quant.quantize(model, plan, [torch.randn(4, 8)], progress=False)
