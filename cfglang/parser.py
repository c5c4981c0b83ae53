"""``cfglang.parse``: text-format text -> :class:`cfglang.syntax.Document`. Never raises.

The language is ``grammars/textproto.lark``. Lark turns the grammar into terminal
patterns (for :mod:`cfglang.lexer`) and LALR(1) tables when the grammar changes
(:mod:`cfglang.lalr` writes them to the generated ``cfglang/_lalr.py``, which is all
a parse reads); the loop that runs the tables, the callbacks that build our own
nodes and the error recovery are ours, so nothing of Lark leaks into the tree.

Guarantees for later stages:

* every node has 0-based offsets into ``Document.text`` (a BOM removed, noted
  in ``has_bom``); spans with 1-based lines and code-point columns come lazily
  from the shared :class:`~cfglang.diagnostics.LineIndex`;
* ``Scalar.text`` is the source text of identifiers and numbers (sign included)
  and the decoded value of strings (of adjacent literals: concatenated, and
  ``Scalar.pieces`` says where each literal is); ``inf``, ``infinity`` and ``nan`` (any case)
  have kind ``float``;
* a field whose value could not be read has ``value`` None, a message whose
  closer is missing has ``closed`` False; every such place has a syntax
  diagnostic, and so does every scalar field written without its ``:``
  (``Field.colon`` False on a scalar or a list of scalars is always reported);
* limits: ``max_size`` bytes (default 16 MiB; larger input is refused with
  S015 and an empty tree; a parse holds about 30 times the input size at its
  peak, so the default bounds one parse to roughly 500 MB; ``[tool.amct]
  max-file-size`` and ``amct lint --max-file-size`` change it) and ``max_depth`` nested messages (default 100; a
  deeper message is reported with S014 and kept as a field without a value), so
  the tree is never deeper than ``max_depth``. At most 100 errors are reported.
"""

from __future__ import annotations

import bisect
import codecs
import functools
import gc
from collections.abc import Callable

from cfglang.diagnostics import LineIndex, Severity
from cfglang.encoding import lone_carriage_returns, wide_encoding
from cfglang.fsutil import DEFAULT_MAX_SIZE  # the one limit of every read (16 MiB)
from cfglang.lexer import BAD, DEEP, JOINED, MISSING, SYNTHETIC, Reporter, Scanner, Tok, string_value
from cfglang.rules import syntax as S
from cfglang.syntax import Comment, Document, Field, ListValue, MessageValue, Scalar

__all__ = ["parse", "header_comments", "scanner", "too_large", "not_utf8", "DEFAULT_MAX_DEPTH", "DEFAULT_MAX_SIZE"]

DEFAULT_MAX_DEPTH = 100

_VALUES = frozenset(("IDENT", "INTEGER", "FLOAT", "STRING"))
_FIELD_STARTS = frozenset(("FIELD_NAME", "SCALAR_FIELD", "OPEN_FIELD", "FLAT_MESSAGE_FIELD"))
_FOLDED = frozenset(("SCALAR_FIELD", "OPEN_FIELD", "FLAT_MESSAGE_FIELD"))
_OPENERS = {"LBRACE": "RBRACE", "LESSTHAN": "MORETHAN", "LSQB": "RSQB"}
_CLOSERS = frozenset(_OPENERS.values())
_EXPECTED_WORDS = (
    ("FIELD_NAME", "a field name"), ("COLON", "`:`"), ("IDENT", "a value"), ("LBRACE", "`{`"),
    ("LESSTHAN", "`<`"), ("LSQB", "`[`"), ("COMMA", "`,`"), ("SEMICOLON", "`;`"), ("RBRACE", "`}`"),
    ("MORETHAN", "`>`"), ("RSQB", "`]`"), ("$END", "end of file"),
)
_PUNCT_TEXT = {"COLON": ":", "COMMA": ",", "SEMICOLON": ";", "LBRACE": "{", "RBRACE": "}",
               "LESSTHAN": "<", "MORETHAN": ">", "LSQB": "[", "RSQB": "]"}


class _Machine:
    """Scanner and LALR tables for the grammar, built once per process from ``cfglang._lalr``."""

    def __init__(self) -> None:
        from cfglang import _lalr

        self.scanner = Scanner(_lalr.PATTERNS)
        self.start, self.end = _lalr.START, _lalr.END
        # state -> symbol -> (True, next state) | (False, (size, callback, rule name))
        self.table: dict[object, dict[str, tuple[bool, object]]] = {
            state: {symbol: (True, arg) if shift else (False, (arg[0], getattr(_Build, arg[1]), arg[2]))
                    for symbol, (shift, arg) in row.items()}
            for state, row in _lalr.STATES.items()
        }


