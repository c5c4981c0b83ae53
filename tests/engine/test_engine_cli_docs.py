"""The examples of docs/cli.md, "The engine's commands", run as written, in order, in an empty folder.

``cfg`` blocks are the example's ``quant.cfg``, ``python`` blocks run in one shared namespace, and each
``amct ...`` line of an ``sh`` block runs through ``amct_cli.run`` and must exit 0; synopsis lines
(with ``|`` or ``[``) are skipped. ``text`` blocks are sample output: their ``wrote`` and ``read`` lines
must be among what the commands printed (sample lines of the error examples aside)."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from amct_cli import run

ROOT = Path(__file__).resolve().parents[2]
SECTION = "# The engine's commands"

pytestmark = pytest.mark.slow  # two quantizations, a demo run and ONNX Runtime: about half a minute


def _blocks() -> list[tuple[str, str]]:
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    section = text[text.index("\n" + SECTION + "\n"):]
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```$", section, re.S | re.M)]


def _commands(block: str) -> list[list[str]]:
    lines = [line for line in block.splitlines() if line.startswith("amct ")]
    return [shlex.split(line)[1:] for line in lines if "|" not in line and "[" not in line]


def test_the_section_has_each_kind_of_example() -> None:
    kinds = [kind for kind, _ in _blocks()]
    assert kinds.count("cfg") == 1 and kinds.count("python") >= 4 and kinds.count("sh") >= 4


def test_the_documented_examples_run(digits, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, _, cache = digits
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache.parent))  # the session's trained model, not the user's
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "docs_example"}
    printed: list[str] = []
    samples: list[str] = []
    for kind, body in _blocks():
        if kind == "cfg":
            (tmp_path / "quant.cfg").write_text(body, encoding="utf-8")
        elif kind == "python":
            shown = io.StringIO()
            with contextlib.redirect_stdout(shown):
                exec(compile(body, "docs/cli.md", "exec"), namespace)
            printed.append(shown.getvalue())
        elif kind == "sh":
            for argv in _commands(body):
                out, err = io.StringIO(), io.StringIO()
                status = run([*argv, "--no-progress"] if argv[0] == "quantize" else argv, out, err)
                assert status == 0, f"amct {' '.join(argv)}: {err.getvalue()}"
                printed.append(out.getvalue() + err.getvalue())
        elif kind == "text":
            samples.extend(line for line in body.splitlines() if line.startswith(("wrote ", "amct quantize: read 4")))
    everything = "".join(printed)
    # the worked example's sample output is what the commands print
    for line in samples:
        if "shape [20]" not in line:  # the bare-tensor example is told, not run
            assert line in everything, line
    assert (tmp_path / "out_npz" / "model_qdq.onnx").is_file()
    assert (tmp_path / "demo_out" / "hfmg" / "record.txt").is_file()
    assert "torch.Size([64, 10])" in everything and "(64, 10)" in everything
    assert (tmp_path / "quant.json").is_file()
