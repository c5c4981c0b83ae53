"""``amct plan quant.cfg [--model M:F | --layers layers.json] [-o plan.json] [--format ...]``.

Without ``--model``/``--layers`` the model is the inventory that the file's
``# amct: layers=PATH`` header or the ``layers`` setting names (as for ``amct lint``).

Resolves the config against the model into the per-layer plan: the native plan
JSON (what ``amct quantize`` and ``quant.quantize`` read), AMCT's own
``config.json`` layout, or a table. Diagnostics go to stderr; a config or a
resolution with errors writes nothing and exits 1.
"""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from cfglang.cli.planning import add_model_arguments, refuse_overwrite, report, resolve_file

HELP = "resolve a config against a model into the per-layer plan"

__all__ = ["HELP", "add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="the .cfg file")
    add_model_arguments(parser, required=False)  # else the header's or the settings' inventory
    parser.add_argument("-o", "--output", metavar="PATH", help="write the plan here (default: stdout)")
    parser.add_argument("--format", choices=("native", "amct-json", "table"), default="native",
                        help="native plan JSON (default), AMCT's config.json layout, or a text table")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")


def main(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from cfglang.diagnostics import Severity

    refuse_overwrite(args.output, args.force)
    resolved = resolve_file(args.config, args, stderr)
    if resolved is None:
        return 1
    result, _, plan = resolved
    report(result, [*result.diagnostics, *plan.diagnostics], stderr)
    if any(d.severity is Severity.ERROR for d in plan.diagnostics):
        return 1
    if args.format == "table":
        text = plan.to_table()
    else:
        text = json.dumps(plan.to_dict() if args.format == "native" else plan.to_amct_json(), indent=2) + "\n"
    if args.output:
        from cfglang.cli.common import write_bytes

        write_bytes(args.output, text.encode("utf-8"))
    else:
        stdout.write(text)
    return 0
