"""4-bit weights and 16-bit activations (issue 15): the arithmetic by hand, and IFMR / HFMG at 16 bits
against the references of test_calibrators.

The expectations follow AMCT's code: ``calculate_scale_offset`` / ``get_int_quant_scope`` in
``amct_pytorch/custom_op/utils.py`` (scales at any width), ``arq_cali_pytorch`` in
``custom_op/arq/arq_impl.py`` (ARQ), ``cast_fp16_precision`` in ``common/utils/util.py`` (FORCE_FP16_QUANT).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from torch import nn

from quant import qmath
from quant.arq import arq_quantize, arq_scale, quantize_codes
from quant.calibrators import HFMGCalibrator, IFMRCalibrator, greedy_ranges
from quant.core import ARQSpec, HFMGSpec, IFMRSpec
from quant.histogram import HistogramMoments
from test_calibrators import ADVERSARIAL, StreamingIFMR, _data, ref_dense_l2, ref_ifmr, run


def test_integer_ranges():
    assert qmath.qrange(4) == (-8, 7)
    assert qmath.qrange(16) == (-32768, 32767)


def _linear(rows: list[list[float]]) -> nn.Linear:
    layer = nn.Linear(len(rows[0]), len(rows), bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(rows))
    return layer


# row 0: |max| 1.75 wins, D = 7, scale 0.25; row 1: |min| 2 > |max| 1, D = 8, scale 0.25
ROWS = [[1.75, -0.875, 0.125, 0.0625], [-2.0, 1.0, 0.375, -0.125]]


def test_arq_4_bit_per_channel_by_hand():
    got = arq_quantize(_linear(ROWS), ARQSpec(4, True))
    assert got.scale.tolist() == [0.25, 0.25] and got.bits == 4
    # -3.5 -> -4, 0.5 -> 0, -0.5 -> 0: round half to even; -2.0 / 0.25 = -8 is the one extra level
    assert got.codes.tolist() == [[7, -4, 0, 0], [-8, 4, 2, 0]]
    assert got.codes.dtype == torch.int8
    assert got.dequantize().tolist() == [[1.75, -1.0, 0.0, 0.0], [-2.0, 1.0, 0.5, 0.0]]


def test_arq_4_bit_per_tensor_by_hand():
    got = arq_quantize(_linear(ROWS), ARQSpec(4, False))
    assert got.scale.dim() == 0 and got.scale.item() == 0.25  # |min| 2 > |max| 1.75: D = 8
    assert got.codes.tolist() == [[7, -4, 0, 0], [-8, 4, 2, 0]]
    eight = arq_quantize(_linear(ROWS), ARQSpec(8, False))
    assert eight.scale.item() == 2.0 / 128 and eight.codes.tolist()[1] == [-128, 64, 24, -8]


def amct_scale(data_max: float, data_min: float, bits: int) -> float:
    """AMCT's symmetric weight scale, written out: ``boundary / (abs_max_is_negative + 2^(b-1) - 1)``."""
    mx, mn = np.float32(data_max), np.float32(data_min)
    scope = (1 if abs(mx) < abs(mn) else 0) + 2 ** (bits - 1) - 1
    scale = np.float32(max(abs(mx), abs(mn))) / np.float32(scope)
    return 1.0 if scale < np.float32(qmath.FLOAT32_EPS) else float(scale)


