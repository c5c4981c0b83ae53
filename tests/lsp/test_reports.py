"""A sensitivity report beside the config, in the editor: hover on a layer name shows its figures, and
`amct tune`'s edit is a code action while the report's hash matches the document (cfglang/lsp/reports.py)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

import reportdata
from cfglang.lsp.reports import TUNE
from cfglang.report import apply_edits, load_report
from tests.lsp.conftest import open_document
from tests.lsp.test_features import apply, at, doc, hover_text

pytestmark = pytest.mark.asyncio(loop_scope="module")

WHOLE = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0))


def project(folder: Path, report: dict | None = None, where: str = "out") -> Path:
    """``folder/quant.cfg`` with its report at ``folder/<where>/report.json``."""
    config = folder / "quant.cfg"
    config.write_text(reportdata.CONFIG, encoding="utf-8")
    out = folder / where
    out.mkdir(parents=True, exist_ok=True)
    data = report if report is not None else reportdata.report()
    data = {**data, "config": {**data["config"], "path": Path("../" * len(Path(where).parts), "quant.cfg").as_posix()}}
    (out / "report.json").write_text(json.dumps(data), encoding="utf-8")
    return config


async def actions_of(client: LanguageClient, uri: str) -> list[types.CodeAction]:
    found = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=doc(uri), range=WHOLE, context=types.CodeActionContext(diagnostics=[])))
    return [a for a in found or [] if isinstance(a, types.CodeAction) and a.kind == TUNE]


async def test_hover_on_a_layer_name_shows_its_sensitivity(client: LanguageClient, tmp_path: Path) -> None:
    config = project(tmp_path)
    uri, _ = await open_document(client, config, reportdata.CONFIG)
    text = reportdata.CONFIG
    value = await hover_text(client, uri, at(text, '"encoder.layer.3.inter'))
    report = load_report(reportdata.report())
    layer = report.layer("encoder.layer.3.intermediate.dense")
    assert "**sensitivity** (`out/report.json`, 48 samples)" in value and "earlier text" not in value
    assert f"- isolated: model output cosine mean / min: `{layer.isolated_cosine_mean:.6f} / " \
           f"{layer.isolated_cosine_min:.6f}`" in value
    assert f"- weight SQNR: `{layer.weight_sqnr_db:.1f} dB`" in value and "- activation values clipped: `" in value
    # a name full of markup characters is found, and the hover is about it
    value = await hover_text(client, uri, at(text, "layer_name: 'head.<img"))
    hostile = report.layer(reportdata.HOSTILE)
    assert f"{hostile.isolated_cosine_mean:.6f}" in value
    # a skipped layer was not measured
    value = await hover_text(client, uri, at(text, '"pooler.d'))
    assert "`pooler.dense` was not quantized when it was made" in value


async def test_the_tune_edit_is_a_code_action(client: LanguageClient, tmp_path: Path) -> None:
    config = project(tmp_path)
    uri, _ = await open_document(client, config, reportdata.CONFIG)
    (action,) = await actions_of(client, uri)
    assert action.title == "Apply amct tune (2 changes: cosine_min 0.99 -> 0.999)"
    edited = apply(reportdata.CONFIG, action.edit.changes[uri])
    assert edited == apply_edits(reportdata.CONFIG, load_report(reportdata.report()).tune.edits)
    # only a client that asks for other kinds does not get it
    found = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=doc(uri), range=WHOLE,
        context=types.CodeActionContext(diagnostics=[], only=[types.CodeActionKind.QuickFix])))
    assert not [a for a in found or [] if a.kind == TUNE]


async def test_a_stale_report_is_marked_and_offers_no_edit(client: LanguageClient, tmp_path: Path) -> None:
    config = project(tmp_path)
    text = "# edited since\n" + reportdata.CONFIG
    config.write_text(text, encoding="utf-8")
    uri, _ = await open_document(client, config, text)
    value = await hover_text(client, uri, at(text, '"encoder.layer.3.inter'))
    assert "**sensitivity**" in value and "made from an earlier text of this file" in value
    assert await actions_of(client, uri) == []


async def test_the_report_made_from_the_current_text_wins(client: LanguageClient, tmp_path: Path) -> None:
    older = copy.deepcopy(reportdata.report())
    older["config"]["sha256"] = "0" * 64
    older["samples"] = 7
    config = project(tmp_path, older, "old")
    project(tmp_path, None, "runs/new")
    uri, _ = await open_document(client, config, reportdata.CONFIG)
    value = await hover_text(client, uri, at(reportdata.CONFIG, '"encoder.layer.3.inter'))
    assert "(`runs/new/report.json`, 48 samples)" in value and "earlier text" not in value
    assert len(await actions_of(client, uri)) == 1


async def test_reports_of_other_files_and_broken_ones_are_not_used(client: LanguageClient, tmp_path: Path) -> None:
    config = project(tmp_path)
    data = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    data["config"]["path"] = "../other.cfg"
    (tmp_path / "out" / "report.json").write_text(json.dumps(data), encoding="utf-8")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "report.json").write_text('{"version": 2}', encoding="utf-8")
    uri, _ = await open_document(client, config, reportdata.CONFIG)
    result = await client.text_document_hover_async(types.HoverParams(
        text_document=doc(uri), position=at(reportdata.CONFIG, '"encoder.layer.3.inter')))
    assert result is None or "**sensitivity**" not in result.contents.value
    assert await actions_of(client, uri) == []
    assert any("sensitivity report not used" in m.message and "report.json: not a valid report" in m.message
               for m in client.messages)


async def test_a_document_with_a_byte_order_mark(client: LanguageClient, tmp_path: Path) -> None:
    """The tools hash and place edits in the text without its BOM; the editor keeps the BOM."""
    config = project(tmp_path)
    text = "\ufeff" + reportdata.CONFIG
    uri, _ = await open_document(client, config, text)
    (action,) = await actions_of(client, uri)
    assert apply(text, action.edit.changes[uri]) == "\ufeff" + apply_edits(
        reportdata.CONFIG, load_report(reportdata.report()).tune.edits)
    value = await hover_text(client, uri, at(text, '"encoder.layer.3.inter'))
    assert "**sensitivity**" in value and "earlier text" not in value
