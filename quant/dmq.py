"""DMQ balancer (AMCT's ``dmq_balancer``): SmoothQuant-style migration of activation outliers into
the weights (Xiao et al., "SmoothQuant", ICML 2023).

Per input channel ``j`` of a layer, with ``a = migration_strength``:

    s_j = max|X_j|^a / max|W_j|^(1 - a)

the activation is divided by ``s`` and the weight's input channel ``j`` multiplied by ``s``, which
leaves the float layer unchanged: ``(X / s) (s W) = X W``. ``max|W_j|`` is taken over the weights
that read channel ``j``: for a grouped conv, the output channels of ``j``'s group only.

A channel whose activation or weight maximum is zero (or not finite) gets the factor 1, so a dead
channel never produces inf or nan.

Folding the factors gives the layer a new weight tensor (:func:`apply_balance`): a weight it shares with
another module, or with the user's model (``quant.core.shared_copy``), is not changed.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from quant.arq import input_channels_first
from quant.core import (LayerSpec, divide_channels, forward_hooks, nonfinite_input_error, not_called_error,
                        run_batch)
from quant.inventory import layer_type

__all__ = [
    "InputChannelMax",
    "ActivationBalance",
    "channel_dim",
    "input_channel_count",
    "weight_input_absmax",
    "balance_factors",
    "layer_factors",
    "fold_into_weight",
    "observe_input_absmax",
    "collect_input_absmax",
    "apply_balance",
    "balance_pass",
    "balanced_inputs",
]

#: the plain attribute (not a buffer: it stays out of ``state_dict``) where :func:`balance_pass` leaves
#: a layer's factors, so that later passes over the working model (AdaRound) can divide its input
FACTORS_ATTR = "_amct_dmq_factors"


def channel_dim(layer: nn.Module, ndim: int) -> int:
    """The dimension of the layer's input that holds its input channels."""
    return ndim - 1 if layer_type(layer) == "Linear" else 1


def input_channel_count(layer: nn.Module) -> int:
    if layer_type(layer) == "Linear":
        return layer.weight.shape[0] if input_channels_first(layer) else layer.in_features
    return layer.in_channels


def _groups(layer: nn.Module) -> int:
    return getattr(layer, "groups", 1)


