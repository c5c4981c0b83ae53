"""The protocol's lifecycle and document sync, on top of pygls' ``LanguageServerProtocol``.

pygls answers any request at any time: before ``initialize`` a handler meets a
workspace that does not exist yet, after ``shutdown`` a request is dropped
without an answer (the client waits for ever), and ``exit`` ends the process
from inside a handler. Here, as the specification says:

* before ``initialize``, a request gets the error ``ServerNotInitialized``
  (-32002) and a notification is dropped; ``exit`` is always accepted;
* a second ``initialize``, and any request after ``shutdown``, gets
  ``InvalidRequest`` (-32600); notifications after ``shutdown`` are dropped;
* ``exit`` stops the message loop with status 0 after ``shutdown``, 1 without
  (:attr:`AmctProtocol.exit_code`; :mod:`cfglang.lsp.transport` returns it).

``didChange`` applies the editor's edits with the protocol's own line breaks
(:func:`cfglang.lsp.positions.apply_change`); a change to a document that is
not open is logged and ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any
from urllib.parse import unquote

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidRequest, JsonRpcServerNotInitialized
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from cfglang.lsp.positions import apply_change

__all__ = ["AmctProtocol"]

log = logging.getLogger(__name__)


class AmctProtocol(LanguageServerProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initialize_received = False
        self.exit_code: int | None = None  # set by `exit`: the loop stops

    @property
    def shut_down(self) -> bool:
        return self._shutdown

    def reply_error(self, msg_id: int | str | None, error: JsonRpcException) -> None:
        """Answer a request with an error (``msg_id`` None: the request's id could not be read)."""
        if msg_id is None:  # the serializer leaves a None out, and JSON-RPC wants `"id": null` here
            self._send_data({"jsonrpc": self.VERSION, "id": None,
                             "error": {"code": error.code, "message": error.message}})
            return
        self._send_response(msg_id, error=error.to_response_error())

    def handle_message(self, message: Any) -> None:
        method = getattr(message, "method", None)
        if method is None:  # a response to one of the server's requests
            super().handle_message(message)
            return
        request = hasattr(message, "id")
        if method == types.EXIT:
            self.exit_code = 0 if self._shutdown else 1
            log.info("exit received (%s shutdown): stopping", "after" if self._shutdown else "without")
            return
        refusal: JsonRpcException | None = None
        if not self.initialize_received:
            if method == types.INITIALIZE and request:
                self.initialize_received = True
            else:
                refusal = JsonRpcServerNotInitialized(
                    f"`{method}` before `initialize`: the server is not initialized yet")
        elif self._shutdown:
            refusal = JsonRpcInvalidRequest(f"`{method}` after `shutdown`: the server is shutting down")
        elif method == types.INITIALIZE:
            refusal = JsonRpcInvalidRequest("a second `initialize`: the server is initialized already")
        if refusal is None:
            super().handle_message(message)
        elif request:
            self.reply_error(message.id, refusal)
        else:
            log.warning("dropped the notification `%s`: %s", method, refusal.message)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams
                                      ) -> Generator[Any, Any, None]:
        uri = params.text_document.uri
        document = self.workspace.text_documents.get(unquote(uri))
        if document is None:
            log.warning("`didChange` for `%s`, which is not open: ignored", uri)
            return
        text = document.source
        encoding = self.workspace.position_encoding or types.PositionEncodingKind.Utf16
        for change in params.content_changes:
            text = apply_change(text, change, encoding)
        self.workspace.put_text_document(types.TextDocumentItem(
            uri=document.uri, language_id=document.language_id or "", version=params.text_document.version,
            text=text))
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None
