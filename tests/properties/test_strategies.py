"""Self-tests of the generators: the text means what the model says.

The message built from the model through the protobuf API (last scalar wins,
a message given twice is merged, setting a oneof member clears the others,
repeated fields append) must serialise exactly like ``text_format.Merge`` of
the rendered text. This keeps the differential properties honest: a renderer
bug cannot hide behind an agreement of two parsers.
"""

from __future__ import annotations

from google.protobuf import text_format
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import given
from hypothesis import strategies as st

from cfglang._proto.calibration_config_pytorch_pb2 import AMCTConfig

from .strategies import Lit, Msg, Rendered, is_message, merge_documents, valid_documents


def build(model: Msg, message) -> None:
    for entry in model.entries:
        f = entry.field
        for value in entry.values:
            if is_message(f):
                sub = getattr(message, f.name).add() if f.is_repeated else getattr(message, f.name)
                sub.SetInParent()
                build(value, sub)
            else:
                scalar = _scalar(f, value)
                if f.is_repeated:
                    getattr(message, f.name).append(scalar)
                else:
                    setattr(message, f.name, scalar)


def _scalar(f: FieldDescriptor, lit: Lit):
    if f.type == FieldDescriptor.TYPE_FLOAT:
        if lit.value is None:  # inf / nan spelled out
            return text_format.ParseFloat(lit.parts[0])
        return float(lit.value) if not (lit.value == 0 and lit.value.is_signed()) else -0.0
    return lit.value


@given(st.one_of(merge_documents(), valid_documents()))
def test_rendered_text_means_the_model(doc: Rendered) -> None:
    expected = AMCTConfig()
    build(doc.model, expected)
    merged = AMCTConfig()
    text_format.Merge(doc.text, merged)
    assert merged.SerializePartialToString(deterministic=True) == expected.SerializePartialToString(deterministic=True)

