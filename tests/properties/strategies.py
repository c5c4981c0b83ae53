"""Hypothesis strategies for AMCT config text.

Two generators build a small model of a file (:class:`Msg` / :class:`Entry`)
and render it with every syntax variant of the protobuf text format:

- :func:`merge_documents`: anything protobuf's ``text_format.Merge`` accepts
  with the compiled schema, driven by the descriptor alone (every field kind,
  duplicates of singular fields, oneof members given one after the other,
  message fields given twice, values out of the value rules' ranges);
- :func:`valid_documents`: files that also satisfy the value and capability rules
  (V and C, as far as they need no model), so ``cfglang.load`` must
  accept them.

The renderer draws, per token, the whitespace and comments before it, the
quote style and escapes of every string (split into adjacent literals), the
form of every number (decimal, octal, hex, float forms, ``f`` suffix), ``{}``
or ``<>``, optional colons, ``,``/``;`` separators, list syntax, CRLF or LF.
It records every comment it writes, so tests can compare them with what the
parser found.

:func:`mutated_documents` damages valid text: tokens deleted, duplicated or
swapped, truncation, junk characters or junk bytes inserted.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from hypothesis import strategies as st

from cfglang._proto.calibration_config_pytorch_pb2 import AMCTConfig

ROOT: Descriptor = AMCTConfig.DESCRIPTOR


@functools.lru_cache(maxsize=None)
def ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    """``st.integers``, built once per range (building strategies is most of the draw cost)."""
    return st.integers(lo, hi)


@functools.lru_cache(maxsize=None)
def _pick(options: tuple) -> st.SearchStrategy:
    return st.sampled_from(options)


def pick(options) -> st.SearchStrategy:
    """``st.sampled_from``, built once per tuple of options."""
    return _pick(tuple(options))


BOOLS = st.booleans()

QUANTIZABLE = (
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
    "Linear", "AvgPool2d", "LSTM", "GRU",
)
WEIGHTED = tuple(t for t in QUANTIZABLE if t != "AvgPool2d")
CHANNEL_WISE_OK = tuple(t for t in WEIGHTED if t != "Linear")
ADA_OK = ("Conv2d", "ConvTranspose2d", "Linear")
DMQ_OK = ("Linear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d")
LAYER_NAMES = ("conv1", "bn1", "layer1.0.conv1", "layer1.0.conv2", "fc", "head.proj", "pool", "lstm", "卷积1")


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Lit:
    """A scalar as written: ``parts`` are adjacent literals (several only for strings)."""

    parts: tuple[str, ...]
    value: Any


@dataclass
class Msg:
    descriptor: Descriptor
    entries: list[Entry] = field(default_factory=list)


@dataclass
class Entry:
    field: FieldDescriptor
    values: list[Lit | Msg]
    as_list: bool = False


@dataclass(frozen=True)
class Rendered:
    """A generated file: the text, the model it came from and every comment written."""

    text: str
    model: Msg
    comments: tuple[str, ...]
    newline: str


def is_message(f: FieldDescriptor) -> bool:
    return f.type == FieldDescriptor.TYPE_MESSAGE


def is_repeated(f: FieldDescriptor) -> bool:
    return f.is_repeated


def field_of(desc: Descriptor, name: str) -> FieldDescriptor:
    return desc.fields_by_name[name]


# --------------------------------------------------------------------------- literals

BOOL_FORMS = {True: ("true", "True", "t", "1"), False: ("false", "False", "f", "0")}


def uint_literal(draw: Callable, value: int, allow_minus_zero: bool = False) -> str:
    forms = ["dec", "hex", "HEX"]
    if value > 0:
        forms.append("oct")
    if value == 0:
        forms.append("00")
        if allow_minus_zero:
            forms.append("-0")
    form = draw(pick(forms))
    if form == "dec":
        return str(value)
    if form == "hex":
        return "0x" + format(value, "x")
    if form == "HEX":
        return draw(pick(["0x", "0X"])) + format(value, "X")
    if form == "oct":
        return "0" + format(value, "o")
    return form


uint32_values = st.one_of(
    st.integers(0, 16),
    st.sampled_from([255, 1024, 2048, 4096, 8192, 10000, 2**31 - 1, 2**31, 2**32 - 1]),
    st.integers(0, 2**32 - 1),
)


def float_literal(draw: Callable, value: Decimal, allow_int: bool = True) -> str:
    """A literal for ``value`` in one of the float forms of the text format."""
    negative = value.is_signed()
    mag = abs(value)
    forms = ["sci", "fixed", "fixed"] if -30 <= mag.adjusted() <= 30 else ["sci"]
    form = draw(pick(forms))
    if form == "fixed":
        body = format(mag, "f")
        if "." not in body:
            body += draw(pick(["", ".", ".0"] if allow_int else [".", ".0"]))
        elif body.startswith("0.") and draw(BOOLS):
            body = body[1:]  # .5
    else:
        body = format(mag, "e")  # 7e-1, 1.5e+3
        if draw(BOOLS):
            body = body.replace("e+", "e")
        if draw(BOOLS):
            body = body.replace("e", "E")
    if draw(ints(0, 3)) == 0:
        body += draw(pick(["f", "F"]))
    return ("-" if negative else "") + body


special_float_literals = st.builds(
    lambda sign, word: sign + word,
    st.sampled_from(["", "-"]),
    st.sampled_from(["inf", "Inf", "INF", "infinity", "Infinity", "nan", "NaN", "NAN"]),
)

any_decimal = st.builds(
    lambda neg, digits, exp: (-1 if neg else 1) * Decimal(digits).scaleb(exp),
    st.booleans(),
    st.one_of(st.integers(0, 100), st.integers(0, 10**9)),
    st.one_of(st.integers(-8, 4), st.integers(-50, 45)),
)


# strings -----------------------------------------------------------------------

SIMPLE_ESCAPES = {
    "\a": "a", "\b": "b", "\f": "f", "\n": "n", "\r": "r", "\t": "t", "\v": "v",
    "\\": "\\", "'": "'", '"': '"',
}
# ``\?`` is in the text format (protobuf C++) but Python's text_format decodes it as two
# characters, so it is left out of the differential strategies.

string_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12
) | st.sampled_from(LAYER_NAMES + QUANTIZABLE + ("", "a#b", 'q"uote', "back\\slash"))


def _char_atoms(draw: Callable, ch: str, quote: str, nxt: str) -> str:
    cp = ord(ch)
    options = []
    control = cp < 0x20 or cp == 0x7F
    if ch not in (quote, "\\") and not control:
        options.append("lit")
    if ch in SIMPLE_ESCAPES:
        options.append("simple")
    options += ["oct", "hex"]
    if ch != "\\":
        # Python's text_format expands \u/\U before other escapes, so a `\u005c`
        # backslash would start a second escape there (S017 nonstandard-escape)
        options += ["u", "U"] if cp <= 0xFFFF else ["U"]
    # mostly literal characters, so that escapes stay readable when they occur
    how = "lit" if options[0] == "lit" and draw(ints(0, 3)) else draw(pick(options))
    if how == "lit":
        return ch
    if how == "simple":
        return "\\" + SIMPLE_ESCAPES[ch]
    if how == "u":
        return "\\u" + format(cp, draw(pick(["04x", "04X"])))
    if how == "U":
        return "\\U" + format(cp, "08x")
    data = ch.encode("utf-8")
    out = []
    for i, byte in enumerate(data):
        follow = nxt if i == len(data) - 1 else "\\"
        if how == "oct":
            short = follow not in "01234567" and draw(BOOLS)
            out.append("\\" + (format(byte, "o") if short else format(byte, "03o")))
        else:
            short = follow not in "0123456789abcdefABCDEF" and draw(BOOLS)
            out.append("\\x" + format(byte, "x" if short else "02x"))
    return "".join(out)


def string_literal(draw: Callable, value: str | None = None) -> Lit:
    if value is None:
        value = draw(string_values)
    n_chunks = draw(ints(1, 3))
    cuts = sorted(draw(st.lists(st.integers(0, len(value)), min_size=n_chunks - 1, max_size=n_chunks - 1)))
    bounds = [0, *cuts, len(value)]
    parts = []
    for a, b in zip(bounds, bounds[1:]):
        chunk = value[a:b]
        quote = draw(pick(['"', "'"]))
        body = "".join(
            _char_atoms(draw, ch, quote, chunk[i + 1] if i + 1 < len(chunk) else "")
            for i, ch in enumerate(chunk)
        )
        parts.append(quote + body + quote)
    return Lit(tuple(parts), value)


# --------------------------------------------------------------------------- merge-valid model

DEPTH_LIMIT = 5


@st.composite
def merge_scalar(draw: Callable, f: FieldDescriptor) -> Lit:
    t = f.type
    if t == FieldDescriptor.TYPE_UINT32:
        v = draw(uint32_values)
        return Lit((uint_literal(draw, v, allow_minus_zero=True),), v)
    if t == FieldDescriptor.TYPE_FLOAT:
        if draw(ints(0, 9)) == 0:
            return Lit((draw(special_float_literals),), None)
        d = draw(any_decimal)
        return Lit((float_literal(draw, d),), d)
    if t == FieldDescriptor.TYPE_BOOL:
        v = draw(BOOLS)
        return Lit((draw(pick(BOOL_FORMS[v])),), v)
    if t == FieldDescriptor.TYPE_STRING:
        return string_literal(draw)
    if t == FieldDescriptor.TYPE_ENUM:
        ev = draw(pick(tuple(f.enum_type.values)))
        text = draw(pick([ev.name, str(ev.number), hex(ev.number)]))
        return Lit((text,), ev.number)
    raise AssertionError(f"strategy does not know field type {t}")


@st.composite
def merge_message(draw: Callable, desc: Descriptor, depth: int = 0, max_entries: int = 6) -> Msg:
    msg = Msg(desc)
    if depth >= DEPTH_LIMIT:
        return msg
    n = draw(ints(0, max_entries))
    for _ in range(n):
        f = draw(pick(tuple(desc.fields)))
        as_list = is_repeated(f) and draw(ints(0, 3)) == 0
        count = draw(ints(0, 3)) if as_list else 1
        if is_message(f):
            values = [draw(merge_message(f.message_type, depth + 1, max(2, max_entries - 2))) for _ in range(count)]
        else:
            values = [draw(merge_scalar(f)) for _ in range(count)]
        msg.entries.append(Entry(f, values, as_list))
    return msg


# -------------------------------------------------------------------------------- valid model


def _lit(draw: Callable, f: FieldDescriptor, value: Any) -> Lit:
    t = f.type
    if t == FieldDescriptor.TYPE_UINT32:
        return Lit((uint_literal(draw, value),), value)
    if t == FieldDescriptor.TYPE_FLOAT:
        d = Decimal(str(value))
        return Lit((float_literal(draw, d),), d)
    if t == FieldDescriptor.TYPE_BOOL:
        return Lit((draw(pick(BOOL_FORMS[value])),), value)
    if t == FieldDescriptor.TYPE_STRING:
        return string_literal(draw, value)
    if t == FieldDescriptor.TYPE_ENUM:
        ev = f.enum_type.values_by_name[value]
        return Lit((draw(pick([ev.name, str(ev.number), hex(ev.number)])),), ev.number)
    raise AssertionError(f"strategy does not know field type {t}")


def _scalars(draw: Callable, desc: Descriptor, values: dict[str, Any]) -> list[Entry]:
    return [Entry(field_of(desc, k), [_lit(draw, field_of(desc, k), v)]) for k, v in values.items()]


def _some(draw: Callable, values: dict[str, Any]) -> dict[str, Any]:
    """A random subset of ``values`` (order kept; the renderer shuffles later)."""
    return {k: v for k, v in values.items() if draw(BOOLS)}


@functools.lru_cache(maxsize=None)
def _hundredths(lo: int, hi: int) -> st.SearchStrategy[Decimal]:
    return st.integers(lo, hi).map(lambda k: Decimal(k) / 100)


@st.composite
def _arq(draw: Callable, layer_type: str | None) -> dict[str, Any]:
    bits = [6, 7, 8] if layer_type in (None, "Conv2d") else [8]
    cw = [True, False] if layer_type is None or layer_type in CHANNEL_WISE_OK else [False]
    return _some(draw, {"channel_wise": draw(pick(cw)), "quant_bits": draw(pick(bits))})


@st.composite
def _ada(draw: Callable, layer_type: str | None) -> dict[str, Any]:
    cw = [True, False] if layer_type is None or layer_type in CHANNEL_WISE_OK else [False]
    values = _some(draw, {
        "num_iteration": draw(ints(1, 20000)),
        "reg_param": draw(_hundredths(1, 99)),
        "warm_start": draw(_hundredths(1, 99)),
        "channel_wise": draw(pick(cw)),
    })
    beta = draw(pick(["none", "start", "end", "both"]))
    if beta == "start":
        values["beta_range_start"] = draw(_hundredths(201, 5000))  # > default end 2
    elif beta == "end":
        values["beta_range_end"] = draw(_hundredths(1, 1999))  # < default start 20
    elif beta == "both":
        end = draw(_hundredths(1, 3000))
        values["beta_range_start"] = end + draw(_hundredths(1, 3000))
        values["beta_range_end"] = end
    return values


@st.composite
def _ifmr(draw: Callable, layer_type: str | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    rng = draw(pick(["none", "start", "end", "both"]))
    start, end = Decimal("0.7"), Decimal("1.3")
    if rng in ("start", "both"):
        start = values["search_range_start"] = draw(_hundredths(1, 120))
    if rng in ("end", "both"):
        end = values["search_range_end"] = start + draw(_hundredths(2, 150)) if rng == "both" else draw(_hundredths(80, 300))
    if draw(BOOLS):
        # at most 90% of the range, so float32 rounding cannot push it past end - start
        step = ((end - start) * draw(ints(1, 90)) / 100).quantize(Decimal("0.0001"))
        values["search_step"] = max(step, Decimal("0.0001"))
    values.update(_some(draw, {
        "max_percentile": draw(pick([Decimal("0.999999"), Decimal("1.0"), Decimal("0.99"), Decimal("0.6")])),
        "min_percentile": draw(pick([Decimal("0.999999"), Decimal("1"), Decimal("0.9")])),
        "asymmetric": draw(BOOLS) and layer_type != "Conv3d",
        "dst_type": "INT8",
    }))
    return values


@st.composite
def _hfmg(draw: Callable, layer_type: str | None) -> dict[str, Any]:
    return _some(draw, {
        "num_of_bins": draw(pick([1024, 2048, 4096, 8192])),
        "asymmetric": draw(BOOLS) and layer_type != "Conv3d",
        "dst_type": "INT8",
    })


@st.composite
def calibration_config(draw: Callable, layer_type: str | None = None) -> Msg:
    """A CalibrationConfig that is valid for ``layer_type`` (None: any layer)."""
    desc = ROOT.fields_by_name["common_config"].message_type
    msg = Msg(desc)
    weight_algos = ["none"]
    if layer_type is None or layer_type in WEIGHTED:
        weight_algos.append("arq")
    if layer_type is None or layer_type in ADA_OK:
        weight_algos.append("ada")
    blocks = []
    w = draw(pick(weight_algos))
    if w != "none":
        blocks.append((w, draw((_arq if w == "arq" else _ada)(layer_type))))
    a = draw(pick(["none", "ifmr", "hfmg"]))
    if a != "none":
        blocks.append((a, draw((_ifmr if a == "ifmr" else _hfmg)(layer_type))))
    if (layer_type is None or layer_type in DMQ_OK) and draw(BOOLS):
        blocks.append(("dmq", _some(draw, {"migration_strength": draw(_hundredths(20, 80))})))
    names = {"arq": "arq_quantize", "ada": "ada_quantize", "ifmr": "ifmr_quantize",
             "hfmg": "hfmg_quantize", "dmq": "dmq_balancer"}
    for key, values in blocks:
        f = field_of(desc, names[key])
        msg.entries.append(Entry(f, [Msg(f.message_type, _scalars(draw, f.message_type, values))]))
    return msg


@st.composite
def valid_model(draw: Callable, layers: tuple[tuple[str, str], ...] | None = None) -> Msg:
    """An AMCTConfig that keeps the value rules; with ``layers`` ((name, type) of a model) the
    names it mentions come from the model and each layer override is valid for
    its layer's type."""
    types = dict(layers) if layers else {}
    names_pool = tuple(types) or LAYER_NAMES
    quantizable_names = tuple(n for n, t in types.items() if t in QUANTIZABLE) if layers else LAYER_NAMES
    msg = Msg(ROOT)
    top = _some(draw, {
        "batch_num": draw(ints(1, 1000)),
        "activation_offset": draw(BOOLS),
        "fakequant_precision_mode": "FORCE_FP16_QUANT",
        "do_fusion": draw(BOOLS),
    })
    msg.entries += _scalars(draw, ROOT, top)
    for name, pool in (("skip_layers", names_pool), ("skip_layer_types", QUANTIZABLE),
                       ("skip_fusion_layers", names_pool)):
        f = field_of(ROOT, name)
        # unique: AMCT refuses a repeated name in a skip list (F015)
        names = draw(st.lists(st.sampled_from(pool), max_size=3 if name != "skip_layer_types" else 2, unique=True))
        if names and draw(BOOLS):
            msg.entries.append(Entry(f, [string_literal(draw, n) for n in names], as_list=True))
        else:
            msg.entries += [Entry(f, [string_literal(draw, n)]) for n in names]
    if draw(BOOLS):
        msg.entries.append(Entry(field_of(ROOT, "common_config"), [draw(calibration_config())]))
    for name, key, pool in (("override_layer_types", "layer_type", QUANTIZABLE),
                            ("override_layer_configs", "layer_name", quantizable_names)):
        f = field_of(ROOT, name)
        sub = f.message_type
        items = []
        targets = draw(st.lists(st.sampled_from(pool), max_size=3, unique=True)) if pool else []
        for target in targets:
            layer_type = target if key == "layer_type" else types.get(target)
            cc = draw(calibration_config(layer_type))
            entries = [
                Entry(field_of(sub, key), [string_literal(draw, target)]),
                Entry(field_of(sub, "calibration_config"), [cc]),
            ]
            if draw(BOOLS):
                entries.reverse()
            items.append(Msg(sub, entries))
        if items and draw(BOOLS):
            msg.entries.append(Entry(f, items, as_list=True))
        else:
            msg.entries += [Entry(f, [item]) for item in items]
    msg.entries = draw(st.permutations(msg.entries))
    return msg


