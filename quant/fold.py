"""BatchNorm folding as AMCT does it: ``W' = W * g / sqrt(var + eps)`` per output channel and
``b' = (b - mu) * g / sqrt(var + eps) + beta``, only in eval mode with affine BN and running stats.

The conv keeps its name; the BatchNorm becomes ``nn.Identity`` in the engine's working copy.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from cfglang.plan import Fusion

__all__ = ["FoldError", "fold_batchnorm", "fold_pairs"]

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


class FoldError(ValueError):
    """A Conv+BatchNorm pair that cannot be folded."""


def fold_batchnorm(conv: nn.Module, bn: nn.Module) -> None:
    """Fold ``bn`` into ``conv`` (computed in float64, stored in the conv's dtype): the conv gets a new weight
    and bias; the tensors it held are not changed."""
    if bn.training:
        raise FoldError("is in train mode, expected eval mode (call `model.eval()`)")
    if bn.running_mean is None or bn.running_var is None:
        raise FoldError("has no running statistics (`track_running_stats=False`), expected them for folding")
    if not bn.affine:
        raise FoldError("is not affine (`affine=False`), expected an affine BatchNorm for folding")
    if bn.num_features != conv.out_channels:
        raise FoldError(f"has {bn.num_features} features, expected {conv.out_channels} (the conv's output channels)")
    with torch.no_grad():
        factor = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        weight = conv.weight.double() * factor.reshape(-1, *([1] * (conv.weight.dim() - 1)))
        bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(factor)
        bias = (bias - bn.running_mean.double()) * factor + bn.bias.double()
        # new tensors, not changed in place: the engine's copy of the model shares its tensors with the model
        dtype, grad = conv.weight.dtype, conv.weight.requires_grad
        conv.weight = nn.Parameter(weight.to(dtype), requires_grad=grad)
        conv.bias = nn.Parameter(bias.to(conv.bias.dtype if conv.bias is not None else dtype), requires_grad=grad)


def fold_pairs(model: nn.Module, pairs: Iterable[Fusion]) -> list[tuple[str, str]]:
    """Fold every pair of the plan's ``fusions`` in ``model`` (a copy); returns the pairs folded."""
    folded = []
    for pair in pairs:
        conv_name, bn_name = pair.conv, pair.bn
        conv = _get(model, conv_name, _CONVS, "conv")
        bn = _get(model, bn_name, _NORMS, "BatchNorm")
        try:
            fold_batchnorm(conv, bn)
        except FoldError as exc:
            raise FoldError(f"cannot fold `{bn_name}` into `{conv_name}`: `{bn_name}` {exc}") from None
        model.set_submodule(bn_name, nn.Identity())
        folded.append((conv_name, bn_name))
    return folded


def _get(model: nn.Module, name: str, kinds: tuple[type, ...], what: str) -> nn.Module:
    try:
        module = model.get_submodule(name)
    except AttributeError:
        raise FoldError(f"fusion pair names `{name}`, which is not a module of the model") from None
    if not isinstance(module, kinds):
        raise FoldError(f"fusion pair names `{name}` as its {what}, but it is a `{type(module).__name__}`")
    return module
