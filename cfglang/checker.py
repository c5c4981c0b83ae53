"""The check stage: syntax tree -> ``AMCTConfig`` message + span table + diagnostics.

The message is built the way protobuf's ``text_format.Merge`` builds it (which
is how AMCT reads a file): fields in text order, a repeated field appends, a
singular scalar given again replaces the earlier value, a singular message
given again is merged into the earlier one, and setting a member of a oneof
clears the member set before. So for every file ``Merge`` accepts, the message
here is equal to ``Merge``'s; where ``Merge`` refuses a file, an error
diagnostic says why. Nothing here raises on any input.
"""

from __future__ import annotations

import functools
import gc
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from cfglang import schema, siblings
from cfglang.capabilities import Target, get_target
from cfglang.diagnostics import Diagnostic, Edit, Fix, Severity, Span
from cfglang.message import is_set, which
from cfglang.rules import REGISTRY
from cfglang.rules import capability as C
from cfglang.rules import schema as F
from cfglang.rules import value as V
from cfglang.rules.findings import Context, Finding
from cfglang.schema import Message
from cfglang.syntax import Document, Field, ListValue, MessageValue, Scalar

__all__ = ["Loc", "SpanTable", "CheckResult", "ConfigError", "check", "load", "finding_diagnostic"]

PathPart = str | int
FieldPath = tuple[PathPart, ...]


@dataclass(frozen=True, slots=True)
class Loc:
    """Where a value of the message came from: the field and the value node (a list item for lists)."""

    field: Field
    value: Scalar | MessageValue

    @property
    def name_span(self) -> Span:
        return self.field.name_span

    @property
    def value_span(self) -> Span:
        return self.value.span


class SpanTable(Mapping[FieldPath, Loc]):
    """Field path -> :class:`Loc` of the value that won (see docs/architecture.md).

    A path is a tuple of field names and indexes into repeated fields, the
    index being the element's position in the resulting protobuf field.
    """

    __slots__ = ("_locs",)

    def __init__(self, locs: dict[FieldPath, Loc] | None = None) -> None:
        self._locs: dict[FieldPath, Loc] = locs if locs is not None else {}

    def __getitem__(self, path: FieldPath) -> Loc:
        return self._locs[tuple(path)]

    def __iter__(self) -> Iterator[FieldPath]:
        return iter(self._locs)

    def __len__(self) -> int:
        return len(self._locs)

    def find(self, path: FieldPath) -> tuple[FieldPath, Loc] | None:
        """The entry for ``path``, or for its nearest ancestor the file sets (a default has no place)."""
        path = tuple(path)
        while path:
            loc = self._locs.get(path)
            if loc is not None:
                return path, loc
            path = path[:-1]
        return None

    def span(self, path: FieldPath) -> Span | None:
        """Where to point for ``path``: a scalar's value; a block's name (of the nearest set
        ancestor when the file leaves ``path`` at its default)."""
        found = self.find(path)
        if found is None:
            return None
        where, loc = found
        if where == tuple(path) and isinstance(loc.value, Scalar):
            return loc.value_span
        return loc.name_span


@dataclass(frozen=True, slots=True)
class CheckResult:
    document: Document
    config: Any  # AMCTConfig: what Merge would give; best effort when there are errors
    spans: SpanTable
    diagnostics: tuple[Diagnostic, ...]
    target: Target = dataclass_field(default_factory=get_target)  # what the file was checked against

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.diagnostics)

    @property
    def ok(self) -> bool:
        """No errors (warnings and infos allowed)."""
        return not self.has_errors


class ConfigError(Exception):
    """Raised by :func:`load` when a file has errors; carries every diagnostic.

    ``result`` is the :class:`CheckResult` (or a path string) the diagnostics came from.
    """

    def __init__(self, diagnostics: tuple[Diagnostic, ...] | list[Diagnostic],
                 result: CheckResult | str | None = None) -> None:
        self.diagnostics = tuple(diagnostics)
        self.result = result if isinstance(result, CheckResult) else None
        self.path = result if isinstance(result, str) else (
            self.result.document.path if self.result is not None else None)
        errors = [d for d in self.diagnostics if d.severity is Severity.ERROR] or list(self.diagnostics)
        if errors:
            first = errors[0]
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            message = f"{self.path or '<text>'}:{first.span.line}:{first.span.column}: {first.message}{more}"
        else:
            message = f"{self.path or '<text>'}: invalid config"
        super().__init__(message)


