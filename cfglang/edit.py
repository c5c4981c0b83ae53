"""Edits that add per-layer decisions to a ``.cfg`` text, as ``amct tune`` proposes them.

Two kinds of :class:`LayerChange`:

- a **setting**: new CalibrationConfig blocks for one layer (``hfmg_quantize {...}`` instead of
  ``ifmr_quantize {...}``). When the file has an ``override_layer_configs`` entry for the layer, each
  new block replaces the block of the same oneof group in that entry (or is added at the end of its
  ``calibration_config``); otherwise a new entry with the layer's complete CalibrationConfig is added
  (overrides replace, they do not merge, so the entry repeats the settings that stay);
- a **skip**: a ``skip_layers: "NAME"`` field (a repeated field may mix list and single-value forms).

Everything else in the file stays as it is, comments and layout included. A new top-level field goes after
the last top-level field whose proto field number is not larger than its own (the proto's order:
``skip_layers`` after ``batch_num`` and ``activation_offset``, ``override_layer_configs`` after
``common_config`` and the other entries), or before the first field. Each edit puts a comment line
``# amct tune: REASON`` above what it adds. The new text is protobuf's text format (``cfglang.schema``)
laid out by ``amct fmt`` (:mod:`cfglang.formatter`) at the place's indentation, so a formatted file
stays formatted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cfglang.diagnostics import Edit
from cfglang.formatter import _line_ending, format_text
from cfglang.plan import LayerPlan
from cfglang.settings import FormatOptions
from cfglang.syntax import Document, Field, MessageValue, Scalar

__all__ = ["LayerChange", "EditError", "layer_edits", "apply_edits", "calibration_config_of", "TUNE_COMMENT"]

#: the comment that introduces every line ``amct tune`` adds
TUNE_COMMENT = "# amct tune: "


class EditError(ValueError):
    """The file cannot take the change (syntax errors, an entry that is not a block)."""


@dataclass(frozen=True)
class LayerChange:
    """One decision for one layer: ``skip``, or the CalibrationConfig ``blocks`` to set (block name ->
    its fields, as the config's JSON has them) within the layer's complete ``calibration_config``."""

    layer: str
    reason: str  # the comment's text after `# amct tune: `
    skip: bool = False
    blocks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # the changed blocks
    calibration_config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # all blocks, for a new entry


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """``text`` with non-overlapping ``edits`` applied (offsets into the original text)."""
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        text = text[: edit.start] + edit.new_text + text[edit.end :]
    return text


def _field_text(message: str, data: Mapping[str, Any], options: FormatOptions) -> list[str]:
    """The lines of ``data`` (one field of ``message``) in protobuf's text format, laid out by ``amct fmt``."""
    from cfglang.schema import from_json, to_text

    return format_text(to_text(from_json(dict(data), message)), options).splitlines()


def _line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def _indent_of(text: str, offset: int) -> str:
    start = _line_start(text, offset)
    prefix = text[start:offset]
    return prefix if not prefix.strip() else ""


def _line_end(text: str, offset: int) -> int:
    """The offset of the line break that ends the line holding ``offset`` (before a CR), or the text's end."""
    end = text.find("\n", offset)
    if end < 0:
        return len(text)
    return end - 1 if end > 0 and text[end - 1] == "\r" else end


def _lines(reason: str, body: Sequence[str], indent: str, newline: str) -> str:
    return newline.join(indent + line if line else line for line in [TUNE_COMMENT + reason, *body])


class _Editor:
    def __init__(self, document: Document, options: FormatOptions) -> None:
        self.document = document
        self.text = document.text
        self.options = options
        self.newline = _line_ending(self.text, FormatOptions(line_ending="auto"))

    def after_field(self, f: Field, block: str) -> Edit:
        """``block`` on new lines after the line of ``f`` (after its trailing comment)."""
        end = _line_end(self.text, f.sep_end or f.end)
        return Edit(end, end, self.newline + block if end or self.text else block + self.newline)

    def top_level(self, name: str, body: Sequence[str], reason: str) -> Edit:
        from cfglang.schema import ROOT, fields_of

        numbers = {n: info.number for n, info in fields_of(ROOT).items()}
        number = numbers[name]
        before = [f for f in self.document.fields if numbers.get(f.name, 1 << 30) <= number]
        block = _lines(reason, body, "", self.newline)
        if before:
            return self.after_field(before[-1], block)
        if not self.document.fields:
            end = len(self.text)
            lead = "" if not self.text or self.text.endswith("\n") else self.newline
            return Edit(end, end, lead + block + self.newline)
        first = self.document.fields[0]
        start = self._comment_block_start(first.start)
        return Edit(start, start, block + self.newline)

    def _comment_block_start(self, offset: int) -> int:
        """The start of the comment lines directly above the line at ``offset`` (no blank line between)."""
        start = _line_start(self.text, offset)
        for comment in reversed([c for c in self.document.comments if c.end <= start]):
            line = _line_start(self.text, comment.start)
            if self.text[line:comment.start].strip() or self.text[comment.end:start].strip("\r\n") \
                    or self.text[comment.end:start].count("\n") != 1:
                break
            start = line
        return start

    def entry(self, layer: str) -> Field | None:
        for f in self.document.fields:
            if f.name != "override_layer_configs" or not isinstance(f.value, MessageValue):
                continue
            names = [g.value.text for g in f.value.fields
                     if g.name == "layer_name" and isinstance(g.value, Scalar) and g.value.kind == "string"]
            if names and names[-1] == layer:
                return f
        return None

    def in_entry(self, entry: Field, change: LayerChange) -> list[Edit]:
        from cfglang.schema import oneof_members

        config = [g for g in entry.value.fields if g.name == "calibration_config" and isinstance(g.value, MessageValue)]
        if not config:
            raise EditError(f"the `override_layer_configs` entry of `{change.layer}` has no `calibration_config` "
                            f"block to change")
        body = config[-1].value
        groups = oneof_members("CalibrationConfig")
        edits = []
        for name, data in change.blocks.items():
            members = next(m for m in groups.values() if name in m)
            lines = _field_text("CalibrationConfig", {name: dict(data)}, self.options)
            present = [g for g in body.fields if g.name in members]
            if present:  # the last one written is the one AMCT uses
                old = present[-1]
                indent = _indent_of(self.text, old.start)
                new = _lines(change.reason, lines, indent, self.newline)[len(indent):]
                edits.append(Edit(old.start, old.sep_end or old.end, new))
            else:
                indent = _indent_of(self.text, config[-1].start) + " " * self.options.indent_width
                close = body.end - 1
                start = _line_start(self.text, close)
                if self.text[start:close].strip():  # `}` shares its line with text: a line of its own
                    edits.append(Edit(close, close, self.newline + _lines(change.reason, lines, indent, self.newline)
                                      + self.newline + _indent_of(self.text, config[-1].start)))
                else:
                    edits.append(Edit(start, start, _lines(change.reason, lines, indent, self.newline) + self.newline))
        return edits


def layer_edits(document: Document, changes: Iterable[LayerChange], options: FormatOptions | None = None) -> list[Edit]:
    """The edits of ``document`` that make ``changes``; they never overlap (new top-level fields at one
    place are joined into one edit, in the order given)."""
    if any(d.severity.name == "ERROR" for d in document.diagnostics):
        raise EditError("the file has syntax errors; fix them before tuning it")
    editor = _Editor(document, options or FormatOptions())
    edits: list[Edit] = []
    # skips first: two new fields at one place then come in the proto's order (skip_layers is field 10)
    for change in sorted(changes, key=lambda c: not c.skip):
        if change.skip:
            body = _field_text("AMCTConfig", {"skip_layers": [change.layer]}, editor.options)
            edits.append(editor.top_level("skip_layers", body, change.reason))
            continue
        entry = editor.entry(change.layer)
        if entry is not None:
            edits.extend(editor.in_entry(entry, change))
            continue
        data = {"override_layer_configs": [{"layer_name": change.layer,
                                            "calibration_config": {k: dict(v) for k, v in
                                                                   change.calibration_config.items()}}]}
        edits.append(editor.top_level("override_layer_configs", _field_text("AMCTConfig", data, editor.options),
                                      change.reason))
    return _joined(edits)


def _joined(edits: list[Edit]) -> list[Edit]:
    """Insertions at one offset become one edit (their order kept), so that no two edits overlap."""
    out: list[Edit] = []
    for edit in edits:
        same = next((i for i, e in enumerate(out) if e.start == e.end == edit.start == edit.end), None)
        if same is None:
            out.append(edit)
        else:
            first = out[same]
            # each insertion starts with its line break (after a field) or ends with it (before one)
            out[same] = Edit(first.start, first.end, first.new_text + edit.new_text)
    return out


def calibration_config_of(layer: LayerPlan) -> dict[str, dict[str, Any]]:
    """The CalibrationConfig (as the config's JSON has it) that gives ``layer`` its resolved settings, every
    value written out (an override replaces, it does not merge)."""
    out: dict[str, dict[str, Any]] = {}
    weight = layer.weight
    if weight is not None and weight.algo == "arq":
        out["arq_quantize"] = {"channel_wise": weight.channel_wise, "quant_bits": weight.bits}
    elif weight is not None:
        out["ada_quantize"] = {key: getattr(weight, key) for key in
                               ("num_iteration", "reg_param", "beta_range_start", "beta_range_end", "warm_start",
                                "channel_wise")}
    act = layer.activation
    if act is not None:
        keys = (("search_range_start", "search_range_end", "search_step", "max_percentile", "min_percentile")
                if act.algo == "ifmr" else ("num_of_bins",))
        block = {key: getattr(act, key) for key in keys}
        block["asymmetric"] = act.asymmetric
        if act.bits == 16:
            block["dst_type"] = "INT16"
        out[f"{act.algo}_quantize"] = block
    if layer.dmq_balancer is not None:
        out["dmq_balancer"] = {"migration_strength": layer.dmq_balancer.migration_strength}
    return out
