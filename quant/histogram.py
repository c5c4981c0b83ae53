"""Histograms of activations: exact bin counts, re-binning, and the closed-form error of quantizing
a histogram. The inner loops of activation calibration (quant.calibrators), run on every layer's input
of every batch (counts) and for every candidate quantizer of every layer (errors).

Counts, two bin rules, each defined by a torch expression below:

- ``HistcCounts`` / ``histc_counts(x, bins, lo, hi)``: ``torch.histc``'s bins (HFMG), for data within
  ``[lo, hi]``;
- ``clamped_counts(x, lo, hi, bins)``: ``bins`` bins over ``[lo, hi)`` plus one below and one from ``hi``
  up (IFMR's histogram, whose range is fixed while the data may leave it).

``extremes(x, k)``: the sorted top-k and bottom-k values (IFMR's percentiles), with the clamped counts
from the same pass.

``HistogramMoments.losses`` scores quantizers on a histogram in closed form (numpy).

On a CPU all of them come from ``quant._histogram``, compiled loops (built at install; optional) that
compute the same float32 and float64 operations in the same order: the same counts and extremes from
one pass over the data (1.1x-2.2x faster than the torch expressions' passes, ``bincount`` and
``topk`` on the demo's layer inputs), and the same losses up to the order of one sum (numpy's is
pairwise; they differ in the last bits; 3x-4x faster than numpy's many small operations). On a small
model these loops are most of calibration's cost (docs/benchmarks.md). The tests compare both paths on
random and adversarial data. Without the compiled loops (no C compiler at install) or for data on a
GPU, the torch and numpy code runs: the same results, slower.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from quant import qmath

try:
    from quant import _histogram as _native
except ImportError:  # installed without a C compiler
    _native = None

__all__ = ["NATIVE", "HistcCounts", "histc_counts", "clamped_counts", "bin_index", "extremes", "rebin",
           "HistogramMoments", "histogram_losses"]

#: whether the compiled loops are available (CPU data then uses them)
NATIVE = _native is not None
#: the most extremes per side the compiled selection keeps (MAX_EXTREMES in the C code); more: torch.topk
NATIVE_EXTREMES = 64

# histc_counts' arithmetic: p = (x - lo) / a; ((x - lo) * a) / b; min(((x - lo) / b) * a, a)
_DIV_STEP, _MUL_DIV, _DIV_MUL = 0, 1, 2
_F32_MAX, _F32_TINY = float(np.finfo(np.float32).max), float(np.finfo(np.float32).tiny)


def _on_native(x: torch.Tensor) -> bool:
    return _native is not None and x.device.type == "cpu" and x.dtype == torch.float32


def _numpy(x: torch.Tensor) -> np.ndarray:
    return x.contiguous().numpy()


class HistcCounts:
    """Running ``torch.histc`` counts (int64, on the CPU) over ``bins`` bins of ``[lo, hi]`` (float32
    values, ``lo < hi``), added batch by batch for 1-d float32 data within the range: the bin of a value
    is ``int((x - lo) * bins / (hi - lo))`` in float32, as in histc's kernel, with the top edge in the
    last bin. The arithmetic is chosen once per range, so adding a batch is one call.

    For a power-of-two ``bins`` (scaling by it is exact, barring overflow and subnormals) multiplying by
    ``bins`` and dividing by ``hi - lo`` is one division by ``(hi - lo) / bins``. Where histc's order
    overflows float32 (``(x - lo) * bins`` past its largest value, and histc's bins are garbage), the
    positions are divided first."""

    def __init__(self, bins: int, lo: float, hi: float) -> None:
        self.bins = bins
        self.lo = float(np.float32(lo))
        self.width = float(np.float32(hi) - np.float32(lo))
        self.fits = self.width * bins <= _F32_MAX  # (hi - lo) * bins is a finite float32
        if self.fits and bins & (bins - 1) == 0 and self.width / bins >= _F32_TINY:
            self.rule, self.a, self.b = _DIV_STEP, self.width / bins, 0.0
        else:
            self.rule, self.a, self.b = _MUL_DIV, float(bins), self.width
        self.counts = torch.zeros(bins, dtype=torch.int64)
        self._out = self.counts.numpy()

    def add(self, x: torch.Tensor) -> None:
        rule = self.rule
        if not self.fits and bool(torch.isinf(torch.sub(x, self.lo).mul_(float(self.bins))).any()):
            rule = _DIV_MUL
        if _on_native(x):
            _native.histc(_numpy(x), self._out, self.lo, self.a, self.b, rule)
            return
        pos = torch.sub(x, self.lo)
        if rule == _DIV_STEP:
            pos.div_(self.a)
        elif rule == _MUL_DIV:
            pos.mul_(self.a).div_(self.b)
        else:
            pos.div_(self.b).mul_(self.a).clamp_(max=self.a)
        index = pos.view(torch.int32)
        index.copy_(pos)  # truncation toward zero (the positions are >= 0), elementwise at the same addresses
        counts = torch.bincount(index, minlength=self.bins)
        if counts.numel() > self.bins:  # values at the top edge
            counts = counts[:self.bins].index_add_(0, torch.tensor([self.bins - 1], device=counts.device),
                                                   counts[self.bins:])
        self.counts += counts.cpu()


def histc_counts(x: torch.Tensor, bins: int, lo: float, hi: float) -> torch.Tensor:
    """``torch.histc(x, bins, lo, hi)`` as int64 counts, for 1-d float32 ``x`` within ``[lo, hi]`` (see
    ``HistcCounts``)."""
    counter = HistcCounts(bins, lo, hi)
    counter.add(x)
    return counter.counts


def _step_shift(lo: float, hi: float, bins: int) -> tuple[float, float]:
    step = bins / (hi - lo)
    return step, 1.0 - lo * step


def bin_index(x: torch.Tensor, lo: float, hi: float, bins: int) -> torch.Tensor:
    """Per value of float32 ``x``, 1 + its bin among ``bins`` equal bins over ``[lo, hi)``; 0 below ``lo``,
    ``bins + 1`` from ``hi`` up (int32): ``clamp(x * step + shift, 0, bins + 1)``, multiply and add
    each rounded to float32."""
    step, shift = _step_shift(lo, hi, bins)
    return x.mul(step).add_(shift).clamp_(0.0, bins + 1.0).to(torch.int32)


def clamped_counts(x: torch.Tensor, lo: float, hi: float, bins: int) -> torch.Tensor:
    """int64 counts of ``bin_index(x, lo, hi, bins)``: ``bins + 2`` of them, for finite ``x``."""
    if _on_native(x):
        counts = torch.zeros(bins + 2, dtype=torch.int64)
        _native.clamped(_numpy(x), counts.numpy(), *_step_shift(lo, hi, bins))
        return counts
    return torch.bincount(bin_index(x, lo, hi, bins), minlength=bins + 2)


def extremes(x: torch.Tensor, k: int, counts: tuple[float, float, int] | None = None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The sorted top-k (descending) and bottom-k (ascending) values of 1-d float32 ``x`` (``1 <= k <=
    len(x)``), as ``torch.topk(sorted=True)`` gives them, and, with ``counts = (lo, hi, bins)``,
    ``clamped_counts(x, lo, hi, bins)`` (else None). A nan in ``x`` comes out as ``top[0]``, with no
    counts.

    For a small k only the k chunks (of 1024 values) with the most extreme maxima (minima) can hold
    them, so the selection runs on those alone. The compiled loop finds each chunk's extremes in the
    counting pass (and no nan), then selects with two small heaps; the torch code takes one amax (amin)
    per chunk, which carries a nan into the top, and runs topk on the chosen chunks."""
    if _on_native(x) and k <= NATIVE_EXTREMES:
        top, bottom = torch.empty(k), torch.empty(k)
        out = None
        if counts is not None:
            lo, hi, bins = counts
            out = torch.zeros(bins + 2, dtype=torch.int64)
            nan = _native.extremes(_numpy(x), top.numpy(), bottom.numpy(), out.numpy(), *_step_shift(lo, hi, bins))
        else:
            nan = _native.extremes(_numpy(x), top.numpy(), bottom.numpy())
        if nan:
            top[0] = math.nan
            return top, bottom, None
        return top, bottom, out
    top, bottom = _topk_extremes(x, k)
    if counts is None or math.isnan(top[0].item()):
        return top, bottom, None
    return top, bottom, clamped_counts(x, *counts)


def _topk_extremes(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    chunk = 1024
    n = x.numel()
    if k * chunk * 4 > n:
        return (torch.topk(x, k, largest=True, sorted=True).values,
                torch.topk(x, k, largest=False, sorted=True).values)
    whole = n // chunk * chunk
    body = x[:whole].view(-1, chunk)
    ends = []
    for largest in (True, False):
        extreme = body.amax(dim=1) if largest else body.amin(dim=1)  # aminmax(dim=1) is far slower
        rows = torch.topk(extreme, k, largest=largest, sorted=False).indices
        candidates = body.index_select(0, rows).reshape(-1)
        if whole < n:
            candidates = torch.cat((candidates, x[whole:]))
        ends.append(torch.topk(candidates, k, largest=largest, sorted=True).values)
    return ends[0], ends[1]


def rebin(hist: torch.Tensor, old_min: float, old_max: float, new_min: float, new_max: float) -> torch.Tensor:
    """Counts of ``hist`` (on the CPU) over [old_min, old_max] re-binned onto as many bins over
    [new_min, new_max], assuming uniform density within each old bin (a zero-width old range is a
    point mass). In numpy: a few operations on a few thousand values."""
    h = hist.numpy().astype(np.float64, copy=False)
    bins = h.size
    new_edges = new_min + np.arange(bins + 1, dtype=np.float64) * ((new_max - new_min) / bins)
    if old_max <= old_min:
        cdf = np.where(new_edges >= old_min, h.sum(), 0.0)
        cdf[-1] = h.sum()
    else:
        pos = (new_edges - old_min) / ((old_max - old_min) / bins)
        np.minimum(np.maximum(pos, 0.0, out=pos), float(bins), out=pos)
        idx = np.minimum(pos.astype(np.int64), bins - 1)  # floor: pos >= 0
        prefix = np.concatenate(([0.0], np.cumsum(h)))
        cdf = prefix[idx] + (pos - idx) * h[idx]
    return torch.from_numpy(np.maximum(np.diff(cdf), 0.0))


def histogram_losses(hist: torch.Tensor, lo: float, hi: float, c, scale, offset, low, bits: int) -> torch.Tensor:
    """Per candidate ``i``, the sum of ``(x - fq_i(clamp(x, low_i, c_i)))^2`` over a histogram of
    ``[lo, hi]`` with uniform density within each bin, in closed form (see ``HistogramMoments``)."""
    moments = HistogramMoments(hist.cpu().numpy(), lo, hi)
    return torch.from_numpy(moments.losses(*(t.cpu().numpy() for t in (c, scale, offset, low)), bits))


class HistogramMoments:
    """A histogram of ``[lo, hi]`` with uniform density within each bin, ready to score quantizers.

    ``fq_i(clamp(x))`` is a step function of ``x``: level ``k`` (value ``v_k = (k - offset) * scale``)
    between the rounding boundaries ``u_k-1`` and ``u_k = v_k + scale / 2``, where the levels of
    ``low_i`` and ``c_i`` extend to the ends of the histogram and the levels beyond them are empty. Over
    each level's interval the error is ``S2 - 2 v S1 + v^2 S0`` from the running count ``S0``, sum
    ``S1`` and sum of squares ``S2``. Summed over the levels by parts, with ``v_k+1 - v_k = d`` and
    ``v_k+1^2 - v_k^2 = 2 d u_k``, the loss is
    ``T2 - 2 v_top T1 + v_top^2 T0 + 2 d sum_k (S1(b_k) - u_k S0(b_k))`` over the boundaries ``b_k``
    (``u_k`` clamped to the histogram, or moved to its ends by the clip bounds), from the totals
    ``T`` and reads at the 255 boundaries: no pass over sub-bin points.

    Positions are in bin units (``y = (x - lo) / width``), where bin ``j`` holds ``y`` in
    ``[j, j + 1)``: at ``y = j + t``, ``S0 = A0[j] + h[j] t`` and ``S1 = A1[j] + h[j] t (j + t / 2)``
    from the mass ``A0`` and sum ``A1`` left of bin ``j``; the sums scale back by ``width^2``. All in
    float64 (the totals are large next to the errors: about 6 of the 16 digits cancel on data far from
    zero), with exact levels: the fake-quant's float32 levels differ from them by at most ``2^-16`` of
    a step, which moves a loss by up to about 3e-5 of itself on spiky histograms (the demo's ReLU
    inputs; measured against float32 levels), so a pick can change only between ranges whose losses
    are that close; float32 levels cost a third more time. The compiled loop runs the same operations
    per quantizer; the numpy code works on ``ROWS`` quantizers at a time, with no BLAS call (its threads
    spin after one and slow the model's next forwards)."""

    #: quantizers scored at once at 8 bits: the [rows, 255] float64 temporaries stay under 128 KiB,
    #: below the allocator's threshold for fresh (page-faulted) memory; fewer at more bits
    ROWS = 64

    def __init__(self, hist: np.ndarray, lo: float, hi: float) -> None:
        h = np.ascontiguousarray(hist, dtype=np.float64)
        self.bins = h.size
        self.lo, self.width = lo, (hi - lo) / self.bins
        self.tables = np.empty((3, self.bins))  # mass, left0, left1: one buffer for the compiled loop
        self.mass, self.left0, self.left1 = self.tables
        if _native is not None:
            self.total0, self.total1, self.total2 = _native.moments(h, self.tables)
            return
        j = np.arange(self.bins, dtype=np.float64)
        first = h * (j + 0.5)
        self.total0, self.total1 = float(h.sum()), float(first.sum())
        self.total2 = float((h * (j * (j + 1.0) + 1.0 / 3.0)).sum())  # not `@` (BLAS)
        self.mass[:] = h
        np.cumsum(h, out=self.left0)
        self.left0 -= h
        np.cumsum(first, out=self.left1)
        self.left1 -= first

    def losses(self, c: np.ndarray, scale: np.ndarray, offset: np.ndarray, low: np.ndarray, bits: int) -> np.ndarray:
        """float64 losses of the quantizers ``(scale_i, offset_i)`` clipping at ``[low_i, c_i]``
        (float32 values; ``-inf``/``inf`` for none, the integer-domain clamp only)."""
        qmin, qmax = qmath.qrange(bits)
        if _native is not None:
            quantizers = np.empty((4, np.size(scale)), dtype=np.float32)
            for row, values in zip(quantizers, (c, scale, offset, low)):
                row[:] = np.ravel(values)
            out = np.empty(quantizers.shape[1])
            _native.losses(self.tables, quantizers, out, self.lo, self.width, self.total0, self.total1,
                           self.total2, qmin, qmax)
            return out
        col = (lambda a: np.asarray(a, dtype=np.float32).reshape(-1, 1))
        c, scale, offset, low = col(c), col(scale), col(offset), col(low)
        rows = max(1, self.ROWS * 255 // (qmax - qmin))  # the same temporaries' size at 16 bits (65535 levels)
        return np.concatenate([self._losses(c[i:i + rows], scale[i:i + rows], offset[i:i + rows],
                                            low[i:i + rows], qmin, qmax) for i in range(0, len(scale), rows)])

    def _losses(self, c, s32, o32, low, qmin: int, qmax: int) -> np.ndarray:
        first = np.clip(np.round(low / s32) + o32, qmin, qmax)  # qmath.quantize, in float32
        last = np.clip(np.round(c / s32) + o32, qmin, qmax)
        d = s32.astype(np.float64) / self.width  # the level spacing, in bin units
        shift = (0.5 - o32.astype(np.float64)) * d - self.lo / self.width
        k = np.arange(qmin, qmax, dtype=np.float64)  # boundary k lies between levels k and k + 1
        u = k * d
        u += shift
        pos = np.maximum(u, 0.0)
        np.minimum(pos, float(self.bins), out=pos)  # faster than np.clip
        if (first > qmin).any():
            pos[k < first] = 0.0
        if (last < qmax).any():
            pos[k >= last] = float(self.bins)
        j = pos.astype(np.int64)
        np.minimum(j, self.bins - 1, out=j)
        t = pos
        t -= j
        ht = np.take(self.mass, j)
        ht *= t
        s0 = np.take(self.left0, j)
        s0 += ht
        t *= 0.5
        t += j
        t *= ht
        s1 = np.take(self.left1, j)
        s1 += t
        s0 *= u
        s1 -= s0
        top = (shift + (qmax - 0.5) * d).reshape(-1)
        inner = 2.0 * d.reshape(-1) * s1.sum(axis=1)
        return (self.total2 - 2.0 * top * self.total1 + top * top * self.total0 + inner) * (self.width * self.width)
