"""One document's analysis: the lint run plus what the features ask for later.

The diagnostics are exactly what ``amct lint`` reports for the file
(:func:`cfglang.lint.lint` with the file's project settings and inventory).
The resolved plan, the formatted text and the fixed text are computed only
when a feature asks, once per text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cfglang.diagnostics import Diagnostic, LineIndex, Span
from cfglang.incremental import IncrementalLinter
from cfglang.lsp.context import ContextScanner, CursorContext
from cfglang.lsp.positions import Positions
from cfglang.settings import InventorySource, Settings, SettingsError, SettingsResolver, inventory_source

if TYPE_CHECKING:  # pragma: no cover
    from cfglang.checker import CheckResult
    from cfglang.inventory import Inventory
    from cfglang.lint import LintResult
    from cfglang.lsp.reports import FoundReport
    from cfglang.plan import Plan
    from cfglang.syntax import Document

__all__ = ["Analysis", "Analyzer"]

_MISSING = object()


@dataclass(eq=False)
class Analysis:
    """What the server knows about one text of one document."""

    text: str  # as the editor holds it
    path: str | None
    positions: Positions
    result: LintResult | None
    settings: Settings
    inventory: Inventory | None = None
    notes: tuple[str, ...] = ()  # problems with the settings or the inventory, for window/showMessage
    # why the inventory the `# amct: layers=` header names cannot be used, at the header's path: a diagnostic
    # of its own, the file being checked without an inventory
    inventory_problem: tuple[Span, str] | None = None
    scanner: ContextScanner = field(default_factory=ContextScanner, repr=False)  # the document's, kept across texts
    reports: tuple[FoundReport, ...] = ()  # the sensitivity reports of the document (cfglang.lsp.reports)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def core_text(self) -> str:
        """The text the core's offsets refer to (the editor's text without a BOM)."""
        return self.result.text if self.result is not None else self.text.removeprefix("\ufeff")

    def cursor_context(self, offset: int) -> CursorContext:
        """Where core offset ``offset`` is (:mod:`cfglang.lsp.context`), resuming the document's last scan."""
        return self.scanner.context(self.core_text, offset)

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        return self.result.diagnostics if self.result is not None else ()

    @property
    def check(self) -> CheckResult | None:
        return self.result.check if self.result is not None else None

    @property
    def document(self) -> Document | None:
        return self.result.document if self.result is not None else None

    @property
    def syntax_ok(self) -> bool:
        return self.result is not None and self.result.syntax_ok

    def plan(self) -> Plan | None:
        """The resolved plan, when there is an inventory and the file parsed."""
        found = self._cache.get("plan", _MISSING)
        if found is _MISSING:
            found = None
            if self.inventory is not None and self.syntax_ok and self.check is not None:
                from cfglang.planner import resolve

                found = resolve(self.check, self.inventory)
            self._cache["plan"] = found
        return found

    def report(self) -> FoundReport | None:
        """The sensitivity report to show for this text (:func:`cfglang.lsp.reports.pick`)."""
        found = self._cache.get("report", _MISSING)
        if found is _MISSING:
            from cfglang.lsp.reports import pick

            found = self._cache["report"] = pick(list(self.reports), self.core_text)
        return found

    def formatted(self) -> str | None:
        """``amct fmt``'s output for the text; None when it has syntax errors (fmt leaves those alone)."""
        found = self._cache.get("formatted", _MISSING)
        if found is _MISSING:
            from cfglang.formatter import FormatError, format_document

            document = self.document
            try:
                found = format_document(document, self.settings.format) if document is not None else None
            except FormatError:
                found = None
            self._cache["formatted"] = found
        return found

    def fixed(self, unsafe: bool) -> str:
        """The text after ``amct lint --fix`` (``--unsafe-fixes`` with ``unsafe``)."""
        key = f"fixed-{unsafe}"
        found = self._cache.get(key)
        if found is None:
            from cfglang.lint import fix_text

            found = fix_text(self.core_text, self.path, self.settings, self.inventory, unsafe=unsafe).text
            self._cache[key] = found
        return found


