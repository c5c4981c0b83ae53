"""The lint pipeline as a library: ``lint_text``, suppressions, ``apply_fixes`` with overlapping edits."""

from __future__ import annotations

from cfglang.diagnostics import Diagnostic, Edit, Fix, LineIndex, Severity
from cfglang.lint import apply_fixes, fix_text, lint, lint_text, select_fixes
from cfglang.settings import Settings

TEXT = "0123456789\n"
INDEX = LineIndex(TEXT)


def _diag(*edits: tuple[int, int, str], safe: bool = True) -> Diagnostic:
    fix = Fix("f", tuple(Edit(*e) for e in edits), safe=safe)
    return Diagnostic("F001", Severity.ERROR, INDEX.span(edits[0][0], edits[0][1]), "m", fix=fix)


def test_overlapping_fixes_wait_for_the_next_round() -> None:
    first = _diag((2, 5, "ab"))
    overlapping = _diag((4, 6, "X"))
    separate = _diag((7, 8, ""), (0, 1, "Z"))  # several edits of one fix go in together
    assert select_fixes([overlapping, first, separate]) == [separate.fix, first.fix]
    assert apply_fixes(TEXT, [overlapping, first, separate]) == "Z1ab5689\n"


def test_touching_edits_both_apply_but_two_insertions_at_one_place_do_not() -> None:
    assert apply_fixes(TEXT, [_diag((0, 2, "")), _diag((2, 4, "-"))]) == "-456789\n"
    assert apply_fixes(TEXT, [_diag((3, 3, "a")), _diag((3, 3, "b"))]) == "012a3456789\n"


def test_unsafe_fixes_only_when_asked() -> None:
    rename = _diag((0, 1, "x"), safe=False)
    assert apply_fixes(TEXT, [rename]) == TEXT
    assert apply_fixes(TEXT, [rename], unsafe=True) == "x123456789\n"


def test_lint_text_orders_filters_and_suppresses() -> None:
    text = "quant_bitz: 1\nbatch_num: 1\nbatch_num: 2  # amct: noqa: F009\n"
    assert [d.code for d in lint_text(text)] == ["F001"]
    assert lint_text(text, settings=Settings(ignore=("F001",))) == []
    assert [d.code for d in lint_text(text.replace("F009", "F001"))] == ["F001", "F009", "L001"]


def test_fix_rounds_run_until_nothing_is_left() -> None:
    text = "batch_num: 1\nbatch_num: 2\nbatch_num: 3\n"
    outcome = fix_text(text)
    assert (outcome.text, outcome.fixed, outcome.reverted) == ("batch_num: 3\n", 2, False)
    assert outcome.original == text and outcome.result.diagnostics == ()


def test_bytes_in_and_the_text_out_without_the_bom() -> None:
    result = lint(b"\xef\xbb\xbfbatch_num: 1\n")
    assert (result.text, result.has_bom, result.diagnostics) == ("batch_num: 1\n", True, ())
