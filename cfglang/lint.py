"""The lint pipeline as a library: check, model-aware checks, suppressions, selection; and fixes.

``lint(text, path, settings, inventory)`` runs, in order:

1. :func:`cfglang.checker.check` (syntax, schema, values, capabilities);
2. with an inventory, :func:`cfglang.resolve` for the model-aware diagnostics;
3. suppression comments (read by :mod:`cfglang.directives`), ``# amct: noqa: CODE[, CODE]`` at the end of a
   line and ``# amct: noqa-file: CODE`` anywhere; a suppression that suppresses nothing is
   reported (``L001``), as is one that names no code or an unknown one (``L002``);
4. ``select`` / ``ignore`` from the settings.

Syntax errors are never suppressed or ignored: nothing else can be trusted without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from cfglang.diagnostics import Diagnostic, Edit, Fix, LineIndex, Severity
from cfglang.directives import Suppression, suppressions
from cfglang.rules import REGISTRY, stage_of
from cfglang.rules.lint import INVALID_SUPPRESSION, UNUSED_SUPPRESSION
from cfglang.settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from cfglang.checker import CheckResult
    from cfglang.syntax import Comment, Document

__all__ = ["LintResult", "FixOutcome", "lint", "model_diagnostics", "finish", "lint_text", "select_fixes", "apply_fixes", "fix_text"]

_MAX_FIX_ROUNDS = 10


class LintResult:
    """What one file produced: ``text`` is the decoded text the spans refer to.

    ``check`` is the :class:`~cfglang.checker.CheckResult` of the text and
    ``document`` its syntax tree. The incremental linter (:mod:`cfglang.incremental`)
    finds the diagnostics without them and passes functions that compute them,
    called the first time each is asked for (the tree alone is a parse, the check
    result is the parse and the check).
    """

    __slots__ = ("text", "has_bom", "diagnostics", "syntax_ok", "_check", "_document")

    def __init__(self, text: str, has_bom: bool, diagnostics: tuple[Diagnostic, ...],
                 check: CheckResult | Callable[[], CheckResult], syntax_ok: bool,
                 document: Callable[[], Document] | None = None) -> None:
        self.text = text
        self.has_bom = has_bom
        self.diagnostics = diagnostics
        self.syntax_ok = syntax_ok  # no syntax diagnostic (error or warning) in the text
        self._check = check
        self._document = document

    @property
    def check(self) -> CheckResult:
        if callable(self._check):
            self._check = self._check()
        return self._check

    @property
    def document(self) -> Document:
        if self._document is None or not callable(self._check):
            return self.check.document
        if callable(self._document):
            self._document = self._document()
        return self._document

    @property
    def worst(self) -> Severity | None:
        return max((d.severity for d in self.diagnostics), default=None)


# ---------------------------------------------------------------- suppressions


def _suppressed(d: Diagnostic, directives: list[Suppression], mark: bool) -> bool:
    hit = False
    for directive in directives:
        if not directive.whole_file and directive.line != d.span.line:
            continue
        if any(code == d.code for code, _, _ in directive.codes):
            hit = True
            if mark:
                directive.used.add(d.code)
    return hit


def _removal(directive: Suppression, text: str, dropped: str) -> Edit:
    """The edit that drops one code from a directive, or the whole directive when it was the last."""
    kept = [code for code, _, _ in directive.codes if code != dropped]
    if kept:
        return Edit(directive.codes_start, directive.end, " " + ", ".join(kept))
    start = directive.comment_start
    while start > 0 and text[start - 1] in " \t":
        start -= 1
    if directive.own_comment and (start == 0 or text[start - 1] == "\n"):
        end = directive.end  # a comment on its own line: take the whole line
        while end < len(text) and text[end] in " \t\r":
            end += 1
        if end < len(text) and text[end] == "\n":
            end += 1
        return Edit(start, end, "")
    return Edit(start, directive.end, "")


def _suppression_findings(directives: list[Suppression], index: LineIndex) -> list[Diagnostic]:
    findings = []
    text = index.text
    for directive in directives:
        kind = "noqa-file" if directive.whole_file else "noqa"
        if not directive.codes:
            findings.append(Diagnostic(
                INVALID_SUPPRESSION, Severity.WARNING, index.span(directive.comment_start, directive.end),
                f"`# amct: {kind}` names no code",
                hint=f"name the codes it suppresses: `# amct: {kind}: CODE[, CODE]`"))
            continue
        for code, start, end in directive.codes:
            span = index.span(start, end)
            if code not in REGISTRY:
                findings.append(Diagnostic(INVALID_SUPPRESSION, Severity.WARNING, span,
                                           f"unknown code `{code}` in a suppression",
                                           hint="`amct explain CODE` lists what each code means"))
            elif code not in directive.used and stage_of(code) != "lint":
                where = "in this file" if directive.whole_file else "on this line"
                findings.append(Diagnostic(
                    UNUSED_SUPPRESSION, Severity.WARNING, span,
                    f"unused suppression of `{code}`: no `{code}` diagnostic {where}",
                    fix=Fix(f"remove `{code}` from the suppression", (_removal(directive, text, code),))))
    return findings


# ---------------------------------------------------------------- the pipeline


def model_diagnostics(result: Any, inventory: Any) -> list[Diagnostic]:
    """Step 2: what resolving against the inventory finds (``result``: a check result, or anything with its
    ``config`` and ``spans``)."""
    from cfglang.planner import resolve

    return list(resolve(result, inventory).diagnostics)


def _ordered(diagnostics: Iterable[Diagnostic]) -> tuple[Diagnostic, ...]:
    return tuple(sorted(diagnostics, key=lambda d: (d.span.start, d.span.end, d.code)))


def lint(text: str | bytes, path: str | None = None, settings: Settings | None = None,
         inventory: Any = None) -> LintResult:
    """Every diagnostic that the settings and the file's suppressions let through, in text order."""
    from cfglang.checker import check

    settings = settings or Settings()
    result = check(text, path, max_size=settings.max_file_size, target=settings.target)
    document = result.document
    found = list(result.diagnostics)
    syntax_ok = not any(stage_of(d.code) == "parse" for d in found)
    if inventory is not None and syntax_ok:
        found.extend(model_diagnostics(result, inventory))
    return finish(document.text, document.has_bom, found, document.comments, document.index, settings,
                  result, syntax_ok)


