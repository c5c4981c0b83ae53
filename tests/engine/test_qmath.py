"""qmath against reference implementations written from AMCT's formulas (numpy, float32)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from quant import qmath

EPS = np.float32(1.1920929e-7)


def ref_symmetric(mx: float, mn: float, bits: int) -> np.float32:
    mx, mn = np.float32(mx), np.float32(mn)
    d = np.float32(2 ** (bits - 1)) if abs(mn) > abs(mx) else np.float32(2 ** (bits - 1) - 1)
    scale = np.float32(max(abs(mx), abs(mn)) / d)
    return np.float32(1.0) if scale < EPS else scale


def ref_asymmetric(mx: float, mn: float, bits: int) -> tuple[np.float32, int]:
    mx, mn = np.float32(max(mx, 0.0)), np.float32(min(mn, 0.0))
    scale = np.float32((mx - mn) / np.float32(2 ** bits - 1))
    if scale < EPS:
        scale = np.float32(1.0)
    offset = int(np.round(np.float32(-(2 ** (bits - 1))) - np.float32(mn / scale)))
    return scale, offset


def ref_quantize(x: np.ndarray, scale, offset, bits: int) -> np.ndarray:
    q = np.round(x.astype(np.float32) / np.float32(scale)) + offset  # numpy rounds half to even
    return np.clip(q, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


CASES = [(1.0, -1.0), (1.0, -2.0), (2.0, -1.0), (3.7, -0.2), (0.0, -5.0), (5.0, 0.0), (0.0, 0.0),
         (1e-9, -1e-9), (6e-8, 0.0), (123.456, -123.457), (0.5, 0.25), (-0.5, -2.0)]


@pytest.mark.parametrize("bits", [6, 7, 8])
@pytest.mark.parametrize("mx,mn", CASES)
def test_symmetric_scale_matches_reference(mx, mn, bits):
    assert qmath.symmetric_scale(mx, mn, bits).item() == float(ref_symmetric(mx, mn, bits))


def test_symmetric_divisor_is_128_only_when_the_negative_side_is_larger():
    assert qmath.symmetric_scale(1.0, -1.0, 8).item() == pytest.approx(1 / 127, rel=1e-7)
    assert qmath.symmetric_scale(1.0, -1.0000001, 8).item() == pytest.approx(1.0000001 / 128, rel=1e-7)
    assert qmath.symmetric_scale(2.0, -1.0, 8).item() == pytest.approx(2 / 127, rel=1e-7)
    assert qmath.symmetric_scale(1.0, -2.0, 6).item() == pytest.approx(2 / 32, rel=1e-7)


@pytest.mark.parametrize("bits", [6, 7, 8])
@pytest.mark.parametrize("mx,mn", CASES)
def test_asymmetric_scale_offset_matches_reference(mx, mn, bits):
    scale, offset = qmath.asymmetric_scale_offset(mx, mn, bits)
    ref_scale, ref_offset = ref_asymmetric(mx, mn, bits)
    assert scale.item() == float(ref_scale)
    assert int(offset) == ref_offset


def test_epsilon_rule_all_zero_range():
    assert qmath.symmetric_scale(0.0, 0.0, 8).item() == 1.0
    scale, offset = qmath.asymmetric_scale_offset(0.0, 0.0, 8)
    assert scale.item() == 1.0 and int(offset) == -128
    # just above epsilon is kept
    tiny = 2e-7 * 127
    assert qmath.symmetric_scale(tiny, 0.0, 8).item() == pytest.approx(2e-7, rel=1e-6)


def test_per_channel_vectors():
    mx = torch.tensor([1.0, 2.0, 0.0, 3.0])
    mn = torch.tensor([-2.0, -1.0, 0.0, -3.0])
    got = qmath.symmetric_scale(mx, mn, 8)
    want = [float(ref_symmetric(a, b, 8)) for a, b in zip(mx.tolist(), mn.tolist())]
    assert got.tolist() == want


def test_round_half_to_even_and_full_signed_range():
    x = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 1000.0, -1000.0])
    assert qmath.quantize(x, 1.0, 0, 8).tolist() == [0.0, 2.0, 2.0, -0.0, -2.0, -2.0, 127.0, -128.0]
    assert qmath.quantize(torch.tensor([100.0, -100.0]), 1.0, 0, 6).tolist() == [31.0, -32.0]
    assert qmath.qrange(7) == (-64, 63)


@pytest.mark.parametrize("bits", [6, 8])
def test_quantize_dequantize_match_reference(bits):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(10_000, generator=g) * 3
    scale, offset = qmath.asymmetric_scale_offset(x.max(), x.min(), bits)
    q = qmath.quantize(x, scale, offset, bits)
    np.testing.assert_array_equal(q.numpy(), ref_quantize(x.numpy(), scale.item(), int(offset), bits))
    deq = qmath.dequantize(q, scale, offset)
    np.testing.assert_array_equal(deq.numpy(), ((q.numpy() - int(offset)) * np.float32(scale.item())))
    # the round trip error is at most half a step inside the range
    assert (qmath.fake_quantize(x, scale, offset, bits) - x).abs().max().item() <= scale.item() / 2 + 1e-6


def test_fp16_rounding():
    s = qmath.round_to_fp16(0.0123456789)
    assert s.dtype == torch.float32
    assert s.item() == float(np.float32(np.float16(0.0123456789)))


@pytest.mark.parametrize("case", ["tensor", "channels", "grad", "wider_offset"])
def test_fake_quantize_is_dequantize_of_quantize(case):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(4, 6, 5, generator=g) * 3
    scale, offset = torch.tensor(0.037), torch.tensor(-7)
    if case == "channels":
        scale = torch.rand(4, 1, 1, generator=g) * 0.05 + 0.01
        offset = torch.randint(-20, 20, (4, 1, 1), generator=g)
    if case == "wider_offset":  # the offset broadcasts past x / scale: no in-place update
        x, offset = x[0, 0], torch.randint(-20, 20, (3, 1), generator=g)
    if case == "grad":
        x.requires_grad_(True)
    got = qmath.fake_quantize(x, scale, offset, 8)
    expected = qmath.dequantize(qmath.quantize(x, scale, offset, 8), scale, offset)
    assert torch.equal(got.detach(), expected.detach())
    if case == "grad":
        got.sum().backward()  # round has a zero gradient, so only the graph has to be intact
        assert x.grad is not None
