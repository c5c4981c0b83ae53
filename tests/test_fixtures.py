"""The invalid corpus: one fixture per registered code, with the exact expected diagnostics.

``tests/data/invalid/<CODE>-<rule-name>.cfg`` sits beside ``<same>.expected``, one
diagnostic per line: ``CODE severity line:column-end_line:end_column``. Every
family goes through here: the file is checked with :func:`cfglang.checker.check`;
a fixture with a sibling ``<same>.layers.json`` (a layer inventory) also gets the
model-aware diagnostics, and lint-family fixtures (suppressions) go through
:func:`cfglang.lint.lint`. A sibling ``<same>.parse.json`` holds keyword arguments
for :func:`cfglang.parse` (the size limit, for example, so that the file-too-large
fixture stays small), and a sibling ``<same>.target`` the target to check against
(``amct-9.1``; default ``documented``).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from cfglang.rules import REGISTRY

INVALID = Path(__file__).parent / "data" / "invalid"
_SIDECARS = (".expected", ".layers.json", ".rendered", ".parse.json", ".target")
_LINE = re.compile(r"^(?P<code>[A-Z]\d{3}) (?P<severity>error|warning|info) \d+:\d+-\d+:\d+$")


def _source_of(expected: Path) -> Path:
    stem = expected.name[: -len(".expected")]
    candidates = [p for p in INVALID.glob(f"{glob_escape(stem)}.*")
                  if p.name[len(stem):] not in _SIDECARS and not p.name.endswith(_SIDECARS)]
    if len(candidates) != 1:
        raise AssertionError(f"{expected.name}: expected exactly one source file beside it, found {candidates}")
    return candidates[0]


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def _expected_files() -> list[Path]:
    return sorted(INVALID.glob("*.expected"))


def read_expected(path: Path) -> list[str]:
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for line in lines:
        if not _LINE.match(line):
            raise AssertionError(f"{path.name}: malformed line {line!r}")
    return lines


def format_diagnostic(d) -> str:
    s = d.span
    return f"{d.code} {d.severity.label} {s.line}:{s.column}-{s.end_line}:{s.end_column}"


def diagnostics_of(source: Path) -> tuple[str, list]:
    """The decoded text and what the toolkit reports for one fixture (see the module docstring)."""
    from cfglang.checker import check

    data = source.read_bytes()
    layers = source.with_name(source.name.rsplit(".", 1)[0] + ".layers.json")
    lint_family = source.name[:1] == "L"
    options = source.with_name(source.name.rsplit(".", 1)[0] + ".parse.json")
    target_file = source.with_name(source.name.rsplit(".", 1)[0] + ".target")
    target = target_file.read_text(encoding="utf-8").strip() if target_file.exists() else None
    if not layers.exists() and not lint_family:
        if options.exists():
            from cfglang.parser import parse

            data = parse(data, source.name, **json.loads(options.read_text(encoding="utf-8")))
        result = check(data, source.name, target=target)
        return result.document.text, list(result.diagnostics)
    from cfglang.inventory import Inventory
    from cfglang.lint import lint

    inventory = None
    if layers.exists():
        inventory = Inventory.from_dict(json.loads(layers.read_text(encoding="utf-8")))
    from cfglang.settings import Settings

    linted = lint(data, source.name, Settings(target=target), inventory)
    return linted.text, list(linted.diagnostics)


@pytest.mark.parametrize("expected", _expected_files(), ids=lambda p: p.name[: -len(".expected")])
def test_fixture_gives_exactly_the_expected_diagnostics(expected: Path) -> None:
    source = _source_of(expected)
    found = [format_diagnostic(d) for d in diagnostics_of(source)[1]]
    assert found == read_expected(expected)


@pytest.mark.parametrize("expected", _expected_files(), ids=lambda p: p.name[: -len(".expected")])
def test_fixture_renders_as_its_snapshot(expected: Path) -> None:
    """The full rendered text (carets, notes, help) beside each fixture as ``<name>.rendered``.

    ``AMCT_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_fixtures.py`` rewrites them.
    """
    from cfglang.render import FileReport, render_full

    source = _source_of(expected)
    text, found = diagnostics_of(source)
    rendered = render_full([FileReport(source.name, text, tuple(found))])
    snapshot = expected.with_name(expected.name[: -len(".expected")] + ".rendered")
    if os.environ.get("AMCT_UPDATE_SNAPSHOTS") == "1":
        snapshot.write_bytes(rendered.encode("utf-8"))
    assert snapshot.exists(), f"{snapshot.name} is missing: run with AMCT_UPDATE_SNAPSHOTS=1 to create it"
    assert rendered == snapshot.read_bytes().decode("utf-8"), \
        f"{snapshot.name} differs (AMCT_UPDATE_SNAPSHOTS=1 rewrites it after a deliberate change)"


@pytest.mark.parametrize("expected", _expected_files(), ids=lambda p: p.name[: -len(".expected")])
def test_fixture_reports_its_own_code(expected: Path) -> None:
    code = expected.name.split("-", 1)[0]
    if code not in REGISTRY:
        return  # a corpus file named for what it is, not for a code
    assert any(line.startswith(code + " ") for line in read_expected(expected)), \
        f"{expected.name} does not produce {code}"


def test_fixture_names_match_the_registry() -> None:
    for expected in _expected_files():
        code, _, name = expected.name[: -len(".expected")].partition("-")
        if code in REGISTRY:
            assert name == REGISTRY[code].name, f"{expected.name}: {code} is `{REGISTRY[code].name}`"


def test_every_registered_code_has_a_fixture() -> None:
    have = {p.name.split("-", 1)[0] for p in _expected_files()}
    missing = sorted(code for code, r in REGISTRY.items() if r.status != "removed" and code not in have)
    assert not missing, f"registered codes without a fixture in tests/data/invalid: {', '.join(missing)}"
