"""Text protobuf reads its own way, the same in the CLI and the server: UTF-16 files, lone CR line breaks,
no-break spaces (formatted, as `lint` only warns about them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from google.protobuf import text_format

from cfglang._proto import calibration_config_pytorch_pb2 as pb
from cfglang.checker import check
from clirun import amct
from cfglang.encoding import lone_carriage_returns, wide_encoding
from cfglang.formatter import format_text
from cfglang.parser import parse
from tests.lsp.rawclient import RawServer

TEXT = 'batch_num: 2\nskip_layers: "conv1"\n'


@pytest.mark.parametrize("codec, name", [
    ("utf-16", "UTF-16 (little-endian, with a byte-order mark)"),
    ("utf-16-le", "UTF-16 (little-endian, without a byte-order mark)"),
    ("utf-16-be", "UTF-16 (big-endian, without a byte-order mark)"),
    ("utf-32", "UTF-32 (little-endian, with a byte-order mark)"),
])
def test_a_utf16_file_is_one_diagnostic_not_a_cascade(codec: str, name: str, tmp_path: Path) -> None:
    data = TEXT.encode(codec)
    assert wide_encoding(data) == name
    (diagnostic,) = parse(data).diagnostics
    assert diagnostic.code == "S001" and name in diagnostic.message
    path = tmp_path / "wide.cfg"
    path.write_bytes(data)
    status, out, _ = amct("lint", "--format", "concise", str(path))
    assert status == 1 and out.count("S001") == 1 and "UTF-" in out and "F001" not in out and "S002" not in out


def test_utf16_read_as_8_bit_text_by_an_editor_is_recognised_too() -> None:
    for decoded in (TEXT.encode("utf-16").decode("utf-8", "replace"), TEXT.encode("utf-16-be").decode("latin-1")):
        assert [d.code for d in parse(decoded).diagnostics] == ["S001"]


@pytest.mark.parametrize("text", [TEXT, "batch_num: 1\x00\n", "", "a", 'skip_layers: "特征"\n'])
def test_utf8_text_is_not_taken_for_utf16(text: str) -> None:
    assert wide_encoding(text) is None and wide_encoding(text.encode("utf-8")) is None


CR_ONLY = [
    'batch_num: 2\rskip_layers: "a"\r# a comment\ractivation_offset: true\r',
    "batch_num: 2 # the size\rbatch_num: 3\r",
    'skip_layers: "a\rb"\r',
    "common_config {\r  arq_quantize { channel_wise: false }\r}\r# the end\rdo_fusion: false\r",
    "batch_num: 1\r\n# crlf\r\ndo_fusion: false\r# lone\rbatch_num: 4\n",
]


@pytest.mark.parametrize("text", CR_ONLY)
def test_a_cr_only_file_is_read_as_protobuf_reads_it_with_one_warning(text: str) -> None:
    expected = pb.AMCTConfig()
    text_format.Merge(text, expected)
    result = check(text)
    assert result.config == expected
    assert [d.code for d in result.diagnostics if d.code.startswith("S")] == ["S021"]
    at, count = lone_carriage_returns(text)  # type: ignore[misc]
    (warning,) = [d for d in result.diagnostics if d.code == "S021"]
    assert warning.span.start == at and count >= 1
    # formatting keeps what protobuf reads (the comments keep the fields they took)
    again = pb.AMCTConfig()
    text_format.Merge(format_text(text), again)
    assert again == expected


def test_crlf_files_have_no_cr_warning() -> None:
    assert not check(TEXT.replace("\n", "\r\n")).diagnostics


def test_fmt_formats_a_no_break_space_that_lint_warns_about(tmp_path: Path) -> None:
    path = tmp_path / "nbsp.cfg"
    path.write_text("batch_num:\u00a02\n", encoding="utf-8")
    status, out, _ = amct("lint", "--format", "concise", str(path))
    assert status == 0 and "S019" in out
    status, _, err = amct("fmt", str(path))
    assert status == 0, err
    assert path.read_text(encoding="utf-8") == "batch_num: 2\n"
    assert amct("lint", str(path))[0] == 0


def test_lint_fix_replaces_a_no_break_space_and_fixes_the_rest_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nbsp-fix.cfg"
    path.write_text("batch_num:\u00a02  # amct: noqa: V001\n", encoding="utf-8")  # and an unused suppression
    status, out, err = amct("lint", "--fix", str(path))
    assert status == 0, out + err
    assert path.read_text(encoding="utf-8") == "batch_num: 2\n"


def test_fmt_still_refuses_syntax_errors(tmp_path: Path) -> None:
    path = tmp_path / "broken.cfg"
    path.write_text("batch_num:\u00a02 {\n", encoding="utf-8")
    status, _, err = amct("fmt", str(path))
    assert status == 1 and "not formatted: it has syntax errors" in err
    assert path.read_text(encoding="utf-8") == "batch_num:\u00a02 {\n"


def test_the_server_says_the_same(tmp_path: Path) -> None:
    server = RawServer()
    try:
        server.initialize(tmp_path)
        wide = (tmp_path / "wide.cfg").as_uri()
        diagnostics = server.open(wide, TEXT.encode("utf-16-le").decode("latin-1"))
        assert [d["code"] for d in diagnostics] == ["S001"] and "UTF-16" in diagnostics[0]["message"]
        # an editor that decoded a UTF-16 file shows clean text: the saved bytes say what `amct lint` says
        saved = tmp_path / "saved-utf16.cfg"
        saved.write_bytes(TEXT.encode("utf-16"))
        diagnostics = server.open(saved.as_uri(), TEXT)
        assert [d["code"] for d in diagnostics] == ["S001"] and "UTF-16" in diagnostics[0]["message"]
        fifo = tmp_path / "fifo.cfg"
        os.mkfifo(fifo)  # never opened for a blocking read: the server answers at once
        assert [d["code"] for d in server.open(fifo.as_uri(), "batch_num: 0\n")] == ["V001"]
        nbsp = (tmp_path / "nbsp.cfg").as_uri()
        assert [d["code"] for d in server.open(nbsp, "batch_num:\u00a02\n")] == ["S019"]
        edits = server.request("textDocument/formatting", {"textDocument": {"uri": nbsp}, "options": {
            "tabSize": 2, "insertSpaces": True}}, 1)["result"]
        assert [e["newText"] for e in edits] == ["batch_num: 2\n"]
    finally:
        server.close()


def test_saved_encoding_reads_the_start_of_regular_files_only(tmp_path: Path) -> None:
    from cfglang.encoding import saved_encoding

    wide, plain = tmp_path / "wide.cfg", tmp_path / "plain.cfg"
    wide.write_bytes(TEXT.encode("utf-16-be"))
    plain.write_text(TEXT, encoding="utf-8")
    assert saved_encoding(str(wide)) == "UTF-16 (big-endian, without a byte-order mark)"
    assert saved_encoding(str(plain)) is None
    assert saved_encoding("/dev/zero") is None and saved_encoding(str(tmp_path / "missing.cfg")) is None
    assert saved_encoding(str(tmp_path)) is None  # a folder
