"""The one float32 shortest-decimal routine: proto `float` fields hold float32, so a value is shown
with the fewest digits that read back as the same float32 (``0.699999988`` -> ``0.7``)."""

from __future__ import annotations

import functools
import math
import struct

__all__ = ["as_float32", "shortest_digits", "shortest_float32", "format_number"]


def as_float32(value: float) -> float:
    """``value`` rounded to the nearest float32, as a Python float."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


def shortest_digits(value: float, max_digits: int) -> str | None:
    """``value`` written with the fewest significant digits (up to ``max_digits``) whose text reads
    back as the same float32; None when no such text is that short."""
    target = as_float32(value)
    for digits in range(1, max_digits + 1):
        text = f"{value:.{digits}g}"
        if as_float32(float(text)) == target:
            return text
    return None


@functools.lru_cache(maxsize=4096)
def shortest_float32(value: float) -> float:
    """The shortest decimal that reads back as the same float32 (``0.699999988`` -> ``0.7``)."""
    if not math.isfinite(value):
        return value
    single = as_float32(value)
    text = shortest_digits(single, 9)
    return single if text is None else float(text)


def format_number(value: float) -> str:
    """The shortest text that reads back as the same float32 (``0.01``, not ``0.009999999776``)."""
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    text = shortest_digits(value, 17)
    return repr(value) if text is None else text
