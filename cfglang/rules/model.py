"""Model-aware rules (M): what only a config resolved against a model can show.

They run when a model or a layer inventory is given (``amct lint --layers``,
``amct plan``). Each rule's check sits below it, in :data:`CHECKS`: a function
of a finished :class:`cfglang.resolution.Resolution` (sources, per-layer
results, capability events) that yields diagnostics located through the
checker's span table (``@CHECKS.on_resolution``; ``@CHECKS.on_layer_attributes``
for the rules that read a layer's attributes). :mod:`cfglang.modelcheck` runs
them; the resolver never does. The registry loads this module on every lint,
and a lint without a model never imports the resolver: its types are named for
type checkers only. Every check is one pass over layers or entries.

The rules on what an override changes (M010-M013) are in :mod:`cfglang.rules.overrides`, those on a
model's weights (M021, M022) in :mod:`cfglang.rules.weights`; this module registers them, and
:mod:`cfglang.rules.modelkit` holds what the three share.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from cfglang import capabilities as cap
from cfglang.diagnostics import Diagnostic, Severity, Span
from cfglang.rules import capability as C
from cfglang.rules import overrides, weights  # noqa: F401  the family's other rules, registered with it
from cfglang.rules import rule
from cfglang.rules.modelkit import CHECKS, COMMON as _COMMON, EXAMPLE_LAYERS as _LAYERS, FAMILY as _M, LAYER as _LAYER
from cfglang.rules.modelkit import TYPE as _TYPE, count as _count, diag as _diag, some as _some

if TYPE_CHECKING:
    from cfglang.inventory import Layer
    from cfglang.resolution import Event, Resolution, Source

__all__ = [
    "CHECKS",
    "UNKNOWN_LAYER",
    "NOT_QUANTIZABLE_LAYER",
    "UNUSED_LAYER_TYPE",
    "SKIPPED_AND_OVERRIDDEN",
    "NOTHING_TO_QUANTIZE",
    "NO_FOLDABLE_BN",
    "CAPABILITY_FALLBACK",
    "UNSUPPORTED_FOR_LAYER",
    "CHANNEL_WISE_REACHES",
    "GRAPH_UNKNOWN",
    "SKIP_FUSION_NOT_CONV",
    "OVERRIDE_NOT_QUANTIZABLE",
    "LAYER_NAMED_LIKE_GLOBAL",
    "INT4_NOT_PACKABLE",
    "INT16_TYPE_OVERRIDE_REFUSED",
    "LAYER_ATTRIBUTES_UNKNOWN",
]


def _event_groups(res: Resolution) -> dict[tuple[Event, str], list[str]]:
    """The names of the layers each capability event (:class:`cfglang.resolution.Event`) is found for, by the
    event and the layers' type, in model order (docs/semantics.md, "Capability fallbacks and errors")."""
    groups: dict[tuple[Event, str], list[str]] = {}
    for layer, _source, found in res.resolved:
        for event in found.events:
            groups.setdefault((event, layer.type), []).append(layer.name)
    return groups


def _int16_groups(res: Resolution, code: str) -> Iterator[tuple[Event, str, list[str]]]:
    """The groups of :func:`_event_groups` whose INT16 activations a Linear without bias cannot take, that
    ``code`` reports: the layer's own override is refused (M008); a type override is refused while
    `common_config` asks for INT8 (M019); the rest falls back (M007)."""
    common_int16 = res.common.acts is not None and res.common.acts.fields.get("dst_type") == "INT16"
    for (event, layer_type), names in _event_groups(res).items():
        if event.what != "int16_bias":
            continue
        found = (UNSUPPORTED_FOR_LAYER if event.level == _LAYER
                 else INT16_TYPE_OVERRIDE_REFUSED if event.level == _TYPE and not common_int16
                 else CAPABILITY_FALLBACK)
        if found == code:
            yield event, layer_type, names


def _origin(event: Event, layer_type: str) -> str:
    if event.level == _COMMON:
        return "in `common_config`"
    return f"in the `{layer_type}` type override" if event.level == _TYPE else "in its override"



