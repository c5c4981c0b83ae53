"""``amct lint`` and ``amct fmt`` as real processes: exit status, stdin, and what the lint path imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"


def _run(*argv: str, stdin: bytes = b"", cwd: Path = DATA) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("NO_COLOR", None)
    return subprocess.run([sys.executable, *argv], input=stdin, cwd=cwd, env=env, capture_output=True,
                          timeout=120)


def test_exit_status_of_a_real_process() -> None:
    assert _run("-m", "amct_cli", "lint", "--isolated", "good.cfg").returncode == 0
    bad = _run("-m", "amct_cli", "lint", "--isolated", "bad.cfg")
    assert bad.returncode == 1 and b"bad.cfg:5:5: error[F001]" in bad.stdout
    missing = _run("-m", "amct_cli", "lint", "--isolated", "missing.cfg")
    assert missing.returncode == 2
    assert missing.stderr == b"amct lint: no such file or folder: missing.cfg\n"
    usage = _run("-m", "amct_cli", "lint", "--no-such-option")
    assert usage.returncode == 2 and usage.stderr.count(b"\n") == 1 and b"Traceback" not in usage.stderr


def test_stdin_with_a_file_name_for_messages() -> None:
    done = _run("-m", "amct_cli", "lint", "--isolated", "-", "--stdin-filename", "in.cfg", "--format", "json",
                stdin=b"quant_bitz: 8\n")
    assert done.returncode == 1
    assert [(d["path"], d["code"], d["line"]) for d in json.loads(done.stdout)] == [("in.cfg", "F001", 1)]


def test_not_a_terminal_means_no_colour() -> None:
    assert b"\x1b[" not in _run("-m", "amct_cli", "lint", "--isolated", "bad.cfg").stdout


def test_fmt_on_stdin_writes_stdout() -> None:
    done = _run("-m", "amct_cli", "fmt", "--isolated", "-", stdin=b"batch_num:2;do_fusion:true\r\n")
    assert (done.returncode, done.stdout) == (0, b"batch_num: 2\r\ndo_fusion: true\r\n")
    broken = _run("-m", "amct_cli", "fmt", "--isolated", "-", stdin=b"batch_num: \"2\n")
    assert broken.returncode == 1 and broken.stdout == b"" and b"error[S" in broken.stderr


_PROBE = """
import sys
from amct_cli import run
status = run(sys.argv[1:])
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "pygls", "numpy", "quant", "jsonschema", "lark"})
extra = sorted(m for m in sys.modules if m in ("cfglang.formatter", "cfglang.resolution", "cfglang.planner",
                                            "cfglang.modelcheck", "cfglang.lsp"))
print(status, heavy, extra, file=sys.stderr)
"""


@pytest.mark.parametrize("argv", [["lint", "--isolated", "bad.cfg"], ["lint", "--isolated", "--format", "sarif",
                                                                        "bad.cfg", "good.cfg"]])
def test_the_lint_path_imports_no_torch_no_pygls_and_nothing_it_does_not_use(argv: list[str]) -> None:
    done = _run("-c", _PROBE, *argv)
    assert done.stderr.decode().splitlines()[-1] == "1 [] []"


def test_the_fmt_path_does_not_even_load_the_checker() -> None:
    probe = _PROBE.replace('"cfglang.formatter", ', '"cfglang.checker", ')
    done = _run("-c", probe, "fmt", "--isolated", "--check", "good.cfg")
    assert done.stderr.decode().splitlines()[-1] == "0 [] []"
