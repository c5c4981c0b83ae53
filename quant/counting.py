"""Exact counts of float32 values in equal bins: the inner loop of activation calibration.

Two bin rules, each defined by a torch expression below:

- ``histc_counts(x, bins, lo, hi)``: ``torch.histc``'s bins (HFMG), for data within ``[lo, hi]``;
- ``clamped_counts(x, lo, hi, bins)``: ``bins`` bins over ``[lo, hi)`` plus one below and one from ``hi``
  up (IFMR's histogram, whose range is fixed while the data may leave it).

On a CPU the counts come from ``quant._counting``, a compiled loop (built at install; optional) that
computes the same float32 operations in the same order in one pass over the data, several times
faster than the torch expressions' passes and their ``bincount`` on a small model, where calibration
runs these counts on every layer's input of every batch. The tests compare the two on random and
adversarial data. Without the compiled loop (no C compiler at install) or for data on a GPU, the torch
expressions run: the same counts, slower.
"""

from __future__ import annotations

import numpy as np
import torch

try:
    from quant import _counting
except ImportError:  # installed without a C compiler
    _counting = None

__all__ = ["NATIVE", "histc_counts", "clamped_counts", "bin_index"]

#: whether the compiled loop is available (CPU data then uses it)
NATIVE = _counting is not None

# histc_counts' arithmetic: p = (x - lo) / a; ((x - lo) * a) / b; min(((x - lo) / b) * a, a)
_DIV_STEP, _MUL_DIV, _DIV_MUL = 0, 1, 2
_F32_MAX, _F32_TINY = float(np.finfo(np.float32).max), float(np.finfo(np.float32).tiny)


def _native(x: torch.Tensor) -> bool:
    return _counting is not None and x.device.type == "cpu" and x.dtype == torch.float32


def _numpy(x: torch.Tensor) -> np.ndarray:
    return x.contiguous().numpy()


def histc_counts(x: torch.Tensor, bins: int, lo: float, hi: float) -> torch.Tensor:
    """``torch.histc(x, bins, lo, hi)`` as int64 counts, for 1-d float32 ``x`` within ``[lo, hi]`` (float32
    values, ``lo < hi``): the bin of a value is ``int((x - lo) * bins / (hi - lo))`` in float32, as in
    histc's kernel, with the top edge in the last bin.

    For a power-of-two ``bins`` (scaling by it is exact, barring overflow and subnormals) multiplying by
    ``bins`` and dividing by ``hi - lo`` is one division by ``(hi - lo) / bins``. Where histc's order
    overflows float32 (``(x - lo) * bins`` past its largest value, and histc's bins are garbage), the
    positions are divided first."""
    lo32 = np.float32(lo)
    width = float(np.float32(hi) - lo32)
    lo32 = float(lo32)
    fits = width * bins <= _F32_MAX  # (hi - lo) * bins is a finite float32
    if fits and bins & (bins - 1) == 0 and width / bins >= _F32_TINY:
        rule, a, b = _DIV_STEP, width / bins, 0.0
    elif fits or not bool(torch.isinf(torch.sub(x, lo32).mul_(float(bins))).any()):
        rule, a, b = _MUL_DIV, float(bins), width
    else:
        rule, a, b = _DIV_MUL, float(bins), width
    if _native(x):
        counts = torch.zeros(bins, dtype=torch.int64)
        _counting.histc(_numpy(x), counts.numpy(), lo32, a, b, rule)
        return counts
    pos = torch.sub(x, lo32)
    if rule == _DIV_STEP:
        pos.div_(a)
    elif rule == _MUL_DIV:
        pos.mul_(a).div_(b)
    else:
        pos.div_(b).mul_(a).clamp_(max=a)
    index = pos.view(torch.int32)
    index.copy_(pos)  # truncation toward zero (the positions are >= 0), elementwise at the same addresses
    counts = torch.bincount(index, minlength=bins)
    if counts.numel() > bins:  # values at the top edge
        counts = counts[:bins].index_add_(0, torch.tensor([bins - 1], device=counts.device), counts[bins:])
    return counts


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
    if _native(x):
        counts = torch.zeros(bins + 2, dtype=torch.int64)
        _counting.clamped(_numpy(x), counts.numpy(), *_step_shift(lo, hi, bins))
        return counts
    return torch.bincount(bin_index(x, lo, hi, bins), minlength=bins + 2)
