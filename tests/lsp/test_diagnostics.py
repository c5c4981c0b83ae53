"""Published diagnostics of the real server: the same as `amct lint`, at the right UTF-16 places."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from cfglang.lint import lint_text
from tests.lsp.conftest import open_document, ranges, replace_all, wait_diagnostics

pytestmark = pytest.mark.asyncio(loop_scope="module")

SEVERITY = {"error": types.DiagnosticSeverity.Error, "warning": types.DiagnosticSeverity.Warning,
            "info": types.DiagnosticSeverity.Information}


def expected(text: str, path: Path, inventory=None, settings=None) -> list[tuple[str, str, types.DiagnosticSeverity]]:
    """(code, message, severity) of what `amct lint` reports for ``text``."""
    return [(d.code, d.message if d.hint is None else f"{d.message}\nhelp: {d.hint}", SEVERITY[d.severity.label])
            for d in lint_text(text, str(path), settings, inventory)]


def found(diagnostics: list[types.Diagnostic]) -> list[tuple[str, str, types.DiagnosticSeverity]]:
    return [(str(d.code), d.message, d.severity) for d in diagnostics]


async def test_open_publishes_what_lint_reports(client: LanguageClient, tmp_path: Path) -> None:
    path = tmp_path / "quant.cfg"
    text = "batch_num: 0\ncommon_config {\n  arq_quantize { quant_bits: 5 }\n}\nbogus_field: 1\n"
    uri, diagnostics = await open_document(client, path, text)
    assert found(diagnostics) == expected(text, path)
    assert {str(d.code)[0] for d in diagnostics} >= {"V", "F"}
    assert all(d.source == "amct" for d in diagnostics)


async def test_a_non_ascii_layer_name_before_an_error_counts_utf16_units(client: LanguageClient,
                                                                         tmp_path: Path) -> None:
    # 特征 is two UTF-16 units, 😀 two more (one code point): the error starts at character 20
    text = 'skip_layers: "特征😀" bogus_field: 1\n'
    uri, diagnostics = await open_document(client, tmp_path / "emoji.cfg", text)
    assert [(code, *rest) for code, *rest in ranges(diagnostics) if code == "F001"] == [("F001", 0, 20, 0, 31)]


async def test_related_locations_become_related_information(client: LanguageClient, tmp_path: Path) -> None:
    text = 'skip_layers: "层"\nbatch_num: 1\nbatch_num: 2\n'
    uri, diagnostics = await open_document(client, tmp_path / "dup.cfg", text)
    (duplicate,) = [d for d in diagnostics if d.code == "F009"]
    assert duplicate.severity == types.DiagnosticSeverity.Warning
    related = duplicate.related_information or []
    assert related and all(r.location.uri == uri for r in related)
    lines = sorted({duplicate.range.start.line} | {r.location.range.start.line for r in related})
    assert lines == [1, 2]


async def test_a_burst_of_edits_ends_with_the_diagnostics_of_the_final_text(client: LanguageClient,
                                                                            tmp_path: Path) -> None:
    path = tmp_path / "burst.cfg"
    uri, _ = await open_document(client, path, "batch_num: 1\n")
    since = len(client.published)  # type: ignore[attr-defined]
    final = ""
    for version in range(2, 32):
        # typing `bogus_field_N: N` one edit after another, with no pause
        final = f"batch_num: {version % 3}\nbogus_{version}: 1\n"
        replace_all(client, uri, version, final)
    diagnostics = await wait_diagnostics(client, uri, 31, since)
    assert found(diagnostics) == expected(final, path)
    await asyncio.sleep(0.3)  # nothing older may arrive after the final version
    published = [p for p in client.published[since:] if p.uri == uri]  # type: ignore[attr-defined]
    assert published[-1].version == 31
    assert len(published) < 30  # debounced: not one lint per keystroke


async def test_incremental_edits_are_applied_in_utf16_units(client: LanguageClient, tmp_path: Path) -> None:
    path = tmp_path / "incremental.cfg"
    uri, diagnostics = await open_document(client, path, 'skip_layers: "😀" batch_num: 1\n')
    assert diagnostics == []
    since = len(client.published)  # type: ignore[attr-defined]
    # replace `1` (character 29: the emoji is two units) with `0`
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(line=0, character=29), end=types.Position(line=0, character=30)),
            text="0")],
    ))
    diagnostics = await wait_diagnostics(client, uri, 2, since)
    assert found(diagnostics) == expected('skip_layers: "😀" batch_num: 0\n', path)
    assert [r[1:] for r in ranges(diagnostics)] == [(0, 29, 0, 30)]


async def test_save_and_close(client: LanguageClient, tmp_path: Path) -> None:
    path = tmp_path / "save.cfg"
    text = "batch_num: 0\n"
    path.write_text(text, encoding="utf-8")
    uri, first = await open_document(client, path, text)
    since = len(client.published)  # type: ignore[attr-defined]
    client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    assert found(await wait_diagnostics(client, uri, None, since)) == found(first)
    since = len(client.published)  # type: ignore[attr-defined]
    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    assert await wait_diagnostics(client, uri, None, since) == []


async def test_a_broken_document_gets_its_syntax_errors_and_the_server_keeps_answering(
        client: LanguageClient, tmp_path: Path) -> None:
    path = tmp_path / "broken.cfg"
    text = 'batch_num: 2\ncommon_config {\n  arq_quantize { quant_bits: \n  skip_layers: "a\n'
    uri, diagnostics = await open_document(client, path, text)
    assert found(diagnostics) == expected(text, path)
    assert any(str(d.code).startswith("S") for d in diagnostics)
    items = await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=2, character=17)))
    assert items is not None


async def test_suppressions_and_settings_apply_as_in_lint(client: LanguageClient, tmp_path: Path) -> None:
    (tmp_path / "amct.toml").write_text('ignore = ["V001"]\n', encoding="utf-8")
    path = tmp_path / "settings.cfg"
    text = "batch_num: 0\ncommon_config { arq_quantize { quant_bits: 5 } }  # amct: noqa: V002\n"
    uri, diagnostics = await open_document(client, path, text)
    assert diagnostics == []


INVENTORY = {"version": 1, "layers": [{"name": "features.0", "type": "Conv2d"}, {"name": "fc", "type": "Linear"}]}


async def test_model_aware_diagnostics_from_a_header_comment(client: LanguageClient, tmp_path: Path) -> None:
    from cfglang.inventory import Inventory

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "layers.json").write_text(json.dumps(INVENTORY), encoding="utf-8")
    path = tmp_path / "header.cfg"
    text = '# amct: layers=model/layers.json\nskip_layers: "features.O"\n'
    uri, diagnostics = await open_document(client, path, text)
    inventory = Inventory.load(tmp_path / "model" / "layers.json")
    assert found(diagnostics) == expected(text, path, inventory)
    assert [code for code, *_ in ranges(diagnostics)] and all(c.startswith("M") for c, *_ in ranges(diagnostics))
    assert ranges(diagnostics)[0][1:] == (1, 13, 1, 25)


async def test_edits_of_a_model_aware_file_follow_the_text(client: LanguageClient, tmp_path: Path) -> None:
    """Edits deep inside a file with an inventory: each version's diagnostics are what `amct lint` says."""
    from cfglang.inventory import Inventory

    (tmp_path / "layers.json").write_text(json.dumps(INVENTORY), encoding="utf-8")
    path = tmp_path / "edited.cfg"
    entries = "".join(f'override_layer_configs {{\n  layer_name: "{n}"\n  calibration_config {{ }}\n}}\n'
                      for n in ("features.0", "fc", "features.0"))
    text = "# amct: layers=layers.json\nbatch_num: 1\n" + entries
    uri, diagnostics = await open_document(client, path, text)
    inventory = Inventory.load(tmp_path / "layers.json")
    assert found(diagnostics) == expected(text, path, inventory)
    line = text.splitlines().index('  layer_name: "fc"')
    for version, name in enumerate(("fx", "fc", "features.0"), 2):  # unknown, known again, a duplicate
        since = len(client.published)  # type: ignore[attr-defined]
        old = text.splitlines()[line]
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=types.Position(line=line, character=15),
                                  end=types.Position(line=line, character=len(old) - 1)),
                text=name)],
        ))
        text = text.replace(old, f'  layer_name: "{name}"', 1)
        diagnostics = await wait_diagnostics(client, uri, version, since)
        assert found(diagnostics) == expected(text, path, inventory), name
        codes = [code for code, *_ in ranges(diagnostics)]
        assert ("M001" in codes) == (name == "fx")  # `fx` is not a layer of the model
    assert "F013" in codes  # `features.0` three times now


