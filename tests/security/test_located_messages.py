"""Every failure is a located message, never an internal error or a hang."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from clirun import amct
from security_helpers import ROOT, amct_process, as_nobody

GOOD = "batch_num: 2\n"


def _no_crash(err: str) -> None:
    assert "internal error" not in err and "Traceback" not in err and "Exception ignored" not in err


def test_a_symbolic_link_loop_matched_by_a_walk(work: Path) -> None:
    (work / "good.cfg").write_text(GOOD)
    (work / "loop.cfg").symlink_to("loop.cfg")
    (work / "sub").mkdir()
    (work / "sub" / "up").symlink_to("..")  # a folder loop: not followed
    status, out, err = amct("lint", "--format", "concise", ".")
    _no_crash(err)
    assert status == 2 and "cannot read `loop.cfg`: a loop of symbolic links" in err and out == ""
    status, _, err = amct("fmt", ".")
    assert status == 2 and "loop.cfg" in err and "1 file left unchanged" in err


def test_an_empty_path(work: Path) -> None:
    for command in ("lint", "fmt"):
        status, _, err = amct(command, "")
        assert status == 2 and "an empty path, expected a file or a folder" in err


@pytest.mark.parametrize("pyproject, found", [
    ("tool = {amct = 5}\n", "found an integer for `tool.amct`"),
    ("[[tool.amct]]\nselect = [\"F\"]\n", "found an array of tables (`[[tool.amct]]`)"),
    ("tool = {amct = []}\n", "found an array for `tool.amct`"),
])
def test_tool_amct_of_the_wrong_type(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pyproject: str,
                                     found: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text(pyproject)
    (tmp_path / "a.cfg").write_text(GOOD)
    for argv in (["lint", "a.cfg"], ["fmt", "a.cfg"], ["plan", "a.cfg"]):
        status, _, err = amct(*argv)
        _no_crash(err)
        assert status == 2 and found in err and "expected a table (`[tool.amct]`)" in err


def test_settings_that_are_not_utf8_or_too_deep(work: Path) -> None:
    (work / "a.cfg").write_text(GOOD)
    (work / "amct.toml").write_bytes(b'select = ["\xff"]\n')
    status, _, err = amct("lint", "a.cfg")
    assert status == 2 and "amct.toml: not UTF-8 text (invalid start byte at byte 11)" in err
    (work / "amct.toml").write_text("x = " + "[" * 100_000)
    status, _, err = amct("lint", "a.cfg")
    _no_crash(err)
    assert status == 2 and "invalid TOML" in err


def test_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    for i in range(400):
        (tmp_path / f"f{i:03}.cfg").write_text(f"unknown_{i}: 1\n")
    (tmp_path / "amct.toml").write_text("")
    process = subprocess.Popen([sys.executable, "-P", "-m", "amct_cli", "lint", "."], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert process.stdout.readline().startswith(b"f000.cfg:1:1:")
    process.stdout.close()  # what `head -1` does
    status = process.wait(120)
    err = process.stderr.read().decode()
    _no_crash(err)
    assert status == 141 and err == ""


def test_stdout_on_a_full_device(tmp_path: Path) -> None:
    (tmp_path / "a.cfg").write_text("unknown: 1\n" * 50)
    (tmp_path / "amct.toml").write_text("")
    with open("/dev/full", "w") as full:
        done = amct_process("lint", "a.cfg", cwd=tmp_path, stdout=full, stderr=subprocess.PIPE)
    err = done.stderr.decode()
    _no_crash(err)
    assert done.returncode == 2 and "cannot write the output: no space left on device" in err


# ---------------------------------------------------------------- without root's powers


def _warm(folder: Path) -> None:
    """Run the commands once as root, so that the unprivileged child needs no new import."""
    (folder / "warm.cfg").write_text(GOOD)
    amct("lint", str(folder / "warm.cfg"))
    amct("fmt", "--check", str(folder / "warm.cfg"))
    (folder / "warm.cfg").unlink()


def test_an_explicit_path_under_an_unsearchable_folder(shared: Path) -> None:
    locked = shared / "locked"
    locked.mkdir()
    (locked / "a.cfg").write_text(GOOD)
    locked.chmod(0o700)  # root's own: not searchable for the unprivileged user
    _warm(shared)
    status, _, err = as_nobody(lambda: amct("lint", str(locked / "a.cfg")))
    _no_crash(err)
    assert status == 2 and f"cannot read `{locked / 'a.cfg'}`: permission denied" in err


def test_an_unsearchable_folder_under_a_walked_path_is_reported(shared: Path) -> None:
    (shared / "open").mkdir()
    (shared / "open" / "bad.cfg").write_text("unknown: 1\n")
    (shared / "open" / "locked").mkdir()
    (shared / "open" / "locked" / "hidden.cfg").write_text(GOOD)
    (shared / "open" / "locked").chmod(0o700)
    _warm(shared)
    status, out, err = as_nobody(lambda: amct("lint", "--format", "concise", str(shared / "open")))
    _no_crash(err)
    assert status == 2 and f"cannot search `{shared / 'open' / 'locked'}`: permission denied" in err
    assert "bad.cfg:1:1: error[F001]" in out  # the rest is still checked
