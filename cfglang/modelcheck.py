"""Model-aware diagnostics (the M rules): what a resolution run can see.

Reads a finished :class:`cfglang.resolution.Resolution` (sources, per-layer
results, capability events) and returns diagnostics located through the
checker's span table; the resolver never calls this module (:func:`cfglang.resolve`
and the linter do). Everything is one pass over layers or entries.
"""

from __future__ import annotations

import difflib
import functools
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from cfglang import capabilities as cap
from cfglang import schema
from cfglang.diagnostics import Diagnostic, Span
from cfglang.float32 import shortest_float32
from cfglang.resolution import Resolution, Source
from cfglang.rules import REGISTRY
from cfglang.rules import capability as C
from cfglang.rules import model as M
from cfglang.rules import schema as F

__all__ = ["diagnostics"]

_TOP = Span(0, 0, 1, 1, 1, 1)
_LAYER, _TYPE, _COMMON = "override_layer_configs", "override_layer_types", "common_config"
# the global keys of AMCT's config JSON (common/config/config_base.py `_init_quant_tree`, the
# capacity table enabling neither `joint_quant` nor `weight_offset` for PyTorch)
_GLOBAL_KEYS = frozenset({"version", "batch_num", "activation_offset", "do_fusion", "skip_fusion_layers",
                          "fakequant_precision_mode"})
_SUGGEST_LIMIT = 50  # did-you-mean is O(layers) per name: only for the first unknown names


def diagnostics(res: Resolution) -> list[Diagnostic]:
    if any(d.code == F.OTHER_CONFIG_KIND for d in getattr(res.checked, "diagnostics", ())):
        return []  # a file of another AMCT config kind: nothing it names means what our checks assume
    found = [*_names(res), *_capabilities(res), *_overrides(res), *_asymmetric(res)]
    # the rules that read layer attributes say something no check without a model can: never deduplicated
    out = _dedupe(found, getattr(res.checked, "diagnostics", ())) + list(_layer_attributes(res))
    out.sort(key=lambda d: (d.span.start, d.code))
    return out


def _diag(code: str, span: Span | None, message: str, hint: str | None = None,
          related: Iterable[tuple[Span | None, str]] = ()) -> Diagnostic:
    return Diagnostic(code, REGISTRY[code].severity, span or _TOP, message, hint,
                      tuple((s, note) for s, note in related if s is not None))