@functools.cache
def _machine() -> _Machine:
    return _Machine()


def parse(text: str | bytes, path: str | None = None, *, max_depth: int = DEFAULT_MAX_DEPTH,
          max_size: int = DEFAULT_MAX_SIZE, fast: bool = True) -> Document:
    """Parse text-format text into a :class:`Document`; never raises.

    ``fast=False`` turns off the folded tokens of the lexer (the result is the
    same; tests use it to check that).
    """
    # the tree has no reference cycles: collecting during a parse of a large file
    # only costs time (repeated full collections as the node count grows)
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _parse(text, path, max_depth, max_size, fast)
    finally:
        if collecting:
            gc.enable()


def _parse(text: str | bytes, path: str | None, max_depth: int, max_size: int, fast: bool) -> Document:
    has_bom = False
    bad: list[tuple[int, bytes]] = []
    if isinstance(text, (bytes, bytearray, memoryview)):
        data = bytes(text)
        if len(data) > max_size:
            return _too_large(len(data), max_size, path)
        if (wide := wide_encoding(data)) is not None:
            return not_utf8(wide, path)
        if data.startswith(codecs.BOM_UTF8):
            data, has_bom = data[3:], True
        text = _decode(data, bad)
    else:
        if len(text) > max_size or (len(text) * 4 > max_size and not text.isascii()
                                    and len(text.encode("utf-8", "surrogatepass")) > max_size):
            return _too_large(len(text.encode("utf-8", "surrogatepass")), max_size, path)
        if text.startswith("\ufeff"):
            text, has_bom = text[1:], True
        if (wide := wide_encoding(text)) is not None:  # an editor that read UTF-16 bytes as 8-bit text
            return not_utf8(wide, path, text, has_bom)
    index = LineIndex(text)
    reporter = Reporter(index)
    if (lone := lone_carriage_returns(text)) is not None:
        at, count = lone
        reporter.add(S.CR_LINE_BREAK, at, at + 1,
                     "a carriage return without a line feed: protobuf does not break the line here"
                     + (f" (nor at the {count - 1} more in this file)" if count > 1 else ""),
                     hint="protobuf reads what follows as the same line (after a `#` comment: as part of the "
                          "comment), and so does amct; save the file with LF or CRLF line breaks")
    for start, end, raws in _runs(bad):
        raw = b"".join(raws)
        if len(raws) > 1:  # one error for a run of them (binary data): the count and the first bytes
            shown = raw[:8].hex(" ") + (" ..." if len(raw) > 8 else "")
            message = f"invalid UTF-8: {len(raw)} bytes ({shown}) in a row are not characters"
        elif len(raw) == 1:
            message = f"invalid UTF-8: byte 0x{raw[0]:02x} does not start a character"
        else:
            message = f"invalid UTF-8: bytes {raw.hex(' ')} are not a character"
        reporter.add(S.INVALID_UTF8, start, end, message)
    machine = _machine()
    tokens, comments = machine.scanner.scan(text, index, reporter, max_depth=max_depth, fast=fast,
                                            bad_offsets=frozenset(offset for offset, _ in bad))
    fields = _Run(machine, text, index, reporter).parse(tokens)
    diagnostics = sorted(reporter.diagnostics, key=lambda d: d.span.start)
    return Document(text, fields, comments, diagnostics, index, path, has_bom)


def scanner() -> Scanner:
    """The scanner of the grammar (built once per process) for readers of raw tokens
    (:meth:`~cfglang.lexer.Scanner.plain`)."""
    return _machine().scanner


