"""``tune(...)``: the smallest change to a ``.cfg`` that brings a quantized model to a target, as an edit of the file.

The search, cheapest first:

1. :func:`quant.analyze.analyze` on the config as written gives each layer's isolated sensitivity
   (``L + 2`` forwards per evaluation batch); the layers are tried in that order, most sensitive first.
2. **Settings** for the ``setting_layers`` most sensitive layers, cheapest first: HFMG instead of IFMR (or
   IFMR instead of HFMG), a wider IFMR search range, asymmetric activations, per-channel weights,
   AdaRound (the first candidate that meets the target ends the layer's search). Each
   candidate is an edit of the config text, checked and resolved against the model's inventory (the
   validator: a candidate with an error, or one that resolves to the layer's current settings, is
   dropped); only the changed layer is calibrated (a plan that quantizes it alone) and its quantized
   module is swapped into the current quantized model for one evaluation pass. The best candidate of a
   layer is kept, its module staying in the current model, when it raises the target figure (a step).
3. **Skips** (``skip_layers``): while the target is not met, the next layer in sensitivity order is put
   back to float in the current quantized model (one evaluation pass); a skip that raises the target
   figure is kept (a step).
4. **Verification**: the edited config is quantized in full once and evaluated: the report's ``after``
   (and ``met``). Swapped-in modules were calibrated with the other layers as the config then said, so
   the full quantization can differ a little (a layer's calibration sees the quantized weights before
   it); when it misses the target that the swapped model met, the skip search goes on from the fully
   quantized model, and the result is verified again.

A step's figures (the reason written into the ``.cfg``) are those of the swapped model; the report's
``after`` is always a full quantization of the edited file.

The float model's outputs on the evaluation batches are computed once (:class:`quant.analyze.Evaluator`),
so an evaluation pass is one forward per batch.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from cfglang.checker import check
from cfglang.diagnostics import Severity
from cfglang.edit import LayerChange, apply_edits, calibration_config_of, layer_edits
from cfglang.inventory import Inventory
from cfglang.parser import parse
from cfglang.plan import LayerPlan, Plan, Skip
from cfglang.planner import resolve
from cfglang.report import text_edit, text_sha256
from cfglang.settings import FormatOptions
from quant.analyze import Evaluator, UserMetric, analyze, float_reference
from quant.engine import quantize
from quant.result import QuantResult

__all__ = ["Goal", "Candidate", "Step", "TuneOutcome", "tune", "setting_candidates", "TuneError"]

#: AdaRound's iterations in a candidate (AMCT's default of 10000 takes minutes per layer on a CPU)
ADAROUND_ITERATIONS = 1000
#: the widest IFMR search range a candidate proposes
WIDE_RANGE = (0.5, 1.5)


class TuneError(ValueError):
    """A tuning that cannot start: the config does not resolve, the target cannot be read."""


@dataclass(frozen=True)
class Goal:
    """The model-level figure to raise (``cosine_min``, ``cosine_mean``, ``sqnr_db`` or ``metric``) and its bound."""

    figure: str
    at_least: float
    #: ``at_least`` is the largest drop from the float model's value (the metric's), resolved by :func:`tune`
    drop: bool = False

    def score(self, figures: dict[str, Any]) -> float:
        value = figures[self.figure]
        return float("inf") if value is None else value  # an SQNR of None: no error at all

    def met(self, figures: dict[str, Any]) -> bool:
        return self.score(figures) >= self.at_least

    def label(self, metric: UserMetric | None) -> str:
        return {"cosine_min": "lowest output cosine", "cosine_mean": "mean output cosine",
                "sqnr_db": "output SQNR (dB)"}.get(self.figure, f"metric `{metric.name if metric else 'metric'}`")


@dataclass(frozen=True)
class Candidate:
    """One change of one layer: ``blocks`` (changed CalibrationConfig blocks) or a skip."""

    layer: str
    summary: str
    skip: bool = False
    blocks: dict[str, dict[str, Any]] = field(default_factory=dict)
    calibration_config: dict[str, dict[str, Any]] = field(default_factory=dict)

    def change(self, reason: str) -> LayerChange:
        return LayerChange(self.layer, reason, self.skip, self.blocks, self.calibration_config)


@dataclass(frozen=True)
class Step:
    candidate: Candidate
    before: dict[str, Any]
    after: dict[str, Any]
    reason: str


@dataclass
class TuneOutcome:
    """What :func:`tune` found: the accepted steps, the edited text, the figures and the cost."""

    text: str  # the original config text
    edited: str
    goal: Goal
    steps: list[Step]
    before: dict[str, Any]
    after: dict[str, Any]  # the edited config, quantized once more
    report: dict[str, Any]  # the analysis of the original config, with its `tune` section
    quantizations: int = 0  # calls of quantize (a single-layer one included)
    evaluations: int = 0  # evaluation passes (one forward per batch each)
    seconds: float = 0.0

    @property
    def met(self) -> bool:
        return self.goal.met(self.after)


def setting_candidates(layer: LayerPlan) -> Iterator[Candidate]:
    """Better settings to try for ``layer`` (the validator later drops those its type cannot take)."""
    current = calibration_config_of(layer)
    act, weight = layer.activation, layer.weight

    def with_block(summary: str, name: str, block: dict[str, Any], group: tuple[str, ...]) -> Candidate:
        full = {k: v for k, v in current.items() if k not in group}
        full[name] = block
        ordered = {k: full[k] for k in ("arq_quantize", "ada_quantize", "ifmr_quantize", "hfmg_quantize",
                                        "dmq_balancer") if k in full}
        return Candidate(layer.name, summary, blocks={name: block}, calibration_config=ordered)

    acts = ("ifmr_quantize", "hfmg_quantize")
    if act is not None:
        extra = {"dst_type": "INT16"} if act.bits == 16 else {}
        if act.algo == "ifmr":
            yield with_block("activation hfmg instead of ifmr", "hfmg_quantize",
                             {"num_of_bins": 4096, "asymmetric": act.asymmetric, **extra}, acts)
            start, end = min(act.search_range_start, WIDE_RANGE[0]), max(act.search_range_end, WIDE_RANGE[1])
            if (start, end) != (act.search_range_start, act.search_range_end):
                block = dict(current["ifmr_quantize"], search_range_start=start, search_range_end=end)
                yield with_block(f"ifmr search range {start:g}-{end:g}", "ifmr_quantize", block, acts)
        else:
            yield with_block("activation ifmr instead of hfmg", "ifmr_quantize",
                             {"search_range_start": WIDE_RANGE[0], "search_range_end": WIDE_RANGE[1],
                              "asymmetric": act.asymmetric, **extra}, acts)
        if not act.asymmetric:
            name = f"{act.algo}_quantize"
            yield with_block("asymmetric activation", name, dict(current[name], asymmetric=True), acts)
    weights = ("arq_quantize", "ada_quantize")
    if weight is not None and weight.algo == "arq":
        if not weight.channel_wise:
            yield with_block("per-channel weights", "arq_quantize", dict(current["arq_quantize"], channel_wise=True),
                             weights)
        if weight.bits == 8:
            yield with_block("AdaRound weights", "ada_quantize",
                             {"num_iteration": ADAROUND_ITERATIONS, "channel_wise": weight.channel_wise}, weights)


def _only(plan: Plan, name: str) -> Plan:
    """``plan`` quantizing layer ``name`` alone."""
    layers = tuple(layer if layer.name == name or not layer.quantize
                   else dataclasses.replace(layer, quantize=False, skip=Skip("skip_layers")) for layer in plan.layers)
    return dataclasses.replace(plan, layers=layers)


class _Search:
    def __init__(self, model: nn.Module, text: str, path: str | None, inventory: Inventory, target: str | None,
                 calib: Sequence[Any], evaluator: Evaluator, goal: Goal, options: FormatOptions) -> None:
        self.model, self.text, self.path, self.inventory, self.target = model, text, path, inventory, target
        self.calib, self.evaluator, self.goal, self.options = calib, evaluator, goal, options
        self.quantizations = 0
        self.document = parse(text)

    def edited(self, candidates: Sequence[Candidate]) -> str:
        return apply_edits(self.text, layer_edits(self.document, [c.change("") for c in candidates], self.options))

    def plan_of(self, text: str) -> Plan | None:
        """The plan of ``text`` when the validator accepts it (no error), else None."""
        checked = check(text, self.path, target=self.target)
        if checked.has_errors:
            return None
        plan = resolve(checked, self.inventory)
        return None if any(d.severity is Severity.ERROR for d in plan.diagnostics) else plan

    def edit_plan(self, text: str) -> Plan:
        """The plan of an edit this search wrote; the validator must accept it."""
        plan = self.plan_of(text)
        if plan is None:
            raise TuneError("the edited config does not pass the validator (an internal error: please report it)")
        return plan

    def quantize(self, plan: Plan) -> QuantResult:
        self.quantizations += 1
        return quantize(self.model, plan, self.calib, progress=False)

    def with_module(self, result: QuantResult, name: str, module: nn.Module) -> dict[str, Any]:
        """The figures of ``result``'s model with layer ``name`` replaced by ``module`` (then put back)."""
        original = result.model.get_submodule(name)
        result.model.set_submodule(name, module)
        try:
            return self.evaluator.figures(result.model)
        finally:
            result.model.set_submodule(name, original)


