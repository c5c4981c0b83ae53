"""``amct plan quant.cfg [--model M:F | --layers layers.json] [-o plan.json] [--format ...]``.

Without ``--model``/``--layers`` the model is the inventory that the file's
``# amct: layers=PATH`` header or the ``layers`` setting names (as for ``amct lint``).

Resolves the config against the model into the per-layer plan: the native plan
JSON (what ``amct quantize`` and ``quant.quantize`` read), AMCT's own
``config.json`` layout, or a table. A summary of the weights the plan leaves in
float goes to stderr, by reason and type (``-v``: by name). Diagnostics go to
stderr, the config's and the model-aware ones of one run together; with errors nothing is written ("no plan
written") and the status is 1. A plan whose AdaRound layers will take long gets a
warning with an estimate.
"""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from amct_cli import plural, warning_line
from amct_cli.planning import (
    adaround_estimate,
    add_model_arguments,
    error_count,
    float_summary,
    refuse_overwrite,
    resolve_file,
    write_output,
)

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="the .cfg file")
    add_model_arguments(parser, required=False)  # else the header's or the settings' inventory
    parser.add_argument("-o", "--output", metavar="PATH", help="write the plan here (default: stdout)")
    parser.add_argument("--format", choices=("native", "amct-json", "table"), default="native",
                        help="native plan JSON (default), AMCT's config.json layout, or a text table")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="name each weight the plan leaves in float (the summary gives counts by reason and type)")


def main(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    refuse_overwrite(args.output, args.force)
    resolved = resolve_file(args.config, args, stderr)
    if resolved is None:
        print("amct plan: no plan written: the config has syntax errors", file=stderr)
        return 1
    result, _, plan = resolved
    errors = error_count(result.diagnostics, plan.diagnostics)
    if errors:
        print(f"amct plan: no plan written: {plural(errors, 'error')} above", file=stderr)
        return 1
    estimate = adaround_estimate(plan)
    if estimate:
        print(warning_line("plan", estimate), file=stderr)
    for line in float_summary("plan", plan, args.verbose):
        print(line, file=stderr)
    if args.format == "table":
        from cfglang.render import printable  # layer names from an inventory file

        text = printable(plan.to_table())
    else:
        text = json.dumps(plan.to_dict() if args.format == "native" else plan.to_amct_json(), indent=2) + "\n"
    what = {"native": "the plan (native JSON)", "amct-json": "the plan in AMCT's config.json layout",
            "table": "the plan as a table"}[args.format]
    write_output(text, args.output, what, stdout, stderr)
    return 0
