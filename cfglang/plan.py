"""The resolved per-layer plan: what :func:`cfglang.resolve` returns.

Plain frozen dataclasses, JSON-serialisable in three layouts: the native plan
JSON (``to_dict``/``from_dict``, what ``amct plan`` writes and the engine
reads), AMCT's own ``config.json`` (as its ``create_quant_config`` writes it) and a text table.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cfglang.capabilities import DEFAULT_TARGET, RECURRENT_LIMITS
from cfglang.diagnostics import Diagnostic, Severity, Span
from cfglang.inventory import type_label
from cfglang.table import table_lines

__all__ = [
    "LEVELS",
    "Provenance",
    "Skip",
    "UNSUPPORTED",
    "NOT_CALLED",
    "FLOAT_REASONS",
    "FloatWeight",
    "WeightPlan",
    "ActivationPlan",
    "DMQPlan",
    "Fusion",
    "LayerPlan",
    "Plan",
    "PlanError",
    "parameter_defaults",
    "explain_layer",
]

# where a resolved value can come from, highest precedence first
LEVELS = ("override_layer_configs", "override_layer_types", "common_config", "activation_offset", "default", "fallback")

#: the skip reason of a layer AMCT cannot quantize (the others name the config's list)
UNSUPPORTED = "unsupported"
#: the skip reason of a layer the model's forward never calls (a traced inventory knows)
NOT_CALLED = "not_called"
#: why the plan leaves weights in float, as the summary words it: the skip reasons of a layer, then the
#: reasons of a :class:`FloatWeight`
FLOAT_REASONS = {
    "skip_layers": "listed in `skip_layers`",
    "skip_layer_types": "listed in `skip_layer_types`",
    UNSUPPORTED: "a layer AMCT does not quantize for its attributes",
    NOT_CALLED: "never called by the model's forward (unused, or another module reads its weight)",
    "not_quantizable": "a type AMCT does not quantize",
    "outside_call": "a parameter used outside any module call",
}
_ADA_KEYS = ("num_iteration", "reg_param", "beta_range_start", "beta_range_end", "warm_start")
_IFMR_KEYS = ("search_range_start", "search_range_end", "search_step", "max_percentile", "min_percentile")

# plan block (a weight or activation `algo`, or `dmq_balancer`) -> (config message, its parameters in the plan)
_PARAMETERS = {
    "ada": ("ADAquantize", _ADA_KEYS),
    "ifmr": ("FMRQuantize", _IFMR_KEYS),
    "hfmg": ("HFMGQuantize", ("num_of_bins",)),
    "dmq_balancer": ("DMQBalancer", ("migration_strength",)),
}


class PlanError(ValueError):
    """A plan JSON that cannot be read: the message says where and what."""


@functools.cache
def parameter_defaults(block: str) -> dict[str, Any]:
    """The parameters of a plan block (``ada``, ``ifmr``, ``hfmg``, ``dmq_balancer``; none for ``arq``) that a
    plan JSON may omit, with the value they then take: the config schema's default, as the plan writes it
    (the shortest decimal of the float32)."""
    from cfglang.float32 import shortest_float32
    from cfglang.schema import defaults_of

    if block not in _PARAMETERS:
        return {}
    message, keys = _PARAMETERS[block]
    defaults = defaults_of(message)
    return {key: shortest_float32(defaults[key]) if isinstance(defaults[key], float) else defaults[key]
            for key in keys}


@dataclass(frozen=True, slots=True)
class Provenance:
    """Which level set a value and where it is written (1-based; None for defaults).

    ``reason``: for a fallback that a layer's own attributes cause (AMCT's INT4 packing, INT16
    without bias), why the layer cannot take the value written; serialised only when set.
    """

    source: str  # one of LEVELS; serialised as "from"
    line: int | None = None
    column: int | None = None
    span: Span | None = field(default=None, compare=False)
    reason: str | None = None

    @classmethod
    def at(cls, source: str, span: Span | None) -> Provenance:
        if span is None:
            return cls(source)
        return cls(source, span.line, span.column, span)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"from": self.source, "line": self.line, "column": self.column}
        if self.reason is not None:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True, slots=True)
class Skip:
    """Why a layer is not quantized: the config lists it (``skip_layers``, ``skip_layer_types``, with the
    entry's place), or AMCT cannot quantize it (``unsupported``; ``detail`` names the attribute, as
    ``num_layers=2``)."""

    reason: str  # "skip_layers" | "skip_layer_types" | "unsupported"
    line: int | None = None
    column: int | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reason": self.reason, "line": self.line, "column": self.column}
        if self.detail is not None:
            out["detail"] = self.detail
        return out

    def cell(self) -> str:
        """The table's word for it: ``skip_layers``, ``unsupported: num_layers=2``."""
        return self.reason if self.detail is None else f"{self.reason}: {self.detail}"