def header_comments(text: str | bytes) -> list[Comment]:
    """The comments before the first token of a file (its header), as :func:`parse` reads them (same
    offsets: a BOM removed; same lines and columns), without parsing the rest: cheap for a large file.
    Bytes are read as UTF-8 with U+FFFD for invalid sequences, as :func:`parse` reads them."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text).decode("utf-8", "replace")
    return scanner().header(text.removeprefix("\ufeff"))


def too_large(size: int | None, limit: int, path: str | None) -> Document:
    """The document of an input refused unread for its size (S015); ``size`` None: a stream known only to be
    larger (see :class:`cfglang.fsutil.FileTooLarge`)."""
    return _too_large(size, limit, path)


def not_utf8(encoding: str, path: str | None, text: str = "", has_bom: bool = False) -> Document:
    """The document of a UTF-16 or UTF-32 input: one S001 for the file, instead of one for each NUL, and no
    fields. ``text``: the input as text, when it came as text (an editor's 8-bit reading of the bytes), kept
    as the document's text; bytes are not decoded (the document's text is empty)."""
    index = LineIndex(text)
    reporter = Reporter(index)
    reporter.add(S.INVALID_UTF8, 0, 0, f"the file is {encoding}, not UTF-8: protobuf cannot read it",
                 hint=f"save it as UTF-8 (in the editor's encoding menu, or `iconv -f {encoding.split()[0]} -t UTF-8`)")
    return Document(text, [], [], reporter.diagnostics, index, path, has_bom)


def _too_large(size: int | None, limit: int, path: str | None) -> Document:
    index = LineIndex("")
    reporter = Reporter(index)
    amount = f"{size} bytes, more than" if size is not None else "more than"
    reporter.add(S.FILE_TOO_LARGE, 0, 0, f"the input is {amount} the limit of {limit}: not read")
    return Document("", [], [], reporter.diagnostics, index, path)


def _runs(bad: list[tuple[int, bytes]]) -> list[tuple[int, int, list[bytes]]]:
    """Invalid sequences next to each other in the decoded text (adjacent U+FFFD) as one run each."""
    runs: list[tuple[int, int, list[bytes]]] = []
    for offset, raw in bad:
        if runs and runs[-1][1] == offset:
            runs[-1][2].append(raw)
            runs[-1] = (runs[-1][0], offset + 1, runs[-1][2])
        else:
            runs.append((offset, offset + 1, [raw]))
    return runs


def _decode(data: bytes, bad: list[tuple[int, bytes]]) -> str:
    """UTF-8 with U+FFFD for each invalid sequence, whose offset goes into ``bad``."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    view = memoryview(data)
    parts: list[str] = []
    length = pos = 0
    while True:
        try:
            parts.append(codecs.utf_8_decode(view[pos:], "strict", True)[0])
            return "".join(parts)
        except UnicodeDecodeError as exc:
            good = codecs.utf_8_decode(view[pos : pos + exc.start], "strict", True)[0]
            parts.append(good)
            length += len(good)
            bad.append((length, bytes(view[pos + exc.start : pos + exc.end])))
            parts.append("\ufffd")
            length += 1
            pos += exc.end


