"""The server follows the protocol on the wire: lifecycle errors, invalid messages, broken frames, exit status.

Driven by a raw client (bytes on the wire, :mod:`tests.lsp.rawclient`), each
test with a server process of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lsp.rawclient import RawServer

HOVER = {"textDocument": {"uri": "file:///nowhere/x.cfg"}, "position": {"line": 0, "character": 0}}


@pytest.fixture
def server() -> Iterator[RawServer]:
    started = RawServer()
    yield started
    started.close()


def error_code(answer: dict) -> int | None:
    return answer.get("error", {}).get("code")


def test_the_lifecycle_errors_and_a_clean_exit(server: RawServer, tmp_path: Path) -> None:
    uri = (tmp_path / "early.cfg").as_uri()
    assert error_code(server.request("textDocument/hover", HOVER, 1)) == -32002  # ServerNotInitialized
    server.send("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "amct-cfg", "version": 1,
                                                          "text": "batch_num: 0\n"}})  # dropped
    assert "capabilities" in server.initialize()["result"]
    assert error_code(server.request("initialize", {"capabilities": {}}, 2)) == -32600  # only once
    # the notification before `initialize` was dropped: the document is not open
    answer = server.request("textDocument/hover", {**HOVER, "textDocument": {"uri": uri}}, 3)
    assert error_code(answer) == -32602 and "not an open document" in answer["error"]["message"]
    assert server.request("shutdown", None, 4) == {"jsonrpc": "2.0", "id": 4, "result": None}
    assert error_code(server.request("textDocument/hover", HOVER, 5)) == -32600  # InvalidRequest
    server.send("exit")
    assert server.wait() == 0


def test_exit_without_shutdown_exits_1(server: RawServer) -> None:
    server.initialize()
    server.send("exit")
    assert server.wait() == 1


def test_the_input_ending_without_exit_exits_1(server: RawServer) -> None:
    server.initialize()
    assert server.process.stdin is not None
    server.process.stdin.close()
    assert server.wait() == 1


BAD_MESSAGES = [
    (b"{not json", -32700),
    (b"\xff\xfe{}", -32700),  # not UTF-8
    (b"[" * 100_000 + b"]" * 100_000, -32700),  # nested too deeply for the JSON reader
    (b'{"jsonrpc": "2.0", "id": 7, "method": "x", "params": ' + b"1" * 5000 + b"}", -32700),  # a long integer
    (b"[1, 2]", -32600),  # a batch: not a message
    (b'"text"', -32600),
    (b'{"jsonrpc": "1.0", "id": 7, "method": "shutdown"}', -32600),
    (b'{"jsonrpc": "2.0", "id": 7, "method": 5}', -32600),
    (b"{}", -32600),  # no id, no method: still an invalid request, answered with id null
    (b'{"jsonrpc": "2.0", "id": 7, "method": "textDocument/hover", "params": {"position": "top"}}', -32602),
    (b'{"jsonrpc": "2.0", "id": 7, "method": "textDocument/hover"}', -32602),
    (b'{"jsonrpc": "2.0", "id": 7, "method": "no/such/method"}', -32601),
]


def test_each_bad_message_gets_its_error_and_the_server_goes_on(server: RawServer) -> None:
    server.initialize()
    for body, code in BAD_MESSAGES:
        server.frame(body)
        answer = server.receive(lambda m: "error" in m)
        assert (error_code(answer), answer["id"]) in ((code, None), (code, 7)), body[:60]
    # and the next request is answered as usual
    assert server.request("shutdown", None, 8)["result"] is None
    server.send("exit")
    assert server.wait() == 0


def test_a_request_about_a_document_that_is_not_open_reads_nothing(server: RawServer) -> None:
    server.initialize()
    for n, uri in enumerate(("file:///dev/zero", "file:///etc/passwd")):
        answer = server.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}}, n)
        assert error_code(answer) == -32602


def test_a_huge_content_length_allocates_nothing_and_the_end_of_input_exits(server: RawServer) -> None:
    server.initialize()
    server.write(b"Content-Length: 99999999999\r\n\r\n{}")
    assert server.process.stdin is not None
    server.process.stdin.close()
    assert server.wait() == 1
    assert "MemoryError" not in server.stderr


@pytest.mark.parametrize("frame, said", [
    (b"Content-Length: ten\r\n\r\n{}", "`Content-Length` is not a number"),
    (b"Content-Type: application/json\r\n\r\n{}", "without `Content-Length`"),
    (b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", "two different"),
    (b"X" * 5000, "longer than 1024 bytes"),
    (b"garbage without a colon\r\n", "without `:`"),
])
def test_an_unreadable_frame_is_logged_and_the_server_exits(server: RawServer, frame: bytes, said: str) -> None:
    server.initialize()
    server.write(frame)  # the input stays open: the server must not wait for more
    assert server.wait() == 1
    assert said in server.stderr


def test_a_cr_only_document_has_the_protocols_lines(server: RawServer, tmp_path: Path) -> None:
    server.initialize(tmp_path)
    uri = (tmp_path / "cr.cfg").as_uri()
    diagnostics = server.open(uri, "batch_num: 1\rbogus_field: 1\r")
    unknown = [d for d in diagnostics if d["code"] == "F001"]
    assert [d["range"]["start"] for d in unknown] == [{"line": 1, "character": 0}]
    assert any(d["code"] == "S021" for d in diagnostics)  # read as protobuf reads it: one line


def test_an_edit_after_a_form_feed_lands_where_the_editor_put_it(server: RawServer, tmp_path: Path) -> None:
    """pygls splits lines at form feeds and U+2028 (str.splitlines); the protocol does not."""
    server.initialize(tmp_path)
    uri = (tmp_path / "ff.cfg").as_uri()
    server.open(uri, 'skip_layers: "a\u2028b"\x0c\nbatch_num: 0\n')
    server.send("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [
        {"range": {"start": {"line": 1, "character": 11}, "end": {"line": 1, "character": 12}}, "text": "4"}]})
    assert not [d for d in server.diagnostics(uri, 2) if d["code"] == "V001"]  # batch_num: 4 now


def test_max_file_size_applies_in_the_server(server: RawServer, tmp_path: Path) -> None:
    (tmp_path / "amct.toml").write_text("max-file-size = 100\n", encoding="utf-8")
    server.initialize(tmp_path)
    uri = (tmp_path / "big.cfg").as_uri()
    diagnostics = server.open(uri, "batch_num: 0\n" * 20)
    assert [d["code"] for d in diagnostics] == ["S015"]


def test_a_broken_header_inventory_is_a_diagnostic_and_the_file_is_still_checked(
        server: RawServer, tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (tmp_path / "outside.json").write_text('{"version": 1, "layers": []}', encoding="utf-8")
    inventories = {
        "deep": "[" * 100_000,  # nested too deeply
        "long": '{"version": 1, "layers": [{"name": "x", "type": "Conv2d", "n": ' + "9" * 5000 + "}]}",
        "secret": '{"aws_secret_access_key": "hunter2-xyz"}',  # never quoted back
    }
    named = {"device": "/dev/zero", "outside": "../../outside.json", "fifo": "fifo.json",
             **{k: "layers.json" for k in inventories}}
    server.initialize(workspace)
    for case, path in named.items():
        (workspace / case).mkdir()
        if case == "fifo":
            os.mkfifo(workspace / case / path)  # never waited on: nobody will ever write to it
        if case in inventories:
            (workspace / case / "layers.json").write_text(inventories[case], encoding="utf-8")
        uri = (workspace / case / "broken.cfg").as_uri()
        diagnostics = server.open(uri, f"# amct: layers={path}\nbatch_num: 0\n")
        assert [d.get("code") for d in diagnostics] == [None, "V001"], case
        assert diagnostics[0]["range"]["start"] == {"line": 0, "character": 15}
        assert "cannot use the layer inventory" in diagnostics[0]["message"]
        assert "hunter2" not in diagnostics[0]["message"] and "aws_secret" not in diagnostics[0]["message"]


def test_a_document_in_a_message_over_the_limit_gets_its_s015_and_the_server_goes_on(server: RawServer,
                                                                                  tmp_path: Path) -> None:
    from cfglang.lsp.transport import MAX_MESSAGE_SIZE

    server.initialize(tmp_path)
    uri = (tmp_path / "huge.cfg").as_uri()
    head = ('{"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {"uri": "%s", '
            '"languageId": "amct-cfg", "version": 1, "text": "' % uri).encode()
    body = head + b"a" * (MAX_MESSAGE_SIZE + 10 - len(head)) + b'"}}}'
    server.frame(body)
    wanted = ("textDocument/publishDiagnostics", "window/showMessage")
    got = {m["method"]: m["params"] for m in (server.receive(lambda m: m.get("method") in wanted, timeout=120)
                                              for _ in wanted)}
    assert got["textDocument/publishDiagnostics"]["uri"] == uri
    assert [d["code"] for d in got["textDocument/publishDiagnostics"]["diagnostics"]] == ["S015"]
    assert str(len(body)) in got["window/showMessage"]["message"]
    assert server.request("shutdown", None, 1)["result"] is None  # the next frame is served