@dataclass(frozen=True, slots=True)
class FloatWeight:
    """Weights outside the plan's layers that stay in float (:class:`cfglang.inventory.Weight`): a module of
    a type AMCT does not quantize (``reason`` ``not_quantizable``; a BatchNorm the plan folds is not one),
    or a parameter a module's forward uses outside any module call (``outside_call``; ``type``: the
    module's class), as ``nn.MultiheadAttention``'s ``in_proj_weight``."""

    name: str
    type: str
    reason: str  # "not_quantizable" | "outside_call"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class WeightPlan:
    algo: str  # "arq" | "ada"
    bits: int
    channel_wise: bool
    num_iteration: int | None = None
    reg_param: float | None = None
    beta_range_start: float | None = None
    beta_range_end: float | None = None
    warm_start: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"algo": self.algo, "bits": self.bits, "channel_wise": self.channel_wise}
        if self.algo == "ada":
            out.update({key: getattr(self, key) for key in _ADA_KEYS})
        return out


@dataclass(frozen=True, slots=True)
class ActivationPlan:
    algo: str  # "ifmr" | "hfmg"
    bits: int
    asymmetric: bool
    search_range_start: float | None = None
    search_range_end: float | None = None
    search_step: float | None = None
    max_percentile: float | None = None
    min_percentile: float | None = None
    num_of_bins: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"algo": self.algo, "bits": self.bits, "asymmetric": self.asymmetric}
        keys = _IFMR_KEYS if self.algo == "ifmr" else ("num_of_bins",)
        out.update({key: getattr(self, key) for key in keys})
        return out


@dataclass(frozen=True, slots=True)
class DMQPlan:
    migration_strength: float

    def to_dict(self) -> dict[str, Any]:
        return {"migration_strength": self.migration_strength}


@dataclass(frozen=True, slots=True)
class Fusion:
    conv: str
    bn: str


@dataclass(frozen=True)
class LayerPlan:
    name: str
    type: str
    quantize: bool
    skip: Skip | None
    weight: WeightPlan | None
    activation: ActivationPlan | None
    dmq_balancer: DMQPlan | None
    provenance: Mapping[str, Provenance]
    #: the activation module that alone consumes the layer's output (through its BatchNorm only when the
    #: plan folds it), which AdaRound reconstructs through; None: no such activation, or none known
    fused_activation: str | None = None
    #: the module's own class, where it is not ``type`` (a subclass: ``Conv3DSimple`` for a ``Conv3d``)
    class_name: str | None = None
    #: the weight is stored ``(in, out)`` and applied as ``x @ weight`` (transformers' ``Conv1D``)
    weight_transposed: bool = False

    @property
    def label(self) -> str:
        """The type as the table shows it: ``Conv3DSimple (Conv3d)`` for a subclass (:func:`type_label`)."""
        return type_label(self.type, self.class_name, self.weight_transposed)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "type": self.type,
            "quantize": self.quantize,
            "skip": self.skip.to_dict() if self.skip else None,
            "weight": self.weight.to_dict() if self.weight else None,
            "activation": self.activation.to_dict() if self.activation else None,
            "dmq_balancer": self.dmq_balancer.to_dict() if self.dmq_balancer else None,
            "provenance": {key: p.to_dict() for key, p in self.provenance.items()},
        }
        if self.fused_activation is not None:
            out["fused_activation"] = self.fused_activation
        if self.class_name is not None:
            out["class_name"] = self.class_name
        if self.weight_transposed:
            out["weight_transposed"] = True
        return out

    def value(self, key: str) -> Any:
        """The resolved value named by a provenance key (``weight.bits``, ``dmq_balancer``)."""
        part, _, leaf = key.partition(".")
        block = getattr(self, part)
        return block if not leaf or block is None else getattr(block, leaf)


