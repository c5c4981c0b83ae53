"""``analyze(model, plan, calib_batches, eval_batches)``: where a quantized model loses accuracy, layer by layer.

The report (``cfglang/schemas/report.schema.json``) holds, per quantized layer: the weight's SQNR, the
activation's clipping (the share of values outside the chosen range, the range against the observed
minimum and maximum, a histogram of the layer's input), the layer's own output error with its inputs in
float, its **isolated** sensitivity (the model output when only this layer is quantized) and its
**cumulative** error (its output in the fully quantized model, every layer up to it quantized); and
the model-level figures of the fully quantized model: the output's cosine (mean and lowest over the
samples) and SQNR against the float model, plus a user metric when one is given.

Cost: one calibration (``quant.quantize``), then, per evaluation batch, ``L + 2`` model forwards for
``L`` quantized layers, in lockstep: the float pass (hooks keep each layer's output and run the layer's
quantized module on the layer's float input), the fully quantized pass (hooks compare each layer's
output with the float one) and one pass per layer with only that layer quantized. Only one batch's
outputs are held at a time; every figure is a running sum.

A quantized layer is used as a drop-in module: the float reference is a copy of the model with the
plan's BatchNorm folds, and "only layer X quantized" is that reference with ``X`` replaced by the
quantized model's module of the same name (and put back after the pass).

The samples of a batch are the first dimension of the model's output tensors (all of them must share
it; otherwise the batch counts as one sample); a sample's cosine is taken over all its output values.

A user metric is ``fn(outputs, batch) -> float``: the model's outputs on one evaluation batch and the
batch itself, as the data file holds it; its value for a model is the mean over the evaluation batches
(for batches of equal size, an accuracy per batch averages to the accuracy). Labels travel in the batch:
an evaluation batch that is a dict may hold a ``labels`` entry, which the metric sees and the model is
not given (:func:`model_inputs`).
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from cfglang.plan import Plan
from cfglang.report import text_sha256
from quant.binding import as_plan
from quant.core import QuantizeError, divide_channels, forward_hooks, output_tensors, run_batch
from quant.fakequant import reused_weight_buffers
from quant.fold import FoldError, fold_pairs
from quant.histogram import histc_counts, rebin
from quant.result import QuantResult

__all__ = ["AnalyzeError", "UserMetric", "HISTOGRAM_BINS", "analyze", "float_reference", "Comparison",
           "OutputComparison", "Evaluator", "samples", "model_inputs", "LABELS"]

#: bins of each layer's input histogram in the report
HISTOGRAM_BINS = 64
#: the key of a dict evaluation batch that holds the labels for the metric (not given to the model)
LABELS = "labels"


class AnalyzeError(ValueError):
    """An analysis that cannot run: no evaluation batch, a user metric that fails or returns no number."""


@dataclass(frozen=True)
class UserMetric:
    """``fn(outputs, batch) -> float``, named as the user gave it (``pkg.mod:fn``)."""

    name: str
    fn: Callable[[Any, Any], Any]
    higher_is_better: bool = True

    def __call__(self, outputs: Any, batch: Any, index: int) -> float:
        try:
            value = self.fn(outputs, batch)
        except Exception as exc:
            raise AnalyzeError(f"the metric `{self.name}` raised on evaluation batch {index}: "
                               f"{type(exc).__name__}: {exc}") from None
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise AnalyzeError(f"the metric `{self.name}` returned `{value!r}` on evaluation batch {index}, "
                               f"expected a finite number")
        return float(value)


class Comparison:
    """Running sums of a quantized tensor against its float one: SQNR and cosine over everything added."""

    __slots__ = ("signal", "noise", "dot", "quantized")

    def __init__(self) -> None:
        self.signal = self.noise = self.dot = self.quantized = 0.0

    def add(self, ref: torch.Tensor, q: torch.Tensor) -> None:
        # float64 products (a cosine near 1 is a small difference of large sums), as four dot products
        ref, q = ref.detach().reshape(-1).to(torch.float64), q.detach().reshape(-1).to(torch.float64)
        error = ref - q
        self.signal += float(torch.dot(ref, ref))
        self.noise += float(torch.dot(error, error))
        self.dot += float(torch.dot(ref, q))
        self.quantized += float(torch.dot(q, q))

    @property
    def sqnr_db(self) -> float | None:
        if self.noise == 0:
            return None
        return 10 * math.log10(self.signal / self.noise) if self.signal > 0 else -math.inf

    @property
    def cosine(self) -> float:
        denom = math.sqrt(self.signal * self.quantized)
        if denom == 0:
            return 1.0 if self.noise == 0 else 0.0
        return max(-1.0, min(1.0, self.dot / denom))


def samples(output: Any) -> torch.Tensor:
    """The model output as one row per sample (see the module docstring)."""
    tensors = [t.detach() for _, t in output_tensors(output)]
    if not tensors:
        raise AnalyzeError("the model's output holds no tensor to compare")
    n = tensors[0].shape[0] if tensors[0].dim() else 0
    if n and all(t.dim() and t.shape[0] == n for t in tensors):
        return torch.cat([t.reshape(n, -1).to(torch.float64) for t in tensors], dim=1)
    return torch.cat([t.reshape(-1).to(torch.float64) for t in tensors]).unsqueeze(0)


@dataclass
class OutputComparison:
    """A model's outputs against the float model's, over the evaluation batches; with a user metric, its mean."""

    cosines: list[float] = field(default_factory=list)
    total: Comparison = field(default_factory=Comparison)
    metric_sum: float = 0.0
    batches: int = 0

    def add(self, a: torch.Tensor, out: Any, batch: Any, index: int, metric: UserMetric | None) -> None:
        """Compare ``out`` with the float model's rows ``a`` (:func:`samples`) of evaluation batch ``index``."""
        b = samples(out)
        if a.shape != b.shape:
            raise AnalyzeError(f"the quantized model's output has shape {list(b.shape)} on evaluation batch "
                               f"{index}, the float model's {list(a.shape)}")
        denom = (a.norm(dim=1) * b.norm(dim=1))
        dots = (a * b).sum(dim=1)
        same = torch.all(a == b, dim=1)
        cos = torch.where(denom > 0, dots / denom.clamp(min=1e-300), same.to(torch.float64))
        self.cosines.extend(cos.clamp(-1.0, 1.0).tolist())
        self.total.add(a, b)
        if metric is not None:
            self.metric_sum += metric(out, batch, index)
        self.batches += 1

    @property
    def metric(self) -> float | None:
        return self.metric_sum / self.batches if self.batches else None

    def figures(self, metric_float: float | None, user: bool) -> dict[str, Any]:
        """The report's ``figures`` object."""
        return {
            "cosine_mean": sum(self.cosines) / len(self.cosines),
            "cosine_min": min(self.cosines),
            "sqnr_db": _finite(self.total.sqnr_db),
            "metric": self.metric if user else None,
            "metric_float": metric_float if user else None,
        }


