"""docs/amct-checks.md and the Targets section of docs/cli.md stay true to the registry and the tables."""

from __future__ import annotations

import re
from pathlib import Path

from cfglang.capabilities import TARGETS
from cfglang.rules import REGISTRY

DOCS = Path(__file__).resolve().parents[2] / "docs"
INVALID = Path(__file__).resolve().parents[1] / "data" / "invalid"
CORPUS = Path(__file__).parent / "corpus"


def _rows() -> list[list[str]]:
    text = (DOCS / "amct-checks.md").read_text(encoding="utf-8")
    section = text.split("## Every check", 1)[1].split("\n## ", 1)[0]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| AMCT file")]


def test_every_row_names_a_place_in_amcts_code_and_ours_or_why_not() -> None:
    rows = _rows()
    assert len(rows) > 60
    for place, _message, _condition, ours in rows:
        assert re.match(r"(proto_config|config_base|field)\.py", place), place
        assert re.search(r"\b[SFVCML]\d{3}\b", ours) or ours.startswith("none"), (place, ours)


def test_every_code_of_the_table_is_registered_and_tested() -> None:
    corpus = " ".join(path.read_text(encoding="utf-8") for path in CORPUS.glob("*.cfg"))
    fixtures = {path.name.split("-", 1)[0] for path in INVALID.glob("*.expected")}
    for *_, ours in _rows():
        for code in re.findall(r"\b[SFVCML]\d{3}\b", ours):
            assert code in REGISTRY, code
            assert code in fixtures or f"{code}@" in corpus, f"{code} has no fixture"


def test_every_target_is_documented() -> None:
    checks = (DOCS / "amct-checks.md").read_text(encoding="utf-8")
    cli = (DOCS / "cli.md").read_text(encoding="utf-8").split("## Targets", 1)[1]
    for name in TARGETS:
        assert f"| `{name}`" in checks and f"| `{name}`" in cli, name