class _Run:
    """One parse: the LALR loop, the callbacks and the recovery."""

    def __init__(self, machine: _Machine, text: str, index: LineIndex, reporter: Reporter) -> None:
        self.m = machine
        self.text = text
        self.index = index
        self.rep = reporter
        # ends of the errors reported so far (the scanner's, sorted, and ours): a
        # token that follows an error on the same line is skipped silently
        self.lexer_error_ends = sorted(d.span.end for d in reporter.diagnostics if d.severity == Severity.ERROR)
        self.error_end = -1

    def parse(self, tokens: list[Tok]) -> list[Field]:
        end_at = len(self.text)
        tokens.append(Tok("$END", None, end_at, end_at))
        table, end_state = self.m.table, self.m.end
        st: list[object] = [self.m.start]
        vs: list[object] = []
        self.vs = vs
        i = 0
        stuck_at = attempts = 0
        while True:
            tok = tokens[i]
            act = table[st[-1]].get(tok.type)
            if act is None:
                if i != stuck_at:
                    stuck_at, attempts = i, 0
                attempts += 1
                if attempts > 8:  # no repair fits: give up on the rest, keep what parsed
                    return _salvage(vs)
                i = self._recover(st, vs, tokens, i)
                continue
            if act[0]:
                if tok.type == "STRING" and type(vs[-1]) is list and vs[-1] and type(vs[-1][-1]) is Tok \
                        and not (tok.flag & JOINED and vs[-1][-1] is tokens[i - 1]):
                    # literals concatenate only when nothing but whitespace and comments separates them
                    i = self._drop(tokens, i, report=not tok.flag & BAD, row=table[st[-1]])
                    continue
                st.append(act[1])
                vs.append(tok)
                i += 1
                continue
            size, callback, origin = act[1]
            if size:
                children = vs[-size:]
                del st[-size:]
                del vs[-size:]
            else:
                children = []
            value = callback(self, children)
            st.append(table[st[-1]][origin][1])
            vs.append(value)
            if st[-1] == end_state:
                return value  # type: ignore[return-value]

    # ------------------------------------------------------------- recovery

    def _recover(self, st: list[object], vs: list[object], tokens: list[Tok], i: int) -> int:
        """Repair the token stream at ``tokens[i]``; returns the index to go on from."""
        tok = tokens[i]
        if tok.type in _FOLDED:
            tokens[i : i + 1] = self.m.scanner.unfold(self.text, self.index, tok)
            return i
        row = self.m.table[st[-1]]
        top = vs[-1] if vs else None
        top_type = top.type if isinstance(top, Tok) else None
        add = self._add

        if tok.type == "IDENT" and "FIELD_NAME" in row:  # a name not followed by `:` or `{`
            if tok.value is None:  # an invalid identifier, already reported
                return self._drop(tokens, i, report=False)
            nxt = tokens[i + 1]
            tokens[i] = Tok("FIELD_NAME", tok.value, tok.start, tok.end)
            if nxt.type in _VALUES and "\n" not in self.text[tok.end : nxt.start]:
                add(S.MISSING_COLON, nxt.start, nxt.end, f"expected ':' after scalar field `{tok.value}`")
                tokens.insert(i + 1, Tok("COLON", None, tok.end, tok.end, SYNTHETIC))
            else:
                add(S.MISSING_VALUE, tok.start, tok.end,
                    f"field `{tok.value}` has no value: expected ':' and a value, or `{{`, after the name")
                tokens[i + 1 : i + 1] = [Tok("COLON", None, tok.end, tok.end, SYNTHETIC),
                                         Tok("IDENT", None, tok.end, tok.end, MISSING)]
            return i

        if top_type == "COLON" and "IDENT" in row:  # `name:` and no value
            name = vs[-2].value if len(vs) >= 2 and isinstance(vs[-2], Tok) else "?"
            if not tok.flag & BAD:
                add(S.MISSING_VALUE, *_where(tok),
                    f"expected a value after `{name}:`, found {self._describe(tok)}")
            tokens.insert(i, Tok("IDENT", None, top.end, top.end, MISSING))
            return i

        if top_type == "LSQB" and "LBRACE" in row and "IDENT" not in row and tok.type in _VALUES:
            # `name [1, 2]`: a list of scalars needs the colon
            name = vs[-2].value if len(vs) >= 2 and isinstance(vs[-2], Tok) else "?"
            add(S.MISSING_COLON, top.start, top.end, f"expected ':' before the list of scalars of field `{name}`")
            st.pop()
            vs.pop()
            tokens[i:i] = [Tok("COLON", None, top.start, top.start, SYNTHETIC), top]
            return i

        in_list = _innermost(vs) == "RSQB"
        if in_list and "COMMA" in row and (tok.type in _VALUES or tok.type in ("LBRACE", "LESSTHAN")) \
                and not (tok.flag & BAD):
            add(S.LIST_SYNTAX, *_where(tok), f"expected ',' between list items, found {self._describe(tok)}")
            tokens.insert(i, Tok("COMMA", None, tok.start, tok.start, SYNTHETIC))
            return i

        if top_type == "COMMA" and tok.type == "RSQB":
            if self.error_end <= top.start and not self._follows_error(top.start):
                add(S.LIST_SYNTAX, top.start, top.end, "trailing `,` in the list: remove it")
            st.pop()
            vs.pop()
            return i

        if tok.type == "$END" or tok.flag & SYNTHETIC:
            return self._supply(st, vs, tokens, i)

        if tok.flag & BAD:
            return self._drop(tokens, i, report=False)
        if in_list and tok.type == "COMMA":
            add(S.LIST_SYNTAX, tok.start, tok.end, "unexpected `,`: expected a list item")
            return self._drop(tokens, i, report=False)
        if in_list and (tok.type in _VALUES or tok.type in ("LBRACE", "LESSTHAN", "LSQB")):
            what = "lists cannot be nested" if tok.type == "LSQB" else "a list cannot mix scalars and messages"
            add(S.LIST_SYNTAX, *_where(tok), f"unexpected {self._describe(tok)}: {what}")
            return self._drop(tokens, i, report=False)
        return self._drop(tokens, i, report=True, row=row)

    def _drop(self, tokens: list[Tok], i: int, *, report: bool, row: dict | None = None) -> int:
        """Skip ``tokens[i]`` (a whole bracketed group if it opens one)."""
        tok = tokens[i]
        self._inside = _innermost(self.vs)
        if report and not self._follows_error(tok.start):
            row_words = _expected(row or {}, self._inside)
            self._add(S.UNEXPECTED_TOKEN, *_where(tok),
                         f"unexpected {self._describe(tok)}" + (f", expected {row_words}" if row_words else ""))
        closer = _OPENERS.get(tok.type)
        if closer is None:
            return i + 1
        depth = 0
        for j in range(i, len(tokens)):
            kind = tokens[j].type
            if kind in _OPENERS:
                depth += 1
            elif kind in _CLOSERS:
                depth -= 1
                if not depth:
                    return j + 1
            elif kind == "OPEN_FIELD":
                depth += 1
        return len(tokens) - 1

    def _supply(self, st: list[object], vs: list[object], tokens: list[Tok], i: int) -> int:
        """Before the end of input (or a supplied closer): insert what completes the construct."""
        row = self.m.table[st[-1]]
        at = tokens[i].start
        for kind, flag in (("IDENT", MISSING), ("COLON", SYNTHETIC), ("RBRACE", SYNTHETIC),
                           ("MORETHAN", SYNTHETIC), ("RSQB", SYNTHETIC)):
            if kind in row:
                if kind == "IDENT" and not self._follows_error(at):
                    self._add(S.MISSING_VALUE, at, at, f"expected a value, found {self._describe(tokens[i])}")
                tokens.insert(i, Tok(kind, None, at, at, flag))
                return i
        return self._drop(tokens, i, report=True, row=row) if tokens[i].type != "$END" else i

    def _add(self, code: str, start: int, end: int, message: str) -> None:
        self.rep.add(code, start, end, message)
        self.error_end = max(self.error_end, end)

    def _follows_error(self, offset: int) -> bool:
        """Whether an error already reported ends on this line, before ``offset``."""
        line_start = self.text.rfind("\n", 0, offset) + 1
        if line_start <= self.error_end <= offset:
            return True
        ends = self.lexer_error_ends
        k = bisect.bisect_right(ends, offset)
        return k > 0 and ends[k - 1] >= line_start

    def _describe(self, tok: Tok) -> str:
        kind = tok.type
        if kind == "$END":
            return "end of file"
        if kind in _PUNCT_TEXT:
            return f"`{_PUNCT_TEXT[kind]}`"
        if kind == "STRING":
            shown = self.text[tok.start : tok.end]
            return f"string {shown if len(shown) <= 24 else shown[:21] + '...'}"
        if kind in ("SCALAR_FIELD", "FLAT_MESSAGE_FIELD"):
            return f"field `{tok.value.name}`"
        if kind == "OPEN_FIELD":
            return f"field `{tok.value[0]}`"
        shown = self.text[tok.start : tok.end]
        return f"`{shown if len(shown) <= 24 else shown[:21] + '...'}`"


