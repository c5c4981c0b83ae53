"""IFMR and HFMG against straightforward reference implementations of AMCT's IFMR and HFMG."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from quant import qmath
from quant.core import HFMGSpec, IFMRSpec
from quant.calibrators import (HFMGCalibrator, IFMRCalibrator, NonFiniteError,
                               _candidate_qparams, greedy_ranges, ifmr_ratios, percentile_index)
from quant.histogram import HistogramMoments, histogram_losses, rebin


# ------------------------------------------------------------------ IFMR reference (AMCT style)

def ref_index(n: int, p: float) -> int:
    p32 = float(np.float32(p))
    return 1 if 1.0 - p32 < 1.1920928955078125e-07 else n - math.floor(p32 * n)


def ref_ifmr(batches: list[torch.Tensor], p: IFMRSpec) -> tuple[list[float], list[float]]:
    """Concatenate everything, percentiles by sorting, full-data MSE per candidate."""
    x = torch.cat([b.reshape(-1) for b in batches]).float()
    ordered = torch.sort(x).values
    n = x.numel()
    mx = ordered[n - ref_index(n, p.max_percentile)].item()
    mn = ordered[ref_index(n, p.min_percentile) - 1].item()
    mx, mn = max(mx, 0.0), min(mn, 0.0)
    divisor = 2 ** (p.bits - 1) - (0 if -mn > mx else 1)  # symmetric: AMCT's bound_negative
    if not p.asymmetric:
        mx = max(mx, -mn)
    ratios = torch.arange(p.search_range_start, p.search_range_end, p.search_step, dtype=torch.float32)
    losses, scales = [], []
    for r in ratios:
        c = torch.tensor(mx, dtype=torch.float32) * r
        if p.asymmetric:
            scale = (c - mn) / (2 ** p.bits - 1)
            scale = torch.tensor(1.0) if scale < 1.1920929e-7 else scale
            offset = torch.round(-(2 ** (p.bits - 1)) - torch.tensor(mn) / scale)
            lo = torch.tensor(mn)
        else:
            scale = c / divisor
            scale = torch.tensor(1.0) if scale < 1.1920929e-7 else scale
            offset, lo = torch.tensor(0.0), -c
        clipped = torch.minimum(torch.maximum(x, lo), c)
        q = torch.clamp(torch.round(clipped / scale) + offset, -(2 ** (p.bits - 1)), 2 ** (p.bits - 1) - 1)
        losses.append(((x - (q - offset) * scale).double() ** 2).mean().item())
        scales.append(scale.item())
    return losses, scales


def run(cal, batches):
    for b in batches:
        cal.observe(b)
    return cal.compute()


class StreamingIFMR(IFMRCalibrator):
    EXACT_LIMIT = 0  # always the histogram path


def test_percentile_index():
    for n in (1, 7, 1000, 999_999, 16_000_000):
        for p in (0.999999, 0.99, 0.5001, 1.0, 0.9999999):
            assert percentile_index(n, p) == max(1, ref_index(n, p))
    assert percentile_index(16_000_000, 0.999999) == 17  # the float32 value of 0.999999 is below it
    assert percentile_index(10, 1.0) == 1


def test_default_candidates_are_60_ratios():
    # the defaults are the proto's float32 values (0.699999988, 1.29999995, 0.00999999978), as AMCT reads them
    r = ifmr_ratios(IFMRSpec())
    assert r.dtype == torch.float32 and len(r) == 60
    assert r[0].item() == pytest.approx(0.7) and r[-1].item() == pytest.approx(1.29)
    assert len(ifmr_ratios(IFMRSpec(search_range_start=0.8, search_range_end=1.2, search_step=0.02))) == 20


def _data(kind: str, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=g)
    return {"normal": x, "relu": torch.relu(x) * 2, "laplace": torch.sign(x) * x.abs() ** 2,
            "shifted": x * 0.1 + 3.0}[kind]


@pytest.mark.parametrize("asymmetric", [True, False])
@pytest.mark.parametrize("kind", ["normal", "relu", "laplace", "shifted"])
def test_ifmr_small_data_is_exactly_amct(kind, asymmetric):
    p = IFMRSpec(asymmetric=asymmetric, max_percentile=0.999, min_percentile=0.999)
    batches = [_data(kind, 3000, s) for s in range(3)]
    got = run(IFMRCalibrator(p, num_batches=3), batches)
    losses, scales = ref_ifmr(batches, p)
    assert got.scale == scales[int(np.argmin(losses))]


@pytest.mark.parametrize("asymmetric", [True, False])
@pytest.mark.parametrize("kind", ["normal", "relu", "laplace"])
def test_ifmr_streaming_candidate_within_0p1_percent(kind, asymmetric, histogram_path):
    p = IFMRSpec(asymmetric=asymmetric)
    batches = [_data(kind, 60_000, s) for s in range(2)]
    assert_within_0p1_percent(run(StreamingIFMR(p, num_batches=2), batches), batches, p)


def assert_within_0p1_percent(got, batches: list[torch.Tensor], p: IFMRSpec) -> None:
    """``got`` is one of the exact search's candidates, with an MSE within 0.1% of its best."""
    losses, scales = ref_ifmr(batches, p)
    chosen = int(np.argmin([abs(s - got.scale) for s in scales]))
    assert scales[chosen] == got.scale
    assert losses[chosen] <= min(losses) * 1.001


