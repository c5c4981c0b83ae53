"""Reading a config message: whether the file sets a field, which member of a oneof, an enum value's name.

The accessors of the schema/message layer that need no descriptor pool: they ask the message itself and
import nothing of protobuf, so the rule registry, which every command loads (``amct fmt`` and ``amct
explain``, which never load protobuf, included), reads the final config through them. Everything else the
layer knows is in :mod:`cfglang.schema`; outside the two, code reads a message through these functions and
its plain field attributes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google.protobuf.message import Message

__all__ = ["is_set", "which", "set_fields", "enum_name"]


def is_set(message: Message, name: str) -> bool:
    """Whether the file sets the singular field ``name`` (a default is not set)."""
    return message.HasField(name)


def which(message: Message, oneof: str) -> str | None:
    """The member of ``oneof`` that is set, or None."""
    return message.WhichOneof(oneof)


def set_fields(message: Message) -> dict[str, Any]:
    """The fields a message sets, by name, in declaration order; an enum value as its name."""
    return {fd.name: fd.enum_type.values_by_number[value].name if fd.enum_type else value
            for fd, value in message.ListFields()}


def enum_name(message: Message, name: str) -> str:
    """The name of the value the enum field ``name`` holds (its default when unset)."""
    return message.DESCRIPTOR.fields_by_name[name].enum_type.values_by_number[getattr(message, name)].name
