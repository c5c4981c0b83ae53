"""Generate ``docs/rules.md`` from the registry.

    python -m cfglang.rules.docs > docs/rules.md

A test fails when the checked-in page differs from what this prints.
"""

from __future__ import annotations

import re
import sys

from cfglang.rules import FAMILIES, Rule, all_rules

__all__ = ["render_rules_page", "render_rule", "main"]

COMMAND = "python -m cfglang.rules.docs > docs/rules.md"


def _visible(example: str) -> str:
    """A lone CR as the symbol for it: raw, it would be a line break to every reader of the page (S021)."""
    return re.sub(r"\r(?!\n)", "\u240d", example)


def render_rule(r: Rule, level: int = 3) -> str:
    """One rule as Markdown: heading, summary, explanation, bad and good example."""
    status = "" if r.status == "stable" else f" ({r.status})"
    lines = [
        f"{'#' * level} {r.code} `{r.name}`{status}",
        "",
        f"Default severity: **{r.severity.label}**. {r.summary[0].upper()}{r.summary[1:]}.",
        "",
        r.explanation,
        "",
        *([f"The examples are checked with `--target {r.target}`.", ""] if r.target else []),
        "Bad:",
        "",
        "```",
        _visible(r.bad.rstrip("\n")),
        "```",
        "",
        "Good:",
        "",
        "```",
        r.good.rstrip("\n"),
        "```",
        "",
    ]
    return "\n".join(lines)


def render_rules_page() -> str:
    rules = all_rules()
    out = [
        "# Diagnostic codes",
        "",
        f"<!-- generated from the registry in cfglang/rules; regenerate with: {COMMAND} -->",
        "",
        "Every diagnostic has a stable code (a family letter and a number, never reused) and a kebab-case "
        "name; `amct explain CODE` (or `amct explain NAME`) prints the entry.",
        "",
        "| code | name | severity | summary |",
        "|---|---|---|---|",
    ]
    out += [f"| {r.code} | `{r.name}` | {r.severity.label} | {r.summary.replace('|', chr(92) + '|')} |" for r in rules]
    out.append("")
    for family, info in FAMILIES.items():
        members = [r for r in rules if r.family == family]
        if not members:
            continue
        out += [f"## {info.title}", ""]
        out += [render_rule(r) for r in members]
    return "\n".join(out).rstrip("\n") + "\n"


def main() -> int:
    sys.stdout.write(render_rules_page())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
