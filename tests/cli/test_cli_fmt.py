"""``amct fmt`` in-process: writes, ``--check``, ``--diff``, syntax errors, settings, atomic writes."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from clirun import amct

MESSY = "batch_num:2;common_config{arq_quantize{quant_bits:8}}\n"
TIDY = "batch_num: 2\ncommon_config {\n  arq_quantize {\n    quant_bits: 8\n  }\n}\n"


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "amct.toml").write_text("", encoding="utf-8")
    (tmp_path / "messy.cfg").write_text(MESSY, encoding="utf-8")
    (tmp_path / "tidy.cfg").write_text(TIDY, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_fmt_rewrites_what_needs_it(work: Path) -> None:
    tidy_mtime = (work / "tidy.cfg").stat().st_mtime_ns
    assert amct("fmt", ".") == (0, "", "wrote messy.cfg: reformatted\n1 file reformatted, 1 file left unchanged\n")
    assert (work / "messy.cfg").read_text() == TIDY
    assert (work / "tidy.cfg").stat().st_mtime_ns == tidy_mtime  # an unchanged file is not rewritten
    assert amct("fmt", ".") == (0, "", "2 files left unchanged\n")


def test_check_and_diff_write_nothing(work: Path) -> None:
    assert amct("fmt", "--check", "messy.cfg", "tidy.cfg") == (
        1, "", "would reformat messy.cfg\n1 file would be reformatted, 1 file left unchanged\n")
    status, out, _ = amct("fmt", "--diff", "messy.cfg")
    assert status == 1
    assert out.startswith("--- messy.cfg\n+++ messy.cfg\n@@ -1 +1,6 @@\n-batch_num:2;")
    assert (work / "messy.cfg").read_text() == MESSY
    assert amct("fmt", "--check", "tidy.cfg")[0] == 0


def test_a_file_with_syntax_errors_is_reported_and_left_alone(work: Path) -> None:
    broken = b"batch_num: 2\ncommon_config {\n  arq_quantize {\n"
    (work / "broken.cfg").write_bytes(broken)
    status, out, err = amct("fmt", "broken.cfg", "messy.cfg")
    assert status == 1 and out == ""
    assert (work / "broken.cfg").read_bytes() == broken
    assert (work / "messy.cfg").read_text() == TIDY  # the other file is still formatted
    assert "broken.cfg:" in err and "error[S" in err and "^" in err
    assert "amct fmt: broken.cfg: not formatted: it has syntax errors\n" in err


def test_settings_choose_the_indent(work: Path) -> None:
    (work / "amct.toml").write_text("[format]\nindent-width = 4\n", encoding="utf-8")
    amct("fmt", "messy.cfg")
    assert (work / "messy.cfg").read_text() == TIDY.replace("  ", "    ")
    (work / "messy.cfg").write_text(MESSY, encoding="utf-8")
    amct("fmt", "--isolated", "messy.cfg")
    assert (work / "messy.cfg").read_text() == TIDY


def test_line_endings_a_bom_and_the_final_newline_follow_the_file(work: Path) -> None:
    (work / "crlf.cfg").write_bytes(b"\xef\xbb\xbfbatch_num:2;do_fusion:true")
    amct("fmt", "crlf.cfg")
    assert (work / "crlf.cfg").read_bytes() == b"\xef\xbb\xbfbatch_num: 2\ndo_fusion: true"
    (work / "crlf.cfg").write_bytes(b"a {\r\nb: 1 }\r\n")
    amct("fmt", "crlf.cfg")
    assert (work / "crlf.cfg").read_bytes() == b"a {\r\n  b: 1\r\n}\r\n"


def test_writes_are_atomic(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An interrupted write (here: a failing rename) leaves the old file whole and no temporary file."""
    def broken_replace(src: str, dst: str) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", broken_replace)
    status, _, err = amct("fmt", "messy.cfg")
    assert status == 2 and err == ("amct fmt: cannot write `messy.cfg`: input/output error\n"
                                   "1 file not read or not written\n")
    assert (work / "messy.cfg").read_text() == MESSY
    assert sorted(p.name for p in work.iterdir()) == ["amct.toml", "messy.cfg", "tidy.cfg"]


def test_stdin_goes_to_stdout(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(MESSY.encode()), encoding="utf-8"))
    assert amct("fmt", "-") == (0, TIDY, "")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(MESSY.encode()), encoding="utf-8"))
    assert amct("fmt", "--check", "-") == (1, "", "would reformat -\n")
