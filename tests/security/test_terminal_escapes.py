"""No output format sends a control character from a file, a file name or a message to the terminal."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from amct_cli import run
from cfglang.lint import lint
from cfglang.render import RENDERERS, FileReport, printable, render

from clirun import amct

# OSC 52 (write the clipboard), erase line, BEL, a C1 CSI, a right-to-left override, DEL, CR, backspace
HOSTILE = "\x1b]52;c;ZXZpbA==\x07\x1b[2K\x9b31m\u202e\x7f\r\x08"
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
SOURCE = f"batch_num: 2\n# {HOSTILE}\nunknown_{HOSTILE}: 3\nskip_layers: \"{HOSTILE}\"\n"


def _report(name: str = f"a{HOSTILE}.cfg") -> list[FileReport]:
    result = lint(SOURCE, name)
    assert result.diagnostics
    return [FileReport(name, result.text, result.diagnostics)]


@pytest.mark.parametrize("fmt", list(RENDERERS))
def test_no_format_prints_control_characters(fmt: str) -> None:
    out = render(_report(), fmt, color=False)
    assert not RAW.search(out.replace("\n", "")), repr(out[:400])


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_json_formats_keep_the_values(fmt: str) -> None:
    out = render(_report(), fmt)
    data = json.loads(out)
    paths = [item["path"] for item in data] if fmt == "json" else [
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in data["runs"][0]["results"]]
    assert paths and all("\x1b" in path or "%1B" in path for path in paths)  # the same value, escaped in the text


def test_the_full_format_shows_escapes_and_keeps_the_carets_aligned() -> None:
    text = "batch_num: 2\n# \x1b[2K\nfoo\x07: 1\n"
    result = lint(text, "a.cfg")
    out = render([FileReport("a.cfg", result.text, result.diagnostics)], "full")
    assert "foo\\x07: 1" in out
    lines = out.splitlines()
    source = next(i for i, line in enumerate(lines) if line.endswith("foo\\x07: 1"))
    assert lines[source + 1].index("^") == lines[source].index("foo")


def test_colour_codes_are_still_ours() -> None:
    out = render(_report(), "full", color=True)
    assert "\x1b[1;31m" in out  # the error label's own colour
    assert "\x1b]52" not in out and "\x07" not in out and "\x9b" not in out


def test_printable() -> None:
    assert printable("a\x1bb\tc\nd\x9b\u202e") == "a\\x1bb\tc\nd\\x9b\\u202e"


def test_cli_messages_escape_file_names(work: Path) -> None:
    name = f"x{HOSTILE}.cfg".replace("/", "")
    (work / name).write_text("batch_num:   2\nfoo: 1\n", encoding="utf-8")  # not formatted either
    for argv in (["lint", "--format", "concise", "."], ["lint", "."], ["lint", "--format", "github", "."],
                 ["lint", "missing" + HOSTILE], ["fmt", "--check", "."]):
        status, out, err = amct(*argv)
        assert status in (1, 2) and not RAW.search((out + err).replace("\n", "")), (argv, out + err)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plan_tables_and_explanations_escape_names_and_source_lines(work: Path) -> None:
    layers = {"version": 1, "layers": [{"name": f"conv{HOSTILE}", "type": "Conv2d"}]}
    (work / "layers.json").write_text(json.dumps(layers), encoding="utf-8")
    comment = HOSTILE.replace("\r", "")  # a lone CR is a line break of its own (S021)
    (work / "quant.cfg").write_text(f"batch_num: 2  # {comment}\n", encoding="utf-8")
    status, out, err = amct("plan", "quant.cfg", "--layers", "layers.json", "--format", "table")
    assert status == 0 and "conv\\x1b" in out and not RAW.search(out.replace("\n", "")), err
    status, out, err = amct("explain", "quant.cfg", "--layer", f"conv{HOSTILE}", "--layers", "layers.json")
    assert status == 0 and "\\x1b" in out and not RAW.search(out.replace("\n", "")), err


def test_diffs_are_escaped_on_a_terminal_and_kept_for_patch(work: Path) -> None:
    (work / "messy.cfg").write_text(f"batch_num:   2  # {HOSTILE}\n", encoding="utf-8")
    for stream, escaped in ((_Terminal(), True), (io.StringIO(), False)):
        status = run(["fmt", "--diff", "messy.cfg"], stream, io.StringIO())
        assert status == 1 and bool(RAW.search(stream.getvalue().replace("\n", ""))) is not escaped
