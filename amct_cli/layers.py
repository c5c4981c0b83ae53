"""``amct layers --model package.module:factory|program.pt2 [-o layers.json]``: write a model's layer inventory.

The inventory lets ``amct lint --layers`` and ``amct plan --layers`` run
model-aware checks without torch (in pre-commit, say).
"""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from amct_cli import plural

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="MODULE:FACTORY|PROGRAM.pt2",
                        help="`package.module:factory`, a callable with no arguments returning an nn.Module, "
                             "or a file written by `torch.export.save`")
    parser.add_argument("-o", "--output", metavar="PATH", help="write the inventory here (default: stdout)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")


def main(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from amct_cli.common import load_model_inventory
    from amct_cli.planning import refuse_overwrite, write_output

    refuse_overwrite(args.output, args.force)
    found = load_model_inventory(args.model)
    text = json.dumps(found.to_dict(), indent=2) + "\n"
    what = (f"layer inventory, {plural(len(found.layers), 'layer')} ({len(found.quantizable)} quantizable), "
            f"{plural(len(found.foldable), 'foldable pair')}")
    subclasses = sorted({layer.label for layer in found.quantizable if layer.class_name is not None})
    if subclasses:  # matched by their torch.nn base class, not by name as AMCT does
        what += f"; quantizable by their base class: {', '.join(subclasses)}"
    write_output(text, args.output, what, stdout, stderr)
    return 0
