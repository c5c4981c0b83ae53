"""Model-aware rules (M) on what an override changes: M010-M013.

An override replaces `common_config` rather than merging with it; these rules say where that
drops a setting, changes nothing, or where AMCT's reading of `asymmetric` differs from the
documented precedence. Part of the model family (:mod:`cfglang.rules.model` registers them), its
checks in the family's table.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from cfglang import capabilities as cap
from cfglang.diagnostics import Diagnostic, Severity, Span
from cfglang.float32 import shortest_float32
from cfglang.rules import rule
from cfglang.rules.modelkit import CHECKS, COMMON as _COMMON, EXAMPLE_LAYERS as _LAYERS, FAMILY as _M, LAYER as _LAYER
from cfglang.rules.modelkit import TYPE as _TYPE, count as _count, diag as _diag, some as _some, who as _who

if TYPE_CHECKING:
    from cfglang.inventory import Layer
    from cfglang.resolution import Resolution, Resolved, Source

__all__ = ["OVERRIDE_DROPS_BALANCER", "OVERRIDE_DROPS_SETTING", "OVERRIDE_CHANGES_NOTHING", "ASYMMETRIC_PRECEDENCE"]


OVERRIDE_DROPS_BALANCER = rule(
    "M010", "override-drops-balancer", Severity.WARNING,
    "an override silently drops the `dmq_balancer` of `common_config`",
    "Overrides replace `common_config`, they do not merge with it: a layer whose override has no "
    "`dmq_balancer` is not balanced, even though `common_config` asks for balancing. " + _LAYERS,
    "common_config { dmq_balancer { } }\noverride_layer_configs {\n  layer_name: \"fc\"\n"
    "  calibration_config { hfmg_quantize { } }\n}\n",
    "common_config { dmq_balancer { } }\noverride_layer_configs {\n  layer_name: \"fc\"\n"
    "  calibration_config { hfmg_quantize { } dmq_balancer { } }\n}\n",
    family=_M,
)


def _applied(res: Resolution) -> Iterator[tuple[Source, list[tuple[Layer, Resolved]], Span | None]]:
    """Each override some layers take (an `override_layer_configs` or `override_layer_types` entry), those
    layers with what they resolve to, and where the entry names its layer or type."""
    applied: dict[int, tuple[Source, list[tuple[Layer, Resolved]]]] = {}
    for layer, source, found in res.resolved:
        if source.level in (_LAYER, _TYPE):
            applied.setdefault(id(source), (source, []))[1].append((layer, found))
    for source, items in applied.values():
        yield source, items, res.where(source.entry + (("layer_name",) if source.level == _LAYER else ("layer_type",)))


def _label(source: Source) -> str:
    if source.level == _LAYER:
        return f"the override of `{source.key}`"
    return f"the `{source.key}` type override"


@CHECKS.on_resolution
def _overrides_dropping_balancer(res: Resolution) -> Iterator[Diagnostic]:
    common = res.common
    if common.level != _COMMON or common.dmq is None:
        return
    for source, items, span in _applied(res):
        if source.dmq is None and any(layer.type in res.target.dmq for layer, _ in items):
            yield _diag(OVERRIDE_DROPS_BALANCER, span,
                        f"{_label(source)} has no `dmq_balancer`, so its layers are not balanced although "
                        "`common_config` sets one",
                        "overrides replace `common_config`, they do not merge: repeat the `dmq_balancer` in the "
                        "override", [(res.where(common.path + ("dmq_balancer",), True), "`dmq_balancer` set here")])


OVERRIDE_DROPS_SETTING = rule(
    "M011", "override-drops-setting", Severity.WARNING,
    "an override silently drops weight or activation settings of `common_config`",
    "Overrides replace, they do not merge: fields the override leaves unset take the built-in "
    "defaults, never the values of `common_config` (the one exception is `asymmetric`, which "
    "carries over when both use the same activation algorithm). " + _LAYERS,
    "common_config { ifmr_quantize { search_range_start: 0.8 } }\noverride_layer_configs {\n"
    "  layer_name: \"fc\"\n  calibration_config { arq_quantize { quant_bits: 8 } }\n}\n",
    "common_config { ifmr_quantize { search_range_start: 0.8 } }\noverride_layer_configs {\n"
    "  layer_name: \"fc\"\n  calibration_config {\n    arq_quantize { quant_bits: 8 }\n"
    "    ifmr_quantize { search_range_start: 0.8 }\n  }\n}\n",
    family=_M,
)


@CHECKS.on_resolution
def _overrides_dropping_settings(res: Resolution) -> Iterator[Diagnostic]:
    common = res.common
    if common.level != _COMMON:
        return
    for source, items, span in _applied(res):
        dropped = _dropped(res, source, items[0][0].type)
        if dropped:
            names = [name for name, _ in dropped]
            yield _diag(OVERRIDE_DROPS_SETTING, span,
                        f"{_label(source)} drops {_some(names, 6)} set in `common_config`: its layers use the "
                        "built-in defaults",
                        "overrides replace `common_config`, they do not merge: repeat the settings in the override",
                        [(res.where(path, name in ("ada_quantize", "hfmg_quantize")), f"`{name}` set here")
                         for name, path in dropped])


def _dropped(res: Resolution, source: Source, layer_type: str) -> list[tuple[str, tuple]]:
    """The blocks and values of `common_config` that ``source``, an override of layers of ``layer_type``, drops:
    each name and its path."""
    common = res.common
    dropped: list[tuple[str, tuple]] = []
    for group in ("wts", "acts"):
        mine, theirs = getattr(source, group), getattr(common, group)
        if theirs is None or (group == "wts" and layer_type not in res.target.weighted):
            continue
        default_algo = "arq_quantize" if group == "wts" else "ifmr_quantize"
        if mine is None and theirs.name != default_algo:
            dropped.append((theirs.name, common.path + (theirs.name,)))
            continue
        if mine is not None and mine.name != theirs.name:
            continue  # a deliberate change of algorithm
        for name, value in theirs.fields.items():
            if name in ("asymmetric", "dst_type") or (mine is not None and name in mine.fields):
                continue
            if value != _default(theirs.name, name, layer_type, res.target):
                dropped.append((name, common.path + (theirs.name, name)))
    return dropped


def _default(block: str, name: str, layer_type: str, target: cap.Target) -> Any:
    if name == "channel_wise":
        return layer_type in target.channel_wise
    return _block_defaults(block).get(name)


@functools.cache
def _block_defaults(block: str) -> dict[str, Any]:
    """The proto's defaults of the fields of a ``calibration_config`` block, floats as a resolution reads them."""
    from cfglang import schema  # protobuf: only where a model is given, never on the registry's every load

    message = schema.field_info("CalibrationConfig", block).message
    return {name: shortest_float32(v) if isinstance(v, float) else v for name, v in schema.defaults_of(message).items()}


