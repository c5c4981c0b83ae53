"""The scanner of the text format: text -> tokens for the LALR parser.

One master regular expression, built from the terminal patterns of
``grammars/textproto.lark`` in a fixed order, is matched at each position.
Besides plain tokens it emits *folded* tokens (``SCALAR_FIELD``,
``OPEN_FIELD``, ``FLAT_MESSAGE_FIELD``) for regular stretches of text, with
the syntax nodes already built, so the parser loop sees few tokens; the
grammar says which token sequence each one stands for.

The scanner also keeps brackets balanced for the parser: a closer that closes
nothing is reported and dropped, a missing closer is reported and supplied.
It enforces the nesting limit by skipping the contents of a too-deep message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from cfglang.diagnostics import Diagnostic, Edit, Fix, LineIndex, Severity
from cfglang.rules import REGISTRY
from cfglang.rules import syntax as S
from cfglang.syntax import Comment, Field, MessageValue, Scalar
from cfglang.textescape import Chunk, decode_literal

__all__ = ["Tok", "Reporter", "Scanner", "string_value", "SYNTHETIC", "DEEP", "BAD", "MISSING", "JOINED"]

SYNTHETIC = 1  # not in the text: supplied by recovery
DEEP = 2  # an opener whose contents were skipped (nesting limit)
BAD = 4  # a value token that could not be read (already reported)
MISSING = SYNTHETIC | BAD  # a value the text lacks
JOINED = 8  # a string literal right after another (only whitespace and comments between)


class Tok:
    """A token for the parser loop: ``type`` is a terminal name of the grammar."""

    __slots__ = ("type", "value", "start", "end", "flag")

    def __init__(self, type: str, value: object, start: int, end: int, flag: int = 0) -> None:
        self.type = type
        self.value = value
        self.start = start
        self.end = end
        self.flag = flag

    def __repr__(self) -> str:
        return f"Tok({self.type}, {self.value!r}, {self.start}, {self.end}, {self.flag})"


class Reporter:
    """Collects diagnostics; after ``limit`` errors it records one S016 and stops."""

    __slots__ = ("index", "diagnostics", "errors", "limit", "stopped")

    def __init__(self, index: LineIndex, limit: int = 100) -> None:
        self.index = index
        self.diagnostics: list[Diagnostic] = []
        self.errors = 0
        self.limit = limit
        self.stopped = False

    def add(self, code: str, start: int, end: int, message: str,
            related: tuple = (), hint: str | None = None, fix: Fix | None = None) -> None:
        if self.stopped:
            return
        severity = REGISTRY[code].severity
        if severity is Severity.ERROR:
            self.errors += 1
            if self.errors > self.limit:
                self.stopped = True
                code, message, severity = S.TOO_MANY_ERRORS, f"more than {self.limit} syntax errors: stopped reporting", Severity.ERROR
        self.diagnostics.append(Diagnostic(code, severity, self.index.span(start, end), message, hint, related, fix))


def string_value(chunks: list[Chunk], reporter: Reporter) -> str | None:
    """The text of concatenated literals; an error where the bytes are not UTF-8."""
    data = b"".join(c[0] for c in chunks)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        at = 0
        for chunk, start, end in chunks:
            if at + len(chunk) > exc.start:
                reporter.add(S.STRING_NOT_UTF8, start, end,
                             f"the string is not valid UTF-8: byte 0x{data[exc.start]:02x} here does not start a character"
                             if at == exc.start or start + 1 >= end else
                             "the string is not valid UTF-8 here")
                break
            at += len(chunk)
        return None


_FLOAT_WORDS = frozenset(("inf", "infinity", "nan"))
_PUNCT = {":": "COLON", ",": "COMMA", ";": "SEMICOLON", "{": "LBRACE", "}": "RBRACE",
          "<": "LESSTHAN", ">": "MORETHAN", "[": "LSQB", "]": "RSQB"}
_OPENER_OF = {"}": "{", ">": "<", "]": "["}
_CLOSER_OF = {"{": "}", "<": ">", "[": "]"}
_NAME = re.compile(r"[A-Za-z_][0-9A-Za-z_]*")
# the parts of folded scalar fields (already validated by the master pattern)
_FOLDED_PARTS = re.compile(
    r"([A-Za-z_][0-9A-Za-z_]*)[ \t]*:[ \t]*"
    r"(\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'|[-.0-9A-Za-z_][0-9A-Za-z_.+-]*)(?:[ \t]*([,;]))?")
# characters that start no token (what the master pattern's ANY catches), as a run
_JUNK = re.compile(r"(?:[^\sA-Za-z0-9_\"'#:,;{}<>\[\]+-]|\.(?![0-9]))+")

# protobuf's own number reading (text_format._ParseAbstractInteger / ParseFloat)
#: protobuf's C-style octal integer (`017` is 15); `cfglang.schema` reads integers with it too
C_OCTAL = re.compile(r"(-?)0(\d+)$")
_FLOAT_OCTAL_PREFIX = re.compile(r"-?0[0-9]+")
_FLOAT_INFINITY = re.compile(r"-?inf(?:inity)?f?$", re.IGNORECASE)
_FLOAT_NAN = re.compile(r"nanf?$", re.IGNORECASE)
_NUMBER_PREFIX = re.compile(r"[+-]?(?:0[xX][0-9A-Fa-f]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")


def integer_value(text: str) -> int:
    """An integer literal as protobuf's text reader reads it (decimal, ``0x``, C-style octal); raises
    ValueError."""
    m = C_OCTAL.match(text)
    if m:
        text = m.group(1) + "0o" + m.group(2)
    return int(text, 0)


def _python_int(text: str) -> bool:
    try:
        integer_value(text)
    except ValueError:
        return False
    return True


def _python_float(text: str) -> bool:
    if _FLOAT_OCTAL_PREFIX.match(text):
        return False
    for candidate in (text, text.rstrip("fF")):
        try:
            float(candidate)
            return True
        except ValueError:
            pass
    return bool(_FLOAT_INFINITY.match(text) or _FLOAT_NAN.match(text))


# the master pattern is: optional WS, then the first of these that matches
_FAST_ORDER = ("FLAT_MESSAGE_FIELD", "OPEN_FIELD", "SCALAR_FIELD")
_FINE_ORDER = ("FIELD_NAME", "IDENT", "BAD_IDENT", "INTEGER", "FLOAT", "NUMBER_LIKE",
               "STRING", "UNTERMINATED_STRING", "COMMENT")


class Scanner:
    """Compiled patterns for one grammar (built once, shared by all parses)."""

    def __init__(self, patterns: Mapping[str, str]) -> None:
        def master(order: tuple[str, ...]) -> re.Pattern[str]:
            parts = [f"(?P<{name}>{patterns[name]})" for name in order]
            parts += [r"(?P<PUNCT>[:,;{}<>\[\]])", f"(?P<OTHER_WS>{patterns['OTHER_WS']})", r"(?P<ANY>(?s:.))"]
            return re.compile(f"(?:{patterns['WS']})?+(?:{'|'.join(parts)})")

        self.fine = master(_FINE_ORDER)
        self.fast = master(_FAST_ORDER + _FINE_ORDER)

    def scan(self, text: str, index: LineIndex, reporter: Reporter, *, max_depth: int,
             fast: bool = True, bad_offsets: frozenset[int] = frozenset()) -> tuple[list[Tok], list[Comment]]:
        return _Scan(self, text, index, reporter, max_depth, bad_offsets).run(fast, 0, len(text), True)

    def plain(self, text: str, pos: int, end: int) -> Iterator[tuple[str, int, int]]:
        """The plain tokens of ``text[pos:end]`` as ``(kind, start, end)``: what the scanner's pattern
        matches, before :meth:`scan` reads it (no folded tokens; nothing decoded, reported, split or
        balanced). ``kind`` is a terminal name, ``PUNCT`` (one of ``:,;{}<>[]``), ``OTHER_WS`` or ``ANY``
        (a character that starts no token). For readers of text that rarely parses (the LSP's cursor
        context)."""
        match = self.fine.match
        while (m := match(text, pos, end)) is not None:
            kind = m.lastgroup
            pos = m.end()
            yield kind, m.start(kind), pos  # type: ignore[misc]

    def header(self, text: str) -> list[Comment]:
        """The comments before the first token of ``text`` (its header), read as :meth:`scan` reads them
        but without scanning the rest. Their :class:`LineIndex` covers the text up to the first token:
        lines and columns are those of the whole text's."""
        spans = []
        match = self.fine.match
        pos = 0
        while (m := match(text, pos)) is not None and (kind := m.lastgroup) in ("COMMENT", "OTHER_WS"):
            if kind == "COMMENT":
                spans.append(_comment_span(text, m.start(kind), m.end()))
            pos = m.end()
        index = LineIndex(text[:pos])
        return [Comment(text[s:e], s, e, index) for s, e in spans]

    def unfold(self, text: str, index: LineIndex, tok: Tok) -> list[Tok]:
        """The plain tokens of a folded token (for error recovery, which works on
        plain tokens only). Its problems were reported when it was folded."""
        scan = _Scan(self, text, index, Reporter(index), 1 << 30, frozenset())
        return scan.run(False, tok.start, tok.end, False)[0]


