"""The pygls server: wiring from LSP requests to the feature modules.

Each handler looks up the document's :class:`~cfglang.lsp.analysis.Analysis`
(computed once per text), asks a feature module for the answer and returns it.
A handler never lets an exception out: it logs it through ``window/logMessage``
and answers with the empty result, so a broken file or an internal slip never
takes the editor's language features down. The exceptions are the protocol's
own errors: a request about a document that is not open gets ``InvalidParams``
(the server never reads a document from disk on a client's word). The wire and
the lifecycle are :mod:`cfglang.lsp.transport` and :mod:`cfglang.lsp.protocol`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar
from urllib.parse import unquote

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer

from cfglang import __version__
from cfglang.diagnostics import Diagnostic, Severity, Span
from cfglang.encoding import saved_encoding
from cfglang.lsp import actions, completion, convert, hover, symbols
from cfglang.lsp.analysis import Analysis, Analyzer
from cfglang.lsp.protocol import AmctProtocol
from cfglang.lsp.positions import Positions
from cfglang.lsp.transport import MAX_MESSAGE_SIZE, Oversized, serve
from cfglang.rules.syntax import FILE_TOO_LARGE

__all__ = ["AmctLanguageServer", "create_server"]

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

# where a completion may start without the user asking: a new field, a value, a string
TRIGGER_CHARACTERS = [":", "{", "<", " ", '"', "'", "[", ","]


class AmctLanguageServer(LanguageServer):
    protocol: AmctProtocol

    def __init__(self, debounce: float) -> None:
        super().__init__("amct", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
                         protocol_cls=AmctProtocol)
        self.debounce = debounce
        self.analyzer = Analyzer()
        self.pull_diagnostics = False  # decided at initialize from the client's capabilities
        self._cache: dict[str, Analysis] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._shown: set[str] = set()  # notes already shown
        self._saved_as: dict[str, str] = {}  # documents whose file is saved as UTF-16/32: its encoding

    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> int:  # type: ignore[override]
        """Serve over stdin/stdout (:func:`cfglang.lsp.transport.serve`) until ``exit`` or the end of the input;
        the exit status."""
        if stdin is None:  # the file descriptor itself: a read returns what is there, without waiting for more
            fd = sys.stdin.fileno()
            read = functools.partial(os.read, fd)
        else:
            read = getattr(stdin, "read1", stdin.read)
        self.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))
        try:
            return asyncio.run(serve(self.protocol, read, MAX_MESSAGE_SIZE, self.dropped))
        except BrokenPipeError:
            log.error("amct lsp: the client closed the connection")
            return 1
        finally:
            self.shutdown()

    def show_note(self, note: str) -> None:
        self.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=note))

    def dropped(self, message: Oversized, limit: int) -> None:
        """A message too large to read: the user is told, and the document it opened gets its S015."""
        uri = message.document()
        self.show_note(f"amct: a message of {message.length} bytes was not read: the server takes messages of "
                       f"at most {limit} bytes" + (f" (it carried `{uri}`)" if uri else ""))
        if uri is not None and not self.pull_diagnostics:
            found = Diagnostic(FILE_TOO_LARGE, Severity.ERROR, Span(0, 0, 1, 1, 1, 1),
                               f"the document was sent in a message of {message.length} bytes, more than the "
                               f"server's limit of {limit}: not read")
            self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
                uri=uri, diagnostics=[convert.diagnostic(found, Positions(""), uri)]))

    # -- analysis -----------------------------------------------------------------

    def document(self, uri: str) -> Any:
        """The open document ``uri``; a request about any other gets ``InvalidParams``."""
        document = self.workspace.text_documents.get(unquote(uri))
        if document is None:
            raise JsonRpcInvalidParams(f"`{uri}` is not an open document")
        return document

    def analysis(self, uri: str) -> Analysis:
        """The analysis of the document's current text, computed at most once per text."""
        document = self.document(uri)
        text = document.source
        cached = self._cache.get(uri)
        if cached is not None and cached.text == text:
            return cached
        result = self.analyzer.analyse(text, document.path or uri, self.workspace.position_encoding,
                                       _workspace_of(self.workspace.root_path, document.path),
                                       self._saved_as.get(uri))
        self._cache[uri] = result
        self.show_notes(result.notes)
        return result

    def show_notes(self, notes: tuple[str, ...]) -> None:
        """Tell the user once about a settings file or an inventory that cannot be used."""
        for note in notes:
            if note not in self._shown:
                self._shown.add(note)
                self.show_note(note)

    def read_saved_encoding(self, uri: str) -> None:
        """Look at the start of the document's saved file (on open and save): UTF-16 there is what `amct lint`
        reports, whatever text the editor decoded."""
        path = self.document(uri).path if uri.startswith("file:") else None
        found = saved_encoding(path) if path else None
        if found is None:
            self._saved_as.pop(uri, None)
        else:
            self._saved_as[uri] = found

    def forget(self, uri: str) -> None:
        self._cache.pop(uri, None)
        timer = self._timers.pop(uri, None)
        if timer is not None:
            timer.cancel()

    def publish(self, uri: str) -> None:
        """Lint the document now and push its diagnostics (push clients only)."""
        self._timers.pop(uri, None)
        if self.pull_diagnostics:
            return
        try:
            document = self.document(uri)
            items = convert.diagnostics(self.analysis(uri), uri)
        except Exception:  # keep serving: the file gets no diagnostics, the log says why
            self.log_exception(f"diagnostics for {uri}")
            return
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=items, version=document.version)
        )

    def publish_later(self, uri: str) -> None:
        """Debounce: lint once the edits have paused for ``debounce`` seconds."""
        timer = self._timers.pop(uri, None)
        if timer is not None:
            timer.cancel()
        if self.debounce <= 0:
            self.publish(uri)
            return
        loop = asyncio.get_running_loop()
        self._timers[uri] = loop.call_later(self.debounce, self.publish, uri)

    def log_exception(self, what: str) -> None:
        message = f"amct: internal error in {what}:\n{traceback.format_exc()}"
        log.error(message)
        try:
            self.window_log_message(types.LogMessageParams(type=types.MessageType.Error, message=message))
        except Exception:  # the transport is gone: nothing left to tell
            log.exception("cannot send window/logMessage")


