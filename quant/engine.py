"""``quantize(model, plan, batches)``: execute a resolved plan, in AMCT's calibrate-and-save order.

fold BatchNorm -> (balance pass) -> quantize weights -> activation calibration over exactly
``batch_num`` batches (activations pass through in float) -> record -> fake-quant model.

Extension points (for AdaRound, DMQ and recurrent layers):

- ``WEIGHT_ALGOS``: plan ``weight.algo`` -> ``fn(module, weight_spec, context) -> WeightQuant``.
  ``context`` is a :class:`WeightContext` (the working model with earlier layers already quantized,
  a lazily made float copy, the batches). ``"arq"`` and ``"ada"`` (quant.adaround) are registered.
- ``BALANCE_PASS``: ``fn(model, layers, batches) -> {name: factors}``, run after folding and before
  weight quantization when any layer has a ``dmq_balancer``. It must fold the factors into each layer's
  weight in place (so weight quantization sees the balanced weight); the engine divides the layer's
  input by them during calibration and in the fake-quant model, and records them as
  ``tensor_balance_factor``.
- ``quant.fakequant.LAYER_KINDS``: layer types the engine can quantize; a quantized layer of another
  type (LSTM, GRU until they are added there) is a clear error before any work.
- ``quant.calibrators.CALIBRATORS``: activation algorithms.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from cfglang.capabilities import Target, TargetError, get_target, int4_pack_problem
from cfglang.resolution import INT4_PACKING, INT4_PROBLEMS
from quant import qmath, recurrent
from quant.adaround import ada_quantize
from quant.arq import WeightQuant, arq_quantize, weight_sqnr_db
from quant.calibrators import CALIBRATORS, ActivationQParams, NonFiniteError, make_calibrator
from quant.dmq import balance_pass
from quant.fakequant import ACTIVATION_BITS, LAYER_KINDS, FakeQuantLayer
from quant.fold import FoldError, fold_pairs
from quant.inventory import module_attributes

__all__ = ["QuantizeError", "LayerSpec", "WeightContext", "WEIGHT_ALGOS", "BALANCE_PASS", "quantize",
           "run_batch", "build_fake_quant_model"]


class QuantizeError(ValueError):
    """A plan, model or batch that the engine cannot quantize; the message names the layer."""


@dataclass(frozen=True, slots=True, eq=False)
class LayerSpec:
    """One quantized layer of the plan, bound to the module of the working model."""

    name: str
    type: str
    weight: Mapping[str, Any] | None
    activation: Mapping[str, Any]
    dmq_balancer: Mapping[str, Any] | None


@dataclass(eq=False)
class WeightContext:
    """What a weight algorithm may use besides the layer itself."""

    name: str
    model: nn.Module  # the working model: earlier layers already carry quantized weights
    batches: Sequence[Any]
    float_model_factory: Callable[[], nn.Module]
    progress: bool = False

    @functools.cached_property
    def float_model(self) -> nn.Module:
        """The folded (and balanced) float model, copied on first use."""
        return self.float_model_factory()


WeightAlgo = Callable[[nn.Module, Mapping[str, Any], WeightContext], WeightQuant]

#: plan ``weight.algo`` -> implementation
WEIGHT_ALGOS: dict[str, WeightAlgo] = {"arq": arq_quantize, "ada": ada_quantize}

#: the DMQ balancing pass (see the module docstring): quant.dmq.balance_pass
BALANCE_PASS: Callable[[nn.Module, Sequence[LayerSpec], Sequence[Any]], dict[str, torch.Tensor]] | None = balance_pass


def _plan_dict(plan: Any) -> dict[str, Any]:
    data = plan.to_dict() if hasattr(plan, "to_dict") else plan
    if not isinstance(data, Mapping):
        raise QuantizeError(f"plan is a `{type(plan).__name__}`, expected a `Plan` or the native plan JSON dict")
    if data.get("version") != 1:
        raise QuantizeError(f"plan has version `{data.get('version')}`, expected 1")
    for key in ("batch_num", "layers"):
        if key not in data:
            raise QuantizeError(f"plan has no `{key}`")
    if not isinstance(data["batch_num"], int) or data["batch_num"] < 1:
        raise QuantizeError(f"plan has batch_num `{data['batch_num']}`, expected a positive integer")
    return dict(data)


def _layer_specs(model: nn.Module, plan: Mapping[str, Any]) -> list[LayerSpec]:
    modules = dict(model.named_modules())
    target = _plan_target(plan)
    specs = []
    for layer in plan["layers"]:
        if not layer.get("quantize"):
            continue
        name, kind = layer["name"], layer["type"]
        module = modules.get(name)
        if module is None or not name:
            raise QuantizeError(f"plan layer `{name}` is not a module of the model")
        if type(module).__name__ != kind:
            raise QuantizeError(f"plan layer `{name}` has type `{kind}`, but the model's module is a "
                                f"`{type(module).__name__}`")
        if kind in recurrent.RECURRENT_TYPES:  # quant.recurrent: supported ones get a spec, others a warning
            spec = recurrent.engine_spec(name, kind, module, layer)
            if spec is not None:
                _check_bits(name, kind, spec.weight, spec.activation, target)
                _check_layer_rules(name, kind, module, spec.weight, spec.activation, target)
                specs.append(spec)
            continue
        if kind not in LAYER_KINDS:
            raise QuantizeError(f"layer `{name}` has type `{kind}`, which this engine cannot quantize")
        weight, act = layer.get("weight"), layer.get("activation")
        if LAYER_KINDS[kind].has_weight:
            if weight is None:
                raise QuantizeError(f"plan layer `{name}` ({kind}) has no weight settings")
            if weight.get("algo") not in WEIGHT_ALGOS:
                raise QuantizeError(f"layer `{name}`: weight algorithm `{weight.get('algo')}` is not supported "
                                    f"by this engine yet, expected one of {_names(WEIGHT_ALGOS)}")
        if act is None:
            raise QuantizeError(f"plan layer `{name}` ({kind}) has no activation settings")
        if act.get("algo") not in CALIBRATORS:
            raise QuantizeError(f"layer `{name}`: activation algorithm `{act.get('algo')}` is not supported, "
                                f"expected one of {_names(CALIBRATORS)}")
        _check_bits(name, kind, weight if LAYER_KINDS[kind].has_weight else None, act, target)
        _check_layer_rules(name, kind, module, weight if LAYER_KINDS[kind].has_weight else None, act, target)
        dmq = layer.get("dmq_balancer")
        if dmq is not None and BALANCE_PASS is None:
            raise QuantizeError(f"layer `{name}`: `dmq_balancer` is not supported by this engine yet")
        specs.append(LayerSpec(name, kind, weight if LAYER_KINDS[kind].has_weight else None, act, dmq))
    if not specs:
        raise QuantizeError("plan quantizes no layer")
    return specs


#: weight widths the engine executes: AMCT's WTS_SUPPORT_NUM_BITS (common/config/field.py)
WEIGHT_BITS = (4, 6, 7, 8)


def _plan_target(plan: Mapping[str, Any]) -> Target | None:
    """The capability table of the plan's ``target`` (None for a plan without one: hand-built, or
    written before plans named their target)."""
    name = plan.get("target")
    if name is None:
        return None
    try:
        return get_target(name)
    except TargetError as exc:
        raise QuantizeError(f"plan has {exc}") from None


def _check_bits(name: str, kind: str, weight: Mapping[str, Any] | None, act: Mapping[str, Any],
                target: Target | None) -> None:
    """Widths the engine can execute, and with a target, the widths its capability table gives the
    layer's type (the resolver already falls back where AMCT does; a hand-edited plan may not)."""
    if weight is not None:
        bits = weight.get("bits", 8)
        if bits not in WEIGHT_BITS:
            raise QuantizeError(f"layer `{name}` ({kind}) has weight bits `{bits}`, expected one of "
                                f"{', '.join(f'`{b}`' for b in WEIGHT_BITS)}")
        if target is not None and kind not in target.bits_types(bits):
            raise QuantizeError(f"layer `{name}` ({kind}) has weight bits `{bits}`, which target `{target.name}` "
                                f"does not give {kind}")
        # AMCT's AdaRound rounds to [-128, 127] whatever the width (custom_op/ada_round_quant.py) and
        # its ada_quantize has no quant_bits: AdaRound weights are always 8-bit
        if weight.get("algo") == "ada" and bits != 8:
            raise QuantizeError(f"layer `{name}` ({kind}) has `ada` weights of `{bits}` bits, expected 8: AMCT's "
                                f"AdaRound is 8-bit only")
    bits = act.get("bits", 8)
    if bits not in ACTIVATION_BITS:
        raise QuantizeError(f"layer `{name}` ({kind}) has activation bits `{bits}`, expected one of "
                            f"{', '.join(f'`{b}`' for b in ACTIVATION_BITS)}")
    if target is not None and not any(width == bits and kind in types
                                       for width, types in target.activation_bits.values()):
        raise QuantizeError(f"layer `{name}` ({kind}) has activation bits `{bits}`, which target `{target.name}` "
                            f"does not give {kind}")


