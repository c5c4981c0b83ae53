"""Bounded work for any input: every read stops at the size limit, JSON nesting and integers are bounded,
and each refusal is a located message."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from cfglang.jsonlimits import MAX_DEPTH, JSONLimitError, loads

from clirun import amct

DEEP = "[" * 100_000 + "]" * 100_000
LONG_INTEGER = "9" * 5000


@pytest.mark.parametrize("argv", [
    ["lint", "--format", "concise", "/dev/zero"],
    ["fmt", "/dev/zero"],
    ["plan", "/dev/zero", "--layers", "layers.json"],
    ["explain", "zero.cfg", "--layer", "conv1", "--layers", "layers.json"],  # `explain` wants a config suffix
])
def test_dev_zero_as_a_config_is_s015_with_bounded_memory(work: Path, argv: list[str]) -> None:
    (work / "layers.json").write_text(json.dumps({"version": 1, "layers": []}), encoding="utf-8")
    (work / "amct.toml").write_text("max-file-size = 100000\n", encoding="utf-8")
    (work / "zero.cfg").symlink_to("/dev/zero")
    tracemalloc.start()
    try:
        status, out, err = amct(*argv)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert status in (1, 2) and "S015" in out + err and "more than the limit" in out + err
    assert peak < 20 * 1024 * 1024


def test_dev_zero_elsewhere_is_one_line(work: Path) -> None:
    (work / "quant.cfg").write_text("batch_num: 2\n", encoding="utf-8")
    for argv in (["convert", "/dev/zero", "--to", "cfg"], ["lint", "--layers", "/dev/zero", "quant.cfg"]):
        status, _, err = amct(*argv)
        assert status == 2 and "more than the limit of 16777216 bytes" in err and len(err.splitlines()) == 1


def test_max_file_size_applies_to_fmt_plan_and_convert(work: Path) -> None:
    text = "batch_num: 2\n" + "# padding\n" * 20
    (work / "quant.cfg").write_text(text, encoding="utf-8")
    (work / "amct.toml").write_text("max-file-size = 64\n", encoding="utf-8")
    (work / "layers.json").write_text(json.dumps({"version": 1, "layers": []}), encoding="utf-8")
    status, _, err = amct("fmt", "quant.cfg")
    assert status == 1 and "S015" in err and (work / "quant.cfg").read_text() == text
    status, _, err = amct("plan", "quant.cfg", "--layers", "layers.json")
    assert status == 1 and "S015" in err
    status, _, err = amct("convert", "quant.cfg", "--to", "json")
    assert status == 1 and "S015" in err


def test_a_500_mb_file_is_refused_unread(work: Path) -> None:
    big = work / "big.cfg"
    with big.open("wb") as handle:
        handle.truncate(500 * 1024 * 1024)
    tracemalloc.start()
    try:
        status, out, _ = amct("lint", "--format", "concise", "big.cfg")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert status == 1 and "S015" in out and "524288000 bytes" in out
    assert peak < 5 * 1024 * 1024


@pytest.mark.parametrize("text, message", [
    (DEEP, f"1:{MAX_DEPTH + 1}: nested more than {MAX_DEPTH} arrays and objects deep"),
    ('{"version": ' + LONG_INTEGER + "}", "1:13: an integer of 5000 digits, more than the limit of 100"),
    ('{"a":\n  -' + LONG_INTEGER + "}", "2:3: an integer of 5000 digits"),
    ("[" * 500 + "]" * 500, f"nested more than {MAX_DEPTH}"),  # within json's own recursion limit
])
def test_json_limits_are_located_errors(text: str, message: str) -> None:
    with pytest.raises(JSONLimitError) as info:
        loads(text, "x.json")
    assert str(info.value).startswith("x.json:") and message in str(info.value)


def test_json_within_the_limits_reads_as_json_does() -> None:
    text = json.dumps({"a": [[[1, 2.5, "x[{"]]], "b": 10 ** 50, "c": None})
    assert loads(text, "x.json") == json.loads(text)
    assert loads(text.encode("utf-8"), "x.json") == json.loads(text)


@pytest.mark.parametrize("how", ["--layers", "header", "convert"])
@pytest.mark.parametrize("text, message", [(DEEP, "nested more than"), ("[" + LONG_INTEGER + "]", "digits")])
def test_json_inputs_of_the_cli(work: Path, how: str, text: str, message: str) -> None:
    (work / "bad.json").write_text(text, encoding="utf-8")
    (work / "quant.cfg").write_text("# amct: layers=bad.json\nbatch_num: 2\n" if how == "header"
                                    else "batch_num: 2\n", encoding="utf-8")
    argv = {"--layers": ["lint", "--layers", "bad.json", "quant.cfg"], "header": ["lint", "quant.cfg"],
            "convert": ["convert", "bad.json", "--to", "cfg"]}[how]
    status, _, err = amct(*argv)
    assert status == 2 and "bad.json:1:" in err and message in err
    assert "internal error" not in err and "Traceback" not in err


def test_the_library_reads_config_files_within_the_limit(tmp_path: Path) -> None:
    from cfglang.checker import ConfigError, load, read_source

    big = tmp_path / "big.cfg"
    with big.open("wb") as handle:
        handle.truncate(500 * 1024 * 1024)
    with pytest.raises(ConfigError) as info:
        load(big)
    assert [d.code for d in info.value.diagnostics] == ["S015"]
    (tmp_path / "ok.cfg").write_text("batch_num: 2\n", encoding="utf-8")
    assert read_source(tmp_path / "ok.cfg") == b"batch_num: 2\n"
    with pytest.raises(OSError, match="cannot read .*: no such file or directory"):
        read_source(tmp_path / "missing.cfg")
