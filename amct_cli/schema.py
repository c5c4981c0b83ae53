"""``amct schema [config|plan|inventory|report]``: print a JSON Schema (Draft 2020-12).

``config`` (the default) is generated from the proto descriptor; ``plan``, ``inventory`` and ``report``
are the shipped schemas of ``amct plan``, ``amct layers`` and ``amct analyze``'s ``report.json``.
"""

from __future__ import annotations

import argparse
import json
from typing import TextIO


__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from amct_cli.targets import add_target_argument
    from cfglang.jsonschemas import SCHEMAS

    parser.add_argument("which", nargs="?", choices=("config", *sorted(n for n in SCHEMAS if n != "config")),
                        default="config",
                        help="which schema (default: config)")
    add_target_argument(parser)  # the config schema's widths


def main(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from cfglang.jsonschemas import schema

    stdout.write(json.dumps(schema(args.which, args.amct_target if args.which == "config" else None), indent=2) + "\n")
    return 0
