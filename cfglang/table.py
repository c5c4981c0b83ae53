"""The one fixed-width text table printer (the plan, the target capabilities, `amct rules`, the
demo and the quantization report all print through it, so their columns line up the same way)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["table_lines"]


def table_lines(rows: Sequence[Sequence[str]], *, rule: bool = False, pad_last: bool = True,
                indent: str = "") -> list[str]:
    """One line per row, cells left-aligned to their column's widest cell and joined by two spaces.

    ``rule`` puts a line of dashes under the first row (the header); ``pad_last=False`` leaves the last
    column unpadded (free text such as a summary); a padded line loses its trailing spaces."""
    padded = len(rows[0]) if pad_last else len(rows[0]) - 1
    widths = [max(len(row[i]) for row in rows) for i in range(padded)]

    def line(row: Sequence[str]) -> str:
        text = indent + "  ".join([cell.ljust(w) for cell, w in zip(row, widths)] + list(row[padded:]))
        return text.rstrip() if pad_last else text

    lines = [line(row) for row in rows]
    if rule:
        lines.insert(1, indent + "  ".join("-" * w for w in widths))
    return lines
