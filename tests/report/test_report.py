"""The sensitivity report: its schema, load_report's checks and messages, the tune edits, the terminal
table and the page's markup (escaping, nothing loaded from elsewhere). The page in a browser:
test_report_browser.py."""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import reportdata
from cfglang.jsonschemas import schema, validation_errors
from cfglang.report import (
    ReportError,
    TextEdit,
    apply_edits,
    deciding_line,
    load_report,
    render_html,
    text_edit,
    text_sha256,
    weight_db_text,
    worst_layers_table,
)


@pytest.fixture(scope="module")
def data() -> dict:
    return reportdata.report()


@pytest.fixture(scope="module")
def report(data):
    return load_report(data)


def broken(data: dict, change) -> str:
    bad = copy.deepcopy(data)
    change(bad)
    with pytest.raises(ReportError) as caught:
        load_report(bad, "out/report.json")
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_the_fixture_is_valid_and_reads_back_typed(data, report) -> None:
    assert validation_errors(data, "report") == []
    assert len(report.layers) == 45 and report.layer("pooler.dense") is None  # skipped by the config
    layer = report.layer(reportdata.HOSTILE)
    assert layer.plan.provenance["weight.bits"].source == "override_layer_configs"
    assert layer.plan.provenance["weight.bits"].line == reportdata.CONFIG.splitlines().index(
        "      quant_bits: 8", reportdata.CONFIG.splitlines().index(f"  layer_name: {reportdata.HOSTILE!r}")) + 1
    assert report.fresh(reportdata.CONFIG) and not report.fresh(reportdata.CONFIG + "\n")
    assert report.tune is not None and [c.kind for c in report.tune.changes] == ["setting", "skip"]


def test_the_report_json_on_disk(tmp_path: Path, data) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert load_report(path).config_sha256 == text_sha256(reportdata.CONFIG)
    path.write_text('{"version": 1,', encoding="utf-8")
    with pytest.raises(ReportError, match=r"report\.json:1:\d+: not valid JSON"):
        load_report(path)
    with pytest.raises(ReportError, match="cannot read report .*missing.json"):
        load_report(tmp_path / "missing.json")


@pytest.mark.parametrize(("change", "expected"), [
    (lambda d: d["layers"][3].update(clip_min="x"),
     "out/report.json: not a valid report: `layers[3].clip_min`: found \"x\", expected a value of type "
     "['number', 'null']"),
    (lambda d: d["layers"][0].pop("weight_sqnr_db"),
     "out/report.json: not a valid report: `layers[0]`: missing `weight_sqnr_db`"),
    (lambda d: d["layers"][1]["weight"].update(bits=5), "`layers[1].weight.bits`: found 5, expected one of"),
    (lambda d: d["layers"][1].update(activation=None), "`layers[1].activation`: found null, expected a value of type"),
    (lambda d: d["layers"][1].update(type="Embedding"), "`layers[1].type`: found \"Embedding\", expected one of"),
    (lambda d: d["config"].update(sha256="ABC"), "`config.sha256`: found \"ABC\""),
    (lambda d: d["figures"].update(cosine_min=1.5), "`figures.cosine_min`: found 1.5"),
    (lambda d: d["layers"][2].update(surprise=1), "`layers[2]`: unknown key `surprise`"),
    (lambda d: d["layers"][4]["histogram"]["counts"].pop(), "`layers[4].histogram`: 49 edges for 47 counts"),
    (lambda d: d["layers"][4]["histogram"]["edges"].reverse(), "`layers[4].histogram.edges`: not increasing"),
    (lambda d: d["layers"][5].update(name=d["layers"][4]["name"]), "`layers[5].name`: a layer listed twice"),
    (lambda d: d["layers"][6].update(clip_min=2.0, clip_max=1.0), "`layers[6].clip_min`: 2.0 is above `clip_max`"),
    (lambda d: d["figures"].update(sqnr_db=float("inf")), "`figures.sqnr_db`: found inf, expected a finite number"),
    (lambda d: d["tune"]["changes"][1]["edits"].append(d["tune"]["changes"][1]["edits"][0]),
     "`tune.changes[1].edits[1].range`: overlaps `tune.changes[1].edits[0]`"),
])
def test_a_bad_report_is_refused_with_its_place(data, change, expected) -> None:
    assert expected in broken(data, change)


def test_the_shipped_schema_refers_to_the_plans_definitions() -> None:
    text = json.dumps(schema("report"))
    assert {"plan.schema.json#/$defs/weight", "plan.schema.json#/$defs/activation",
            "plan.schema.json#/$defs/provenance", "plan.schema.json#/properties/target"} <= set(
        re.findall(r'"\$ref": "(plan[^"]+)"', text))
    # and those exist
    plan = schema("plan")
    assert {"weight", "activation", "provenance"} <= set(plan["$defs"]) and "target" in plan["properties"]