UNKNOWN_LAYER = rule(
    "M001", "unknown-layer", Severity.ERROR,
    "a layer name that is not a module of the model",
    "`skip_layers`, `skip_fusion_layers` and `override_layer_configs` name modules as "
    "`model.named_modules()` spells them (`layer1.0.conv1`). AMCT refuses a config with such a name: "
    "\"Layer ... does not exist in the graph.\" (`skip_layers`, `override_layer_configs`) and "
    "\"Layer \\\"...\\\" in skip_fusion_layers does not exist in the graph.\" (`skip_fusion_layers`). " + _LAYERS,
    "skip_layers: \"conv_1\"\n",
    "skip_layers: \"conv1\"\n",
    family=_M,
)


_SUGGEST_LIMIT = 50  # did-you-mean is O(layers) per name: only for the first unknown names


def _named_layers(res: Resolution) -> Iterator[tuple[str, tuple, str]]:
    """Each layer name the config writes: ``(its field, its path, the name)``."""
    config = res.checked.config
    for i, name in enumerate(config.skip_layers):
        yield "skip_layers", ("skip_layers", i), name
    for i, entry in enumerate(config.override_layer_configs):
        yield _LAYER, (_LAYER, i, "layer_name"), entry.layer_name
    for i, name in enumerate(config.skip_fusion_layers):
        yield "skip_fusion_layers", ("skip_fusion_layers", i), name


@CHECKS.on_resolution
def _unknown_layers(res: Resolution) -> Iterator[Diagnostic]:
    suggest = _Suggest(res.inventory.names)
    for where, path, name in _named_layers(res):
        if res.inventory.get(name) is None:
            yield _diag(UNKNOWN_LAYER, res.where(path), f"`{name}` in `{where}` is not a layer of the model",
                        suggest(name))


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


NOT_QUANTIZABLE_LAYER = rule(
    "M002", "not-quantizable-layer", Severity.ERROR,
    "`skip_layers` names a module AMCT does not quantize",
    "Only Conv1d/2d/3d, ConvTranspose1d/2d, Linear, AvgPool2d, LSTM and GRU layers are quantized. "
    "AMCT refuses a config that skips another module (\"Layer ... does not support quantization.\"); "
    "an `override_layer_configs` entry for one is M016. " + _LAYERS,
    "skip_layers: \"bn1\"\n",
    "skip_layers: \"conv1\"\n",
    family=_M,
)


@CHECKS.on_resolution
def _skipped_not_quantizable(res: Resolution) -> Iterator[Diagnostic]:
    for i, name in enumerate(res.checked.config.skip_layers):
        layer = res.inventory.get(name)
        if layer is not None and not layer.quantizable:
            yield _diag(NOT_QUANTIZABLE_LAYER, res.where(("skip_layers", i)),
                        f"`{name}` in `skip_layers` is a `{layer.type}`, which AMCT does not quantize",
                        f"quantizable types: {', '.join(cap.QUANTIZABLE)}")


UNUSED_LAYER_TYPE = rule(
    "M003", "unused-layer-type", Severity.WARNING,
    "an `override_layer_types` or `skip_layer_types` type that no layer of the model has",
    "The entry applies to no layer, so it does nothing for this model; it is often left over "
    "from another model or a wrong type. " + _LAYERS,
    "override_layer_types {\n  layer_type: \"Conv1d\"\n"
    "  calibration_config { arq_quantize { channel_wise: false } }\n}\n",
    "override_layer_types {\n  layer_type: \"Conv2d\"\n"
    "  calibration_config { arq_quantize { channel_wise: false } }\n}\n",
    family=_M,
)


@CHECKS.on_resolution
def _unused_layer_types(res: Resolution) -> Iterator[Diagnostic]:
    config = res.checked.config
    present = {layer.type for layer in res.inventory.layers}
    for field_name, types in ((_TYPE, [e.layer_type for e in config.override_layer_types]),
                              ("skip_layer_types", list(config.skip_layer_types))):
        for i, layer_type in enumerate(types):
            if layer_type in cap.QUANTIZABLE and layer_type not in present:
                path = (field_name, i, "layer_type") if field_name == _TYPE else (field_name, i)
                quantizable = sorted({layer.type for layer in res.inventory.quantizable})
                yield _diag(UNUSED_LAYER_TYPE, res.where(path),
                            f"`{layer_type}` in `{field_name}` matches no layer of the model",
                            f"the model's quantizable types are {_some(quantizable, 9)}")


