"""``amct rules [PREFIX ...] [--format text|json]``: every diagnostic rule of the registry, one line each.

The list an installed package carries with it (``docs/rules.md`` is generated from the same registry but
is not installed): code, name, default severity and summary. ``amct explain CODE`` prints one rule's
whole entry; ``amct explain ALL`` prints this list.
"""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from amct_cli import CLIError
from cfglang.rules import Rule, all_rules
from cfglang.table import table_lines


__all__ = ["add_arguments", "main", "rules_table"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prefixes", nargs="*", metavar="PREFIX",
                        help="only the codes that start with these (`F`, `M00`); default: every rule")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="a fixed-width table (default) or a JSON list")


def _selected(prefixes: list[str]) -> list[Rule]:
    wanted = [p.strip().upper() for p in prefixes if p.strip()]
    chosen = [r for r in all_rules() if not wanted or r.code.startswith(tuple(wanted))]
    if not chosen:
        raise CLIError(f"no rule code starts with {', '.join(f'`{p}`' for p in prefixes)}, expected a family "
                       f"letter (`S`, `F`, `V`, `C`, `M`, `L`) or a code prefix")
    return chosen


def rules_table(rules: list[Rule]) -> str:
    """``F001  unknown-field  error  a field name the schema does not have`` per rule (status when not stable)."""
    rows = [(r.code, r.name, r.severity.label + ("" if r.status == "stable" else f" ({r.status})"), r.summary)
            for r in rules]
    return "".join(line + "\n" for line in table_lines(rows, pad_last=False))


def main(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    rules = _selected(args.prefixes)
    if args.format == "json":
        items = [{"code": r.code, "name": r.name, "severity": r.severity.label, "family": r.family,
                  "status": r.status, "summary": r.summary} for r in rules]
        stdout.write(json.dumps(items, indent=2) + "\n")
    else:
        stdout.write(rules_table(rules))
    return 0