def _check_layer_rules(name: str, kind: str, module: nn.Module, weight: Mapping[str, Any] | None,
                       act: Mapping[str, Any], target: Target | None) -> None:
    """The target's rules that read the module's own attributes (AMCT's INT4 packing, INT16 without
    bias): the resolver falls back where AMCT does, a hand-edited plan may not."""
    if target is None:
        return
    found = module_attributes(module)
    if weight is not None and weight.get("bits", 8) == 4 and target.int4_packed_along_cin:
        problem = int4_pack_problem(kind, found.get("groups"), found.get("in_channels"), found.get("hidden_size"))
        if problem is not None:
            raise QuantizeError(f"layer `{name}` ({kind}) has weight bits `4`, which target `{target.name}` does "
                                f"not give it ({INT4_PROBLEMS[problem]}): {INT4_PACKING}")
    if act.get("bits", 8) == 16 and kind in target.int16_needs_bias and found.get("bias") is False:
        raise QuantizeError(f"layer `{name}` ({kind}) has activation bits `16`, which target `{target.name}` does "
                            f"not give a `{kind}` without bias")


def _names(table: Mapping[str, Any]) -> str:
    return ", ".join(f"`{k}`" for k in sorted(table))


def _check_eval(model: nn.Module) -> None:
    training = [name or "the model" for name, m in model.named_modules() if m.training]
    if training:
        raise QuantizeError(f"model is in train mode (`{training[0]}`), expected eval mode: call "
                            f"`model.eval()` before quantizing")


