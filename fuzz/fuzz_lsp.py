"""Coverage-guided fuzz target over the language server's wire: frames, messages, requests (atheris).

Each input is run through a fresh in-process server (``cfglang.lsp.server``
with ``cfglang.lsp.transport.serve``), reading from memory, after a valid
``initialize`` so that the features are reached, with a message limit of
:data:`FUZZ_MESSAGE_LIMIT` bytes so that dropping an oversized message is
reached by inputs of a few KiB. Its first byte picks how the
rest is read:

* even: the bytes go on the wire as they are (headers, lengths, bodies: the
  framing is fuzzed);
* odd: the rest is split at ``\\x00\\n`` into message bodies, each sent in a
  correct frame (the JSON-RPC messages and the LSP params are fuzzed).

The promises checked: the server returns an exit status (0 or 1) and never
raises or hangs; everything it writes is well-formed frames of JSON-RPC 2.0
objects; a response carries a result or an error with an integer code, and
an id that the input holds (or null, for a message whose id could not be
read); the valid ``initialize`` is answered. (A client may reuse an id: each
request is answered, so one id can be answered twice.)

Run (docs/testing.md has the details)::

    python fuzz/fuzz_lsp.py fuzz/corpus-lsp fuzz/seeds-lsp -max_total_time=3600 -timeout=20

Without atheris, ``python fuzz/fuzz_lsp.py --replay FILE...`` replays inputs.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

SEEDS = Path(__file__).resolve().parent / "seeds-lsp"
FUZZ_MESSAGE_LIMIT = 1024
_INITIALIZE = {"jsonrpc": "2.0", "id": "fuzz-init", "method": "initialize",
               "params": {"processId": None, "rootUri": None, "capabilities": {}}}


class FuzzFinding(AssertionError):
    """A broken promise of the server."""


def frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def wire(data: bytes) -> bytes:
    """The bytes the server reads for one fuzz input."""
    head = frame(json.dumps(_INITIALIZE).encode())
    if not data or data[0] % 2 == 0:
        return head + data[1:]
    return head + b"".join(frame(body) for body in data[1:].split(b"\x00\n"))


def _frames(output: bytes) -> list[dict[str, Any]]:
    """The server's output as messages; a finding when it is not well-formed frames."""
    messages = []
    rest = output
    while rest:
        head, sep, rest = rest.partition(b"\r\n\r\n")
        if not sep:
            raise FuzzFinding(f"output ends inside a header: {head[:80]!r}")
        lengths = [line.split(b":", 1)[1] for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")]
        if len(lengths) != 1:
            raise FuzzFinding(f"an output frame without one Content-Length: {head[:80]!r}")
        length = int(lengths[0])
        body, rest = rest[:length], rest[length:]
        if len(body) != length:
            raise FuzzFinding("an output frame shorter than its Content-Length")
        message = json.loads(body)
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            raise FuzzFinding(f"output that is not a JSON-RPC 2.0 object: {body[:80]!r}")
        messages.append(message)
    return messages


def run_server(stream: bytes) -> tuple[int, list[dict[str, Any]]]:
    """Serve ``stream`` in process; the exit status and the messages written."""
    from pygls.io_ import StdoutWriter

    from cfglang.lsp.server import create_server
    from cfglang.lsp.transport import serve

    server = create_server(debounce=0)
    output = io.BytesIO()
    server.protocol.set_writer(StdoutWriter(output))
    source = io.BytesIO(stream)
    # a message limit of 1 KiB (the real one is 97 MiB) so that dropping an oversized message is fuzzed too
    status = asyncio.run(serve(server.protocol, source.read1, FUZZ_MESSAGE_LIMIT, server.dropped))
    return status, _frames(output.getvalue())


def one_input(data: bytes) -> None:
    """The fuzz target: raises on a broken promise, returns otherwise."""
    stream = wire(data)
    status, messages = run_server(stream)
    if status not in (0, 1):
        raise FuzzFinding(f"exit status {status!r}")
    answered: set[str] = set()
    for message in messages:
        if "method" in message:
            continue  # a notification or a request from the server
        key = json.dumps(message.get("id"))
        if "error" in message:
            if not isinstance(message["error"].get("code"), int):
                raise FuzzFinding(f"an error without an integer code: {message}")
        elif "result" not in message:
            raise FuzzFinding(f"a response without a result or an error: {message}")
        if message.get("id") is not None:
            if key.encode() not in stream and str(message["id"]).encode() not in stream:
                raise FuzzFinding(f"a response to {key}, an id the input does not hold")
            answered.add(key)
    if json.dumps("fuzz-init") not in answered:
        raise FuzzFinding("the valid initialize was not answered")


def replay(paths: list[Path]) -> list[tuple[Path, BaseException]]:
    """Run ``one_input`` on each file; return the failures."""
    logging.disable(logging.CRITICAL)  # the server logs every bad message it meets: the findings are what counts
    failures = []
    for path in paths:
        try:
            one_input(path.read_bytes())
        except Exception as e:  # noqa: BLE001 - any exception is a finding
            failures.append((path, e))
    return failures


def main(argv: list[str]) -> int:
    if len(argv) > 1 and argv[1] == "--replay":
        failures = replay([Path(p) for p in argv[2:]])
        for path, e in failures:
            sys.stderr.write(f"{path}: {type(e).__name__}: {e}\n")
        return 1 if failures else 0
    import atheris

    logging.disable(logging.CRITICAL)
    with atheris.instrument_imports(include=["cfglang"]):
        import cfglang.lsp.server  # noqa: F401
    atheris.Setup(argv, one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
