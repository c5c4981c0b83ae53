"""What ``amct lint`` and ``amct fmt`` share: inputs, settings options, colour, writes."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from cfglang.cli import CLIError
from cfglang.settings import InventorySource, SettingsError, SettingsResolver

__all__ = ["add_settings_arguments", "resolver_from", "input_paths", "read_bytes", "read_stdin", "write_bytes",
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


def input_paths(args: argparse.Namespace) -> tuple[list[Path], bool]:
    """The files to process and whether stdin is one of the inputs (``-``)."""
    from cfglang.fsutil import discover

    raw = args.paths or ["."]
    use_stdin = "-" in raw
    if use_stdin and len(raw) > 1:
        raise CLIError("`-` (stdin) cannot be combined with other paths")
    if args.stdin_filename and not use_stdin:
        raise CLIError("`--stdin-filename` needs `-` among the paths")
    if use_stdin:
        return [], True
    try:
        return discover(raw), False
    except FileNotFoundError as exc:
        raise CLIError(str(exc)) from None


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CLIError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_stdin() -> bytes:
    stream = sys.stdin
    if stream is None:
        raise CLIError("stdin is closed")
    buffer = getattr(stream, "buffer", None)
    try:
        return buffer.read() if buffer is not None else stream.read().encode("utf-8")
    except OSError as exc:
        raise CLIError(f"cannot read stdin: {exc.strerror or exc}") from None


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write atomically (see :func:`cfglang.fsutil.atomic_write`); a failure is one line."""
    from cfglang.fsutil import atomic_write

    try:
        atomic_write(path, data)
    except OSError as exc:
        raise CLIError(f"cannot write {path}: {exc.strerror or exc}") from None


def color_enabled(choice: str, stream: TextIO) -> bool:
    """``auto``: on a terminal; never when ``NO_COLOR`` is set to anything but the empty string."""
    if os.environ.get("NO_COLOR"):
        return False
    if choice != "auto":
        return choice == "always"
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def load_inventory_file(path: str) -> Any:
    from cfglang.inventory import Inventory, InventoryError

    try:
        return Inventory.load(path)
    except InventoryError as exc:
        raise CLIError(str(exc)) from None


def load_named_inventory(source: InventorySource, name: str) -> Any:
    """The inventory a file's header or settings name; a failure is one line at the header (file ``name``)."""
    try:
        return load_inventory_file(str(source.path))
    except CLIError as exc:
        raise CLIError(source.unusable(name, str(exc))) from None


def load_model_inventory(ref: str, stderr: TextIO | None = None, prefix: str = "warning") -> Any:
    """The inventory of the model ``ref`` names (``quant``: imports torch): ``package.module:factory``,
    or a ``torch.export`` program file (see ``quant.inventory.inventory_from_ref``).

    A model that cannot be traced still gives names and types; the trace warning
    saying what is missing goes to ``stderr`` as ``<prefix>: ...``.
    """
    import warnings

    try:
        from quant.inventory import TraceWarning, inventory_from_ref
        from quant.modelref import ModelRefError
    except ImportError as exc:
        raise CLIError(f"`--model` needs the quant extra with torch ({exc}); "
                       "or write the inventory with `amct layers` and pass `--layers`") from None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TraceWarning)
        try:
            found = inventory_from_ref(ref)
        except ModelRefError as exc:
            raise CLIError(f"`--model`: {exc}") from None
    for warning in caught:
        if issubclass(warning.category, TraceWarning) and stderr is not None:
            print(f"{prefix}: {warning.message}", file=stderr)
    return found