def _innermost(vs: list[object]) -> str:
    """The open bracket the parser is in (``$END`` at the top level)."""
    closed = 0  # closers on the stack whose construct is not reduced yet
    for value in reversed(vs):
        if isinstance(value, Tok):
            if value.type in _CLOSERS:
                closed += 1
            elif value.type in ("LBRACE", "LESSTHAN", "LSQB", "OPEN_FIELD"):
                if not closed:
                    return _OPENERS.get(value.type, "RBRACE")
                closed -= 1
    return "$END"


def _expected(row: dict, inside: str) -> str:
    """Words for what a parser state accepts: "a field name, `}` or end of file".

    LALR states are shared by every nesting level, so of the closers only the
    one of the bracket the parser is in is named.
    """
    present = set(row) - ({"RBRACE", "MORETHAN", "RSQB", "$END"} - {inside})
    if present & _FIELD_STARTS:
        present.add("FIELD_NAME")
    if present & _VALUES:
        present.add("IDENT")
    words = [word for kind, word in _EXPECTED_WORDS if kind in present]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def _salvage(vs: list[object]) -> list[Field]:
    return vs[0] if vs and isinstance(vs[0], list) else []


def _where(tok: Tok) -> tuple[int, int]:
    """Where to point at a token in a message: the name of a folded field."""
    if tok.type == "SCALAR_FIELD" or tok.type == "FLAT_MESSAGE_FIELD":
        return tok.value.name_start, tok.value.name_end
    if tok.type == "OPEN_FIELD":
        return tok.start, tok.value[1]
    return tok.start, tok.end


def _real(tok: Tok) -> bool:
    return not tok.flag & SYNTHETIC


# ------------------------------------------------------------------ callbacks
# Named after the rule aliases of the grammar; each gets the rule's children.


