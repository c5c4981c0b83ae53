"""The protocol's errors as pytest-lsp's client sees them: documents that are not open, edits with the
protocol's lines, requests after `shutdown`, and the exit status."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from cfglang.lint import lint_text
from tests.lsp.conftest import ROOT, capabilities, open_document, server_config, wait_diagnostics

pytestmark = pytest.mark.asyncio(loop_scope="function")

NOWHERE = types.TextDocumentIdentifier(uri=(ROOT / "no-such-dir" / "x.cfg").as_uri())


@pytest_lsp.fixture(config=server_config(), scope="function")
async def session(lsp_client: LanguageClient):
    await lsp_client.initialize_session(types.InitializeParams(capabilities=capabilities(), root_uri=ROOT.as_uri()))
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=server_config(), scope="function")
async def bare(lsp_client: LanguageClient):  # for a test that shuts the server down itself
    await lsp_client.initialize_session(types.InitializeParams(capabilities=capabilities(), root_uri=ROOT.as_uri()))
    yield


async def test_a_request_about_a_document_that_is_not_open_is_invalid_params(session: LanguageClient) -> None:
    client = session
    with pytest.raises(JsonRpcException) as caught:
        await client.text_document_hover_async(
            types.HoverParams(text_document=NOWHERE, position=types.Position(line=0, character=0)))
    assert caught.value.code == -32602 and "not an open document" in caught.value.message
    with pytest.raises(JsonRpcException):
        await client.text_document_document_symbol_async(types.DocumentSymbolParams(text_document=NOWHERE))


async def test_incremental_edits_follow_lone_cr_lines(session: LanguageClient, tmp_path: Path) -> None:
    client = session
    text = "batch_num: 1\rdo_fusion: true\r"
    uri, _ = await open_document(client, tmp_path / "cr.cfg", text)
    since = len(client.published)  # type: ignore[attr-defined]
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(line=1, character=11), end=types.Position(line=1, character=15)),
            text="maybe")]))
    diagnostics = await wait_diagnostics(client, uri, 2, since)
    expected = "batch_num: 1\rdo_fusion: maybe\r"
    assert [str(d.code) for d in diagnostics] == [d.code for d in lint_text(expected)]
    assert any(str(d.code).startswith("F") and d.range.start.line == 1 for d in diagnostics)


async def test_requests_after_shutdown_are_invalid_and_exit_is_0(bare: LanguageClient) -> None:
    client = bare
    await client.shutdown_async(None)
    with pytest.raises(JsonRpcException) as caught:
        await client.text_document_hover_async(
            types.HoverParams(text_document=NOWHERE, position=types.Position(line=0, character=0)))
    assert caught.value.code == -32600
    client.exit(None)
    process = client._server  # type: ignore[attr-defined]
    assert process is not None
    assert await asyncio.wait_for(process.wait(), 20) == 0
