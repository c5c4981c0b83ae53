"""The sensitivity report (``report.json``): what ``amct analyze`` measured for a config, read back typed.

The format is ``cfglang/schemas/report.schema.json`` (docs/analyze.md describes every field).
:func:`load_report` validates a report and returns a :class:`Report`; the
engine writes the JSON and checks it with the same function. The proposed
edit of ``amct tune`` is a list of LSP-style text edits (0-based lines, characters in UTF-16 code units)
that apply to the config text whose hash it names: :func:`text_edit` writes one, :func:`apply_edits`
applies them. The page (:func:`render_html`) and the terminal table (:func:`worst_layers_table`) are
drawn from a :class:`Report`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from cfglang.diagnostics import LineIndex
from cfglang.plan import LEVELS, LayerPlan, Plan

__all__ = [
    "ReportError",
    "Figures",
    "Histogram",
    "LayerReport",
    "TextEdit",
    "Change",
    "Tune",
    "Report",
    "load_report",
    "text_sha256",
    "text_edit",
    "apply_edits",
    "deciding_line",
]


class ReportError(ValueError):
    """A report that cannot be used: ``str()`` is one line naming the report and the place in it."""


def text_sha256(text: str) -> str:
    """The hash a report gives a config text: SHA-256 of its UTF-8 bytes, in hex."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class Figures:
    """A model's output over the evaluation samples, against the float model (None: see the schema)."""

    cosine_mean: float
    cosine_min: float
    sqnr_db: float | None  # None: zero error
    metric: float | None  # None: no user metric
    metric_float: float | None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Figures:
        return cls(data["cosine_mean"], data["cosine_min"], data["sqnr_db"], data["metric"], data["metric_float"])


@dataclass(frozen=True, slots=True)
class Histogram:
    """Counts of the observed activation values: ``edges`` has one more entry than ``counts``."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class LayerReport:
    """One quantized layer: its settings with their provenance (``plan``) and what was measured."""

    plan: LayerPlan
    weight_sqnr_db: float | None
    output_cosine: float
    output_sqnr_db: float | None
    clip_min: float | None
    clip_max: float | None
    observed_min: float | None
    observed_max: float | None
    clipped_share: float | None
    histogram: Histogram | None
    isolated_cosine_mean: float
    isolated_cosine_min: float
    isolated_sqnr_db: float | None
    isolated_metric: float | None
    cumulative_cosine: float
    cumulative_sqnr_db: float | None

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def type(self) -> str:
        return self.plan.type


@dataclass(frozen=True, slots=True)
class TextEdit:
    """Replace from ``start`` to ``end`` (each ``(line, character)``, 0-based, characters in UTF-16 code
    units, end exclusive) by ``new_text``."""

    start: tuple[int, int]
    end: tuple[int, int]
    new_text: str

    def offsets(self, text: str) -> tuple[int, int]:
        """The edit's place in ``text`` as 0-based code-point offsets; a :class:`ReportError` when ``text``
        has no such place."""
        index = LineIndex(text)
        return _offset(index, *self.start), _offset(index, *self.end)


@dataclass(frozen=True, slots=True)
class Change:
    """One step of ``amct tune``: a setting change or a skip, and the model's figures before and after it."""

    kind: str  # "setting" | "skip"
    layers: tuple[str, ...]
    summary: str
    reason: str
    before: Figures
    after: Figures
    edits: tuple[TextEdit, ...]


@dataclass(frozen=True, slots=True)
class Tune:
    """What ``amct tune`` proposes: every change's edits apply together to the text hashed ``config_sha256``."""

    config_sha256: str
    target_figure: str
    at_least: float
    met: bool
    before: Figures
    after: Figures
    changes: tuple[Change, ...]

    @property
    def edits(self) -> tuple[TextEdit, ...]:
        """All the changes' edits, in the order of the text."""
        return tuple(sorted((e for c in self.changes for e in c.edits), key=lambda e: (e.start, e.end)))