class _Build:
    @staticmethod
    def start(run: _Run, s: list) -> list[Field]:
        return s[0]

    @staticmethod
    def body_empty(run: _Run, s: list) -> list[Field]:
        return []

    @staticmethod
    def body_field(run: _Run, s: list) -> list[Field]:
        body = s[0]
        body.append(s[1])
        return body

    @staticmethod
    def body_field_sep(run: _Run, s: list) -> list[Field]:
        body, field = s[0], s[1]
        if _real(s[2]):
            field.sep_end = s[2].end
        body.append(field)
        return body

    @staticmethod
    def body_folded(run: _Run, s: list) -> list[Field]:
        body = s[0]
        body.append(s[1].value)
        return body

    @staticmethod
    def body_folded_sep(run: _Run, s: list) -> list[Field]:
        body, field = s[0], s[1].value
        if _real(s[2]):
            field.sep_end = s[2].end
        body.append(field)
        return body

    @staticmethod
    def scalar_field(run: _Run, s: list) -> Field:
        name, colon, value = s
        return _field(run, name, colon, value)

    @staticmethod
    def message_field(run: _Run, s: list) -> Field:
        if len(s) == 3:
            return _field(run, s[0], s[1], s[2])
        return _field(run, s[0], None, s[1])

    list_field = message_field

    @staticmethod
    def open_field(run: _Run, s: list) -> Field:
        opener, body, closer = s
        name, name_end, colon, brace = opener.value
        message = MessageValue("{", body, brace, closer.end, _real(closer), run.index)
        return Field(name, opener.start, name_end, colon, message, opener.start, closer.end, run.index)

    @staticmethod
    def message(run: _Run, s: list) -> MessageValue | _Lost:
        opener, body, closer = s
        if opener.flag & DEEP:
            return _Lost(closer.end)
        return MessageValue(run.text[opener.start], body, opener.start, closer.end, _real(closer), run.index)

    @staticmethod
    def scalar_token(run: _Run, s: list) -> Scalar | _Lost | None:
        tok = s[0]
        text = tok.value
        if text is None:
            return None if tok.flag & SYNTHETIC else _Lost(tok.end)
        kind = tok.type
        if kind == "IDENT":
            kind = "float" if text.lower() in ("inf", "infinity", "nan") else "identifier"
        else:
            kind = "integer" if kind == "INTEGER" else "float"
        return Scalar(kind, text, tok.start, tok.end, run.index)  # type: ignore[arg-type]

    @staticmethod
    def scalar_strings(run: _Run, s: list) -> Scalar | _Lost:
        toks = s[0]
        if any(t.flag & BAD for t in toks):
            return _Lost(toks[-1].end)
        chunks = [c for t in toks for c in t.value]
        value = string_value(chunks, run.rep)
        if value is None:
            return _Lost(toks[-1].end)
        pieces = tuple((t.start, t.end) for t in toks) if len(toks) > 1 else ()
        return Scalar("string", value, toks[0].start, toks[-1].end, run.index, pieces)

    @staticmethod
    def strings_first(run: _Run, s: list) -> list[Tok]:
        return s

    @staticmethod
    def strings_next(run: _Run, s: list) -> list[Tok]:
        toks = s[0]
        toks.append(s[1])
        return toks

    @staticmethod
    def list_empty(run: _Run, s: list) -> ListValue:
        return ListValue([], s[0].start, s[1].end, run.index)

    @staticmethod
    def list_items(run: _Run, s: list) -> ListValue:
        return ListValue([x for x in s[1] if x is not None and not isinstance(x, _Lost)],
                         s[0].start, s[2].end, run.index)

    @staticmethod
    def items_first(run: _Run, s: list) -> list:
        return s

    @staticmethod
    def items_next(run: _Run, s: list) -> list:
        items = s[0]
        items.append(s[2])
        return items


class _Lost:
    """A value that is in the text but could not be read (already reported)."""

    __slots__ = ("end",)

    def __init__(self, end: int) -> None:
        self.end = end


def _field(run: _Run, name: Tok, colon: Tok | None, value: object) -> Field:
    has_colon = colon is not None and _real(colon)
    if isinstance(value, _Lost):
        end, value = value.end, None
    elif value is not None:
        end = value.end  # type: ignore[attr-defined]
    else:
        end = colon.end if has_colon else name.end  # type: ignore[union-attr]
    return Field(name.value, name.start, name.end, has_colon, value, name.start, end, run.index)  # type: ignore[arg-type]


_Callback = Callable[[_Run, list], object]