def test_text_edits_count_utf16_and_apply() -> None:
    text = "a: 1\n# 😀 é\nb: 2\n"
    start = text.index("é")
    edit = text_edit(text, start, start + 1, "e")
    assert edit == {"range": {"start": {"line": 1, "character": 5}, "end": {"line": 1, "character": 6}},
                    "newText": "e"}
    parsed = TextEdit((1, 5), (1, 6), "e")
    assert apply_edits(text, [parsed, TextEdit((3, 0), (3, 0), "c: 3\n")]) == "a: 1\n# 😀 e\nb: 2\nc: 3\n"
    with pytest.raises(ReportError, match="inside a character"):
        TextEdit((1, 3), (1, 3), "").offsets(text)
    with pytest.raises(ReportError, match="past the end of its line"):
        TextEdit((0, 9), (0, 9), "").offsets(text)
    with pytest.raises(ReportError, match="past the config's end"):
        TextEdit((7, 0), (7, 0), "").offsets(text)


def test_the_tune_edit_applies_to_the_config(report) -> None:
    edited = apply_edits(reportdata.CONFIG, report.tune.edits)
    assert f'skip_layers: "{reportdata.LONG}"  # amct tune: output cosine 0.996 -> 0.999\n' in edited
    assert edited.endswith('    hfmg_quantize {\n      num_of_bins: 4096\n    }\n  }\n}\n')
    from cfglang.checker import check

    assert not check(edited).diagnostics


def test_ranking_and_the_deciding_line(report) -> None:
    order = report.ranked
    values = [report.sensitivity(report.layers[i]) for i in order]
    assert values == sorted(values, reverse=True)
    assert [report.rank(report.layers[i].name) for i in order] == list(range(1, 46))
    lines = reportdata.CONFIG.splitlines()
    override = report.layer("encoder.layer.3.intermediate.dense")
    assert lines[deciding_line(override.plan) - 1].strip() == "arq_quantize {"  # inside its override entry
    assert deciding_line(override.plan) > lines.index('  layer_name: "encoder.layer.3.intermediate.dense"')
    common = report.layer("encoder.layer.0.attention.self.query")
    assert lines[deciding_line(common.plan) - 1] == "  arq_quantize {"
    assert lines.index("common_config {") < deciding_line(common.plan) - 1 < lines.index("override_layer_types {")


def test_a_user_metric_ranks_by_its_drop(data) -> None:
    changed = copy.deepcopy(data)
    changed["metric"] = {"name": "top1", "user": True, "higher_is_better": True}
    changed["figures"].update(metric_float=0.9, metric=0.85)
    for i, layer in enumerate(changed["layers"]):
        layer["isolated_metric"] = 0.9 - (0.05 if i == 7 else 0.001)
    report = load_report(changed)
    assert report.ranked[0] == 7
    assert "top1 drop" in worst_layers_table(report, 3)


def test_worst_layers_table(report) -> None:
    text = worst_layers_table(report, 3)
    lines = text.splitlines()
    assert lines[0].split() == ["#", "layer", "type", "sensitivity", "isolated", "SQNR", "weight", "SQNR", "clipped",
                                "cumulative", "cos", "decided", "at"]
    worst = report.layers[report.ranked[0]]
    assert lines[2].startswith(f"1  {worst.name}  ")
    assert lines[2].endswith(f"quant.cfg:{deciding_line(worst.plan)}")
    assert len(lines) == 2 + 3 + 2 and lines[-1].startswith("model: output cosine mean 0.996000, min 0.990000")


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        if "id" in found:
            self.ids.add(found["id"])


@pytest.fixture(scope="module")
def page(report) -> str:
    return render_html(report, reportdata.CONFIG)


def test_the_page_loads_nothing_from_elsewhere(page) -> None:
    markup = _Markup()
    markup.feed(page)
    tags = {tag for tag, _ in markup.tags}
    assert not tags & {"link", "img", "iframe", "object", "embed", "base", "form"}
    for tag, attrs in markup.tags:
        assert "src" not in attrs, tag
        if "href" in attrs:
            assert attrs["href"].startswith("#"), attrs["href"]
            assert attrs["href"][1:] in markup.ids, f"a link to a missing anchor {attrs['href']}"
    policy = next(a["content"] for t, a in markup.tags if a.get("http-equiv") == "Content-Security-Policy")
    assert policy.startswith("default-src 'none'; script-src 'sha256-") and "unsafe" not in policy
    assert [t for t, a in markup.tags if t == "script" and a.get("type") != "application/json"] == ["script"]


