"""``amct fmt``: rewrite files in the canonical layout (see :mod:`cfglang.formatter`).

Exit status: 0 when every file is formatted (or was rewritten), 1 with
``--check``/``--diff`` when a file would change or when a file has syntax errors
(it is then left as it is), 2 for usage errors and unreadable files.
"""

from __future__ import annotations

import argparse
import difflib
from pathlib import Path
from typing import TextIO

from cfglang.cli import CLIError
from cfglang.cli.common import (
    add_settings_arguments,
    color_enabled,
    input_paths,
    read_bytes,
    read_stdin,
    resolver_from,
)
from cfglang.render import FileReport, render_full

HELP = "format .cfg files in the canonical layout"

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


def _formatted(data: bytes, options) -> tuple[bytes | None, object]:
    """The formatted bytes (None on syntax errors) and the parsed document."""
    from cfglang.formatter import format_document
    from cfglang.parser import parse

    document = parse(data)
    if document.diagnostics:
        return None, document
    text = format_document(document, options)
    return (_BOM if document.has_bom else b"") + text.encode("utf-8"), document


def _diff(name: str, old: bytes, new: bytes) -> str:
    before = old.decode("utf-8", "replace").splitlines(keepends=True)
    after = new.decode("utf-8", "replace").splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, fromfile=name, tofile=name))


def main(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from cfglang.cli.common import write_bytes
    from cfglang.settings import SettingsError

    resolver = resolver_from(args)
    paths, use_stdin = input_paths(args)
    inputs: list[tuple[str, Path | None]] = [(args.stdin_filename or "-", None)] if use_stdin else [
        (str(p), p) for p in paths]
    changed = unchanged = broken = unreadable = 0
    color = color_enabled(args.color, stderr)
    for name, path in inputs:
        try:
            data = read_stdin() if path is None else read_bytes(path)
            options = resolver.for_path(args.stdin_filename if path is None else path).format
        except CLIError as exc:
            print(f"amct fmt: {exc}", file=stderr)
            unreadable += 1
            continue
        except SettingsError as exc:
            raise CLIError(str(exc)) from None
        new, document = _formatted(data, options)
        if new is None:
            broken += 1
            stderr.write(render_full([FileReport(name, document.text, tuple(document.diagnostics))], color))
            print(f"amct fmt: {name}: not formatted: it has syntax errors", file=stderr)
            continue
        if new == data:
            unchanged += 1
            if path is None and not (args.check or args.diff):
                stdout.write(new.decode("utf-8"))
            continue
        changed += 1
        if args.diff:
            stdout.write(_diff(name, data, new))
        elif args.check:
            print(f"would reformat {name}", file=stderr)
        elif path is None:
            stdout.write(new.decode("utf-8"))
        else:
            write_bytes(path, new)
    if not use_stdin:
        verb = "would be reformatted" if args.check or args.diff else "reformatted"
        parts = [f"{_files(changed)} {verb}"] if changed else []
        if unchanged:
            parts.append(f"{_files(unchanged)} left unchanged")
        if broken:
            parts.append(f"{_files(broken)} with syntax errors")
        if parts:
            print(", ".join(parts), file=stderr)
    if unreadable:
        return 2
    return int(bool(broken) or (bool(changed) and (args.check or args.diff)))


def _files(n: int) -> str:
    return f"{n} file" if n == 1 else f"{n} files"