SKIPPED_AND_OVERRIDDEN = rule(
    "M004", "skipped-and-overridden", Severity.WARNING,
    "a layer (or type) that is both skipped and overridden",
    "Skipping wins: a skipped layer is not quantized, so its override is never used. Remove one "
    "of the two. " + _LAYERS,
    "skip_layers: \"fc\"\noverride_layer_configs {\n  layer_name: \"fc\"\n"
    "  calibration_config { hfmg_quantize { } }\n}\n",
    "override_layer_configs {\n  layer_name: \"fc\"\n  calibration_config { hfmg_quantize { } }\n}\n",
    family=_M,
)


@CHECKS.on_resolution
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
        yield _diag(SKIPPED_AND_OVERRIDDEN, res.where((_LAYER, i, "layer_name")),
                    f"`{layer.name}` is overridden but also skipped by `{skip.reason}`: the override is never used",
                    "remove the override or the skip", [(res.where(where), "skipped here")])
    for i, entry in enumerate(config.override_layer_types):
        if entry.layer_type in res.skip_types:
            yield _diag(SKIPPED_AND_OVERRIDDEN, res.where((_TYPE, i, "layer_type")),
                        f"`{entry.layer_type}` is overridden but also listed in `skip_layer_types`:"
                        " the override is never used", "remove the override or the skip",
                        [(res.where(("skip_layer_types", res.skip_types[entry.layer_type])), "skipped here")])


NOTHING_TO_QUANTIZE = rule(
    "M005", "nothing-to-quantize", Severity.ERROR,
    "every quantizable layer of the model is skipped, or the model has none",
    "With every layer skipped, quantization produces the float model unchanged, and AMCT refuses the "
    "config (\"Except skip_layers or skip_types, no layer need to quantize.\"); a model without any "
    "quantizable layer is refused too (\"No layer support quantization in the graph.\"). " + _LAYERS,
    "skip_layer_types: [\"Conv2d\", \"Linear\"]\n",
    "skip_layer_types: \"Linear\"\n",
    family=_M,
)


@CHECKS.on_resolution
def _nothing_to_quantize(res: Resolution) -> Iterator[Diagnostic]:
    quantizable = res.inventory.quantizable
    if not quantizable and res.inventory.layers:
        yield _diag(NOTHING_TO_QUANTIZE, None, "the model has no layer AMCT quantizes",
                    f"quantizable types: {', '.join(cap.QUANTIZABLE)}")
    if quantizable and len(res.skipped) == len(quantizable):
        first = ("skip_layers", 0) if res.checked.config.skip_layers else ("skip_layer_types", 0)
        yield _diag(NOTHING_TO_QUANTIZE, res.where(first),
                    f"every quantizable layer of the model is skipped ({_count(len(quantizable), 'layer')}):"
                    " nothing would be quantized")


NO_FOLDABLE_BN = rule(
    "M006", "no-foldable-batchnorm", Severity.WARNING,
    "`skip_fusion_layers` names a layer that has no BatchNorm to fold",
    "Only a Conv1d/2d/3d whose output goes to a BatchNorm alone (and the BatchNorm reads nothing "
    "else) is folded, so listing a convolution without one changes nothing; AMCT accepts it. A layer "
    "of another type is an error (M015). " + _LAYERS,
    "skip_fusion_layers: \"conv2\"\n",
    "skip_fusion_layers: \"conv1\"\n",
    family=_M,
)


@CHECKS.on_resolution
def _no_foldable_batchnorm(res: Resolution) -> Iterator[Diagnostic]:
    inventory = res.inventory
    if not inventory.traced:
        return  # M014 says the graph is unknown
    for i, name in enumerate(res.checked.config.skip_fusion_layers):
        layer = inventory.get(name)
        if layer is not None and layer.type in cap.FOLDABLE_CONV and inventory.bn_of(name) is None:
            yield _diag(NO_FOLDABLE_BN, res.where(("skip_fusion_layers", i)),
                        f"`{name}` in `skip_fusion_layers` has no BatchNorm to fold (a `{layer.type}`)",
                        "only a Conv1d/2d/3d followed by a BatchNorm that reads only its output is folded")


