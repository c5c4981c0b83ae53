"""No edit is ever lost: `amct fmt`, `amct lint --fix` and every `-o` go through `fsutil.atomic_write`."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cfglang.fsutil import WriteConflict, WriteError, atomic_write, remove_strays

from clirun import amct
from security_helpers import ROOT

MESSY = "batch_num:   2\n"
TIDY = "batch_num: 2\n"
FIXABLE = "batch_num: 1\nbatch_num: 2\n"  # the earlier copy is deleted by a safe fix
LAYERS = {"version": 1, "layers": [{"name": "conv1", "type": "Conv2d"}]}


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# ---------------------------------------------------------------- atomic_write itself


def test_a_symbolic_link_stays_a_link_and_its_target_is_written(tmp_path: Path) -> None:
    (tmp_path / "real.cfg").write_text("old\n")
    (tmp_path / "link.cfg").symlink_to("real.cfg")
    atomic_write(tmp_path / "link.cfg", b"new\n")
    assert (tmp_path / "link.cfg").is_symlink() and (tmp_path / "real.cfg").read_text() == "new\n"


def test_hard_links_mode_owner_and_group_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "a.cfg"
    target.write_text("old\n")
    os.link(target, tmp_path / "b.cfg")
    atomic_write(target, b"new\n")
    assert (tmp_path / "b.cfg").read_text() == "new\n" and target.stat().st_nlink == 2
    single = tmp_path / "c.cfg"
    single.write_text("old\n")
    single.chmod(0o640)
    if os.geteuid() == 0:
        os.chown(single, 1234, 5678)
    before = single.stat()
    atomic_write(single, b"new\n")
    after = single.stat()
    assert single.read_text() == "new\n" and after.st_ino != before.st_ino  # replaced by a rename
    assert (after.st_mode & 0o7777, after.st_uid, after.st_gid) == (0o640, before.st_uid, before.st_gid)
    assert _temps(tmp_path) == []


def test_a_new_file_gets_0666_less_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "new.cfg", b"x\n")
        existing = tmp_path / "old.cfg"
        existing.write_text("x\n")
        existing.chmod(0o644)
        atomic_write(existing, b"y\n")
    finally:
        os.umask(old)
    assert (tmp_path / "new.cfg").stat().st_mode & 0o777 == 0o644
    assert existing.stat().st_mode & 0o777 == 0o644


def test_a_read_only_file_is_reported_not_replaced(tmp_path: Path) -> None:
    target = tmp_path / "ro.cfg"
    target.write_text("old\n")
    target.chmod(0o444)  # root may write it, but its owner said no
    with pytest.raises(WriteError, match=r"it is read-only \(mode 0444\)"):
        atomic_write(target, b"new\n")
    assert target.read_text() == "old\n"


def test_a_file_changed_since_it_was_read_is_not_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "a.cfg"
    target.write_text("old\n" + "x" * 12_000_000)
    with pytest.raises(WriteConflict, match="it changed since it was read"):
        atomic_write(target, b"new\n", expected=b"old\n")
    assert target.stat().st_size == 12_000_004 and _temps(tmp_path) == []


def test_devices_are_written_through_never_replaced() -> None:
    atomic_write("/dev/null", b"x\n")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    with pytest.raises(WriteError, match="no space left on device"):
        atomic_write("/dev/full", b"x\n")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_fifo_is_written_through_or_refused_never_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(WriteError, match="a FIFO with no reader"):
        atomic_write(fifo, b"x\n")
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader is there before the write
    try:
        atomic_write(fifo, b"through\n")
        assert os.read(fd, 100) == b"through\n"
    finally:
        os.close(fd)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_strays_of_killed_writers_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stray = tmp_path / f".a.cfg.amct-{dead.stdout.strip()}-0000.tmp"
    live = tmp_path / f".a.cfg.amct-{os.getpid()}-0001.tmp"
    stray.write_text("half")
    live.write_text("being written")
    assert remove_strays(tmp_path, "a.cfg") == [stray]
    atomic_write(tmp_path / "a.cfg", b"x\n")
    assert _temps(tmp_path) == [live.name]


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, 130)])
def test_a_signal_during_a_write_leaves_no_temporary_file(tmp_path: Path, signum: int, status: int) -> None:
    (tmp_path / "messy.cfg").write_text(MESSY)
    (tmp_path / "amct.toml").write_text("")
    script = textwrap.dedent("""
        import os, sys, time
        def slow_fsync(fd):  # the write is under way: the temporary file exists
            print("writing", flush=True)
            time.sleep(60)
        os.fsync = slow_fsync
        from amct_cli import main
        sys.argv = ["amct", "fmt", "messy.cfg"]
        main()
    """)
    # SIGINT at its default in the child, as in a terminal (a job started in the background, as some CI
    # runners start the suite, inherits SIGINT ignored, and Python then keeps ignoring it)
    process = subprocess.Popen([sys.executable, "-P", "-c", script], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)},
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert process.stdout.readline() == b"writing\n"
    assert len(_temps(tmp_path)) == 1
    process.send_signal(signum)
    assert process.wait(30) == status
    assert _temps(tmp_path) == [] and (tmp_path / "messy.cfg").read_text() == MESSY


# ---------------------------------------------------------------- through the commands


def test_fmt_does_not_overwrite_an_edit_made_while_formatting(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import amct_cli.fmt as fmt

    (work / "messy.cfg").write_text(MESSY)
    real = fmt._formatted

    def formatted_while_edited(data, options):
        with (work / "messy.cfg").open("a") as handle:  # another program appends meanwhile
            handle.write("# appended\n" * 1000)
        return real(data, options)

    monkeypatch.setattr(fmt, "_formatted", formatted_while_edited)
    status, _, err = amct("fmt", "messy.cfg")
    assert status == 2 and "cannot write `messy.cfg`: it changed since it was read" in err
    assert (work / "messy.cfg").read_text() == MESSY + "# appended\n" * 1000


def test_lint_fix_does_not_overwrite_an_edit_made_while_fixing(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cfglang.lint

    (work / "fix.cfg").write_text(FIXABLE)
    real = cfglang.lint.fix_text

    def fixed_while_edited(*args, **kwargs):
        (work / "fix.cfg").write_text(FIXABLE + "do_fusion: true\n")
        return real(*args, **kwargs)

    monkeypatch.setattr(cfglang.lint, "fix_text", fixed_while_edited)
    status, _, err = amct("lint", "--fix", "fix.cfg")
    assert status == 2 and "it changed since it was read" in err
    assert (work / "fix.cfg").read_text() == FIXABLE + "do_fusion: true\n"


def test_one_unwritable_file_does_not_stop_fmt_or_fix(work: Path) -> None:
    for name in ("a.cfg", "b.cfg", "c.cfg"):
        (work / name).write_text(MESSY)
    (work / "b.cfg").chmod(0o444)
    status, _, err = amct("fmt", ".")
    assert status == 2 and "cannot write `b.cfg`: it is read-only" in err
    assert [(work / n).read_text() for n in ("a.cfg", "b.cfg", "c.cfg")] == [TIDY, MESSY, TIDY]
    assert "2 files reformatted, 1 file not read or not written" in err
    for name in ("a.cfg", "c.cfg"):
        (work / name).write_text(FIXABLE)
    (work / "b.cfg").chmod(0o644)
    (work / "b.cfg").write_text(FIXABLE)
    (work / "b.cfg").chmod(0o444)
    status, _, err = amct("lint", "--fix", ".")
    assert status == 2 and err.count("cannot write") == 1 and "b.cfg" in err
    assert [(work / n).read_text() for n in ("a.cfg", "b.cfg", "c.cfg")] == ["batch_num: 2\n", FIXABLE,
                                                                           "batch_num: 2\n"]


def test_plan_output_to_devices_stdout_and_new_files(work: Path, capfd: pytest.CaptureFixture) -> None:
    (work / "quant.cfg").write_text(TIDY)
    (work / "layers.json").write_text(json.dumps(LAYERS))
    base = ["plan", "quant.cfg", "--layers", "layers.json"]
    status, _, err = amct(*base, "-o", "/dev/null", "--force")
    assert status == 0 and stat.S_ISCHR(os.stat("/dev/null").st_mode), err
    status, _, err = amct(*base, "-o", "/dev/null")  # nothing is overwritten: no --force needed
    assert status == 0, err
    status, out, _ = amct(*base, "-o", "-")
    assert status == 0 and json.loads(out)["version"]
    status, out, _ = amct(*base, "-o", "/dev/stdout")
    assert status == 0 and json.loads(out)["version"]
    status, _, err = amct(*base, "-o", "/dev/full")
    assert status == 2 and err.strip().endswith("no space left on device") and len(err.splitlines()) == 1
    (work / "out").mkdir()
    status, _, err = amct(*base, "-o", "out")
    assert status == 2 and "`out` is a folder" in err
    old = os.umask(0o022)
    try:
        assert amct(*base, "-o", "plan.json")[0] == 0
        (work / "plan.json").chmod(0o644)
        assert amct(*base, "-o", "plan.json", "--force")[0] == 0
    finally:
        os.umask(old)
    assert (work / "plan.json").stat().st_mode & 0o777 == 0o644


def test_fmt_and_fix_remove_strays_even_when_nothing_changes(work: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (work / "tidy.cfg").write_text(TIDY)
    for command in (["fmt", "tidy.cfg"], ["lint", "--fix", "tidy.cfg"]):
        stray = work / f".tidy.cfg.amct-{dead.stdout.strip()}-00ff.tmp"
        stray.write_text("half")
        status, _, err = amct(*command)
        assert status == 0 and not stray.exists(), err
    stray.write_text("half")
    assert amct("fmt", "--check", "tidy.cfg")[0] == 0 and stray.exists()  # --check writes nothing
