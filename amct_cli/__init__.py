"""``amct``: the command line, an application above both libraries (``cfglang``, the language, and
``quant``, the engine); neither imports it. One entry point, one module per subcommand, found in
:data:`COMMANDS` and imported only when used (``python -m amct_cli`` is the same as ``amct``).

Start-up is the product for ``amct lint`` in pre-commit: nothing here imports
more than argparse until a subcommand is chosen, and the lint path never
imports torch or pygls.

Each subcommand module exposes ``add_arguments(parser)`` and ``main(args, stdout, stderr) -> int``;
its one line of help is in :data:`COMMANDS`.

Messages have one form for every command: ``amct NAME: MESSAGE`` for a failure,
``amct NAME: warning: MESSAGE`` for a warning (Python ``warnings`` raised while a
command runs, by torch or by tracing, are printed so, without source paths), and
``wrote PATH: WHAT`` for each file a command writes (:func:`wrote`).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import os
import sys
import warnings
from collections.abc import Iterator
from typing import NamedTuple, TextIO

from cfglang.fsutil import os_reason

__all__ = ["Command", "COMMANDS", "run", "main", "lint_main", "CLIError", "UserDataError", "wrote", "plural",
           "warning_line"]


class Command(NamedTuple):
    """One subcommand: where it lives and what ``amct --help`` says of it."""

    module: str  # imported only when the command runs: `amct lint` imports neither torch nor pygls
    help: str  # one line, here so that `amct --help` imports no command module
    extra: str | None = None  # the optional dependencies it needs (`pip install 'amct-cfg[EXTRA]'`)


#: every subcommand, by name: the one place that says which commands exist
COMMANDS: dict[str, Command] = {
    "lint": Command("amct_cli.lint", "check .cfg files and report diagnostics"),
    "fmt": Command("amct_cli.fmt", "format .cfg files in the canonical layout"),
    "explain": Command("amct_cli.explain", "explain a diagnostic code, or where each value of a layer comes from"),
    "plan": Command("amct_cli.plan", "resolve a config against a model into the per-layer plan"),
    "schema": Command("amct_cli.schema", "print the JSON Schema of the config, the plan or the inventory"),
    "convert": Command("amct_cli.convert", "convert a config between .cfg text and JSON"),
    "rules": Command("amct_cli.rules", "list every diagnostic rule: code, name, severity, summary"),
    "layers": Command("amct_cli.layers", "write the layer inventory of a PyTorch model (needs torch)", "quant"),
    "quantize": Command("amct_cli.quantize", "calibrate and quantize a PyTorch model (needs torch)", "quant"),
    "analyze": Command("amct_cli.analyze", "measure each quantized layer's error and sensitivity; write an HTML "
                       "report (needs torch)", "quant"),
    "tune": Command("amct_cli.tune", "edit a config until the quantized model meets a target (needs torch)", "quant"),
    "demo": Command("amct_cli.demo", "train, quantize and evaluate a small CNN on the digits dataset (needs torch)",
                    "quant"),
    "lsp": Command("amct_cli.lsp", "start the language server over stdio (needs pygls)", "lsp"),
}


class CLIError(Exception):
    """A user-facing failure: printed as one line on stderr, exit status 2."""


class UserDataError(Exception):
    """The user's model failed on the user's data: one line on stderr, exit status 1 (a finding, not a crash)."""


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 calibration batch``, ``2 calibration batches``."""
    if count == 1:
        return f"{count} {word}"
    return f"{count} {words or (word + 'es' if word.endswith(('s', 'sh', 'ch', 'x')) else word + 's')}"


def wrote(stream: TextIO, path: str | os.PathLike, what: str) -> None:
    """The one line each command prints for each file it wrote: ``wrote PATH: WHAT``.

    Commands print it on stderr, so that stdout carries only data (a plan, a table)."""
    print(f"wrote {os.fspath(path)}: {what}", file=stream)


def warning_line(command: str, message: str) -> str:
    """The one form of a warning: ``amct COMMAND: warning: MESSAGE``."""
    return f"amct {command}: warning: {str(message).strip()}"


@contextlib.contextmanager
def _warnings_as_lines(command: str, stderr: TextIO) -> Iterator[None]:
    """Show every Python warning raised while a command runs in the CLI's own form.

    The filters stay as they are (``-W``, ``PYTHONWARNINGS``): only how a shown warning is printed
    changes, without the source path and line Python's default adds."""
    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: TextIO | None = None, line: str | None = None) -> None:
        print(warning_line(command, str(message)), file=stderr)

    with warnings.catch_warnings():  # restores the previous `showwarning` on exit
        warnings.showwarning = show
        yield