CAPABILITY_FALLBACK = rule(
    "M007", "capability-fallback", Severity.INFO,
    "a `common_config` value that some layer types of the model cannot use: they fall back",
    "`common_config` reaches every layer without an override. Where a value is impossible for a "
    "type (quant_bits 6/7 outside Conv2d, ada_quantize outside Conv2d/ConvTranspose2d/Linear, "
    "dmq_balancer on AvgPool2d/LSTM/GRU, asymmetric activations on Conv3d), AMCT quietly uses the "
    "fallback (8 bits, default ARQ, no balancing, symmetric). The diagnostic says how many layers of "
    "the model are affected. Under the `amct-9.x` targets INT16 activations also fall back to INT8 for a "
    "Linear without bias (the inventory's `bias`), from `common_config` and from a type override while "
    "`common_config` asks for INT16 too (otherwise M019). " + _LAYERS,
    "common_config { ada_quantize { } }\n",
    "common_config { ada_quantize { } }\noverride_layer_types {\n  layer_type: \"Conv1d\"\n"
    "  calibration_config { arq_quantize { } }\n}\n",
    family=_M,
)


def _fallbacks(res: Resolution,
               levels: tuple[str, ...]) -> Iterator[tuple[Event, str, list[str], Span | None, str, str]]:
    """The groups of :func:`_event_groups` with a value from ``levels`` that a C rule's layer type cannot take:
    the event, the type, the layers, where the value is, and the rule's words for it (why, what the layers get
    instead: :data:`cfglang.rules.capability.FALLBACKS`)."""
    for (event, layer_type), names in _event_groups(res).items():
        if event.what in C.FALLBACKS and event.level in levels:
            because, outcome = C.FALLBACKS[event.what](event.value, res.target)
            span = res.where(event.path, event.what in ("ada_quantize", "dmq_balancer"))
            yield event, layer_type, names, span, because, outcome
    # a type override's impossible value needs no model: the checker reports it (C rules)


def _shown(what: str, value: Any) -> str:
    if what in ("ada_quantize", "dmq_balancer"):
        return f"`{what}`"
    return f"`{what}: {str(value).lower() if isinstance(value, bool) else value}`"


@CHECKS.on_resolution
def _capability_fallbacks(res: Resolution) -> Iterator[Diagnostic]:
    for event, layer_type, names, span, because, outcome in _fallbacks(res, (_COMMON, "activation_offset")):
        origin = "in `common_config`" if event.level == _COMMON else ""
        yield _diag(CAPABILITY_FALLBACK, span,
                    f"{_shown(event.what, event.value)} {origin} does not apply to "
                    f"{_count(len(names), f'`{layer_type}` layer')} ({_some(names)}): {outcome}".replace("  ", " "),
                    because)


@CHECKS.on_layer_attributes
def _int16_fallbacks(res: Resolution) -> Iterator[Diagnostic]:
    for event, layer_type, names in _int16_groups(res, CAPABILITY_FALLBACK):
        yield _diag(CAPABILITY_FALLBACK, res.where(event.path),
                    f"`dst_type: INT16` {_origin(event, layer_type)} does not apply to "
                    f"{_count(len(names), f'`{layer_type}` layer')} without bias ({_some(names)}): INT8 instead",
                    event.reason(layer_type, res.target))


UNSUPPORTED_FOR_LAYER = rule(
    "M008", "unsupported-for-layer", Severity.ERROR,
    "an `override_layer_configs` value that the layer's type cannot use",
    "An override that names a layer asks for something explicitly, so an impossible value for the "
    "layer's type (its target's capability table, which `amct explain TARGET` prints) is an error, not a "
    "fallback. Under the `amct-9.x` targets so is "
    "`dst_type: INT16` for a Linear without bias (the inventory's `bias`). " + _LAYERS,
    "override_layer_configs {\n  layer_name: \"fc\"\n"
    "  calibration_config { arq_quantize { quant_bits: 6 } }\n}\n",
    "override_layer_configs {\n  layer_name: \"conv1\"\n"
    "  calibration_config { arq_quantize { quant_bits: 6 } }\n}\n",
    family=_M,
)