def _finite(db: float | None) -> float | None:
    """An SQNR for JSON: None for no error (+inf), the lowest float for a float signal of zeros (-inf)."""
    if db is None or math.isfinite(db):
        return db
    return None if db > 0 else -1e308


class _Activation:
    """A layer input's range, clipping against the chosen range and histogram, batch by batch."""

    def __init__(self, clip_min: float, clip_max: float) -> None:
        self.clip_min, self.clip_max = clip_min, clip_max
        self.count = self.clipped = 0
        self.lo = self.hi = math.nan
        self.observed = (math.nan, math.nan)
        self.counts: torch.Tensor | None = None

    def add(self, x: torch.Tensor) -> None:
        x = x.detach().reshape(-1).to(torch.float32)
        if not x.numel():
            return
        self.count += x.numel()
        self.clipped += int(torch.count_nonzero((x < self.clip_min) | (x > self.clip_max)))
        lo, hi = float(x.min()), float(x.max())
        if self.counts is None:
            # the histogram's range covers the clip range, so that the page can draw it inside
            self.lo, self.hi = min(lo, self.clip_min), max(hi, self.clip_max)
            self.counts = torch.zeros(HISTOGRAM_BINS, dtype=torch.float64)
            self.observed = (lo, hi)
        else:
            self.observed = (min(self.observed[0], lo), max(self.observed[1], hi))
            new_lo, new_hi = min(self.lo, lo), max(self.hi, hi)
            if (new_lo, new_hi) != (self.lo, self.hi):
                self.counts = rebin(self.counts, self.lo, self.hi, new_lo, new_hi)
                self.lo, self.hi = new_lo, new_hi
        hi_edge = self.hi if self.hi > self.lo else self.lo + 1.0
        self.counts += histc_counts(x, HISTOGRAM_BINS, self.lo, hi_edge).to(torch.float64)

    def fields(self) -> dict[str, Any]:
        if self.counts is None:
            return {"observed_min": None, "observed_max": None, "clipped_share": None, "histogram": None}
        hi = self.hi if self.hi > self.lo else self.lo + 1.0
        step = (hi - self.lo) / HISTOGRAM_BINS
        return {
            "observed_min": self.observed[0], "observed_max": self.observed[1],
            "clipped_share": self.clipped / self.count,
            "histogram": {"edges": [self.lo + i * step for i in range(HISTOGRAM_BINS)] + [hi],
                          "counts": [int(round(c)) for c in self.counts.tolist()]},
        }