ADVERSARIAL = {
    "zeros": lambda: [torch.zeros(5000), torch.zeros(5000)],
    "constant": lambda: [torch.full((5000,), 2.5), torch.full((5000,), 2.5)],
    "outlier": lambda: [torch.cat([_data("normal", 4999, 0), torch.tensor([1e6])]), _data("normal", 5000, 1)],
    # (max - min) * 4096 overflows float32
    "float32_edge": lambda: [torch.cat([_data("normal", 4999, 0), torch.tensor([1e37])]),
                             torch.cat([_data("normal", 4999, 1), torch.tensor([-1e37])])],
    "negative": lambda: [-_data("relu", 5000, 0) - 0.1, -_data("relu", 5000, 1) - 0.1],
    "clip_bound": lambda: [torch.tensor([1.0, -1.0] * 2500), torch.tensor([0.999999, -0.999999] * 2500)],
}


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("asymmetric", [True, False])
@pytest.mark.parametrize("case", sorted(ADVERSARIAL))
def test_ifmr_adversarial(case, asymmetric, streaming, histogram_path):
    p = IFMRSpec(asymmetric=asymmetric)
    batches = ADVERSARIAL[case]()
    cls = StreamingIFMR if streaming else IFMRCalibrator
    got = run(cls(p, num_batches=2), batches)
    losses, scales = ref_ifmr(batches, p)
    assert math.isfinite(got.scale) and got.scale > 0
    if case == "float32_edge" and streaming:
        # the histogram's closed-form loss sums terms of about 1e74 whose differences between candidates
        # lie below float64's resolution there (1e58): the pick among them is not meaningful, and the
        # streaming path promises a finite quantizer over the searched range only (the exact path, used
        # below EXACT_LIMIT values, finds the best candidate: the case above with streaming=False)
        assert got.clip_max >= 0.7 * 1e37 * 0.999 and (asymmetric or got.clip_min <= -0.7 * 1e37 * 0.999)
        return
    chosen = int(np.argmin([abs(s - got.scale) for s in scales]))
    assert losses[chosen] <= min(losses) * 1.001 + 1e-12
    if case == "outlier":  # 10,000 values: k = 1 at the default percentile, the outlier is max0
        assert got.clip_max >= 1e6 * 0.7
    if case == "zeros":
        assert got.scale == 1.0


@pytest.mark.parametrize("streaming", [False, True])
def test_ifmr_percentile_drops_an_outlier(streaming):
    p = IFMRSpec(max_percentile=0.999, min_percentile=0.999)
    batches = ADVERSARIAL["outlier"]()
    got = run((StreamingIFMR if streaming else IFMRCalibrator)(p, num_batches=2), batches)
    assert got.clip_max < 10.0