@CHECKS.on_resolution
def _refused_in_other_modules(res: Resolution) -> Iterator[Diagnostic]:
    for _i, name, layer, refused in _other_module_overrides(res):
        if refused is not None:
            block = refused[1][-1].endswith(("_quantize", "_balancer"))  # a block: point at its name
            yield _diag(UNSUPPORTED_FOR_LAYER, res.where(refused[1], block),
                        f"{refused[0]} in the override of `{name}`, a `{layer.type}` module, which AMCT does not "
                        f"quantize: AMCT refuses the value for it", "delete the entry")


def _other_module_overrides(res: Resolution) -> Iterator[tuple[int, str, Layer, tuple[str, tuple] | None]]:
    """The `override_layer_configs` entries for a module AMCT does not quantize: its index, its name, the
    module, and what AMCT refuses in it (:func:`_refused_for_other_module`)."""
    for i, entry in enumerate(res.checked.config.override_layer_configs):
        layer = res.inventory.get(entry.layer_name)
        if layer is not None and not layer.quantizable:
            yield i, entry.layer_name, layer, _refused_for_other_module(res.layer_overrides.get(entry.layer_name))


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


@CHECKS.on_resolution
def _unsupported_for_layers(res: Resolution) -> Iterator[Diagnostic]:
    for event, layer_type, names, span, because, _outcome in _fallbacks(res, (_LAYER,)):
        yield _diag(UNSUPPORTED_FOR_LAYER, span,
                    f"{_shown(event.what, event.value)} in the override of `{names[0]}`, a `{layer_type}` layer:"
                    f" {because}")


@CHECKS.on_layer_attributes
def _int16_unsupported_for_layers(res: Resolution) -> Iterator[Diagnostic]:
    for event, layer_type, names in _int16_groups(res, UNSUPPORTED_FOR_LAYER):
        yield _diag(UNSUPPORTED_FOR_LAYER, res.where(event.path),
                    f"`dst_type: INT16` in the override of `{names[0]}`, a `{layer_type}` layer without bias: "
                    f"{event.reason(layer_type, res.target)}",
                    "AMCT refuses the file (\"int16_quantizable not support for ... layer\")")


CHANNEL_WISE_REACHES = rule(
    "M009", "channel-wise-reaches-unsupported", Severity.ERROR,
    "`channel_wise: true` reaches a Linear or AvgPool2d layer",
    "AMCT has no fallback for `channel_wise`: a Linear or AvgPool2d layer that gets "
    "`channel_wise: true` from any level, `common_config` included, fails with \"The channel_wise "
    "must be False for layer type Linear\". A `common_config` with `channel_wise: true` therefore "
    "needs an `override_layer_types` entry for each such type in the model. " + _LAYERS,
    "common_config { arq_quantize { channel_wise: true } }\n",
    "common_config { arq_quantize { channel_wise: true } }\noverride_layer_types {\n"
    "  layer_type: \"Linear\"\n  calibration_config { arq_quantize { channel_wise: false } }\n}\n",
    family=_M,
)


@CHECKS.on_resolution
def _channel_wise_reaches(res: Resolution) -> Iterator[Diagnostic]:
    for (event, layer_type), names in _event_groups(res).items():
        if event.what != "channel_wise":
            continue
        span = res.where(event.path)
        if event.level == _COMMON:
            yield _diag(CHANNEL_WISE_REACHES, span,
                        f"`channel_wise: true` in `common_config` reaches "
                        f"{_count(len(names), f'`{layer_type}` layer')} ({_some(names)}), and AMCT requires "
                        f"`channel_wise: false` for `{layer_type}`",
                        f"add an `override_layer_types` entry for `{layer_type}`: override_layer_types "
                        f"{{ layer_type: \"{layer_type}\" calibration_config {{ arq_quantize {{ channel_wise: false }} }} }}")
        elif event.level == _LAYER:
            yield _diag(CHANNEL_WISE_REACHES, span,
                        f"`channel_wise: true` in the override of `{names[0]}`, a `{layer_type}` layer:"
                        f" AMCT requires `channel_wise: false` for `{layer_type}`", "set `channel_wise: false`")