@pytest.mark.parametrize("kind", ["Conv2d", "ConvTranspose2d", "Linear"])
def test_arq_4_bit_matches_amct_on_random_weights(kind):
    torch.manual_seed(4)
    module = {"Conv2d": nn.Conv2d(6, 5, 3), "ConvTranspose2d": nn.ConvTranspose2d(6, 5, 3),
              "Linear": nn.Linear(7, 5)}[kind]
    got = arq_quantize(module, ARQSpec(4, True))
    axis = 1 if kind == "ConvTranspose2d" else 0
    rows = module.weight.detach().transpose(0, axis).reshape(5, -1)
    assert got.scale.tolist() == [amct_scale(r.max().item(), r.min().item(), 4) for r in rows]
    codes = got.codes.transpose(0, axis).reshape(5, -1).to(torch.float32)
    assert int(codes.min()) >= -8 and int(codes.max()) <= 7
    # AMCT: round(w / scale) clamped to [-8, 7], row by row
    want = torch.clamp(torch.round(rows / got.scale.reshape(-1, 1)), -8, 7)
    assert torch.equal(codes, want)


def test_codes_wider_than_int8_are_refused():
    with pytest.raises(ValueError, match=r"weight bits `16` do not fit int8 codes, expected 2 to 8"):
        quantize_codes(torch.ones(2, 2), arq_scale(torch.ones(2, 2), 16, channel_wise=False), 0, 16)


def test_16_bit_asymmetric_by_hand():
    scale, offset = qmath.asymmetric_scale_offset(3.0, -1.0, 16)
    assert scale.item() == float(np.float32(4.0) / np.float32(65535))
    # -32768 - (-1) / (4 / 65535) = -32768 + 16383.75 = -16384.25 -> -16384
    assert int(offset) == -16384 and offset.dtype == torch.int32
    # an all-negative range: offset at the top of the int16 range (min / scale = -65535)
    scale, offset = qmath.asymmetric_scale_offset(-0.5, -2.0, 16)
    assert int(offset) == 32767
    # all zeros: scale 1, offset -32768 (AMCT's process_scale)
    scale, offset = qmath.asymmetric_scale_offset(0.0, 0.0, 16)
    assert scale.item() == 1.0 and int(offset) == -32768


def test_16_bit_symmetric_by_hand():
    assert qmath.symmetric_scale(1.0, -2.0, 16).item() == 2.0 ** -14  # 2 / 32768: the negative side
    assert qmath.symmetric_scale(2.0, -1.0, 16).item() == float(np.float32(2.0) / np.float32(32767))


def test_16_bit_quantize_clamps_to_int16():
    x = torch.tensor([0.5, -3.0, 2.0, 3.0517578125e-05, -1.52587890625e-05])
    q = qmath.quantize(x, 2.0 ** -14, 0, 16)
    # 2^-15 / 2^-14 = 0.5 -> 0 and -0.25 -> 0: half to even; 8192; clamps at both ends
    assert q.tolist() == [8192.0, -32768.0, 32767.0, 0.0, -0.0]
    q = qmath.quantize(x, 2.0 ** -14, -16384, 16)
    assert q.tolist() == [-8192.0, -32768.0, 16384.0, -16384.0, -16384.0]
    assert qmath.fake_quantize(x, 2.0 ** -14, -16384, 16).tolist() == [0.5, -1.0, 2.0, 0.0, 0.0]


def test_fp16_rounding_as_amct_casts():
    # in float16's normal range: the nearest float16, as before
    assert qmath.round_to_fp16(0.0123456789).item() == float(np.float32(np.float16(0.0123456789)))
    assert qmath.round_to_fp16(2.0 ** -14).item() == 2.0 ** -14  # the boundary itself is normal
    # below 2^-14: sqrt(3e-5) = 0.0054772256 -> float16 1436 * 2^-18, squared in float32
    assert qmath.round_to_fp16(3e-5).item() == 1436 ** 2 * 2.0 ** -36
    assert float(np.float32(np.float16(3e-5))) == 503 * 2.0 ** -24  # a plain cast keeps 9 bits
    # above 65504: sqrt(70000) = 264.575 -> 264.5
    assert qmath.round_to_fp16(70000.0).item() == 264.5 ** 2
    got = qmath.round_to_fp16(torch.tensor([3e-5, 0.5, 70000.0]))
    assert got.dtype == torch.float32 and got.tolist() == [1436 ** 2 * 2.0 ** -36, 0.5, 264.5 ** 2]


