"""The server's end of the wire: bounded frames, and a message loop that never hangs.

pygls reads a frame with ``readline()`` and ``read(Content-Length)`` on stdin:
a header line without an end, or ``Content-Length: 99999999999``, is read or
allocated whole (the server died with MemoryError); a header it does not
understand makes it wait for a frame that never comes; a body that is not JSON,
or whose params do not fit the method, is dropped without an answer, and the
client waits for ever. This module replaces that loop:

* a header line is at most :data:`MAX_HEADER_LINE` bytes, a header at most
  :data:`MAX_HEADER_LINES` lines, and a body at most :data:`MAX_MESSAGE_SIZE`
  bytes (enough for a document at the size limit in the worst JSON escaping);
  a larger body is read in small chunks and dropped, with a message to the
  user, and the server goes on with the next frame;
* a header the server cannot read (no ``Content-Length``, a length that is not
  a number, a line too long, the input ending inside a frame) is logged, and
  the server exits with status 1: where the next frame starts is unknown;
* a body that is not JSON gets the error ``ParseError`` (-32700), a JSON value
  that is not a message ``InvalidRequest`` (-32600), and a request whose params
  do not fit its method ``InvalidParams`` (-32602); then the next frame.

The frames are read in a thread of their own (the event loop runs the debounce
timers meanwhile), one frame ahead of the loop at most, so a client that
floods the server does not fill its memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pygls.exceptions import JsonRpcInvalidParams, JsonRpcInvalidRequest, JsonRpcMethodNotFound, JsonRpcParseError

from cfglang.parser import DEFAULT_MAX_SIZE

if TYPE_CHECKING:  # pragma: no cover
    from cfglang.lsp.protocol import AmctProtocol

__all__ = ["MAX_HEADER_LINE", "MAX_HEADER_LINES", "MAX_MESSAGE_SIZE", "FramingError", "Oversized", "Frames",
           "dispatch", "serve"]

log = logging.getLogger(__name__)

MAX_HEADER_LINE = 1024  # bytes, line break included
MAX_HEADER_LINES = 16
# JSON spells a character in at most 6 bytes per byte of its UTF-8 (`\u0001`), so a message carrying
# a document of the default size limit fits; a larger document gets its S015 only when its message fits
MAX_MESSAGE_SIZE = 6 * DEFAULT_MAX_SIZE + (1 << 20)
_CHUNK = 1 << 16


class FramingError(Exception):
    """The input is not a sequence of frames: where the next message starts is unknown."""


_HEAD = 4096  # bytes of a dropped body kept, to tell which document it carried
_OPENED_URI = re.compile(rb'"method"\s*:\s*"textDocument/did(?:Open|Change)".*?"uri"\s*:\s*"((?:[^"\\]|\\.)*)"'
                         rb'|"uri"\s*:\s*"((?:[^"\\]|\\.)*)".*?"method"\s*:\s*"textDocument/did(?:Open|Change)"',
                         re.DOTALL)


@dataclass(frozen=True)
class Oversized:
    """A frame whose body was over the limit: read and dropped (its first bytes kept in ``head``)."""

    length: int
    head: bytes = b""

    def document(self) -> str | None:
        """The URI of the document the dropped message opened or changed, when its first bytes tell."""
        match = _OPENED_URI.search(self.head)
        if match is None:
            return None
        try:
            uri = json.loads(b'"' + (match.group(1) or match.group(2)) + b'"')
        except ValueError:
            return None
        return uri if isinstance(uri, str) else None


def _shown(line: bytes) -> str:
    """A header line for a message: printable ASCII, at most 60 characters."""
    text = line.rstrip(b"\r\n").decode("ascii", "backslashreplace")
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    return text if len(text) <= 60 else text[:57] + "..."


class Frames:
    """LSP frames (``Content-Length`` header, blank line, body) from ``read(n)``, which returns at most ``n``
    bytes and blocks until at least one is there (``b""`` at the end of the input)."""

    def __init__(self, read: Callable[[int], bytes], limit: int = MAX_MESSAGE_SIZE) -> None:
        self._read = read
        self._buffer = bytearray()
        self._ended = False
        self.limit = limit

    def _fill(self, wanted: int = _CHUNK) -> bool:
        if self._ended:
            return False
        chunk = self._read(max(min(wanted, 1 << 20), _CHUNK))
        if not chunk:
            self._ended = True
            return False
        self._buffer += chunk
        return True

    def _line(self) -> bytes | None:
        """The next header line (line break included); None at the end of the input."""
        while True:
            end = self._buffer.find(b"\n", 0, MAX_HEADER_LINE)
            if end >= 0:
                line = bytes(self._buffer[: end + 1])
                del self._buffer[: end + 1]
                return line
            if len(self._buffer) >= MAX_HEADER_LINE:
                raise FramingError(f"a header line longer than {MAX_HEADER_LINE} bytes: "
                                   f"`{_shown(bytes(self._buffer[:60]))}`")
            if not self._fill():
                if self._buffer:
                    raise FramingError(f"the input ended inside a header line: `{_shown(bytes(self._buffer))}`")
                return None

    def _body(self, length: int) -> bytes:
        while len(self._buffer) < length:
            if not self._fill(length - len(self._buffer)):
                raise FramingError(f"the input ended {length - len(self._buffer)} bytes short of a message of "
                                   f"{length} bytes (its `Content-Length`)")
        body = bytes(self._buffer[:length])
        del self._buffer[:length]
        return body

    def _skip(self, length: int) -> Oversized | None:
        """Drop a body of ``length`` bytes, keeping its first bytes; None when the input ends first."""
        while len(self._buffer) < min(length, _HEAD) and self._fill():
            pass
        dropped = Oversized(length, bytes(self._buffer[: min(length, _HEAD)]))
        while True:
            taken = min(length, len(self._buffer))
            del self._buffer[:taken]
            length -= taken
            if not length:
                return dropped
            if not self._fill(length):
                return None

    def next(self) -> bytes | Oversized | None:
        """The next frame's body, :class:`Oversized` for one over the limit (dropped), None at the end of
        the input; :class:`FramingError` when the input is not a frame."""
        length: int | None = None
        lines = 0
        while True:
            line = self._line()
            if line is None:
                if lines:
                    raise FramingError("the input ended inside a message header")
                return None
            content = line.rstrip(b"\r\n")
            if not content:
                if not lines:  # a blank line between frames: tolerated
                    continue
                if length is None:
                    raise FramingError("a message header without `Content-Length`")
                break
            lines += 1
            if lines > MAX_HEADER_LINES:
                raise FramingError(f"a message header of more than {MAX_HEADER_LINES} lines")
            name, colon, value = content.partition(b":")
            if not colon:
                raise FramingError(f"a header line without `:`: `{_shown(line)}`")
            if name.strip().lower() != b"content-length":
                continue  # Content-Type, or a header this server does not use
            value = value.strip()
            if not value.isdigit():
                raise FramingError(f"`Content-Length` is not a number of bytes: `{_shown(line)}`")
            if length is not None and int(value) != length:
                raise FramingError("a message header with two different `Content-Length`s")
            length = int(value)
        if length > self.limit:
            return self._skip(length)
        return self._body(length)


def _request_id(data: dict[str, Any]) -> int | str | None:
    """The message's id when it is one a response can carry, else None."""
    msg_id = data.get("id")
    return msg_id if isinstance(msg_id, (int, str)) and not isinstance(msg_id, bool) else None