GRAPH_UNKNOWN = rule(
    "M014", "graph-unknown", Severity.INFO,
    "the model's graph is unknown, so no Conv+BatchNorm pairs are planned for folding",
    "The inventory came from a model that could not be traced (`\"traced\": false`): layer names and "
    "types are known, but not which BatchNorm follows which convolution. The plan folds nothing; "
    "`skip_fusion_layers` cannot be checked.",
    "do_fusion: true\n",
    "do_fusion: false\n",
    family=_M,
)


@CHECKS.on_resolution
def _graph_unknown(res: Resolution) -> Iterator[Diagnostic]:
    if res.checked.config.do_fusion and not res.inventory.traced:
        yield _diag(GRAPH_UNKNOWN, res.where(("do_fusion",)),
                    "the model's graph is unknown (it could not be traced): no Conv+BatchNorm pair is folded")


SKIP_FUSION_NOT_CONV = rule(
    "M015", "skip-fusion-not-conv", Severity.ERROR,
    "`skip_fusion_layers` names a layer that is not a convolution AMCT fuses",
    "AMCT's `SkipFusionLayersField` refuses a layer whose type is not in its `FUSE_TYPES` (Conv1d, "
    "Conv2d, Conv3d): \"Skip fusion layer \\\"...\\\"'s type not in supported list\". " + _LAYERS,
    "skip_fusion_layers: \"fc\"\n",
    "skip_fusion_layers: \"conv1\"\n",
    family=_M,
)


@CHECKS.on_resolution
def _skip_fusion_not_conv(res: Resolution) -> Iterator[Diagnostic]:
    for i, name in enumerate(res.checked.config.skip_fusion_layers):
        layer = res.inventory.get(name)
        if layer is not None and layer.type not in cap.FOLDABLE_CONV:
            yield _diag(SKIP_FUSION_NOT_CONV, res.where(("skip_fusion_layers", i)),
                        f"`{name}` in `skip_fusion_layers` is a `{layer.type}`, expected a layer AMCT fuses "
                        f"({cap.type_names(cap.FOLDABLE_CONV)})", "AMCT refuses the file: only a convolution is "
                        "fused with its BatchNorm")


OVERRIDE_NOT_QUANTIZABLE = rule(
    "M016", "override-not-quantizable", Severity.WARNING,
    "an `override_layer_configs` entry for a module AMCT does not quantize",
    "AMCT accepts an override for any module of the model, but uses it only for a quantizable layer: "
    "the entry for a BatchNorm or an activation changes nothing. AMCT still checks its per-layer "
    "values, and refuses `channel_wise: true`, `dmq_balancer`, `ada_quantize`, INT16 or 6/7 bits in it: "
    "such an entry is M008, an error, instead. " + _LAYERS,
    "override_layer_configs {\n  layer_name: \"bn1\"\n  calibration_config { ifmr_quantize { } }\n}\n",
    "override_layer_configs {\n  layer_name: \"conv1\"\n  calibration_config { ifmr_quantize { } }\n}\n",
    family=_M,
)


@CHECKS.on_resolution
def _override_not_quantizable(res: Resolution) -> Iterator[Diagnostic]:
    for i, name, layer, refused in _other_module_overrides(res):
        if refused is None:  # otherwise M008
            yield _diag(OVERRIDE_NOT_QUANTIZABLE, res.where((_LAYER, i, "layer_name")),
                        f"`{name}` in `override_layer_configs` is a `{layer.type}`, which AMCT does not quantize: "
                        "the entry changes nothing", "delete the entry")


LAYER_NAMED_LIKE_GLOBAL = rule(
    "M017", "layer-named-like-global", Severity.ERROR,
    "a quantizable layer whose name is one of the config's global keys",
    "AMCT's config JSON (what its `create_quant_config` writes) keeps one key per layer beside the global keys `version`, "
    "`batch_num`, `activation_offset`, `do_fusion`, `skip_fusion_layers` and `fakequant_precision_mode`; "
    "it refuses a model with a quantizable layer of such a name (\"... is a global parameter, can not be "
    "a layer name\"). Rename the module. The error is reported at the top of the file.",
    "# the model: conv1 (Conv2d), batch_num (Linear)\nbatch_num: 1\n",
    "# the model: conv1 (Conv2d), fc (Linear)\nbatch_num: 1\n",
    family=_M,
)