def test_ifmr_unequal_batches_keep_exact_percentiles():
    p = IFMRSpec(max_percentile=0.99, min_percentile=0.99)
    batches = [_data("normal", 100_000, 0), _data("normal", 300_000, 1)]  # second batch larger than announced
    cal = StreamingIFMR(p, num_batches=2)
    for b in batches:
        cal.observe(b)
    ordered = torch.sort(torch.cat(batches)).values
    n = ordered.numel()
    mx, mn = cal.percentiles()
    assert mx == pytest.approx(ordered[n - ref_index(n, 0.99)].item(), abs=2e-3)
    assert mn == pytest.approx(ordered[ref_index(n, 0.99) - 1].item(), abs=2e-3)


@pytest.mark.parametrize("cls", [IFMRCalibrator, StreamingIFMR, HFMGCalibrator])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_values_are_refused(cls, bad, histogram_path):
    x = _data("normal", 20_000, 0)
    x[1234] = bad
    cal = cls(IFMRSpec() if cls is not HFMGCalibrator else HFMGSpec(), num_batches=2)
    cal.observe(_data("normal", 20_000, 1))
    with pytest.raises(NonFiniteError) as info:  # IFMR checks a buffered batch when it uses the buffer
        cal.observe(x)
        cal.compute()
    assert info.value.observation == 1


@pytest.mark.parametrize("kind", ["relu", "laplace"])
def test_ifmr_histogram_is_the_data_over_its_range(kind, histogram_path):
    batches = [_data(kind, 20_000, s) for s in range(8)]
    cal = IFMRCalibrator(IFMRSpec(), num_batches=8)
    run(cal, batches)
    x = torch.cat(batches).numpy()
    ref = np.histogram(x, bins=cal.BINS, range=(cal._lo, cal._hi))[0]
    tails = sum(t.numel() for t in (*cal._tail_hi, *cal._tail_lo))
    assert cal._hist.sum().item() + tails == x.size
    assert np.abs(cal._hist.numpy() - ref).sum() <= 2 * tails + x.size // 500


@pytest.mark.parametrize("asymmetric", [True, False])
@pytest.mark.parametrize("bits", [8, 6])
def test_histogram_losses_integrate_the_uniform_density(asymmetric, bits, histogram_path):
    # reference: 64 points per bin, fake-quantized by AMCT's quantization formulas
    g = torch.Generator().manual_seed(bits)
    bins, lo, hi = 512, -1.3, 4.1
    hist = torch.rand(bins, generator=g, dtype=torch.float64) * 100
    hist[:60] = 0
    p = IFMRSpec(asymmetric=asymmetric, bits=bits)
    c, scale, offset, low = _candidate_qparams(p, 3.0, -1.0 if asymmetric else -3.0)
    got = histogram_losses(hist, lo, hi, c, scale, offset, low, bits)
    sub = 64
    x = (lo + (torch.arange(bins * sub, dtype=torch.float64) + 0.5) / sub * (hi - lo) / bins).float()
    weight = hist.repeat_interleave(sub) / sub
    qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    for i in range(len(c)):
        clipped = torch.minimum(torch.maximum(x, low[i]), c[i])
        q = torch.clamp(torch.round(clipped / scale[i]) + offset[i], qmin, qmax)
        ref = float((((x - (q - offset[i]) * scale[i]).double() ** 2) * weight).sum())
        assert got[i].item() == pytest.approx(ref, rel=2e-5)


class UnbufferedIFMR(IFMRCalibrator):
    BUFFER_CAP = 0  # every batch is processed alone


class SmallBufferIFMR(IFMRCalibrator):
    BUFFER_CAP = 50_000


def _state(cal: IFMRCalibrator):
    return cal.compute(), cal._hist.clone(), (cal._lo, cal._hi)


