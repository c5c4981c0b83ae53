"""Resolution (docs/semantics.md): a checked config and a layer inventory -> :class:`Plan`.

Pure Python, linear in layers plus entries: every lookup is a dict. Each
CalibrationConfig is read once into a :class:`Source` (the algorithm blocks
and the fields set in them); a layer's values then come from one source, with
the built-in defaults for whatever it leaves unset (overrides replace, they
do not merge), except ``asymmetric`` (docs/semantics.md, "The `asymmetric` chain"). Every value carries its
:class:`Provenance`; capability problems are collected as :class:`Event`. The
resolver reports nothing itself: :mod:`cfglang.modelcheck` reads a finished
:class:`Resolution` (events included) and returns the model-aware diagnostics,
and :func:`cfglang.planner.resolve` puts the two together.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cfglang import capabilities as cap
from cfglang.capabilities import Target
from cfglang.diagnostics import Span
from cfglang.float32 import shortest_float32
from cfglang.inventory import Inventory, Layer
from cfglang.message import enum_name, is_set, set_fields, which
from cfglang.plan import (NOT_CALLED, UNSUPPORTED, ActivationPlan, DMQPlan, FloatWeight, Fusion, LayerPlan, Plan,
                          Provenance, Skip, WeightPlan, parameter_defaults)

__all__ = ["Resolution", "Source", "Resolved", "Event", "Facts"]

LAYER, TYPE, COMMON, OFFSET, DEFAULT, FALLBACK = (
    "override_layer_configs", "override_layer_types", "common_config", "activation_offset", "default", "fallback")
_OVERRIDES = (LAYER, TYPE)

_ALGO = {"arq_quantize": "arq", "ada_quantize": "ada", "ifmr_quantize": "ifmr", "hfmg_quantize": "hfmg"}


def _number(value: Any) -> Any:
    """Floats as the shortest decimal that reads back as the same float32."""
    return shortest_float32(value) if isinstance(value, float) else value



@dataclass(frozen=True, slots=True)
class Block:
    """One member of a CalibrationConfig oneof and the fields written in it."""

    name: str  # e.g. "ifmr_quantize"
    fields: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Source:
    """A CalibrationConfig as resolution reads it; ``path`` is its key prefix in the span table."""

    level: str  # override_layer_configs | override_layer_types | common_config | default
    path: tuple
    entry: tuple | None = None  # the override element, e.g. ("override_layer_configs", 3)
    wts: Block | None = None
    acts: Block | None = None
    dmq: Block | None = None
    key: str | None = None  # the layer name or type of an override

    @classmethod
    def read(cls, message: Any, level: str, path: tuple, entry: tuple | None = None,
             key: str | None = None) -> Source:
        blocks = []
        for oneof in ("wts_quant_algo", "acts_quant_algo", "tensor_balancer"):
            name = which(message, oneof)
            if name is None:
                blocks.append(None)
                continue
            fields = {key: _number(value) for key, value in set_fields(getattr(message, name)).items()}
            blocks.append(Block(name, fields))
        return cls(level, path, entry, *blocks, key=key)


EMPTY = Source(DEFAULT, ())


@dataclass(frozen=True, slots=True)
class Event:
    """A value impossible for a layer's type (docs/semantics.md, "Capability fallbacks and errors"), found while
    resolving one layer."""

    what: str  # quant_bits | dst_type | ada_quantize | dmq_balancer | asymmetric | channel_wise
    level: str  # where the impossible value came from
    path: tuple  # the value (or block) in the span table
    value: Any = None

    def reason(self, layer_type: str, target: Target) -> str | None:
        """Why the plan says 8 bits for a layer-attribute rule (None for the type rules)."""
        if self.what == "int4_pack":
            return f"{cap.INT4_PROBLEMS[self.value]}: {cap.INT4_PACKING} (target `{target.name}`)"
        if self.what == "int16_bias":
            return f"a `{layer_type}` without bias takes INT8 activations only (target `{target.name}`)"
        return None


@dataclass(frozen=True, slots=True)
class Resolved:
    weight: WeightPlan | None
    activation: ActivationPlan
    dmq_balancer: DMQPlan | None
    provenance: dict[str, Provenance]
    events: tuple[Event, ...]
    asymmetric_from: tuple[Any, str, tuple]  # (value, level, path) before the Conv3d rule

    def same_values(self, other: Resolved) -> bool:
        return (self.weight, self.activation, self.dmq_balancer) == (
            other.weight, other.activation, other.dmq_balancer)


@dataclass(frozen=True, slots=True)
class Facts:
    """What AMCT's per-layer width rules see of one layer beyond its type (from the inventory's
    attributes and the target's table): why its INT4 weights cannot be packed, if so, and whether
    its type takes INT16 activations only with a bias it does not have."""

    int4_problem: str | None = None
    int16_without_bias: bool = False

    @classmethod
    def of(cls, layer: Layer, target: Target) -> Facts:
        problem = None
        if target.int4_packed_along_cin:
            problem = cap.int4_pack_problem(layer.type, layer.groups, layer.in_channels, layer.hidden_size)
        return cls(problem, layer.type in target.int16_needs_bias and layer.bias is False)


NO_FACTS = Facts()


class _Values:
    """Collects provenance while taking values from a block or the defaults."""

    def __init__(self, locate: Resolution, layer_type: str, facts: Facts) -> None:
        self.target: Target = locate.target
        self.layer_type = layer_type
        self.facts = facts
        self.where = locate.where
        self.at = locate.provenance
        self.provenance: dict[str, Provenance] = {}
        self.events: list[Event] = []

    def take(self, key: str, source: Source, block: Block | None, name: str, default: Any) -> Any:
        if block is not None and name in block.fields:
            self.provenance[key] = self.at(source.level, source.path + (block.name, name))
            return block.fields[name]
        self.provenance[key] = Provenance(DEFAULT)
        return default

    def fall_back(self, key: str, event: Event, value: Any, name: bool = False) -> Any:
        self.events.append(event)
        # the fallback value is not written anywhere: no line; the span of the cause is kept for `explain`
        self.provenance[key] = Provenance(FALLBACK, span=self.where(event.path, name),
                                          reason=event.reason(self.layer_type, self.target))
        return value


def resolve_source(source: Source, common: Source, offset: tuple[bool, str, tuple], layer_type: str,
                   locate: Resolution, facts: Facts = NO_FACTS) -> Resolved:
    """Weights, activations and balancer of one layer of ``layer_type`` whose source is ``source``."""
    values = _Values(locate, layer_type, facts)
    weight = _weight(source, layer_type, values)
    activation, asymmetric_from = _activation(source, common, offset, layer_type, values)
    dmq = _balancer(source, layer_type, values)
    return Resolved(weight, activation, dmq, values.provenance, tuple(values.events), asymmetric_from)


def _weight(source: Source, layer_type: str, values: _Values) -> WeightPlan | None:
    block = source.wts
    target = values.target
    if layer_type not in target.weighted:
        if block is not None and block.fields.get("channel_wise") is True:
            values.events.append(Event("channel_wise", source.level, source.path + (block.name, "channel_wise"), True))
        return None
    if block is not None and block.name == "ada_quantize" and layer_type not in target.ada:
        values.fall_back("weight.algo", Event("ada_quantize", source.level, source.path + (block.name,)), "arq", True)
        block = None
    elif block is None:
        values.provenance["weight.algo"] = Provenance(DEFAULT)
    else:
        values.provenance["weight.algo"] = values.at(source.level, source.path + (block.name,), True)
    algo = "arq" if block is None else _ALGO[block.name]
    extra: dict[str, Any] = {}
    if algo == "arq":
        bits = values.take("weight.bits", source, block, "quant_bits", 8)
        # a width the target refuses outright is the checker's error (V002): kept as written
        if bits in target.weight_bits and layer_type not in target.bits_types(bits):
            bits = values.fall_back("weight.bits", Event("quant_bits", source.level,
                                                         source.path + (block.name, "quant_bits"), bits), 8)
        elif bits == 4 and values.facts.int4_problem is not None:
            assert block is not None  # the default is 8 bits
            bits = values.fall_back("weight.bits", Event("int4_pack", source.level, source.path + (
                block.name, "quant_bits"), values.facts.int4_problem), 8)
    else:
        values.provenance["weight.bits"] = Provenance(DEFAULT)
        bits = 8
    channel_wise = values.take("weight.channel_wise", source, block, "channel_wise", layer_type in target.channel_wise)
    if channel_wise and layer_type not in target.channel_wise:
        channel_wise = values.fall_back("weight.channel_wise", Event(
            "channel_wise", source.level, source.path + (block.name, "channel_wise"), True), False)
    if algo == "ada":
        for name, default in parameter_defaults("ada").items():
            extra[name] = values.take(f"weight.{name}", source, block, name, default)
    return WeightPlan(algo, bits, channel_wise, **extra)


def _activation(source: Source, common: Source, offset: tuple[bool, str, tuple], layer_type: str,
                values: _Values) -> tuple[ActivationPlan, tuple[Any, str, tuple]]:
    block = source.acts
    name = block.name if block is not None else "ifmr_quantize"
    if block is None:
        values.provenance["activation.algo"] = Provenance(DEFAULT)
    else:
        values.provenance["activation.algo"] = values.at(source.level, source.path + (name,), True)
    bits = _activation_bits(source, block, layer_type, values)
    # the `asymmetric` chain as AMCT computes it (docs/semantics.md): own source, then common_config if same algorithm
    if block is not None and "asymmetric" in block.fields:
        found = (block.fields["asymmetric"], source.level, source.path + (name, "asymmetric"))
    elif common.acts is not None and common.acts.name == name and "asymmetric" in common.acts.fields:
        found = (common.acts.fields["asymmetric"], COMMON, common.path + (name, "asymmetric"))
    else:
        found = offset
    asymmetric, level, path = found
    if asymmetric and layer_type not in values.target.asymmetric:
        asymmetric = False
        if level == DEFAULT:
            values.provenance["activation.asymmetric"] = Provenance(FALLBACK)
        else:
            values.fall_back("activation.asymmetric", Event("asymmetric", level, path, True), False)
    else:
        values.provenance["activation.asymmetric"] = values.at(level, path)
    extra = {key: values.take(f"activation.{key}", source, block, key, default)
             for key, default in parameter_defaults(_ALGO[name]).items()}
    return ActivationPlan(_ALGO[name], bits, asymmetric, **extra), found


def _activation_bits(source: Source, block: Block | None, layer_type: str, values: _Values) -> int:
    """The activation width: `dst_type` where the target gives the type that width, else a fallback to 8."""
    target = values.target
    dst_type = values.take("activation.bits", source, block, "dst_type", "INT8")
    if dst_type not in target.activation_bits:
        return 8  # a type the target refuses outright is the checker's error (V013)
    if layer_type not in target.dst_type_types(dst_type):
        assert block is not None  # the default INT8 is taken by every type
        return values.fall_back("activation.bits", Event(
            "dst_type", source.level, source.path + (block.name, "dst_type"), dst_type), 8)
    if target.dst_type_bits(dst_type) == 16 and values.facts.int16_without_bias:
        assert block is not None
        return values.fall_back("activation.bits", Event(
            "int16_bias", source.level, source.path + (block.name, "dst_type"), dst_type), 8)
    return target.dst_type_bits(dst_type)


def _balancer(source: Source, layer_type: str, values: _Values) -> DMQPlan | None:
    block = source.dmq
    if block is None:
        values.provenance["dmq_balancer"] = Provenance(DEFAULT)
        return None
    if layer_type not in values.target.dmq:
        values.fall_back("dmq_balancer", Event("dmq_balancer", source.level, source.path + (block.name,)), None, True)
        return None
    strength = values.take("dmq_balancer.migration_strength", source, block, "migration_strength",
                           parameter_defaults("dmq_balancer")["migration_strength"])
    return DMQPlan(strength)


@dataclass
class Resolution:
    """One resolution run: the sources, the per-layer results, and what the lints need."""

    checked: Any  # CheckResult: .config, .spans, .document, .diagnostics, .target
    inventory: Inventory
    target: Target = field(default=None)  # type: ignore[assignment]  # None: the check result's target
    common: Source = field(init=False)
    offset: tuple[bool, str, tuple] = field(init=False)
    layer_overrides: dict[str, Source] = field(init=False, default_factory=dict)
    type_overrides: dict[str, Source] = field(init=False, default_factory=dict)
    skip_names: dict[str, int] = field(init=False, default_factory=dict)
    skip_types: dict[str, int] = field(init=False, default_factory=dict)
    # (layer, source, resolved) of every quantized layer, in model order
    resolved: list[tuple[Layer, Source, Resolved]] = field(init=False, default_factory=list)
    skipped: list[Layer] = field(init=False, default_factory=list)
    _cache: dict[tuple[int, str, Facts], Resolved] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.target is None:
            self.target = getattr(self.checked, "target", None) or cap.get_target()
        config = self.checked.config
        self.common = Source.read(config.common_config, COMMON, ("common_config",)) \
            if is_set(config, "common_config") else EMPTY
        if is_set(config, "activation_offset"):
            self.offset = (config.activation_offset, OFFSET, ("activation_offset",))
        else:
            self.offset = (True, DEFAULT, ())
        for i, entry in enumerate(config.override_layer_configs):
            self.layer_overrides.setdefault(entry.layer_name, Source.read(
                entry.calibration_config, LAYER, (LAYER, i, "calibration_config"), (LAYER, i), entry.layer_name))
        for i, entry in enumerate(config.override_layer_types):
            self.type_overrides.setdefault(entry.layer_type, Source.read(
                entry.calibration_config, TYPE, (TYPE, i, "calibration_config"), (TYPE, i), entry.layer_type))
        for i, name in enumerate(config.skip_layers):
            self.skip_names.setdefault(name, i)
        for i, name in enumerate(config.skip_layer_types):
            self.skip_types.setdefault(name, i)

    # spans ----------------------------------------------------------------

    def where(self, path: tuple, name: bool = False) -> Span | None:
        """The span of the value at ``path`` (its name for blocks), if the file has it."""
        loc = self.checked.spans.get(path) if path else None
        if loc is None:
            return None
        return loc.name_span if name else loc.value_span

    def provenance(self, level: str, path: tuple, name: bool = False) -> Provenance:
        """``level`` with the line and column of the value at ``path`` (its name for blocks).

        Only the start position is needed, so this skips building the whole span.
        """
        loc = self.checked.spans.get(path) if path else None
        if loc is None:
            return Provenance(level)
        node = getattr(loc, "field", None)
        if node is None:  # a span table without syntax nodes
            return Provenance.at(level, loc.name_span if name else loc.value_span)
        line, column = node.index.position(node.name_start if name else loc.value.start)
        return Provenance(level, line, column)

    # resolution -------------------------------------------------------------

    def source_of(self, layer: Layer) -> Source:
        return self.layer_overrides.get(layer.name) or self.type_overrides.get(layer.type) or self.common

    def below(self, source: Source, layer: Layer) -> Source:
        """The source the layer would have without ``source`` (for "changes nothing")."""
        if source.level == LAYER:
            return self.type_overrides.get(layer.type) or self.common
        return self.common

    def resolve(self, source: Source, layer: Layer) -> Resolved:
        facts = Facts.of(layer, self.target)
        key = (id(source), layer.type, facts)
        found = self._cache.get(key)
        if found is None:
            found = resolve_source(source, self.common, self.offset, layer.type, self, facts)
            if source.level != LAYER:  # layer overrides are used once: not worth keeping
                self._cache[key] = found
        return found

    def skip_of(self, layer: Layer) -> Skip | None:
        if layer.name in self.skip_names:
            return _skip("skip_layers", self.where(("skip_layers", self.skip_names[layer.name])))
        if layer.type in self.skip_types:
            return _skip("skip_layer_types", self.where(("skip_layer_types", self.skip_types[layer.type])))
        return None

    @staticmethod
    def unsupported(layer: Layer) -> Skip | None:
        """A layer of a quantizable type that AMCT cannot quantize for its attributes (a stacked or
        bidirectional LSTM/GRU: :func:`cfglang.capabilities.recurrent_limit`)."""
        limit = cap.recurrent_limit(layer.type, layer.num_layers, layer.bidirectional, layer.dropout, layer.proj_size)
        return None if limit is None else Skip(UNSUPPORTED, detail=limit)

    def left_float(self, fusions: tuple[Fusion, ...]) -> tuple[FloatWeight, ...]:
        """The inventory's other weights, which stay in float; a BatchNorm folded into its convolution is not."""
        folded = {f.bn for f in fusions}
        return tuple(FloatWeight(w.name, w.type, "outside_call" if w.parameter else "not_quantizable")
                     for w in self.inventory.weights if w.parameter or w.name not in folded)

    def plan(self) -> Plan:
        # an allocation-heavy pass that creates no reference cycles: the collector would only rescan
        # the (large) syntax tree over and over, which makes big files superlinear
        paused = gc.isenabled()
        gc.disable()
        try:
            return self._plan()
        finally:
            if paused:
                gc.enable()

    def _plan(self) -> Plan:
        layers = []
        fusions = self.fusions()
        for layer in self.inventory.quantizable:
            skip = self.skip_of(layer) or (None if layer.called else Skip(NOT_CALLED)) or self.unsupported(layer)
            if skip is not None:
                self.skipped.append(layer)
                layers.append(LayerPlan(layer.name, layer.type, False, skip, None, None, None, {},
                                        class_name=layer.class_name, weight_transposed=layer.weight_transposed))
                continue
            source = self.source_of(layer)
            found = self.resolve(source, layer)
            self.resolved.append((layer, source, found))
            layers.append(LayerPlan(layer.name, layer.type, True, None, found.weight, found.activation,
                                    found.dmq_balancer, found.provenance, self.fused_activation(layer, fusions),
                                    layer.class_name, layer.weight_transposed))
        config = self.checked.config
        document = getattr(self.checked, "document", None)
        return Plan(
            config=getattr(document, "path", None),
            batch_num=config.batch_num,
            do_fusion=config.do_fusion,
            fakequant_precision_mode=(enum_name(config, "fakequant_precision_mode")
                                      if is_set(config, "fakequant_precision_mode") else None),
            fusions=fusions,
            layers=tuple(layers),
            activation_offset=config.activation_offset,
            skip_fusion_layers=tuple(config.skip_fusion_layers),
            target=self.target.name,
            left_float=self.left_float(fusions),
        )

    def fused_activation(self, layer: Layer, fusions: tuple[Fusion, ...]) -> str | None:
        """The inventory's activation that alone consumes ``layer``'s output, when the BatchNorm in between
        (if any) is folded by the plan: what AdaRound reconstructs through."""
        found = self.inventory.activation_of(layer.name)
        bn = self.inventory.bn_of(layer.name)
        if found is None or (bn is not None and Fusion(layer.name, bn) not in fusions):
            return None
        return found.activation

    def fusions(self) -> tuple[Fusion, ...]:
        config = self.checked.config
        if not config.do_fusion:
            return ()
        kept = set(config.skip_fusion_layers)
        return tuple(Fusion(p.conv, p.bn) for p in self.inventory.foldable if p.conv not in kept)


def _skip(reason: str, span: Span | None) -> Skip:
    return Skip(reason, span.line, span.column) if span is not None else Skip(reason)
