"""The file-size limit is configurable: `--max-file-size`, `[tool.amct] max-file-size`, `check(max_size=)`."""

from __future__ import annotations

import io
from pathlib import Path

import cfglang
from amct_cli import run
from cfglang.parser import DEFAULT_MAX_SIZE


def _lint(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return run(["lint", "--format", "concise", *argv], out, err), out.getvalue(), err.getvalue()


def test_default_limit_is_documented_value() -> None:
    assert DEFAULT_MAX_SIZE == 16 * 1024 * 1024
    assert [d.code for d in cfglang.check("batch_num: 2\n", max_size=8).diagnostics] == ["S015"]
    assert cfglang.check("batch_num: 2\n", max_size=13).diagnostics == ()


def test_command_line_limit(tmp_path: Path) -> None:
    cfg = tmp_path / "quant.cfg"
    cfg.write_text("batch_num: 2\ndo_fusion: true\n")
    assert _lint("--isolated", str(cfg))[0] == 0
    code, out, _ = _lint("--isolated", "--max-file-size", "16", str(cfg))
    assert code == 1
    assert "S015" in out and "more than the limit of 16" in out
    code, _, err = _lint("--isolated", "--max-file-size", "0", str(cfg))
    assert code == 2 and "expected a positive number of bytes" in err


def test_settings_limit_and_command_line_override(tmp_path: Path) -> None:
    cfg = tmp_path / "quant.cfg"
    cfg.write_text("batch_num: 2\ndo_fusion: true\n")
    (tmp_path / "amct.toml").write_text("max-file-size = 16\n")
    code, out, _ = _lint(str(cfg))
    assert code == 1 and "S015" in out
    assert _lint("--max-file-size", "1000", str(cfg))[0] == 0
    (tmp_path / "amct.toml").write_text("max-file-size = -1\n")
    code, _, err = _lint(str(cfg))
    assert code == 2 and "max-file-size" in err