OVERRIDE_CHANGES_NOTHING = rule(
    "M012", "override-changes-nothing", Severity.WARNING,
    "an override whose layers resolve exactly as they would without it",
    "Every layer the entry applies to gets the same weight, activation and balancer settings "
    "from the next level down (a type override or `common_config`), so the entry can be "
    "deleted. " + _LAYERS,
    "common_config { hfmg_quantize { } }\noverride_layer_configs {\n  layer_name: \"fc\"\n"
    "  calibration_config { hfmg_quantize { num_of_bins: 4096 } }\n}\n",
    "common_config { hfmg_quantize { } }\n",
    family=_M,
)


@CHECKS.on_resolution
def _overrides_changing_nothing(res: Resolution) -> Iterator[Diagnostic]:
    for source, items, span in _applied(res):
        if all(_no_effect(res, source, layer, found) for layer, found in items):
            below = res.below(source, items[0][0])
            yield _diag(OVERRIDE_CHANGES_NOTHING, span,
                        f"{_label(source)} changes nothing: without it, {_who([l.name for l, _ in items])} the same"
                        f" settings from {'the defaults' if below.level == 'default' else f'`{below.level}`'}",
                        "delete the entry")


def _no_effect(res: Resolution, source: Source, layer: Layer, found: Resolved) -> bool:
    """Same values without the entry, neither way through an impossible value (that one is reported)."""
    below = res.resolve(res.below(source, layer), layer)
    return not found.events and not below.events and found.same_values(below)


