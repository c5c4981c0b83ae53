"""Quantization arithmetic as AMCT computes it (its ``calculate_scale_offset``): pure functions on tensors.

- quantize ``q = clip(round(x / scale) + offset, -2^(b-1), 2^(b-1) - 1)`` with round-half-to-even
  (``torch.round``), dequantize ``(q - offset) * scale``; the full signed range at every bit width.
- symmetric scale ``max(|max|, |min|) / D`` with ``D = 2^(b-1) - 1``, or ``D = 2^(b-1)`` when
  ``|min| > |max|`` (the negative end of the grid has one more level); offset 0.
- asymmetric: ``max >= 0``, ``min <= 0`` enforced, ``scale = (max - min) / (2^b - 1)``,
  ``offset = round(-2^(b-1) - min / scale)``.
- a scale below float32 epsilon becomes 1.0, so an all-zero tensor never divides by zero.
- FORCE_FP16_QUANT: ``scale_d`` rounded to float16 precision, stored as float32; a scale outside
  float16's normal range ``[2^-14, 65504]`` (common at 16 bits) goes through its square root.

Bit widths: weights 4, 6, 7 or 8 bits (codes fit int8), activations 8 or 16 bits (codes and offsets
need int16); the formulas are the same at every width, as in AMCT (``calculate_scale_offset`` and
``get_int_quant_scope`` in its ``custom_op/utils.py`` take the width from ``"INT<b>"``).

Everything is computed in float32, like AMCT's tensors, and works elementwise, so the same functions
give per-tensor (0-d) and per-channel (1-d) parameters.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "FLOAT32_EPS",
    "qrange",
    "quantize",
    "dequantize",
    "fake_quantize",
    "symmetric_scale",
    "asymmetric_scale_offset",
    "apply_epsilon",
    "round_to_fp16",
    "FP16_MIN_NORMAL",
    "FP16_MAX",
]

#: float32 machine epsilon (``torch.finfo(torch.float32).eps``)
FLOAT32_EPS = 1.1920928955078125e-07
#: float16's smallest normal and largest finite values (AMCT's MIN_FP16 and MAX_FP16)
FP16_MIN_NORMAL = 2.0 ** -14
FP16_MAX = 65504.0


def qrange(bits: int) -> tuple[int, int]:
    """The signed integer range ``[-2^(b-1), 2^(b-1) - 1]`` used at ``bits``."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _f32(value: torch.Tensor | float) -> torch.Tensor:
    return torch.as_tensor(value, dtype=torch.float32)


def quantize(x: torch.Tensor, scale: torch.Tensor | float, offset: torch.Tensor | int, bits: int) -> torch.Tensor:
    """Integer codes of ``x`` (as float32 holding integers): ``clip(round(x / scale) + offset)``."""
    lo, hi = qrange(bits)
    scale = _f32(scale).to(x.device)
    offset = _f32(offset).to(x.device)
    tracked = torch.is_grad_enabled() and (x.requires_grad or scale.requires_grad)
    if tracked or not (_broadcasts_to(scale.shape, x.shape) and _broadcasts_to(offset.shape, x.shape)):
        return torch.clamp(torch.round(x / scale) + offset, lo, hi)
    # the same operations in place on the one fresh tensor ``x / scale`` (no autograd to keep intermediates for)
    return (x / scale).round_().add_(offset).clamp_(lo, hi)


def dequantize(q: torch.Tensor, scale: torch.Tensor | float, offset: torch.Tensor | int) -> torch.Tensor:
    """``(q - offset) * scale``."""
    scale = _f32(scale).to(q.device)
    offset = _f32(offset).to(q.device)
    return (q - offset) * scale


def fake_quantize(x: torch.Tensor, scale: torch.Tensor | float, offset: torch.Tensor | int, bits: int) -> torch.Tensor:
    """``dequantize(quantize(x))``: the value ``x`` takes on the integer grid. The same operations in
    the same order, in place on one fresh tensor where autograd does not need the intermediates."""
    scale = _f32(scale).to(x.device)
    offset = _f32(offset).to(x.device)
    tracked = torch.is_grad_enabled() and (x.requires_grad or scale.requires_grad)
    if tracked or not (_broadcasts_to(scale.shape, x.shape) and _broadcasts_to(offset.shape, x.shape)):
        return dequantize(quantize(x, scale, offset, bits), scale, offset)
    lo, hi = qrange(bits)
    return (x / scale).round_().add_(offset).clamp_(lo, hi).sub_(offset).mul_(scale)


def _broadcasts_to(shape: torch.Size, target: torch.Size) -> bool:
    """``shape`` broadcasts to ``target`` as it is (``torch.broadcast_shapes`` costs ~100 us a call)."""
    return len(shape) <= len(target) and all(a in (1, b) for a, b in zip(reversed(shape), reversed(target)))


def apply_epsilon(scale: torch.Tensor) -> torch.Tensor:
    """A scale below float32 epsilon becomes 1.0 (as in AMCT: all-zero tensors must not divide by zero)."""
    return torch.where(scale < FLOAT32_EPS, torch.ones_like(scale), scale)


def symmetric_scale(max_val: torch.Tensor | float, min_val: torch.Tensor | float, bits: int) -> torch.Tensor:
    """``max(|max|, |min|) / D``; ``D = 2^(b-1)`` when ``|min| > |max|``, else ``2^(b-1) - 1``."""
    max_abs = _f32(max_val).abs()
    min_abs = _f32(min_val).abs()
    half = float(1 << (bits - 1))
    divisor = torch.where(min_abs > max_abs, torch.full_like(max_abs, half), torch.full_like(max_abs, half - 1))
    return apply_epsilon(torch.maximum(max_abs, min_abs) / divisor)


def asymmetric_scale_offset(
    max_val: torch.Tensor | float, min_val: torch.Tensor | float, bits: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale, offset)`` for the range ``[min, max]`` widened to contain 0; offset as int32."""
    max_val = torch.clamp(_f32(max_val), min=0.0)
    min_val = torch.clamp(_f32(min_val), max=0.0)
    scale = apply_epsilon((max_val - min_val) / float((1 << bits) - 1))
    offset = torch.round(-float(1 << (bits - 1)) - min_val / scale)
    lo, hi = qrange(bits)
    return scale, torch.clamp(offset, lo, hi).to(torch.int32)


def round_to_fp16(scale: torch.Tensor | float) -> torch.Tensor:
    """FORCE_FP16_QUANT: the scale rounded to float16 precision, kept as float32, as AMCT's recorder
    does (``cast_fp16_precision`` in its ``common/utils/util.py``): inside float16's normal range the
    nearest float16; outside it (below ``2^-14``, where float16 is subnormal and keeps few digits, or
    above 65504) the square root is rounded to float16 and squared in float32. A 16-bit activation
    scale is ``range / 65535``, below ``2^-14`` for any range under 4."""
    s = _f32(scale)
    # numpy, as AMCT: the root of the float32 value is taken in float64 and rounded to float16 once
    # (torch converts float64 to float16 through float32: two roundings)
    value = s.detach().cpu().numpy().astype(np.float64)
    outside = (value < FP16_MIN_NORMAL) | (value > FP16_MAX)
    with np.errstate(over="ignore"):  # the branch not taken may overflow float16
        root = np.sqrt(value).astype(np.float16).astype(np.float32)
        rounded = np.where(outside, root * root, value.astype(np.float16).astype(np.float32))
    return torch.from_numpy(np.asarray(rounded, dtype=np.float32)).to(s.device)