@dataclass(frozen=True)
class Report:
    """A validated ``report.json``; ``layers`` in execution order."""

    config_path: str  # relative to the report's folder
    config_sha256: str
    model: str
    target: str
    metric_name: str
    user_metric: bool
    higher_is_better: bool
    samples: int
    figures: Figures
    layers: tuple[LayerReport, ...]
    tune: Tune | None
    #: the layers' settings as a plan (its globals are not part of the report), for :func:`cfglang.plan.explain_layer`
    settings: Plan

    def layer(self, name: str) -> LayerReport | None:
        for layer in self.layers:
            if layer.name == name:
                return layer
        return None

    def fresh(self, text: str) -> bool:
        """Whether the report was made from exactly this config text."""
        return text_sha256(text) == self.config_sha256


def load_report(report: str | Path | Mapping[str, Any], source: str | None = None) -> Report:
    """A :class:`Report` from a ``report.json`` path or its parsed JSON; anything the schema or the
    consistency rules reject raises :class:`ReportError` (``source: `layers[3].clip_min`: ...``)."""
    if isinstance(report, (str, Path)):
        from cfglang.fsutil import ReadError, read_file
        from cfglang.jsonlimits import JSONLimitError, loads

        source = source or str(report)
        try:
            data = loads(read_file(report), source)
        except ReadError as exc:
            raise ReportError(f"cannot read report `{report}`: {exc.reason}") from None
        except JSONLimitError as exc:
            raise ReportError(str(exc)) from None
    else:
        data = report
        source = source or "report"
    problems = _problems(data)
    if problems:
        raise ReportError(f"{source}: not a valid report: " + "; ".join(problems))
    return _from_dict(data, source)


def _problems(data: Any) -> list[str]:
    from cfglang.jsonschemas import validation_errors

    problems = validation_errors(data, "report")
    if problems:
        return problems
    problems = [f"`{place}`: {what}" for place, what in _non_finite(data, "")]
    seen: set[str] = set()
    for i, layer in enumerate(data["layers"]):
        where = f"layers[{i}]"
        if layer["name"] in seen:
            problems.append(f"`{where}.name`: a layer listed twice")
        seen.add(layer["name"])
        histogram = layer["histogram"]
        if histogram is not None:
            edges, counts = histogram["edges"], histogram["counts"]
            if len(edges) != len(counts) + 1:
                problems.append(f"`{where}.histogram`: {len(edges)} edges for {len(counts)} counts, expected "
                                f"{len(counts) + 1}")
            elif any(b <= a for a, b in zip(edges, edges[1:])):
                problems.append(f"`{where}.histogram.edges`: not increasing")
        low, high = layer["clip_min"], layer["clip_max"]
        if low is not None and high is not None and low > high:
            problems.append(f"`{where}.clip_min`: {low} is above `clip_max` {high}")
    tune = data.get("tune")
    if tune is not None:
        edits = sorted((_position(e["range"]["start"]), _position(e["range"]["end"]),
                        f"tune.changes[{i}].edits[{j}]")
                       for i, change in enumerate(tune["changes"]) for j, e in enumerate(change["edits"]))
        for start, end, where in edits:
            if end < start:
                problems.append(f"`{where}.range`: ends before it starts")
        for (_, end, first), (start, _, second) in zip(edits, edits[1:]):
            if start < end:
                problems.append(f"`{second}.range`: overlaps `{first}`")
    return problems


def _position(data: Mapping[str, int]) -> tuple[int, int]:
    return data["line"], data["character"]


