"""AdaRound on the digits CNN against nearest rounding (issue 7's quality bar)."""

from __future__ import annotations

import copy

import torch
from torch import nn

from quant import adaround as ada
from quant.qmath import fake_quantize, symmetric_scale


def _scale(layer: nn.Module) -> torch.Tensor:
    w = layer.weight.detach()
    if isinstance(layer, nn.Conv2d):  # channel_wise: true by default for Conv2d, false for Linear
        flat = w.reshape(w.shape[0], -1)
        return symmetric_scale(flat.amax(1), flat.amin(1), 8).reshape(-1, 1, 1, 1)
    return symmetric_scale(w.max(), w.min(), 8)


def _nearest(model: nn.Module, names) -> nn.Module:
    out = copy.deepcopy(model)
    with torch.no_grad():
        for name in names:
            layer = out.get_submodule(name)
            layer.weight.copy_(fake_quantize(layer.weight, _scale(layer), 0, 8))
    return out


def _layer_outputs(model: nn.Module, x: torch.Tensor, names) -> dict[str, torch.Tensor]:
    outs: dict[str, torch.Tensor] = {}
    handles = [
        model.get_submodule(n).register_forward_hook(lambda _m, _a, o, n=n: outs.__setitem__(n, o.detach()))
        for n in names
    ]
    try:
        with torch.no_grad():
            outs["logits"] = model(x)
    finally:
        for h in handles:
            h.remove()
    return outs


def test_adaround_halves_layer_and_logit_error_of_nearest(folded_digits) -> None:
    model = folded_digits.model
    fused = folded_digits.fused
    calib = list(folded_digits.train_x[:512].split(64))
    params = ada.AdaRoundParams(num_iteration=1000, max_samples=512)
    layers = [
        ada.AdaRoundLayer(name, _scale(model.get_submodule(name)), params, act)
        for name, act in fused.items()
    ]
    learned = copy.deepcopy(model)
    ada.adaround_model(model, learned, layers, calib)
    nearest = _nearest(model, fused)

    ref = _layer_outputs(model, folded_digits.test_x, fused)
    got_ada = _layer_outputs(learned, folded_digits.test_x, fused)
    got_near = _layer_outputs(nearest, folded_digits.test_x, fused)

    def mse(a: torch.Tensor, b: torch.Tensor) -> float:
        return (a - b).pow(2).mean().item()

    ratios = [mse(got_ada[n], ref[n]) / mse(got_near[n], ref[n]) for n in fused]
    logit_ratio = mse(got_ada["logits"], ref["logits"]) / mse(got_near["logits"], ref["logits"])
    print(f"adaround/nearest: per-layer {ratios}, logits {logit_ratio:.3f}")
    assert sum(ratios) / len(ratios) <= 0.5, ratios
    assert logit_ratio <= 0.5, logit_ratio
    acc_ada = (got_ada["logits"].argmax(1) == folded_digits.test_y).float().mean().item()
    acc_near = (got_near["logits"].argmax(1) == folded_digits.test_y).float().mean().item()
    print(f"accuracy: adaround {acc_ada:.4f}, nearest {acc_near:.4f}")
    assert acc_ada >= acc_near
    # every weight is on its grid, within one step of the float weight
    for name in fused:
        scale = _scale(model.get_submodule(name))
        q = learned.get_submodule(name).weight.detach() / scale
        assert torch.allclose(q, q.round(), atol=1e-3)
        assert ((q - model.get_submodule(name).weight.detach() / scale).abs() <= 1 + 1e-3).all()
