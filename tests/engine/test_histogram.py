"""quant.histogram: the compiled loops and the torch / numpy code give the same counts, those of
torch.histc (HFMG's rule) and of an independent float32 reference (IFMR's clamped rule), and the same
closed-form losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from quant import histogram
from quant.histogram import HistcCounts, bin_index, clamped_counts, extremes, histc_counts


def test_the_compiled_loops_are_built():
    # the performance figures of docs/benchmarks.md depend on them; an install without a C compiler
    # falls back to the torch and numpy code (same results) and fails only this test
    assert histogram.NATIVE


def _data(kind: str, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=g)
    return {"normal": x, "relu": torch.relu(x) * 2, "laplace": torch.sign(x) * x.abs() ** 2}[kind]


def _edge_values(lo: float, hi: float, bins: int) -> torch.Tensor:
    """Every bin edge of histc's range and the float32 values just either side of it."""
    edges = torch.linspace(lo, hi, bins + 1)
    near = [torch.nextafter(edges, torch.full_like(edges, d)) for d in (-math.inf, math.inf)]
    return torch.cat((edges, *near)).clamp(lo, hi)


HISTC_CASES = {
    "normal": lambda: _data("normal", 50_000, 3),
    "relu": lambda: _data("relu", 81_920, 4),
    "odd_size": lambda: _data("laplace", 4_097, 5),
    "narrow": lambda: torch.rand(20_000, generator=torch.Generator().manual_seed(6)) * 1e-3 + 1000.0,
    "wide": lambda: _data("normal", 20_000, 7) * 1e6,
    "huge": lambda: _data("normal", 5_000, 9) * 1e34,  # (x - lo) * bins overflows past float32's max
    "subnormal_step": lambda: torch.rand(5_000, generator=torch.Generator().manual_seed(10)) * 1e-36,
    "constant": lambda: torch.full((3000,), 2.5),
    "max_values": lambda: torch.cat((_data("normal", 1000, 8), torch.full((4000,), 9.0))),
    "edges": lambda: _edge_values(-0.1234567, 7.654321, 4096),
    "edges_coarse": lambda: _edge_values(-1.0, 3.0, 64),
    "edges_large": lambda: _edge_values(-0.5, 2.5, 4096).repeat(6),
    "one": lambda: torch.tensor([0.75]),
}


@pytest.mark.parametrize("bins", [64, 1000, 4096])
@pytest.mark.parametrize("case", sorted(HISTC_CASES))
def test_histc_counts_are_torch_histc(case, bins, histogram_path):
    x = HISTC_CASES[case]()
    lo, hi = x.min().item(), x.max().item()
    ranges = [(lo, hi), (lo - 0.5, hi), (lo, hi * 1.5 + 1.0), (lo - abs(lo) * 2 - 1.0, hi + 2.25)]
    for a, b in ((float(np.float32(a)), float(np.float32(b))) for a, b in ranges):
        if a > lo or b < hi or not b > a:  # HFMG's range always holds the batch
            continue
        got = histc_counts(x, bins, a, b)
        assert got.dtype == torch.int64 and got.shape == (bins,)
        if torch.isinf((x - a) * bins).any():  # histc overflows float32 and bins garbage: the true histogram
            expected = np.histogram(x.double().numpy(), bins, (a, b))[0]
            assert got.sum() == x.numel() and np.abs(got.numpy() - expected).sum() <= x.numel() // 500, (a, b)
            continue
        assert torch.equal(got, torch.histc(x, bins, a, b).to(torch.int64)), (a, b)


def test_histc_counts_add_up_batch_by_batch(histogram_path):
    batches = [_data("relu", 5000 + 999 * i, 20 + i) for i in range(4)] + [HISTC_CASES["huge"]()]
    lo = min(float(b.min()) for b in batches)
    hi = max(float(b.max()) for b in batches)
    lo, hi = float(np.float32(lo)), float(np.float32(hi))
    counter = HistcCounts(4096, lo, hi)
    expected = torch.zeros(4096, dtype=torch.int64)
    for b in batches:
        counter.add(b)
        expected += histc_counts(b, 4096, lo, hi)
    assert torch.equal(counter.counts, expected) and counter.counts.sum() == sum(b.numel() for b in batches)


