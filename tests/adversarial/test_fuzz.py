"""The fuzz target (``fuzz/fuzz_cfg.py``): corpus replay and a bounded run.

Every file in ``fuzz/seeds`` and ``fuzz/crashes`` is replayed through the
target on every test run; a crash the fuzzer finds is minimised and added to
``fuzz/crashes`` so it stays fixed. The bounded run (marked slow, about a
minute) is the one CI performs; docs/testing.md has the command for a long run.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"
TARGET = FUZZ / "fuzz_cfg.py"
BOUNDED_SECONDS = 50


def _target():
    spec = importlib.util.spec_from_file_location("fuzz_cfg", TARGET)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def _corpus() -> list[Path]:
    return sorted(p for d in ("seeds", "crashes") for p in (FUZZ / d).iterdir() if p.is_file() and p.name != "README.md")


def test_corpus_is_not_empty() -> None:
    assert len(list((FUZZ / "seeds").iterdir())) >= 5


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_replay_corpus(path: Path) -> None:
    _target().one_input(path.read_bytes())


def _have_atheris() -> bool:
    return importlib.util.find_spec("atheris") is not None


@pytest.mark.slow
def test_bounded_fuzz_run(tmp_path: Path) -> None:
    if not _have_atheris():
        # no atheris on this interpreter: the same target, driven by hypothesis
        target = _target()

        @settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(st.binary(max_size=600))
        def run(data: bytes) -> None:
            target.one_input(data)

        run()
        return
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    cmd = [
        sys.executable, str(TARGET), str(corpus), str(FUZZ / "seeds"),
        f"-max_total_time={BOUNDED_SECONDS}", "-timeout=20", "-rss_limit_mb=4096",
        "-max_len=4096", f"-artifact_prefix={tmp_path}/",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=BOUNDED_SECONDS + 120)
    artifacts = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert proc.returncode == 0, (
        f"the fuzzer found a failing input {artifacts} (minimise it with -minimize_crash=1 and add it "
        f"to fuzz/crashes/):\n{proc.stderr[-6000:]}"
    )