@pytest.mark.parametrize("asymmetric", [True, False])
def test_buffered_batches_are_one_batch_of_their_concatenation(asymmetric):
    p = IFMRSpec(asymmetric=asymmetric)
    batches = [_data("laplace", 20_000, s) for s in range(8)]  # 160,000 values: past EXACT_LIMIT
    buffered = IFMRCalibrator(p, num_batches=8)
    whole = UnbufferedIFMR(p, num_batches=1)
    run(buffered, batches)
    whole.observe(torch.cat(batches))
    got, want = _state(buffered), _state(whole)
    assert got[0] == want[0] and torch.equal(got[1], want[1]) and got[2] == want[2]


def test_each_flush_is_one_batch_of_what_it_held():
    p = IFMRSpec()
    batches = [_data("relu", 20_000, s) for s in range(8)]
    small = SmallBufferIFMR(p, num_batches=8)  # 50,000 values: a flush every 2 batches
    pairs = UnbufferedIFMR(p, num_batches=4)
    run(small, batches)
    run(pairs, [torch.cat(batches[i:i + 2]) for i in range(0, 8, 2)])
    got, want = _state(small), _state(pairs)
    assert got[0] == want[0] and torch.equal(got[1], want[1]) and got[2] == want[2]


@pytest.mark.parametrize("cls", [IFMRCalibrator, SmallBufferIFMR, UnbufferedIFMR])
@pytest.mark.parametrize("kind", ["normal", "relu", "laplace"])
def test_buffered_candidate_within_0p1_percent(cls, kind):
    p = IFMRSpec()
    batches = [_data(kind, 8_000, s) for s in range(16)]
    assert_within_0p1_percent(run(cls(p, num_batches=16), batches), batches, p)


def test_buffer_never_holds_more_than_its_cap():
    cal = SmallBufferIFMR(IFMRSpec(), num_batches=200)
    for s in range(200):
        cal.observe(_data("normal", 7_000, s))
        assert cal._filled <= cal.BUFFER_CAP and cal._buffer.numel() <= cal.BUFFER_CAP
    assert cal.n == 200 * 7_000
    cal.compute()
    assert sum(t.numel() for t in (*cal._tail_hi, *cal._tail_lo)) <= cal.TAIL_CAP


@pytest.mark.parametrize("cls", [SmallBufferIFMR, UnbufferedIFMR])
@pytest.mark.parametrize("growth", [1.0, 1.7, 40.0])
def test_every_value_is_counted_once(cls, growth, histogram_path):
    # later batches reach past the range fixed at the first flush: a few values (from the kept
    # extremes) or, with growth 40, more than the kept extremes (a pass over the data)
    cal = cls(IFMRSpec(max_percentile=0.999, min_percentile=0.999), num_batches=12)
    batches = [_data("laplace", 10_000, s) * (growth if s >= 5 else 1.0) for s in range(12)]
    run(cal, batches)
    tails = sum(t.numel() for t in (*cal._tail_hi, *cal._tail_lo))
    assert cal._hist.sum().item() + tails + cal._moments_hi[0] + cal._moments_lo[0] == cal.n == 120_000
    if growth == 40.0:
        assert cal._moments_hi[0] > 0 and cal._moments_lo[0] > 0  # past TAIL_CAP: spilled to moments


@pytest.mark.parametrize("cls", [IFMRCalibrator, SmallBufferIFMR, UnbufferedIFMR])
def test_non_finite_buffered_batch_is_named(cls, histogram_path):
    cal = cls(IFMRSpec(), num_batches=10)
    batches = [_data("normal", 7_000, s) for s in range(10)]
    batches[6][100] = float("nan")
    with pytest.raises(NonFiniteError) as info:
        run(cal, batches)
    assert info.value.observation == 6


def test_first_nonfinite_scans_what_is_held():
    cal = IFMRCalibrator(IFMRSpec(), num_batches=4)
    batches = [_data("normal", 7_000, s) for s in range(4)]
    batches[2][5] = float("-inf")
    for b in batches:
        cal.observe(b)
    assert cal.first_nonfinite() == 2


# ------------------------------------------------------------------ HFMG reference

