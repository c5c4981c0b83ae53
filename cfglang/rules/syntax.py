"""Syntax rules (S): what :func:`cfglang.parse` reports.

The parser never raises; every problem with the text itself is one of these.
Limits (``file-too-large``, ``nesting-too-deep``) protect the later stages: the
tree handed on is never deeper than ``max_depth`` messages (default 100) and a
file larger than ``max_size`` bytes (default 16 MiB; `max-file-size` in the settings, `--max-file-size` on the command line) is not read at all.
"""

from __future__ import annotations

from cfglang.diagnostics import Severity
from cfglang.rules import rule

E = Severity.ERROR
W = Severity.WARNING

INVALID_UTF8 = rule(
    "S001", "invalid-utf8", E,
    "the file is not valid UTF-8",
    "A .cfg file is UTF-8 text. protobuf's parser refuses the whole file when a byte sequence is not "
    "valid UTF-8, so AMCT cannot read it. The diagnostic points at the first offending byte of each "
    "bad sequence (shown as U+FFFD).",
    'skip_layers: "conv\\xff"  # saved as Latin-1: the byte 0xFF is not UTF-8',
    'skip_layers: "conv"',
    family="syntax",
)
UNEXPECTED_CHARACTER = rule(
    "S002", "unexpected-character", E,
    "a character that cannot start any token",
    "Outside strings and comments only ASCII identifiers, numbers, strings and the punctuation "
    "`: { } < > [ ] , ;` may appear. Anything else (`@`, `=`, a non-ASCII letter, a control "
    "character) stops protobuf's parser.",
    "batch_num = 2",
    "batch_num: 2",
    family="syntax",
)
UNTERMINATED_STRING = rule(
    "S003", "unterminated-string", E,
    "a string literal has no closing quote on its line",
    "A string must end on the line where it starts, with the same quote it started with. A raw line "
    "break inside a string is not allowed; write `\\n`.",
    'skip_layers: "conv1',
    'skip_layers: "conv1"',
    family="syntax",
)
INVALID_ESCAPE = rule(
    "S004", "invalid-escape", E,
    "an escape sequence in a string cannot be decoded",
    "Valid escapes are `\\a \\b \\f \\n \\r \\t \\v \\\\ \\' \\\"`, octal `\\NNN` up to `\\377`, "
    "hex `\\xH`/`\\xHH`, `\\uHHHH` and `\\UHHHHHHHH` up to 10FFFF. A truncated escape, an octal "
    "value above 255, a code point above 10FFFF or a surrogate (`\\uD800`) makes protobuf reject "
    "the file.",
    'layer_name: "conv\\x"',
    'layer_name: "conv\\x41"',
    family="syntax",
)
STRING_NOT_UTF8 = rule(
    "S005", "string-not-utf8", E,
    "the bytes a string decodes to are not valid UTF-8",
    "String fields hold text: after escapes are decoded, the bytes must be valid UTF-8. Byte escapes "
    "such as `\\xff` or `\\300` on their own are not.",
    'layer_name: "conv\\xff"',
    'layer_name: "conv\\u00ff"',
    family="syntax",
)
INVALID_NUMBER = rule(
    "S006", "invalid-number", E,
    "a number that no number syntax accepts",
    "Integers are decimal, octal (`017`) or hex (`0x1F`); floats are `1.`, `.5`, `1e-3`, `2.5f`, "
    "`1f`, `-inf`, `nan`; a `-` sign is written directly before the number. Forms such as `1.2.3`, "
    "`08`, `0x` or a lone `-` are errors in protobuf too.",
    "search_step: 1.2.3",
    "search_step: 1.23",
    family="syntax",
)
NUMBER_RUNS_INTO_IDENTIFIER = rule(
    "S007", "number-runs-into-identifier", E,
    "a number is followed directly by an identifier",
    "protobuf's tokenizer reads a number together with every letter, digit, `_`, `.`, `+` and `-` "
    "after it, so `2do_fusion` is one malformed token, not the value `2` and the field `do_fusion`.",
    "batch_num: 2do_fusion: true",
    "batch_num: 2, do_fusion: true",
    family="syntax",
)
MISSING_COLON = rule(
    "S008", "missing-colon", E,
    "a scalar field or a list of scalars has no `:` after its name",
    "The colon is optional only before a message (`name { ... }`) or a list of messages. Before a "
    "scalar value protobuf requires it.",
    "batch_num 2",
    "batch_num: 2",
    family="syntax",
)
MISSING_VALUE = rule(
    "S009", "missing-value", E,
    "a field has no value",
    "Every field needs a value after its name: a scalar after `:`, or a message in `{ }` or "
    "`< >`. The field is kept in the tree without a value.",
    "common_config {\n    batch_num:\n}",
    "common_config {\n    batch_num: 2\n}",
    family="syntax",
)
UNEXPECTED_TOKEN = rule(
    "S010", "unexpected-token", E,
    "a token where the grammar does not allow it",
    "Reported when something appears where a field name, a value or a closing bracket was expected; "
    "the parser skips it and continues, so one run reports every such place.",
    "batch_num: 2 3",
    "batch_num: 2",
    family="syntax",
)
UNCLOSED_BRACKET = rule(
    "S011", "unclosed-bracket", E,
    "a `{`, `<` or `[` is never closed",
    "Every opening bracket needs its closer. The diagnostic sits where the closer is missing (the end "
    "of the file or an enclosing closer) and points back at the opener.",
    "common_config {\n    arq_quantize { channel_wise: true }\n",
    "common_config {\n    arq_quantize { channel_wise: true }\n}",
    family="syntax",
)
UNEXPECTED_CLOSER = rule(
    "S012", "unexpected-closer", E,
    "a closing bracket that closes nothing",
    "A `}`, `>` or `]` with no matching opener (or of the wrong kind: `{` is closed by `}`, `<` by "
    "`>`) is reported and skipped.",
    "batch_num: 2\n}",
    "batch_num: 2",
    family="syntax",
)
LIST_SYNTAX = rule(
    "S013", "list-syntax", E,
    "a list value is malformed",
    "List values are `[a, b]`: items separated by exactly one `,`, no trailing comma, scalars or "
    "messages but not both and no nested lists. `[]` is an empty list.",
    'skip_layers: ["conv1" "conv2",]',
    'skip_layers: ["conv1", "conv2"]',
    family="syntax",
)
NESTING_TOO_DEEP = rule(
    "S014", "nesting-too-deep", E,
    "messages are nested deeper than the parser's limit",
    "The parser refuses messages nested more than `max_depth` levels (default 100; AMCT configs "
    "need 3). The too-deep message is kept as a field without a value and its contents are skipped, "
    "so no later stage can run out of stack.",
    "a { a { a { ... } } }  # 101 levels",
    "common_config { arq_quantize { channel_wise: true } }",
    family="syntax",
)
FILE_TOO_LARGE = rule(
    "S015", "file-too-large", E,
    "the input is larger than the parser's size limit",
    "Inputs above `max_size` bytes (default 16 MiB, far beyond any real config; set `max-file-size` in `[tool.amct]` or pass `--max-file-size`) are refused without "
    "being read, so a stray binary or log file cannot exhaust memory.",
    "(a 100 MB file)",
    "(a config of a few kilobytes)",
    family="syntax",
)
TOO_MANY_ERRORS = rule(
    "S016", "too-many-errors", E,
    "the parser stopped reporting after many syntax errors",
    "After 100 syntax errors further ones are not reported (the file is very likely not a config at "
    "all); fix the first ones and run again.",
    "(a binary file)",
    "(a config)",
    family="syntax",
)
NONSTANDARD_ESCAPE = rule(
    "S017", "nonstandard-escape", W,
    "an escape that only protobuf's Python parser reads, and reads its own way",
    "protobuf's Python parser (which AMCT uses) keeps an unknown escape such as `\\q` as the two "
    "characters backslash and `q`; it does so for `\\?` too, although the text-format specification "
    "defines `\\?` as `?`. It also reads Python's `\\N{NAME}`. Other protobuf implementations reject "
    "or decode these differently.",
    'layer_name: "what\\?"',
    'layer_name: "what?"',
    family="syntax",
)
NONSTANDARD_NUMBER = rule(
    "S018", "nonstandard-number", W,
    "a number spelling that only protobuf's Python parser accepts",
    "protobuf's Python parser hands number tokens to Python's `int()` and `float()`, so it also takes "
    "`+5`, `1_000`, `0o17`, `0b101` and `1ff`. The value is read as it reads it, but other tools "
    "(protobuf C++, editors) reject the file.",
    "batch_num: +2",
    "batch_num: 2",
    family="syntax",
)
NONSTANDARD_WHITESPACE = rule(
    "S019", "nonstandard-whitespace", W,
    "a whitespace character other than space, tab, line feed, carriage return, form feed, vertical tab",
    "protobuf's Python parser skips every Unicode whitespace character (a no-break space U+00A0 "
    "pasted from a document, for example); the specification and other implementations do not.",
    "batch_num:\u00a02",
    "batch_num: 2",
    family="syntax",
)
INVALID_IDENTIFIER = rule(
    "S020", "invalid-identifier", E,
    "an identifier with `+` or `-` in it",
    "Identifiers are ASCII letters, digits and `_`. protobuf's tokenizer reads `+` and `-` after an "
    "identifier as part of it, so `channel_wise-x` is one invalid token.",
    "activation_offset: true-",
    "activation_offset: true",
    family="syntax",
)
CR_LINE_BREAK = rule(
    "S021", "cr-line-break", W,
    "a carriage return without a line feed: protobuf does not break the line there",
    "protobuf's parser breaks lines at `\\n` only. In a file whose line breaks are lone carriage returns "
    "(classic Mac OS), the whole file is one line to it, and a `#` comment runs on to the next `\\n`, "
    "taking the fields after it: the file is read that way (as protobuf reads it), while an editor "
    "shows those fields on lines of their own. The first lone CR of the file is reported.",
    "batch_num: 1\r# the batch size\rdo_fusion: false\r",
    "batch_num: 1\n# the batch size\ndo_fusion: false\n",
    family="syntax",
)
