"""Fake-quant modules: plain torch, CPU and GPU, and exportable as standard ONNX QDQ.

``FakeQuantLayer`` replaces a quantized layer in the engine's copy of the model. Its input goes
through an activation quantize/dequantize (``scale_d``, ``offset_d``), optionally after division by
DMQ balance factors; its weight is int8 codes times ``scale_w`` (per tensor, or per output channel
along the layer's weight axis). Under ``torch.onnx.export`` (the TorchScript exporter) the two
autograd functions below emit ``QuantizeLinear``/``DequantizeLinear`` whose zero point has the
offset buffer's type (int8, or int16 for 16-bit activations), and the weight codes become int8
initializers feeding a (per-axis) ``DequantizeLinear`` (quant.onnx_export retypes 4-bit ones to
int4).

Widths: activations of 8 or 16 bits (``ACTIVATION_BITS``: AMCT's ``dst_type`` INT8 / INT16), weights
of 2 to 8 bits (codes always int8 here, as AMCT's ``apply_true_quantize`` makes them; the ONNX export
stores 4-bit codes as int4, and AMCT's deploy model packs them two per byte).

``LAYER_KINDS`` is the table of supported layer types -> how to run the float op with a given weight;
a layer type without an entry here cannot be quantized (LSTM and GRU plug in here).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from quant import qmath

__all__ = ["LayerKind", "LAYER_KINDS", "FakeQuantLayer", "ACTIVATION_BITS", "offset_dtype", "activation_qdq",
           "weight_dq"]

#: activation widths -> the integer type of their codes and offset (the ONNX zero point's type)
ACTIVATION_BITS: dict[int, torch.dtype] = {8: torch.int8, 16: torch.int16}


def offset_dtype(bits: int) -> torch.dtype:
    """The type of an activation offset buffer at ``bits`` (int8 or int16)."""
    if bits not in ACTIVATION_BITS:
        raise ValueError(f"activation bits `{bits}` are not supported, expected one of "
                         f"{', '.join(f'`{b}`' for b in ACTIVATION_BITS)}")
    return ACTIVATION_BITS[bits]


class _ActivationQDQ(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale, offset, bits: int):  # type: ignore[override]
        return qmath.fake_quantize(x, scale, offset.to(torch.float32), bits).to(x.dtype)

    @staticmethod
    def symbolic(g, x, scale, offset, bits):
        q = g.op("QuantizeLinear", x, scale, offset)
        return g.op("DequantizeLinear", q, scale, offset)


class _WeightDQ(torch.autograd.Function):
    @staticmethod
    def forward(ctx, codes, scale, offset, axis: int):  # type: ignore[override]
        s = scale
        if axis >= 0:
            shape = [1] * codes.dim()
            shape[axis] = -1
            s = scale.reshape(shape)
        return codes.to(scale.dtype) * s

    @staticmethod
    def symbolic(g, codes, scale, offset, axis):
        if axis < 0:
            return g.op("DequantizeLinear", codes, scale, offset)
        return g.op("DequantizeLinear", codes, scale, offset, axis_i=axis)


def activation_qdq(x: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor, bits: int = 8) -> torch.Tensor:
    """Activation fake quantization; ``offset`` is an int8 or int16 tensor (the ONNX zero point)."""
    return _ActivationQDQ.apply(x, scale, offset, bits)


def weight_dq(codes: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor, axis: int) -> torch.Tensor:
    """The weight from its int8 codes: ``codes * scale`` along ``axis``."""
    return _WeightDQ.apply(codes, scale, offset, axis)


@dataclass(frozen=True, slots=True)
class LayerKind:
    """How the engine handles one layer type."""

    has_weight: bool
    weight_axis: int  # the weight dimension holding output channels
    forward: Callable[[nn.Module, torch.Tensor, torch.Tensor | None], torch.Tensor]
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


class FakeQuantLayer(nn.Module):
    """A quantized layer: ``op(qdq(x / balance), codes * scale_w)``.

    Buffers: ``act_scale`` (float32, 0-d), ``act_offset`` (0-d, ``offset_dtype(act_bits)``), and with a weight
    ``weight_codes`` (int8, the weight's shape), ``weight_scale`` (float32, 0-d or 1-d),
    ``weight_offset`` (int8 zeros like the scale); with DMQ ``balance`` (float32, one per input
    channel). The wrapped module keeps its bias and hyper-parameters; its float weight is dropped.
    """

    def __init__(self, module: nn.Module, layer_type: str, *, act_bits: int = 8, weight_bits: int = 8,
                 channel_wise: bool = False, balance_channels: int | None = None) -> None:
        super().__init__()
        kind = LAYER_KINDS[layer_type]
        self.layer_type = layer_type
        self.act_bits = act_bits
        self.weight_bits = weight_bits
        self.axis = kind.weight_axis
        self.register_buffer("act_scale", torch.ones((), dtype=torch.float32))
        self.register_buffer("act_offset", torch.zeros((), dtype=offset_dtype(act_bits)))
        if not 1 < weight_bits <= 8:
            raise ValueError(f"weight bits `{weight_bits}` are not supported, expected 2 to 8")
        if kind.has_weight:
            weight = module.weight.detach()
            channels = weight.shape[self.axis] if channel_wise else None
            self.register_buffer("weight_codes", torch.zeros(weight.shape, dtype=torch.int8, device=weight.device))
            shape = (channels,) if channels is not None else ()
            self.register_buffer("weight_scale", torch.ones(shape, dtype=torch.float32, device=weight.device))
            self.register_buffer("weight_offset", torch.zeros(shape, dtype=torch.int8, device=weight.device))
            del module.weight
        if balance_channels is not None:
            self.register_buffer("balance", torch.ones(balance_channels, dtype=torch.float32))
        else:
            self.balance = None
        self.module = module

    def set_activation(self, scale: float, offset: int) -> None:
        self.act_scale.fill_(scale)
        self.act_offset.fill_(offset)

    def set_weight(self, codes: torch.Tensor, scale: torch.Tensor) -> None:
        self.weight_codes.copy_(codes)
        self.weight_scale.copy_(scale.reshape(self.weight_scale.shape))

    def dequantized_weight(self) -> torch.Tensor | None:
        if not LAYER_KINDS[self.layer_type].has_weight:
            return None
        axis = self.axis if self.weight_scale.dim() else -1
        return weight_dq(self.weight_codes, self.weight_scale, self.weight_offset, axis)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kind = LAYER_KINDS[self.layer_type]
        if self.balance is not None:
            dim = kind.channel_dim if kind.channel_dim >= 0 else x.dim() + kind.channel_dim
            shape = [1] * x.dim()
            shape[dim] = -1
            x = x / self.balance.reshape(shape).to(x.dtype)
        x = activation_qdq(x, self.act_scale, self.act_offset, self.act_bits)
        return kind.forward(self.module, x, self.dequantized_weight())

    def extra_repr(self) -> str:
        return f"type={self.layer_type}, act_bits={self.act_bits}, weight_bits={self.weight_bits}"
