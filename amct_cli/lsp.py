"""``amct lsp``: start the language server over stdio."""

from __future__ import annotations

import argparse
from typing import TextIO

from amct_cli import CLIError

DEFAULT_DEBOUNCE_MS = 150


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stdio", action="store_true",
        help="talk over stdin/stdout (the default and only transport; accepted because editors pass it)",
    )
    parser.add_argument(
        "--debounce-ms", type=int, default=DEFAULT_DEBOUNCE_MS, metavar="MS",
        help=f"wait this long after the last edit before linting again (default {DEFAULT_DEBOUNCE_MS})",
    )


def main(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from cfglang.lsp.server import create_server

    if args.debounce_ms < 0:
        raise CLIError(f"`--debounce-ms` must be 0 or more, found {args.debounce_ms}")
    server = create_server(debounce=args.debounce_ms / 1000)
    # 0 after `shutdown` and `exit`; 1 for `exit` without `shutdown`, input that ends without them, or
    # input that is not LSP frames (cfglang.lsp.transport)
    return server.start_io()