def _reason(goal: Goal, metric: UserMetric | None, before: dict[str, Any], after: dict[str, Any]) -> str:
    """``lowest output cosine 0.9410 -> 0.9960``: four decimals, more when they would show no change."""
    a, b = goal.score(before), goal.score(after)
    digits = 4
    while digits < 8 and f"{a:.{digits}f}" == f"{b:.{digits}f}":
        digits += 1
    return f"{goal.label(metric)} {a:.{digits}f} -> {b:.{digits}f}"


def tune(model: nn.Module, text: str, inventory: Inventory, calib_batches: Iterable[Any], goal: Goal, *,
         eval_batches: Iterable[Any] | None = None, metric: UserMetric | None = None, path: str | None = None,
         target: str | None = None, setting_layers: int = 3, options: FormatOptions | None = None,
         model_name: str | None = None, progress: bool = False) -> TuneOutcome:
    """Search the smallest edit of the config ``text`` that makes ``model`` reach ``goal`` (see the module
    docstring); ``metric`` (higher is better) is needed for the goal ``metric``. The outcome's report is
    the analysis of ``text`` with its ``tune`` section."""
    started = time.perf_counter()
    calib = list(calib_batches)
    if goal.figure == "metric" and metric is None:
        raise TuneError("a target on the metric needs a metric (`--metric pkg.mod:fn`)")
    checked = check(text, path, target=target)
    if checked.has_errors:
        raise TuneError("the config has errors; `amct lint` shows them")
    plan = resolve(checked, inventory)
    if any(d.severity is Severity.ERROR for d in plan.diagnostics):
        raise TuneError("the config has errors for this model; `amct lint` with its layers shows them")
    reference = float_reference(model, plan)
    evaluator = Evaluator(reference, eval_batches if eval_batches is not None else calib, metric)
    if goal.drop:
        goal = Goal(goal.figure, evaluator.metric_float - goal.at_least)
    search = _Search(model, text, path, inventory, target, calib, evaluator, goal, options or FormatOptions())
    result = search.quantize(plan)
    report = analyze(model, plan, calib, evaluator.batches, metric, config_text=text, config_path=path,
                     model_name=model_name, result=result, progress=progress)
    before = report["figures"]
    # most sensitive first: the lowest isolated figure (an SQNR of None is no error at all)
    order = [r["name"] for r in sorted(report["layers"], key=lambda r: goal.score(
        {goal.figure: r[f"isolated_{goal.figure}"]}))]
    state = _State(search, result, plan, before)
    for name in order[:setting_layers]:
        if goal.met(state.figures):
            break
        state.try_settings(plan.layer(name))
    while True:
        for name in order:
            if goal.met(state.figures):
                break
            if name not in state.skipped:
                state.try_skip(name, reference.get_submodule(name))
        if not state.steps or state.verified:
            break
        state.verify()  # the edited file, quantized in full
        if goal.met(state.figures):
            break
    changes = _changes(text, checked.document, state.final_steps(), search.options)
    edited = apply_edits(text, [e for _, edit_list in changes for e in edit_list])
    if state.steps:
        search.edit_plan(edited)  # the file as written, its comments included
    after = state.figures
    report["tune"] = {
        "config_sha256": text_sha256(text),
        "target": {"figure": goal.figure, "at_least": goal.at_least},
        "met": goal.met(after), "before": before, "after": after,
        "changes": [_change_record(text, steps, edit_list) for steps, edit_list in changes],
    }
    return TuneOutcome(text, edited, goal, state.final_steps(), before, after, report, search.quantizations,
                       evaluator.passes, time.perf_counter() - started)