def _workspace_of(root: str | None, path: str | None) -> str | None:
    """The workspace folder when the document is inside it (a header's inventory must then be inside it
    too); None for a document outside, whose inventory must be in its own folder."""
    if root is None or path is None:
        return None
    try:
        return root if Path(path).resolve().is_relative_to(Path(root).resolve()) else None
    except (OSError, RuntimeError):  # a loop of links
        return None


def _guarded(server: AmctLanguageServer, what: str, empty: Callable[[], Any]) -> Callable[[F], F]:
    """Wrap a handler so that an exception is logged and the empty answer returned."""

    def decorate(handler: F) -> F:
        @functools.wraps(handler)
        def wrapped(ls: AmctLanguageServer, params: Any) -> Any:
            try:
                return handler(ls, params)
            except JsonRpcException:  # the protocol's error for the request: the client gets it
                raise
            except Exception:
                server.log_exception(what)
                return empty()

        return wrapped  # type: ignore[return-value]

    return decorate


def create_server(debounce: float = 0.15) -> AmctLanguageServer:
    """A server ready for ``start_io()``; ``debounce`` is in seconds."""
    server = AmctLanguageServer(debounce)

    def feature(method: str, options: Any = None, empty: Callable[[], Any] = lambda: None):
        def decorate(handler: F) -> F:
            guarded = _guarded(server, method, empty)(handler)
            server.feature(method, options)(guarded)
            return handler

        return decorate

    @feature(types.INITIALIZE)
    def initialize(ls: AmctLanguageServer, params: types.InitializeParams) -> None:
        document = params.capabilities.text_document
        ls.pull_diagnostics = document is not None and document.diagnostic is not None
        ls.analyzer.snippets = completion.client_supports_snippets(params.capabilities)
        options = params.initialization_options
        if isinstance(options, dict) and options.get("target") is not None:
            from cfglang.capabilities import TargetError, get_target

            try:  # `initializationOptions: {"target": "amct-9.1"}`: like `--target`
                ls.analyzer.target = get_target(str(options["target"])).name
            except TargetError as exc:
                ls.show_notes((f"amct: {exc} (in the editor's initializationOptions)",))
            ls.analyzer.invalidate()

    @feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: AmctLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.read_saved_encoding(params.text_document.uri)
        ls.publish(params.text_document.uri)

    @feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: AmctLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.publish_later(params.text_document.uri)

    @feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: AmctLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
        # a save may come with edits to the settings or the inventory: read them again
        ls.analyzer.invalidate()
        ls._shown.clear()
        ls.forget(params.text_document.uri)
        ls.read_saved_encoding(params.text_document.uri)
        ls.publish(params.text_document.uri)

    @feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: AmctLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.analyzer.close(ls.workspace.get_text_document(uri).path or uri)
        ls.forget(uri)
        ls._saved_as.pop(uri, None)
        if not ls.pull_diagnostics:
            ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(ls: AmctLanguageServer, params: types.DidChangeWatchedFilesParams) -> None:
        ls.analyzer.invalidate()
        ls._shown.clear()
        for uri in list(ls._cache):
            ls.forget(uri)
            ls.publish(uri)

    @feature(
        types.TEXT_DOCUMENT_DIAGNOSTIC,
        types.DiagnosticOptions(inter_file_dependencies=True, workspace_diagnostics=False),
        empty=lambda: types.RelatedFullDocumentDiagnosticReport(items=[]),
    )
    def pull(ls: AmctLanguageServer, params: types.DocumentDiagnosticParams) -> types.RelatedFullDocumentDiagnosticReport:
        uri = params.text_document.uri
        return types.RelatedFullDocumentDiagnosticReport(items=convert.diagnostics(ls.analysis(uri), uri))

    @feature(types.TEXT_DOCUMENT_HOVER)
    def on_hover(ls: AmctLanguageServer, params: types.HoverParams) -> types.Hover | None:
        return hover.hover(ls.analysis(params.text_document.uri), params.position)

    @feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=TRIGGER_CHARACTERS),
        empty=lambda: [],
    )
    def on_completion(ls: AmctLanguageServer, params: types.CompletionParams) -> list[types.CompletionItem]:
        return completion.complete(ls.analysis(params.text_document.uri), params.position, ls.analyzer.snippets)

    @feature(types.TEXT_DOCUMENT_FORMATTING, empty=lambda: [])
    def on_formatting(ls: AmctLanguageServer, params: types.DocumentFormattingParams) -> list[types.TextEdit]:
        return actions.format_document(ls.analysis(params.text_document.uri), params.options)

    @feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=actions.KINDS),
        empty=lambda: [],
    )
    def on_code_action(ls: AmctLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        uri = params.text_document.uri
        return actions.code_actions(ls.analysis(uri), uri, params.range, params.context)

    @feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL, empty=lambda: [])
    def on_symbols(ls: AmctLanguageServer, params: types.DocumentSymbolParams) -> list[types.DocumentSymbol]:
        return symbols.document_symbols(ls.analysis(params.text_document.uri))

    return server
