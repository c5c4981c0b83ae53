"""The scale/offset record file (AMCT's ``ScaleOffsetRecord``, proto/scale_offset_record.proto): what each
layer records; :mod:`cfglang.record` writes it in protobuf text format (and reads it back).

``record { key: "conv1" value { scale_d: 0.113 offset_d: 29 scale_w: ... offset_w: 0 ... } }``;
weights are symmetric, so every ``offset_w`` is 0; DMQ factors go to ``tensor_balance_factor``.

Widths, as AMCT's recorder writes them (``record_activation_scale_offset`` and
``record_weights_scale_offset`` in its ``common/utils/record_file_operator.py``): ``act_type`` is
``INT<activation bits>`` (``INT16`` for A16W8, whose ``offset_d`` then lies in [-32768, 32767]) and
``wts_type`` is ``INT<weight bits>`` (``INT4`` for A8W4). AMCT's post-training flow never writes
``dst_type``, and its record readers take a ``dst_type`` that is set as the width of the whole layer
and accept only ``INT8``/``INT4`` there (``get_dst_type`` in ``common/utils/parse_record_file.py``), so
a layer with 16-bit activations or 4-bit weights has none; an 8-bit layer keeps ``dst_type: "INT8"``
as this engine always wrote it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cfglang import record

__all__ = ["LayerRecord", "record_text"]


@dataclass(frozen=True, slots=True)
class LayerRecord:
    name: str
    scale_d: float
    offset_d: int
    scale_w: tuple[float, ...] = ()
    weight_bits: int | None = 8
    tensor_balance_factor: tuple[float, ...] = ()
    fakequant_precision_mode: str | None = None
    act_bits: int = 8

    def fields(self) -> dict[str, Any]:
        """The layer's ``SingleLayerRecord`` fields (None: not written)."""
        return {
            "scale_d": self.scale_d,
            "offset_d": self.offset_d,
            "scale_w": self.scale_w,
            "offset_w": (0,) * len(self.scale_w),
            "tensor_balance_factor": self.tensor_balance_factor,
            "dst_type": "INT8" if self.act_bits == 8 and self.weight_bits != 4 else None,
            "act_type": f"INT{self.act_bits}",
            "wts_type": f"INT{self.weight_bits}" if self.weight_bits is not None else None,
            "fakequant_precision_mode": self.fakequant_precision_mode or None,
        }


def record_text(layers: Sequence[LayerRecord]) -> str:
    """The record file text, layers in the given (model) order (written by :func:`cfglang.record.record_text`)."""
    return record.record_text([(layer.name, layer.fields()) for layer in layers])
