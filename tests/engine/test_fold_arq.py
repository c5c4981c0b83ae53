"""BatchNorm folding and ARQ against references written from AMCT's formulas."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cfglang.plan import Fusion
from quant.arq import arq_quantize, arq_scale, weight_axis
from quant.core import ARQSpec
from quant.fold import FoldError, fold_batchnorm, fold_pairs


def _bn(bn: nn.Module) -> nn.Module:
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.2, 3)
        bn.weight.uniform_(-2, 2)
        bn.bias.uniform_(-1, 1)
    return bn.eval()


@pytest.mark.parametrize("dims,bias", [(1, True), (2, True), (2, False), (3, True)])
def test_folding_keeps_outputs_within_1e_5(dims, bias):
    torch.manual_seed(dims)
    conv = getattr(nn, f"Conv{dims}d")(3, 6, 3, padding=1, bias=bias, groups=1 if dims != 2 else 3)
    bn = _bn(getattr(nn, f"BatchNorm{dims}d")(6))
    model = nn.Sequential(conv, bn).eval()
    x = torch.randn(2, 3, *([6] * dims))
    want = model(x)
    fold_pairs(model, [Fusion("0", "1")])
    assert isinstance(model[1], nn.Identity)
    torch.testing.assert_close(model(x), want, atol=1e-5, rtol=1e-5)


def test_fold_formula():
    conv, bn = nn.Conv2d(2, 3, 1), _bn(nn.BatchNorm2d(3))
    w, b = conv.weight.detach().clone(), conv.bias.detach().clone()
    fold_batchnorm(conv, bn)
    g = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    torch.testing.assert_close(conv.weight, w * g.reshape(-1, 1, 1, 1))
    torch.testing.assert_close(conv.bias, (b - bn.running_mean) * g + bn.bias)


@pytest.mark.parametrize("bn,message", [
    (nn.BatchNorm2d(4).train(), "train mode"),
    (nn.BatchNorm2d(4, track_running_stats=False).eval(), "running statistics"),
    (nn.BatchNorm2d(4, affine=False).eval(), "not affine"),
])
def test_unfoldable_batchnorm_is_a_clear_error(bn, message):
    model = nn.Sequential(nn.Conv2d(2, 4, 1), bn)
    with pytest.raises(FoldError, match=message):
        fold_pairs(model, [Fusion("0", "1")])


def ref_arq(weight: torch.Tensor, bits: int, axis: int) -> torch.Tensor:
    """Per output channel: symmetric scale from that channel's min and max (as AMCT's ARQ)."""
    scales = []
    for c in range(weight.shape[axis]):
        row = weight.select(axis, c)
        mx, mn = row.max().item(), row.min().item()
        d = 2 ** (bits - 1) if abs(mn) > abs(mx) else 2 ** (bits - 1) - 1
        s = torch.tensor(max(abs(mx), abs(mn)), dtype=torch.float32) / d
        scales.append(1.0 if s < 1.1920928955078125e-07 else s.item())
    return torch.tensor(scales)


@pytest.mark.parametrize("module", [
    nn.Conv2d(4, 6, 3), nn.Conv2d(4, 8, 3, groups=4), nn.Conv1d(3, 5, 2), nn.Conv3d(2, 3, 2),
    nn.ConvTranspose2d(4, 6, 3), nn.ConvTranspose2d(4, 6, 3, groups=2), nn.ConvTranspose1d(3, 5, 2),
], ids=lambda m: repr(m))
@pytest.mark.parametrize("bits", [6, 7, 8])
def test_arq_per_channel_matches_reference(module, bits):
    torch.manual_seed(0)
    with torch.no_grad():
        module.weight.normal_()
        module.weight[0].zero_()  # a dead channel (or input slice) takes the epsilon rule
    axis = weight_axis(module)
    assert axis == (1 if "Transpose" in type(module).__name__ else 0)
    got = arq_quantize(module, ARQSpec(bits, True))
    torch.testing.assert_close(got.scale, ref_arq(module.weight.detach(), bits, axis), rtol=0, atol=0)
    assert got.codes.dtype == torch.int8
    assert int(got.codes.min()) >= -(2 ** (bits - 1)) and int(got.codes.max()) <= 2 ** (bits - 1) - 1
    assert (got.dequantize() - module.weight).abs().max() <= got.scale.max() / 2 + 1e-7


def test_arq_per_tensor():
    w = torch.tensor([[0.5, -2.0], [1.0, 0.25]])
    assert arq_scale(w, 8, channel_wise=False).item() == pytest.approx(2.0 / 128)
    w = torch.tensor([[0.5, -1.0], [2.0, 0.25]])
    assert arq_scale(w, 8, channel_wise=False).item() == pytest.approx(2.0 / 127)
    assert arq_scale(torch.zeros(3, 3), 8, channel_wise=False).item() == 1.0


@pytest.mark.parametrize("shape, axis, channel_wise", [((40, 3, 3, 3), 0, True), ((6, 50), 0, False),
                                                       ((7, 30, 5), 1, True)])
def test_codes_and_sqnr_slice_by_slice_are_the_whole_weight_figures(monkeypatch, shape, axis, channel_wise) -> None:
    """The weight loops run on slices of dim 0; with slices of a few rows they give what one pass over the
    whole weight gives."""
    from quant import arq

    torch.manual_seed(0)
    weight = torch.randn(*shape)
    scale = arq.arq_scale(weight, 8, channel_wise=channel_wise, axis=axis)
    whole = arq.quantize_codes(weight, scale, axis, 8)
    quantized = arq.WeightQuant(whole, scale, axis, 8, channel_wise)
    sqnr = arq.weight_sqnr_db(weight, quantized)
    monkeypatch.setattr(arq, "SLICE_ELEMENTS", 20)
    assert len(arq._row_slices(weight)) > 2
    assert torch.equal(arq.quantize_codes(weight, scale, axis, 8), whole)
    assert arq.weight_sqnr_db(weight, quantized) == pytest.approx(sqnr, rel=1e-6)
    deq = quantized.dequantize()
    expected = 10 * math.log10(float((weight.double() ** 2).sum() / ((weight.double() - deq.double()) ** 2).sum()))
    assert sqnr == pytest.approx(expected, rel=1e-6)
