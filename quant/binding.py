"""A plan bound to a model: the one conversion from ``cfglang.Plan`` (or its native JSON dict) to the
engine's :class:`~quant.core.LayerSpec` list, checked against the model's modules and the plan's target,
and the pieces a quantized layer gets in place (its input quantizer; its parametrized weight).

Used by the engine (:func:`quant.quantize`) and by :func:`quant.result.load_fake_quant_model`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from cfglang.capabilities import INT4_PACKING, INT4_PROBLEMS, Target, TargetError, get_target, int4_pack_problem
from cfglang.plan import LayerPlan, Plan, PlanError
from quant import recurrent
from quant.arq import weight_axis
from quant.core import ACTIVATION_SPECS, WEIGHT_SPECS, AdaRoundSpec, DMQSpec, LayerSpec, QuantizeError
from quant.fakequant import (ACTIVATION_BITS, LAYER_KINDS, InputQuantizer, attach_input_quantizer,
                             quantize_weight_in_place)
from quant.inventory import layer_type, module_attributes, weight_transposed

__all__ = ["WEIGHT_BITS", "as_plan", "layer_specs", "attach_input_quantizers", "placeholder_weights"]

#: weight widths the engine executes: AMCT's WTS_SUPPORT_NUM_BITS (common/config/field.py)
WEIGHT_BITS = (4, 6, 7, 8)


def as_plan(plan: Any) -> Plan:
    """``plan`` as a :class:`cfglang.Plan`: a Plan as it is, the native plan JSON dict validated and read
    (:meth:`cfglang.Plan.from_dict`); anything else, or a dict that is not a valid plan, is a QuantizeError."""
    if isinstance(plan, Mapping):
        try:
            plan = Plan.from_dict(plan)
        except PlanError as exc:
            raise QuantizeError(str(exc)) from None
    if not isinstance(plan, Plan):
        raise QuantizeError(f"plan is a `{type(plan).__name__}`, expected a `Plan` or the native plan JSON dict")
    if plan.version != 1:
        raise QuantizeError(f"plan has version `{plan.version}`, expected 1")
    if not isinstance(plan.batch_num, int) or plan.batch_num < 1:
        raise QuantizeError(f"plan has batch_num `{plan.batch_num}`, expected a positive integer")
    return plan


def layer_specs(model: nn.Module, plan: Plan) -> list[LayerSpec]:
    """One spec per quantized layer of ``plan``, in plan order; a layer the model or the engine cannot
    take is a QuantizeError naming it (before any work)."""
    modules = dict(model.named_modules())
    target = _plan_target(plan)
    specs = []
    for layer in plan.layers:
        if not layer.quantize:
            continue
        name, kind = layer.name, layer.type
        module = modules.get(name)
        if module is None or not name:
            raise QuantizeError(f"plan layer `{name}` is not a module of the model")
        if layer_type(module) != kind:
            raise QuantizeError(f"plan layer `{name}` has type `{kind}`, but the model's module is a "
                                f"`{type(module).__name__}`")
        if layer.weight_transposed != weight_transposed(module):
            raise QuantizeError(f"plan layer `{name}` has weight_transposed `{str(layer.weight_transposed).lower()}`, "
                                f"but the model's `{type(module).__name__}` stores its weight "
                                f"{'(in, out)' if weight_transposed(module) else '(out, in)'}")
        if layer.fused_activation is not None and layer.fused_activation not in modules:
            raise QuantizeError(f"plan layer `{name}` has fused activation `{layer.fused_activation}`, which is "
                                f"not a module of the model")
        if kind in recurrent.RECURRENT_TYPES:
            spec = recurrent.engine_spec(layer, module)
        elif kind in LAYER_KINDS:
            spec = _layer_spec(layer)
        else:
            raise QuantizeError(f"layer `{name}` has type `{kind}`, which this engine cannot quantize")
        _check_bits(spec, target)
        _check_layer_rules(spec, module, target)
        specs.append(spec)
    if not specs:
        raise QuantizeError("plan quantizes no layer")
    return specs


def _layer_spec(layer: LayerPlan) -> LayerSpec:
    name, kind = layer.name, layer.type
    weight, act = layer.weight, layer.activation
    weight_spec = None
    if LAYER_KINDS[kind].has_weight:
        if weight is None:
            raise QuantizeError(f"plan layer `{name}` ({kind}) has no weight settings")
        if weight.algo not in WEIGHT_SPECS:
            raise QuantizeError(f"layer `{name}`: weight algorithm `{weight.algo}` is not supported by this engine "
                                f"yet, expected one of {_names(WEIGHT_SPECS)}")
        weight_spec = WEIGHT_SPECS[weight.algo].from_plan(weight)
    if act is None:
        raise QuantizeError(f"plan layer `{name}` ({kind}) has no activation settings")
    if act.algo not in ACTIVATION_SPECS:
        raise QuantizeError(f"layer `{name}`: activation algorithm `{act.algo}` is not supported, "
                            f"expected one of {_names(ACTIVATION_SPECS)}")
    dmq = DMQSpec.from_plan(layer.dmq_balancer) if layer.dmq_balancer is not None else None
    return LayerSpec(name, kind, weight_spec, ACTIVATION_SPECS[act.algo].from_plan(act), dmq,
                     layer.fused_activation)


def _plan_target(plan: Plan) -> Target | None:
    """The capability table of the plan's ``target`` (None for a plan without one)."""
    if plan.target is None:
        return None
    try:
        return get_target(plan.target)
    except TargetError as exc:
        raise QuantizeError(f"plan has {exc}") from None