async def test_model_aware_diagnostics_from_the_project_settings(client: LanguageClient, tmp_path: Path) -> None:
    from cfglang.inventory import Inventory
    from cfglang.settings import load_settings_file

    (tmp_path / "layers.json").write_text(json.dumps(INVENTORY), encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text('[tool.amct]\nlayers = "layers.json"\n', encoding="utf-8")
    (tmp_path / "configs").mkdir()
    path = tmp_path / "configs" / "project.cfg"
    text = 'override_layer_configs { layer_name: "fc2" calibration_config { } }\n'
    uri, diagnostics = await open_document(client, path, text)
    settings = load_settings_file(tmp_path / "pyproject.toml")
    assert found(diagnostics) == expected(text, path, Inventory.load(tmp_path / "layers.json"), settings)
    assert any(str(d.code).startswith("M") for d in diagnostics)


async def test_an_unusable_header_inventory_is_a_diagnostic_and_linting_goes_on(client: LanguageClient,
                                                                      tmp_path: Path) -> None:
    (tmp_path / "layers.json").write_text("{not json", encoding="utf-8")
    text = "# amct: layers=layers.json\nbatch_num: 0\n"
    uri, diagnostics = await open_document(client, tmp_path / "bad-inventory.cfg", text)
    # the header gets why, and the rest of the file is checked as without an inventory
    assert [code for code, *_ in ranges(diagnostics)] == ["None", "V001"]
    assert ranges(diagnostics)[0][1:] == (0, 15, 0, 26)
    assert "cannot use the layer inventory" in diagnostics[0].message
    assert "not json" not in diagnostics[0].message  # the shape of the file only, never its content