MODEL_TYPES = QUANTIZABLE + ("BatchNorm2d", "ReLU")
inventories = st.lists(
    st.tuples(st.sampled_from(LAYER_NAMES + ("m0", "m1", "m2", "m3")), st.sampled_from(MODEL_TYPES)),
    min_size=1, max_size=8, unique_by=lambda t: t[0],
).map(tuple)


# --------------------------------------------------------------------------- renderer

_WORDISH = re.compile(r"[\w.+\-]")
comment_bodies = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=15
)


class _Renderer:
    def __init__(self, draw: Callable, newline: str) -> None:
        self.draw = draw
        self.nl = newline
        self.out: list[str] = []
        self.comments: list[str] = []
        self.last = ""

    def gap(self, required: bool, final: bool = False) -> None:
        kind = self.draw(ints(0, 14))
        pieces: str
        if kind == 0:
            pieces = "" if not required else " "
        elif kind <= 4:
            pieces = " "
        elif kind <= 9:
            pieces = self.nl + self.draw(pick(["", "  ", "\t", "    "]))
        elif kind == 10:
            pieces = self.draw(pick(["\t", " \t ", "  "]))
        elif kind == 11:
            pieces = self.draw(pick(["\v", "\f", " \f"]))
        else:
            body = "#" + self.draw(comment_bodies)
            self.comments.append(body)
            lead = self.draw(pick(["", " ", self.nl, "\t"]))
            if final and self.draw(BOOLS):
                pieces = lead + body  # a comment at end of file without a newline
            else:
                pieces = lead + body + self.nl
        self.out.append(pieces)
        if pieces:
            self.last = pieces[-1]

    def tok(self, token: str) -> None:
        required = bool(self.last) and bool(_WORDISH.match(self.last)) and bool(_WORDISH.match(token[0]))
        if self.out:
            self.gap(required)
        elif self.draw(ints(0, 3)) == 0:
            self.gap(False)
        self.out.append(token)
        self.last = token[-1]

    def body(self, msg: Msg) -> None:
        for entry in msg.entries:
            self.entry(entry)

    def message(self, msg: Msg) -> None:
        opener = self.draw(pick("{<"))
        self.tok(opener)
        self.body(msg)
        self.tok("}" if opener == "{" else ">")

    def value(self, value: Lit | Msg) -> None:
        if isinstance(value, Msg):
            self.message(value)
        else:
            for part in value.parts:
                self.tok(part)

    def entry(self, entry: Entry) -> None:
        self.tok(entry.field.name)
        if not is_message(entry.field) or self.draw(BOOLS):
            self.tok(":")
        if entry.as_list:
            self.tok("[")
            for i, v in enumerate(entry.values):
                if i:
                    self.tok(",")
                self.value(v)
            self.tok("]")
        else:
            self.value(entry.values[0])
        sep = self.draw(pick(["", "", "", ",", ";"]))
        if sep:
            self.tok(sep)


