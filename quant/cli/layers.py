"""``amct layers --model package.module:factory|program.pt2 [-o layers.json]``: write a model's layer inventory.

The inventory lets ``amct lint --layers`` and ``amct plan --layers`` run
model-aware checks without torch (in pre-commit, say).
"""

from __future__ import annotations

import argparse
import json
from typing import TextIO

HELP = "write the layer inventory of a PyTorch model (needs torch)"

__all__ = ["HELP", "add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="MODULE:FACTORY|PROGRAM.pt2",
                        help="`package.module:factory`, a callable with no arguments returning an nn.Module, "
                             "or a file written by `torch.export.save`")
    parser.add_argument("-o", "--output", metavar="PATH", help="write the inventory here (default: stdout)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")


def main(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from cfglang.cli.common import load_model_inventory
    from cfglang.cli.planning import refuse_overwrite

    refuse_overwrite(args.output, args.force)
    found = load_model_inventory(args.model, stderr, prefix="amct layers: warning")
    text = json.dumps(found.to_dict(), indent=2) + "\n"
    if args.output:
        from cfglang.cli.common import write_bytes

        write_bytes(args.output, text.encode("utf-8"))
        quantizable = len(found.quantizable)
        print(f"wrote {args.output}: {len(found.layers)} layers ({quantizable} quantizable), "
              f"{len(found.foldable)} foldable pairs", file=stderr)
    else:
        stdout.write(text)
    return 0
