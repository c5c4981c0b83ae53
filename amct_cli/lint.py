"""``amct lint``: check files and report diagnostics; ``--fix`` rewrites what is safe to rewrite.

Exit status: 0 when no error is reported (with ``--strict``: no warning either),
1 when one is, 2 for usage errors, unreadable files, unusable layer inventories and internal failures.

Model-aware checks use ``--layers``/``--model`` when given, else the inventory a
file names in its ``# amct: layers=PATH`` header, else the ``layers`` of its settings.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from amct_cli import CLIError, plural, wrote
from amct_cli.common import (
    add_settings_arguments,
    color_enabled,
    input_paths,
    load_inventory_file,
    load_model_inventory,
    read_config,
    remove_stray_temporaries,
    resolver_from,
    write_bytes,
)
from cfglang.diagnostics import Severity
from cfglang.render import RENDERERS, FileReport, for_terminal, printable, render, render_statistics, summary
from cfglang.settings import Settings, SettingsError, inventory_source, parse_codes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="files or folders to check (folders: *.cfg, *.txtpb, *.textproto, *.pbtxt); "
                             "`-` reads stdin; default: the working folder")
    parser.add_argument("--format", choices=list(RENDERERS), default="full", help="output format (default: full)")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour the full and concise formats (auto: on a terminal; never with NO_COLOR)")
    parser.add_argument("--select", action="append", metavar="CODES",
                        help="report only these codes or code prefixes (comma-separated; replaces the settings)")
    parser.add_argument("--ignore", action="append", metavar="CODES",
                        help="do not report these codes or code prefixes (comma-separated; replaces the settings)")
    parser.add_argument("--strict", action="store_true", default=None, help="warnings fail the run too")
    parser.add_argument("--exit-zero", action="store_true", help="exit 0 even when errors are reported")
    parser.add_argument("--statistics", action="store_true", help="print the count of each code instead")
    parser.add_argument("--max-file-size", type=_byte_count, metavar="BYTES",
                        help="refuse larger files with S015 (default: 16 MiB, or `max-file-size` of the settings)")
    parser.add_argument("--fix", action="store_true", help="apply the safe fixes, then report what is left")
    parser.add_argument("--unsafe-fixes", action="store_true",
                        help="with --fix or --diff, also apply the fixes that may change what AMCT does")
    parser.add_argument("--diff", action="store_true",
                        help="print the fixes as a unified diff instead of writing them (exit 1 when any)")
    model = parser.add_mutually_exclusive_group()
    model.add_argument("--layers", metavar="JSON",
                       help="layer inventory (`amct layers`) for model-aware checks (default: the one a file's "
                            "`# amct: layers=PATH` header or the `layers` setting names)")
    model.add_argument("--model", metavar="MODULE:FACTORY|PROGRAM.pt2",
                       help="a Python factory returning the torch model, or a torch.export program file, "
                            "for model-aware checks (needs torch)")
    add_settings_arguments(parser)
    from amct_cli.targets import add_target_argument

    add_target_argument(parser)


def _byte_count(text: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError(f"found `{text}`, expected a positive number of bytes")
    return int(text)


@dataclass
class _Run:
    args: argparse.Namespace
    stdout: TextIO
    stderr: TextIO
    reports: list[FileReport] = field(default_factory=list)
    diffs: list[str] = field(default_factory=list)
    failed_inputs: int = 0  # files that could not be read, inventories they name that could not be used
    fixed: int = 0
    failing: bool = False  # a file reported what its settings count as failure


def _inventory(args: argparse.Namespace) -> Any:
    if args.layers:
        return load_inventory_file(args.layers, limit=args.max_file_size)
    if args.model:
        return load_model_inventory(args.model)
    return None


class _Inventories:
    """The inventory of each file: `--layers`/`--model` for all, else its `# amct: layers=` header, else the
    `layers` of its settings; each inventory is loaded once."""

    def __init__(self, fixed: Any) -> None:
        self._fixed = fixed
        self._loaded: dict[tuple[Path, Path | None], tuple[Any, str | None]] = {}

    def for_file(self, data: Any, path: str | None, settings: Settings) -> tuple[Any, str | None]:
        """(inventory or None, why the one the file names cannot be used); ``path`` None for unnamed stdin.

        A named inventory is a regular file inside the project, at most ``max-file-size`` bytes."""
        if self._fixed is not None:
            return self._fixed, None
        if not isinstance(data, bytes):  # a file refused for its size: no header was read
            return None, None
        source = inventory_source(data, path, settings)
        if source is None:
            return None, None
        key = (_resolved(source.path), source.root)
        if key not in self._loaded:
            try:
                self._loaded[key] = (load_inventory_file(str(source.path), root=source.root, special=False,
                                                         limit=settings.max_file_size), None)
            except CLIError as exc:
                self._loaded[key] = (None, str(exc))
        inventory, problem = self._loaded[key]
        return inventory, None if problem is None else source.unusable(path or "-", problem)


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a loop of links: the load reports it
        return path.absolute()


def _lint_one(run: _Run, name: str, data: Any, settings: Settings, inventory: Any, stdin: bool) -> None:
    from cfglang.lint import fix_text, lint

    args = run.args
    if args.fix or args.diff:
        outcome = fix_text(data, name, settings, inventory, unsafe=args.unsafe_fixes)
        result, run.fixed = outcome.result, run.fixed + outcome.fixed
        if outcome.reverted:
            print(f"amct lint: {name}: a fix would introduce a syntax error, so it was not applied", file=run.stderr)
        if args.diff:
            _add_diff(run, name, outcome.original, outcome.text)
        elif stdin:
            run.stdout.write(("\ufeff" if result.has_bom else "") + outcome.text)
        elif outcome.text != outcome.original:
            try:  # `expected`: an edit made since the read is never overwritten
                write_bytes(name, (("\ufeff" if result.has_bom else "") + outcome.text).encode("utf-8"),
                            expected=data)
            except CLIError as exc:  # reported; the other files are still fixed
                print(f"amct lint: {printable(str(exc))}", file=run.stderr)
                run.failed_inputs += 1
            else:
                wrote(run.stderr, printable(name), f"{plural(outcome.fixed, 'fix')} applied")
    else:
        result = lint(data, name, settings, inventory)
    run.reports.append(FileReport(name, result.text, result.diagnostics))
    worst = Severity.WARNING if settings.strict else Severity.ERROR
    run.failing = run.failing or any(d.severity >= worst for d in result.diagnostics)


def _add_diff(run: _Run, name: str, before: str, after: str) -> None:
    if before != after:
        import difflib

        run.diffs.append("".join(difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), fromfile=name, tofile=name)))


def _inputs(args: argparse.Namespace, problems: list[str]) -> list[tuple[str, Path | None]]:
    """(name in messages, path) per input; the path is None for stdin. Folders that cannot be searched go to
    ``problems``."""
    paths, use_stdin = input_paths(args, problems)
    if use_stdin:
        return [(args.stdin_filename or "-", None)]
    return [(str(path), path) for path in paths]


def main(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    if args.unsafe_fixes and not (args.fix or args.diff):
        raise CLIError("`--unsafe-fixes` needs `--fix` or `--diff`")
    try:
        select = parse_codes(args.select, "`--select`") if args.select else None
        ignore = parse_codes(args.ignore, "`--ignore`") if args.ignore else None
    except SettingsError as exc:
        raise CLIError(str(exc)) from None
    resolver = resolver_from(args, select=select, ignore=ignore, strict=args.strict, max_file_size=args.max_file_size,
                             target=args.amct_target)
    inventories = _Inventories(_inventory(args))
    problems: list[str] = []
    inputs = _inputs(args, problems)
    run = _Run(args, stdout, stderr)
    for problem in problems:  # an unsearchable folder: reported, the run fails, the rest is checked
        print(f"amct lint: {printable(problem)}", file=stderr)
        run.failed_inputs += 1
    if args.fix:
        remove_stray_temporaries([path for _, path in inputs if path is not None])
    for name, path in inputs:
        where = args.stdin_filename if path is None else str(path)
        try:
            settings = resolver.for_path(where)  # first: its `max-file-size` bounds the read
        except SettingsError as exc:
            raise CLIError(str(exc)) from None
        try:
            data = read_config(path, settings.max_file_size)
        except CLIError as exc:
            print(f"amct lint: {printable(str(exc))}", file=stderr)
            run.failed_inputs += 1
            continue
        inventory, problem = inventories.for_file(data, where, settings)
        if problem is not None:  # the file is still checked, without the model; the run fails (exit 2)
            print(f"amct lint: {printable(problem)} (checked without the model)", file=stderr)
            run.failed_inputs += 1
        _lint_one(run, name, data, settings, inventory, stdin=path is None)
    if args.diff:
        stdout.write(for_terminal("".join(run.diffs), stdout))
        if run.fixed:
            print(f"amct lint: would fix {run.fixed} {'issue' if run.fixed == 1 else 'issues'}", file=stderr)
        return 2 if run.failed_inputs else int(bool(run.diffs))
    # with stdin and --fix the fixed text went to stdout, so the report goes to stderr
    _report(run, stderr if inputs[:1] and inputs[0][1] is None and args.fix else stdout)
    if run.failed_inputs:
        return 2
    return 0 if args.exit_zero else int(run.failing)


def _report(run: _Run, out: TextIO) -> None:
    args = run.args
    diagnostics = [d for r in run.reports for d in r.diagnostics]
    if args.statistics:
        out.write(render_statistics(diagnostics, as_json=args.format in ("json", "sarif")))
        return
    reports = [r for r in run.reports if r.diagnostics] if args.format != "sarif" else run.reports
    out.write(render(reports, args.format, color=color_enabled(args.color, out)))
    if args.format in ("full", "concise"):
        line = summary(diagnostics, len(reports), run.fixed)
        if line:
            out.write(line + "\n")
        hint = _fix_hint(diagnostics, args)
        if hint:
            out.write(hint + "\n")


def _fix_hint(diagnostics: list[Any], args: argparse.Namespace) -> str | None:
    """What fixes are left and the options that apply them (the marks of the concise format)."""
    safe = sum(1 for d in diagnostics if d.fix is not None and d.fix.safe)
    unsafe = sum(1 for d in diagnostics if d.fix is not None and not d.fix.safe) if not args.unsafe_fixes else 0
    if args.fix:  # the safe ones were applied: what is left needs the other option
        if not unsafe:
            return None
        return (f"[~] {plural(unsafe, 'unsafe fix')} left: apply {'it' if unsafe == 1 else 'them'} with "
                f"`--fix --unsafe-fixes` (an unsafe fix may change what AMCT does)")
    parts = [f"[*] {safe} fixable with `--fix`"] if safe else []
    if unsafe:
        parts.append(f"[~] {unsafe} {'more ' if safe else ''}with `--fix --unsafe-fixes` (may change what AMCT does)")
    return "; ".join(parts) or None