@st.composite
def render(draw: Callable, model: Msg) -> Rendered:
    newline = draw(pick(["\n", "\r\n"]))
    r = _Renderer(draw, newline)
    if draw(ints(0, 4)) == 0:
        header = ["# proto-file: proto/calibration_config_pytorch.proto", "# proto-message: AMCTConfig"]
        r.out.append(newline.join(header) + newline)
        r.comments += header
        r.last = "\n"
    r.body(model)
    if draw(BOOLS):
        r.gap(False, final=True)
    elif r.out and not r.out[-1].endswith("\n"):
        r.out.append(newline)
    return Rendered("".join(r.out), model, tuple(r.comments), newline)


def merge_documents(max_entries: int = 6) -> st.SearchStrategy[Rendered]:
    """Files ``text_format.Merge`` accepts (rule diagnostics may still apply)."""
    return merge_message(ROOT, 0, max_entries).flatmap(render)


def valid_documents() -> st.SearchStrategy[Rendered]:
    """Files that keep the value and capability rules: ``cfglang.load`` must accept them."""
    return valid_model().flatmap(render)


# --------------------------------------------------------------------------- mutations

_TOKEN = re.compile(
    r"\"(?:[^\"\\\n]|\\.)*\"?|'(?:[^'\\\n]|\\.)*'?|#[^\n]*|\s+|[\w.+\-]+|.", re.S
)
JUNK_CHARS = tuple("{}<>[]:,;\"'\\#-.+0x") + ("\x00", "\ufeff", "\n", "\r", "\u2028", "é", "\x7f")