def weight_input_absmax(weight: torch.Tensor, *, groups: int = 1, transposed: bool = False) -> torch.Tensor:
    """``max|W_j|`` per input channel ``j``, over the weights of ``j``'s group.

    Linear ``[out, in]`` and conv ``[out, in / groups, *k]`` weights hold a group's output channels
    in dim 0 and its input channels in dim 1; ConvTranspose weights are ``[in, out / groups, *k]``."""
    w = weight.detach().abs()
    if transposed:
        return w.reshape(w.shape[0], -1).amax(dim=1)
    out_ch, in_per_group = w.shape[0], w.shape[1]
    per_group = w.reshape(groups, out_ch // groups, in_per_group, -1)
    return per_group.amax(dim=(1, 3)).reshape(groups * in_per_group)


def balance_factors(act_absmax: torch.Tensor, weight_absmax: torch.Tensor, strength: float) -> torch.Tensor:
    """``s_j = max|X_j|^a / max|W_j|^(1 - a)``, and 1 where either maximum is zero or not finite."""
    if act_absmax.shape != weight_absmax.shape:
        raise ValueError(
            f"activation maxima have shape {tuple(act_absmax.shape)} and weight maxima "
            f"{tuple(weight_absmax.shape)}, expected one value per input channel in both"
        )
    x = act_absmax.double()
    w = weight_absmax.double().to(x.device)
    valid = (x > 0) & (w > 0) & torch.isfinite(x) & torch.isfinite(w)
    safe_x = torch.where(valid, x, torch.ones_like(x))
    safe_w = torch.where(valid, w, torch.ones_like(w))
    factors = safe_x.pow(strength) / safe_w.pow(1.0 - strength)
    factors = torch.where(valid & torch.isfinite(factors) & (factors > 0), factors, torch.ones_like(factors))
    return factors.to(act_absmax.dtype)


def fold_into_weight(
    weight: torch.Tensor, factors: torch.Tensor, *, groups: int = 1, transposed: bool = False
) -> torch.Tensor:
    """The weight with input channel ``j`` multiplied by ``factors[j]``."""
    f = factors.to(device=weight.device, dtype=weight.dtype)
    view = [1] * weight.dim()
    if transposed:
        view[0] = -1
        return weight * f.reshape(view)
    out_ch, in_per_group = weight.shape[0], weight.shape[1]
    grouped = weight.reshape(groups, out_ch // groups, in_per_group, *weight.shape[2:])
    gview = [groups, 1, in_per_group] + [1] * (weight.dim() - 2)
    return (grouped * f.reshape(gview)).reshape(weight.shape)


class InputChannelMax:
    """Observer of ``max|X_j|`` per input channel of one layer, over any number of batches."""

    def __init__(self, layer: nn.Module) -> None:
        self.layer = layer
        self.absmax: torch.Tensor | None = None

    def observe(self, x: torch.Tensor) -> None:
        dim = channel_dim(self.layer, x.dim())
        reduce = tuple(d for d in range(x.dim()) if d != dim)
        batch_max = x.detach().abs().amax(dim=reduce) if reduce else x.detach().abs()
        if not torch.isfinite(batch_max).all():
            raise ValueError("the input holds nan or inf values")
        self.absmax = batch_max if self.absmax is None else torch.maximum(self.absmax, batch_max)

    def compute(self) -> torch.Tensor:
        if self.absmax is None:
            raise ValueError("no input was observed")
        return self.absmax


def observe_input_absmax(model: nn.Module, names: Iterable[str], batches: Iterable[Any],
                         indices: Iterable[int] | None = None) -> dict[str, torch.Tensor | None]:
    """One pass over ``batches``: ``max|X_j|`` at the input of every named layer, None for a layer no
    batch called. An input with nan or inf is a QuantizeError naming the layer and the batch (its
    position in ``indices``, by default the batch's own position)."""
    observers = {name: InputChannelMax(model.get_submodule(name)) for name in names}
    if not observers:
        return {}
    seen = [0]

    def make_hook(name: str, obs: InputChannelMax):
        def hook(_mod: nn.Module, args: tuple[Any, ...]) -> None:
            try:
                obs.observe(args[0])
            except ValueError:
                raise nonfinite_input_error(name, seen[0]) from None

        return hook

    hooks = {name: make_hook(name, obs) for name, obs in observers.items()}
    with torch.no_grad(), forward_hooks(model, hooks, pre=True):
        for index, batch in zip(indices if indices is not None else itertools.count(), batches):
            seen[0] = index
            run_batch(model, batch)
    return {name: obs.absmax for name, obs in observers.items()}


def collect_input_absmax(model: nn.Module, names: Sequence[str], batches: Sequence[Any]) -> dict[str, torch.Tensor]:
    """One pass over ``batches``: ``max|X_j|`` at the input of every named layer. A layer no batch
    called, or an input with nan or inf, is a QuantizeError naming the layer (and the batch)."""
    absmax = observe_input_absmax(model, names, batches)
    missing = [name for name, found in absmax.items() if found is None]
    if missing:
        raise not_called_error(missing[0], len(batches))
    return absmax


class ActivationBalance(nn.Module):
    """Divides the input of a balanced layer by its factors, along the layer's channel dimension."""

    def __init__(self, factors: torch.Tensor, channel_dim: int) -> None:
        super().__init__()
        self.channel_dim = channel_dim
        self.register_buffer("factors", factors.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return divide_channels(x, self.factors, self.channel_dim)

    def extra_repr(self) -> str:
        return f"channels={self.factors.numel()}, channel_dim={self.channel_dim}"


def layer_factors(layer: nn.Module, act_absmax: torch.Tensor, strength: float) -> torch.Tensor:
    """The balance factors of one layer from its observed input maxima."""
    w_max = weight_input_absmax(layer.weight, groups=_groups(layer), transposed=input_channels_first(layer))
    return balance_factors(act_absmax.to(w_max.device), w_max, strength)


def apply_balance(layer: nn.Module, factors: torch.Tensor) -> ActivationBalance:
    """Fold ``factors`` into the layer's weight (a new tensor) and return the module that divides its input.

    Used before weight quantization, so the weight quantizer sees the balanced weight."""
    with torch.no_grad():
        balanced = fold_into_weight(layer.weight, factors, groups=_groups(layer),
                                    transposed=input_channels_first(layer))
    # a new tensor, not changed in place: the engine's copy of the model shares its tensors with the model
    layer.weight = nn.Parameter(balanced, requires_grad=layer.weight.requires_grad)
    dim = -1 if layer_type(layer) == "Linear" else 1
    return ActivationBalance(factors.to(layer.weight.device), dim)



def balance_pass(model: nn.Module, layers: Sequence[LayerSpec], batches: Sequence[Any], *,
                 collect: Callable[[nn.Module, Sequence[str], Sequence[Any]], dict[str, torch.Tensor]]
                 = collect_input_absmax) -> dict[str, torch.Tensor]:
    """The engine's DMQ step (``quant.engine.BALANCE_PASS``): one pass over ``batches`` for ``max|X_j|``
    at every layer of ``layers`` (``LayerSpec``s with a ``dmq_balancer``), then the factors folded into
    each weight (new tensors). The engine divides the inputs during calibration and in the fake-quant model.
    ``collect(model, names, batches)`` gives the maxima (across processes: :mod:`quant.distributed`)."""
    absmax = collect(model, [spec.name for spec in layers], batches)
    factors: dict[str, torch.Tensor] = {}
    for spec in layers:
        layer = model.get_submodule(spec.name)
        found = layer_factors(layer, absmax[spec.name], spec.dmq_balancer.migration_strength)
        apply_balance(layer, found)
        setattr(layer, FACTORS_ATTR, found)
        factors[spec.name] = found
    return factors


@contextlib.contextmanager
def balanced_inputs(model: nn.Module) -> Iterator[None]:
    """While active, every layer balanced by :func:`balance_pass` divides its input by its factors, so
    the working model computes what the float model does (hooks always removed on exit)."""
    handles = []

    def hook(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        factors = getattr(module, FACTORS_ATTR)
        x = args[0]
        return (divide_channels(x, factors, channel_dim(module, x.dim())), *args[1:])

    try:
        for module in model.modules():
            if getattr(module, FACTORS_ATTR, None) is not None:
                handles.append(module.register_forward_pre_hook(hook))
        yield
    finally:
        for handle in handles:
            handle.remove()
