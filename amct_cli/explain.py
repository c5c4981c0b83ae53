"""``amct explain CODE``: print a rule's registry entry (code or kebab-case name).

``main`` dispatches on the argument: a diagnostic code or rule name is
explained from the registry (``ALL``: the list of every rule, as ``amct rules``); config files (an existing file, or a name with a
config suffix) go to the file mode, which another module adds.
"""

from __future__ import annotations

import argparse
import difflib
import os
import textwrap
from typing import TextIO

from amct_cli import CLIError
from cfglang.rules import Rule, all_rules, get


__all__ = ["add_arguments", "main", "explain_code", "format_rule", "is_config_path"]

_CONFIG_SUFFIXES = (".cfg", ".prototxt", ".pbtxt", ".textproto", ".txtpb")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="CODE",
                        help="a diagnostic code (`F001`) or rule name (`unknown-field`), a target name "
                             "(`amct-9.1`: its capability table), or a config file")
    from amct_cli.planning import add_layer_arguments

    add_layer_arguments(parser)


def is_config_path(target: str) -> bool:
    """Whether ``target`` names a config file rather than a code."""
    return target.lower().endswith(_CONFIG_SUFFIXES) or os.path.isfile(target)


def main(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    if is_config_path(args.target):
        from amct_cli.planning import explain_layer_main

        return explain_layer_main(args, stdout, stderr)
    return explain_code(args.target, stdout)


def explain_code(code_or_name: str, stdout: TextIO) -> int:
    if code_or_name.strip().upper() == "ALL":  # as `amct rules`: the list travels with the package
        from amct_cli.rules import rules_table

        stdout.write(rules_table(all_rules()))
        return 0
    found = get(code_or_name)
    if found is None:
        from cfglang.capabilities import TARGETS, format_target

        if code_or_name.strip().lower() in TARGETS:  # `amct explain amct-9.1`: the target's table
            stdout.write(format_target(TARGETS[code_or_name.strip().lower()]))
            return 0
        raise CLIError(_unknown(code_or_name))
    stdout.write(format_rule(found))
    return 0


def _unknown(target: str) -> str:
    keys = [r.code for r in all_rules()] + [r.name for r in all_rules()]
    close = difflib.get_close_matches(target.upper() if target[:1].isalpha() and target[1:].isdigit() else
                                      target.lower(), keys, n=1, cutoff=0.6)
    hint = f"; did you mean `{close[0]}`?" if close else " (codes look like `F001`; `amct rules` lists them all)"
    return f"unknown diagnostic code `{target}`{hint}"


def _indent(example: str) -> str:
    return textwrap.indent(example.rstrip("\n"), "    ")


def format_rule(r: Rule) -> str:
    """A registry entry as plain text for the terminal."""
    status = "" if r.status == "stable" else f", {r.status}"
    wrapped = "\n".join(textwrap.wrap(r.explanation, width=88))
    return (
        f"{r.code} {r.name} ({r.severity.label}{status})\n\n"
        f"{r.summary}\n\n"
        f"{wrapped}\n\n"
        f"bad:\n{_indent(r.bad)}\n\n"
        f"good:\n{_indent(r.good)}\n"
    )
