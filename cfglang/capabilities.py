"""What AMCT PyTorch can do with each layer type (SPEC section 5), as data.

A module is a layer of type T when ``type(module).__name__ == T``. Shared by
the checker (type overrides, no model needed) and the resolver (per layer).
"""

from __future__ import annotations

import difflib

__all__ = [
    "QUANTIZABLE",
    "WEIGHTED",
    "CHANNEL_WISE",
    "LOW_BITS",
    "ADA",
    "DMQ",
    "ASYMMETRIC",
    "FOLDABLE_CONV",
    "BATCH_NORM",
    "ADA_FUSED_ACTIVATIONS",
    "suggest_type",
]

QUANTIZABLE: tuple[str, ...] = (
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "Linear", "AvgPool2d", "LSTM", "GRU",
)
WEIGHTED = frozenset(QUANTIZABLE) - {"AvgPool2d"}
CHANNEL_WISE = frozenset({"Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "LSTM", "GRU"})
LOW_BITS = frozenset({"Conv2d"})  # quant_bits 6 and 7
ADA = frozenset({"Conv2d", "ConvTranspose2d", "Linear"})
DMQ = frozenset({"Linear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d"})
ASYMMETRIC = frozenset(QUANTIZABLE) - {"Conv3d"}
FOLDABLE_CONV = frozenset({"Conv1d", "Conv2d", "Conv3d"})
BATCH_NORM = frozenset({"BatchNorm1d", "BatchNorm2d", "BatchNorm3d"})
ADA_FUSED_ACTIVATIONS = frozenset({"ReLU", "RReLU", "LeakyReLU", "PReLU", "GELU", "ReLU6", "Sigmoid", "Tanh"})


def suggest_type(name: str) -> str | None:
    """The quantizable type a misspelt ``name`` most likely means (case first, then spelling)."""
    folded = name.casefold()
    for candidate in QUANTIZABLE:
        if candidate.casefold() == folded:
            return candidate
    by_fold = {c.casefold(): c for c in QUANTIZABLE}
    close = difflib.get_close_matches(folded, list(by_fold), n=1, cutoff=0.75)
    return by_fold[close[0]] if close else None
