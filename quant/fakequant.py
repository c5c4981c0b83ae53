"""Fake quantization in place: a quantized layer stays the module it was.

The engine does not wrap a quantized layer: the module keeps its class, its attributes (``stride``,
``in_features``, ``bias``) and a ``weight`` that model code can read (``layer.weight.dtype``,
``conv.weight.shape``), so a model that reads its layers' attributes runs quantized as it runs in float.
Two pieces are added to the module:

- the weight becomes a parametrization (:mod:`torch.nn.utils.parametrize`): the stored tensor
  (``parametrizations.weight.original``) is the int8 codes, a buffer, and ``module.weight`` is
  ``codes * scale_w`` (per tensor, or per output channel along the layer's weight axis), computed at
  each use in the layer's float dtype (into a kept buffer during the engine's own forwards:
  :func:`reused_weight_buffers`). The module's class is then torch's ``Parametrized<Class>``, a
  subclass of its class. The float weight is not kept: a quantized layer holds a quarter of its float
  weight's bytes.
- a child module ``input_quantizer`` (:class:`InputQuantizer`: ``scale`` float32 0-d, ``offset`` 0-d of
  ``offset_dtype(bits)``, with DMQ ``balance``, one factor per input channel) and a forward pre-hook
  that passes the layer's input through it: division by the balance factors, then activation
  quantize/dequantize.

Recurrent layers (LSTM, GRU: :mod:`quant.recurrent`) get the same input quantizer; their weight
matrices are replaced by float tensors holding their grid values.

Both operations are custom operators (``amct::fake_quantize``, ``amct::dequantize_weight``), so that
both ONNX exporters see them as one node each: the TorchScript exporter through the symbolics
registered here, the ``torch.export``-based one through :func:`onnx_translations`; each becomes
``QuantizeLinear``/``DequantizeLinear`` (activations, zero point of the offset's type: int8, or int16
for 16-bit activations) or a (per-axis) ``DequantizeLinear`` of an int8 initializer (weights;
quant.onnx_export retypes 4-bit ones to int4).

Widths: activations of 8 or 16 bits (``ACTIVATION_BITS``: AMCT's ``dst_type`` INT8 / INT16), weights
of 2 to 8 bits (codes always int8 here, as AMCT's ``apply_true_quantize`` makes them).

``LAYER_KINDS`` is the table of supported layer types: whether the type has a weight, the weight's
output-channel axis, the input's channel dimension, and the float op with a given weight (AdaRound).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.rnn import PackedSequence

from quant import qmath
from quant.core import divide_channels

__all__ = ["WEIGHT_CODES", "LayerKind", "LAYER_KINDS", "ACTIVATION_BITS", "InputQuantizer", "WeightDequantizer", "offset_dtype",
           "fake_quantize", "dequantize_weight", "quantize_weight_in_place", "attach_input_quantizer",
           "weight_dequantizer", "weight_codes", "onnx_translations"]

#: where a quantized layer's int8 weight codes are in its state dict (torch's parametrization layout)
WEIGHT_CODES = "parametrizations.weight.original"

#: activation widths -> the integer type of their codes and offset (the ONNX zero point's type)
ACTIVATION_BITS: dict[int, torch.dtype] = {8: torch.int8, 16: torch.int16}


def offset_dtype(bits: int) -> torch.dtype:
    """The type of an activation offset buffer at ``bits`` (int8 or int16)."""
    if bits not in ACTIVATION_BITS:
        raise ValueError(f"activation bits `{bits}` are not supported, expected one of "
                         f"{', '.join(f'`{b}`' for b in ACTIVATION_BITS)}")
    return ACTIVATION_BITS[bits]


@torch.library.custom_op("amct::fake_quantize", mutates_args=())
def fake_quantize(x: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor, bits: int) -> torch.Tensor:
    """Activation fake quantization; ``offset`` is an int8 or int16 tensor (the ONNX zero point)."""
    return qmath.fake_quantize(x, scale, offset.to(torch.float32), bits).to(x.dtype)


@fake_quantize.register_fake
def _(x: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor, bits: int) -> torch.Tensor:
    return torch.empty_like(x)


def _straight_through(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
    return grad, None, None, None


fake_quantize.register_autograd(_straight_through)


#: (shape, dtype, device) -> [(buffer, its storage's use count when nothing else refers to it)], while
#: reused_weight_buffers() is active
_BUFFERS: dict[tuple[Any, ...], list[tuple[torch.Tensor, int]]] | None = None


#: how many holders a tensor's memory has (torch's own, private: without it nothing is reused)
_STORAGE_USE_COUNT = getattr(torch._C, "_storage_Use_Count", None)


def _use_count(tensor: torch.Tensor) -> int:
    return _STORAGE_USE_COUNT(tensor.untyped_storage()._cdata)


@contextlib.contextmanager
def reused_weight_buffers() -> Iterator[None]:
    """While active, a dequantized weight is computed into a float buffer kept from an earlier forward
    whose result nothing refers to any more (no tensor, view or autograd record shares its memory),
    instead of a fresh tensor. The engine's calibration and check passes run in it: a fresh tensor of a
    large weight is fresh memory that the kernel faults in and zeroes page by page at every use, most of
    the cost of dequantizing (a 5632x2048 weight: 26 ms fresh, 5 ms into a kept buffer). At most the
    buffers of a forward's distinct weight shapes are kept, and dropped at the end."""
    global _BUFFERS
    saved, _BUFFERS = _BUFFERS, {}
    try:
        yield
    finally:
        _BUFFERS = saved


