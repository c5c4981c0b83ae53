"""``amct convert FILE --to json|cfg [-o OUT]``: the config between ``.cfg`` text and JSON.

JSON is protobuf's JSON mapping with the proto field names, validated against
``amct schema config``; both directions go through the ``AMCTConfig`` message,
so ``cfg -> json -> cfg`` keeps the meaning (comments and layout are not kept).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from amct_cli import CLIError
from amct_cli.planning import checked_file, refuse_overwrite, report, write_output


__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="FILE", help="a .cfg file, or a .json config")
    parser.add_argument("--to", choices=("json", "cfg"), required=True, help="the output form")
    parser.add_argument("-o", "--output", metavar="PATH", help="write here (default: stdout)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")


def main(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from cfglang.convert import ConvertError, dumps, from_json, to_cfg, to_json

    refuse_overwrite(args.output, args.force)
    if args.to == "json":
        result = checked_file(args.input)
        if result.has_errors:
            report(result, result.diagnostics, stderr)
            return 1
        text = dumps(to_json(result.config))
    else:
        from amct_cli.common import read_bytes
        from cfglang.jsonlimits import JSONLimitError, loads
        from cfglang.settings import SettingsError, SettingsResolver

        try:
            limit = SettingsResolver().for_path(args.input).max_file_size
        except SettingsError as exc:
            raise CLIError(str(exc)) from None
        try:  # bounded read; deep nesting and huge integers are located errors too
            data = loads(read_bytes(Path(args.input), limit), args.input)
        except JSONLimitError as exc:
            raise CLIError(str(exc)) from None
        try:
            text = to_cfg(from_json(data, args.input))
        except ConvertError as exc:
            raise CLIError(str(exc)) from None
    write_output(text, args.output, "the config as JSON" if args.to == "json" else "the config as .cfg text",
                 stdout, stderr)
    return 0
