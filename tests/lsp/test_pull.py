"""A client that offers pull diagnostics gets them by pull (textDocument/diagnostic) only."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from cfglang.lint import lint_text
from tests.lsp.conftest import ROOT, capabilities, server_config

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_lsp.fixture(config=server_config(), scope="module")
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(types.InitializeParams(capabilities=capabilities(pull=True),
                                                               root_uri=ROOT.as_uri()))
    yield
    await lsp_client.shutdown_session()


async def test_pull_diagnostics_follow_edits_and_nothing_is_pushed(client: LanguageClient, tmp_path: Path) -> None:
    path = tmp_path / "pull.cfg"
    uri = path.as_uri()
    text = 'skip_layers: "😀" batch_num: 0\n'
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="amct-cfg", version=1, text=text)))
    report = await client.text_document_diagnostic_async(types.DocumentDiagnosticParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))
    assert isinstance(report, types.RelatedFullDocumentDiagnosticReport)
    assert [str(d.code) for d in report.items] == [d.code for d in lint_text(text, str(path))] == ["V001"]
    assert (report.items[0].range.start.character, report.items[0].range.end.character) == (29, 30)

    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text="batch_num: 3\n")]))
    report = await client.text_document_diagnostic_async(types.DocumentDiagnosticParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))
    assert list(report.items) == []
    await asyncio.sleep(0.2)  # past the debounce: a push would have arrived
    assert client.published == []  # type: ignore[attr-defined]
