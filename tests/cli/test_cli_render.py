"""The renderers on hand-made diagnostics: a golden file per format, SARIF against the official schema.

Set ``AMCT_UPDATE_GOLDEN=1`` to rewrite the golden files after an intended change (then review the diff).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest

from cfglang.diagnostics import Diagnostic, Edit, Fix, LineIndex, Severity
from cfglang.render import RENDERERS, FileReport, render, render_diagnostic, render_sarif, render_statistics, summary
from cfglang.rules import Rule

GOLDEN = Path(__file__).parent / "golden"
SCHEMA = Path(__file__).parents[1] / "data" / "sarif-schema-2.1.0.json"

TEXT = (
    "batch_num: 2\n"
    "common_config {\n"
    "\tarq_quantize {\n"
    "    quant_bit: 8  # 中文 comment\n"
    "  }\n"
    "}\n"
    "batch_num: 4\n"
    "skip_layers: \"a,b\"\n"
)


def _at(text: str, needle: str, length: int | None = None) -> tuple[int, int]:
    start = text.index(needle)
    return start, start + (len(needle) if length is None else length)


def synthetic_reports() -> list[FileReport]:
    index = LineIndex(TEXT)
    unknown = index.span(*_at(TEXT, "quant_bit"))
    duplicate = index.span(*_at(TEXT, "batch_num: 4"))
    first = index.span(0, 12)
    block = index.span(TEXT.index("common_config"), TEXT.index("}\nbatch_num: 4") + 1)
    end = index.span(len(TEXT), len(TEXT))
    diagnostics = (
        Diagnostic("F001", Severity.ERROR, unknown, "unknown field `quant_bit` in `arq_quantize`",
                   hint="did you mean `quant_bits`?",
                   fix=Fix("rename to `quant_bits`", (Edit(unknown.start, unknown.end, "quant_bits"),), safe=False)),
        Diagnostic("F009", Severity.WARNING, duplicate, "`batch_num` is set twice: the last value wins",
                   related=((first, "first set here"),),
                   fix=Fix("delete the earlier `batch_num`", (Edit(0, 13, ""),))),
        Diagnostic("V001", Severity.INFO, block, "a block over several lines"),
        Diagnostic("S004", Severity.ERROR, end, "unexpected end of file, with a comma, a colon: and 100%"),
    )
    other = "x: 1\n"
    other_index = LineIndex(other)
    return [
        FileReport("configs/quant.cfg", TEXT, diagnostics),
        FileReport("configs/other file.cfg", other, (
            Diagnostic("F001", Severity.ERROR, other_index.span(0, 1), "unknown field `x` in `AMCTConfig`"),)),
    ]


def _golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("AMCT_UPDATE_GOLDEN"):
        path.write_text(actual, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == actual


# a fixed rule list, so that the SARIF golden file does not change whenever a rule is added
RULES = (
    Rule("F001", "unknown-field", Severity.ERROR, "schema", "a field name that the message does not have",
         "Explanation.", "quant_bit: 8\n", "quant_bits: 8\n"),
    Rule("L001", "unused-suppression", Severity.WARNING, "lint", "a suppression comment suppresses nothing",
         "Explanation.", "a: 1  # amct: noqa: F001\n", "a: 1\n", status="preview"),
    Rule("V001", "old-rule", Severity.INFO, "value", "a removed rule", "Explanation.", "", "", status="removed"),
)


@pytest.mark.parametrize("fmt", [f for f in RENDERERS if f != "sarif"])
def test_every_format_matches_its_golden_file(fmt: str) -> None:
    _golden(f"render.{fmt}", render(synthetic_reports(), fmt))


def test_sarif_matches_its_golden_file() -> None:
    _golden("render.sarif", render_sarif(synthetic_reports(), rules=RULES))


def test_full_format_in_colour_matches_its_golden_file() -> None:
    _golden("render.full.color", render(synthetic_reports(), "full", color=True))


def test_full_format_puts_carets_under_the_whole_span_with_tabs_and_wide_characters() -> None:
    text = "\tname: \"中文\" x\n"
    index = LineIndex(text)
    start = text.index("x")
    out = render_diagnostic("f.cfg", index, Diagnostic("F001", Severity.ERROR, index.span(start, start + 1), "m"))
    line, carets = out.splitlines()[2:4]
    assert line == "1 |     name: \"中文\" x"
    # the tab shows as four spaces and each CJK character takes two cells, so the caret sits two cells
    # further right than the character count of the line says
    assert carets.index("^") == line.index("x") + 2 == len("1 |     name: \"") + 4 + len("\" ")


def test_json_items_have_exactly_the_documented_fields() -> None:
    items = json.loads(render(synthetic_reports(), "json"))
    assert [set(item) for item in items] == [{
        "path", "code", "severity", "message", "line", "column", "end_line", "end_column", "hint", "related",
        "fix"}] * len(items)
    assert items[1]["related"] == [{"line": 1, "column": 1, "end_line": 1, "end_column": 13,
                                    "message": "first set here"}]
    assert items[1]["fix"]["edits"] == [{"line": 1, "column": 1, "end_line": 2, "end_column": 1, "new_text": ""}]


def test_json_columns_count_code_points() -> None:
    text = "name: \"中文\" x\n"
    index = LineIndex(text)
    start = text.index("x")
    report = FileReport("f.cfg", text, (Diagnostic("F001", Severity.ERROR, index.span(start, start + 1), "m"),))
    item = json.loads(render([report], "json"))[0]
    assert (item["column"], item["end_column"]) == (12, 13)


def test_github_escapes_properties_and_data() -> None:
    lines = render(synthetic_reports(), "github").splitlines()
    assert lines[3].startswith("::error file=configs/quant.cfg,line=9,col=1,endLine=9,endColumn=1,title=S004::")
    assert lines[3].endswith("unexpected end of file, with a comma, a colon: and 100%25")
    assert lines[2].startswith("::notice ")


def test_sarif_validates_against_the_official_schema() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    log = json.loads(render(synthetic_reports(), "sarif"))
    jsonschema.Draft7Validator.check_schema(schema)
    assert len(log["runs"][0]["tool"]["driver"]["rules"]) > 3  # the whole registry
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(log), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_sarif_has_every_registered_rule_and_indexes_results() -> None:
    from cfglang.rules import all_rules

    run = json.loads(render(synthetic_reports(), "sarif"))["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r.code for r in all_rules()]
    assert run["columnKind"] == "unicodeCodePoints"
    for result in run["results"]:
        if "ruleIndex" in result:
            assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    lint_rule = next(r for r in rules if r["id"] == "L001")
    assert lint_rule["name"] == "unused-suppression"
    assert lint_rule["defaultConfiguration"]["level"] == "warning"
    assert {"shortDescription", "fullDescription", "help"} <= set(lint_rule)
    uris = {a["location"]["uri"] for a in run["artifacts"]}
    assert uris == {"configs/quant.cfg", "configs/other%20file.cfg"}


def test_summary_and_statistics() -> None:
    diagnostics = [d for r in synthetic_reports() for d in r.diagnostics]
    assert summary(diagnostics, 2) == "found 3 errors, 1 warning and 1 info in 2 files"
    assert summary([], 0) == ""
    assert summary([], 1, fixed=2) == "fixed 2 problems, none left"
    stats = render_statistics(diagnostics).splitlines()
    assert stats[0].split()[:2] == ["2", "F001"]
    assert stats[0].endswith("[*]")
    assert [row["code"] for row in json.loads(render_statistics(diagnostics, as_json=True))] == [
        "F001", "F009", "S004", "V001"]


def test_unknown_format_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown format `xml`"):
        render([], "xml")
