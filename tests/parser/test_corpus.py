"""The corpora on disk: valid files parse cleanly, each invalid fixture gives exactly its diagnostics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cfglang
from cfglang.rules import REGISTRY

from .treedump import diags, dump

DATA = Path(__file__).resolve().parent.parent / "data"
VALID = sorted((DATA / "valid").glob("*.cfg"))
EXPECTED = sorted((DATA / "invalid").glob("S*.expected"))


def test_corpora_are_there() -> None:
    assert len(VALID) >= 3
    assert len(EXPECTED) >= 10


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_file_parses_without_diagnostics(path: Path) -> None:
    document = cfglang.parse(path.read_bytes(), str(path))
    assert document.diagnostics == []
    assert document.fields
    # the folded fast path and the plain tokens build the same tree
    assert dump(document) == dump(cfglang.parse(path.read_bytes(), fast=False))


@pytest.mark.parametrize("path", EXPECTED, ids=lambda p: p.stem)
def test_invalid_fixture_gives_exactly_its_diagnostics(path: Path) -> None:
    source = path.with_suffix(".cfg")
    code, _, name = path.stem.partition("-")
    assert REGISTRY[code].name == name, f"{path.name} is named after rule {REGISTRY[code].name}"
    # the .expected file holds the whole check's output; the parser's share is the syntax lines
    expected = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("S")]
    options_file = path.with_suffix(".parse.json")
    options = json.loads(options_file.read_text(encoding="utf-8")) if options_file.exists() else {}
    document = cfglang.parse(source.read_bytes(), str(source), **options)
    assert diags(document) == expected
    assert any(line.startswith(code + " ") for line in expected)
    fine = cfglang.parse(source.read_bytes(), fast=False, **options)
    assert diags(fine) == expected
    assert dump(fine) == dump(document)