def ref_rebin(hist: np.ndarray, old: tuple[float, float], new: tuple[float, float]) -> np.ndarray:
    bins = len(hist)
    out = np.zeros(bins)
    ow, nw = (old[1] - old[0]) / bins, (new[1] - new[0]) / bins
    for i, count in enumerate(hist):
        a, b = old[0] + i * ow, old[0] + (i + 1) * ow
        for j in range(bins):
            c, d = new[0] + j * nw, new[0] + (j + 1) * nw
            overlap = max(0.0, min(b, d) - max(a, c))
            out[j] += count * overlap / ow
    return out


def test_rebin_matches_reference():
    g = np.random.default_rng(0)
    hist = g.integers(0, 50, size=32).astype(float)
    got = rebin(torch.tensor(hist), -1.0, 2.0, -3.0, 2.5).numpy()
    np.testing.assert_allclose(got, ref_rebin(hist, (-1.0, 2.0), (-3.0, 2.5)), rtol=1e-9, atol=1e-9)
    assert got.sum() == pytest.approx(hist.sum())


def test_hfmg_merge_matches_reference():
    bins = 64
    batches = [torch.randn(4000, generator=torch.Generator().manual_seed(s)) * (1 + s) for s in range(4)]
    cal = HFMGCalibrator(HFMGSpec(num_of_bins=bins))
    for b in batches:
        cal.observe(b)
    lo, hi = batches[0].min().item(), batches[0].max().item()
    ref = np.histogram(batches[0].numpy(), bins=bins, range=(lo, hi))[0].astype(float)
    for b in batches[1:]:
        nlo, nhi = min(lo, b.min().item()), max(hi, b.max().item())
        if (nlo, nhi) != (lo, hi):
            ref = ref_rebin(ref, (lo, hi), (nlo, nhi))
            lo, hi = nlo, nhi
        ref += np.histogram(b.numpy(), bins=bins, range=(lo, hi))[0]
    assert (cal.min, cal.max) == (lo, hi)
    assert np.abs(cal.hist.numpy() - ref).sum() <= 1e-3 * ref.sum()


def test_hfmg_histogram_is_the_batch_by_batch_merge(histogram_path):
    # the range widening now and then: the histogram is exactly the one made batch by batch with
    # torch.histc and HFMG's re-binning
    bins = 512
    batches = [_data("relu", 3000 + 17 * i, i) * (1.0 + 0.05 * (i % 5)) for i in range(14)]
    cal = HFMGCalibrator(HFMGSpec(num_of_bins=bins))
    hist, lo, hi = None, 0.0, 0.0
    for b in batches:
        cal.observe(b)
        if hist is None:
            hist, lo, hi = torch.zeros(bins, dtype=torch.float64), b.min().item(), b.max().item()
        elif b.min().item() < lo or b.max().item() > hi:
            nlo, nhi = min(lo, b.min().item()), max(hi, b.max().item())
            hist, lo, hi = rebin(hist, lo, hi, nlo, nhi), nlo, nhi
        hist += torch.histc(b, bins, lo, hi).double()
        assert torch.equal(cal.hist, hist)