def dispatch(protocol: AmctProtocol, body: bytes) -> None:
    """Hand one frame's body to the protocol, or answer the error the JSON-RPC specification names."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, too deep, an integer too long
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        log.warning("a message of %d bytes that is not JSON: %s", len(body), reason)
        protocol.reply_error(None, JsonRpcParseError(f"the message is not JSON: {reason}"))
        return
    if not isinstance(data, dict):
        log.warning("a message that is not a JSON object: %s", type(data).__name__)
        protocol.reply_error(None, JsonRpcInvalidRequest(
            f"a message is a JSON object, found {'an array' if isinstance(data, list) else type(data).__name__}"))
        return
    method = data.get("method")
    request = "id" in data and method is not None
    if data.get("jsonrpc") != "2.0" or (method is not None and not isinstance(method, str)) or (
            "id" in data and _request_id(data) is None and data["id"] is not None):
        log.warning("a message that is not JSON-RPC 2.0 (method %r)", method)
        if method is not None or not ("result" in data or "error" in data):  # a response gets no answer
            protocol.reply_error(_request_id(data), JsonRpcInvalidRequest(
                "not a JSON-RPC 2.0 message: `jsonrpc` must be \"2.0\", `method` a string and `id` a number or "
                "a string"))
        return
    try:
        message = protocol.structure_message(data)
    except Exception as exc:  # the params do not fit the method
        log.warning("a message with invalid params for %r: %s", method, exc)
        if request:
            known = method in protocol.fm.features or method in protocol.fm.builtin_features
            protocol.reply_error(_request_id(data), JsonRpcInvalidParams(f"invalid params for `{method}`")
                                 if known else JsonRpcMethodNotFound.of(method))
        return
    protocol.handle_message(message)


def _pump(frames: Frames, inbox: asyncio.Queue[Any], loop: asyncio.AbstractEventLoop) -> None:
    """The reading thread: each frame (or the error, or None at the end) into ``inbox``, one at a time."""
    while True:
        try:
            item: Any = frames.next()
        except FramingError as exc:
            item = exc
        except OSError as exc:
            item = FramingError(f"cannot read the input: {exc}")
        put = inbox.put(item)
        try:
            asyncio.run_coroutine_threadsafe(put, loop).result()
        except BaseException:  # the loop has stopped: nobody is reading any more
            put.close()  # never scheduled, or cancelled: no "never awaited" warning
            return
        if item is None or isinstance(item, FramingError):
            return


async def serve(protocol: AmctProtocol, read: Callable[[int], bytes], limit: int = MAX_MESSAGE_SIZE,
                dropped: Callable[[Oversized, int], None] | None = None) -> int:
    """Serve frames from ``read`` until ``exit``, the end of the input or a framing error; the exit status.

    ``dropped(message, limit)`` tells the user about a message that was dropped for its size.
    """
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[Any] = asyncio.Queue(maxsize=1)
    threading.Thread(target=_pump, args=(Frames(read, limit), inbox, loop), name="amct-lsp-reader",
                     daemon=True).start()
    while protocol.exit_code is None:
        item = await inbox.get()
        if item is None:
            if not protocol.shut_down:
                log.warning("the input ended without `shutdown` and `exit`: exiting with status 1")
            return 0 if protocol.shut_down else 1
        if isinstance(item, FramingError):
            log.error("amct lsp: unreadable input, exiting: %s", item)
            return 1
        if isinstance(item, Oversized):
            log.warning("a message of %d bytes was dropped: the limit is %d bytes", item.length, limit)
            if dropped is not None:
                dropped(item, limit)
            continue
        try:
            dispatch(protocol, item)
        except BrokenPipeError:
            log.error("amct lsp: the client closed the connection")
            return 1
        except Exception:  # a slip in the protocol layer: the next message may fare better
            log.exception("amct lsp: cannot handle a message")
        await asyncio.sleep(0)  # let the handlers' futures and timers run between messages
    return protocol.exit_code

