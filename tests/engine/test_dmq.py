"""DMQ balancer: the factor formula, dead channels, and the float identity on every balanceable type."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from quant import dmq
from quant.core import QuantizeError


def _reference_factors(x_max: list[float], w_max: list[float], a: float) -> list[float]:
    out = []
    for x, w in zip(x_max, w_max):
        out.append(1.0 if x == 0 or w == 0 else x**a / w ** (1 - a))
    return out


@pytest.mark.parametrize("a", [0.2, 0.5, 0.8])
def test_factors_match_the_formula(a: float) -> None:
    x = torch.tensor([4.0, 0.5, 10.0, 1e-3])
    w = torch.tensor([0.1, 2.0, 0.01, 0.3])
    got = dmq.balance_factors(x, w, a)
    assert got.tolist() == pytest.approx(_reference_factors(x.tolist(), w.tolist(), a), rel=1e-6)


def test_zero_channels_give_factor_one_not_inf_or_nan() -> None:
    x = torch.tensor([0.0, 3.0, 0.0, 2.0, float("inf")])
    w = torch.tensor([1.0, 0.0, 0.0, 0.5, 1.0])
    got = dmq.balance_factors(x, w, 0.5)
    assert torch.isfinite(got).all()
    assert got.tolist()[:3] == [1.0, 1.0, 1.0]
    assert got[3].item() == pytest.approx(2.0**0.5 / 0.5**0.5)
    assert got[4].item() == 1.0


def test_factor_shape_mismatch_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="one value per input channel"):
        dmq.balance_factors(torch.ones(3), torch.ones(4), 0.5)


def test_grouped_conv_weight_max_is_taken_per_group() -> None:
    conv = nn.Conv2d(4, 6, 3, groups=2)
    w = conv.weight.detach().abs()  # [6, 2, 3, 3]
    got = dmq.weight_input_absmax(conv.weight, groups=2)
    expected = torch.stack(
        [w[0:3, 0].amax(), w[0:3, 1].amax(), w[3:6, 0].amax(), w[3:6, 1].amax()]
    )
    assert torch.equal(got, expected)


def _layers() -> list[tuple[nn.Module, tuple[int, ...]]]:
    return [
        (nn.Linear(12, 7), (5, 3, 12)),
        (nn.Conv1d(6, 4, 3), (2, 6, 11)),
        (nn.Conv2d(6, 9, 3, groups=3), (2, 6, 8, 8)),
        (nn.Conv3d(4, 2, 2), (2, 4, 5, 5, 5)),
        (nn.ConvTranspose1d(6, 4, 3, stride=2), (2, 6, 9)),
        (nn.ConvTranspose2d(6, 4, 3, groups=2), (2, 6, 7, 7)),
    ]


@pytest.mark.parametrize(("layer", "shape"), _layers(), ids=lambda v: type(v).__name__)
def test_balancing_leaves_the_float_output_unchanged(layer: nn.Module, shape: tuple[int, ...]) -> None:
    torch.manual_seed(1)
    x = torch.randn(shape)
    # outlier channels, a dead channel and a dead weight column
    scale = torch.ones(dmq.input_channel_count(layer))
    scale[0], scale[1] = 40.0, 0.0
    dim = dmq.channel_dim(layer, x.dim())
    view = [1] * x.dim()
    view[dim] = -1
    x = x * scale.reshape(view)
    expected = layer(x).detach()
    absmax = dmq.collect_input_absmax(nn.Sequential(layer), ["0"], [x])["0"]
    for a in (0.2, 0.5, 0.8):
        balanced = copy.deepcopy(layer)
        factors = dmq.layer_factors(balanced, absmax, a)
        assert torch.isfinite(factors).all() and (factors > 0).all()
        divide = dmq.apply_balance(balanced, factors)
        got = balanced(divide(x)).detach()
        rel = (got - expected).norm() / expected.norm()
        assert rel.item() <= 1e-5


def test_balancing_flattens_the_activation_outlier() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(8, 4)
    x = torch.randn(64, 8)
    x[:, 2] *= 100.0
    absmax = dmq.collect_input_absmax(nn.Sequential(layer), ["0"], [x])["0"]
    divide = dmq.apply_balance(layer, dmq.layer_factors(layer, absmax, 0.5))
    balanced_max = divide(x).abs().amax(dim=0)
    assert balanced_max.max() / balanced_max.min() < absmax.max() / absmax.min() / 5


def test_nan_input_names_the_layer_and_the_batch() -> None:
    model = nn.Sequential(nn.Linear(3, 3))
    x = torch.ones(2, 3)
    x[0, 1] = float("nan")
    with pytest.raises(QuantizeError, match=r"^layer `0`: calibration batch 1 has nan or inf values at the layer's input$"):
        dmq.collect_input_absmax(model, ["0"], [torch.ones(2, 3), x])


def test_a_layer_never_called_is_a_quantize_error() -> None:
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    model.forward = lambda x: model[0](x)  # the second layer's forward never runs
    with pytest.raises(QuantizeError, match=r"^layer `1` was not called by the model's forward in 1 calibration batch$"):
        dmq.collect_input_absmax(model, ["0", "1"], [torch.ones(2, 3)])


def test_hooks_are_removed_even_on_error() -> None:
    model = nn.Sequential(nn.Linear(3, 3))
    x = torch.full((2, 3), float("inf"))
    with pytest.raises(ValueError):
        dmq.collect_input_absmax(model, ["0"], [x])
    assert not model[0]._forward_pre_hooks