def ref_clamped(x: torch.Tensor, lo: float, hi: float, bins: int) -> np.ndarray:
    """The clamped rule in numpy float32, each operation rounded on its own."""
    step = bins / (hi - lo)
    with np.errstate(over="ignore", invalid="ignore"):  # the infinities case
        p = x.numpy() * np.float32(step)
        p = p + np.float32(1.0 - lo * step)
    return np.bincount(np.clip(p, 0, bins + 1).astype(np.int32), minlength=bins + 2)


CLAMPED_CASES = {
    "inside": (lambda: _data("normal", 30_000, 1), -5.0, 5.0),
    "both_ends_out": (lambda: _data("laplace", 30_001, 2), -0.7, 1.9),
    "relu_zeros_at_lo": (lambda: _data("relu", 65_536, 3), 0.0, 9.0),
    "edges": (lambda: _edge_values(-0.25, 3.0, 1024), -0.25, 3.0),
    "infinities": (lambda: torch.tensor([-math.inf, -1e38, 0.5, 1e38, math.inf] * 7), -1.0, 1.0),
    "tiny": (lambda: torch.tensor([0.1]), 0.0, 1.0),
}


@pytest.mark.parametrize("bins", [256, 1 << 14])
@pytest.mark.parametrize("case", sorted(CLAMPED_CASES))
def test_clamped_counts_are_the_float32_rule(case, bins, histogram_path):
    make, lo, hi = CLAMPED_CASES[case]
    x = make()
    got = clamped_counts(x, lo, hi, bins)
    assert got.dtype == torch.int64 and got.shape == (bins + 2,)
    np.testing.assert_array_equal(got.numpy(), ref_clamped(x, lo, hi, bins))
    np.testing.assert_array_equal(got.numpy(), np.bincount(bin_index(x, lo, hi, bins).numpy(), minlength=bins + 2))


def test_views_and_inference_tensors(histogram_path):
    base = _data("relu", 40_000, 5)
    with torch.inference_mode():
        x = base * 1.0
        strided = x[::3]
        assert torch.equal(histc_counts(strided, 4096, 0.0, float(x.max())),
                           torch.histc(strided, 4096, 0.0, float(x.max())).to(torch.int64))
        assert clamped_counts(strided, 0.0, 1.0, 100).sum() == strided.numel()


def test_native_loop_stays_inside_its_counters_on_any_data():
    # nan never reaches the calibrators' counts (they check first); the loop must still not write
    # outside its counters: nan goes to an end bin
    x = torch.tensor([math.nan, 0.5, -math.nan, math.inf, -math.inf] * 101)
    counts = histc_counts(x, 16, 0.0, 1.0)
    assert counts.sum() == x.numel()
    assert clamped_counts(x, 0.0, 1.0, 16).sum() == x.numel()


def test_native_loop_checks_its_buffers():
    native = histogram._native
    x = np.zeros(10, dtype=np.float32)
    with pytest.raises(TypeError, match="values: expected a contiguous buffer of float32"):
        native.histc(np.zeros(10), np.zeros(4, dtype=np.int64), 0.0, 1.0, 0.0, 0)
    with pytest.raises(TypeError, match="counts: expected a contiguous buffer of int64"):
        native.histc(x, np.zeros(4, dtype=np.int32), 0.0, 1.0, 0.0, 0)
    with pytest.raises(TypeError, match="counts"):
        native.histc(x, np.zeros(4, dtype=np.uint64), 0.0, 1.0, 0.0, 0)
    with pytest.raises(ValueError, match="rule 7"):
        native.histc(x, np.zeros(4, dtype=np.int64), 0.0, 1.0, 0.0, 7)
    with pytest.raises(ValueError, match="counts: 0 bins"):
        native.clamped(x, np.zeros(2, dtype=np.int64), 1.0, 0.0)
    readonly = np.zeros(4, dtype=np.int64)
    readonly.flags.writeable = False
    with pytest.raises((TypeError, ValueError, BufferError)):
        native.histc(x, readonly, 0.0, 1.0, 0.0, 0)
    with pytest.raises((TypeError, ValueError, BufferError)):
        native.histc(np.zeros((4, 4), dtype=np.float32)[:, 0], np.zeros(4, dtype=np.int64), 0.0, 1.0, 0.0, 0)


