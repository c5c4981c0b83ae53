"""AMCT's scale/offset record file (``ScaleOffsetRecord``, proto/scale_offset_record.proto) in protobuf
text format: written from plain values and read back, protobuf confined here.

``record { key: "conv1" value { scale_d: 0.113 offset_d: 29 scale_w: ... } }``; what each layer's
fields hold is the writer's business (:mod:`quant.record`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import text_format

from cfglang._proto import scale_offset_record_pb2 as _pb

__all__ = ["record_text", "parse_record"]


def record_text(layers: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """The record file text of ``(layer name, SingleLayerRecord fields)`` pairs, in the given order; a
    repeated field takes a sequence, a field left out (or None) is not written."""
    message = _pb.ScaleOffsetRecord()
    for name, fields in layers:
        entry = message.record.add()
        entry.key = name
        for field, value in fields.items():
            if value is None:
                continue
            if isinstance(value, (tuple, list)):
                getattr(entry.value, field).extend(value)
            else:
                setattr(entry.value, field, value)
    return text_format.MessageToString(message)


def parse_record(text: str) -> dict[str, Any]:
    """Read a record file back: layer name -> its ``SingleLayerRecord`` (fields as attributes)."""
    message = text_format.Parse(text, _pb.ScaleOffsetRecord())
    return {entry.key: entry.value for entry in message.record}