# the global keys of AMCT's config JSON (common/config/config_base.py `_init_quant_tree`, the
# capacity table enabling neither `joint_quant` nor `weight_offset` for PyTorch)
_GLOBAL_KEYS = frozenset({"version", "batch_num", "activation_offset", "do_fusion", "skip_fusion_layers",
                          "fakequant_precision_mode"})


@CHECKS.on_resolution
def _layers_named_like_globals(res: Resolution) -> Iterator[Diagnostic]:
    for layer in res.inventory.quantizable:
        if layer.name in _GLOBAL_KEYS:
            yield _diag(LAYER_NAMED_LIKE_GLOBAL, None,
                        f"the model's `{layer.type}` layer is called `{layer.name}`, which AMCT reads as the "
                        f"global key `{layer.name}`", "rename the module (AMCT: \"... is a global parameter, can "
                        "not be a layer name\")")


INT4_NOT_PACKABLE = rule(
    "M018", "int4-not-packable", Severity.WARNING,
    "4-bit weights that AMCT cannot pack along the input channels: the layer gets 8 bits",
    "From commit ddf58b1 (target `amct-9.2`) AMCT stores INT4 weights two per byte along the input "
    "channels. Its `check_int4_weight_quant_axis` gives 8-bit weights, with the warning \"Layer ... "
    "weight cannot be INT4-packed along Cin (grouped conv or odd Cin), downgraded to INT8 (A8W8)\", to a "
    "layer that asks for `quant_bits: 4` from any level (`common_config`, a type override or its own "
    "override) and is a grouped convolution (`groups` > 1, depthwise included) or has an odd number of "
    "input channels (Conv/ConvTranspose `in_channels`, Linear `in_features`; an LSTM/GRU's `input_size` "
    "or `hidden_size`). The check needs the layer inventory's `groups`, `in_channels` and `hidden_size`, "
    "which `amct layers` records; a layer without them keeps 4 bits (M020 says which). Under `amct-9.1` "
    "such layers keep 4 bits. The examples assume a model whose `dw` is a depthwise Conv2d (32 channels, `groups: 32`).",
    "common_config { arq_quantize { quant_bits: 4 } }\n",
    "common_config { arq_quantize { quant_bits: 4 } }\noverride_layer_configs {\n  layer_name: \"dw\"\n"
    "  calibration_config { arq_quantize { quant_bits: 8 } }\n}\n",
    family=_M,
    target="amct-9.2",
)


@CHECKS.on_layer_attributes
def _int4_not_packable(res: Resolution) -> Iterator[Diagnostic]:
    for (event, layer_type), names in _event_groups(res).items():
        if event.what != "int4_pack":
            continue
        if event.level == _LAYER:
            what = f"in the override of `{names[0]}`, a `{layer_type}` layer, gives it"
        else:
            what = f"{_origin(event, layer_type)} gives {_count(len(names), f'`{layer_type}` layer')} ({_some(names)})"
        yield _diag(INT4_NOT_PACKABLE, res.where(event.path),
                    f"`quant_bits: 4` {what} 8-bit weights ({cap.INT4_PROBLEMS[event.value]}): {cap.INT4_PACKING}",
                    f"AMCT (target `{res.target.name}`) warns \"... downgraded to INT8 (A8W8)\"; write "
                    f"`quant_bits: 8` for {'it' if len(names) == 1 else 'them'} to say so")


INT16_TYPE_OVERRIDE_REFUSED = rule(
    "M019", "int16-type-override-refused", Severity.ERROR,
    "INT16 activations from a type override reach a layer that cannot take them",
    "AMCT's INT16 table lists Linear, but its `check_int16_quantize_type` refuses a Linear without "
    "bias (exported as MatMul, which the table leaves out). INT16 from `common_config` falls back to INT8 "
    "for such a layer (M007), and so does INT16 from a type override while `common_config` asks for "
    "INT16 too; INT16 in the layer's own override is refused (M008). INT16 from the `Linear` type "
    "override with `common_config` at INT8 passes the config reading, and `quantize_model` then refuses "
    "the layer (`parse_config_file`: \"current layer ... does not support int16 quant.\"). The check "
    "needs the layer inventory's `bias`, which `amct layers` records. The examples assume a model whose "
    "`head` is a Linear without bias.",
    "override_layer_types {\n  layer_type: \"Linear\"\n"
    "  calibration_config { ifmr_quantize { dst_type: INT16 } }\n}\n",
    "override_layer_types {\n  layer_type: \"Linear\"\n"
    "  calibration_config { ifmr_quantize { dst_type: INT16 } }\n}\noverride_layer_configs {\n"
    "  layer_name: \"head\"\n  calibration_config { ifmr_quantize { } }\n}\n",
    family=_M,
    target="amct-9.1",
)


