"""Fake quantization of LSTM and GRU layers (quantizable types in :mod:`cfglang.capabilities`).

What is quantized, as AMCT does for its recurrent layers:

- the input-to-hidden and hidden-to-hidden weight matrices (``weight_ih_l0``, ``weight_hh_l0``),
  symmetric, per tensor or per gate channel (one scale per row of the ``[gates * hidden, *]`` matrix);
- the layer input ``x`` (activation quantization with the calibrated ``scale_d`` / ``offset_d``).

The layer stays the ``nn.LSTM`` / ``nn.GRU`` it was: its weight matrices are replaced by float tensors
holding their grid values, and its input passes through :class:`quant.fakequant.InputQuantizer` (a
``PackedSequence``'s data too), as for every quantized layer.

Biases, the hidden and cell state stay in float. As AMCT (``GraphChecker.check_rnn_limit`` in
amct_pytorch/classic/graph_based/amct_pytorch/configuration/check.py), only single-layer, unidirectional
layers without dropout or projection are quantizable: the resolver's plan leaves any other one in float
(skip reason ``unsupported``, :func:`cfglang.capabilities.recurrent_limit`), and :func:`skip_reason` says
why for a module.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cfglang.capabilities import RECURRENT_LIMITS, recurrent_limit
from cfglang.plan import LayerPlan
from quant.core import ACTIVATION_SPECS, ARQSpec, LayerSpec, QuantizeError
from quant.inventory import module_attributes
from quant.qmath import fake_quantize, symmetric_scale

__all__ = [
    "RECURRENT_TYPES",
    "RecurrentWeights",
    "skip_reason",
    "weight_scale",
    "quantize_recurrent_weights",
    "engine_spec",
]

RECURRENT_TYPES = frozenset({"LSTM", "GRU"})

#: the weight matrices that are quantized, in record order
WEIGHT_NAMES = ("weight_ih_l0", "weight_hh_l0")


def skip_reason(module: nn.Module) -> str | None:
    """Why AMCT cannot quantize ``module`` (an LSTM or GRU), or None when it can."""
    kind = type(module).__name__
    if kind not in RECURRENT_TYPES:
        return f"`{kind}` is not a recurrent layer, expected `LSTM` or `GRU`"
    found = module_attributes(module)
    limit = recurrent_limit(kind, found["num_layers"], found["bidirectional"], found["dropout"], found.get("proj_size"))
    return None if limit is None else f"`{kind}` has {limit}: {RECURRENT_LIMITS}"


def weight_scale(weight: torch.Tensor, bits: int, channel_wise: bool) -> torch.Tensor:
    """The symmetric ARQ scale of a ``[gates * hidden, features]`` matrix: one, or one per row."""
    w = weight.detach().to(torch.float32)
    if channel_wise:
        return symmetric_scale(w.amax(dim=1), w.amin(dim=1), bits)
    return symmetric_scale(w.max(), w.min(), bits)


@dataclass(frozen=True, slots=True)
class RecurrentWeights:
    """The scales chosen for one recurrent layer, in :data:`WEIGHT_NAMES` order."""

    scale_ih: torch.Tensor
    scale_hh: torch.Tensor

    def record_scales(self) -> list[float]:
        """``scale_w`` for the record: the input-matrix scales, then the hidden-matrix scales."""
        return self.scale_ih.flatten().tolist() + self.scale_hh.flatten().tolist()


def quantize_recurrent_weights(module: nn.Module, bits: int, channel_wise: bool) -> RecurrentWeights:
    """Give ``module`` new ``weight_ih_l0`` and ``weight_hh_l0`` holding their integer-grid values (the
    tensors it held are not changed: the engine's copy of the model shares them with the model)."""
    reason = skip_reason(module)
    if reason is not None:
        raise ValueError(reason)
    scales = []
    with torch.no_grad():
        for name in WEIGHT_NAMES:
            weight = getattr(module, name)
            scale = weight_scale(weight, bits, channel_wise)
            view = scale.reshape(-1, 1) if channel_wise else scale
            grid = fake_quantize(weight.to(torch.float32), view, 0, bits).to(weight.dtype)
            # RNNBase.__setattr__ keeps the layer's flat weight list in step
            setattr(module, name, nn.Parameter(grid, requires_grad=weight.requires_grad))
            scales.append(scale)
    return RecurrentWeights(scales[0], scales[1])


def engine_spec(layer: LayerPlan, module: nn.Module) -> LayerSpec:
    """The engine's ``LayerSpec`` for a recurrent plan layer. Raises ``QuantizeError`` for settings it cannot
    honour, and for a layer AMCT does not quantize (which a resolved plan leaves in float)."""
    name, kind = layer.name, layer.type
    reason = skip_reason(module)
    if reason is not None:
        raise QuantizeError(f"plan layer `{name}` is quantized, but {reason} (a plan resolved against this model "
                            f"leaves it in float, skip reason `unsupported`)")
    weight, act = layer.weight, layer.activation
    if weight is None or weight.algo != ARQSpec.algo:
        found = None if weight is None else weight.algo
        raise QuantizeError(f"layer `{name}` ({kind}) has weight algorithm `{found}`, expected `arq`")
    if act is None or act.algo not in ACTIVATION_SPECS:
        found = None if act is None else act.algo
        raise QuantizeError(f"layer `{name}` ({kind}) has activation algorithm `{found}`, expected one of "
                            + ", ".join(f"`{k}`" for k in sorted(ACTIVATION_SPECS)))
    if layer.dmq_balancer is not None:
        raise QuantizeError(f"layer `{name}` ({kind}) has a `dmq_balancer`, which {kind} does not take")
    return LayerSpec(name, kind, ARQSpec.from_plan(weight), ACTIVATION_SPECS[act.algo].from_plan(act))