def test_untrusted_names_are_escaped(page) -> None:
    assert reportdata.HOSTILE not in page
    assert "<img src=x" not in page and "</script>'" not in page
    assert page.count("</script>") == 2  # the data's and the script's own
    assert "head.&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;amp;&#x27;&lt;/script&gt;" in page
    data = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S).group(1)
    assert json.loads(data)["layers"][[l["name"] for l in json.loads(data)["layers"]].index(
        reportdata.HOSTILE)]["type"] == "Linear"


def test_each_layer_links_to_the_line_that_decided_it(report, page) -> None:
    for index, layer in enumerate(report.layers):
        card = re.search(rf'<article class="layer" id="layer-{index}">(.*?)</article>', page, re.S).group(1)
        line = deciding_line(layer.plan)
        assert f'settings decided at <a href="#cfg-L{line}">line {line}</a>' in card
    lines = reportdata.CONFIG.splitlines()
    assert f'id="cfg-L{len(lines)}"' in page and f'id="cfg-L{len(lines) + 1}"' not in page
    assert '<p class="stale">' not in page
    assert '<p class="stale">' in render_html(report, reportdata.CONFIG.replace("batch_num: 4", "batch_num: 8"))


def test_a_report_without_tune_or_activation_figures(data) -> None:
    plain = copy.deepcopy(data)
    del plain["tune"]
    layer = plain["layers"][0]
    layer.update(clip_min=None, clip_max=None, observed_min=None, observed_max=None, clipped_share=None,
                 histogram=None, weight_sqnr_db=None)
    report = load_report(plain)
    page = render_html(report, reportdata.CONFIG)
    assert "Proposed config edit" not in page and 'data-layer="0"' not in page and 'data-layer="1"' in page
    assert "inf dB" in worst_layers_table(report, 45)


def test_the_page_orders_its_chart_as_the_report_ranks(report, page) -> None:
    data = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page,
                                re.S).group(1))
    assert data["order"] == {"execution": list(range(45)), "sorted": list(report.ranked)}
    assert [layer["name"] for layer in data["layers"]] == [layer.name for layer in report.layers]
    assert [layer["sensitivity"] for layer in data["layers"]] == [report.sensitivity(l) for l in report.layers]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6)


def _places(value, path=()):
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _places(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value[:3]):
            yield from _places(item, (*path, i))


_SMALL = reportdata.report()
_SMALL["layers"] = _SMALL["layers"][:3]
_PLACES = list(_places(_SMALL))


@given(st.lists(st.tuples(st.sampled_from(_PLACES), _JSON), min_size=1, max_size=3))
def test_any_damage_is_a_report_error_or_a_report(changes) -> None:
    """Whatever part of a report is replaced by whatever JSON value, load_report answers with a report or
    one located line, never another exception."""
    data = copy.deepcopy(_SMALL)
    for path, value in changes:
        if not path:
            if not isinstance(value, str):  # a string is a path to read
                data = value
            continue
        target = data
        try:
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    try:
        load_report(data)
    except ReportError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("report: ")


def test_a_fallback_shows_its_reason_on_the_page(data) -> None:
    changed = copy.deepcopy(data)
    changed["layers"][0]["provenance"]["weight.bits"] = {"from": "fallback", "line": None, "column": None,
                                                        "reason": "INT4 <needs> an even in_channels"}
    page = render_html(load_report(changed), reportdata.CONFIG)
    card = re.search(r'<article class="layer" id="layer-0">(.*?)</article>', page, re.S).group(1)
    assert "<td>fallback: INT4 &lt;needs&gt; an even in_channels</td><td>defaults</td>" in card


def test_a_layer_without_weights_shows_no_weight_sqnr(data) -> None:
    """An AvgPool2d is quantized for its input only: `-` for its weight SQNR, not the `inf` of an exact weight."""
    changed = copy.deepcopy(data)
    pool = changed["layers"][0]
    pool.update(type="AvgPool2d", weight=None, weight_sqnr_db=None)
    pool["provenance"] = {key: value for key, value in pool.get("provenance", {}).items() if not key.startswith("weight")}
    report = load_report(changed)
    assert weight_db_text(report.layers[0]) == "-"
    assert weight_db_text(load_report(data).layers[0]).endswith(" dB")
    row = [line for line in worst_layers_table(report, len(report.layers)).splitlines()
           if line.split()[1:2] == [report.layers[0].name]]
    assert row and " - " in row[0]
    assert '"has_weight":false' in render_html(report, "batch_num: 1\n")