def float_reference(model: nn.Module, plan: Plan) -> nn.Module:
    """A copy of ``model`` with the plan's BatchNorm folds: the float model the quantized one is compared with."""
    reference = copy.deepcopy(model)
    if plan.do_fusion:
        try:
            fold_pairs(reference, plan.fusions)
        except FoldError as exc:
            raise QuantizeError(str(exc)) from None
    return reference.eval()


def model_inputs(batch: Any) -> Any:
    """An evaluation batch as the model takes it: a dict batch without its ``labels`` (the metric's)."""
    if isinstance(batch, Mapping) and LABELS in batch:
        return {key: value for key, value in batch.items() if key != LABELS}
    return batch


def _first_tensor(output: Any) -> torch.Tensor | None:
    return next((t for _, t in output_tensors(output)), None)


class _LayerFigures:
    """What the float and full passes measure for one layer."""

    def __init__(self, clip_min: float, clip_max: float, balance: torch.Tensor | None, channel_dim: int) -> None:
        self.own = Comparison()
        self.cumulative = Comparison()
        self.activation = _Activation(clip_min, clip_max)
        self.balance, self.channel_dim = balance, channel_dim

    def observe_input(self, x: torch.Tensor) -> None:
        if self.balance is not None:  # the range was chosen for the balanced input (DMQ)
            x = divide_channels(x, self.balance, self.channel_dim)
        self.activation.add(x)


def _measure(reference: nn.Module, result: QuantResult, batches: Sequence[Any], metric: UserMetric | None,
             progress: bool) -> tuple[OutputComparison, dict[str, OutputComparison], dict[str, _LayerFigures],
                                      float | None]:
    from quant.fakequant import LAYER_KINDS

    names = [layer.name for layer in result.layers]
    quantized = {name: result.model.get_submodule(name) for name in names}
    floats = {name: reference.get_submodule(name) for name in names}
    layers = {r.name: _LayerFigures(r.clip_min, r.clip_max, result.balance_factors.get(r.name),
                                    LAYER_KINDS[r.type].channel_dim if r.type in LAYER_KINDS else 1)
              for r in result.layers}
    full = OutputComparison()
    isolated = {name: OutputComparison() for name in names}
    float_metric = 0.0
    outputs: dict[str, torch.Tensor] = {}

    def on_float(name: str):
        def hook(_m, args, out):
            ref = _first_tensor(out)
            if ref is None or name in outputs:  # a layer called twice: its first call is the one compared
                return
            outputs[name] = ref.detach().clone()
            layers[name].observe_input(args[0])
            own = _first_tensor(quantized[name](*args))
            if own is not None:
                layers[name].own.add(ref, own)
        return hook

    def on_full(name: str):
        def hook(_m, _args, out):
            q = _first_tensor(out)
            if q is not None and name in outputs:
                layers[name].cumulative.add(outputs.pop(name), q)
        return hook

    steps = _bar(enumerate(batches), len(batches), progress)
    with torch.inference_mode(), reused_weight_buffers():
        for index, batch in steps:
            outputs.clear()
            with forward_hooks(reference, {n: on_float(n) for n in names}, pre=False):
                ref_out = run_batch(reference, model_inputs(batch))
            if metric is not None:
                float_metric += metric(ref_out, batch, index)
            ref_rows = samples(ref_out)
            del ref_out
            with forward_hooks(result.model, {n: on_full(n) for n in names}, pre=False):
                full.add(ref_rows, run_batch(result.model, model_inputs(batch)), batch, index, metric)
            outputs.clear()
            for name in names:
                reference.set_submodule(name, quantized[name])
                try:
                    out = run_batch(reference, model_inputs(batch))
                finally:
                    reference.set_submodule(name, floats[name])
                isolated[name].add(ref_rows, out, batch, index, metric)
    return full, isolated, layers, (float_metric / len(batches) if metric is not None else None)


def _bar(iterable, total: int, progress: bool):
    if not progress:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc="evaluation batches", leave=False, disable=None)


