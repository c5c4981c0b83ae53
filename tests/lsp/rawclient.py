"""A JSON-RPC client that writes bytes on the wire: frames of its own making, broken ones included.

pytest-lsp speaks the protocol correctly; these tests need to send what a
broken or hostile client sends (a wrong ``Content-Length``, a body that is not
JSON, requests out of order) and to see the server's exit status.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


class RawServer:
    """``amct lsp`` as a subprocess; a thread reads its frames into a queue."""

    def __init__(self, *extra: str, cwd: Path = ROOT) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "amct_cli", "lsp", "--debounce-ms", "0", *extra],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._stderr: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    self.messages.put(None)
                    return
                if line == b"\r\n":
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            assert length is not None, "the server sent a frame without Content-Length"
            self.messages.put(json.loads(stream.read(length)))

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)

    @property
    def stderr(self) -> str:
        return b"".join(self._stderr).decode("utf-8", "replace")

    def write(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def frame(self, body: bytes) -> None:
        self.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def send(self, method: str, params: Any = None, msg_id: int | str | None = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        if msg_id is not None:
            message["id"] = msg_id
        self.frame(json.dumps(message).encode("utf-8"))

    def receive(self, match=lambda m: True, timeout: float = 20.0) -> dict[str, Any]:
        """The next message that ``match`` accepts (others are skipped)."""
        while True:
            message = self.messages.get(timeout=timeout)
            if message is None:
                raise EOFError(f"the server closed its output; stderr:\n{self.stderr}")
            if match(message):
                return message

    def response(self, msg_id: int | str | None, timeout: float = 20.0) -> dict[str, Any]:
        return self.receive(lambda m: "method" not in m and m.get("id") == msg_id, timeout)

    def request(self, method: str, params: Any, msg_id: int | str) -> dict[str, Any]:
        self.send(method, params, msg_id)
        return self.response(msg_id)

    def initialize(self, root: Path = ROOT) -> dict[str, Any]:
        answer = self.request("initialize", {"processId": os.getpid(), "rootUri": root.as_uri(),
                                             "capabilities": {}}, "init")
        self.send("initialized", {})
        return answer

    def open(self, uri: str, text: str, version: int = 1) -> list[dict[str, Any]]:
        """Open a document; its first published diagnostics."""
        self.send("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "amct-cfg",
                                                            "version": version, "text": text}})
        return self.diagnostics(uri, version)

    def diagnostics(self, uri: str, version: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        message = self.receive(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                               and m["params"]["uri"] == uri and m["params"].get("version") == version, timeout)
        return message["params"]["diagnostics"]

    def wait(self, timeout: float = 20.0) -> int:
        """The exit status, once the server has exited by itself."""
        return self.process.wait(timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