# ------------------------------------------------------------------------------ IFMR at 16 bits

@pytest.mark.parametrize("asymmetric", [True, False])
@pytest.mark.parametrize("kind", ["normal", "relu", "shifted"])
def test_ifmr_16_bit_small_data_is_exactly_the_reference(kind, asymmetric):
    p = IFMRSpec(bits=16, asymmetric=asymmetric, max_percentile=0.999, min_percentile=0.999)
    batches = [_data(kind, 3000, s) for s in range(3)]
    got = run(IFMRCalibrator(p, num_batches=3), batches)
    losses, scales = ref_ifmr(batches, p)
    assert got.scale == scales[int(np.argmin(losses))] and got.bits == 16
    if asymmetric:
        # the offset of the chosen clip range, -32768 - min0 / scale
        assert got.offset == round(-32768 - got.clip_min / got.scale)
    else:
        assert got.offset == 0


@pytest.mark.parametrize("bits", [8, 16])
def test_ifmr_symmetric_divisor_follows_the_larger_percentile(bits):
    # AMCT's find_optimal_scale_offset: D = 2^(b-1) when |min0| > |max0| ("bound_negative"), else 2^(b-1) - 1
    half = 2 ** (bits - 1)
    for data, divisor in ((torch.linspace(-2.0, 1.0, 3001), half), (torch.linspace(-1.0, 2.0, 3001), half - 1)):
        p = IFMRSpec(bits=bits, asymmetric=False, max_percentile=1.0, min_percentile=1.0)
        got = run(IFMRCalibrator(p), [data])
        assert got.offset == 0 and got.clip_min == -got.clip_max
        assert got.scale == float(np.float32(got.clip_max) / np.float32(divisor))
        assert 2.0 * 0.7 <= got.clip_max <= 2.0 * 1.3


@functools.lru_cache(maxsize=None)
def _streaming_case(kind: str, asymmetric: bool) -> tuple[list[torch.Tensor], list[float], list[float]]:
    """Batches past IFMR's exact limit and their reference losses, computed once for both paths."""
    batches = [_data(kind, 60_000, s) for s in range(2)]
    losses, scales = ref_ifmr(batches, IFMRSpec(bits=16, asymmetric=asymmetric))
    return batches, losses, scales


@pytest.mark.parametrize(("kind", "asymmetric"), [("normal", True), ("relu", True), ("normal", False)])
def test_ifmr_16_bit_streaming_within_0p1_percent(kind, asymmetric, histogram_path):
    batches, losses, scales = _streaming_case(kind, asymmetric)
    got = run(StreamingIFMR(IFMRSpec(bits=16, asymmetric=asymmetric), num_batches=2), batches)
    chosen = int(np.argmin([abs(s - got.scale) for s in scales]))
    assert scales[chosen] == got.scale
    assert losses[chosen] <= min(losses) * 1.001


@pytest.mark.parametrize("case", ["zeros", "constant", "outlier", "negative"])
def test_ifmr_16_bit_adversarial(case, histogram_path):
    got = run(IFMRCalibrator(IFMRSpec(bits=16), num_batches=2), ADVERSARIAL[case]())
    assert math.isfinite(got.scale) and got.scale > 0 and -32768 <= got.offset <= 32767
    if case == "zeros":
        assert (got.scale, got.offset) == (1.0, -32768)
    if case == "negative":  # max0 clamps to 0: every level below zero, offset at the top
        assert got.offset == 32767


# ------------------------------------------------------------------------------ HFMG at 16 bits

