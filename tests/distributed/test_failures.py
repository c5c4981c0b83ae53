"""Failures across processes (issue 20): a rank whose batch holds nan or does not fit the model makes
every rank raise the same located message (the single process's, where it has one); fewer batches than
processes is an error before any forward; a single process never joins a group."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import dist_support
from quant.core import QuantizeError

CASES = {
    # batch 3 is rank 1's (round-robin); the nan reaches the first layer
    "nan-hfmg": {"model": "cnn", "algo": "hfmg", "count": 5, "nan": 3},
    "nan-ifmr": {"model": "transformer", "algo": "ifmr", "count": 5, "nan": 2, "assignment": [1, 1, 1, 0, 0]},
    "nan-dmq": {"model": "cnn", "algo": "dmq", "count": 4, "nan": 1},
    "bad-batch": {"model": "cnn", "algo": "ifmr", "count": 4, "bad": 1},
    "fewer-batches": {"model": "cnn", "algo": "ifmr", "count": 1},
    # batch 2 given to a rank that does not exist
    "not-a-partition": {"model": "cnn", "algo": "hfmg", "count": 3, "assignment": [0, 0, 5]},
}


def errors(out: Path, name: str, kind: str = "QuantizeError") -> list[tuple[str, int]]:
    """Each rank's message and its model's forward count; the error is a ``kind``."""
    found = []
    for rank in range(2):
        message, forwards, raised = (out / name / f"error-{rank}.txt").read_text().rsplit("\n", 2)
        assert raised == kind, (name, raised)
        found.append((message, int(forwards)))
    return found


def single_error(case: dict) -> str:
    with pytest.raises(QuantizeError) as info:
        dist_support.quantize_case(case, [0])
    return str(info.value)


@pytest.mark.slow
def test_every_rank_stops_with_the_same_located_message(tmp_path: Path) -> None:
    dist_support.spawn(2, CASES, tmp_path)
    for name in CASES:
        (first, _), (second, _) = errors(tmp_path, name, "BatchDataError" if name == "bad-batch" else "QuantizeError")
        assert first == second, name
        assert not (tmp_path / name / "record.txt").exists()
    for name in ("nan-hfmg", "nan-ifmr", "nan-dmq"):
        assert errors(tmp_path, name)[0][0] == single_error(CASES[name])
    assert errors(tmp_path, "nan-hfmg")[0][0] == ("layer `conv1`: calibration batch 3 has nan or inf values at "
                                                  "the layer's input")
    bad = errors(tmp_path, "bad-batch", "BatchDataError")[0][0]  # the model's failure: exit 1 from the CLI
    assert bad.startswith("calibration batch 1 (shape [2, 3, 8, 8]) does not fit the model: in layer `conv1` "
                          "(`Conv2d`): RuntimeError: "), bad
    assert errors(tmp_path, "fewer-batches") == [
        ("`batch_num` = 1 calibration batch for 2 processes, expected at least one batch per process (run at "
         "most 1 process, or raise `batch_num`)", 0)] * 2
    assert errors(tmp_path, "not-a-partition")[0][0] == (
        "no rank holds batch position 2 of the calibration order (`batch_num` = 3), expected each of 0 .. 2 once")


@pytest.mark.slow
def test_a_single_process_never_joins_a_group(tmp_path: Path) -> None:
    # in a fresh interpreter: torch imports torch.distributed itself, so the check is that no group was
    # initialised and that the engine never loaded its distributed module
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(dist_support.HERE)!r})
        import torch, dist_support
        dist_support.quantize_case({{"model": "cnn", "algo": "dmq", "count": 2}}, [0])
        print(torch.distributed.is_initialized(), "quant.distributed" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]