class Evaluator:
    """A model's figures against the float ``reference`` on fixed batches: the reference's outputs (as
    :func:`samples` rows) and its metric are computed once, so each evaluation is one forward per batch."""

    def __init__(self, reference: nn.Module, batches: Iterable[Any], metric: UserMetric | None = None) -> None:
        self.batches = _evaluation(batches, None)
        self.metric = metric
        self.passes = 0
        self.rows: list[torch.Tensor] = []
        total = 0.0
        with torch.inference_mode():
            for index, batch in enumerate(self.batches):
                out = run_batch(reference, model_inputs(batch))
                if metric is not None:
                    total += metric(out, batch, index)
                self.rows.append(samples(out))
        self.metric_float = total / len(self.batches) if metric is not None else None

    def figures(self, model: nn.Module) -> dict[str, Any]:
        """The report's ``figures`` of ``model``."""
        self.passes += 1
        compared = OutputComparison()
        with torch.inference_mode(), reused_weight_buffers():
            for index, (rows, batch) in enumerate(zip(self.rows, self.batches)):
                compared.add(rows, run_batch(model, model_inputs(batch)), batch, index, self.metric)
        return compared.figures(self.metric_float, self.metric is not None)


def _evaluation(calib_batches: Iterable[Any], eval_batches: Iterable[Any] | None) -> list[Any]:
    source = calib_batches if eval_batches is None else eval_batches
    if isinstance(source, torch.Tensor):
        raise AnalyzeError("the evaluation batches are a single tensor, expected an iterable of batches (e.g. `[x]`)")
    batches = list(source)
    if not batches:
        raise AnalyzeError("no evaluation batch: pass at least one")
    return batches


def analyze(model: nn.Module, plan: Plan | dict[str, Any], calib_batches: Iterable[Any],
            eval_batches: Iterable[Any] | None = None, metric: UserMetric | Callable[[Any, Any], Any] | None = None, *,
            config_text: str | None = None, config_path: str | None = None, model_name: str | None = None,
            result: QuantResult | None = None, progress: bool = False) -> dict[str, Any]:
    """The sensitivity report of ``plan`` on ``model`` (a dict valid under the report schema).

    ``calib_batches`` calibrate (``quant.quantize``; pass ``result`` to reuse a quantization of this
    plan); ``eval_batches`` (default: the calibration batches) are measured on. ``metric``: a
    :class:`UserMetric` or a plain ``fn(outputs, batch) -> float`` (higher is better). ``config_text``
    is hashed into the report (the config the edits of ``amct tune`` apply to; without it, the hash of
    the plan's JSON); ``config_path`` and ``model_name`` are recorded as given."""
    from quant.engine import quantize

    plan = as_plan(plan)
    if metric is not None and not isinstance(metric, UserMetric):
        metric = UserMetric(getattr(metric, "__name__", "metric"), metric)
    if result is None:
        result = quantize(model, plan, calib_batches, progress=progress)
    batches = _evaluation(calib_batches, eval_batches)
    reference = float_reference(model, plan)
    full, isolated, layers, metric_float = _measure(reference, result, batches, metric, progress)
    user = metric is not None
    rows = []
    for r in result.layers:
        layer_plan = plan.layer(r.name)
        figures = layers[r.name]
        alone = isolated[r.name].figures(metric_float, user)
        rows.append({
            "name": r.name, "type": r.type,
            "weight": layer_plan.weight.to_dict() if layer_plan.weight else None,
            "activation": layer_plan.activation.to_dict() if layer_plan.activation else None,
            "dmq_balancer": layer_plan.dmq_balancer.to_dict() if layer_plan.dmq_balancer else None,
            "provenance": {key: p.to_dict() for key, p in layer_plan.provenance.items()},
            "weight_sqnr_db": _finite(r.weight_sqnr_db),
            "output_cosine": figures.own.cosine, "output_sqnr_db": _finite(figures.own.sqnr_db),
            "clip_min": r.clip_min, "clip_max": r.clip_max, **figures.activation.fields(),
            "isolated_cosine_mean": alone["cosine_mean"], "isolated_cosine_min": alone["cosine_min"],
            "isolated_sqnr_db": alone["sqnr_db"], "isolated_metric": alone["metric"],
            "cumulative_cosine": figures.cumulative.cosine, "cumulative_sqnr_db": _finite(figures.cumulative.sqnr_db),
        })
    source = config_text if config_text is not None else json.dumps(plan.to_dict(), sort_keys=True)
    return {
        "version": 1,
        "config": {"path": config_path or plan.config or "quant.cfg", "sha256": text_sha256(source)},
        "model": model_name or type(model).__name__,
        "target": plan.target,
        "metric": {"name": metric.name if user else "output-cosine", "user": user,
                   "higher_is_better": metric.higher_is_better if user else True},
        "samples": len(full.cosines),
        "figures": full.figures(metric_float, user),
        "layers": rows,
    }
