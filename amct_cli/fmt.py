"""``amct fmt``: rewrite files in the canonical layout (see :mod:`cfglang.formatter`).

Exit status: 0 when every file is formatted (or was rewritten), 1 with
``--check``/``--diff`` when a file would change or when a file has syntax errors
or is larger than ``max-file-size`` (it is then left as it is), 2 for usage
errors and files that could not be read or written (each is reported; the
others are still formatted). A file changed by another program while it was
formatted is not overwritten (reported, status 2).
"""

from __future__ import annotations

import argparse
import difflib
from pathlib import Path
from typing import Any, TextIO

from amct_cli import CLIError, wrote
from amct_cli.common import (
    add_settings_arguments,
    color_enabled,
    input_paths,
    read_config,
    remove_stray_temporaries,
    resolver_from,
)
from cfglang.render import FileReport, for_terminal, printable, render_full


_BOM = b"\xef\xbb\xbf"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="files or folders to format (folders: *.cfg, *.txtpb, *.textproto, *.pbtxt); "
                             "`-` reads stdin and writes stdout; default: the working folder")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a file would change")
    parser.add_argument("--diff", action="store_true", help="print a unified diff instead of writing; exit 1 "
                                                            "when a file would change")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour syntax errors (auto: on a terminal; never with NO_COLOR)")
    add_settings_arguments(parser)


def _formatted(data: Any, options: Any) -> tuple[bytes | None, Any]:
    """The formatted bytes (None on syntax errors) and the parsed document (``data``: bytes, or the S015
    document of a file refused for its size)."""
    from cfglang.diagnostics import Severity
    from cfglang.formatter import format_document
    from cfglang.parser import parse

    document = data if not isinstance(data, bytes) else parse(data)
    if any(d.severity is Severity.ERROR for d in document.diagnostics):  # syntax warnings: formatted (formatter)
        return None, document
    text = format_document(document, options)
    return (_BOM if document.has_bom else b"") + text.encode("utf-8"), document


def _diff(name: str, old: bytes, new: bytes) -> str:
    before = old.decode("utf-8", "replace").splitlines(keepends=True)
    after = new.decode("utf-8", "replace").splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, fromfile=name, tofile=name))


def main(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from amct_cli.common import write_bytes
    from cfglang.settings import SettingsError

    resolver = resolver_from(args)
    problems: list[str] = []
    paths, use_stdin = input_paths(args, problems)
    inputs: list[tuple[str, Path | None]] = [(args.stdin_filename or "-", None)] if use_stdin else [
        (str(p), p) for p in paths]
    changed = unchanged = broken = 0
    failed = len(problems)  # unsearchable folders, unreadable and unwritable files: reported, the rest done
    for problem in problems:
        print(f"amct fmt: {printable(problem)}", file=stderr)
    if not (args.check or args.diff):
        remove_stray_temporaries(paths)
    color = color_enabled(args.color, stderr)
    for name, path in inputs:
        try:
            settings = resolver.for_path(args.stdin_filename if path is None else path)
            data = read_config(path, settings.max_file_size)
        except CLIError as exc:
            print(f"amct fmt: {printable(str(exc))}", file=stderr)
            failed += 1
            continue
        except SettingsError as exc:
            raise CLIError(str(exc)) from None
        new, document = _formatted(data, settings.format)
        if new is None:
            broken += 1
            stderr.write(render_full([FileReport(name, document.text, tuple(document.diagnostics))], color))
            print(f"amct fmt: {printable(name)}: not formatted: it has syntax errors", file=stderr)
            continue
        if new == data:
            unchanged += 1
            if path is None and not (args.check or args.diff):
                stdout.write(new.decode("utf-8"))
            continue
        if args.diff:
            stdout.write(for_terminal(_diff(name, data, new), stdout))
        elif args.check:
            print(f"would reformat {printable(name)}", file=stderr)
        elif path is None:
            stdout.write(new.decode("utf-8"))
        else:
            try:  # `expected`: an edit made since the read is never overwritten
                write_bytes(path, new, expected=data)
            except CLIError as exc:
                print(f"amct fmt: {printable(str(exc))}", file=stderr)
                failed += 1
                continue
            wrote(stderr, printable(name), "reformatted")
        changed += 1
    if not use_stdin:
        verb = "would be reformatted" if args.check or args.diff else "reformatted"
        parts = [f"{_files(changed)} {verb}"] if changed else []
        if unchanged:
            parts.append(f"{_files(unchanged)} left unchanged")
        if broken:
            parts.append(f"{_files(broken)} with syntax errors")
        if failed:
            parts.append(f"{_files(failed)} not read or not written")
        if parts:
            print(", ".join(parts), file=stderr)
    if failed:
        return 2
    return int(bool(broken) or (bool(changed) and (args.check or args.diff)))


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"