ASYMMETRIC_PRECEDENCE = rule(
    "M013", "asymmetric-precedence", Severity.WARNING,
    "an `asymmetric` that the documented precedence applies to a layer, while AMCT does not",
    "AMCT's documentation gives `asymmetric` the precedence override_layer_configs > "
    "override_layer_types > common_config > activation_offset. AMCT's code takes the value of the "
    "layer's own source, else `common_config`'s only when it uses the same activation algorithm, "
    "else `activation_offset`. So a type override's `asymmetric` never reaches a layer with its own "
    "`override_layer_configs` entry, and `common_config`'s never reaches a layer whose source chose "
    "the other algorithm. We follow the code and warn where the two readings differ. " + _LAYERS,
    "override_layer_types {\n  layer_type: \"Linear\"\n"
    "  calibration_config { ifmr_quantize { asymmetric: false } }\n}\noverride_layer_configs {\n"
    "  layer_name: \"fc\"\n  calibration_config { ifmr_quantize { search_step: 0.02 } }\n}\n",
    "override_layer_types {\n  layer_type: \"Linear\"\n"
    "  calibration_config { ifmr_quantize { asymmetric: false } }\n}\noverride_layer_configs {\n"
    "  layer_name: \"fc\"\n  calibration_config { ifmr_quantize { search_step: 0.02 asymmetric: false } }\n}\n",
    family=_M,
)


@CHECKS.on_resolution
def _asymmetric_precedence(res: Resolution) -> Iterator[Diagnostic]:
    """The documented precedence versus AMCT's rule (docs/semantics.md)."""
    groups: dict[tuple, list[str]] = {}
    for layer, _source, found in res.resolved:
        documented = _documented_asymmetric(res, layer)
        actual = found.asymmetric_from
        if documented is not None and documented[0] != actual[0]:
            groups.setdefault((documented, actual), []).append(layer.name)
    for ((value, level, path), (actual, actual_level, _)), names in groups.items():
        where = "`activation_offset`" if actual_level == "activation_offset" else (
            "the default `activation_offset`" if actual_level == "default" else f"`{actual_level}`")
        reason = ("has its own `override_layer_configs` entry" if level == _TYPE
                  else "uses the other activation algorithm")
        yield _diag(ASYMMETRIC_PRECEDENCE, res.where(path),
                    f"`asymmetric: {str(value).lower()}` in `{level}` does not reach "
                    f"{_count(len(names), 'layer')} ({_some(names)}) as the documented precedence suggests: each "
                    f"{reason}, so AMCT takes `asymmetric: {str(actual).lower()}` from {where}",
                    "set `asymmetric` in the layer's own activation block")


def _documented_asymmetric(res: Resolution, layer: Layer) -> tuple | None:
    """The value the documented precedence (layer > type > common > activation_offset) gives, if it
    comes from a type override or common_config (the two places where AMCT's rule can differ)."""
    own = res.layer_overrides.get(layer.name)
    chain = [s for s in (own, res.type_overrides.get(layer.type), res.common) if s is not None]
    for source in chain:
        if source.acts is not None and "asymmetric" in source.acts.fields:
            if source is res.source_of(layer):
                return None  # the layer's own source sets it: both readings agree
            return (source.acts.fields["asymmetric"], source.level,
                    source.path + (source.acts.name, "asymmetric"))
    return None
