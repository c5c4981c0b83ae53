"""AdaRound building blocks against the paper's definitions (Nagel et al. 2020), as AMCT's ``ada_quantize``."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cfglang.plan import WeightPlan
from quant import adaround as ada
from quant.core import AdaRoundSpec


def test_rectified_sigmoid_is_stretched_and_clamped() -> None:
    v = torch.tensor([-50.0, 0.0, 50.0])
    got = ada.rectified_sigmoid(v)
    assert got.tolist() == [0.0, pytest.approx(0.5), 1.0]
    # inside the stretch: sigmoid(v) * 1.2 - 0.1
    v = torch.tensor([0.7])
    assert ada.rectified_sigmoid(v).item() == pytest.approx(torch.sigmoid(v).item() * 1.2 - 0.1)


def test_initial_v_reproduces_the_fractional_part() -> None:
    torch.manual_seed(0)
    w = torch.randn(64, 32)
    scale = w.abs().amax() / 127
    v = ada.initial_v(w, scale)
    frac = w / scale - torch.floor(w / scale)
    assert torch.isfinite(v).all()
    assert torch.allclose(ada.rectified_sigmoid(v), frac, atol=1e-5)
    # so the first soft weight is the float weight
    soft = ada.soft_quantize(torch.floor(w / scale), v, scale, -128, 127)
    assert torch.allclose(soft, w, atol=1e-5 * scale.item() * 128)


def test_beta_anneals_on_a_cosine_after_warm_start() -> None:
    p = ada.AdaRoundParams(num_iteration=1000, warm_start=0.2, beta_range_start=20, beta_range_end=2)
    assert ada.beta_at(0, p) == 20
    assert ada.beta_at(200, p) == 20
    assert ada.beta_at(600, p) == pytest.approx(11.0)
    assert ada.beta_at(1000, p) == pytest.approx(2.0)
    # monotone
    betas = [ada.beta_at(s, p) for s in range(200, 1001, 50)]
    assert all(a >= b for a, b in zip(betas, betas[1:]))
    # the reference cosine
    s = 350
    t = (s - 200) / 800
    assert ada.beta_at(s, p) == pytest.approx(2 + 9 * (1 + math.cos(math.pi * t)))


def test_regularizer_vanishes_only_at_hard_decisions() -> None:
    hard = torch.tensor([-30.0, 30.0, -30.0])
    assert ada.rounding_regularizer(hard, 2.0).item() == pytest.approx(0.0, abs=1e-6)
    undecided = torch.zeros(4)  # h = 0.5
    assert ada.rounding_regularizer(undecided, 2.0).item() == pytest.approx(4.0)


def test_hard_quantize_rounds_up_where_v_is_non_negative_and_clips() -> None:
    w_floor = torch.tensor([3.0, 3.0, 127.0, -128.0])
    v = torch.tensor([0.0, -0.1, 5.0, -5.0])
    got = ada.hard_quantize(w_floor, v, torch.tensor(0.5), -128, 127)
    assert got.tolist() == [2.0, 1.5, 63.5, -64.0]


def test_zero_iterations_is_nearest_rounding() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(16, 8)
    scale = layer.weight.detach().abs().amax() / 127
    x = torch.randn(4, 16)
    got = ada.optimize_rounding(layer, scale, x, layer(x), ada.AdaRoundParams(num_iteration=0))
    expected = torch.round(layer.weight.detach() / scale) * scale
    assert torch.equal(got, expected)


def test_learned_weights_stay_on_the_grid_and_next_to_the_float_weight() -> None:
    torch.manual_seed(0)
    layer = nn.Conv2d(3, 4, 3)
    scale = layer.weight.detach().abs().amax(dim=(1, 2, 3), keepdim=True) / 127
    x = torch.randn(16, 3, 6, 6)
    p = ada.AdaRoundParams(num_iteration=50, channel_wise=True, batch_size=8)
    got = ada.optimize_rounding(layer, scale, x, layer(x).detach(), p, activation=nn.ReLU())
    q = got / scale
    assert torch.allclose(q, torch.round(q), atol=1e-4)
    assert ((q - layer.weight.detach() / scale).abs() <= 1.0 + 1e-4).all()
    assert q.round().min() >= -128 and q.round().max() <= 127


def test_learned_rounding_beats_nearest_on_correlated_inputs() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(64, 32)
    # low-rank, correlated inputs: where rounding errors can cancel
    x = torch.randn(512, 8) @ torch.randn(8, 64)
    target = layer(x).detach()
    scale = layer.weight.detach().abs().amax() / 127
    nearest = ada.optimize_rounding(layer, scale, x, target, ada.AdaRoundParams(num_iteration=0))
    learned = ada.optimize_rounding(layer, scale, x, target, ada.AdaRoundParams(num_iteration=600))

    def err(w: torch.Tensor) -> float:
        return ada.reconstruction_loss(nn.functional.linear(x, w, layer.bias), target).item()

    assert err(learned) < 0.5 * err(nearest)


def test_sample_cache_is_bounded_uniform_and_keeps_pairs_together() -> None:
    cache = ada.SampleCache(100, seed=3)
    for start in range(0, 10_000, 250):
        idx = torch.arange(start, start + 250, dtype=torch.float32)
        cache.add(idx[:, None], -idx[:, None])
    inputs, targets = cache.tensors()
    assert inputs.shape == (100, 1) and len(cache) == 100 and cache.seen == 10_000
    assert torch.equal(inputs, -targets)
    # drawn from the whole stream, not just the first batch
    assert inputs.max() > 5000 and len(set(inputs.flatten().tolist())) == 100


def test_sample_cache_rejects_mismatched_pairs() -> None:
    cache = ada.SampleCache(4)
    with pytest.raises(ValueError, match="expected the same"):
        cache.add(torch.ones(3, 2), torch.ones(2, 2))


def test_params_from_a_plan_weight_entry() -> None:
    weight = WeightPlan("ada", 8, True, num_iteration=77, reg_param=0.02, beta_range_start=10.0,
                        beta_range_end=3.0, warm_start=0.3)
    p = ada.AdaRoundParams.of(AdaRoundSpec.from_plan(weight), max_samples=64)
    assert (p.num_iteration, p.reg_param, p.beta_range_start, p.beta_range_end, p.warm_start) == (
        77, 0.02, 10.0, 3.0, 0.3)
    assert p.channel_wise and p.max_samples == 64 and (p.qmin, p.qmax) == (-128, 127)


def _autograd_rounding(layer, scale, x, target, p, activation=None):
    """The paper's loop through autograd end to end: the formulation `optimize_rounding` differentiates
    by hand (same samples, same Adam)."""
    weight = layer.weight.detach()
    w_floor = torch.floor(weight / scale)
    v = ada.initial_v(weight, scale).clone().requires_grad_(True)
    optimizer = torch.optim.Adam([v], lr=p.lr)
    generator = torch.Generator().manual_seed(p.seed)
    for step in range(p.num_iteration):
        idx = torch.randint(x.shape[0], (min(p.batch_size, x.shape[0]),), generator=generator)
        soft = ada.soft_quantize(w_floor, v, scale, p.qmin, p.qmax)
        out = layer._conv_forward(x[idx], soft, layer.bias) if isinstance(layer, nn.Conv2d) else \
            nn.functional.linear(x[idx], soft, layer.bias)
        if activation is not None:
            out = activation(out)
        loss = ada.reconstruction_loss(out, target[idx])
        if step >= p.warm_start * p.num_iteration:
            loss = loss + p.reg_param * ada.rounding_regularizer(v, ada.beta_at(step, p))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return ada.hard_quantize(w_floor, v.detach(), scale, p.qmin, p.qmax), v.detach()


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_the_hand_derived_gradient_learns_what_autograd_learns(kind) -> None:
    torch.manual_seed(0)
    if kind == "linear":
        layer, x = nn.Linear(48, 24), torch.randn(256, 6) @ torch.randn(6, 48)
        scale = layer.weight.detach().abs().amax() / 127
    else:
        layer, x = nn.Conv2d(3, 8, 3), torch.randn(64, 3, 6, 6)
        scale = layer.weight.detach().abs().amax(dim=(1, 2, 3), keepdim=True) / 7
    act = nn.ReLU()
    target = act(layer(x)).detach()
    p = ada.AdaRoundParams(num_iteration=300, warm_start=0.2, batch_size=16, lr=1e-2,
                           bits=8 if kind == "linear" else 4, channel_wise=kind == "conv")
    expected, _ = _autograd_rounding(layer, scale, x, target, p, act)
    got = ada.optimize_rounding(layer, scale, x, target, p, activation=act)
    assert torch.equal(got, expected)