def _parser(prog: str = "amct") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Tools for AMCT PyTorch quantization configs.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal failures")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in COMMANDS.items():
        sub.add_parser(name, help=command.help, add_help=False)
    return parser


class _ArgumentError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so `run` keeps control of streams and status."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _ArgumentError(f"{self.prog}: {message}")


def _subcommand_parser(name: str, module) -> argparse.ArgumentParser:
    parser = _Parser(prog=f"amct {name}", description=COMMANDS[name].help)
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal failures")
    module.add_arguments(parser)
    return parser


def run(argv: list[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run ``amct`` with ``argv``; returns the exit status (0 ok, 1 findings, 2 failure)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    debug = "--debug" in argv
    if not argv or argv[0] in ("-h", "--help"):
        _parser().print_help(stdout)
        return 0 if argv else 2
    if argv[0] == "--version":
        from cfglang import __version__

        print(f"amct {__version__}", file=stdout)
        return 0
    if argv[0] == "--debug":
        argv = argv[1:]
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"amct: unknown command `{name}` (try `amct --help`)", file=stderr)
        return 2
    return _dispatch(name, COMMANDS[name].module, rest, stdout, stderr, debug)


def _dispatch(name: str, module_name: str, rest: list[str], stdout: TextIO, stderr: TextIO, debug: bool) -> int:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        print(_missing_extra(name, exc), file=stderr)
        return 2
    parser = _subcommand_parser(name, module)
    try:
        if any(a in ("-h", "--help") for a in rest):
            parser.print_help(stdout)
            return 0
        args = parser.parse_args(rest)
    except _ArgumentError as exc:
        print(str(exc), file=stderr)
        return 2
    try:
        with _warnings_as_lines(name, stderr):
            return module.main(args, stdout, stderr)
    except CLIError as exc:
        from cfglang.render import printable  # a path from a repository may hold terminal escapes

        print(f"amct {name}: {printable(str(exc))}", file=stderr)
        return 2
    except BrokenPipeError:  # `amct lint . | head -1`: the reader has gone, so has the need to write
        return _PIPE_CLOSED
    except OSError as exc:
        if exc.errno not in _OUTPUT_ERRNOS or debug:
            raise
        print(f"amct {name}: cannot write the output: {os_reason(exc)}", file=stderr)
        return 2
    except UserDataError as exc:
        if debug:  # the traceback of the model's own failure (the error's cause)
            raise
        print(f"amct {name}: {exc}", file=stderr)
        return 1
    except ModuleNotFoundError as exc:
        # a command of an extra imports its packages when it runs: a missing one is an install to do
        if debug or COMMANDS[name].extra is None or (exc.name or "").split(".")[0] in ("cfglang", "quant", "amct_cli"):
            raise
        print(_missing_extra(name, exc), file=stderr)
        return 2
    except KeyboardInterrupt:
        print(f"amct {name}: interrupted", file=stderr)
        return 130
    except Exception as exc:  # an internal failure is still one line, unless --debug
        if debug:
            raise
        print(f"amct {name}: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
              file=stderr)
        return 2


def _missing_extra(name: str, exc: ModuleNotFoundError) -> str:
    extra = COMMANDS[name].extra or "quant"
    first = " torch, see the README's Install, then" if extra == "quant" else ""
    return (f"amct {name}: needs the `{exc.name}` package, which is not installed (install{first} the `{extra}` "
            f"extra: pip install 'amct-cfg[{extra}]', or '.[{extra}]' in a clone)")


_PIPE_CLOSED = 141  # 128 + SIGPIPE, what a shell reports for a program stopped by a closed pipe
# failures of writing to stdout (a full disk, /dev/full, a closed pipe): what a command's own writes raise
_OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EIO, errno.EFBIG, errno.EDQUOT, errno.EPIPE})


def _exit(status: int) -> None:
    """Flush stdout here, where a failure is still a message (at interpreter exit it is a traceback)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        status = _PIPE_CLOSED
    except OSError as exc:
        print(f"amct: cannot write the output: {os_reason(exc)}", file=sys.stderr)
        status = 2
    else:
        sys.exit(status)
    # the exit's own flush would fail again: point stdout at /dev/null first
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(status)


def main() -> None:
    _exit(run())


def lint_main() -> None:
    """``amct-lint``: the same as ``amct lint``."""
    _exit(run(["lint", *sys.argv[1:]]))
