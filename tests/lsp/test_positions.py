"""Offsets <-> LSP positions in each position encoding, and back again."""

from __future__ import annotations

import pytest
from lsprotocol.types import Position, PositionEncodingKind

from cfglang.lsp.positions import Positions

UTF8, UTF16, UTF32 = PositionEncodingKind.Utf8, PositionEncodingKind.Utf16, PositionEncodingKind.Utf32

# "conv😀层" then an error: 😀 is one code point, two UTF-16 units, four UTF-8 bytes; 层 is 1/1/3
TEXT = 'batch_num: 2\nskip_layers: "conv😀层" bad_field: 1\n'
BAD = TEXT.index("bad_field")


@pytest.mark.parametrize(
    ("encoding", "character"),
    [(UTF16, 13 + 1 + 4 + 2 + 1 + 1 + 1), (UTF32, 13 + 1 + 4 + 1 + 1 + 1 + 1), (UTF8, 13 + 1 + 4 + 4 + 3 + 1 + 1)],
)
def test_position_counts_the_negotiated_units(encoding: str, character: int) -> None:
    positions = Positions(TEXT, encoding)
    assert positions.position(BAD) == Position(line=1, character=character)
    assert positions.offset(Position(line=1, character=character)) == BAD


def test_round_trip_every_offset_in_every_encoding() -> None:
    text = "a: 'é'\r\nb: \"😀x\"\n\n# 层层\nc: 1"
    for encoding in (UTF8, UTF16, UTF32):
        positions = Positions(text, encoding)
        for offset in range(len(text) + 1):
            if text[offset - 1:offset] == "\r" and text[offset:offset + 1] == "\n":
                continue  # between CR and LF: the LF's position is the end of the line too
            assert positions.offset(positions.position(offset)) == offset, (encoding, offset)


def test_position_inside_a_surrogate_pair_covers_the_character() -> None:
    positions = Positions('x: "😀"', UTF16)
    # character 5 is the second half of the emoji: the emoji counts as covered
    assert positions.offset(Position(line=0, character=5)) == 5


def test_positions_past_the_end_clamp() -> None:
    positions = Positions("a: 1\nb: 2", UTF16)
    assert positions.offset(Position(line=0, character=99)) == 4
    assert positions.offset(Position(line=7, character=0)) == len("a: 1\nb: 2")
    assert positions.position(999) == Position(line=1, character=4)


def test_a_bom_shifts_core_offsets_by_one() -> None:
    # the parser drops the BOM, so core offset 0 is the editor's character 1
    positions = Positions("\ufeffa: 1", UTF16)
    assert positions.position(0) == Position(line=0, character=1)
    assert positions.offset(Position(line=0, character=1)) == 0