def finish(text: str, has_bom: bool, found: list[Diagnostic], comments: Sequence[Comment], index: LineIndex,
           settings: Settings, check: CheckResult | Callable[[], CheckResult], syntax_ok: bool,
           document: Callable[[], Document] | None = None) -> LintResult:
    """Steps 3 and 4 of the pipeline: suppressions, then the settings' selection, over ``found``."""
    directives = suppressions(comments)
    kept = [d for d in found if stage_of(d.code) == "parse" or not _suppressed(d, directives, mark=True)]
    own = [d for d in _suppression_findings(directives, index) if not _suppressed(d, directives, False)]
    reported = [d for d in kept + own if settings.enabled(d.code)]
    return LintResult(text, has_bom, _ordered(reported), check, syntax_ok, document)


def lint_text(text: str | bytes, path: str | None = None, settings: Settings | None = None,
              inventory: Any = None) -> list[Diagnostic]:
    """The diagnostics of :func:`lint`."""
    return list(lint(text, path, settings, inventory).diagnostics)


# ---------------------------------------------------------------- fixes


def _overlaps(a: Edit, b: Edit) -> bool:
    if a.start == a.end == b.start == b.end:
        return True  # two insertions at one place: their order would be a guess
    return a.start < b.end and b.start < a.end


def select_fixes(diagnostics: Iterable[Diagnostic], unsafe: bool = False) -> list[Fix]:
    """The fixes to apply in one round: safe ones (and unsafe ones when asked), none overlapping another.

    Fixes are taken in text order; one that touches text an earlier one changes
    waits for the next round, when the file has been checked again.
    """
    chosen: list[Fix] = []
    taken: list[Edit] = []
    fixes = [d.fix for d in diagnostics if d.fix is not None and d.fix.edits and (d.fix.safe or unsafe)]
    for fix in sorted(fixes, key=lambda f: min(e.start for e in f.edits)):
        if fix in chosen or any(_overlaps(e, t) for e in fix.edits for t in taken):
            continue
        chosen.append(fix)
        taken.extend(fix.edits)
    return chosen


def apply_fixes(text: str, diagnostics: Iterable[Diagnostic], unsafe: bool = False) -> str:
    """``text`` with one round of :func:`select_fixes` applied."""
    from cfglang.edit import apply_edits

    return apply_edits(text, (e for fix in select_fixes(diagnostics, unsafe) for e in fix.edits))


@dataclass(frozen=True)
class FixOutcome:
    original: str  # the decoded input
    result: LintResult  # the last lint, of the fixed text
    fixed: int  # how many fixes were applied
    reverted: bool  # a round produced new syntax errors and was undone

    @property
    def text(self) -> str:
        return self.result.text


def _syntax_errors(result: LintResult) -> int:
    # syntax warnings (S017-S019, S021) mark text protobuf reads one way, the way the tree holds it: fixable
    return sum(1 for d in result.check.diagnostics if stage_of(d.code) == "parse" and d.severity is Severity.ERROR)


def fix_text(text: str | bytes, path: str | None = None, settings: Settings | None = None,
             inventory: Any = None, unsafe: bool = False) -> FixOutcome:
    """Apply fixes round after round (each round re-checks the file) until none is left.

    A file with syntax errors gets no fix; a round that would add a syntax error is undone.
    """
    result = lint(text, path, settings, inventory)
    original, fixed, reverted = result.text, 0, False
    # a file with syntax errors is not rewritten: its text may not even be what is on disk
    rounds = 0 if _syntax_errors(result) else _MAX_FIX_ROUNDS
    for _ in range(rounds):
        fixes = select_fixes(result.diagnostics, unsafe)
        if not fixes:
            break
        candidate = lint(apply_fixes(result.text, result.diagnostics, unsafe), path, settings, inventory)
        if _syntax_errors(candidate) > _syntax_errors(result):
            reverted = True
            break
        result, fixed = candidate, fixed + len(fixes)
    return FixOutcome(original, _with_bom(result, text), fixed, reverted)


def _with_bom(result: LintResult, source: str | bytes) -> LintResult:
    """Later rounds lint decoded text; keep the input's byte-order mark flag."""
    if isinstance(source, bytes):
        has_bom = source.startswith(b"\xef\xbb\xbf")
    else:
        has_bom = source.startswith("\ufeff")
    if has_bom == result.has_bom:
        return result
    return LintResult(result.text, has_bom, result.diagnostics, result.check, result.syntax_ok)