@CHECKS.on_layer_attributes
def _int16_type_override_refused(res: Resolution) -> Iterator[Diagnostic]:
    for event, layer_type, names in _int16_groups(res, INT16_TYPE_OVERRIDE_REFUSED):
        yield _diag(INT16_TYPE_OVERRIDE_REFUSED, res.where(event.path),
                    f"`dst_type: INT16` in the `{layer_type}` type override reaches "
                    f"{_count(len(names), f'`{layer_type}` layer')} without bias ({_some(names)}), which AMCT's "
                    f"`quantize_model` refuses: {event.reason(layer_type, res.target)}",
                    f"give {'it' if len(names) == 1 else 'each'} an `override_layer_configs` entry with INT8 "
                    "activations")


LAYER_ATTRIBUTES_UNKNOWN = rule(
    "M020", "layer-attributes-unknown", Severity.INFO,
    "the layer inventory does not record the attributes a target's width rules read",
    "M018 (INT4 packing, target `amct-9.2`) and the INT16-without-bias rule of M007/M008/M019 (targets "
    "`amct-9.x`) read a layer's `groups`, `in_channels`, `hidden_size` and `bias`. An inventory written "
    "before `amct layers` recorded them, or by hand, leaves them out; such a layer keeps the width the "
    "config asks for in the plan, while AMCT may give it 8 bits or refuse it. This note says which layers "
    "were not judged, so that a clean lint is not taken for a check that did not run. The examples assume "
    "a model whose `dw` is a Conv2d listed without its attributes.",
    "common_config { arq_quantize { quant_bits: 4 } }\n",
    "common_config { arq_quantize { quant_bits: 4 } }\n# with an inventory from `amct layers`, "
    "which records `groups` and `in_channels`\n",
    family=_M,
    target="amct-9.2",
)


@CHECKS.on_layer_attributes
def _unjudged(res: Resolution) -> Iterator[Diagnostic]:
    """Layers a layer-attribute rule of the target applies to, listed without the attributes."""
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
        yield _diag(LAYER_ATTRIBUTES_UNKNOWN, first["int4"],
                    f"the layer inventory does not record {names} of {_count(len(int4), 'layer')} at "
                    f"`quant_bits: 4` ({_some(int4)}): target `{target.name}` gives 8-bit weights to grouped "
                    "convolutions and odd input channels, not checked for them", hint)
    if int16:
        yield _diag(LAYER_ATTRIBUTES_UNKNOWN, first["int16"],
                    f"the layer inventory does not record `bias` of {_count(len(int16), 'layer')} at "
                    f"`dst_type: INT16` ({_some(int16)}): target `{target.name}` takes INT16 for them only "
                    "with a bias, not checked for them", hint)


def _int4_unknowns(layer: Layer) -> list[str]:
    """The attributes AMCT's INT4 packing check reads that the inventory does not record."""
    needed = {"LSTM": ("in_channels", "hidden_size"), "GRU": ("in_channels", "hidden_size"),
              "Linear": ("in_channels",)}.get(layer.type, ("groups", "in_channels"))
    return [name for name in needed if getattr(layer, name) is None]


def _written(res: Resolution, layer: Layer, level: str, name: str) -> Span | None:
    """Where the value ``name`` (``quant_bits`` / ``dst_type``) that ``layer`` got from ``level`` is written."""
    source = {_LAYER: res.layer_overrides.get(layer.name), _TYPE: res.type_overrides.get(layer.type),
              _COMMON: res.common}.get(level)
    block = None if source is None else source.wts if name == "quant_bits" else source.acts
    return None if block is None else res.where(source.path + (block.name, name))
