"""The value ranges of the V rules, written once: the rules that a value lies in its interval
(:mod:`cfglang.rules.value`) take their summary and their check from here, and the JSON Schema
(:func:`cfglang.jsonschemas.config_schema`) states them as keywords."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Bound", "VALUE_RANGES", "NUM_OF_BINS"]


@dataclass(frozen=True, slots=True)
class Bound:
    """An interval of one field's values; a None end is unbounded, an open end excludes its value.

    The ends keep the type they are written with (``0`` or ``0.5``) because the JSON Schema prints
    them as written."""

    low: float | None = None
    high: float | None = None
    closed_low: bool = False
    closed_high: bool = False

    def __str__(self) -> str:
        """``[0.2, 0.8]``, ``(0.5, 1.0]``: a bounded interval, its ends as written."""
        return f"{'[' if self.closed_low else '('}{self.low!r}, {self.high!r}{']' if self.closed_high else ')'}"

    def json_keywords(self) -> dict[str, float]:
        """The JSON Schema keywords for this interval, lower bound first."""
        keywords: dict[str, float] = {}
        if self.low is not None:
            keywords["minimum" if self.closed_low else "exclusiveMinimum"] = self.low
        if self.high is not None:
            keywords["maximum" if self.closed_high else "exclusiveMaximum"] = self.high
        return keywords


#: (message, field) -> the values the field accepts (relations between fields are checks of their own)
VALUE_RANGES: dict[tuple[str, str], Bound] = {
    ("AMCTConfig", "batch_num"): Bound(low=1, closed_low=True),
    ("DMQBalancer", "migration_strength"): Bound(0.2, 0.8, closed_low=True, closed_high=True),
    ("ADAquantize", "reg_param"): Bound(0, 1),
    ("ADAquantize", "warm_start"): Bound(0, 1),
    ("ADAquantize", "beta_range_start"): Bound(low=0),
    ("ADAquantize", "beta_range_end"): Bound(low=0),
    ("FMRQuantize", "search_range_start"): Bound(low=0),
    ("FMRQuantize", "search_range_end"): Bound(low=0),
    ("FMRQuantize", "search_step"): Bound(low=0),
    ("FMRQuantize", "max_percentile"): Bound(0.5, 1.0, closed_high=True),
    ("FMRQuantize", "min_percentile"): Bound(0.5, 1.0, closed_high=True),
}

#: the histogram sizes HFMG accepts
NUM_OF_BINS = (1024, 2048, 4096, 8192)
