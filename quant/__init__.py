"""amct-cfg's PyTorch side: execute a resolved plan on a model (docs/architecture.md, "The engine").

model + plan (or its native JSON dict) + calibration batches --quantize--> QuantResult

Public names are imported lazily, so ``import quant`` stays cheap and each name loads only the module
that defines it. ``model_inventory`` is named apart from its module ``quant.inventory``, which would
otherwise replace it as the package attribute once imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# public name -> module that defines it
_EXPORTS = {
    "quantize": "quant.engine",
    "QuantizeError": "quant.core",
    "QuantResult": "quant.result",
    "LayerResult": "quant.result",
    "load_fake_quant_model": "quant.result",
    "model_inventory": "quant.inventory",
}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from quant.core import QuantizeError
    from quant.engine import quantize
    from quant.inventory import model_inventory
    from quant.result import LayerResult, QuantResult, load_fake_quant_model


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'quant' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