@dataclass(frozen=True)
class Plan:
    """The per-layer plan (quantizable layers, in model order) plus globals and diagnostics.

    ``left_float``: the model's other weights, which stay in float (:class:`FloatWeight`); with the skipped
    layers, :meth:`left_in_float` lists every weight the plan does not quantize.
    """

    config: str | None
    batch_num: int
    do_fusion: bool
    fakequant_precision_mode: str | None
    fusions: tuple[Fusion, ...]
    layers: tuple[LayerPlan, ...]
    activation_offset: bool = True
    skip_fusion_layers: tuple[str, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = field(default=(), compare=False)
    version: int = 1
    target: str = DEFAULT_TARGET  # the AMCT behaviour it was resolved for (cfglang.capabilities)
    left_float: tuple[FloatWeight, ...] = ()

    @property
    def ok(self) -> bool:
        """No error among the resolution diagnostics."""
        return all(d.severity < Severity.ERROR for d in self.diagnostics)

    def layer(self, name: str) -> LayerPlan | None:
        for layer in self.layers:
            if layer.name == name:
                return layer
        return None

    def left_in_float(self) -> list[tuple[str, str, str]]:
        """``(name, type label, reason)`` of every weighted module or parameter the plan leaves in float: the
        skipped layers (reason: their :class:`Skip` reason; an ``unsupported`` one's label names the attribute,
        ``LSTM with num_layers=2``), then :attr:`left_float`; reasons as :data:`FLOAT_REASONS` keys."""
        out = [(layer.name, layer.label + (f" with {layer.skip.detail}" if layer.skip.detail else ""),
                layer.skip.reason) for layer in self.layers if layer.skip is not None and layer.type != "AvgPool2d"]
        return out + [(weight.name, weight.type, weight.reason) for weight in self.left_float]

    def to_dict(self) -> dict[str, Any]:
        """The native plan JSON (``amct plan``), as the quantization engine reads it."""
        out = {
            "version": self.version,
            "target": self.target,
            "config": self.config,
            "batch_num": self.batch_num,
            "do_fusion": self.do_fusion,
            "fakequant_precision_mode": self.fakequant_precision_mode,
            "activation_offset": self.activation_offset,
            "skip_fusion_layers": list(self.skip_fusion_layers),
            "fusions": [{"conv": f.conv, "bn": f.bn} for f in self.fusions],
            "layers": [layer.to_dict() for layer in self.layers],
        }
        if self.left_float:
            out["left_float"] = [weight.to_dict() for weight in self.left_float]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "plan") -> Plan:
        """Read the native plan JSON; a bad one raises :class:`PlanError`. Algorithm parameters it omits take
        their :func:`parameter_defaults`; a layer without ``fused_activation`` has none."""
        from cfglang.jsonschemas import validation_errors

        problems = validation_errors(data, "plan")
        if problems:
            raise PlanError(f"{source}: not a valid plan: " + "; ".join(problems))
        return cls(
            config=data["config"],
            batch_num=data["batch_num"],
            do_fusion=data["do_fusion"],
            fakequant_precision_mode=data["fakequant_precision_mode"],
            fusions=tuple(Fusion(f["conv"], f["bn"]) for f in data["fusions"]),
            layers=tuple(_layer_from_dict(item) for item in data["layers"]),
            activation_offset=data.get("activation_offset", True),
            skip_fusion_layers=tuple(data.get("skip_fusion_layers", ())),
            version=data["version"],
            target=data.get("target", DEFAULT_TARGET),
            left_float=tuple(FloatWeight(w["name"], w["type"], w["reason"]) for w in data.get("left_float", ())),
        )

    def to_amct_json(self) -> dict[str, Any]:
        """AMCT's own ``config.json`` layout (its ``create_quant_config``): globals, then one key per layer by name."""
        out: dict[str, Any] = {
            "version": 1,
            "batch_num": self.batch_num,
            "activation_offset": self.activation_offset,
            "do_fusion": self.do_fusion,
            "skip_fusion_layers": list(self.skip_fusion_layers),
        }
        for layer in sorted(self.layers, key=lambda l: l.name):
            if layer.skip is None or layer.skip.reason not in (UNSUPPORTED, NOT_CALLED):  # AMCT lists only layers
                # it can quantize, of its graph (which a module the forward never calls is not in)
                out[layer.name] = _amct_layer(layer)
        return out

    def to_table(self) -> str:
        """A fixed-width text table, one row per layer, then the fusions."""
        rows = [("layer", "type", "quantize", "weight", "activation", "dmq")]
        for layer in self.layers:
            rows.append((layer.name, layer.label, "yes" if layer.quantize else f"no ({layer.skip.cell()})"
                         if layer.skip else "no", _weight_cell(layer.weight), _act_cell(layer.activation),
                         str(layer.dmq_balancer.migration_strength) if layer.dmq_balancer else "-"))
        lines = table_lines(rows, rule=True)
        lines.append("")
        fused = ", ".join(f"{f.conv}+{f.bn}" for f in self.fusions) or "none"
        lines.append(f"batch_num {self.batch_num}; do_fusion {str(self.do_fusion).lower()}; fused: {fused}")
        return "\n".join(lines) + "\n"


def _weight_cell(weight: WeightPlan | None) -> str:
    if weight is None:
        return "-"
    return f"{weight.algo} {weight.bits}b {'per-channel' if weight.channel_wise else 'per-tensor'}"


def _act_cell(act: ActivationPlan | None) -> str:
    if act is None:
        return "-"
    return f"{act.algo} {act.bits}b {'asymmetric' if act.asymmetric else 'symmetric'}"