def _take_batches(batches: Iterable[Any], count: int) -> list[Any]:
    if isinstance(batches, torch.Tensor):
        raise QuantizeError("batches is a single tensor, expected an iterable of batches (e.g. `[x]`)")
    taken = list(itertools.islice(iter(batches), count))
    if len(taken) < count:
        got = f"{len(taken)} calibration batch" + ("" if len(taken) == 1 else "es")
        raise QuantizeError(f"got {got}, expected `batch_num` = {count} from the plan")
    return taken


def run_batch(model: nn.Module, batch: Any) -> Any:
    """Call ``model`` on one batch: a tensor, a tuple/list of positional inputs or a dict of keywords."""
    if isinstance(batch, Mapping):
        return model(**batch)
    if isinstance(batch, (tuple, list)):
        return model(*batch)
    return model(batch)


@contextlib.contextmanager
def _hooks(model: nn.Module, hooks: Mapping[str, Callable], *, pre: bool) -> Iterator[None]:
    """Forward (pre-)hooks on named modules, always removed on exit."""
    handles = []
    try:
        for name, hook in hooks.items():
            module = model.get_submodule(name)
            register = module.register_forward_pre_hook if pre else module.register_forward_hook
            handles.append(register(hook))
        yield
    finally:
        for handle in handles:
            handle.remove()


