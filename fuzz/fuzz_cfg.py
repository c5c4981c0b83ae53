"""Coverage-guided fuzz target over parse + check + format (atheris / libFuzzer).

Every input must satisfy the promises of the front end (see docs/testing.md):
parse never raises and all spans agree with the text; check never raises and
its diagnostics are well formed; a file without syntax errors formats
idempotently, keeps every comment and loads to the same message.

Run (the README of docs/testing.md has the details)::

    python fuzz/fuzz_cfg.py fuzz/corpus fuzz/seeds -max_total_time=3600

Without atheris, ``python fuzz/fuzz_cfg.py --replay FILE...`` replays inputs.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
for _p in (str(_ROOT), str(_ROOT / "tests")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from properties.invariants import (  # noqa: E402
    InvariantError,
    check_diagnostic,
    check_document,
    fail_unless,
)

SEEDS = Path(__file__).resolve().parent / "seeds"
CRASHES = Path(__file__).resolve().parent / "crashes"


def _modules():
    from cfglang import checker, formatter, parser

    return parser, checker, formatter


def _comment_texts(doc) -> list[str]:
    return sorted(c.text.rstrip("\r") for c in doc.comments)


def one_input(data: bytes) -> None:
    """The fuzz target: raises on a broken promise, returns otherwise."""
    parser, checker, formatter = _modules()
    doc = parser.parse(data, "fuzz.cfg")
    check_document(doc, data)

    result = checker.check(data, "fuzz.cfg")
    for i, d in enumerate(result.diagnostics):
        check_diagnostic(result.document.text, d, f"check diagnostic {i}")
    if doc.diagnostics:
        return

    text = doc.text
    formatted = formatter.format_text(text)
    fail_unless(isinstance(formatted, str), "format_text did not return text")
    again = formatter.format_text(formatted)
    fail_unless(again == formatted, "format is not idempotent")
    reparsed = parser.parse(formatted, "fuzz.cfg")
    fail_unless(reparsed.diagnostics == [], f"formatted text has syntax errors: {reparsed.diagnostics[:1]}")
    fail_unless(_comment_texts(reparsed) == _comment_texts(doc), "format lost or changed a comment")
    after = checker.check(formatted, "fuzz.cfg")
    fail_unless(
        after.config.SerializePartialToString(deterministic=True) == result.config.SerializePartialToString(deterministic=True),
        "format changed the loaded message",
    )


def replay(paths: list[Path]) -> list[tuple[Path, BaseException]]:
    """Run ``one_input`` on each file; return the failures."""
    failures = []
    for path in paths:
        try:
            one_input(path.read_bytes())
        except (InvariantError, Exception) as e:  # noqa: BLE001 - any exception is a finding
            failures.append((path, e))
    return failures


def main(argv: list[str]) -> int:
    if len(argv) > 1 and argv[1] == "--replay":
        failures = replay([Path(p) for p in argv[2:]])
        for path, e in failures:
            sys.stderr.write(f"{path}: {type(e).__name__}: {e}\n")
        return 1 if failures else 0
    import atheris

    with atheris.instrument_imports(include=["cfglang"]):
        _modules()
    atheris.Setup(argv, one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
