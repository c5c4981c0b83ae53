"""``amct``: one entry point, one module per subcommand, imported only when used.

Start-up is the product for ``amct lint`` in pre-commit: nothing here imports
more than argparse until a subcommand is chosen, and the lint path never
imports torch or pygls.

Each subcommand module exposes ``HELP`` (one line), ``add_arguments(parser)``
and ``main(args, stdout, stderr) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import TextIO

__all__ = ["run", "main", "lint_main", "CLIError"]

# subcommand -> module; modules outside cfglang may import torch
SUBCOMMANDS: dict[str, str] = {
    "lint": "cfglang.cli.lint",
    "fmt": "cfglang.cli.fmt",
    "explain": "cfglang.cli.explain",
    "plan": "cfglang.cli.plan",
    "schema": "cfglang.cli.schema",
    "convert": "cfglang.cli.convert",
    "layers": "quant.cli.layers",
    "quantize": "quant.cli.quantize",
    "demo": "quant.cli.demo",
    "lsp": "cfglang.lsp.cli",
}

# one-line help per subcommand, kept here so `amct --help` imports nothing else
HELP: dict[str, str] = {
    "lint": "check .cfg files and report diagnostics",
    "fmt": "format .cfg files in the canonical layout",
    "explain": "explain a diagnostic code, or where each value of a layer comes from",
    "plan": "resolve a config against a model into the per-layer plan",
    "schema": "print the JSON Schema of the config, the plan or the inventory",
    "convert": "convert a config between .cfg text and JSON",
    "layers": "write the layer inventory of a PyTorch model (needs torch)",
    "quantize": "calibrate and quantize a PyTorch model (needs torch)",
    "demo": "train, quantize and evaluate a small CNN on the digits dataset (needs torch)",
    "lsp": "start the language server over stdio (needs pygls)",
}


class CLIError(Exception):
    """A user-facing failure: printed as one line on stderr, exit status 2."""


def _parser(prog: str = "amct") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Tools for AMCT PyTorch quantization configs.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal failures")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        sub.add_parser(name, help=HELP[name], add_help=False)
    return parser


class _ArgumentError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so `run` keeps control of streams and status."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _ArgumentError(f"{self.prog}: {message}")


def _subcommand_parser(name: str, module) -> argparse.ArgumentParser:
    parser = _Parser(prog=f"amct {name}", description=HELP[name])
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
    if name not in SUBCOMMANDS:
        print(f"amct: unknown command `{name}` (try `amct --help`)", file=stderr)
        return 2
    return _dispatch(name, SUBCOMMANDS[name], rest, stdout, stderr, debug)


def _dispatch(name: str, module_name: str, rest: list[str], stdout: TextIO, stderr: TextIO, debug: bool) -> int:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        print(f"amct {name}: needs the `{exc.name}` package, which is not installed"
              f" (install the extra: pip install 'amct-cfg[{_EXTRA.get(name, 'quant')}]')", file=stderr)
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
        return module.main(args, stdout, stderr)
    except CLIError as exc:
        print(f"amct {name}: {exc}", file=stderr)
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


_EXTRA = {"lsp": "lsp", "layers": "quant", "quantize": "quant", "demo": "quant"}


def main() -> None:
    sys.exit(run())


def lint_main() -> None:
    """``amct-lint``: the same as ``amct lint``."""
    sys.exit(run(["lint", *sys.argv[1:]]))
