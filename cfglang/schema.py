"""The config schema, read from the compiled proto descriptor.

Everything the checker knows about fields (kinds, ranges, enums, defaults,
oneofs, required labels) comes from here, so a change to the ``.proto`` needs
no change to the checks. protobuf stays inside this module (and the generated
``cfglang._proto``, and :mod:`cfglang.message`, its accessors that import nothing):
the checker builds the config message, and the later stages read it, through
:mod:`cfglang.message` (``is_set``, ``which``, ``set_fields``, ``enum_name``),
the functions below (``to_json``, ``defaults_of``, ...) and the message's plain
field attributes.

Scalar conversion follows protobuf's own ``text_format`` reader exactly (it is
what AMCT uses): its public ``ParseBool``/``ParseFloat`` functions are reused,
and integers follow its literal rules (C-style octal ``017``, Python's
``int(text, 0)`` otherwise).
"""

from __future__ import annotations

import difflib
import functools
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any, Literal

from google.protobuf import descriptor as _descriptor
from google.protobuf import json_format as _json_format
from google.protobuf import text_format as _text_format
from google.protobuf.message import Message

from cfglang._proto import calibration_config_pytorch_pb2 as _pb
from cfglang.lexer import C_OCTAL, integer_value
from cfglang.resources import data_file
from cfglang.rules import schema as F

__all__ = [
    "ROOT",
    "Message",
    "Kind",
    "FieldInfo",
    "Problem",
    "fields_of",
    "fields_of_kind",
    "required_fields",
    "field_info",
    "message_names",
    "message_description",
    "enum_names",
    "new_message",
    "message_class",
    "suggest_field",
    "suggest_elsewhere",
    "owners_of",
    "oneof_members",
    "convert_scalar",
    "describe_value",
    "expected_value",
    "defaults_of",
    "open_block",
    "add_element",
    "set_value",
    "append_value",
    "to_json",
    "from_json",
    "to_text",
]

ROOT = "AMCTConfig"

Kind = Literal["message", "bool", "string", "enum", "float", "integer"]