def _some(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(f"`{n}`" for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _who(names: list[str]) -> str:
    """```fc` gets`` or ``3 layers (`a`, `b`, `c`) get``."""
    return f"`{names[0]}` gets" if len(names) == 1 else f"{len(names)} layers ({_some(names)}) get"


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _dedupe(found: list[Diagnostic], existing: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Drop ours where the checker already reports the same severity over the same text."""
    taken: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for d in existing:
        taken[d.severity].append((d.span.start, d.span.end))
    out = []
    for d in found:
        if any(s < d.span.end and d.span.start < e or s == d.span.start for s, e in taken[d.severity]):
            continue
        out.append(d)
    out.sort(key=lambda d: (d.span.start, d.code))
    return out


# names: skip_layers, override_layer_configs, skip_fusion_layers, types ---------


def _names(res: Resolution) -> Iterator[Diagnostic]:
    config = res.checked.config
    inventory = res.inventory
    suggest = _Suggest(inventory.names)
    for i, name in enumerate(config.skip_layers):
        yield from _layer_name(res, suggest, name, ("skip_layers", i), "skip_layers")
    for i, entry in enumerate(config.override_layer_configs):
        yield from _layer_name(res, suggest, entry.layer_name, (_LAYER, i, "layer_name"), "override_layer_configs")
    for i, name in enumerate(config.skip_fusion_layers):
        layer = inventory.get(name)
        if layer is None:
            yield _diag(M.UNKNOWN_LAYER, res.where(("skip_fusion_layers", i)), f"`{name}` in `skip_fusion_layers` is not a layer of the model",
                        suggest(name))
        elif layer.type not in cap.FOLDABLE_CONV:
            yield _diag(M.SKIP_FUSION_NOT_CONV, res.where(("skip_fusion_layers", i)),
                        f"`{name}` in `skip_fusion_layers` is a `{layer.type}`, expected a layer AMCT fuses "
                        f"({cap.type_names(cap.FOLDABLE_CONV)})", "AMCT refuses the file: only a convolution is "
                        "fused with its BatchNorm")
        elif inventory.traced and inventory.bn_of(name) is None:
            yield _diag(M.NO_FOLDABLE_BN, res.where(("skip_fusion_layers", i)),
                        f"`{name}` in `skip_fusion_layers` has no BatchNorm to fold (a `{layer.type}`)",
                        "only a Conv1d/2d/3d followed by a BatchNorm that reads only its output is folded")
    present = {layer.type for layer in inventory.layers}
    for field_name, types in (("override_layer_types", [e.layer_type for e in config.override_layer_types]),
                              ("skip_layer_types", list(config.skip_layer_types))):
        for i, layer_type in enumerate(types):
            if layer_type in cap.QUANTIZABLE and layer_type not in present:
                path = (field_name, i, "layer_type") if field_name == _TYPE else (field_name, i)
                yield _diag(M.UNUSED_LAYER_TYPE, res.where(path),
                            f"`{layer_type}` in `{field_name}` matches no layer of the model",
                            f"the model's quantizable types are {_some(sorted(_quantizable_types(res)), 9)}")
    yield from _skipped_and_overridden(res)
    quantizable = inventory.quantizable
    for layer in quantizable:
        if layer.name in _GLOBAL_KEYS:
            yield _diag(M.LAYER_NAMED_LIKE_GLOBAL, None,
                        f"the model's `{layer.type}` layer is called `{layer.name}`, which AMCT reads as the "
                        f"global key `{layer.name}`", "rename the module (AMCT: \"... is a global parameter, can "
                        "not be a layer name\")")
    if not quantizable and inventory.layers:
        yield _diag(M.NOTHING_TO_QUANTIZE, None, "the model has no layer AMCT quantizes",
                    f"quantizable types: {', '.join(cap.QUANTIZABLE)}")
    if quantizable and len(res.skipped) == len(quantizable):
        first = ("skip_layers", 0) if config.skip_layers else ("skip_layer_types", 0)
        yield _diag(M.NOTHING_TO_QUANTIZE, res.where(first),
                    f"every quantizable layer of the model is skipped ({_count(len(quantizable), 'layer')}):"
                    " nothing would be quantized")
    if config.do_fusion and not inventory.traced:
        yield _diag(M.GRAPH_UNKNOWN, res.where(("do_fusion",)),
                    "the model's graph is unknown (it could not be traced): no Conv+BatchNorm pair is folded")


def _quantizable_types(res: Resolution) -> set[str]:
    return {layer.type for layer in res.inventory.quantizable}


def _layer_name(res: Resolution, suggest, name: str, path: tuple, where: str) -> Iterator[Diagnostic]:
    layer = res.inventory.get(name)
    if layer is None:
        yield _diag(M.UNKNOWN_LAYER, res.where(path), f"`{name}` in `{where}` is not a layer of the model", suggest(name))
    elif not layer.quantizable and where == "override_layer_configs":
        refused = _refused_for_other_module(res.layer_overrides.get(name))
        if refused is not None:
            block = refused[1][-1].endswith(("_quantize", "_balancer"))  # a block: point at its name
            yield _diag(M.UNSUPPORTED_FOR_LAYER, res.where(refused[1], block),
                        f"{refused[0]} in the override of `{name}`, a `{layer.type}` module, which AMCT does not "
                        f"quantize: AMCT refuses the value for it", "delete the entry")
        else:
            yield _diag(M.OVERRIDE_NOT_QUANTIZABLE, res.where(path),
                        f"`{name}` in `{where}` is a `{layer.type}`, which AMCT does not quantize: the entry changes "
                        f"nothing", "delete the entry")
    elif not layer.quantizable:
        yield _diag(M.NOT_QUANTIZABLE_LAYER, res.where(path),
                    f"`{name}` in `{where}` is a `{layer.type}`, which AMCT does not quantize",
                    f"quantizable types: {', '.join(cap.QUANTIZABLE)}")


def _refused_for_other_module(source: Source | None) -> tuple[str, tuple] | None:
    """What AMCT's `_get_override_layer_configs` refuses in the override of a module it does not quantize
    (its per-layer checks run for any module: no such module is channel-wise, balanced, INT16, AdaRound
    or 6/7-bit capable), and the block or value that says it."""
    if source is None:
        return None
    wts, acts = source.wts, source.acts
    if wts is not None and wts.name == "arq_quantize" and wts.fields.get("channel_wise") is True:
        return "`channel_wise: true`", source.path + (wts.name, "channel_wise")
    if source.dmq is not None:
        return "`dmq_balancer`", source.path + (source.dmq.name,)
    if acts is not None and acts.fields.get("dst_type") == "INT16":
        return "`dst_type: INT16`", source.path + (acts.name, "dst_type")
    if wts is not None and wts.name == "ada_quantize":
        return "`ada_quantize`", source.path + (wts.name,)
    if wts is not None and wts.fields.get("quant_bits") in (6, 7):
        return f"`quant_bits: {wts.fields['quant_bits']}`", source.path + (wts.name, "quant_bits")
    return None


class _Suggest:
    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.lower = {n.lower(): n for n in names}
        self.calls = 0

    def __call__(self, name: str) -> str | None:
        exact = self.lower.get(name.lower())
        if exact is None:
            self.calls += 1
            if self.calls > _SUGGEST_LIMIT:
                return None
            close = difflib.get_close_matches(name, self.names, n=1, cutoff=0.6)
            exact = close[0] if close else None
        return f"did you mean `{exact}`?" if exact else None


def _skipped_and_overridden(res: Resolution) -> Iterator[Diagnostic]:
    config = res.checked.config
    for i, entry in enumerate(config.override_layer_configs):
        layer = res.inventory.get(entry.layer_name)
        if layer is None or not layer.quantizable:
            continue
        skip = res.skip_of(layer)
        if skip is None:
            continue
        where = (("skip_layers", res.skip_names[layer.name]) if skip.reason == "skip_layers"
                 else ("skip_layer_types", res.skip_types[layer.type]))
        yield _diag(M.SKIPPED_AND_OVERRIDDEN, res.where((_LAYER, i, "layer_name")),
                    f"`{layer.name}` is overridden but also skipped by `{skip.reason}`: the override is never used",
                    "remove the override or the skip", [(res.where(where), "skipped here")])
    for i, entry in enumerate(config.override_layer_types):
        if entry.layer_type in res.skip_types:
            yield _diag(M.SKIPPED_AND_OVERRIDDEN, res.where((_TYPE, i, "layer_type")),
                        f"`{entry.layer_type}` is overridden but also listed in `skip_layer_types`:"
                        " the override is never used", "remove the override or the skip",
                        [(res.where(("skip_layer_types", res.skip_types[entry.layer_type])), "skipped here")])


# capability events (docs/semantics.md, "Capability fallbacks and errors") ------

def _shown(what: str, value: Any) -> str:
    if what in ("ada_quantize", "dmq_balancer"):
        return f"`{what}`"
    return f"`{what}: {str(value).lower() if isinstance(value, bool) else value}`"


def _capabilities(res: Resolution) -> Iterator[Diagnostic]:
    groups: dict[tuple, list[str]] = {}
    for layer, _source, found in res.resolved:
        for event in found.events:
            groups.setdefault((event, layer.type), []).append(layer.name)
    for (event, layer_type), names in groups.items():
        if event.what == "channel_wise":
            yield from _channel_wise(res, event, layer_type, names)
            continue
        if event.what in _ATTRIBUTE_EVENTS:
            continue  # _layer_attributes
        because, outcome = C.FALLBACKS[event.what](event.value, res.target)
        is_block = event.what in ("ada_quantize", "dmq_balancer")
        span = res.where(event.path, is_block)
        if event.level in (_COMMON, "activation_offset"):
            origin = "in `common_config`" if event.level == _COMMON else ""
            yield _diag(M.CAPABILITY_FALLBACK, span,
                        f"{_shown(event.what, event.value)} {origin} does not apply to "
                        f"{_count(len(names), f'`{layer_type}` layer')} ({_some(names)}): {outcome}".replace("  ", " "),
                        because)
        elif event.level == _LAYER:
            yield _diag(M.UNSUPPORTED_FOR_LAYER, span,
                        f"{_shown(event.what, event.value)} in the override of `{names[0]}`, a `{layer_type}` layer:"
                        f" {because}")
        # a type override's impossible value needs no model: the checker reports it (C rules)


def _origin(event, layer_type: str) -> str:
    if event.level == _COMMON:
        return "in `common_config`"
    return f"in the `{layer_type}` type override" if event.level == _TYPE else "in its override"


_ATTRIBUTE_EVENTS = ("int4_pack", "int16_bias")


def _layer_attributes(res: Resolution) -> Iterator[Diagnostic]:
    groups: dict[tuple, list[str]] = {}
    for layer, _source, found in res.resolved:
        for event in found.events:
            if event.what in _ATTRIBUTE_EVENTS:
                groups.setdefault((event, layer.type), []).append(layer.name)
    for (event, layer_type), names in groups.items():
        yield from _layer_attribute(res, event, layer_type, names)
    yield from _unjudged(res)


def _int4_unknowns(layer) -> list[str]:
    """The attributes AMCT's INT4 packing check reads that the inventory does not record."""
    needed = {"LSTM": ("in_channels", "hidden_size"), "GRU": ("in_channels", "hidden_size"),
              "Linear": ("in_channels",)}.get(layer.type, ("groups", "in_channels"))
    return [name for name in needed if getattr(layer, name) is None]


def _written(res: Resolution, layer, level: str, name: str) -> Span | None:
    """Where the value ``name`` (``quant_bits`` / ``dst_type``) that ``layer`` got from ``level`` is written."""
    source = {_LAYER: res.layer_overrides.get(layer.name), _TYPE: res.type_overrides.get(layer.type),
              _COMMON: res.common}.get(level)
    block = None if source is None else source.wts if name == "quant_bits" else source.acts
    return None if block is None else res.where(source.path + (block.name, name))


def _unjudged(res: Resolution) -> Iterator[Diagnostic]:
    """M020: layers a layer-attribute rule of the target applies to, listed without the attributes."""
    target = res.target
    int4: list[str] = []
    int16: list[str] = []
    missing: set[str] = set()
    first: dict[str, Span | None] = {}
    for layer, _source, found in res.resolved:
        if target.int4_packed_along_cin and found.weight is not None and found.weight.bits == 4:
            unknown = _int4_unknowns(layer)
            if unknown:
                int4.append(layer.name)
                missing.update(unknown)
                first.setdefault("int4", _written(res, layer, found.provenance["weight.bits"].source, "quant_bits"))
        if (layer.type in target.int16_needs_bias and layer.bias is None
                and found.activation is not None and found.activation.bits == 16):
            int16.append(layer.name)
            first.setdefault("int16", _written(res, layer, found.provenance["activation.bits"].source, "dst_type"))
    hint = "write the inventory again with `amct layers` (it records them), or lint with `--model`"
    if int4:
        names = " / ".join(f"`{m}`" for m in ("groups", "in_channels", "hidden_size") if m in missing)
        yield _diag(M.LAYER_ATTRIBUTES_UNKNOWN, first["int4"],
                    f"the layer inventory does not record {names} of {_count(len(int4), 'layer')} at "
                    f"`quant_bits: 4` ({_some(int4)}): target `{target.name}` gives 8-bit weights to grouped "
                    "convolutions and odd input channels, not checked for them", hint)
    if int16:
        yield _diag(M.LAYER_ATTRIBUTES_UNKNOWN, first["int16"],
                    f"the layer inventory does not record `bias` of {_count(len(int16), 'layer')} at "
                    f"`dst_type: INT16` ({_some(int16)}): target `{target.name}` takes INT16 for them only "
                    "with a bias, not checked for them", hint)


def _layer_attribute(res: Resolution, event, layer_type: str, names: list[str]) -> Iterator[Diagnostic]:
    """The rules that read a layer's attributes (AMCT's INT4 packing, INT16 without bias), at every level."""
    span = res.where(event.path)
    because = event.reason(layer_type, res.target)
    layers = _count(len(names), f"`{layer_type}` layer")
    if event.what == "int4_pack":
        if event.level == _LAYER:
            what = f"in the override of `{names[0]}`, a `{layer_type}` layer, gives it"
        else:
            what = f"{_origin(event, layer_type)} gives {layers} ({_some(names)})"
        yield _diag(M.INT4_NOT_PACKABLE, span,
                    f"`quant_bits: 4` {what} 8-bit weights ({cap.INT4_PROBLEMS[event.value]}): {cap.INT4_PACKING}",
                    f"AMCT (target `{res.target.name}`) warns \"... downgraded to INT8 (A8W8)\"; write "
                    f"`quant_bits: 8` for {'it' if len(names) == 1 else 'them'} to say so")
        return
    common_int16 = res.common.acts is not None and res.common.acts.fields.get("dst_type") == "INT16"
    if event.level == _LAYER:
        yield _diag(M.UNSUPPORTED_FOR_LAYER, span,
                    f"`dst_type: INT16` in the override of `{names[0]}`, a `{layer_type}` layer without bias: "
                    f"{because}", "AMCT refuses the file (\"int16_quantizable not support for ... layer\")")
    elif event.level == _TYPE and not common_int16:
        yield _diag(M.INT16_TYPE_OVERRIDE_REFUSED, span,
                    f"`dst_type: INT16` in the `{layer_type}` type override reaches {layers} without bias "
                    f"({_some(names)}), which AMCT's `quantize_model` refuses: {because}",
                    f"give {'it' if len(names) == 1 else 'each'} an `override_layer_configs` entry with INT8 "
                    "activations")
    else:
        yield _diag(M.CAPABILITY_FALLBACK, span,
                    f"`dst_type: INT16` {_origin(event, layer_type)} does not apply to {layers} without bias "
                    f"({_some(names)}): INT8 instead", because)


def _channel_wise(res: Resolution, event, layer_type: str, names: list[str]) -> Iterator[Diagnostic]:
    span = res.where(event.path)
    if event.level == _COMMON:
        yield _diag(M.CHANNEL_WISE_REACHES, span,
                    f"`channel_wise: true` in `common_config` reaches {_count(len(names), f'`{layer_type}` layer')}"
                    f" ({_some(names)}), and AMCT requires `channel_wise: false` for `{layer_type}`",
                    f"add an `override_layer_types` entry for `{layer_type}`: override_layer_types "
                    f"{{ layer_type: \"{layer_type}\" calibration_config {{ arq_quantize {{ channel_wise: false }} }} }}")
    elif event.level == _LAYER:
        yield _diag(M.CHANNEL_WISE_REACHES, span,
                    f"`channel_wise: true` in the override of `{names[0]}`, a `{layer_type}` layer:"
                    f" AMCT requires `channel_wise: false` for `{layer_type}`", "set `channel_wise: false`")


# overrides: dropped settings, no effect -----------------------------------------


def _overrides(res: Resolution) -> Iterator[Diagnostic]:
    applied: dict[int, tuple[Source, list]] = {}
    for layer, source, found in res.resolved:
        if source.level in (_LAYER, _TYPE):
            applied.setdefault(id(source), (source, []))[1].append((layer, found))
    for source, items in applied.values():
        label = _label(source)
        span = res.where(source.entry + (("layer_name",) if source.level == _LAYER else ("layer_type",)))
        yield from _dropped(res, source, label, span, [layer for layer, _ in items])
        if all(_no_effect(res, source, layer, found) for layer, found in items):
            below = res.below(source, items[0][0])
            yield _diag(M.OVERRIDE_CHANGES_NOTHING, span,
                        f"{label} changes nothing: without it, {_who([l.name for l, _ in items])} the same settings"
                        f" from {'the defaults' if below.level == 'default' else f'`{below.level}`'}",
                        "delete the entry")


def _no_effect(res: Resolution, source: Source, layer, found) -> bool:
    """Same values without the entry, neither way through an impossible value (that one is reported)."""
    below = res.resolve(res.below(source, layer), layer)
    return not found.events and not below.events and found.same_values(below)


def _label(source: Source) -> str:
    if source.level == _LAYER:
        return f"the override of `{source.key}`"
    return f"the `{source.key}` type override"


def _dropped(res: Resolution, source: Source, label: str, span: Span | None, layers: list) -> Iterator[Diagnostic]:
    common = res.common
    if common.level != _COMMON:
        return
    if common.dmq is not None and source.dmq is None and any(layer.type in res.target.dmq for layer in layers):
        yield _diag(M.OVERRIDE_DROPS_BALANCER, span,
                    f"{label} has no `dmq_balancer`, so its layers are not balanced although `common_config` sets one",
                    "overrides replace `common_config`, they do not merge: repeat the `dmq_balancer` in the override",
                    [(res.where(common.path + ("dmq_balancer",), True), "`dmq_balancer` set here")])
    dropped: list[tuple[str, tuple]] = []
    layer_type = layers[0].type
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
    if dropped:
        names = [name for name, _ in dropped]
        yield _diag(M.OVERRIDE_DROPS_SETTING, span,
                    f"{label} drops {_some(names, 6)} set in `common_config`: its layers use the built-in defaults",
                    "overrides replace `common_config`, they do not merge: repeat the settings in the override",
                    [(res.where(path, name in ("ada_quantize", "hfmg_quantize")), f"`{name}` set here")
                     for name, path in dropped])


def _default(block: str, name: str, layer_type: str, target: cap.Target) -> Any:
    if name == "channel_wise":
        return layer_type in target.channel_wise
    return _block_defaults(block).get(name)


@functools.cache
def _block_defaults(block: str) -> dict[str, Any]:
    """The proto's defaults of the fields of a ``calibration_config`` block, floats as a resolution reads them."""
    message = schema.field_info("CalibrationConfig", block).message
    return {name: shortest_float32(v) if isinstance(v, float) else v for name, v in schema.defaults_of(message).items()}


# asymmetric: documented precedence versus AMCT's rule (docs/semantics.md) -------


def _asymmetric(res: Resolution) -> Iterator[Diagnostic]:
    groups: dict[tuple, list[str]] = {}
    for layer, source, found in res.resolved:
        documented = _documented_asymmetric(res, layer)
        actual = found.asymmetric_from
        if documented is not None and documented[0] != actual[0]:
            groups.setdefault((documented, actual), []).append(layer.name)
    for ((value, level, path), (actual, actual_level, _)), names in groups.items():
        where = "`activation_offset`" if actual_level == "activation_offset" else (
            "the default `activation_offset`" if actual_level == "default" else f"`{actual_level}`")
        reason = ("has its own `override_layer_configs` entry" if level == _TYPE
                  else "uses the other activation algorithm")
        yield _diag(M.ASYMMETRIC_PRECEDENCE, res.where(path),
                    f"`asymmetric: {str(value).lower()}` in `{level}` does not reach "
                    f"{_count(len(names), 'layer')} ({_some(names)}) as the documented precedence suggests: each "
                    f"{reason}, so AMCT takes `asymmetric: {str(actual).lower()}` from {where}",
                    "set `asymmetric` in the layer's own activation block")


def _documented_asymmetric(res: Resolution, layer) -> tuple | None:
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
