"""Exact positions in the tricky cases: multi-byte text, CRLF, tabs, a BOM, end of file, nesting."""

from __future__ import annotations

import cfglang

from .treedump import diags


def test_columns_count_code_points_after_multibyte_text() -> None:
    text = 'skip_layers: "中文😀é"\nbatch_num 2\n'
    document = cfglang.parse(text.encode("utf-8"))
    assert diags(document) == ["S008 error 2:11-2:12"]
    scalar = document.fields[0].value
    assert scalar.text == "中文😀é"
    assert (scalar.span.column, scalar.span.end_column) == (14, 20)
    # an error on the same line, after the non-ASCII string
    document = cfglang.parse('a: "中文" 5')
    assert diags(document) == ["S010 error 1:9-1:10"]


def test_crlf_lines() -> None:
    text = "batch_num: 2\r\ncommon_config {\r\n  arq_quantize {\r\n    quant_bits 8\r\n  }\r\n}\r\n"
    document = cfglang.parse(text)
    assert diags(document) == ["S008 error 4:16-4:17"]
    inner = document.fields[1].value.fields[0]
    assert (inner.span.line, inner.span.column, inner.span.end_line, inner.span.end_column) == (3, 3, 5, 4)
    crlf_message = document.diagnostics[0].message
    assert crlf_message == "expected ':' after scalar field `quant_bits`"


def test_tabs_are_one_column() -> None:
    document = cfglang.parse("a {\n\tb:\t}\n")
    assert diags(document) == ["S009 error 2:5-2:6"]


def test_bom_is_stripped_and_noted() -> None:
    for data in (b"\xef\xbb\xbfbatch_num: x y", "\ufeffbatch_num: x y"):
        document = cfglang.parse(data)
        assert document.has_bom
        assert not document.text.startswith("\ufeff")
        assert diags(document) == ["S009 error 1:14-1:15"]
        assert document.fields[0].name_span.column == 1


def test_errors_at_end_of_file() -> None:
    assert diags(cfglang.parse("a: 1\nb:")) == ["S009 error 2:3-2:3"]
    assert diags(cfglang.parse("a: 1\nb")) == ["S009 error 2:1-2:2"]
    assert diags(cfglang.parse('a: "x')) == ["S003 error 1:4-1:6"]
    document = cfglang.parse("a {\n  b {\n")
    assert diags(document) == ["S011 error 3:1-3:1", "S011 error 3:1-3:1"]
    assert [d.message for d in document.diagnostics] == ["`{` opened at 2:5 is never closed",
                                                         "`{` opened at 1:3 is never closed"]
    assert [(r.line, r.column, note) for d in document.diagnostics for r, note in d.related] == [
        (2, 5, "opened here"), (1, 3, "opened here")]
    outer = document.fields[0].value
    assert not outer.closed and not outer.fields[0].value.closed


def test_errors_inside_nested_messages_and_several_in_one_file() -> None:
    text = (
        "common_config {\n"
        "  ifmr_quantize {\n"
        "    search_step 0.01\n"
        "    max_percentile: \n"
        "  }\n"
        "  arq_quantize { quant_bits: 8 channel_wise: tru-e }\n"
        "}\n"
        "batch_num: 2do\n"
        "}\n"
    )
    document = cfglang.parse(text)
    assert diags(document) == [
        "S008 error 3:17-3:21",
        "S009 error 5:3-5:4",
        "S020 error 6:46-6:51",
        "S007 error 8:12-8:15",
        "S009 error 8:13-8:15",
        "S012 error 9:1-9:2",
    ]
    common = document.fields[0].value
    ifmr, arq = common.fields
    assert [f.name for f in ifmr.value.fields] == ["search_step", "max_percentile"]
    assert ifmr.value.fields[0].value.text == "0.01"
    assert ifmr.value.fields[1].value is None
    assert [f.name for f in arq.value.fields] == ["quant_bits", "channel_wise"]
    assert arq.value.fields[1].value is None


def test_every_span_matches_its_text() -> None:
    text = 'a: -1.5f\nb { c: "x\\ty" d < e: [1, 2] > }\nf: FORCE_FP16_QUANT;'
    document = cfglang.parse(text)
    assert document.diagnostics == []

    def walk(fields):
        for field in fields:
            assert text[field.name_start : field.name_end] == field.name
            assert text[field.start : field.end].startswith(field.name)
            value = field.value
            if hasattr(value, "fields"):
                assert text[value.start] in "{<" and text[value.end - 1] in "}>"
                walk(value.fields)
            elif hasattr(value, "items"):
                assert text[value.start] == "[" and text[value.end - 1] == "]"
            elif value.kind != "string":
                assert text[value.start : value.end] == value.text

    walk(document.fields)


def test_header_comments_are_the_parse_s_comments_before_the_first_token() -> None:
    from cfglang.parser import header_comments

    texts = ["\ufeff# a\r\n\n  # b\xa0\n\t# c\rd\nbatch_num: 1  # not header\n# nor this\n",
             "# only comments\n# to the end", "", "} # after a stray closer\n", '"s" # after a value\n',
             "# x\n\x00# after a NUL\n"]
    for text in texts:
        for given in (text, text.encode("utf-8")):
            parsed = cfglang.parse(given)
            # the first token: a field, or text the parser reports (other than whitespace, S019)
            first = min((d.span.start for d in parsed.diagnostics if d.code != "S019"), default=len(parsed.text))
            first = min([first, *(f.start for f in parsed.fields)])
            expected = [(c.text, c.span) for c in parsed.comments if c.start < first]
            assert [(c.text, c.span) for c in header_comments(given)] == expected, text


def test_adjacent_string_literals_keep_their_places() -> None:
    text = "a: \"x\"  # between\n  'y' \"z\"\nb: \"one\"\nc: [\"p\" \"q\", 5]\n"
    document = cfglang.parse(text)
    a, b, c = (f.value for f in document.fields)
    assert a.text == "xyz" and [text[s:e] for s, e in a.pieces] == ['"x"', "'y'", '"z"']
    assert (a.start, a.end) == (a.pieces[0][0], a.pieces[-1][1])
    assert b.pieces == () and text[b.start:b.end] == '"one"'
    assert [text[s:e] for s, e in c.items[0].pieces] == ['"p"', '"q"'] and c.items[1].pieces == ()