class _State:
    """The accepted steps, the current quantized model (with the accepted modules swapped in) and its plan."""

    def __init__(self, search: _Search, result: QuantResult, plan: Plan, figures: dict[str, Any]) -> None:
        self.search, self.current, self.plan, self.figures = search, result, plan, figures
        self.steps: list[Step] = []
        self.skipped: set[str] = set()
        #: the current model is a full quantization of the edited file (no module swapped in since)
        self.verified = True

    @property
    def goal(self) -> Goal:
        return self.search.goal

    def final_steps(self) -> list[Step]:
        """The accepted steps, less a setting of a layer that a later step skips (the skip's reason then
        starts from the figures before that setting)."""
        first = {}  # layer -> the figures before its first step
        for step in self.steps:
            first.setdefault(step.candidate.layer, step.before)
        metric = self.search.evaluator.metric
        return [dataclasses.replace(s, before=first[s.candidate.layer],
                                    reason=_reason(self.goal, metric, first[s.candidate.layer], s.after))
                if s.candidate.skip else s
                for s in self.steps if s.candidate.skip or s.candidate.layer not in self.skipped]

    def candidates(self) -> list[Candidate]:
        return [s.candidate for s in self.final_steps()]

    def accept(self, candidate: Candidate, plan: Plan, module: nn.Module, figures: dict[str, Any]) -> None:
        """Keep ``candidate``: its module (the layer quantized as ``plan`` says, or the float layer) stays
        in the current model."""
        self.current.model.set_submodule(candidate.layer, module)
        self.steps.append(Step(candidate, self.figures, figures, _reason(self.goal, self.search.evaluator.metric,
                                                                         self.figures, figures)))
        self.plan, self.figures, self.verified = plan, figures, False
        if candidate.skip:
            self.skipped.add(candidate.layer)

    def verify(self) -> None:
        """Quantize the edited file in full; its model and figures become the current ones."""
        plan = self.search.edit_plan(self.search.edited(self.candidates()))
        self.current = self.search.quantize(plan)
        self.plan, self.figures, self.verified = plan, self.search.evaluator.figures(self.current.model), True

    def try_settings(self, layer: LayerPlan) -> None:
        """The best validated setting candidate of ``layer``, each calibrated alone; kept when it helps."""
        best: tuple[float, Candidate, Plan, nn.Module, dict[str, Any]] | None = None
        for candidate in setting_candidates(layer):
            plan = self.search.plan_of(self.search.edited([*self.candidates(), candidate]))
            if plan is None or plan.layer(layer.name) == self.plan.layer(layer.name):
                continue
            module = self.search.quantize(_only(plan, layer.name)).model.get_submodule(layer.name)
            figures = self.search.with_module(self.current, layer.name, module)
            if best is None or self.goal.score(figures) > best[0]:
                best = (self.goal.score(figures), candidate, plan, module, figures)
            if self.goal.met(figures):  # the candidates come cheapest first: AdaRound only when needed
                break
        if best is not None and best[0] > self.goal.score(self.figures):
            self.accept(*best[1:])

    def try_skip(self, name: str, float_module: nn.Module) -> None:
        """Layer ``name`` in float, kept when it raises the figure."""
        figures = self.search.with_module(self.current, name, float_module)
        if self.goal.score(figures) <= self.goal.score(self.figures):
            return
        candidate = Candidate(name, "float (skip_layers)", skip=True)
        kept = [c for c in self.candidates() if c.layer != name]
        plan = self.search.plan_of(self.search.edited([*kept, candidate]))
        if plan is not None:
            self.accept(candidate, plan, float_module, figures)


