"""What ``amct lint`` and ``amct fmt`` share: inputs, settings options, colour, writes."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from amct_cli import CLIError
from cfglang.settings import InventorySource, SettingsError, SettingsResolver

__all__ = ["add_settings_arguments", "resolver_from", "input_paths", "read_config", "read_bytes", "read_stdin",
           "write_bytes", "is_stdout", "remove_stray_temporaries",
           "color_enabled", "load_inventory_file", "load_named_inventory", "load_model_inventory"]


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stdin-filename", metavar="NAME",
                        help="the name of the file read from stdin, for messages and settings lookup")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--config", metavar="PATH",
                       help="use this settings file (pyproject.toml or amct.toml) for every path")
    group.add_argument("--isolated", action="store_true", help="ignore every settings file")


def resolver_from(args: argparse.Namespace, **overrides: Any) -> SettingsResolver:
    try:
        return SettingsResolver(args.config, args.isolated, **overrides)
    except SettingsError as exc:
        raise CLIError(str(exc)) from None


def input_paths(args: argparse.Namespace, problems: list[str] | None = None) -> tuple[list[Path], bool]:
    """The files to process and whether stdin is one of the inputs (``-``).

    A folder under a named one that cannot be searched, and a file found there that is not a regular file
    inside it, goes to ``problems`` (one line each; the caller reports them and fails the run); the others
    are still processed.
    """
    from cfglang.fsutil import ReadError, discover

    raw = args.paths or ["."]
    use_stdin = "-" in raw
    if use_stdin and len(raw) > 1:
        raise CLIError("`-` (stdin) cannot be combined with other paths")
    if args.stdin_filename and not use_stdin:
        raise CLIError("`--stdin-filename` needs `-` among the paths")
    if use_stdin:
        return [], True
    try:
        return discover(raw, [] if problems is None else problems), False
    except (FileNotFoundError, ReadError) as exc:
        raise CLIError(str(exc)) from None


def read_config(path: Path | None, limit: int | None = None) -> Any:
    """The bytes of a config input (``path`` None: stdin), or, when it has more than ``limit`` bytes (default
    16 MiB), the S015 document saying so, read no further. A path from the command line may be a FIFO or a
    device (``<(cmd)``, ``/dev/stdin``); the read is bounded all the same."""
    from cfglang.fsutil import DEFAULT_MAX_SIZE, FileTooLarge, ReadError, read_file
    from cfglang.parser import too_large

    limit = limit or DEFAULT_MAX_SIZE
    if path is None:
        data = read_stdin(limit)
        return too_large(None, limit, None) if len(data) > limit else data
    try:
        return read_file(path, limit=limit, special=True)
    except FileTooLarge as exc:
        return too_large(exc.size, limit, str(path))
    except ReadError as exc:
        raise CLIError(str(exc)) from None


def read_bytes(path: Path, limit: int | None = None) -> bytes:
    """The bytes of a file the user named (bounded by ``limit``, default 16 MiB); a failure is one line."""
    from cfglang.fsutil import ReadError, read_file

    try:
        return read_file(path, limit=limit, special=True)
    except ReadError as exc:
        raise CLIError(str(exc)) from None


def read_stdin(limit: int | None = None) -> bytes:
    """Standard input, at most ``limit`` + 1 bytes (so that a caller sees it is too large without reading on)."""
    from cfglang.fsutil import DEFAULT_MAX_SIZE

    stream = sys.stdin
    if stream is None:
        raise CLIError("stdin is closed")
    size = (limit or DEFAULT_MAX_SIZE) + 1
    buffer = getattr(stream, "buffer", None)
    try:
        return buffer.read(size) if buffer is not None else stream.read(size).encode("utf-8")
    except OSError as exc:
        raise CLIError(f"cannot read stdin: {exc.strerror or exc}") from None


def remove_stray_temporaries(paths: list[Path]) -> None:
    """Before rewriting ``paths``: remove the temporary files that killed runs left in their folders (once
    per folder; only those whose process is gone, see :func:`cfglang.fsutil.remove_strays`)."""
    from cfglang.fsutil import remove_strays

    for folder in dict.fromkeys(path.parent for path in paths):
        try:
            remove_strays(folder)
        except OSError:
            pass  # a folder we cannot list: its files are reported when they are read


# `-o` names that mean standard output
_STDOUT_NAMES = ("-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1")


def is_stdout(path: str | os.PathLike | None) -> bool:
    return path is not None and os.fspath(path) in _STDOUT_NAMES


def write_bytes(path: str | Path, data: bytes, stdout: TextIO | None = None, expected: bytes | None = None) -> None:
    """Write ``data`` to ``path`` (see :func:`cfglang.fsutil.atomic_write`: nothing lost, links and modes kept,
    devices written through); ``-`` and ``/dev/stdout`` write to ``stdout``. A failure is one line.

    ``expected``: the bytes read from ``path`` before; if it changed since, nothing is written.
    """
    from cfglang.fsutil import atomic_write

    if is_stdout(path):
        out = stdout or sys.stdout
        buffer = getattr(out, "buffer", None)
        if buffer is not None:
            out.flush()
            buffer.write(data)
            buffer.flush()
        else:
            out.write(data.decode("utf-8"))
        return
    try:
        atomic_write(path, data, expected=expected)
    except OSError as exc:
        raise CLIError(str(exc)) from None


def color_enabled(choice: str, stream: TextIO) -> bool:
    """``auto``: on a terminal; never when ``NO_COLOR`` is set to anything but the empty string."""
    if os.environ.get("NO_COLOR"):
        return False
    if choice != "auto":
        return choice == "always"
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def load_inventory_file(path: str, root: Path | None = None, special: bool = True, limit: int | None = None) -> Any:
    """The inventory in ``path``: one the user named (``--layers``: any file, FIFOs and devices too), or with
    ``root`` one a document or settings file named (a regular file inside ``root``). Bounded by ``limit``."""
    from cfglang.inventory import Inventory, InventoryError

    try:
        return Inventory.load(path, root=root, special=special, limit=limit)
    except InventoryError as exc:
        raise CLIError(str(exc)) from None


def load_named_inventory(source: InventorySource, name: str, limit: int | None = None) -> Any:
    """The inventory a file's header or settings name; a failure is one line at the header (file ``name``).

    Only a regular file inside the project (``source.root``) is read, bounded by ``limit``."""
    try:
        return load_inventory_file(str(source.path), root=source.root, special=False, limit=limit)
    except CLIError as exc:
        raise CLIError(source.unusable(name, str(exc))) from None


def load_model_inventory(ref: str) -> Any:
    """The inventory of the model ``ref`` names (``quant``: imports torch): ``package.module:factory``,
    or a ``torch.export`` program file (see ``quant.inventory.inventory_from_ref``).

    A model that cannot be traced still gives names and types; the trace warning saying what is
    missing is always shown (``amct_cli.run`` prints warnings in the CLI's one form).
    """
    import warnings

    try:
        from quant.inventory import TraceWarning, inventory_from_ref
        from quant.modelref import ModelRefError
    except ImportError as exc:
        raise CLIError(f"`--model` needs the quant extra with torch ({exc}); "
                       "or write the inventory with `amct layers` and pass `--layers`") from None
    with warnings.catch_warnings():
        warnings.simplefilter("always", TraceWarning)
        try:
            return inventory_from_ref(ref)
        except ModelRefError as exc:
            raise CLIError(f"`--model`: {exc}") from None