def _non_finite(value: Any, place: str):
    """(place, what) for each infinite or NaN number (JSON has none, a dict built in Python may)."""
    if isinstance(value, float) and not math.isfinite(value):
        yield place or "(top level)", f"found {value}, expected a finite number"
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _non_finite(item, f"{place}.{key}" if place else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _non_finite(item, f"{place}[{i}]")


def _from_dict(data: Mapping[str, Any], source: str) -> Report:
    plan = Plan.from_dict({
        "version": 1, "target": data["target"], "config": data["config"]["path"], "batch_num": 1,
        "do_fusion": False, "fakequant_precision_mode": None, "fusions": [],
        "layers": [{"name": item["name"], "type": item["type"], "quantize": True, "skip": None,
                    "weight": item["weight"], "activation": item["activation"],
                    "dmq_balancer": item["dmq_balancer"], "provenance": item["provenance"]}
                   for item in data["layers"]],
    }, source)
    layers = tuple(_layer(item, layer_plan) for item, layer_plan in zip(data["layers"], plan.layers))
    metric = data["metric"]
    return Report(
        config_path=data["config"]["path"], config_sha256=data["config"]["sha256"], model=data["model"],
        target=data["target"], metric_name=metric["name"], user_metric=metric["user"],
        higher_is_better=metric["higher_is_better"], samples=data["samples"],
        figures=Figures.from_dict(data["figures"]), layers=layers,
        tune=_tune(data["tune"]) if data.get("tune") is not None else None, settings=plan,
    )


def _layer(item: Mapping[str, Any], plan: LayerPlan) -> LayerReport:
    histogram = item["histogram"]
    return LayerReport(
        plan=plan,
        histogram=Histogram(tuple(histogram["edges"]), tuple(histogram["counts"])) if histogram else None,
        **{key: item[key] for key in _MEASURED},
    )


_MEASURED = tuple(f.name for f in fields(LayerReport) if f.name not in ("plan", "histogram"))


def _tune(data: Mapping[str, Any]) -> Tune:
    changes = tuple(Change(
        kind=c["kind"], layers=tuple(c["layers"]), summary=c["summary"], reason=c["reason"],
        before=Figures.from_dict(c["before"]), after=Figures.from_dict(c["after"]),
        edits=tuple(TextEdit(_position(e["range"]["start"]), _position(e["range"]["end"]), e["newText"])
                    for e in c["edits"]),
    ) for c in data["changes"])
    return Tune(data["config_sha256"], data["target"]["figure"], data["target"]["at_least"], data["met"],
                Figures.from_dict(data["before"]), Figures.from_dict(data["after"]), changes)


# -- text edits ---------------------------------------------------------------------------------------


def _utf16(segment: str) -> int:
    return len(segment) + sum(1 for ch in segment if ord(ch) > 0xFFFF)


def _offset(index: LineIndex, line: int, character: int) -> int:
    if line >= index.line_count:
        raise ReportError(f"the edit's line {line} is past the config's end ({index.line_count} lines)")
    text = index.line_text(line + 1)
    used = 0
    for i, ch in enumerate(text):
        if used >= character:
            if used > character:
                raise ReportError(f"the edit's position {line}:{character} is inside a character")
            return index.offset(line + 1, i + 1)
        used += _utf16(ch)
    if used != character:
        raise ReportError(f"the edit's position {line}:{character} is past the end of its line ({used} units)")
    return index.offset(line + 1, len(text) + 1)


def text_edit(text: str, start: int, end: int, new_text: str) -> dict[str, Any]:
    """The report's JSON for replacing ``text[start:end]`` (code-point offsets) by ``new_text``."""
    index = LineIndex(text)

    def position(offset: int) -> dict[str, int]:
        line, column = index.position(offset)
        begin = offset - column + 1
        return {"line": line - 1, "character": _utf16(text[begin:offset])}

    return {"range": {"start": position(start), "end": position(end)}, "newText": new_text}


def apply_edits(text: str, edits: tuple[TextEdit, ...] | list[TextEdit]) -> str:
    """``text`` with ``edits`` (not overlapping) applied; a :class:`ReportError` when one has no place in it."""
    places = sorted((e.offsets(text), e.new_text) for e in edits)
    out, at = [], 0
    for (start, end), new_text in places:
        if start < at:
            raise ReportError("the edits overlap")
        out.append(text[at:start])
        out.append(new_text)
        at = end
    out.append(text[at:])
    return "".join(out)


def deciding_line(layer: LayerPlan) -> int | None:
    """The config line (1-based) that decided the layer's settings: where its most specific written value
    is (an ``override_layer_configs`` entry before ``override_layer_types`` before ``common_config``);
    None when every value is a default."""
    written = [(LEVELS.index(p.source), p.line) for p in layer.provenance.values() if p.line is not None]
    return min(written)[1] if written else None
