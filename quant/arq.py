"""ARQ weight quantization as AMCT computes it: min/max of the weight, per tensor or per output channel
(rows of ``[C_out, -1]``), then the symmetric scale; offsets are always 0.

ConvTranspose weights are ``[C_in, C_out / groups, *k]``: their output channels are dim 1. For a
grouped ConvTranspose, entry ``j`` of dim 1 serves output channels ``j, j + C_out/groups, ...``, and
one scale per dim-1 entry is what a per-axis ONNX DequantizeLinear on that weight can express.

Every weight width AMCT's ARQ takes (4, 6, 7, 8: ``WTS_SUPPORT_NUM_BITS`` in its
``common/config/field.py``) runs the same formulas with ``D = 2^(b-1) - 1`` (7 at 4 bits, or 8 when
the negative end is larger), as ``arq_cali_pytorch`` in its ``custom_op/arq/arq_impl.py``; the codes
fit int8 at every one of them (AMCT's ``apply_true_quantize`` stores them as int8 too).

New weight algorithms plug in through ``quant.engine.WEIGHT_ALGOS`` (weight spec type, :mod:`quant.core`,
-> function returning a ``WeightQuant``); ``arq_quantize`` is the :class:`~quant.core.ARQSpec` entry.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from quant import qmath
from quant.core import ARQSpec
from quant.inventory import weight_transposed

__all__ = ["TRANSPOSED", "WeightQuant", "input_channels_first", "weight_axis", "arq_scale", "quantize_codes", "arq_quantize", "weight_sqnr_db"]

TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


@dataclass(frozen=True, slots=True, eq=False)
class WeightQuant:
    """A quantized weight: int8 codes, the scale (0-d per tensor, 1-d along ``axis``), bit width."""

    codes: torch.Tensor
    scale: torch.Tensor
    axis: int
    bits: int
    channel_wise: bool

    def dequantize(self) -> torch.Tensor:
        return self.codes.to(torch.float32).mul_(_along(self.scale, self.axis, self.codes.dim()))


def input_channels_first(module: nn.Module) -> bool:
    """Whether the weight holds input channels in dim 0 and output channels in dim 1: ConvTranspose, and
    transformers' ``Conv1D`` (a Linear whose weight is stored ``(in, out)``)."""
    return isinstance(module, TRANSPOSED) or weight_transposed(module)


def weight_axis(module: nn.Module) -> int:
    """The dimension of the weight that holds output channels: 1 for ConvTranspose and ``Conv1D``, else 0."""
    return 1 if input_channels_first(module) else 0


def _along(values: torch.Tensor, axis: int, ndim: int) -> torch.Tensor:
    if values.dim() == 0:
        return values
    shape = [1] * ndim
    shape[axis] = -1
    return values.reshape(shape)


def arq_scale(weight: torch.Tensor, bits: int, *, channel_wise: bool, axis: int = 0) -> torch.Tensor:
    """The symmetric ARQ scale: one per entry of ``axis`` with ``channel_wise``, else one (0-d)."""
    w = weight.detach().to(torch.float32)
    if channel_wise:
        rows = w.transpose(0, axis).reshape(w.shape[axis], -1)
        return qmath.symmetric_scale(rows.amax(dim=1), rows.amin(dim=1), bits)
    return qmath.symmetric_scale(w.max(), w.min(), bits)


#: elements per slice of the weight loops below: their temporaries stay a few MB and the allocator reuses
#: them, where whole-weight temporaries of a 1B-parameter model fault in fresh pages (a kernel page fault
#: per 4 KB) at every layer
SLICE_ELEMENTS = 1 << 18


def _row_slices(weight: torch.Tensor) -> list[slice]:
    """Slices of ``weight``'s dim 0 of about :data:`SLICE_ELEMENTS` elements each."""
    rows = weight.shape[0]
    step = max(1, SLICE_ELEMENTS // max(1, weight[0].numel()))
    return [slice(start, min(rows, start + step)) for start in range(0, rows, step)]


def _scale_rows(scale: torch.Tensor, axis: int, ndim: int, rows: slice) -> torch.Tensor:
    """The scale, broadcastable to ``weight[rows]``."""
    s = _along(scale, axis, ndim)
    return s[rows] if axis == 0 and s.dim() else s


def quantize_codes(weight: torch.Tensor, scale: torch.Tensor, axis: int, bits: int) -> torch.Tensor:
    """Integer codes (int8) of ``weight`` on the grid of ``scale``; offset 0 (computed slice by slice)."""
    if not 1 < bits <= 8:
        raise ValueError(f"weight bits `{bits}` do not fit int8 codes, expected 2 to 8")
    w = weight.detach()
    codes = torch.empty(w.shape, dtype=torch.int8, device=w.device)
    for rows in _row_slices(w):
        codes[rows] = qmath.quantize(w[rows].to(torch.float32), _scale_rows(scale, axis, w.dim(), rows), 0, bits)
    return codes


def arq_quantize(module: nn.Module, spec: ARQSpec, context: Any = None) -> WeightQuant:
    """The ARQ weight algorithm (``context`` unused: ARQ reads the weight only)."""
    axis = weight_axis(module)
    scale = arq_scale(module.weight, spec.bits, channel_wise=spec.channel_wise, axis=axis)
    return WeightQuant(quantize_codes(module.weight, scale, axis, spec.bits), scale, axis, spec.bits, spec.channel_wise)


def weight_sqnr_db(weight: torch.Tensor, quantized: WeightQuant) -> float:
    """``10 log10(sum w^2 / sum (w - w_q)^2)`` of ``weight`` and its quantized form (dequantized in the
    weight's dtype, as the fake-quant layer computes it); inf when the weight is exactly representable.
    Slice by slice (no weight-sized temporary), each slice's sums in float32, their total in float64."""
    w, codes = weight.detach(), quantized.codes
    noise = signal = 0.0
    for rows in _row_slices(w):
        exact = w[rows].to(torch.float32)
        error = codes[rows].to(torch.float32).mul_(_scale_rows(quantized.scale, quantized.axis, w.dim(), rows))
        if w.dtype != torch.float32:
            error = error.to(w.dtype).to(torch.float32)
        noise += torch.linalg.vector_norm(error.sub_(exact)).item() ** 2
        signal += torch.linalg.vector_norm(exact).item() ** 2
    if noise == 0.0:
        return float("inf")
    if signal == 0.0:
        return float("-inf")
    return 10.0 * math.log10(signal / noise)
