"""Files a document or a settings file names (`# amct: layers=PATH`, `layers = ...`): a regular file inside
the project, bounded, opened without blocking, and never quoted in messages."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from cfglang.fsutil import DEFAULT_MAX_SIZE, FileTooLarge, ReadError, inside_root, read_file
from cfglang.inventory import Inventory, InventoryError

from clirun import amct
from security_helpers import amct_process

LAYERS = {"version": 1, "layers": [{"name": "conv1", "type": "Conv2d"}]}


def _header(path: str) -> str:
    return f"# amct: layers={path}\nbatch_num: 2\n"


def _lint_header(work: Path, target: str) -> tuple[int, str, str]:
    (work / "quant.cfg").write_text(_header(target), encoding="utf-8")
    return amct("lint", "--format", "concise", "quant.cfg")


def test_a_header_naming_a_device_is_refused_without_reading(work: Path) -> None:
    os.mknod(work / "zero", stat.S_IFCHR | 0o666, os.makedev(1, 5))  # /dev/zero, inside the project
    status, out, err = _lint_header(work, "zero")
    assert status == 2
    assert "quant.cfg:1:" in err and "it is a device, expected a regular file" in err
    assert "checked without the model" in err and out == ""


def test_a_header_naming_dev_zero_is_outside_the_project(work: Path) -> None:
    status, _, err = _lint_header(work, "/dev/zero")
    assert status == 2 and "is outside the project folder" in err


def test_a_header_naming_a_fifo_does_not_hang(work: Path) -> None:
    os.mkfifo(work / "fifo.json")
    (work / "quant.cfg").write_text(_header("fifo.json"), encoding="utf-8")
    done = amct_process("lint", "quant.cfg", cwd=work, timeout=60)  # a hang is a timeout here
    assert done.returncode == 2
    assert b"it is a FIFO, expected a regular file" in done.stderr


@pytest.mark.parametrize("target", ["../outside.json", "{abs}", "link.json", "sub/../../outside.json"])
def test_a_header_cannot_leave_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "amct.toml").write_text("", encoding="utf-8")
    (project / "sub").mkdir()
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps(LAYERS), encoding="utf-8")
    (project / "link.json").symlink_to(outside)
    monkeypatch.chdir(project)
    status, _, err = _lint_header(project, target.format(abs=outside))
    assert status == 2 and "is outside the project folder" in err, err


def test_settings_layers_cannot_leave_the_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (tmp_path / "outside.json").write_text(json.dumps(LAYERS), encoding="utf-8")
    (project / "amct.toml").write_text('layers = "../outside.json"\n', encoding="utf-8")
    (project / "quant.cfg").write_text("batch_num: 2\n", encoding="utf-8")
    monkeypatch.chdir(project)
    status, _, err = amct("lint", "quant.cfg")
    assert status == 2 and "cannot use the layer inventory of `layers`" in err and "outside the project" in err
    # on the command line the user may name any file
    assert amct("lint", "--layers", str(tmp_path / "outside.json"), "quant.cfg")[0] == 0


def test_a_header_inside_the_project_still_works(work: Path) -> None:
    (work / "model").mkdir()
    (work / "model" / "layers.json").write_text(json.dumps(LAYERS), encoding="utf-8")
    (work / "quant.cfg").write_text(_header("model/layers.json") + 'skip_layers: "conv9"\n', encoding="utf-8")
    status, out, _ = amct("lint", "--format", "concise", "quant.cfg")
    assert status == 1 and "M001" in out


def test_a_named_inventory_is_bounded_by_max_file_size(work: Path) -> None:
    (work / "amct.toml").write_text("max-file-size = 64\n", encoding="utf-8")
    (work / "layers.json").write_text(json.dumps(LAYERS) + " " * 100, encoding="utf-8")
    status, _, err = _lint_header(work, "layers.json")
    assert status == 2 and "more than the limit of 64 bytes" in err


def test_messages_about_an_inventory_never_quote_its_content(work: Path) -> None:
    secret = {"aws_secret_access_key": "hunter2-do-not-print", "layers": [{"name": "hunter3", "type": 5}],
              "version": 1}
    (work / "secrets.json").write_text(json.dumps(secret), encoding="utf-8")
    status, out, err = _lint_header(work, "secrets.json")
    assert status == 2
    for word in ("aws_secret_access_key", "hunter2", "hunter3"):
        assert word not in out + err
    assert "`(top level)`: an unknown key" in err and "`layers[0].type`: found an integer" in err


def test_consistency_messages_name_places_not_values() -> None:
    data = {"version": 1, "layers": [{"name": "s3cr3t", "type": "Conv2d"}, {"name": "s3cr3t", "type": "Linear"}],
            "foldable": [{"conv": "t0ken", "bn": "s3cr3t"}]}
    with pytest.raises(InventoryError) as info:
        Inventory.from_dict(data, "layers.json")
    message = str(info.value)
    assert "s3cr3t" not in message and "t0ken" not in message
    assert "`layers[1].name`: a layer listed twice" in message and "`foldable[0].conv`: names no layer" in message


# ---------------------------------------------------------------- the one read function


def test_read_file_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    for path, kind in (("/dev/zero", "a device"), (tmp_path / "fifo", "a FIFO"), (tmp_path, "a folder")):
        with pytest.raises(ReadError, match=f"it is {kind}, expected a regular file"):
            read_file(path)


def test_read_file_bounds_streams_named_on_the_command_line() -> None:
    with pytest.raises(FileTooLarge) as info:
        read_file("/dev/zero", limit=1000, special=True)
    assert info.value.size is None and "more than the limit of 1000 bytes" in str(info.value)


def test_read_file_refuses_a_large_file_from_its_size_before_reading(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.cfg"
    with big.open("wb") as handle:
        handle.truncate(500 * 1024 * 1024)  # sparse: 500 MB that take no disk
    reads: list[int] = []
    real = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: reads.append(n) or real(fd, n))
    with pytest.raises(FileTooLarge) as info:
        read_file(big)
    assert info.value.size == 500 * 1024 * 1024 and info.value.limit == DEFAULT_MAX_SIZE
    assert reads == []


def test_inside_root(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "loop").symlink_to(tmp_path / "a" / "loop")
    assert inside_root(tmp_path / "a" / "x.json", tmp_path)
    assert not inside_root(tmp_path / "a" / ".." / ".." / "x.json", tmp_path)
    assert not inside_root("/etc/passwd", tmp_path)
    assert not inside_root(tmp_path / "a" / "loop", tmp_path)  # a loop of links is not provably inside


def test_a_header_with_config_elsewhere_stays_in_the_files_folder(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "settings").mkdir()
    (tmp_path / "settings" / "amct.toml").write_text("", encoding="utf-8")
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "layers.json").write_text(json.dumps(LAYERS), encoding="utf-8")
    (tmp_path / "work" / "quant.cfg").write_text(_header("layers.json") + 'skip_layers: "conv9"\n')
    (tmp_path / "outside.json").write_text(json.dumps(LAYERS), encoding="utf-8")
    monkeypatch.chdir(tmp_path / "work")
    status, out, err = amct("lint", "--config", "../settings/amct.toml", "--format", "concise", "quant.cfg")
    assert status == 1 and "M001" in out, err
    (tmp_path / "work" / "quant.cfg").write_text(_header("../outside.json"))
    status, _, err = amct("lint", "--config", "../settings/amct.toml", "quant.cfg")
    assert status == 2 and "outside the project folder" in err


def test_a_walk_reads_only_regular_files_inside_the_named_folder(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A repository's `x.cfg` linking to a terminal, a FIFO or a secret outside is reported, never read."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "amct.toml").write_text("", encoding="utf-8")
    (project / "good.cfg").write_text("batch_num: 2\n", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("aws_secret_access_key: 1\n", encoding="utf-8")
    (project / "secret.cfg").symlink_to(tmp_path / "secret.txt")
    (project / "tty.cfg").symlink_to("/dev/tty")
    os.mkfifo(project / "fifo.cfg")
    (project / "alias.cfg").symlink_to("good.cfg")  # inside: read once, as good.cfg
    monkeypatch.chdir(project)
    done = amct_process("lint", "--format", "concise", ".", cwd=project, timeout=60)  # a hang is a timeout
    err = done.stderr.decode()
    assert done.returncode == 2 and done.stdout == b""
    assert "cannot read `secret.cfg`: a symbolic link to a file outside `.`" in err
    assert "cannot read `tty.cfg`: it is a device" in err and "cannot read `fifo.cfg`: it is a FIFO" in err
    assert "aws_secret_access_key" not in err
    # named on the command line, the file outside is the user's choice
    status, out, _ = amct("lint", "--format", "concise", "secret.cfg")
    assert status == 1 and "aws_secret_access_key" in out
