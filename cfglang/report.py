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

import base64
import functools
import hashlib
import html
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from cfglang.diagnostics import LineIndex
from cfglang.plan import LEVELS, LayerPlan, _layer_from_dict
from cfglang.table import table_lines

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
    "sensitivity_label",
    "db_text",
    "share_text",
    "layer_figures",
    "worst_layers_table",
    "render_html",
]


class ReportError(ValueError):
    """A report that cannot be used: ``str()`` is one line naming the report and the place in it."""


def text_sha256(text: str) -> str:
    """The hash a report gives a config text (as the parser reads it: without a byte order mark): SHA-256 of
    its UTF-8 bytes, in hex."""
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

    def layer(self, name: str) -> LayerReport | None:
        index = self._index.get(name)
        return None if index is None else self.layers[index]

    def sensitivity(self, layer: LayerReport) -> float:
        """How much the model loses when only ``layer`` is quantized: the user metric's drop when there is
        one, else ``1 - `` the lowest output cosine over the samples (what ``--target-cosine`` aims at)."""
        if self.user_metric and layer.isolated_metric is not None and self.figures.metric_float is not None:
            drop = self.figures.metric_float - layer.isolated_metric
            return drop if self.higher_is_better else -drop
        return 1 - layer.isolated_cosine_min

    @functools.cached_property
    def ranked(self) -> tuple[int, ...]:
        """The layers' indices, most sensitive first (execution order among equals)."""
        return tuple(sorted(range(len(self.layers)), key=lambda i: -self.sensitivity(self.layers[i])))

    def rank(self, name: str) -> int:
        """1 for the most sensitive layer."""
        return self._ranks[name]

    @functools.cached_property
    def _index(self) -> dict[str, int]:
        return {layer.name: i for i, layer in enumerate(self.layers)}

    @functools.cached_property
    def _ranks(self) -> dict[str, int]:
        return {self.layers[i].name: rank for rank, i in enumerate(self.ranked, 1)}

    def fresh(self, text: str) -> bool:
        """Whether the report was made from exactly this config text."""
        return text_sha256(text) == self.config_sha256


def load_report(report: str | Path | Mapping[str, Any], source: str | None = None, *,
                limit: int | None = None) -> Report:
    """A :class:`Report` from a ``report.json`` path or its parsed JSON; anything the schema or the
    consistency rules reject raises :class:`ReportError` (``source: `layers[3].clip_min`: ...``).
    ``limit``: the file's size limit in bytes (default :data:`cfglang.fsutil.DEFAULT_MAX_SIZE`)."""
    if isinstance(report, (str, Path)):
        from cfglang.fsutil import ReadError, read_file
        from cfglang.jsonlimits import JSONLimitError, loads

        source = source or str(report)
        try:
            data = loads(read_file(report, limit=limit), source)
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
    return _from_dict(data)


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
        for (first_start, end, first), (start, _, second) in zip(edits, edits[1:]):
            if _overlap(first_start, end, start):
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