class Analyzer:
    """Runs the lint pipeline for documents; caches settings and inventories between runs."""

    def __init__(self) -> None:
        self.snippets = False
        self.target: str | None = None  # the editor's `target` (initializationOptions); wins over the settings
        self._linters: dict[str | None, IncrementalLinter] = {}  # per document, while it is open
        self._scanners: dict[str | None, ContextScanner] = {}  # the same
        self.invalidate()

    def invalidate(self) -> None:
        """Forget cached settings and inventories (after a save or a watched-file change)."""
        self._settings = SettingsResolver(target=self.target)
        self._inventories: dict[tuple[Path, Path | None, int | None], tuple[Inventory | None, str | None]] = {}
        self._reports: dict[tuple[Path, int | None], tuple[tuple[FoundReport, ...], tuple[str, ...]]] = {}

    def analyse(self, text: str, path: str | None, encoding: str | None = None,
                workspace: str | None = None, saved_as: str | None = None) -> Analysis:
        """``amct lint``'s result for the text, incrementally: what the edits since the last call
        changed is checked, the rest is reused (:mod:`cfglang.incremental`). ``workspace``: the editor's
        workspace folder, which a header's inventory must be in when no settings file says otherwise.
        ``saved_as``: the file is saved as UTF-16 or UTF-32 (:func:`cfglang.encoding.saved_encoding`),
        which ``amct lint`` reports as one S001, so the server does too."""
        positions = Positions.of(text, encoding or "utf-16")
        notes: list[str] = []
        settings = self._settings_for(path, notes)
        source = inventory_source(text, path, settings, workspace)
        inventory, problem = self._inventory(source, settings) if source is not None else (None, None)
        placed = None
        if problem is not None and source is not None:
            if source.header is None:
                notes.append(f"amct: {source.unusable(path or '-', problem)} (checking without it)")
            else:
                placed = (_header_span(text, source), f"cannot use the layer inventory named by the "
                                                      f"`# amct: layers=` header: {problem} (checked without it)")
        linter = self._linters.get(path)
        if linter is None:
            linter = self._linters[path] = IncrementalLinter(path)
        result = linter.lint(text, settings, inventory) if saved_as is None else _not_utf8(saved_as, path, settings)
        scanner = self._scanners.setdefault(path, ContextScanner())
        # only a file's: an unsaved document's "path" is its URI
        reports = self._reports_of(path, settings, notes) if path is not None and Path(path).is_absolute() else ()
        return Analysis(text, path, positions, result, settings, inventory, tuple(notes), placed, scanner, reports)

    def close(self, path: str | None) -> None:
        """Drop what was kept for a document that the editor closed."""
        self._linters.pop(path, None)
        self._scanners.pop(path, None)

    def _settings_for(self, path: str | None, notes: list[str]) -> Settings:
        try:
            return self._settings.for_path(path)
        except SettingsError as exc:
            notes.append(f"amct: {exc} (linting with the default settings)")
            return Settings()

    def _reports_of(self, path: str, settings: Settings, notes: list[str]) -> tuple[FoundReport, ...]:
        """The document's sensitivity reports, looked for once until :meth:`invalidate`."""
        key = (Path(path).absolute(), settings.max_file_size)
        cached = self._reports.get(key)
        if cached is None:
            from cfglang.lsp.reports import find_reports

            problems: list[str] = []
            cached = self._reports[key] = (tuple(find_reports(path, settings.max_file_size, problems)), tuple(problems))
        notes.extend(cached[1])
        return cached[0]

    def _inventory(self, source: InventorySource, settings: Settings) -> tuple[Inventory | None, str | None]:
        """The inventory, or why it cannot be used: only a regular file inside the project, at most
        ``max-file-size`` bytes, is read (a document is untrusted: its header may name `/dev/zero`)."""
        key = (source.path.absolute(), source.root, settings.max_file_size)
        cached = self._inventories.get(key)
        if cached is None:
            from cfglang.inventory import Inventory

            try:
                cached = (Inventory.load(source.path, root=source.root, limit=settings.max_file_size), None)
            except Exception as exc:  # InventoryError, or anything else: the file is checked without it
                cached = (None, str(exc) or type(exc).__name__)
            self._inventories[key] = cached
        return cached


def _not_utf8(encoding: str, path: str | None, settings: Settings) -> LintResult:
    """``amct lint``'s result for a file saved as UTF-16 or UTF-32: one S001, nothing else read."""
    from cfglang.checker import check
    from cfglang.lint import finish
    from cfglang.parser import not_utf8

    document = not_utf8(encoding, path)
    checked = check(document)
    return finish(document.text, False, list(checked.diagnostics), document.comments, document.index, settings,
                  checked, False)


def _header_span(text: str, source: InventorySource) -> Span:
    """The span of the path in the ``# amct: layers=`` header (core offsets: without a BOM)."""
    header = source.header
    assert header is not None
    index = LineIndex(text.removeprefix("\ufeff"))
    start = index.offset(header.line, header.column)
    return index.span(start, start + len(header.path))