def _bar(iterable, total: int, desc: str, progress: bool):
    if not progress:
        return iterable
    from tqdm.auto import tqdm

    # disable=None: no bar unless stderr is a terminal (redrawn bars would litter a log or a pipe)
    return tqdm(iterable, total=total, desc=desc, leave=False, disable=None)


def _on_outputs(model: nn.Module, names: Sequence[str], batch: Any,
                fn: Callable[[str, torch.Tensor], None]) -> None:
    """Run ``batch`` and call ``fn(name, output)`` on the first tensor output of each named layer."""
    seen: set[str] = set()

    def make(name: str):
        def hook(_m, _args, out):
            if isinstance(out, torch.Tensor) and name not in seen:
                seen.add(name)
                fn(name, out.detach().reshape(-1))
        return hook

    with torch.inference_mode(), _hooks(model, {n: make(n) for n in names}, pre=False):
        run_batch(model, batch)


def _layer_outputs(model: nn.Module, names: Sequence[str], batch: Any) -> dict[str, torch.Tensor]:
    """Each layer's output on ``batch``, flattened; copies, as later in-place operations may change it."""
    outputs: dict[str, torch.Tensor] = {}
    _on_outputs(model, names, batch, lambda name, out: outputs.__setitem__(name, out.clone()))
    return outputs


def _output_cosines(model: nn.Module, reference: Mapping[str, torch.Tensor], batch: Any) -> dict[str, float | None]:
    """Per layer of ``reference``, the cosine between its output on ``batch`` and the reference output."""
    cosines: dict[str, float | None] = {}
    def record(name: str, out: torch.Tensor) -> None:
        cosines[name] = _cosine(reference[name], out)

    _on_outputs(model, list(reference), batch, record)
    return cosines


def _calibrate(model: nn.Module, specs: Sequence[LayerSpec], batches: Sequence[Any],
               factors: Mapping[str, torch.Tensor], progress: bool) -> dict[str, ActivationQParams]:
    calibrators = {s.name: make_calibrator(s.activation, len(batches)) for s in specs}
    # per layer, (batch index, position among all hook calls) of each observation: a calibrator may
    # check a buffered batch later, and the error names the first batch and layer that saw nan or inf
    calls: dict[str, list[tuple[int, int]]] = {s.name: [] for s in specs}
    current = [0, 0]  # batch index, hook calls so far

    def nonfinite(name: str, exc: NonFiniteError) -> QuantizeError:
        found = [(calls[name][exc.observation], name)]
        for other, cal in calibrators.items():
            first = getattr(cal, "first_nonfinite", None)
            observation = first() if other != name and first is not None else None
            if observation is not None:
                found.append((calls[other][observation], other))
        (batch, _), layer = min(found)
        return QuantizeError(f"layer `{layer}`: calibration batch {batch} has nan or inf values at the layer's input")

    def make(spec: LayerSpec):
        balance = factors.get(spec.name)
        dim = LAYER_KINDS[spec.type].channel_dim if balance is not None else 1

        def hook(_m, args):
            x = args[0]
            if balance is not None:
                shape = [1] * x.dim()
                shape[dim if dim >= 0 else x.dim() + dim] = -1
                x = x / balance.reshape(shape).to(x.dtype)
            calls[spec.name].append((current[0], current[1]))
            current[1] += 1
            try:
                calibrators[spec.name].observe(x)
            except NonFiniteError as exc:
                raise nonfinite(spec.name, exc) from None
            return (x, *args[1:]) if balance is not None else None
        return hook

    # inference mode: less bookkeeping per operation than no_grad; what the calibrators keep stays
    # inside (compute() runs in it too) and only floats come out
    with torch.inference_mode():
        with _hooks(model, {s.name: make(s) for s in specs}, pre=True):
            for i, batch in enumerate(_bar(batches, len(batches), "calibration batches", progress)):
                current[0] = i
                run_batch(model, batch)
        missing = [name for name, seen in calls.items() if not seen]
        if missing:
            raise QuantizeError(f"layer `{missing[0]}` was not called by the model's forward in {len(batches)} "
                                f"calibration batch{'' if len(batches) == 1 else 'es'}")
        qparams = {}
        for name, cal in calibrators.items():
            try:
                qparams[name] = cal.compute()
            except NonFiniteError as exc:
                raise nonfinite(name, exc) from None
    return qparams