def _changes(text: str, document: Any, steps: list[Step], options: FormatOptions) -> list[tuple[list[Step], list]]:
    """The edits of ``steps`` on the original text, each with the steps it makes: steps whose new text goes
    to one place share one edit (the report's changes never overlap)."""
    joined = layer_edits(document, [s.candidate.change(s.reason) for s in steps], options)
    groups: dict[int, list[Step]] = {}
    for step in steps:
        own = layer_edits(document, [step.candidate.change(step.reason)], options)
        index = next(i for i, e in enumerate(joined) if any((e.start, e.end) == (o.start, o.end) for o in own))
        groups.setdefault(index, []).append(step)
    return [(group, [joined[i]]) for i, group in sorted(groups.items(), key=lambda item: steps.index(item[1][0]))]


def _change_record(text: str, steps: list[Step], edits: list) -> dict[str, Any]:
    return {
        "kind": "skip" if steps[0].candidate.skip else "setting",
        "layers": [s.candidate.layer for s in steps],
        "summary": "; ".join(f"{s.candidate.layer}: {s.candidate.summary}" for s in steps),
        "reason": "amct tune: " + "; ".join(s.reason for s in steps),
        "before": steps[0].before, "after": steps[-1].after,
        "edits": [text_edit(text, e.start, e.end, e.new_text) for e in edits],
    }