def check(text_or_document: str | bytes | Document, path: str | None = None, *,
          max_size: int | None = None, target: str | Target | None = None) -> CheckResult:
    """Parse (unless given a :class:`Document`) and check; syntax diagnostics first, then semantic ones.

    ``max_size`` is the parser's size limit in bytes (None: its default); ``target`` the AMCT
    behaviour to check against (:mod:`cfglang.capabilities`; None: ``documented``).
    """
    chosen = get_target(target)
    if isinstance(text_or_document, Document):
        document = text_or_document
    else:
        from cfglang.parser import DEFAULT_MAX_SIZE, parse

        document = parse(text_or_document, path, max_size=max_size or DEFAULT_MAX_SIZE)
    builder = _Builder(document, chosen)
    # the build allocates an object per value and frees none: the cyclic collector would
    # rescan the whole tree again and again (more than half the time on large files)
    collecting = gc.isenabled()
    gc.disable()
    try:
        config = builder.build()
    finally:
        if collecting:
            gc.enable()
    found = builder.diagnostics
    if builder.sibling:  # a file of another config kind: its one diagnostic, none of ours about its fields
        found = [d for d in found if d.code == F.OTHER_CONFIG_KIND]
    semantic = sorted(found, key=lambda d: (d.span.start, d.span.end, d.code))
    return CheckResult(document, config, SpanTable(builder.locs), (*document.diagnostics, *semantic), chosen)


def read_source(path: str | os.PathLike[str], max_size: int | None = None) -> bytes | Document:
    """The bytes of the config file ``path`` for :func:`check`, read within the size limit (default 16 MiB):
    a larger file is the S015 document, read no further (see :func:`cfglang.fsutil.read_file`; a failure is
    an ``OSError``)."""
    from cfglang.fsutil import FileTooLarge, read_file
    from cfglang.parser import too_large

    try:
        return read_file(path, limit=max_size, special=True)
    except FileTooLarge as exc:
        return too_large(exc.size, exc.limit, os.fspath(path))


def load(text_or_path: str | bytes | os.PathLike[str], target: str | Target | None = None) -> Any:
    """The ``AMCTConfig`` message of a file or text; :class:`ConfigError` when there is any error.

    A ``PathLike``, or a one-line ``str`` naming an existing file, is read from
    disk; anything else is the text itself.
    """
    path: str | None = None
    source: str | bytes
    if isinstance(text_or_path, os.PathLike) or (
        isinstance(text_or_path, str) and "\n" not in text_or_path and os.path.isfile(text_or_path)
    ):
        path = os.fspath(text_or_path)
        source = read_source(path)
    else:
        source = text_or_path  # type: ignore[assignment]
    result = check(source, path, target=target)
    if result.has_errors:
        raise ConfigError(result.diagnostics, result)
    return result.config


# --- building the message ------------------------------------------------------

def _where(path: FieldPath) -> str:
    """``in `arq_quantize``` or ``at the top level``."""
    return f"in {_block_name(path)}" if path else "at the top level"


_SIBLING_RELATED = 20  # related places shown for the unknown fields of a sibling config


def _value_kind(field: Field) -> str | None:
    """``message`` or the scalar kind a field is written with (None: a list or nothing)."""
    value = field.value
    if isinstance(value, ListValue):
        value = value.items[0] if value.items else None
    if isinstance(value, MessageValue):
        return "message"
    return value.kind if isinstance(value, Scalar) else None


# the checks of the final message, each beside its rule in its family's module (cfglang.rules.findings)
_CHECKS = (F.CHECKS, V.CHECKS, C.CHECKS)


@functools.cache
def _floats(type_name: str) -> tuple[str, ...]:
    """The singular float fields of a message type (V014 reads them)."""
    return tuple(info.name for info in schema.fields_of_kind(type_name, "float") if not info.repeated)


def _block_name(path: FieldPath) -> str:
    for part in reversed(path):
        if isinstance(part, str):
            return f"`{part}`"
    return "the top level"


