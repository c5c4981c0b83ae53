"""Project settings: which file wins, what the command line overrides, and clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cfglang.fsutil import atomic_write, discover
from cfglang.settings import (
    FormatOptions,
    Settings,
    SettingsError,
    SettingsResolver,
    find_settings_file,
    is_enabled,
    load_settings_file,
    parse_codes,
)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_closest_settings_file_wins(tmp_path: Path) -> None:
    _write(tmp_path / "pyproject.toml", '[tool.amct]\nignore = ["F009"]\n')
    _write(tmp_path / "a" / "amct.toml", 'select = ["F"]\n[format]\nindent-width = 4\n')
    _write(tmp_path / "a" / "b" / "pyproject.toml", "[project]\nname = 'x'\n")  # no [tool.amct]: skipped
    deep = tmp_path / "a" / "b" / "c.cfg"
    assert find_settings_file(deep.parent) == tmp_path / "a" / "amct.toml"
    resolver = SettingsResolver()
    assert resolver.for_path(deep).select == ("F",)
    assert resolver.for_path(deep).format == FormatOptions(indent_width=4)
    assert resolver.for_path(tmp_path / "top.cfg").ignore == ("F009",)


def test_amct_toml_wins_over_pyproject_in_one_folder(tmp_path: Path) -> None:
    _write(tmp_path / "pyproject.toml", "[tool.amct]\nstrict = true\n")
    _write(tmp_path / "amct.toml", "strict = false\n")
    assert find_settings_file(tmp_path) == tmp_path / "amct.toml"


def test_command_line_overrides_config_and_isolated_ignores_files(tmp_path: Path) -> None:
    _write(tmp_path / "amct.toml", 'ignore = ["F009"]\nstrict = true\n')
    cfg = tmp_path / "x.cfg"
    assert SettingsResolver(ignore=("V",)).for_path(cfg).ignore == ("V",)
    assert SettingsResolver(ignore=("V",)).for_path(cfg).strict is True
    assert SettingsResolver(isolated=True).for_path(cfg) == Settings()
    other = _write(tmp_path / "elsewhere" / "custom.toml", 'select = ["V"]\n')
    assert SettingsResolver(config=other).for_path(cfg).select == ("V",)


def test_pyproject_given_with_config_needs_the_table(tmp_path: Path) -> None:
    path = _write(tmp_path / "pyproject.toml", "[project]\nname = 'x'\n")
    with pytest.raises(SettingsError, match=r"has no \[tool.amct\] table"):
        load_settings_file(path)


@pytest.mark.parametrize(("body", "message"), [
    ("selct = ['F']\n", r"unknown key `selct` in the top level of .*amct.toml \(expected one of `format`"),
    ("select = ['Q123']\n", r"unknown code `Q123` in `select`"),
    ("select = 3\n", r"found int for `select`"),
    ("strict = 'yes'\n", r"found `'yes'` for `strict`"),
    ("[format]\nindent-width = -1\n", r"found `-1` for `indent-width`"),
    ("[format]\nline-ending = 'cr'\n", r"found `'cr'` for `line-ending`"),
    ("[format]\nwidth = 1\n", r"unknown key `width` in the format table"),
    ("select = [\n", r"invalid TOML in"),
])
def test_bad_settings_are_one_clear_message(tmp_path: Path, body: str, message: str) -> None:
    path = _write(tmp_path / "amct.toml", body)
    with pytest.raises(SettingsError, match=message):
        load_settings_file(path)


def test_selection_prefers_the_more_specific_of_select_and_ignore() -> None:
    assert is_enabled("F009", (), ())
    assert not is_enabled("F009", (), ("F",))
    assert not is_enabled("F009", ("F",), ("F00",))
    assert is_enabled("F009", ("F009",), ("F",))
    assert not is_enabled("V001", ("F",), ())
    assert is_enabled("V001", ("ALL",), ("F",))
    assert not is_enabled("F001", ("F",), ("F",))  # a tie goes to ignore
    assert is_enabled("S001", ("F",), ("S",))  # syntax errors are always reported


def test_codes_are_normalised_and_checked() -> None:
    assert parse_codes(["f, l001", "ALL"], "x") == ("F", "L001", "ALL")
    with pytest.raises(SettingsError, match="unknown code `Z9` in x"):
        parse_codes(["Z9"], "x")


def test_discovery_recurses_into_the_config_suffixes(tmp_path: Path) -> None:
    for name in ("a.cfg", "b/c.txtpb", "b/d.textproto", "b/e.pbtxt", "b/f.txt", ".hidden/g.cfg",
                 "__pycache__/h.cfg"):
        _write(tmp_path / name, "")
    found = [p.relative_to(tmp_path).as_posix() for p in discover([tmp_path])]
    assert found == ["a.cfg", "b/c.txtpb", "b/d.textproto", "b/e.pbtxt"]
    # a file named explicitly is taken whatever its suffix, and only once
    assert discover([tmp_path / "b/f.txt", tmp_path / "b/f.txt"]) == [tmp_path / "b/f.txt"]
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        discover([tmp_path / "missing"])


def test_atomic_write_replaces_in_place_and_keeps_the_mode(tmp_path: Path) -> None:
    target = _write(tmp_path / "x.cfg", "old\n")
    os.chmod(target, 0o640)
    atomic_write(target, b"new\r\n")
    assert target.read_bytes() == b"new\r\n"
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.cfg"]  # no temporary file left


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path: Path, monkeypatch) -> None:
    target = _write(tmp_path / "x.cfg", "old\n")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError):
        atomic_write(target, b"new\n")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.cfg"]