_FD = _descriptor.FieldDescriptor
_INTEGER_TYPES: dict[int, tuple[str, bool, int]] = {
    _FD.TYPE_INT32: ("int32", True, 32),
    _FD.TYPE_SINT32: ("sint32", True, 32),
    _FD.TYPE_SFIXED32: ("sfixed32", True, 32),
    _FD.TYPE_INT64: ("int64", True, 64),
    _FD.TYPE_SINT64: ("sint64", True, 64),
    _FD.TYPE_SFIXED64: ("sfixed64", True, 64),
    _FD.TYPE_UINT32: ("uint32", False, 32),
    _FD.TYPE_FIXED32: ("fixed32", False, 32),
    _FD.TYPE_UINT64: ("uint64", False, 64),
    _FD.TYPE_FIXED64: ("fixed64", False, 64),
}
_OTHER_TYPES: dict[int, tuple[str, Kind]] = {
    _FD.TYPE_BOOL: ("bool", "bool"),
    _FD.TYPE_STRING: ("string", "string"),
    _FD.TYPE_FLOAT: ("float", "float"),
    _FD.TYPE_DOUBLE: ("double", "float"),
    _FD.TYPE_ENUM: ("enum", "enum"),
    _FD.TYPE_MESSAGE: ("message", "message"),
}


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """One field of one message, as the checks need it."""

    name: str
    number: int
    kind: Kind
    type_name: str  # proto type: "uint32", "float", the message or enum name
    repeated: bool
    required: bool
    oneof: str | None
    message: str | None  # message type name for message fields
    enum_values: tuple[tuple[str, int], ...]  # (name, number) for enum fields
    signed: bool = False
    bits: int = 0
    default: Any = None
    description: str = ""  # what the field does (cfglang/schemas/config.descriptions.toml)
    enum_descriptions: tuple[str, ...] = ()  # what each of ``enum_values`` means, in the same order
    descriptor: Any = field(default=None, compare=False, repr=False)

    @property
    def has_default(self) -> bool:
        """Whether the proto declares ``[default = ...]`` for this field (``default`` is then that value)."""
        return self.descriptor is not None and self.descriptor.has_default_value

    @property
    def minimum(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def maximum(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a scalar cannot be stored in its field."""

    code: str
    message: str
    hint: str | None = None
    # protobuf's reader stores some values our rules refuse (`-0` for an unsigned field): then
    # `stored` is true and `value` is what it stores, so the message still equals protobuf's
    stored: bool = False
    value: Any = None


def _descriptor_of(name: str):
    return _pb.DESCRIPTOR.message_types_by_name[name]


# --- descriptions ------------------------------------------------------------


@functools.cache
def _descriptions() -> dict[str, Any]:
    """The help texts of ``config.descriptions.toml``: ``messages``, ``fields``, ``enums`` tables."""
    with data_file("schemas", "config.descriptions.toml").open("rb") as stream:
        return tomllib.load(stream)


def _enum_name(enum) -> str:
    """An enum's name as the descriptions file keys it: nested ones as ``FMRQuantize.CalibrationDataType``."""
    return enum.full_name.removeprefix(_pb.DESCRIPTOR.package + ".")


def message_names() -> tuple[str, ...]:
    """Every message type of the config schema, in declaration order."""
    return tuple(_pb.DESCRIPTOR.message_types_by_name)


def enum_names() -> dict[str, tuple[str, ...]]:
    """Every enum of the config schema (nested ones as ``Message.Enum``) -> its value names."""
    enums = list(_pb.DESCRIPTOR.enum_types_by_name.values())
    for message in _pb.DESCRIPTOR.message_types_by_name.values():
        enums.extend(message.enum_types)
    return {_enum_name(e): tuple(v.name for v in e.values) for e in enums}


def message_description(message: str) -> str:
    """What a message type is for; empty when the descriptions file has no entry."""
    return _descriptions().get("messages", {}).get(message, "")


def _field_description(message: str, name: str) -> str:
    return _descriptions().get("fields", {}).get(message, {}).get(name, "")


def _enum_descriptions(enum) -> tuple[str, ...]:
    table = _descriptions().get("enums", {}).get(_enum_name(enum), {})
    return tuple(table.get(v.name, "") for v in enum.values)


def _info(fd) -> FieldInfo:
    oneof = fd.containing_oneof.name if fd.containing_oneof is not None else None
    common = dict(
        name=fd.name,
        number=fd.number,
        repeated=fd.is_repeated,
        required=fd.is_required,
        oneof=oneof,
        description=_field_description(fd.containing_type.name, fd.name),
        descriptor=fd,
    )
    if fd.type in _INTEGER_TYPES:
        type_name, signed, bits = _INTEGER_TYPES[fd.type]
        return FieldInfo(kind="integer", type_name=type_name, message=None, enum_values=(), signed=signed,
                         bits=bits, default=fd.default_value, **common)
    type_name, kind = _OTHER_TYPES[fd.type]
    if kind == "message":
        return FieldInfo(kind=kind, type_name=fd.message_type.name, message=fd.message_type.name,
                         enum_values=(), **common)
    if kind == "enum":
        values = tuple((v.name, v.number) for v in fd.enum_type.values)
        return FieldInfo(kind=kind, type_name=fd.enum_type.name, message=None, enum_values=values,
                         enum_descriptions=_enum_descriptions(fd.enum_type), default=fd.default_value, **common)
    return FieldInfo(kind=kind, type_name=type_name, message=None, enum_values=(),
                     default=fd.default_value, **common)


@functools.cache
def fields_of(message: str) -> dict[str, FieldInfo]:
    """The fields of a message type, by name, in declaration order."""
    return {fd.name: _info(fd) for fd in _descriptor_of(message).fields}


@functools.cache
def defaults_of(message: str) -> dict[str, Any]:
    """The proto's declared defaults of a message's fields, by name (fields without one left out)."""
    return {name: info.default for name, info in fields_of(message).items() if info.has_default}


def fields_of_kind(message: str, kind: Kind) -> tuple[FieldInfo, ...]:
    """The fields of one kind (``"message"``, ``"float"``, ...) of a message type."""
    return tuple(info for info in fields_of(message).values() if info.kind == kind)


@functools.cache
def required_fields(message: str) -> tuple[FieldInfo, ...]:
    return tuple(info for info in fields_of(message).values() if info.required)


def field_info(message: str, name: str) -> FieldInfo | None:
    return fields_of(message).get(name)


# --- reading and building messages --------------------------------------------


def open_block(message: Message, name: str) -> Message:
    """The singular message field ``name``, set (empty) if it was not."""
    block = getattr(message, name)
    block.SetInParent()
    return block


def add_element(message: Message, name: str) -> tuple[Message, int]:
    """A new element of the repeated message field ``name`` and its index."""
    container = getattr(message, name)
    return container.add(), len(container) - 1


def set_value(message: Message, name: str, value: Any) -> None:
    """Store a converted scalar (:func:`convert_scalar`) in the singular field ``name``."""
    setattr(message, name, value)


def append_value(message: Message, name: str, value: Any) -> int:
    """Append a converted scalar to the repeated field ``name``; its index."""
    container = getattr(message, name)
    container.append(value)
    return len(container) - 1


def to_json(message: Message) -> dict[str, Any]:
    """protobuf's JSON mapping of a message, with the proto field names and enums as names."""
    return _json_format.MessageToDict(message, preserving_proto_field_name=True)


def from_json(data: Any, message: str = ROOT) -> Message:
    """The message of type ``message`` that protobuf's JSON mapping ``data`` describes (ValueError if none)."""
    try:
        return _json_format.ParseDict(data, new_message(message))
    except _json_format.ParseError as exc:
        raise ValueError(str(exc)) from None


def to_text(message: Message) -> str:
    """A message in protobuf's text format, as ``text_format`` writes it."""
    return _text_format.MessageToString(message)


def message_class(message: str) -> type[Message]:
    return getattr(_pb, message)


def new_message(message: str = ROOT) -> Message:
    return message_class(message)()


@functools.cache
def oneof_members(message: str) -> dict[str, tuple[str, ...]]:
    """oneof name -> its member fields, for one message type."""
    return {o.name: tuple(f.name for f in o.fields) for o in _descriptor_of(message).oneofs}


@functools.cache
def _block_names() -> dict[str, tuple[str, ...]]:
    """message type -> the names of the fields that hold it (how a user names the block)."""
    holders: dict[str, list[str]] = {}
    for message in _pb.DESCRIPTOR.message_types_by_name:
        for info in fields_of(message).values():
            if info.message is not None and info.name not in holders.setdefault(info.message, []):
                holders[info.message].append(info.name)
    return {m: tuple(names) for m, names in holders.items()}


def owners_of(name: str, exclude: str | None = None) -> tuple[str, ...]:
    """Blocks (field names holding a message) whose message declares a field ``name``."""
    found: list[str] = []
    for message in _pb.DESCRIPTOR.message_types_by_name:
        if message == exclude or name not in fields_of(message):
            continue
        for block in _block_names().get(message, ("the top level",) if message == ROOT else ()):
            if block not in found:
                found.append(block)
    return tuple(found)


# the value kinds a field of each kind can be written with (`5` is a valid float, `INT8` an enum name)
_FITTING: dict[str, frozenset[str]] = {
    "message": frozenset({"message"}), "bool": frozenset({"identifier", "integer"}),
    "string": frozenset({"string"}), "enum": frozenset({"identifier", "integer"}),
    "float": frozenset({"integer", "float", "identifier"}), "integer": frozenset({"integer"}),
}
SIMILARITY = 0.7  # difflib's ratio from which a misspelling is suggested (tests/amct/test_siblings.py)
ELSEWHERE_SIMILARITY = 0.9  # the same, for a field of another block (chanel_wise 0.96; num_bits ~ num_of_bins 0.84)


def field_names() -> frozenset[str]:
    """Every field name of every message of the schema."""
    return frozenset(name for message in _pb.DESCRIPTOR.message_types_by_name for name in fields_of(message))


def suggest_field(message: str, name: str, value_kind: str | None = None, *, similarity: float = SIMILARITY,
                  same_word: bool = True) -> str | None:
    """The field of ``message`` a misspelt ``name`` most likely means.

    With ``value_kind`` (``message`` or a scalar kind of the written value), only fields that
    can take such a value are candidates: a close spelling (``similarity``: difflib's ratio), or, with
    ``same_word``, the one candidate that ends in the same word (``num_bits`` -> ``quant_bits``)."""
    infos = fields_of(message)
    names = [n for n, info in infos.items() if value_kind is None or value_kind in _FITTING[info.kind]]
    lowered = {n.lower(): n for n in names}
    if name.lower() in lowered:
        return lowered[name.lower()]
    close = difflib.get_close_matches(name, names, n=1, cutoff=similarity)
    if close:
        return close[0]
    last = name.lower().rsplit("_", 1)[-1]
    ending = [n for n in names if "_" in name and n.rsplit("_", 1)[-1] == last]
    return ending[0] if same_word and value_kind is not None and len(ending) == 1 else None


def suggest_elsewhere(message: str, name: str, value_kind: str | None = None) -> tuple[str, str] | None:
    """``(field, block)``: a close field name declared by another message, and a block that holds it.

    Only a misspelling of that field (``ELSEWHERE_SIMILARITY``, a letter or two in a name), never a
    shared last word or a loose likeness: ``num_bits`` in ``ifmr_quantize`` is neither ``arq_quantize``'s
    ``quant_bits`` nor ``hfmg_quantize``'s ``num_of_bins`` (ratio 0.84)."""
    for other in _pb.DESCRIPTOR.message_types_by_name:
        if other == message:
            continue
        guess = suggest_field(other, name, value_kind, similarity=ELSEWHERE_SIMILARITY, same_word=False)
        blocks = _block_names().get(other, ("the top level",) if other == ROOT else ())
        if guess is not None and blocks:
            return guess, blocks[0]
    return None


# --- scalar conversion -----------------------------------------------------


def describe_value(kind: str, text: str) -> str:
    """How a message names what was found: "string `\"a\"`", "`1.5`", "a `{ ... }` block"."""
    if kind == "string":
        shown = text if len(text) <= 40 else text[:37] + "..."
        return f"string `{_quote(shown)}`"
    if kind == "message":
        return "a `{ ... }` block"
    if kind == "list":
        return "a list `[...]`"
    return f"`{text}`"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def expected_value(info: FieldInfo) -> str:
    """What a field takes, for the "expected ..." half of a message."""
    if info.kind == "message":
        return f"a `{{ ... }}` block (`{info.type_name}`)"
    if info.kind == "string":
        return "a quoted string"
    if info.kind == "bool":
        return "`true` or `false`"
    if info.kind == "float":
        return f"a number (`{info.type_name}`)"
    if info.kind == "integer":
        return f"an integer (`{info.type_name}`, {info.minimum} to {info.maximum})"
    names = ", ".join(f"`{n}` ({v})" for n, v in info.enum_values)
    return f"one of {names}"


def convert_scalar(info: FieldInfo, kind: str, text: str) -> Any | Problem:
    """The value protobuf stores for a scalar of syntax ``kind`` and ``text``, or why it cannot."""
    if info.kind == "string":
        if kind != "string":
            return _wrong_kind(info, kind, text)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate from a \u escape: not UTF-8, protobuf refuses it
            return Problem(F.WRONG_VALUE_KIND, f"found a string that is not valid UTF-8 for `{info.name}`, "
                                               f"expected UTF-8 text")
        return text
    if kind == "string":
        return _wrong_kind(info, kind, text)
    if info.kind == "bool":
        try:
            return _text_format.ParseBool(text)
        except ValueError:
            return _wrong_kind(info, kind, text)
    if info.kind == "float":
        return _convert_float(info, kind, text)
    if info.kind == "integer":
        return _convert_integer(info, kind, text)
    return _convert_enum(info, kind, text)


def _wrong_kind(info: FieldInfo, kind: str, text: str) -> Problem:
    return Problem(F.WRONG_VALUE_KIND,
                   f"found {describe_value(kind, text)} for `{info.name}`, expected {expected_value(info)}")


def _convert_float(info: FieldInfo, kind: str, text: str) -> Any | Problem:
    try:
        return _text_format.ParseFloat(text)
    except ValueError:
        if kind == "identifier":
            return _wrong_kind(info, kind, text)
        why = "hex and octal literals are not floats" if re.match(r"-?0(\d|[xX])", text) else None
        return Problem(F.INVALID_NUMBER, f"found `{text}` for `{info.name}`, expected a decimal number", why)


def _convert_integer(info: FieldInfo, kind: str, text: str) -> Any | Problem:
    if kind == "identifier":
        return _wrong_kind(info, kind, text)
    try:
        value = integer_value(text)
    except ValueError:
        if kind == "float":
            return Problem(F.INVALID_NUMBER, f"found float `{text}` for `{info.name}`, expected {expected_value(info)}")
        hint = "a leading `0` makes an octal number, whose digits are 0 to 7" if C_OCTAL.match(text) else None
        return Problem(F.INVALID_NUMBER, f"found `{text}` for `{info.name}`, expected {expected_value(info)}", hint)
    if not info.signed and text.lstrip().startswith("-"):
        return Problem(F.NEGATIVE_UNSIGNED,
                       f"found `{text}` for unsigned `{info.name}`, expected an integer without a sign",
                       "protobuf reads `-0` as 0, but a sign on an unsigned field is a mistake" if value == 0 else None,
                       stored=value == 0, value=value)
    if not info.minimum <= value <= info.maximum:
        return Problem(F.INTEGER_OUT_OF_RANGE,
                       f"found `{text}` for `{info.name}`, expected {expected_value(info)}")
    return value


def _convert_enum(info: FieldInfo, kind: str, text: str) -> Any | Problem:
    by_name = dict(info.enum_values)
    try:
        number = int(text, 0)  # protobuf's ParseEnum: a number when int() reads it, else a name
    except ValueError:
        if text in by_name:
            return by_name[text]
        hint = None
        close = [n for n in by_name if n.lower() == text.lower()] or difflib.get_close_matches(text, list(by_name), 1)
        if close:
            hint = f"did you mean `{close[0]}`?"
        return Problem(F.UNKNOWN_ENUM_VALUE,
                       f"found `{text}` for `{info.name}`, expected {expected_value(info)}", hint)
    if number in by_name.values():
        return number
    return Problem(F.UNKNOWN_ENUM_VALUE,
                   f"found number {number} for `{info.name}`, expected {expected_value(info)}")
