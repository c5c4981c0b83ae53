"""Units of the server's wire: frames read with bounds, and edits applied with the protocol's lines."""

from __future__ import annotations

import io

import pytest
from lsprotocol import types

from cfglang.lsp.positions import Positions, apply_change
from cfglang.lsp.transport import MAX_HEADER_LINE, MAX_MESSAGE_SIZE, Frames, FramingError, Oversized
from cfglang.parser import DEFAULT_MAX_SIZE


class CountingReader:
    """A stream that records the largest read asked of it (the allocation a read may make)."""

    def __init__(self, data: bytes) -> None:
        self.stream = io.BytesIO(data)
        self.largest = 0

    def read(self, n: int) -> bytes:
        self.largest = max(self.largest, n)
        return self.stream.read1(n)


def frames(data: bytes, limit: int = 1000) -> Frames:
    return Frames(io.BytesIO(data).read1, limit)


def test_frames_one_after_another_with_any_header_case_and_extra_headers() -> None:
    source = frames(b"Content-Length: 2\r\n\r\n{}" b"\r\ncontent-length:3\r\nContent-Type: x\r\n\r\n[1]"
                    b"Content-Length: 0\n\n")
    assert [source.next(), source.next(), source.next(), source.next()] == [b"{}", b"[1]", b"", None]


def test_an_oversized_body_is_skipped_in_chunks_and_the_next_frame_read() -> None:
    body = b"x" * 5000
    reader = CountingReader(b"Content-Length: 5000\r\n\r\n" + body + b"Content-Length: 2\r\n\r\n{}")
    source = Frames(reader.read, limit=100)
    dropped = source.next()
    assert isinstance(dropped, Oversized) and dropped.length == 5000
    assert source.next() == b"{}"
    assert reader.largest <= 1 << 20


def test_a_huge_length_reads_what_there_is_and_ends() -> None:
    reader = CountingReader(b"Content-Length: 99999999999\r\n\r\n{}")
    source = Frames(reader.read, MAX_MESSAGE_SIZE)
    assert source.next() is None  # the input ended while the body was skipped
    assert reader.largest <= 1 << 20  # never a read (an allocation) of the declared length


def test_the_message_limit_fits_a_document_at_the_size_limit() -> None:
    assert MAX_MESSAGE_SIZE >= 6 * DEFAULT_MAX_SIZE


@pytest.mark.parametrize("data, said", [
    (b"Content-Length: 1x\r\n\r\n{}", "not a number"),
    (b"Content-Length: -1\r\n\r\n{}", "not a number"),
    (b"Content-Type: a\r\n\r\n{}", "without `Content-Length`"),
    (b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n{}", "two different"),
    (b"a" * (MAX_HEADER_LINE + 1), "longer than"),
    (b"Content-Length: 9\r\n\r\n{}", "short of a message"),
    (b"Content-Length: 2\r\n", "ended inside a message header"),
    (b"Content-Length: 2", "ended inside a header line"),
    (b"".join(b"X-%d: 1\r\n" % n for n in range(20)) + b"\r\n", "more than 16 lines"),
    (b"no colon here\r\n\r\n", "without `:`"),
])
def test_an_unreadable_header_is_a_framing_error(data: bytes, said: str) -> None:
    with pytest.raises(FramingError, match=said):
        frames(data).next()


def test_a_framing_error_shows_control_characters_escaped() -> None:
    with pytest.raises(FramingError) as caught:
        frames(b"Content-Length: \x1b]52;c;x\x07\r\n\r\n").next()
    assert "\x1b" not in str(caught.value) and "\\x1b" in str(caught.value)


def change(start: tuple[int, int], end: tuple[int, int], text: str) -> types.TextDocumentContentChangePartial:
    return types.TextDocumentContentChangePartial(
        range=types.Range(start=types.Position(line=start[0], character=start[1]),
                          end=types.Position(line=end[0], character=end[1])), text=text)


@pytest.mark.parametrize("text, edit, expected", [
    ("a\rb\rc", change((2, 0), (2, 1), "X"), "a\rb\rX"),  # a lone CR ends a line
    ("a\r\nb", change((1, 0), (1, 1), "X"), "a\r\nX"),
    ("a\x0cb\nc", change((1, 0), (1, 1), "X"), "a\x0cb\nX"),  # a form feed does not
    ("a\u2028b\nc", change((1, 0), (1, 1), "X"), "a\u2028b\nX"),  # nor does U+2028
    ("😀x\ny", change((0, 2), (0, 3), "Z"), "😀Z\ny"),  # UTF-16 units
    ("ab\ncd", change((1, 1), (0, 1), ""), "ad"),  # a reversed range
    ("ab", change((5, 0), (6, 0), "!"), "ab!"),  # past the end: appended
])
def test_edits_land_on_the_protocols_lines(text: str, edit: types.TextDocumentContentChangePartial,
                                            expected: str) -> None:
    assert apply_change(text, edit, types.PositionEncodingKind.Utf16) == expected


def test_a_whole_document_change_replaces_the_text() -> None:
    whole = types.TextDocumentContentChangeWholeDocument(text="new")
    assert apply_change("old", whole, types.PositionEncodingKind.Utf16) == "new"


def test_positions_count_cr_as_a_line_break_and_keep_core_offsets() -> None:
    positions = Positions("\ufeffa\rbc\r\nd")
    # core offsets are without the BOM: `c` is at 3
    assert positions.position(3) == types.Position(line=1, character=1)
    assert positions.offset(types.Position(line=2, character=0)) == 6


@pytest.mark.parametrize("encoding", [types.PositionEncodingKind.Utf16, types.PositionEncodingKind.Utf8])
def test_positions_far_into_a_long_line_count_the_same_units(encoding: str) -> None:
    """Far into a long line, units come from an index of the wide characters (a count per position was
    quadratic); they are the units of the line's text before the offset all the same."""
    from cfglang.lsp.positions import units

    text = "a\n" + 'skip_layers: "特😀é" ' * 400 + "\nb"
    positions = Positions(text, encoding)
    for offset in range(0, len(text), 97):
        line_start = text.rfind("\n", 0, offset) + 1
        expected = units(text[line_start:offset], encoding)
        assert positions.position(offset).character == expected, offset


def test_a_dropped_message_keeps_its_head_to_tell_which_document_it_carried() -> None:
    body = b'{"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": ' \
           b'{"uri": "file:///a%20b/x.cfg", "languageId": "amct-cfg", "version": 1, "text": "' + b"x" * 9000 + b'"}}}'
    dropped = frames(b"Content-Length: %d\r\n\r\n" % len(body) + body, limit=100).next()
    assert isinstance(dropped, Oversized) and dropped.length == len(body) and len(dropped.head) == 4096
    assert dropped.document() == "file:///a%20b/x.cfg"
    assert Oversized(10, b'{"id": 1, "method": "textDocument/hover", "params": {"uri": "x"}}').document() is None