def ref_dense_l2(hist: torch.Tensor, lo_edge: float, width: float, scale: float, offset: int, bits: int,
                 sub: int = 512) -> float:
    """L2 of fake-quantizing the histogram (uniform density in each bin), in float64 at ``sub``
    points per bin: integer-domain clamp only, as HFMG's fake-quant."""
    x = lo_edge + (torch.arange(hist.numel() * sub, dtype=torch.float64) + 0.5) / sub * width
    q = torch.clamp(torch.round(x / scale) + offset, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return float((((x - (q - offset) * scale) ** 2) * hist.repeat_interleave(sub) / sub).sum())


@pytest.mark.parametrize("bits", [8, 6])
@pytest.mark.parametrize("asymmetric", [True, False])
@pytest.mark.parametrize("kind", ["normal", "relu", "laplace", "shifted"])
def test_hfmg_scores_are_the_dense_integral(kind, asymmetric, bits, histogram_path):
    cal = HFMGCalibrator(HFMGSpec(num_of_bins=256, asymmetric=asymmetric, bits=bits))
    for b in [_data(kind, 20_000, s) * (1 + 0.3 * s) for s in range(3)]:
        cal.observe(b)
    width = (cal.max - cal.min) / cal.hist.numel()
    ranges = greedy_ranges(cal.hist)[::7]
    got = cal._scores(HistogramMoments(cal.hist.numpy(), cal.min, cal.max), ranges)
    for (left, right), score in zip(ranges.tolist(), got.tolist()):
        lo, hi = cal.min + left * width, cal.min + (right + 1) * width
        if asymmetric:
            scale, offset = qmath.asymmetric_scale_offset(hi, lo, bits)
        else:
            scale, offset = qmath.symmetric_scale(hi, lo, bits), torch.tensor(0)
        ref = ref_dense_l2(cal.hist, cal.min, width, scale.item(), int(offset), bits)
        assert score == pytest.approx(ref, rel=2e-5)


def ref_greedy(hist: list[float]) -> list[tuple[int, int]]:
    left, right = 0, len(hist) - 1
    out = [(left, right)]
    while right - left + 1 > max(1, len(hist) // 4):
        if hist[left] <= hist[right]:
            left += 1
        else:
            right -= 1
        out.append((left, right))
    return out


@pytest.mark.parametrize("seed", range(20))
def test_greedy_ranges_match_the_loop(seed):
    g = torch.Generator().manual_seed(seed)
    hist = torch.randint(0, 4, (int(torch.randint(4, 300, (1,), generator=g)),), generator=g).double()
    assert [tuple(r) for r in greedy_ranges(hist).tolist()] == ref_greedy(hist.tolist())


def ref_hfmg_l2(hist: np.ndarray, lo_edge: float, width: float, rng: tuple[float, float], asym: bool) -> float:
    """L2 of quantizing the histogram (uniform density in each bin, 8 points per bin)."""
    if asym:
        scale, offset = qmath.asymmetric_scale_offset(rng[1], rng[0], 8)
    else:
        scale, offset = qmath.symmetric_scale(rng[1], rng[0], 8), torch.tensor(0)
    sub = (np.arange(len(hist) * 8) + 0.5) / 8
    points = torch.tensor(lo_edge + sub * width, dtype=torch.float32)
    fq = qmath.fake_quantize(points, scale, offset, 8)
    return float(((points - fq).double() ** 2 * torch.tensor(np.repeat(hist, 8) / 8)).sum())


@pytest.mark.parametrize("asymmetric", [True, False])
@pytest.mark.parametrize("kind", ["normal", "relu", "laplace"])
def test_hfmg_search_finds_the_reference_optimum(kind, asymmetric):
    batches = [_data(kind, 20_000, s) for s in range(2)]
    cal = HFMGCalibrator(HFMGSpec(num_of_bins=256, asymmetric=asymmetric))
    got = run(cal, batches)
    hist = cal.hist.numpy()
    width = (cal.max - cal.min) / len(hist)
    scores = [ref_hfmg_l2(hist, cal.min, width, (cal.min + l * width, cal.min + (r + 1) * width), asymmetric)
              for l, r in ref_greedy(hist.tolist())]
    mine = ref_hfmg_l2(hist, cal.min, width, (got.clip_min, got.clip_max), asymmetric)
    assert mine <= min(scores) * 1.001


@pytest.mark.parametrize("case", sorted(ADVERSARIAL))
def test_hfmg_adversarial(case, histogram_path):
    got = run(HFMGCalibrator(HFMGSpec(num_of_bins=1024)), ADVERSARIAL[case]())
    assert math.isfinite(got.scale) and got.scale > 0
    assert -128 <= got.offset <= 127
    if case == "zeros":
        assert got.scale == 1.0
    if case == "constant":
        assert got.clip_min <= 0.0 <= got.clip_max and got.clip_max >= 2.5