def _weight_buffer(shape: torch.Size, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    if _BUFFERS is None or _STORAGE_USE_COUNT is None:
        return torch.empty(shape, dtype=dtype, device=device)
    kept = _BUFFERS.setdefault((tuple(shape), dtype, device), [])
    for buffer, free in kept:
        if _use_count(buffer) == free:
            return buffer.view(shape)  # a view: its memory counts as used until the caller drops it
    buffer = torch.empty(shape, dtype=dtype, device=device)
    kept.append((buffer, _use_count(buffer)))
    return buffer.view(shape)


@torch.library.custom_op("amct::dequantize_weight", mutates_args=())
def dequantize_weight(codes: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor, axis: int) -> torch.Tensor:
    """The weight from its int8 codes: ``codes * scale`` along ``axis`` (``-1``: one scale), in float32."""
    s = scale
    if axis >= 0:
        shape = [1] * codes.dim()
        shape[axis] = -1
        s = scale.reshape(shape)
    # in place on one float tensor (not two): a fresh one, or one of reused_weight_buffers()'s
    return _weight_buffer(codes.shape, scale.dtype, codes.device).copy_(codes).mul_(s)


@dequantize_weight.register_fake
def _(codes: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor, axis: int) -> torch.Tensor:
    return codes.new_empty(codes.shape, dtype=scale.dtype)


def _symbolic_fake_quantize(g, x, scale, offset, bits):
    q = g.op("QuantizeLinear", x, scale, offset)
    return g.op("DequantizeLinear", q, scale, offset)


def _symbolic_dequantize_weight(g, codes, scale, offset, axis):
    from torch.onnx import symbolic_helper

    axis = symbolic_helper._get_const(axis, "i", "axis")
    if axis < 0:
        return g.op("DequantizeLinear", codes, scale, offset)
    return g.op("DequantizeLinear", codes, scale, offset, axis_i=axis)


for _name, _symbolic in (("amct::fake_quantize", _symbolic_fake_quantize),
                         ("amct::dequantize_weight", _symbolic_dequantize_weight)):
    torch.onnx.register_custom_op_symbolic(_name, _symbolic, 13)


def onnx_translations() -> dict[Any, Callable[..., Any]]:
    """The custom operators' ``custom_translation_table`` for ``torch.onnx.export(dynamo=True)`` at opset 20
    (onnxscript functions; onnxscript is imported here, on first use)."""
    from onnxscript import opset20 as op

    def translate_fake_quantize(x, scale, offset, bits: int):
        return op.DequantizeLinear(op.QuantizeLinear(x, scale, offset), scale, offset)

    def translate_dequantize_weight(codes, scale, offset, axis: int):
        if axis < 0:
            return op.DequantizeLinear(codes, scale, offset)
        return op.DequantizeLinear(codes, scale, offset, axis=axis)

    return {torch.ops.amct.fake_quantize.default: translate_fake_quantize,
            torch.ops.amct.dequantize_weight.default: translate_dequantize_weight}


@dataclass(frozen=True, slots=True)
class LayerKind:
    """How the engine handles one layer type."""

    has_weight: bool
    weight_axis: int  # the weight dimension holding output channels
    forward: Callable[[nn.Module, torch.Tensor, torch.Tensor | None], torch.Tensor]  # the float op with a weight
    channel_dim: int = 1  # the input dimension holding channels (for DMQ balance factors)


def _conv(module: nn.Module, x: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
    return module._conv_forward(x, w, module.bias)


def _conv_transpose(fn):
    def forward(module: nn.Module, x: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
        if module.padding_mode != "zeros":
            raise ValueError(f"`{type(module).__name__}` with padding_mode `{module.padding_mode}` is not supported")
        return fn(x, w, module.bias, module.stride, module.padding, module.output_padding, module.groups,
                  module.dilation)

    return forward


#: supported layer type name -> LayerKind (the quantizable types of :mod:`cfglang.capabilities`)
LAYER_KINDS: dict[str, LayerKind] = {
    "Conv1d": LayerKind(True, 0, _conv),
    "Conv2d": LayerKind(True, 0, _conv),
    "Conv3d": LayerKind(True, 0, _conv),
    "ConvTranspose1d": LayerKind(True, 1, _conv_transpose(F.conv_transpose1d)),
    "ConvTranspose2d": LayerKind(True, 1, _conv_transpose(F.conv_transpose2d)),
    "Linear": LayerKind(True, 0, lambda m, x, w: F.linear(x, w, m.bias), channel_dim=-1),
    "AvgPool2d": LayerKind(False, 0, lambda m, x, w: m(x)),
}


class WeightDequantizer(nn.Module):
    """The parametrization of a quantized weight: int8 codes in, ``codes * scale`` out (in ``dtype``).

    Buffers ``scale`` (float32, 0-d or one per entry of ``axis``) and ``offset`` (int8 zeros like it:
    the ONNX zero point)."""

    def __init__(self, shape: torch.Size, *, axis: int, channel_wise: bool, bits: int, dtype: torch.dtype,
                 device: torch.device | None = None) -> None:
        super().__init__()
        if not 1 < bits <= 8:
            raise ValueError(f"weight bits `{bits}` are not supported, expected 2 to 8")
        self.axis = axis if channel_wise else -1
        self.bits = bits
        self.dtype = dtype
        scale_shape = (shape[axis],) if channel_wise else ()
        self.register_buffer("scale", torch.ones(scale_shape, dtype=torch.float32, device=device))
        self.register_buffer("offset", torch.zeros(scale_shape, dtype=torch.int8, device=device))

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        weight = dequantize_weight(codes, self.scale, self.offset, self.axis)
        return weight if self.dtype == torch.float32 else weight.to(self.dtype)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, {'per_tensor' if self.axis < 0 else f'axis={self.axis}'}"


def quantize_weight_in_place(module: nn.Module, codes: torch.Tensor, scale: torch.Tensor, *, axis: int,
                             channel_wise: bool, bits: int, dtype: torch.dtype | None = None) -> WeightDequantizer:
    """Make ``module.weight`` the parametrized ``codes * scale``; the module's float weight is replaced, not
    modified (another module holding the same tensor keeps it). Returns the parametrization."""
    if parametrize.is_parametrized(module, "weight"):  # weight norm: quantize the weight it computes
        _drop_parametrization(module)
    weight = module.weight
    dtype = dtype or weight.dtype
    dequantizer = WeightDequantizer(weight.shape, axis=axis, channel_wise=channel_wise, bits=bits, dtype=dtype,
                                    device=weight.device)
    with torch.no_grad():
        dequantizer.scale.copy_(scale.reshape(dequantizer.scale.shape))
    del module.weight
    module.register_buffer("weight", codes.to(device=weight.device, dtype=torch.int8).contiguous())
    parametrize.register_parametrization(module, "weight", dequantizer, unsafe=True)
    return dequantizer


def _drop_parametrization(module: nn.Module) -> None:
    """Make ``module.weight`` the plain tensor its parametrizations compute; the tensors they held are not
    changed (torch's removal writes into a single original in place, so it gets a copy first)."""
    originals = module.parametrizations.weight
    if "original" in originals._parameters or "original" in originals._buffers:
        originals.original = nn.Parameter(originals.original.detach().clone(), requires_grad=False)
    # the removal deletes the weight's property from the module's class, which torch creates per module
    # but a copy of the module shares (the user's model): the module gets its own copy of that class first
    cls = type(module)
    module.__class__ = type(cls.__name__, cls.__bases__, dict(cls.__dict__))
    parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)


def weight_codes(module: nn.Module) -> torch.Tensor | None:
    """The int8 codes behind a weight that :func:`quantize_weight_in_place` parametrized, if any."""
    return module.parametrizations.weight.original if weight_dequantizer(module) is not None else None


def weight_dequantizer(module: nn.Module) -> WeightDequantizer | None:
    """The parametrization that :func:`quantize_weight_in_place` put on ``module.weight``, if any."""
    if not parametrize.is_parametrized(module, "weight"):
        return None
    found = [p for p in module.parametrizations.weight if isinstance(p, WeightDequantizer)]
    return found[0] if found else None


class InputQuantizer(nn.Module):
    """The input of a quantized layer: ``qdq(x / balance)`` (a ``PackedSequence``'s data for an RNN).

    Buffers ``scale`` (float32, 0-d), ``offset`` (0-d, ``offset_dtype(bits)``) and with DMQ ``balance``
    (float32, one factor per input channel, along ``channel_dim`` of the input)."""

    def __init__(self, *, bits: int = 8, balance_channels: int | None = None, channel_dim: int = 1,
                 device: torch.device | None = None) -> None:
        super().__init__()
        self.bits = bits
        self.channel_dim = channel_dim
        self.register_buffer("scale", torch.ones((), dtype=torch.float32, device=device))
        self.register_buffer("offset", torch.zeros((), dtype=offset_dtype(bits), device=device))
        if balance_channels is not None:
            self.register_buffer("balance", torch.ones(balance_channels, dtype=torch.float32, device=device))
        else:
            self.balance = None

    def set(self, scale: float, offset: int, balance: torch.Tensor | None = None) -> None:
        self.scale.fill_(scale)
        self.offset.fill_(offset)
        if balance is not None:
            self.balance.copy_(balance.reshape(-1))

    def forward(self, x: Any) -> Any:
        if isinstance(x, PackedSequence):
            return x._replace(data=self(x.data))
        if self.balance is not None:
            x = divide_channels(x, self.balance, self.channel_dim)
        return fake_quantize(x, self.scale, self.offset, self.bits)

    def extra_repr(self) -> str:
        balance = f", balance={self.balance.numel()}" if self.balance is not None else ""
        return f"bits={self.bits}{balance}"


def _quantize_input(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    if not args:  # a call by keyword only: the pre-hook sees no input
        raise TypeError(f"a quantized `{type(module).__name__}` takes its input by position, got keywords only")
    return (module.input_quantizer(args[0]), *args[1:])


def attach_input_quantizer(module: nn.Module, quantizer: InputQuantizer) -> None:
    """Make ``quantizer`` the module's ``input_quantizer`` and pass every input through it."""
    module.input_quantizer = quantizer
    module.register_forward_pre_hook(_quantize_input)