def build_fake_quant_model(model: nn.Module, specs: Sequence[LayerSpec],
                           factors: Mapping[str, torch.Tensor] | None = None) -> dict[str, FakeQuantLayer]:
    """Replace every layer of ``specs`` in ``model`` (in place) by a FakeQuantLayer with placeholder
    parameters; used by the engine and to rebuild a saved fake-quant model from its factory."""
    factors = factors or {}
    wrappers = {}
    for spec in specs:
        module = model.get_submodule(spec.name)
        channels = None
        if spec.name in factors:
            channels = factors[spec.name].numel()
        if spec.type in recurrent.RECURRENT_TYPES:
            wrappers[spec.name] = recurrent.engine_wrapper(module, spec)
            model.set_submodule(spec.name, wrappers[spec.name])
            continue
        wrapper = FakeQuantLayer(
            module, spec.type, act_bits=int(spec.activation.get("bits", 8)),
            weight_bits=int(spec.weight.get("bits", 8)) if spec.weight else 8,
            channel_wise=bool(spec.weight.get("channel_wise", False)) if spec.weight else False,
            balance_channels=channels,
        )
        model.set_submodule(spec.name, wrapper)
        wrappers[spec.name] = wrapper
    return wrappers


def _cosine(a: torch.Tensor | None, b: torch.Tensor | None) -> float | None:
    """Cosine of two flat tensors, the products summed in float64 (no float64 copies of the outputs)."""
    if a is None or b is None or a.shape != b.shape:
        return None
    b = b.to(a.dtype)
    denom = (torch.sum(a * a, dtype=torch.float64) * torch.sum(b * b, dtype=torch.float64)).sqrt()
    if denom == 0:
        return 1.0 if torch.equal(a, b) else 0.0
    return float(torch.sum(a * b, dtype=torch.float64) / denom)