def _random_quantizers(rows: int, seed: int, lo: float, hi: float, bits: int):
    """Asymmetric and symmetric quantizers over parts of and beyond ``[lo, hi]``, some with clip bounds
    inside the histogram (IFMR's candidates), some without (HFMG's)."""
    from quant import qmath

    g = torch.Generator().manual_seed(seed)
    a = lo + (hi - lo) * (torch.rand(rows, generator=g) * 1.4 - 0.2)
    b = a + (hi - lo) * (torch.rand(rows, generator=g) * 1.2 + 0.01)
    scale, offset = qmath.asymmetric_scale_offset(b, a, bits)
    sym = torch.arange(rows) % 3 == 0
    scale = torch.where(sym, qmath.symmetric_scale(b, -b, bits), scale)
    offset = torch.where(sym, torch.zeros_like(offset), offset)
    clipped = torch.arange(rows) % 2 == 0
    inf = torch.full((rows,), math.inf)
    c = torch.where(clipped, b, inf)
    low = torch.where(clipped, torch.minimum(a, torch.zeros(rows)), -inf)
    return [t.to(torch.float32).numpy() for t in (c, scale, offset.float(), low)]


@pytest.mark.parametrize("bits", [8, 6])
@pytest.mark.parametrize("bins", [64, 4096, 1 << 14])
def test_compiled_losses_are_the_numpy_losses(bins, bits, monkeypatch):
    from quant.histogram import HistogramMoments

    g = torch.Generator().manual_seed(bins + bits)
    hist = torch.rand(bins, generator=g, dtype=torch.float64) * 50
    hist[: bins // 8] = 0
    hist[bins // 3] = 1e5  # a spike, like a ReLU's zeros
    lo, hi = -0.75, 3.5
    quantizers = _random_quantizers(150, bins, lo, hi, bits)
    moments = HistogramMoments(hist.numpy(), lo, hi)
    native = moments.losses(*quantizers, bits)
    monkeypatch.setattr(histogram, "_native", None)
    numpy_moments = HistogramMoments(hist.numpy(), lo, hi)
    reference = numpy_moments.losses(*quantizers, bits)
    np.testing.assert_array_equal(moments.tables, numpy_moments.tables)  # running sums in the same order
    for total in ("total0", "total1", "total2"):
        assert getattr(moments, total) == pytest.approx(getattr(numpy_moments, total), rel=1e-13)
    assert native.shape == reference.shape == (150,)
    # the same operations; only the order of one sum differs (numpy's is pairwise)
    np.testing.assert_allclose(native, reference, rtol=1e-9, atol=1e-12 * float(np.abs(reference).max()))
    assert int(np.argmin(native)) == int(np.argmin(reference))


def test_compiled_losses_check_their_buffers():
    native = histogram._native
    tables = np.zeros((3, 8))
    quantizers = np.ones((4, 2), dtype=np.float32)
    out = np.zeros(2)
    native.losses(tables, quantizers, out, 0.0, 1.0, 0.0, 0.0, 0.0, -128, 127)
    with pytest.raises(ValueError, match="tables of 3 x bins and quantizers of 4 x rows"):
        native.losses(tables, quantizers, np.zeros(3), 0.0, 1.0, 0.0, 0.0, 0.0, -128, 127)
    with pytest.raises(ValueError, match="tables of 3 x bins"):
        native.losses(np.zeros(7), quantizers, out, 0.0, 1.0, 0.0, 0.0, 0.0, -128, 127)
    with pytest.raises(TypeError, match="tables: expected a contiguous buffer of float64"):
        native.losses(tables.astype(np.float32), quantizers, out, 0.0, 1.0, 0.0, 0.0, 0.0, -128, 127)
    with pytest.raises(TypeError, match="quantizers: expected a contiguous buffer of float32"):
        native.losses(tables, quantizers.astype(np.float64), out, 0.0, 1.0, 0.0, 0.0, 0.0, -128, 127)
    with pytest.raises(ValueError, match="levels 5 to 5"):
        native.losses(tables, quantizers, out, 0.0, 1.0, 0.0, 0.0, 0.0, 5, 5)
    with pytest.raises(ValueError, match="tables of 3 x len"):
        native.moments(np.zeros(8), np.zeros((2, 8)))


EXTREMES_CASES = {
    "relu": lambda: _data("relu", 300_000, 11),  # the chunked torch path, runs of zeros
    "normal_small": lambda: _data("normal", 3000, 12),  # topk on everything
    "odd_size": lambda: _data("laplace", 300_001, 16),  # a partial last chunk
    "ties": lambda: torch.randint(-3, 4, (50_000,), generator=torch.Generator().manual_seed(13)).float(),
    "infinities": lambda: torch.cat((_data("normal", 9000, 14), torch.tensor([math.inf, -math.inf] * 3))),
    "ascending": lambda: torch.arange(200_000, dtype=torch.float32),  # every chunk beats the last
    "descending": lambda: torch.arange(200_000, 0, -1, dtype=torch.float32),
    "constant": lambda: torch.full((20_000,), -1.5),
    "tiny_and_huge": lambda: torch.tensor([1e-45, -1e-45, 3.4e38, -3.4e38, 1e-38] * 999),
}


@pytest.mark.parametrize("k", [1, 14, 64, 65])
@pytest.mark.parametrize("case", sorted(EXTREMES_CASES))
def test_extremes_are_topk(case, k, histogram_path):
    x = EXTREMES_CASES[case]()
    top, bottom, counts = extremes(x, k)
    assert counts is None
    assert torch.equal(top, torch.topk(x, k, sorted=True).values)
    assert torch.equal(bottom, torch.topk(x, k, largest=False, sorted=True).values)
    finite = x[x.isfinite()]
    lo, hi = float(finite.min()) / 2 - 0.5, float(finite.max()) / 2
    top2, bottom2, counts = extremes(x, k, (lo, hi, 1000))
    assert torch.equal(top2, top) and torch.equal(bottom2, bottom)
    assert torch.equal(counts, clamped_counts(x, lo, hi, 1000))


def test_extremes_of_signed_zeros(histogram_path):
    # -0.0 and 0.0 are equal to topk, which may return either; the compiled selection orders -0.0 first
    x = torch.tensor([0.0, -0.0, 1.0, -1.0] * 3000)
    top, bottom, _ = extremes(x, 10)
    assert torch.equal(top, torch.topk(x, 10).values) and torch.equal(bottom, torch.topk(x, 10, largest=False).values)


@pytest.mark.parametrize("where", [0, 77_777, 299_999])
def test_extremes_carry_a_nan_into_the_top(where, histogram_path):
    x = _data("relu", 300_000, 15)
    x[where] = math.nan
    for counts in (None, (0.0, 5.0, 64)):
        top, bottom, got = extremes(x, 14, counts)
        assert math.isnan(top[0].item()) and got is None


def test_compiled_extremes_check_their_buffers():
    native = histogram._native
    x = np.zeros(10, dtype=np.float32)
    four = np.zeros(4, dtype=np.float32)
    with pytest.raises(ValueError, match="top and bottom of 1 to min"):
        native.extremes(x, four, np.zeros(3, dtype=np.float32))
    with pytest.raises(ValueError, match="top and bottom of 1 to min"):
        native.extremes(x[:3], four, four.copy())
    with pytest.raises(ValueError, match="top and bottom of 1 to min"):
        native.extremes(np.zeros(100, dtype=np.float32), np.zeros(65, dtype=np.float32), np.zeros(65, dtype=np.float32))
    with pytest.raises(ValueError, match="counts of more than 2 bins"):
        native.extremes(x, four, four.copy(), np.zeros(2, dtype=np.int64), 1.0, 0.0)
    with pytest.raises(TypeError, match="top: expected a contiguous buffer of float32"):
        native.extremes(x, np.zeros(4), four)
    assert native.extremes(np.array([1.0, math.nan, 2.0, 3.0], dtype=np.float32), four[:2], four[2:].copy()) is True