def _from_dict(data: Mapping[str, Any]) -> Report:
    # the settings as the plan reads its layers (the report's schema has checked them with the plan's definitions)
    layers = tuple(_layer(item, _layer_from_dict({**item, "quantize": True, "skip": None}))
                   for item in data["layers"])
    metric = data["metric"]
    return Report(
        config_path=data["config"]["path"], config_sha256=data["config"]["sha256"], model=data["model"],
        target=data["target"], metric_name=metric["name"], user_metric=metric["user"],
        higher_is_better=metric["higher_is_better"], samples=data["samples"],
        figures=Figures.from_dict(data["figures"]), layers=layers,
        tune=_tune(data["tune"]) if data.get("tune") is not None else None,
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


def _overlap(first_start: Any, first_end: Any, second_start: Any) -> bool:
    """Whether an edit starting at ``second_start`` (not before ``first_start``) overlaps the one before it:
    it starts inside it, or both start at the same place (two insertions there have no order)."""
    return second_start < first_end or second_start == first_start


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
    out, at, previous = [], 0, -1
    for (start, end), new_text in places:
        if _overlap(previous, at, start):
            raise ReportError("the edits overlap")
        previous = start
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


# -- reading the figures ------------------------------------------------------------------------------


def sensitivity_label(report: Report) -> str:
    """What :meth:`Report.sensitivity` measures, for a chart's or a table's heading."""
    return f"{report.metric_name} drop, only this layer quantized" if report.user_metric else \
        "1 - output cosine (min), only this layer quantized"


def db_text(value: float | None) -> str:
    """A decibel figure as the report's readers show it (``inf``: zero error)."""
    return "inf" if value is None else f"{value:.1f}"


def weight_db_text(layer: LayerReport) -> str:
    """A layer's weight SQNR: ``-`` for a layer without weights (AvgPool2d), else :func:`db_text` in dB."""
    return "-" if layer.plan.weight is None else f"{db_text(layer.weight_sqnr_db)} dB"


def share_text(value: float | None) -> str:
    """A share as a percentage (``-``: not measured)."""
    return "-" if value is None else f"{100 * value:.3f}%"


def _bound(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def layer_figures(report: Report, layer: LayerReport) -> list[tuple[str, str]]:
    """``(what, value)`` for each measured figure of ``layer``, as the page, the hover and the table show them."""
    rows = [
        ("sensitivity (rank)", f"{report.sensitivity(layer):.3g} ({report.rank(layer.name)} of {len(report.layers)})"),
        ("isolated: model output cosine mean / min",
         f"{layer.isolated_cosine_mean:.6f} / {layer.isolated_cosine_min:.6f}"),
        ("isolated: model output SQNR", f"{db_text(layer.isolated_sqnr_db)} dB"),
    ]
    if report.user_metric:
        rows.append((f"isolated: {report.metric_name}", "-" if layer.isolated_metric is None else
                     f"{layer.isolated_metric:.6g}"))
    rows += [
        ("cumulative: layer output cosine / SQNR",
         f"{layer.cumulative_cosine:.6f} / {db_text(layer.cumulative_sqnr_db)} dB"),
        ("own output cosine / SQNR (float inputs)", f"{layer.output_cosine:.6f} / {db_text(layer.output_sqnr_db)} dB"),
        ("weight SQNR", weight_db_text(layer)),
        ("activation clip range / observed", f"[{_bound(layer.clip_min)}, {_bound(layer.clip_max)}] / "
                                             f"[{_bound(layer.observed_min)}, {_bound(layer.observed_max)}]"),
        ("activation values clipped", share_text(layer.clipped_share)),
    ]
    return rows


def worst_layers_table(report: Report, n: int = 10) -> str:
    """The ``n`` most sensitive layers as a text table for the terminal."""
    config = report.config_path.rsplit("/", 1)[-1]
    rows = [("#", "layer", "type", "sensitivity", "isolated SQNR", "weight SQNR", "clipped", "cumulative cos",
             "decided at")]
    for rank, index in enumerate(report.ranked[:n], 1):
        layer = report.layers[index]
        line = deciding_line(layer.plan)
        rows.append((str(rank), layer.name, layer.type, f"{report.sensitivity(layer):.3g}",
                     f"{db_text(layer.isolated_sqnr_db)} dB", weight_db_text(layer),
                     share_text(layer.clipped_share),
                     f"{layer.cumulative_cosine:.6f}", f"{config}:{line}" if line else "defaults"))
    figures = report.figures
    summary = (f"model: output cosine mean {figures.cosine_mean:.6f}, min {figures.cosine_min:.6f}, "
               f"SQNR {db_text(figures.sqnr_db)} dB over {report.samples} samples; "
               f"sensitivity: {sensitivity_label(report)}")
    return "\n".join([*table_lines(rows, rule=True), "", summary]) + "\n"


# -- the page -----------------------------------------------------------------------------------------


def render_html(report: Report, cfg_text: str) -> str:
    """The report as one self-contained HTML page: no request leaves it (its Content-Security-Policy allows
    only its own script and style, by hash). Every text from the report or the config is escaped; the charts
    are drawn by the page's script from the report's figures embedded as JSON."""
    from cfglang.resources import data_file

    script = data_file("html", "report.js").read_text(encoding="utf-8")
    style = data_file("html", "report.css").read_text(encoding="utf-8")

    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"

    policy = f"default-src 'none'; script-src {digest(script)}; style-src {digest(style)}; img-src data:"
    config = _e(report.config_path)
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>amct sensitivity report: {config}</title>",
        f"<style>{style}</style></head><body>",
        '<pre id="errors" hidden></pre>',
        "<h1>Sensitivity report</h1>",
        f'<p class="meta">config <a href="#cfg"><code>{config}</code></a> &middot; '
        f'model <code>{_e(report.model)}</code>'
        f" &middot; {report.samples} evaluation samples &middot; metric <code>{_e(report.metric_name)}</code>"
        f" &middot; target <code>{_e(report.target)}</code> &middot; {len(report.layers)} quantized layers</p>",
    ]
    if not report.fresh(cfg_text):
        parts.append('<p class="stale">The config below is not the text this report was made from (its SHA-256 '
                     'differs): the line links may point at other lines. Run <code>amct analyze</code> again.</p>')
    parts += _model_section(report)
    parts += _worst_section(report)
    parts += [
        "<h2>Layers</h2>",
        '<div class="controls"><button data-order="execution" aria-pressed="true">execution order</button> '
        '<button data-order="sorted" aria-pressed="false">most sensitive first</button></div>',
        '<div class="scroll"><svg id="chart-layers" role="img" aria-label="per-layer sensitivity, weight SQNR and '
        'clipping"></svg></div>',
        "<h2>Error along the network</h2>",
        '<div class="scroll"><svg id="chart-along" role="img" aria-label="output SQNR along the network"></svg></div>',
    ]
    parts += _tune_section(report)
    parts += _layer_cards(report)
    parts += _config_section(report, cfg_text)
    data = {
        "sensitivity_title": "isolated sensitivity",
        "order": {"execution": list(range(len(report.layers))), "sorted": list(report.ranked)},
        "layers": [_chart_data(report, layer) for layer in report.layers],
    }
    parts += [f'<script type="application/json" id="report-data">{_script_json(data)}</script>',
              f"<script>{script}</script>", "</body></html>"]
    return "\n".join(parts) + "\n"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _script_json(data: Any) -> str:
    """JSON that cannot end its ``<script>`` element or open a comment in it."""
    text = json.dumps(data, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _chart_data(report: Report, layer: LayerReport) -> dict[str, Any]:
    histogram = layer.histogram
    return {
        "name": layer.name, "type": layer.type, "sensitivity": report.sensitivity(layer),
        "has_weight": layer.plan.weight is not None,
        **{key: getattr(layer, key) for key in ("weight_sqnr_db", "clipped_share", "isolated_sqnr_db",
                                                "cumulative_sqnr_db", "clip_min", "clip_max")},
        "histogram": {"edges": list(histogram.edges), "counts": list(histogram.counts)} if histogram else None,
    }


def _figure_cards(figures: Figures, report: Report) -> list[str]:
    cards = [("output cosine, mean", f"{figures.cosine_mean:.6f}"), ("output cosine, min", f"{figures.cosine_min:.6f}"),
             ("output SQNR", f"{db_text(figures.sqnr_db)} dB")]
    if report.user_metric:
        cards += [(f"{report.metric_name}, float",
                   "-" if figures.metric_float is None else f"{figures.metric_float:.6g}"),
                  (f"{report.metric_name}, quantized", "-" if figures.metric is None else f"{figures.metric:.6g}")]
    return ['<div class="cards">', *(f'<div class="card"><div class="value">{_e(value)}</div>'
                                     f'<div class="name">{_e(name)}</div></div>' for name, value in cards), "</div>"]


def _model_section(report: Report) -> list[str]:
    return ["<h2>Model</h2>", f'<p class="meta">the quantized model against the float model over '
                              f'{report.samples} samples</p>', *_figure_cards(report.figures, report)]


def _line_link(line: int | None) -> str:
    return f'<a href="#cfg-L{line}">line {line}</a>' if line else "defaults"


def _worst_section(report: Report, n: int = 10) -> list[str]:
    rows = []
    for rank, index in enumerate(report.ranked[:n], 1):
        layer = report.layers[index]
        rows.append(f'<tr><td class="num">{rank}</td><td class="layer-name"><a href="#layer-{index}">{_e(layer.name)}'
                    f'</a></td><td>{_e(layer.type)}</td><td class="num">{report.sensitivity(layer):.3g}</td>'
                    f'<td class="num">{db_text(layer.isolated_sqnr_db)}</td>'
                    f'<td class="num">{weight_db_text(layer).removesuffix(" dB")}</td>'
                    f'<td class="num">{share_text(layer.clipped_share)}</td>'
                    f'<td class="num">{layer.cumulative_cosine:.6f}</td>'
                    f"<td>{_line_link(deciding_line(layer.plan))}</td></tr>")
    return [f"<h2>The {min(n, len(report.layers))} most sensitive layers</h2>",
            f'<p class="meta">sensitivity: {_e(sensitivity_label(report))}</p>',
            '<table><thead><tr><th class="num">#</th><th>layer</th><th>type</th><th class="num">sensitivity</th>'
            '<th class="num">isolated SQNR (dB)</th><th class="num">weight SQNR (dB)</th><th class="num">clipped</th>'
            '<th class="num">cumulative cosine</th><th>decided at</th></tr></thead><tbody>', *rows, "</tbody></table>"]


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "none" if value is None else str(value)


def _layer_cards(report: Report) -> list[str]:
    out = ["<h2>Each layer</h2>", '<div class="layers">']
    for index, layer in enumerate(report.layers):
        plan = layer.plan
        settings = "".join(
            f"<tr><td><code>{_e(key)}</code></td><td><code>{_e(_shown(plan.value(key)))}</code></td>"
            f"<td>{_e(prov.source if prov.reason is None else f'{prov.source}: {prov.reason}')}</td>"
            f"<td>{_line_link(prov.line)}</td></tr>" for key, prov in plan.provenance.items())
        figures = "".join(f"<tr><td>{_e(name)}</td><td>{_e(value)}</td></tr>" for name, value in
                          layer_figures(report, layer))
        histogram = (f'<svg class="histogram" data-layer="{index}" role="img" aria-label="activation histogram">'
                     "</svg>" if layer.histogram is not None else '<p class="figures">no activation histogram</p>')
        out.append(f'<article class="layer" id="layer-{index}"><h3>{_e(layer.name)}</h3>'
                   f'<p class="figures">{_e(layer.type)} &middot; execution position {index + 1} &middot; settings '
                   f"decided at {_line_link(deciding_line(plan))}</p>{histogram}"
                   f"<table><tbody>{figures}</tbody></table>"
                   f"<table><thead><tr><th>setting</th><th>value</th><th>from</th><th>where</th></tr></thead>"
                   f"<tbody>{settings}</tbody></table></article>")
    out.append("</div>")
    return out


def _tune_section(report: Report) -> list[str]:
    tune = report.tune
    if tune is None:
        return []
    figure = tune.target_figure

    def shown(figures: Figures) -> str:
        value = getattr(figures, figure)
        return "-" if value is None else f"{value:.6g}"

    out = ["<h2>Proposed config edit (amct tune)</h2>",
           f'<p class="meta">target: {_e(figure)} at least {tune.at_least:g}; {_e(shown(tune.before))} &rarr; '
           f'{_e(shown(tune.after))} ({"met" if tune.met else "not met"}, verified by quantizing with the edited '
           f'config)</p>']
    if tune.config_sha256 != report.config_sha256:
        out.append('<p class="stale">The edit applies to another text of the config than the report\'s.</p>')
    for change in tune.changes:
        layers = ", ".join(f"<code>{_e(name)}</code>" for name in change.layers)
        out.append(f"<h3>{_e(change.kind)}: {layers}</h3><p>{_e(change.summary)}: {_e(change.reason)}</p>")
        out += [f'<p class="meta">at line {edit.start[0] + 1}</p><pre class="edit">{_e(edit.new_text)}</pre>'
                for edit in change.edits]
    return out


def _config_section(report: Report, cfg_text: str) -> list[str]:
    deciding = {prov.line for layer in report.layers for prov in layer.plan.provenance.values() if prov.line}
    lines = []
    texts = cfg_text.split("\n")
    if len(texts) > 1 and not texts[-1]:  # the line break that ends the last line starts no line
        texts.pop()
    for number, text in enumerate(texts, 1):
        cls = "line decides" if number in deciding else "line"
        lines.append(f'<span class="{cls}" id="cfg-L{number}"><a class="ln" href="#cfg-L{number}">{number}</a>'
                     f"{_e(text.rstrip(chr(13)))}</span>")
    return [f'<h2 id="cfg">The config: <code>{_e(report.config_path)}</code></h2>',
            '<p class="meta">highlighted: lines that decide some layer\'s settings</p>',
            '<pre class="cfg">' + "".join(lines) + "</pre>"]