def quantize(model: nn.Module, plan: Any, batches: Iterable[Any], *, progress: bool = True):
    """Quantize a copy of ``model`` as ``plan`` says, calibrating on its first ``batch_num`` batches.

    ``plan`` is a ``cfglang.Plan`` or the native plan JSON dict; ``batches`` yields model inputs (a
    tensor, a tuple of tensors or a dict of tensors per batch). The user's model is never modified.
    Returns a :class:`quant.result.QuantResult`."""
    from quant.record import LayerRecord, record_text
    from quant.result import LayerResult, QuantResult

    data = _plan_dict(plan)
    if not isinstance(model, nn.Module):
        raise QuantizeError(f"model is a `{type(model).__name__}`, expected a `torch.nn.Module`")
    specs = _layer_specs(model, data)
    _check_eval(model)
    taken = _take_batches(batches, data["batch_num"])

    work = copy.deepcopy(model)
    if data.get("do_fusion", True):
        try:
            fold_pairs(work, data.get("fusions", ()))
        except FoldError as exc:
            raise QuantizeError(str(exc)) from None
    float_out = _layer_outputs(work, [s.name for s in specs], taken[0])

    factors: dict[str, torch.Tensor] = {}
    balanced = [s for s in specs if s.dmq_balancer is not None]
    if balanced and BALANCE_PASS is not None:
        factors = dict(BALANCE_PASS(work, balanced, taken))

    # algorithms other than ARQ (AdaRound) reconstruct against the folded, balanced float model
    snapshot = copy.deepcopy(work) if any(s.weight and s.weight.get("algo") != "arq" for s in specs) else None

    def float_copy() -> nn.Module:
        if snapshot is None:
            raise QuantizeError("no float snapshot was kept: only weight algorithms other than `arq` get one")
        return snapshot

    weights: dict[str, WeightQuant] = {}
    sqnr: dict[str, float] = {}
    for spec in _bar(specs, len(specs), "weights", progress):
        if spec.weight is None or spec.type in recurrent.RECURRENT_TYPES:  # recurrent weights: in their wrapper
            continue
        module = work.get_submodule(spec.name)
        ctx = WeightContext(spec.name, work, taken, float_copy, progress)
        quantized = WEIGHT_ALGOS[spec.weight["algo"]](module, spec.weight, ctx)
        dequantized = quantized.dequantize().to(module.weight.dtype)
        sqnr[spec.name] = weight_sqnr_db(module.weight, dequantized)
        with torch.no_grad():
            module.weight.copy_(dequantized)
        weights[spec.name] = quantized

    qparams = _calibrate(work, specs, taken, factors, progress)
    fp16 = data.get("fakequant_precision_mode") == "FORCE_FP16_QUANT"
    if fp16:
        qparams = {n: _fp16(q) for n, q in qparams.items()}

    wrappers = build_fake_quant_model(work, specs, factors)
    for spec in specs:
        wrapper = wrappers[spec.name]
        wrapper.set_activation(qparams[spec.name].scale, qparams[spec.name].offset)
        if spec.name in weights:
            wrapper.set_weight(weights[spec.name].codes, weights[spec.name].scale)
        if spec.name in factors:
            wrapper.balance.copy_(factors[spec.name].reshape(-1))
    cosines = _output_cosines(work, float_out, taken[0])

    layers, records = [], []
    for spec in specs:
        q, w = qparams[spec.name], weights.get(spec.name)
        scale_w = tuple(w.scale.reshape(-1).tolist()) if w is not None else ()
        if spec.type in recurrent.RECURRENT_TYPES:
            scale_w = tuple(wrappers[spec.name].weights.record_scales())
        balance = tuple(factors[spec.name].reshape(-1).tolist()) if spec.name in factors else ()
        bits = w.bits if w else (spec.weight or {}).get("bits")
        records.append(LayerRecord(spec.name, q.scale, q.offset, scale_w, bits, balance,
                                   data.get("fakequant_precision_mode"), act_bits=q.bits))
        layers.append(LayerResult(
            name=spec.name, type=spec.type, weight_algo=spec.weight["algo"] if spec.weight else None,
            weight_bits=w.bits if w else None, channel_wise=w.channel_wise if w else None,
            activation_algo=spec.activation["algo"], asymmetric=bool(spec.activation.get("asymmetric", True)),
            scale_d=q.scale, offset_d=q.offset, clip_min=q.clip_min, clip_max=q.clip_max, scale_w=scale_w,
            weight_sqnr_db=sqnr.get(spec.name), output_cosine=cosines.get(spec.name), activation_bits=q.bits,
        ))
    work.eval()
    return QuantResult(model=work, record=record_text(records), layers=tuple(layers), plan=data,
                       example_inputs=taken[0], balance_factors={k: v.clone() for k, v in factors.items()})


def _fp16(q: ActivationQParams) -> ActivationQParams:
    return ActivationQParams(qmath.round_to_fp16(q.scale).item(), q.offset, q.clip_min, q.clip_max, q.bits)
