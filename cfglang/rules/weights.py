"""Model-aware rules (M) on a model's weights: a layer the forward never calls (M021) and a weight several
modules share (M022). Part of the model family (:mod:`cfglang.rules.model` registers them), its checks in
the family's table; they read what a model's inventory records (``Layer.called``, ``Inventory.shared``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from cfglang.diagnostics import Diagnostic, Severity, Span
from cfglang.rules import rule
from cfglang.rules.modelkit import CHECKS, COMMON as _COMMON, FAMILY as _M, LAYER as _LAYER, some as _some
from cfglang.rules.modelkit import diag as _diag

if TYPE_CHECKING:
    from cfglang.resolution import Resolution, Source

__all__ = ["LAYER_NOT_CALLED", "SHARED_WEIGHT"]


LAYER_NOT_CALLED = rule(
    "M021", "layer-not-called", Severity.WARNING,
    "an `override_layer_configs` entry for a layer the model's forward never calls",
    "A traced inventory (`amct layers`, or `--model`) records the layers the forward calls. One it never calls "
    "(torchvision's `resnet_fpn_backbone` keeps its ResNet's unused `fc`; a module whose weight another module "
    "reads directly, as `nn.MultiheadAttention` reads its `out_proj`) sees no calibration data, so the plan "
    "leaves it in float (`\"skip\": {\"reason\": \"not_called\"}`) and `amct plan` lists it among the weights "
    "left in float; an override for it changes nothing. The examples assume a model whose `fc` is never called.",
    "override_layer_configs {\n  layer_name: \"fc\"\n  calibration_config { hfmg_quantize { } }\n}\n",
    "common_config { hfmg_quantize { } }\n",
    family=_M,
)


@CHECKS.on_layer_attributes
def _overrides_of_uncalled_layers(res: Resolution) -> Iterator[Diagnostic]:
    for i, entry in enumerate(res.checked.config.override_layer_configs):
        layer = res.inventory.get(entry.layer_name)
        if layer is not None and layer.quantizable and not layer.called:
            yield _diag(LAYER_NOT_CALLED, res.where((_LAYER, i, "layer_name")),
                        f"`{layer.name}` in `override_layer_configs` is never called by the model's forward: it stays "
                        "in float and the entry changes nothing",
                        "delete the entry, or call the layer in the forward if it should be quantized")


SHARED_WEIGHT = rule(
    "M022", "shared-weight", Severity.WARNING,
    "a quantized layer whose weight other modules share (tied weights)",
    "A parameter held by several modules, as an embedding tied to the output layer (`lm_head.weight is "
    "embed.weight`), is never changed through one of its users: the engine gives the quantized layer its own "
    "copy of the weight to quantize, and the other users keep the float weight, so the quantized model no longer "
    "ties them (and holds one more copy). With `dmq_balancer` on such a layer, the balancing scale is folded "
    "into the layer's copy the same way. Skip the layer to keep the weight shared, in float. The examples "
    "assume a model whose `fc` shares its weight with the embedding `embed`.",
    "common_config { arq_quantize { } }\n",
    "common_config { arq_quantize { } }\nskip_layers: \"fc\"\n",
    family=_M,
)


@CHECKS.on_layer_attributes
def _shared_weights(res: Resolution) -> Iterator[Diagnostic]:
    inventory = res.inventory
    quantized = {layer.name: (source, found) for layer, source, found in res.resolved}
    for group in inventory.shared:
        holders = list(dict.fromkeys(inventory.holder(path) for path in group))
        for name in holders:
            if name not in quantized:
                continue
            source, found = quantized[name]
            others = [other for other in holders if other != name]
            path = next(path for path in group if inventory.holder(path) == name)
            dmq = " (and folds its `dmq_balancer` scale into that copy only)" if found.dmq_balancer else ""
            yield _diag(SHARED_WEIGHT, _written(res, source),
                        f"`{name}` is quantized and shares its weight `{path}` with "
                        f"{_some(others) if others else 'itself, under another name'}: the engine quantizes a copy "
                        f"of it for `{name}`{dmq}, and the other users keep the float weight",
                        f"`skip_layers: \"{name}\"` keeps the weight shared, in float")


def _written(res: Resolution, source: Source) -> Span | None:
    """Where the source of a layer's settings is written: its override's name, or `common_config`."""
    if source.entry is not None:
        return res.where(source.entry + ("layer_name" if source.level == _LAYER else "layer_type",))
    return res.where(source.path, True) if source.level == _COMMON else None
