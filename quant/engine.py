"""``quantize(model, plan, batches)``: execute a resolved plan, in AMCT's calibrate-and-save order.

fold BatchNorm -> (balance pass) -> quantize weights -> activation calibration over exactly
``batch_num`` batches (activations pass through in float) -> record -> fake-quant model.

The plan is converted once, at the start (:mod:`quant.binding`): a ``cfglang.Plan``, or the native
plan JSON dict validated against the plan schema, becomes one typed :class:`~quant.core.LayerSpec` per
quantized layer. The engine composes the algorithms, each found by its spec's type:

- ``WEIGHT_ALGOS``: weight spec type -> ``fn(module, spec, context) -> WeightQuant``. ``context`` is a
  :class:`~quant.core.WeightContext` (the working model with earlier layers already quantized, a lazily
  made float copy, the batches, the layer's fused activation). :class:`~quant.core.ARQSpec`
  (``quant.arq``) and :class:`~quant.core.AdaRoundSpec` (``quant.adaround``) are registered.
- ``quant.calibrators.CALIBRATORS``: activation spec type -> calibrator (IFMR, HFMG).
- ``BALANCE_PASS``: ``fn(model, layers, batches, *, collect=...) -> {name: factors}``, run after folding
  and before weight quantization when any layer has a ``dmq_balancer`` (``collect`` is given across
  processes: :mod:`quant.distributed`). It must fold the factors into each layer's weight (giving the
  layer a new tensor, so weight quantization sees the balanced weight); the engine divides the layer's
  input by them during calibration and in the fake-quant model, and records them as
  ``tensor_balance_factor``.
- The working model: :func:`quant.core.shared_copy` copies the model's modules but shares its tensors,
  so quantizing costs no second copy of the float weights. Nothing changes a tensor in place: folding,
  DMQ and the quantized weight give a layer new tensors, so the user's model stays as it was, and the
  other users of a tensor a quantized layer shares (an embedding tied to an output Linear) keep it, in
  float. The result's model still shares the tensors that quantization left alone with the model.
- The fake-quant model is built in place (:mod:`quant.fakequant`): a quantized layer keeps its class and
  attributes; its weight becomes a parametrization over int8 codes as soon as its weight algorithm has
  run (later layers' calibration and AdaRound see it quantized), and after calibration it gets its input
  quantizer. ``quant.fakequant.LAYER_KINDS``: layer types the engine can quantize (LSTM and GRU:
  ``quant.recurrent``); a quantized layer of another type is a clear error before any work.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from cfglang.plan import Plan
from quant import qmath, recurrent
from quant.adaround import ada_quantize
from quant.arq import WeightQuant, arq_quantize, weight_sqnr_db
from quant.binding import as_plan, attach_input_quantizers, layer_specs
from quant.calibrators import ActivationQParams, NonFiniteError, layer_inputs, make_calibrator
from quant.core import (AdaRoundSpec, ARQSpec, LayerSpec, QuantizeError, WeightContext, forward_hooks,
                        nonfinite_input_error, not_called_error, run_batch, shared_copy)
from quant.dmq import balance_pass
from quant.fakequant import quantize_weight_in_place, reused_weight_buffers
from quant.fold import FoldError, fold_pairs
from quant.record import LayerRecord, record_text
from quant.result import LayerResult, QuantResult

__all__ = ["QuantizeError", "WEIGHT_ALGOS", "BALANCE_PASS", "quantize"]

WeightAlgo = Callable[[nn.Module, Any, WeightContext], WeightQuant]

#: weight spec type -> implementation
WEIGHT_ALGOS: dict[type, WeightAlgo] = {ARQSpec: arq_quantize, AdaRoundSpec: ada_quantize}

#: the DMQ balancing pass (see the module docstring)
BALANCE_PASS: Callable[[nn.Module, Sequence[LayerSpec], Sequence[Any]], dict[str, torch.Tensor]] = balance_pass


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

    hooks = {n: make(n) for n in names}
    with torch.inference_mode(), reused_weight_buffers(), forward_hooks(model, hooks, pre=False):
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
        return nonfinite_input_error(layer, batch)

    def observe(name: str, x: torch.Tensor) -> None:
        calls[name].append((current[0], current[1]))
        current[1] += 1
        try:
            calibrators[name].observe(x)
        except NonFiniteError as exc:
            raise nonfinite(name, exc) from None

    # inference mode: less bookkeeping per operation than no_grad; what the calibrators keep stays
    # inside (compute() runs in it too) and only floats come out
    with torch.inference_mode():
        with reused_weight_buffers(), layer_inputs(model, specs, factors, observe):
            for i, batch in enumerate(_bar(batches, len(batches), "calibration batches", progress)):
                current[0] = i
                run_batch(model, batch)
        missing = [name for name, seen in calls.items() if not seen]
        if missing:
            raise not_called_error(missing[0], len(batches))
        qparams = {}
        for name, cal in calibrators.items():
            try:
                qparams[name] = cal.compute()
            except NonFiniteError as exc:
                raise nonfinite(name, exc) from None
    return qparams


def _cosine(a: torch.Tensor | None, b: torch.Tensor | None) -> float | None:
    """Cosine of two flat tensors, the products summed in float64 (no float64 copies of the outputs)."""
    if a is None or b is None or a.shape != b.shape:
        return None
    b = b.to(a.dtype)
    denom = (torch.sum(a * a, dtype=torch.float64) * torch.sum(b * b, dtype=torch.float64)).sqrt()
    if denom == 0:
        return 1.0 if torch.equal(a, b) else 0.0
    return float(torch.sum(a * b, dtype=torch.float64) / denom)


def quantize(model: nn.Module, plan: Plan | Mapping[str, Any], batches: Iterable[Any], *,
             group: Any = None, batch_indices: Sequence[int] | None = None, layer_cosines: bool = False,
             progress: bool = True) -> QuantResult:
    """Quantize a copy of ``model`` as ``plan`` says, calibrating on its first ``batch_num`` batches.

    ``plan`` is a ``cfglang.Plan`` or the native plan JSON dict (validated against the plan schema; the
    algorithm parameters it omits take the config schema's defaults); ``batches`` yields model inputs (a
    tensor, a tuple of tensors or a dict of tensors per batch). The user's model is never modified.
    Returns a :class:`quant.result.QuantResult`.

    ``layer_cosines``: also compare each quantized layer's output in the fake-quant model with the float
    model's, on the first calibration batch (``LayerResult.output_cosine``, the table's ``cosine``; None
    without it). It costs two more forwards of that batch (one in float before quantizing, one
    quantized), which on a large model is about as much as the calibration itself.

    With ``group`` (a ``torch.distributed`` process group, ``torch.distributed.group.WORLD`` for all
    processes, or a :class:`quant.distributed.Exchange`), every process of the group calls this with
    its share of the ``batch_num`` batches: ``batches`` are those at positions ``batch_indices`` of
    the calibration order (by default round-robin, rank ``r`` of ``W`` holding ``r, r + W, ...``).
    Every process returns the result of one process calibrating on all batches in that order
    (:mod:`quant.distributed`, docs/distributed.md); saving it is the caller's (rank 0's) part."""
    plan = as_plan(plan)
    if not isinstance(model, nn.Module):
        raise QuantizeError(f"model is a `{type(model).__name__}`, expected a `torch.nn.Module`")
    specs = layer_specs(model, plan)
    _check_eval(model)
    exchange = share = None
    if group is None:
        taken = _take_batches(batches, plan.batch_num)
    else:  # this process's share; `taken` holds batch 0, or all batches where a weight algorithm needs them
        from quant import distributed

        exchange = group if isinstance(group, distributed.Exchange) else distributed.Exchange(group)
        share = distributed.take_share(exchange, batches, batch_indices, plan.batch_num,
                                       everything=any(s.weight and not isinstance(s.weight, ARQSpec) for s in specs))
        taken = share.every if share.every is not None else [share.first]

    # the copy shares the model's tensors: every change (folding, DMQ, quantized weights) replaces a
    # module's tensor, so the model and the other users of a shared tensor (a tied embedding) keep theirs
    work = shared_copy(model)
    if plan.do_fusion:
        try:
            fold_pairs(work, plan.fusions)
        except FoldError as exc:
            raise QuantizeError(str(exc)) from None
    float_out = _layer_outputs(work, [s.name for s in specs], taken[0]) if layer_cosines else {}

    factors: dict[str, torch.Tensor] = {}
    balanced = [s for s in specs if s.dmq_balancer is not None]
    if balanced:
        collect = {} if share is None else {"collect": distributed.balance_collector(exchange, share)}
        factors = dict(BALANCE_PASS(work, balanced, taken, **collect))

    # algorithms other than ARQ (AdaRound) reconstruct against the folded, balanced float model
    snapshot = copy.deepcopy(work) if any(s.weight and not isinstance(s.weight, ARQSpec) for s in specs) else None

    def float_copy() -> nn.Module:
        if snapshot is None:
            raise QuantizeError("no float snapshot was kept: only weight algorithms other than `arq` get one")
        return snapshot

    weights: dict[str, WeightQuant] = {}
    sqnr: dict[str, float] = {}
    for spec in _bar(specs, len(specs), "weights", progress):
        if spec.weight is None or spec.type in recurrent.RECURRENT_TYPES:  # recurrent: after calibration
            continue
        module = work.get_submodule(spec.name)
        ctx = WeightContext(spec.name, work, taken, float_copy, progress, spec.fused_activation)
        quantized = WEIGHT_ALGOS[type(spec.weight)](module, spec.weight, ctx)
        sqnr[spec.name] = weight_sqnr_db(module.weight, quantized)
        quantize_weight_in_place(module, quantized.codes, quantized.scale, axis=quantized.axis,
                                 channel_wise=quantized.channel_wise, bits=quantized.bits)
        weights[spec.name] = quantized
    snapshot = None  # the float copy is not needed past the weights

    if share is None:
        qparams = _calibrate(work, specs, taken, factors, progress)
    else:
        qparams = distributed.calibrate(exchange, work, specs, share, factors, progress)
    if plan.fakequant_precision_mode == "FORCE_FP16_QUANT":
        qparams = {n: _fp16(q) for n, q in qparams.items()}

    recurrent_scales = {
        spec.name: recurrent.quantize_recurrent_weights(work.get_submodule(spec.name), spec.weight.bits,
                                                        spec.weight.channel_wise).record_scales()
        for spec in specs if spec.type in recurrent.RECURRENT_TYPES}
    quantizers = attach_input_quantizers(work, specs, {name: f.numel() for name, f in factors.items()})
    for spec in specs:
        quantizers[spec.name].set(qparams[spec.name].scale, qparams[spec.name].offset, factors.get(spec.name))
    cosines = _output_cosines(work, float_out, taken[0]) if layer_cosines else {}

    layers, records = [], []
    for spec in specs:
        q, w = qparams[spec.name], weights.get(spec.name)
        scale_w = tuple(w.scale.reshape(-1).tolist()) if w is not None else tuple(recurrent_scales.get(spec.name, ()))
        balance = tuple(factors[spec.name].reshape(-1).tolist()) if spec.name in factors else ()
        bits = w.bits if w else spec.weight.bits if spec.weight else None
        records.append(LayerRecord(spec.name, q.scale, q.offset, scale_w, bits, balance,
                                   plan.fakequant_precision_mode, act_bits=q.bits))
        layers.append(LayerResult(
            name=spec.name, type=spec.type, weight_algo=spec.weight.algo if spec.weight else None,
            weight_bits=bits, channel_wise=w.channel_wise if w else spec.weight.channel_wise if spec.weight else None,
            activation_algo=spec.activation.algo, asymmetric=spec.activation.asymmetric,
            scale_d=q.scale, offset_d=q.offset, clip_min=q.clip_min, clip_max=q.clip_max, scale_w=scale_w,
            weight_sqnr_db=sqnr.get(spec.name), output_cosine=cosines.get(spec.name), activation_bits=q.bits,
        ))
    work.eval()
    return QuantResult(model=work, record=record_text(records), layers=tuple(layers), plan=plan,
                       example_inputs=taken[0], balance_factors={k: v.clone() for k, v in factors.items()})


def _fp16(q: ActivationQParams) -> ActivationQParams:
    return ActivationQParams(qmath.round_to_fp16(q.scale).item(), q.offset, q.clip_min, q.clip_max, q.bits)