class _Builder:
    def __init__(self, document: Document, target: Target) -> None:
        self.document = document
        self.target = target
        self.locs: dict[FieldPath, Loc] = {}
        self.diagnostics: list[Diagnostic] = []
        # per message instance (its path) and oneof: the fields that set the current member
        self._oneof_fields: dict[tuple[FieldPath, str], list[Field]] = {}
        # ... and the fields whose member a later one replaced, reported once the winner is known
        self._oneof_dropped: dict[tuple[FieldPath, str], list[Field]] = {}
        self._unclosed: set[FieldPath] = set()
        self._table = SpanTable(self.locs)  # a view of `locs`, for the constraint engine
        self._root: Any = None
        # a file written for another AMCT config kind: its first telling field, and the unknown fields after it
        self._sibling = siblings.first_telling_field(document, schema.field_names())
        self._sibling_rest: list[Field] = []

    def build(self) -> Any:
        root = self._root = schema.new_message(schema.ROOT)
        self._message(self.document.fields, root, schema.ROOT, ())
        self._report_sibling()
        self._report_dropped_oneof_members()
        self._semantics(root, schema.ROOT, ())
        return root

    def report(self, code: str, span: Span, message: str, hint: str | None = None,
               related: tuple[tuple[Span, str], ...] = (), fix: Fix | None = None) -> None:
        self.diagnostics.append(Diagnostic(code, REGISTRY[code].severity, span, message, hint, related, fix))

    # fields

    def _message(self, fields: list[Field], message: Message, type_name: str, path: FieldPath) -> None:
        infos = schema.fields_of(type_name)
        for field in fields:
            info = infos.get(field.name)
            if info is None:
                self._unknown(field, type_name, path)
            elif field.value is None:
                continue  # the parser already reported what is wrong inside
            elif info.kind == "message":
                self._message_field(field, info, message, path)
            else:
                self._scalar_field(field, info, message, path)

    @property
    def sibling(self) -> bool:
        """Whether the file was written for another AMCT config kind (F016)."""
        return self._sibling is not None

    def _report_sibling(self) -> None:
        """One diagnostic for a file of another AMCT config kind; its other unknown fields as related places."""
        if self._sibling is None:
            return
        telling, kinds = self._sibling
        rest = self._sibling_rest
        shown = rest[:_SIBLING_RELATED]
        more = f" (the file has {len(rest)} other unknown {'field' if len(rest) == 1 else 'fields'})" if rest else ""
        self.diagnostics.append(Diagnostic(
            F.OTHER_CONFIG_KIND, REGISTRY[F.OTHER_CONFIG_KIND].severity, telling.name_span,
            f"`{telling.name}` is a field of {siblings.describe(kinds)}, not of a post-training quantization "
            f"config (`calibration_config_pytorch.proto`){more}",
            "this linter checks AMCT PyTorch post-training quantization configs; check this file with the tool "
            "that reads its kind", tuple((f.name_span, f"`{f.name}`: not a field here either") for f in shown),
            folded=len(rest)))

    def _unknown(self, field: Field, type_name: str, path: FieldPath) -> None:
        if self._sibling is not None:  # reported once, by _report_sibling
            if field is not self._sibling[0]:
                self._sibling_rest.append(field)
            return
        block = _block_name(path)
        hint, fix = None, None
        owners = schema.owners_of(field.name, exclude=type_name)
        kind = _value_kind(field)
        guess = schema.suggest_field(type_name, field.name, kind)
        if owners:
            hint = f"`{field.name}` belongs to " + " and ".join(f"`{o}`" for o in owners)
        elif guess is not None:
            hint = f"did you mean `{guess}`?"
            fix = Fix(f"rename to `{guess}`", (Edit(field.name_start, field.name_end, guess),), safe=False)
        elif (elsewhere := schema.suggest_elsewhere(type_name, field.name, kind)) is not None:
            hint = f"did you mean `{elsewhere[0]}`? (a field of `{elsewhere[1]}`)"
        else:
            names = ", ".join(f"`{n}`" for n in schema.fields_of(type_name))
            hint = f"{block} takes {names}"
        self.report(F.UNKNOWN_FIELD, field.name_span, f"unknown field `{field.name}` {_where(path)}", hint, fix=fix)

    def _message_field(self, field: Field, info: schema.FieldInfo, message: Message, path: FieldPath) -> None:
        value = field.value
        if isinstance(value, Scalar):
            self._wrong_kind(field, info, value.kind, value.text, value.span)
        elif isinstance(value, ListValue):
            if not info.repeated:
                self.report(F.LIST_ON_SINGULAR_FIELD, value.span,
                            f"found a list `[...]` for singular `{field.name}`, expected one `{{ ... }}` block",
                            "remove the brackets, or write the field once per value")
                return
            for item in value.items:
                if isinstance(item, MessageValue):
                    self._element(field, info, item, message, path)
                else:
                    self._wrong_kind(field, info, item.kind, item.text, item.span)
        elif info.repeated:
            self._element(field, info, value, message, path)
        else:
            self._singular_message(field, info, value, message, path)

    def _wrong_kind(self, field: Field, info: schema.FieldInfo, kind: str, text: str, span: Span) -> None:
        self.report(F.WRONG_VALUE_KIND, span, f"found {schema.describe_value(kind, text)} for `{field.name}`, "
                                              f"expected {schema.expected_value(info)}")

    def _element(self, field: Field, info: schema.FieldInfo, value: MessageValue, message: Message,
                 path: FieldPath) -> None:
        sub, index = schema.add_element(message, info.name)
        sub_path = (*path, info.name, index)
        self.locs[sub_path] = Loc(field, value)
        if not value.closed:
            self._unclosed.add(sub_path)
        self._message(value.fields, sub, info.message, sub_path)

    def _singular_message(self, field: Field, info: schema.FieldInfo, value: MessageValue, message: Message,
                          path: FieldPath) -> None:
        sub_path = (*path, info.name)
        if info.oneof is not None:
            self._enter_oneof(field, info, message, path)
        earlier = self.locs.get(sub_path)
        if earlier is not None:
            self.report(F.MESSAGE_GIVEN_TWICE, field.name_span,
                        f"`{field.name}` is given twice {_where(path)}, expected one block "
                        f"(protobuf merges the two, later values winning)",
                        "move the fields of both blocks into one", ((earlier.name_span, "first given here"),))
        sub = schema.open_block(message, info.name)
        self.locs[sub_path] = Loc(field, value)
        if not value.closed:
            self._unclosed.add(sub_path)
        self._message(value.fields, sub, info.message, sub_path)

    def _enter_oneof(self, field: Field, info: schema.FieldInfo, message: Message, path: FieldPath) -> None:
        key = (path, info.oneof)
        current = which(message, info.oneof)
        if current is None or current == info.name:
            self._oneof_fields.setdefault(key, []).append(field)
            return
        self._oneof_dropped.setdefault(key, []).extend(self._oneof_fields.get(key, []))
        self._oneof_fields[key] = [field]
        prefix = (*path, current)
        for stale in [p for p in self.locs if p[: len(prefix)] == prefix]:
            del self.locs[stale]

    def _report_dropped_oneof_members(self) -> None:
        for key, dropped_fields in self._oneof_dropped.items():
            oneof = key[1]
            winner = self._oneof_fields[key][-1]
            for dropped in dropped_fields:
                self.report(F.ONEOF_CONFLICT, dropped.name_span,
                            f"`{dropped.name}` is dropped: `{winner.name}` comes later in the same oneof "
                            f"`{oneof}`, expected one of them",
                            f"AMCT keeps the member written last; delete the `{dropped.name}` block",
                            ((winner.name_span, "this one wins"),),
                            Fix(f"delete the dropped `{dropped.name}` block", (self._deletion(dropped),)))

    def _scalar_field(self, field: Field, info: schema.FieldInfo, message: Message, path: FieldPath) -> None:
        value = field.value
        if isinstance(value, MessageValue):
            self._wrong_kind(field, info, "message", "", field.name_span)
        elif isinstance(value, ListValue):
            if not info.repeated:
                self.report(F.LIST_ON_SINGULAR_FIELD, value.span,
                            f"found a list `[...]` for singular `{field.name}`, expected one value",
                            "remove the brackets, or write the field once per value")
                return
            if not field.colon and not self._syntax_error_between(field.name_end, value.start):
                self.report(F.MISSING_COLON_BEFORE_LIST, field.name_span,
                            f"found `[` right after scalar field `{field.name}`, expected `:` before the list",
                            fix=Fix("insert `:`", (Edit(field.name_end, field.name_end, ":"),)))
            for item in value.items:
                if isinstance(item, MessageValue):
                    self._wrong_kind(field, info, "message", "", item.span)
                else:
                    self._scalar(field, info, item, message, path)
        else:
            self._scalar(field, info, value, message, path)

    def _scalar(self, field: Field, info: schema.FieldInfo, value: Scalar, message: Message, path: FieldPath) -> None:
        converted = schema.convert_scalar(info, value.kind, value.text)
        if isinstance(converted, schema.Problem):
            self.report(converted.code, value.span, converted.message, converted.hint)
            if not converted.stored:
                return
            converted = converted.value
        if info.repeated:
            self.locs[(*path, info.name, schema.append_value(message, info.name, converted))] = Loc(field, value)
            return
        where = (*path, info.name)
        earlier = self.locs.get(where)
        if earlier is not None:
            self.report(F.DUPLICATE_FIELD, field.span,
                        f"`{field.name}` is set twice {_where(path)}: this value wins, expected it once",
                        "protobuf keeps the last value; delete the earlier one",
                        ((earlier.field.span, "first set here"),),
                        Fix(f"delete the earlier `{field.name}`", (self._deletion(earlier.field),)))
        schema.set_value(message, info.name, converted)
        self.locs[where] = Loc(field, value)

    def _syntax_error_between(self, start: int, end: int) -> bool:
        """Whether the parser already reported something in ``[start, end]`` (a missing colon)."""
        return any(start <= d.span.start <= end for d in self.document.diagnostics)

    def _deletion(self, field: Field) -> Edit:
        """Delete ``field`` with its separator; the whole line(s) when nothing else is on them."""
        text = self.document.text
        start, end = field.start, field.sep_end if field.sep_end is not None else field.end
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", end)
        line_end = len(text) if line_end == -1 else line_end
        if not text[line_start:start].strip() and not text[end:line_end].strip():
            return Edit(line_start, min(line_end + 1, len(text)), "")
        while end < len(text) and text[end] in " \t":
            end += 1
        return Edit(start, end, "")

    # after the message is built: required fields and constraints

    def _semantics(self, message: Message, type_name: str, path: FieldPath) -> None:
        """Required fields and constraints of one message of the final config, then its sub-messages."""
        required = schema.required_fields(type_name)
        # in a file of another config kind, its entries lack our required fields by design: no cascade
        if required and path and self._sibling is None and path not in self._unclosed and (loc := self.locs.get(path)) is not None:
            for info in required:
                if not is_set(message, info.name):
                    self.report(F.MISSING_REQUIRED_FIELD, self._block_span(loc),
                                f"{_block_name(path)} entry has no `{info.name}`, expected one (a required field)")
        for checks in _CHECKS:
            for check_one in checks.messages.get(type_name, ()):
                for finding in check_one(message, self.target):
                    self._finding(finding, path)
        for finding in V.non_finite(message, _floats(type_name)):
            self._finding(finding, path)
        if type_name == "CalibrationConfig":
            context = self._context(path)
            for checks in _CHECKS:
                for check_capability in checks.calibration:
                    for finding in check_capability(message, context):
                        self._finding(finding, path)
        for info in schema.fields_of_kind(type_name, "message"):
            if info.repeated:
                for i, sub in enumerate(getattr(message, info.name)):
                    self._semantics(sub, info.message, (*path, info.name, i))
            elif is_set(message, info.name):
                self._semantics(getattr(message, info.name), info.message, (*path, info.name))

    @staticmethod
    def _block_span(loc: Loc) -> Span:
        """The field name, or the opening bracket of a list item."""
        if loc.value is loc.field.value:
            return loc.name_span
        return loc.value.index.span(loc.value.start, loc.value.start + 1)

    def _context(self, path: FieldPath) -> Context:
        level = path[0] if path else "common_config"
        if level == "override_layer_types":
            entry = self._root_entry(path)
            layer_type = entry.layer_type if entry is not None and is_set(entry, "layer_type") else None
            return Context("override_layer_types", layer_type, self.target)
        return Context(level, target=self.target)  # type: ignore[arg-type]

    def _root_entry(self, path: FieldPath) -> Any:
        if len(path) < 2 or not isinstance(path[1], int):
            return None
        return getattr(self._root, str(path[0]))[path[1]]

    def _finding(self, finding: Finding, path: FieldPath) -> None:
        found = finding_diagnostic(finding, lambda at: self._span(path, at))
        if found is not None:
            self.diagnostics.append(found)

    def _span(self, path: FieldPath, at: tuple[PathPart, ...]) -> Span | None:
        where = (*path, *at)
        return self._table.span(where) if where else None


def finding_diagnostic(finding: Finding,
                       span_of: Callable[[tuple[PathPart, ...]], Span | None]) -> Diagnostic | None:
    """The diagnostic of a constraint finding; ``span_of`` maps the finding's paths to spans
    (None: the path is not in the file, and the finding is not reported)."""
    span = span_of(finding.at)
    if span is None:
        return None
    related = tuple((s, note) for p, note in finding.related if (s := span_of(p)) is not None)
    return Diagnostic(finding.code, REGISTRY[finding.code].severity, span, finding.message, finding.hint, related)
