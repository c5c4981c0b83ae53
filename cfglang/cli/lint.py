"""``amct lint``: check files and report diagnostics; ``--fix`` rewrites what is safe to rewrite.

Exit status: 0 when no error is reported (with ``--strict``: no warning either),
1 when one is, 2 for usage errors, unreadable files and internal failures.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from cfglang.cli import CLIError
from cfglang.cli.common import (
    add_settings_arguments,
    color_enabled,
    input_paths,
    read_bytes,
    read_stdin,
    resolver_from,
    write_bytes,
)
from cfglang.diagnostics import Severity
from cfglang.render import FORMATS, FileReport, render, render_statistics, summary
from cfglang.settings import Settings, SettingsError, parse_codes

HELP = "check .cfg files and report diagnostics"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="files or folders to check (folders: *.cfg, *.txtpb, *.textproto, *.pbtxt); "
                             "`-` reads stdin; default: the working folder")
    parser.add_argument("--format", choices=FORMATS, default="full", help="output format (default: full)")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour the full and concise formats (auto: on a terminal; never with NO_COLOR)")
    parser.add_argument("--select", action="append", metavar="CODES",
                        help="report only these codes or code prefixes (comma-separated; replaces the settings)")
    parser.add_argument("--ignore", action="append", metavar="CODES",
                        help="do not report these codes or code prefixes (comma-separated; replaces the settings)")
    parser.add_argument("--strict", action="store_true", default=None, help="warnings fail the run too")
    parser.add_argument("--exit-zero", action="store_true", help="exit 0 even when errors are reported")
    parser.add_argument("--statistics", action="store_true", help="print the count of each code instead")
    parser.add_argument("--fix", action="store_true", help="apply the safe fixes, then report what is left")
    parser.add_argument("--unsafe-fixes", action="store_true",
                        help="with --fix or --diff, also apply the fixes that may change what AMCT does")
    parser.add_argument("--diff", action="store_true",
                        help="print the fixes as a unified diff instead of writing them (exit 1 when any)")
    model = parser.add_mutually_exclusive_group()
    model.add_argument("--layers", metavar="JSON", help="layer inventory (`amct layers`) for model-aware checks")
    model.add_argument("--model", metavar="MODULE:FACTORY",
                       help="a Python factory returning the torch model, for model-aware checks (needs torch)")
    add_settings_arguments(parser)


@dataclass
class _Run:
    reports: list[FileReport]
    failed_reads: int = 0
    fixed: int = 0
    diffs: list[str] | None = None


def _inventory(args: argparse.Namespace) -> Any:
    if args.layers:
        from cfglang.cli.common import load_inventory_file

        return load_inventory_file(args.layers)
    if args.model:
        from cfglang.cli.common import load_model_inventory

        return load_model_inventory(args.model)
    return None


class _Inventories:
    """The inventory for each file: `--layers`/`--model` for all, else the `layers` of its settings."""

    def __init__(self, fixed: Any) -> None:
        self._fixed = fixed
        self._loaded: dict[Path, Any] = {}

    def for_settings(self, settings: Settings) -> Any:
        if self._fixed is not None or settings.layers is None:
            return self._fixed
        base = settings.source.parent if settings.source is not None else Path(".")
        path = (base / settings.layers).resolve()
        if path not in self._loaded:
            from cfglang.cli.common import load_inventory_file

            self._loaded[path] = load_inventory_file(str(path))
        return self._loaded[path]


def _lint_one(name: str, data: bytes, settings, inventory, args, run: _Run, stdin: bool,
              stdout: TextIO, stderr: TextIO) -> None:
    from cfglang.lint import fix_text, lint

    if not (args.fix or args.diff):
        result = lint(data, name, settings, inventory)
        run.reports.append(FileReport(name, result.text, result.diagnostics))
        return
    outcome = fix_text(data, name, settings, inventory, unsafe=args.unsafe_fixes)
    if outcome.reverted:
        print(f"amct lint: {name}: a fix would introduce a syntax error, so it was not applied", file=stderr)
    run.reports.append(FileReport(name, outcome.text, outcome.result.diagnostics))
    changed = outcome.text != outcome.original
    if args.diff:
        if changed:
            import difflib

            run.diffs.append("".join(difflib.unified_diff(
                outcome.original.splitlines(keepends=True), outcome.text.splitlines(keepends=True),
                fromfile=name, tofile=name)))
        run.fixed += outcome.fixed
        return
    run.fixed += outcome.fixed
    body = ("\ufeff" if outcome.result.has_bom else "") + outcome.text
    if stdin:
        stdout.write(body)
    elif changed:
        write_bytes(name, body.encode("utf-8"))


def _exit_status(run: _Run, strict: bool, exit_zero: bool) -> int:
    if run.failed_reads:
        return 2
    if exit_zero:
        return 0
    worst = Severity.WARNING if strict else Severity.ERROR
    return int(any(d.severity >= worst for r in run.reports for d in r.diagnostics))


def main(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    if args.unsafe_fixes and not (args.fix or args.diff):
        raise CLIError("`--unsafe-fixes` needs `--fix` or `--diff`")
    try:
        select = parse_codes(args.select, "`--select`") if args.select else None
        ignore = parse_codes(args.ignore, "`--ignore`") if args.ignore else None
    except SettingsError as exc:
        raise CLIError(str(exc)) from None
    resolver = resolver_from(args, select=select, ignore=ignore, strict=args.strict)
    inventories = _Inventories(_inventory(args))
    paths, use_stdin = input_paths(args)
    run = _Run(reports=[], diffs=[] if args.diff else None)
    # with stdin and --fix the fixed text goes to stdout, so the report goes to stderr
    report_out = stderr if use_stdin and args.fix and not args.diff else stdout
    strict = False
    try:
        if use_stdin:
            name = args.stdin_filename or "-"
            settings = resolver.for_path(args.stdin_filename)
            strict = strict or settings.strict
            _lint_one(name, read_stdin(), settings, inventories.for_settings(settings), args, run, True, stdout, stderr)
        for path in paths:
            name = str(path)
            try:
                data = read_bytes(path)
            except CLIError as exc:
                print(f"amct lint: {exc}", file=stderr)
                run.failed_reads += 1
                continue
            settings = resolver.for_path(path)
            strict = strict or settings.strict
            _lint_one(name, data, settings, inventories.for_settings(settings), args, run, False, stdout, stderr)
    except SettingsError as exc:
        raise CLIError(str(exc)) from None
    if args.diff:
        stdout.write("".join(run.diffs))
        if run.fixed:
            print(f"amct lint: would fix {run.fixed} {'issue' if run.fixed == 1 else 'issues'}", file=stderr)
        return 2 if run.failed_reads else int(bool(run.diffs))
    _report(run, args, report_out)
    return _exit_status(run, strict, args.exit_zero)


def _report(run: _Run, args: argparse.Namespace, out: TextIO) -> None:
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

