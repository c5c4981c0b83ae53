"""The scale/offset record file (SPEC section 7): protobuf text format of ``ScaleOffsetRecord``.

``record { key: "conv1" value { scale_d: 0.113 offset_d: 29 scale_w: ... offset_w: 0 ... } }``;
weights are symmetric, so every ``offset_w`` is 0; DMQ factors go to ``tensor_balance_factor``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf import text_format

from cfglang._proto import scale_offset_record_pb2 as pb

__all__ = ["LayerRecord", "record_message", "record_text", "parse_record"]


@dataclass(frozen=True, slots=True)
class LayerRecord:
    name: str
    scale_d: float
    offset_d: int
    scale_w: tuple[float, ...] = ()
    weight_bits: int | None = 8
    tensor_balance_factor: tuple[float, ...] = ()
    fakequant_precision_mode: str | None = None


def record_message(layers: Sequence[LayerRecord]) -> pb.ScaleOffsetRecord:
    message = pb.ScaleOffsetRecord()
    for layer in layers:
        entry = message.record.add()
        entry.key = layer.name
        value = entry.value
        value.scale_d = layer.scale_d
        value.offset_d = layer.offset_d
        value.scale_w.extend(layer.scale_w)
        value.offset_w.extend([0] * len(layer.scale_w))
        value.tensor_balance_factor.extend(layer.tensor_balance_factor)
        value.dst_type = "INT8"
        value.act_type = "INT8"
        if layer.weight_bits is not None:
            value.wts_type = f"INT{layer.weight_bits}"
        if layer.fakequant_precision_mode:
            value.fakequant_precision_mode = layer.fakequant_precision_mode
    return message


def record_text(layers: Sequence[LayerRecord]) -> str:
    """The record file text, layers in the given (model) order."""
    return text_format.MessageToString(record_message(layers))


def parse_record(text: str) -> dict[str, pb.SingleLayerRecord]:
    """Read a record file back: layer name -> ``SingleLayerRecord``."""
    message = text_format.Parse(text, pb.ScaleOffsetRecord())
    return {entry.key: entry.value for entry in message.record}
