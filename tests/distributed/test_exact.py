"""Calibration across processes gives byte for byte the single process's outputs (issue 20): a group of
three processes (gloo on loopback) with uneven, shuffled shares, for IFMR, HFMG and DMQ, on the demo
CNN and a small transformer."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest
import torch

import dist_support

# the rank of each batch: uneven shares (ranks 0, 1, 2 hold 3, 2, 2 and 1, 4, 2 batches), not in batch order
SHUFFLED = [2, 0, 1, 1, 0, 2, 0]
LOPSIDED = [1, 1, 0, 1, 2, 1, 2]

CASES = {
    **{f"cnn-{algo}": {"model": "cnn", "algo": algo, "count": 7, "assignment": SHUFFLED}
       for algo in dist_support.ALGOS},
    **{f"transformer-{algo}": {"model": "transformer", "algo": algo, "count": 7, "assignment": LOPSIDED}
       for algo in dist_support.ALGOS},
    # IFMR past its exact limit: a histogram over the range of the first flush, three flushes, and
    # values beyond that range (the later batches spread wider) kept exactly and then as moments
    "cnn-ifmr-flushes": {"model": "cnn", "algo": "ifmr", "count": 7, "size": 60, "assignment": LOPSIDED,
                         "keep_bytes": 0},
    # AdaRound: every rank gathers all batches and runs the same optimisation
    "cnn-ada": {"model": "cnn", "algo": "ada", "count": 4, "assignment": [1, 0, 2, 1]},
    # the second pass runs the forwards again (the inputs of the first one are not kept)
    "cnn-hfmg-forwards": {"model": "cnn", "algo": "hfmg", "count": 7, "assignment": SHUFFLED, "keep_bytes": 0},
}


def single(case: dict, out: Path) -> None:
    """The single-process run, on one thread as each spawned rank (a kernel's result may depend on
    the thread count, not on the process count)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        dist_support.quantize_case(case, [0]).save(out)
    finally:
        torch.set_num_threads(threads)


def assert_same_outputs(expected: Path, got: Path) -> None:
    names = sorted(p.name for p in expected.iterdir())
    assert names == sorted(p.name for p in got.iterdir())
    assert {"record.txt", "fake_quant_model.pt", "config.json"} <= set(names)
    for name in names:
        assert filecmp.cmp(expected / name, got / name, shallow=False), f"{got.name}: {name} differs"


@pytest.mark.slow
def test_three_ranks_match_one_process_byte_for_byte(tmp_path: Path) -> None:
    dist_support.spawn(3, CASES, tmp_path / "dist")
    for name, case in CASES.items():
        single(case, tmp_path / "single" / name)
        assert_same_outputs(tmp_path / "single" / name, tmp_path / "dist" / name)
    # the CNN's ONNX model is among the files compared
    assert (tmp_path / "dist" / "cnn-hfmg" / "model_qdq.onnx").exists()
