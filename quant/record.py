"""The scale/offset record file (AMCT's ``ScaleOffsetRecord``, proto/scale_offset_record.proto): protobuf text format.

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
    act_bits: int = 8


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
        if layer.act_bits == 8 and layer.weight_bits != 4:
            value.dst_type = "INT8"
        value.act_type = f"INT{layer.act_bits}"
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
