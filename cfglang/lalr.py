"""The parser's tables, computed from ``grammars/textproto.lark`` with Lark: the terminals' patterns and
the LALR(1) states. Lark runs here only, when the grammar changes; its output is the generated module
``cfglang/_lalr.py``, which :mod:`cfglang.parser` reads, so that a parse imports no Lark and builds no
tables (``amct lint`` starts that much sooner). After editing the grammar::

    python -m cfglang.lalr > cfglang/_lalr.py

``tests/packaging/test_packaging.py`` fails while the committed module differs from what this writes.
The states are numbered in the order a breadth-first walk from the start state meets them (symbols in
sorted order), so that the output depends on the grammar only, not on the order in which Lark's sets
happen to iterate.
"""

from __future__ import annotations

import sys
from collections import deque

from cfglang.resources import data_file

__all__ = ["tables", "module_text"]

# terminals the scanner produces that no grammar rule reads: Lark keeps them in its output
_LEXICAL = ("WS", "OTHER_WS", "COMMENT", "BAD_IDENT", "NUMBER_LIKE", "UNTERMINATED_STRING",
            "_LONE_STRING", "_VALUE_IDENT", "_FOLLOW")

# state -> symbol -> (True, next state) | (False, (size, callback name, rule name))
States = dict[int, dict[str, tuple[bool, object]]]


def tables() -> tuple[dict[str, str], int, int, States]:
    """The terminals' regular expressions by name, the start and end states and the states' actions."""
    from lark import Lark
    from lark.lexer import Lexer
    from lark.parsers.lalr_analysis import Shift

    class NoLexer(Lexer):  # the scanner is cfglang.lexer; Lark only compiles the grammar
        def __init__(self, conf: object) -> None:
            pass

        def lex(self, data: object):  # pragma: no cover - never called
            raise NotImplementedError

    class KeepTerminals:  # keeps the purely lexical terminals in Lark's output
        always_accept = _LEXICAL

        def process(self, stream: object) -> object:  # pragma: no cover - never called
            return stream

    grammar = data_file("grammars", "textproto.lark").read_text(encoding="utf-8")
    lark = Lark(grammar, parser="lalr", lexer=NoLexer, postlex=KeepTerminals())
    patterns = {str(t.name): str(t.pattern.to_regexp()) for t in sorted(lark.terminals, key=lambda t: t.name)}
    conf = lark.parse_interactive("").parser_state.parse_conf
    number: dict[object, int] = {conf.start_state: 0}
    order = deque([conf.start_state])
    while order:  # number the states in the order a breadth-first walk meets them
        for symbol, (action, arg) in sorted(conf.states[order.popleft()].items()):
            if action is Shift and arg not in number:
                number[arg] = len(number)
                order.append(arg)
    states: States = {}
    for state, n in sorted(number.items(), key=lambda item: item[1]):
        states[n] = {
            str(symbol): (True, number[arg]) if action is Shift
            else (False, (len(arg.expansion), str(arg.alias or arg.origin.name), str(arg.origin.name)))
            for symbol, (action, arg) in sorted(conf.states[state].items())
        }
    return patterns, number[conf.start_state], number[conf.end_state], states


def module_text() -> str:
    """The source of ``cfglang/_lalr.py``."""
    patterns, start, end, states = tables()
    lines = ['"""The parser\'s tables, generated from ``grammars/textproto.lark`` by ``python -m cfglang.lalr > '
             'cfglang/_lalr.py``:',
             'do not edit (see :mod:`cfglang.lalr`)."""', "",
             "# terminal -> regular expression (for cfglang.lexer.Scanner)",
             "PATTERNS = {"]
    lines += [f"    {name!r}: {pattern!r}," for name, pattern in patterns.items()]
    lines += ["}", f"START = {start}", f"END = {end}",
              "# state -> symbol -> (True, next state) | (False, (size, callback name, rule name))",
              "STATES = {"]
    lines += [f"    {n}: {row!r}," for n, row in states.items()]
    lines += ["}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(module_text())