class _Scan:
    def __init__(self, scanner: Scanner, text: str, index: LineIndex, reporter: Reporter,
                 max_depth: int, bad_offsets: frozenset[int]) -> None:
        self.sc = scanner
        self.text = text
        self.index = index
        self.rep = reporter
        self.max_depth = max_depth
        self.bad_offsets = bad_offsets
        self.tokens: list[Tok] = []
        self.comments: list[Comment] = []
        self.stack: list[tuple[str, int]] = []  # open brackets: (char, offset)
        self.depth = 0  # open `{` and `<`
        self.skip = 0  # > 0 inside the contents of a too-deep message
        self.dropped = -1  # end of the last text the scanner dropped (junk, stray closers)

    # ---------------------------------------------------------------- loop

    def run(self, fast: bool, pos: int, n: int, finish: bool) -> tuple[list[Tok], list[Comment]]:
        text, tokens = self.text, self.tokens
        append = tokens.append
        match = (self.sc.fast if fast else self.sc.fine).match
        fine = self.sc.fine.match
        while pos < n:
            m = match(text, pos)  # leading whitespace, then one token
            if m is None:  # only whitespace is left
                break
            kind = m.lastgroup
            pos = m.start(kind)
            end = m.end()
            if self.skip:
                self._skipped(kind, pos, end)
            elif kind == "FLAT_MESSAGE_FIELD" or kind == "OPEN_FIELD":
                if self.depth >= self.max_depth:  # let the plain tokens report the limit
                    m = fine(text, pos)
                    end = self._plain(m.lastgroup, pos, m.end())
                elif kind == "OPEN_FIELD":
                    name_end = _NAME.match(text, pos).end()
                    brace = end - 1
                    append(Tok("OPEN_FIELD", (text[pos:name_end], name_end, ":" in text[name_end:brace], brace), pos, end))
                    self.stack.append(("{", brace))
                    self.depth += 1
                else:
                    append(Tok(kind, self._flat(pos, end), pos, end))
            elif kind == "SCALAR_FIELD":
                append(Tok(kind, self._folded(pos, end)[0], pos, end))
            else:
                end = self._plain(kind, pos, end)
            pos = end
        if finish:
            self._finish(n)
        return tokens, self.comments

    def _plain(self, kind: str, s: int, e: int) -> int:
        """Handle one plain token; returns where scanning continues."""
        text, rep = self.text, self.rep
        if kind == "FIELD_NAME" or kind == "IDENT" or kind == "INTEGER" or kind == "FLOAT":
            self.tokens.append(Tok(kind, text[s:e], s, e))
        elif kind == "PUNCT":
            char = text[s]
            if char in _OPENER_OF:
                self._close(char, s)
            else:
                tok = Tok(_PUNCT[char], None, s, e)
                if char == "{" or char == "<":
                    if self.depth >= self.max_depth:
                        rep.add(S.NESTING_TOO_DEEP, s, e,
                                f"messages are nested more than {self.max_depth} levels deep: this one is skipped")
                        tok.flag = DEEP
                        self.skip = 1
                    self.depth += 1
                    self.stack.append((char, s))
                elif char == "[":
                    self.stack.append((char, s))
                self.tokens.append(tok)
        elif kind == "COMMENT":
            self._comment(s, e)
        elif kind == "STRING":
            chunks: list[Chunk] = []
            ok = decode_literal(text, s, e, chunks, self._escape_report)
            self.tokens.append(Tok("STRING", chunks, s, e, (0 if ok else BAD) | self._joined(s)))
        elif kind == "NUMBER_LIKE":
            return self._number_like(s, e)
        elif kind == "BAD_IDENT":
            rep.add(S.INVALID_IDENTIFIER, s, e,
                    f"`{_clip(text[s:e])}` is not an identifier: `+` and `-` cannot be part of a name")
            self.tokens.append(Tok("IDENT", None, s, e, BAD))
        elif kind == "UNTERMINATED_STRING":
            rep.add(S.UNTERMINATED_STRING, s, e, "unterminated string: no closing "
                    f"`{text[s]}` before the end of the line")
            self.tokens.append(Tok("STRING", None, s, e, BAD | self._joined(s)))
        elif kind == "OTHER_WS":
            # protobuf's Python parser reads it as whitespace: a space means the same, to every reader
            # (`amct fmt` makes the same change)
            rep.add(S.NONSTANDARD_WHITESPACE, s, e,
                    f"character U+{ord(text[s]):04X} is whitespace only to protobuf's Python parser; use a space",
                    fix=Fix(f"replace U+{ord(text[s]):04X} with a space", (Edit(s, e, " "),)))
        elif s not in self.bad_offsets:  # ANY: report a run of such characters once
            run = _JUNK.match(text, s)
            e = max(e, run.end()) if run else e
            while any(o in self.bad_offsets for o in range(s, e)):
                e -= 1
            shown = text[s:e]
            if len(shown) == 1 and not shown.isprintable():
                shown = f"U+{ord(shown):04X}"
            elif shown.isprintable():
                shown = f"`{_clip(shown)}`"
            else:
                shown = repr(_clip(shown))
            rep.add(S.UNEXPECTED_CHARACTER, s, e,
                    f"unexpected character{'s' if e - s > 1 else ''} {shown}")
            self.dropped = e
        else:
            self.dropped = e
        return e

    def _joined(self, s: int) -> int:
        tokens = self.tokens
        if tokens and tokens[-1].type == "STRING" and self.dropped <= tokens[-1].end:
            return JOINED
        return 0

    def _skipped(self, kind: str, s: int, e: int) -> None:
        """Inside a too-deep message: count brackets, keep comments, drop the rest."""
        if kind == "COMMENT":
            self._comment(s, e)
        elif kind == "OPEN_FIELD" or (kind == "PUNCT" and self.text[s] in "{<"):
            self.skip += 1
        elif kind == "PUNCT" and self.text[s] in "}>":
            self.skip -= 1
            if not self.skip:
                self._close(self.text[s], s)

    def _finish(self, n: int) -> None:
        index = self.index
        while self.stack:
            char, offset = self.stack.pop()
            self.rep.add(S.UNCLOSED_BRACKET, n, n, _never_closed(char, offset, index),
                         related=((index.span(offset, offset + 1), "opened here"),))
            self._supply_closer(char, n)

    # ------------------------------------------------------------- brackets

    def _close(self, char: str, s: int) -> None:
        want = _OPENER_OF[char]
        stack, index = self.stack, self.index
        if any(entry[0] == want for entry in stack):
            while stack[-1][0] != want:
                inner, offset = stack.pop()
                self.rep.add(S.UNCLOSED_BRACKET, s, s + 1, _never_closed(inner, offset, index),
                             related=((index.span(offset, offset + 1), "opened here"),))
                self._supply_closer(inner, s)
            stack.pop()
            if want != "[":
                self.depth -= 1
            self.tokens.append(Tok(_PUNCT[char], None, s, s + 1))
        else:
            if stack:
                inner, offset = stack[-1]
                line, column = index.position(offset)
                message = (f"unexpected `{char}`: the open `{inner}` (at {line}:{column}) "
                           f"is closed by `{_CLOSER_OF[inner]}`")
            else:
                message = f"unexpected `{char}`: it closes nothing"
            self.rep.add(S.UNEXPECTED_CLOSER, s, s + 1, message)
            self.dropped = s + 1

    def _supply_closer(self, opener: str, at: int) -> None:
        if opener != "[":
            self.depth -= 1
        self.tokens.append(Tok(_PUNCT[_CLOSER_OF[opener]], None, at, at, SYNTHETIC))

    # ---------------------------------------------------------------- values

    def _comment(self, s: int, e: int) -> None:
        s, e = _comment_span(self.text, s, e)
        self.comments.append(Comment(self.text[s:e], s, e, self.index))

    def _escape_report(self, kind: str, message: str, s: int, e: int) -> None:
        self.rep.add(S.INVALID_ESCAPE if kind == "error" else S.NONSTANDARD_ESCAPE, s, e, message)

    def _number_like(self, s: int, e: int) -> int:
        text, rep = self.text, self.rep
        token = text[s:e]
        if _python_int(token) or _python_float(token):
            kind = "INTEGER" if _python_int(token) else "FLOAT"
            rep.add(S.NONSTANDARD_NUMBER, s, e,
                    f"`{_clip(token)}` is a number only protobuf's Python parser reads")
            self.tokens.append(Tok(kind, token, s, e))
            return e
        m = _NUMBER_PREFIX.match(token)
        if m and m.end() < len(token) and (token[m.end()].isalpha() or token[m.end()] == "_") \
                and (_python_int(m.group()) or _python_float(m.group())):
            number, rest = m.group(), token[m.end():]
            split = s + m.end()
            rep.add(S.NUMBER_RUNS_INTO_IDENTIFIER, s, e,
                    f"number `{_clip(number)}` runs straight into `{_clip(rest)}`: "
                    "separate them with a space or `,`")
            # the number is lost, the identifier is scanned again: it is usually the next field
            self.tokens.append(Tok("INTEGER", None, s, split, BAD))
            return split
        rep.add(S.INVALID_NUMBER, s, e, f"invalid number `{_clip(token)}`")
        self.tokens.append(Tok("INTEGER", None, s, e, BAD))
        return e

    def _folded(self, start: int, end: int) -> list[Field]:
        """Nodes of the scalar fields in ``text[start:end]``, a stretch the master
        pattern matched as folded fields: their parts are found again cheaply."""
        text, index = self.text, self.index
        fields: list[Field] = []
        append = fields.append
        for m in _FOLDED_PARTS.finditer(text, start, end):
            name, word, sep = m.groups()
            vs, ve = m.span(2)
            first = word[0]
            if first == '"' or first == "'":
                body = word[1:-1]
                if "\\" in body or not body.isascii():
                    value = self._string(vs, ve)
                else:
                    value = Scalar("string", body, vs, ve, index)
            elif first.isalpha() or first == "_":
                value = Scalar("float" if word.lower() in _FLOAT_WORDS else "identifier", word, vs, ve, index)
            else:
                digits = word[1:] if first == "-" else word
                kind = "integer" if digits.isdigit() or digits[:2] in ("0x", "0X") else "float"
                value = Scalar(kind, word, vs, ve, index)
            ns = m.start(1)
            append(Field(name, ns, ns + len(name), True, value, ns, ve, index,
                         m.end() if sep is not None else None))
        return fields

    def _string(self, s: int, e: int) -> Scalar | None:
        chunks: list[Chunk] = []
        if not decode_literal(self.text, s, e, chunks, self._escape_report):
            return None
        value = string_value(chunks, self.rep)
        return None if value is None else Scalar("string", value, s, e, self.index)

    def _flat(self, s: int, e: int) -> Field:
        """Nodes of a folded ``name { a: 1 b: 2 }``."""
        text, index = self.text, self.index
        name_end = _NAME.match(text, s).end()
        brace = text.index("{", name_end)
        message = MessageValue("{", self._folded(brace + 1, e - 1), brace, e, True, index)
        return Field(text[s:name_end], s, name_end, ":" in text[name_end:brace], message, s, e, index)


def _comment_span(text: str, s: int, e: int) -> tuple[int, int]:
    """A comment token's span without the ``\\r`` of a CRLF line break."""
    return (s, e - 1) if text[e - 1] == "\r" else (s, e)


def _never_closed(char: str, offset: int, index: LineIndex) -> str:
    line, column = index.position(offset)
    return f"`{char}` opened at {line}:{column} is never closed"


def _clip(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
