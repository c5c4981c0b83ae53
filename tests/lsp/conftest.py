"""A real `amct lsp` process over stdio, driven by pytest-lsp.

One server per test module (the tests of a module use distinct document URIs),
with a client that does not offer pull diagnostics unless a test asks for it.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest_lsp
from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

ROOT = Path(__file__).resolve().parents[2]
DEBOUNCE_MS = 50


def _record(client: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
    client.diagnostics[params.uri] = params.diagnostics
    client.published.append(params)  # type: ignore[attr-defined]


def make_client() -> LanguageClient:
    """pytest-lsp's client, also keeping every publishDiagnostics in order (with versions)."""
    client = LanguageClient(converter_factory=default_converter)
    client.published = []  # type: ignore[attr-defined]
    register_lsp_features(client, {**DEFAULT_CLIENT_FEATURES, types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS: _record})
    return client


def server_config(*extra: str) -> ClientServerConfig:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return ClientServerConfig(
        server_command=[sys.executable, "-m", "amct_cli", "lsp", f"--debounce-ms={DEBOUNCE_MS}", *extra],
        server_env=env,
        client_factory=make_client,
    )


def capabilities(*, pull: bool = False, snippets: bool = False) -> types.ClientCapabilities:
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(position_encodings=[types.PositionEncodingKind.Utf16]),
        text_document=types.TextDocumentClientCapabilities(
            diagnostic=types.DiagnosticClientCapabilities(related_document_support=False) if pull else None,
            publish_diagnostics=types.PublishDiagnosticsClientCapabilities(related_information=True),
            completion=types.CompletionClientCapabilities(
                completion_item=types.ClientCompletionItemOptions(
                    snippet_support=snippets, documentation_format=[types.MarkupKind.Markdown])
            ),
            hover=types.HoverClientCapabilities(content_format=[types.MarkupKind.Markdown]),
            code_action=types.CodeActionClientCapabilities(
                code_action_literal_support=types.ClientCodeActionLiteralOptions(
                    code_action_kind=types.ClientCodeActionKindOptions(
                        value_set=[types.CodeActionKind.QuickFix, types.CodeActionKind.SourceFixAll]
                    )
                )
            ),
            document_symbol=types.DocumentSymbolClientCapabilities(hierarchical_document_symbol_support=True),
        ),
        window=types.WindowClientCapabilities(work_done_progress=False),
    )


@pytest_lsp.fixture(config=server_config(), scope="module")
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(types.InitializeParams(capabilities=capabilities(), root_uri=ROOT.as_uri()))
    yield
    await lsp_client.shutdown_session()


async def wait_diagnostics(client: LanguageClient, uri: str, version: int | None = None,
                           since: int = 0, timeout: float = 10.0) -> list[types.Diagnostic]:
    """The first diagnostics published for ``uri`` (for ``version`` when given) from
    the ``since``-th publication on."""
    published = client.published  # type: ignore[attr-defined]
    deadline = asyncio.get_running_loop().time() + timeout
    seen = since
    while True:
        for params in published[seen:]:
            if params.uri == uri and (version is None or params.version == version):
                return list(params.diagnostics)
        seen = len(published)
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"no diagnostics for {uri} (version {version}) within {timeout} s")
        await asyncio.sleep(0.005)


async def open_document(client: LanguageClient, path: Path, text: str) -> tuple[str, list[types.Diagnostic]]:
    """Open ``text`` as the document at ``path``; returns its URI and first diagnostics."""
    uri = path.as_uri()
    since = len(client.published)  # type: ignore[attr-defined]
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="amct-cfg", version=1, text=text)
        )
    )
    return uri, await wait_diagnostics(client, uri, 1, since)


def replace_all(client: LanguageClient, uri: str, version: int, text: str) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def ranges(diagnostics: list[types.Diagnostic]) -> list[tuple[str, int, int, int, int]]:
    """(code, start line, start character, end line, end character) of each diagnostic."""
    return [
        (str(d.code), d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character)
        for d in diagnostics
    ]