def _amct_layer(layer: LayerPlan) -> dict[str, Any]:
    entry: dict[str, Any] = {"quant_enable": layer.quantize}
    if layer.dmq_balancer is not None:
        entry["dmq_balancer_param"] = layer.dmq_balancer.migration_strength
    act = layer.activation
    if act is not None:
        if act.algo == "ifmr":
            entry["activation_quant_params"] = {
                "num_bits": act.bits, "act_algo": "ifmr", "max_percentile": act.max_percentile,
                "min_percentile": act.min_percentile, "search_range": [act.search_range_start, act.search_range_end],
                "search_step": act.search_step, "asymmetric": act.asymmetric,
            }
        else:
            entry["activation_quant_params"] = {
                "num_bits": act.bits, "act_algo": "hfmg", "num_of_bins": act.num_of_bins, "asymmetric": act.asymmetric,
            }
    weight = layer.weight
    if weight is not None:
        if weight.algo == "arq":
            entry["weight_quant_params"] = {
                "num_bits": weight.bits, "wts_algo": "arq_quantize", "channel_wise": weight.channel_wise,
            }
        else:
            entry["weight_quant_params"] = {
                "wts_algo": "ada_quantize", "num_iteration": weight.num_iteration, "reg_param": weight.reg_param,
                "beta_range": [weight.beta_range_start, weight.beta_range_end], "warm_start": weight.warm_start,
                "num_bits": weight.bits, "channel_wise": weight.channel_wise,
            }
    return entry


def _layer_from_dict(item: Mapping[str, Any]) -> LayerPlan:
    skip = item["skip"]
    weight = item["weight"]
    act = item["activation"]
    dmq = item["dmq_balancer"]
    return LayerPlan(
        name=item["name"],
        type=item["type"],
        quantize=item["quantize"],
        skip=Skip(skip["reason"], skip.get("line"), skip.get("column"), skip.get("detail")) if skip else None,
        weight=WeightPlan(**{**parameter_defaults(weight["algo"]), **weight}) if weight else None,
        activation=ActivationPlan(**{**parameter_defaults(act["algo"]), **act}) if act else None,
        dmq_balancer=DMQPlan(**{**parameter_defaults("dmq_balancer"), **dmq}) if dmq is not None else None,
        provenance={key: Provenance(p["from"], p.get("line"), p.get("column"), reason=p.get("reason"))
                    for key, p in item["provenance"].items()},
        fused_activation=item.get("fused_activation"),
        class_name=item.get("class_name"),
        weight_transposed=item.get("weight_transposed", False),
    )


def explain_layer(plan: Plan, name: str, text: str | None = None) -> str:
    """Each resolved value of layer ``name`` and where it came from, with the source line of ``text``."""
    from cfglang.diagnostics import LineIndex

    layer = plan.layer(name)
    if layer is None:
        raise KeyError(name)
    index = LineIndex(text) if text is not None else None
    where = plan.config or "<config>"
    lines = [f"{layer.name} ({layer.label})"]
    if layer.skip is not None and layer.skip.reason == NOT_CALLED:
        lines.append(f"  not quantized: {FLOAT_REASONS[NOT_CALLED]}")
    elif layer.skip is not None and layer.skip.reason == UNSUPPORTED:
        lines.append(f"  not quantized: {layer.skip.detail}, which AMCT does not quantize"
                     + (f": {RECURRENT_LIMITS}" if layer.type in ("LSTM", "GRU") else ""))
    elif layer.skip is not None:
        lines.append(f"  not quantized: listed in `{layer.skip.reason}`"
                     + (f" at {where}:{layer.skip.line}:{layer.skip.column}" if layer.skip.line else ""))
        lines.extend(_source_line(index, layer.skip.line))
    for key, prov in layer.provenance.items():
        value = layer.value(key)
        shown = "none" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        if prov.line is None and prov.span is not None:  # a fallback: show what caused it
            why = f": {prov.reason}" if prov.reason else ""
            lines.append(f"  {key} = {shown}  ({prov.source}, because of {where}:{prov.span.line}:{prov.span.column}"
                         f"{why})")
            lines.extend(_source_line(index, prov.span.line))
            continue
        if prov.line is None:
            lines.append(f"  {key} = {shown}  ({prov.source})")
        else:
            lines.append(f"  {key} = {shown}  ({prov.source}, {where}:{prov.line}:{prov.column})")
        lines.extend(_source_line(index, prov.line))
    return "\n".join(lines) + "\n"


def _source_line(index, line: int | None) -> list[str]:
    if index is None or line is None or line > index.line_count:
        return []
    return [f"      {line:>4} | {index.line_text(line).strip()}"]