@st.composite
def mutated_documents(draw: Callable) -> str | bytes:
    """Valid text after 1-3 random edits; bytes when junk bytes went in."""
    base = draw(st.one_of(valid_documents(), merge_documents(4))).text
    tokens = _TOKEN.findall(base)
    for _ in range(draw(ints(1, 3))):
        op = draw(pick(["delete", "duplicate", "swap", "truncate", "junk", "junk_bytes"]))
        if op in ("delete", "duplicate", "swap") and tokens:
            i = draw(ints(0, len(tokens) - 1))
            if op == "delete":
                del tokens[i]
            elif op == "duplicate":
                tokens.insert(i, tokens[i])
            else:
                j = draw(ints(0, len(tokens) - 1))
                tokens[i], tokens[j] = tokens[j], tokens[i]
        elif op == "truncate":
            text = "".join(tokens)
            tokens = [text[: draw(ints(0, len(text)))]]
        elif op == "junk":
            text = "".join(tokens)
            at = draw(ints(0, len(text)))
            junk = draw(st.text(st.sampled_from(JUNK_CHARS) | st.characters(blacklist_categories=("Cs",)),
                                min_size=1, max_size=4))
            tokens = [text[:at] + junk + text[at:]]
        else:
            data = "".join(tokens).encode("utf-8")
            at = draw(ints(0, len(data)))
            junk = draw(st.binary(min_size=1, max_size=4))
            return data[:at] + junk + data[at:]
    return "".join(tokens)


def any_input() -> st.SearchStrategy[str | bytes]:
    """Everything the parser must survive."""
    return st.one_of(
        mutated_documents(),
        st.text(max_size=200),
        st.binary(max_size=200),
        st.lists(st.sampled_from(JUNK_CHARS + ("a", "1", " ", "batch_num", "common_config")), max_size=40).map("".join),
    )