def _check_bits(spec: LayerSpec, target: Target | None) -> None:
    """Widths the engine can execute, and with a target, the widths its capability table gives the
    layer's type (the resolver already falls back where AMCT does; a hand-edited plan may not)."""
    name, kind, weight = spec.name, spec.type, spec.weight
    if weight is not None:
        if weight.bits not in WEIGHT_BITS:
            raise QuantizeError(f"layer `{name}` ({kind}) has weight bits `{weight.bits}`, expected one of "
                                f"{', '.join(f'`{b}`' for b in WEIGHT_BITS)}")
        if target is not None and kind not in target.bits_types(weight.bits):
            raise QuantizeError(f"layer `{name}` ({kind}) has weight bits `{weight.bits}`, which target "
                                f"`{target.name}` does not give {kind}")
        # AMCT's AdaRound rounds to [-128, 127] whatever the width (custom_op/ada_round_quant.py) and
        # its ada_quantize has no quant_bits: AdaRound weights are always 8-bit
        if isinstance(weight, AdaRoundSpec) and weight.bits != 8:
            raise QuantizeError(f"layer `{name}` ({kind}) has `ada` weights of `{weight.bits}` bits, expected 8: "
                                f"AMCT's AdaRound is 8-bit only")
    bits = spec.activation.bits
    if bits not in ACTIVATION_BITS:
        raise QuantizeError(f"layer `{name}` ({kind}) has activation bits `{bits}`, expected one of "
                            f"{', '.join(f'`{b}`' for b in ACTIVATION_BITS)}")
    if target is not None and not any(width == bits and kind in types
                                       for width, types in target.activation_bits.values()):
        raise QuantizeError(f"layer `{name}` ({kind}) has activation bits `{bits}`, which target `{target.name}` "
                            f"does not give {kind}")


def _check_layer_rules(spec: LayerSpec, module: nn.Module, target: Target | None) -> None:
    """The target's rules that read the module's own attributes (AMCT's INT4 packing, INT16 without
    bias): the resolver falls back where AMCT does, a hand-edited plan may not."""
    if target is None:
        return
    name, kind = spec.name, spec.type
    found = module_attributes(module)
    if spec.weight is not None and spec.weight.bits == 4 and target.int4_packed_along_cin:
        problem = int4_pack_problem(kind, found.get("groups"), found.get("in_channels"), found.get("hidden_size"))
        if problem is not None:
            raise QuantizeError(f"layer `{name}` ({kind}) has weight bits `4`, which target `{target.name}` does "
                                f"not give it ({INT4_PROBLEMS[problem]}): {INT4_PACKING}")
    if spec.activation.bits == 16 and kind in target.int16_needs_bias and found.get("bias") is False:
        raise QuantizeError(f"layer `{name}` ({kind}) has activation bits `16`, which target `{target.name}` does "
                            f"not give a `{kind}` without bias")


def _names(table: Mapping[str, Any]) -> str:
    return ", ".join(f"`{k}`" for k in sorted(table))


def attach_input_quantizers(model: nn.Module, specs: Sequence[LayerSpec],
                            balance_channels: Mapping[str, int]) -> dict[str, InputQuantizer]:
    """Give every layer of ``specs`` in ``model`` its input quantizer (placeholder scale 1, offset 0;
    ``balance_channels`` factors for the DMQ-balanced layers); returns them by layer name."""
    quantizers: dict[str, InputQuantizer] = {}
    for spec in specs:
        module = model.get_submodule(spec.name)
        channel_dim = 1 if spec.type in recurrent.RECURRENT_TYPES else LAYER_KINDS[spec.type].channel_dim
        quantizer = InputQuantizer(bits=spec.activation.bits, balance_channels=balance_channels.get(spec.name),
                                   channel_dim=channel_dim, device=_device(module))
        attach_input_quantizer(module, quantizer)
        quantizers[spec.name] = quantizer
    return quantizers


def placeholder_weights(model: nn.Module, specs: Sequence[LayerSpec]) -> None:
    """Give every weighted, non-recurrent layer of ``specs`` the parametrized weight of a quantized layer,
    with zero codes and unit scales, so that a saved state dict loads into ``model``."""
    for spec in specs:
        if spec.weight is None or spec.type in recurrent.RECURRENT_TYPES:
            continue
        module = model.get_submodule(spec.name)
        axis = weight_axis(module)
        scale = torch.ones(module.weight.shape[axis] if spec.weight.channel_wise else ())
        quantize_weight_in_place(module, torch.zeros(module.weight.shape, dtype=torch.int8), scale, axis=axis,
                                 channel_wise=spec.weight.channel_wise, bits=spec.weight.bits)


def _device(module: nn.Module) -> torch.device | None:
    tensor = next(iter(module.parameters(recurse=False)), None)
    if tensor is None:
        tensor = next(iter(module.buffers(recurse=False)), None)
    return tensor.device if tensor is not None else None
