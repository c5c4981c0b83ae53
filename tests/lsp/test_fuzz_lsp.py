"""The server's fuzz target (``fuzz/fuzz_lsp.py``): its seeds and inputs derived from them, replayed.

A smoke run of the target on every test run: each seed, each seed cut short at
a few places (a frame or a message ends early) and with a few bytes changed.
The seeds cover a whole session, bad messages, broken frames and the text
encodings; docs/testing.md has the command for a real fuzzing run.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"
SEEDS = sorted((FUZZ / "seeds-lsp").iterdir())


def _target():
    spec = importlib.util.spec_from_file_location("fuzz_lsp", FUZZ / "fuzz_lsp.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def target() -> Iterator[object]:
    logging.disable(logging.CRITICAL)
    try:
        yield _target()
    finally:
        logging.disable(logging.NOTSET)


def _derived(data: bytes) -> list[bytes]:
    cuts = [data[: len(data) * k // 5] for k in range(1, 5)]
    flips = []
    for k in (3, 7, 11):
        at = len(data) * k // 13
        if at < len(data):
            flips.append(data[:at] + bytes([data[at] ^ 0x20]) + data[at + 1 :])
    return cuts + flips


def test_the_seeds_cover_both_modes() -> None:
    assert len(SEEDS) >= 5
    assert {p.read_bytes()[0] % 2 for p in SEEDS} == {0, 1}


@pytest.mark.parametrize("seed", SEEDS, ids=[p.name for p in SEEDS])
def test_the_target_holds_on_each_seed_and_its_variants(target, seed: Path) -> None:
    data = seed.read_bytes()
    for n, variant in enumerate([data, *_derived(data)]):
        try:
            target.one_input(variant)  # type: ignore[attr-defined]
        except Exception as exc:
            raise AssertionError(f"{seed.name} variant {n}: {exc}") from exc


def test_a_finding_is_reported(target) -> None:
    """The checks can fail: output that is not frames is a finding."""
    with pytest.raises(target.FuzzFinding):  # type: ignore[attr-defined]
        target._frames(b"Content-Length: 5\r\n\r\n{}")  # type: ignore[attr-defined]