@pytest.mark.parametrize("asymmetric", [True, False])
@pytest.mark.parametrize("kind", ["normal", "relu", "shifted"])
def test_hfmg_16_bit_scores_are_the_dense_integral(kind, asymmetric, histogram_path):
    cal = HFMGCalibrator(HFMGSpec(num_of_bins=256, asymmetric=asymmetric, bits=16))
    for b in [_data(kind, 20_000, s) * (1 + 0.3 * s) for s in range(3)]:
        cal.observe(b)
    width = (cal.max - cal.min) / cal.hist.numel()
    ranges = greedy_ranges(cal.hist)[::23]
    got = cal._scores(HistogramMoments(cal.hist.numpy(), cal.min, cal.max), ranges)
    for (left, right), score in zip(ranges.tolist(), got.tolist()):
        scale, offset = cal._qparams(cal.min + left * width, cal.min + (right + 1) * width)
        ref = exact_l2(cal.hist.numpy(), cal.min, width, scale, offset, 16)
        # float64 cancellation in the closed form (totals of ~1e9 in bin units for a loss of ~1e-1):
        # measured up to 4.3e-5 at 16 bits
        assert score == pytest.approx(ref, rel=1e-4)
        if kind == "normal":  # the sampled reference of the 8-bit tests agrees as far as its sampling goes
            dense = ref_dense_l2(cal.hist, cal.min, width, scale, offset, 16, sub=2048)
            assert score == pytest.approx(dense, rel=2e-2)


def exact_l2(hist: np.ndarray, lo_edge: float, width: float, scale: float, offset: int, bits: int) -> float:
    """The L2 of fake-quantizing a histogram (uniform density in each bin) integrated exactly: each bin
    cut at the rounding boundaries ``(k - offset + 1/2) scale`` inside it, ``(x - v)^2`` integrated in
    closed form over each piece. (The sampled ``ref_dense_l2`` needs points per level: at 16 bits a bin
    of 256 holds hundreds of levels.)"""
    qmin, qmax = qmath.qrange(bits)
    total = 0.0
    for j, mass in enumerate(hist.tolist()):
        if not mass:
            continue
        a, b = lo_edge + j * width, lo_edge + (j + 1) * width
        k = np.arange(math.ceil(a / scale + offset - 0.5), math.floor(b / scale + offset - 0.5) + 1)
        cuts = (k[(k >= qmin) & (k < qmax)] - offset + 0.5) * scale
        points = np.concatenate(([a], cuts[(cuts > a) & (cuts < b)], [b]))
        mid = (points[:-1] + points[1:]) / 2
        v = (np.clip(np.round(mid / scale) + offset, qmin, qmax) - offset) * scale
        total += mass / width * float((((points[1:] - v) ** 3 - (points[:-1] - v) ** 3) / 3).sum())
    return total


def test_hfmg_16_bit_keeps_the_full_range_of_uniform_data(histogram_path):
    # 65536 levels: narrowing by one of 4096 bins saves ~1e-14 of rounding error and clips ~5e-12,
    # so the whole range wins
    x = torch.linspace(0.0, 1.0, 10_001)
    got = run(HFMGCalibrator(HFMGSpec(bits=16)), [x, x])
    assert (got.clip_min, got.clip_max) == (0.0, 1.0)
    assert got.scale == float(np.float32(1.0) / np.float32(65535)) and got.offset == -32768
    got = run(HFMGCalibrator(HFMGSpec(bits=16, asymmetric=False)), [x * 2 - 1, x * 2 - 1])
    assert (got.clip_min, got.clip_max) == (-1.0, 1.0)
    assert got.scale == float(np.float32(1.0) / np.float32(32767)) and got.offset == 0


@pytest.mark.parametrize("case", sorted(ADVERSARIAL))
def test_hfmg_16_bit_adversarial(case, histogram_path):
    got = run(HFMGCalibrator(HFMGSpec(num_of_bins=1024, bits=16)), ADVERSARIAL[case]())
    assert math.isfinite(got.scale) and got.scale > 0
    assert -32768 <= got.offset <= 32767
    if case == "zeros":
        assert (got.scale, got.offset) == (1.0, -32768)
