"""Hover, completion, formatting, code actions and the outline, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from cfglang.formatter import format_text
from cfglang.lint import fix_text
from tests.lsp.conftest import open_document

pytestmark = pytest.mark.asyncio(loop_scope="module")

INVENTORY = {
    "version": 1,
    "layers": [
        {"name": "features.0", "type": "Conv2d"}, {"name": "features.1", "type": "BatchNorm2d"},
        {"name": "features.2", "type": "ReLU"}, {"name": "层.conv", "type": "Conv2d"},
        {"name": "classifier", "type": "Linear"},
    ],
    "foldable": [{"conv": "features.0", "bn": "features.1"}],
    "activations": [{"layer": "features.0", "activation": "features.2", "type": "ReLU"}],
}


def doc(uri: str) -> types.TextDocumentIdentifier:
    return types.TextDocumentIdentifier(uri=uri)


def at(text: str, marker: str, after: bool = True) -> types.Position:
    """The UTF-16 position just after (or at) the first ``marker`` in ``text``."""
    offset = text.index(marker) + (len(marker) if after else 0)
    line = text.count("\n", 0, offset)
    column = text[text.rfind("\n", 0, offset) + 1:offset]
    return types.Position(line=line, character=len(column.encode("utf-16-le")) // 2)


async def complete(client: LanguageClient, uri: str, position: types.Position) -> list[types.CompletionItem]:
    result = await client.text_document_completion_async(types.CompletionParams(text_document=doc(uri),
                                                                                position=position))
    items = result.items if isinstance(result, types.CompletionList) else result
    return list(items or [])


async def hover_text(client: LanguageClient, uri: str, position: types.Position) -> str:
    result = await client.text_document_hover_async(types.HoverParams(text_document=doc(uri), position=position))
    assert result is not None
    assert isinstance(result.contents, types.MarkupContent)
    return result.contents.value


def apply(text: str, edits: list[types.TextEdit]) -> str:
    """Apply LSP edits (UTF-16 positions) to ``text``, as an editor would."""
    lines = text.split("\n")

    def offset(p: types.Position) -> int:
        before = sum(len(line) + 1 for line in lines[:p.line])
        line = lines[p.line] if p.line < len(lines) else ""
        units = 0
        for i, ch in enumerate(line):
            if units >= p.character:
                return before + i
            units += 2 if ord(ch) > 0xFFFF else 1
        return before + len(line)

    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[:offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end):]
    return text


# ---------------------------------------------------------------- hover


async def test_hover_on_a_field_name_gives_type_default_values_and_rules(client: LanguageClient,
                                                                          tmp_path: Path) -> None:
    text = "common_config {\n  arq_quantize { quant_bits: 8 }\n  ifmr_quantize { dst_type: INT8 }\n}\n"
    uri, _ = await open_document(client, tmp_path / "hover.cfg", text)
    value = await hover_text(client, uri, at(text, "quant_b"))
    assert "optional uint32 quant_bits = 10" in value
    assert "default: `8`" in value
    assert "V002" in value
    # what the field does, from cfglang/schemas/config.descriptions.toml, right under the signature
    assert "field of `ARQuantize`\n\nWeight bit width: 8 (the default), or 6 or 7, which only Conv2d supports." \
        in value
    value = await hover_text(client, uri, at(text, "dst_ty"))
    assert "values: `INT8`, `INT16`" in value
    assert "the documentation supports INT8 only" in value
    assert ("- `INT16`: 16-bit integer activations (A16W8): an error under the default target `documented`, "
            "accepted for AMCT's INT16 types under `amct-9.1` and `amct-9.2`.") in value
    value = await hover_text(client, uri, at(text, "arq_qu"))
    assert "wts_quant_algo" in value and "ada_quantize" in value
    assert "Quantize the weights with ARQ" in value
    value = await hover_text(client, uri, at(text, "common_con"))
    assert "Overrides replace it, they do not merge with it" in value


async def test_hover_in_a_half_typed_file(client: LanguageClient, tmp_path: Path) -> None:
    text = "override_layer_types {\n  layer_type: \"Conv2d\"\n  calibration_config { dmq_balancer { migration_str"
    uri, _ = await open_document(client, tmp_path / "hover-broken.cfg", text)
    value = await hover_text(client, uri, at(text, "  layer_ty"))
    assert "required string layer_type = 1" in value
    assert "`Conv2d`" in value  # the quantizable types
    assert "The PyTorch class name of the layers this entry covers" in value


async def test_hover_on_a_value_shows_where_it_resolves_with_an_inventory(client: LanguageClient,
                                                                           tmp_path: Path) -> None:
    (tmp_path / "layers.json").write_text(json.dumps(INVENTORY), encoding="utf-8")
    text = ('# amct: layers=layers.json\ncommon_config {\n  arq_quantize { quant_bits: 7 }\n}\n'
            'override_layer_configs {\n  layer_name: "层.conv"\n'
            '  calibration_config { arq_quantize { quant_bits: 8 } }\n}\n')
    uri, _ = await open_document(client, tmp_path / "resolved.cfg", text)
    value = await hover_text(client, uri, at(text, "quant_bits: 7", after=True))
    assert "`weight.bits` = `7` (common_config)" in value
    assert "`features.0`" in value and "`层.conv`" not in value.split("(common_config)")[1].split("\n")[0]
    value = await hover_text(client, uri, at(text, '"层.c'))
    assert "层.conv (Conv2d)" in value and "override_layer_configs" in value


# ---------------------------------------------------------------- completion


async def test_completion_of_field_names_in_a_broken_document(client: LanguageClient, tmp_path: Path) -> None:
    text = "batch_num: 2\ncommon_config {\n  arq_quantize {\n    quant_\n"
    uri, _ = await open_document(client, tmp_path / "complete-names.cfg", text)
    items = await complete(client, uri, at(text, "quant_"))
    assert [i.label for i in items] == ["channel_wise", "quant_bits"]
    (bits,) = [i for i in items if i.label == "quant_bits"]
    assert bits.text_edit is not None and bits.text_edit.new_text == "quant_bits: "
    assert bits.text_edit.range.start == types.Position(line=3, character=4)
    assert isinstance(bits.documentation, types.MarkupContent)
    assert "Weight bit width: 8 (the default)" in bits.documentation.value
    top = await complete(client, uri, types.Position(line=0, character=0))
    assert "override_layer_configs" in [i.label for i in top]


async def test_completion_of_enum_bool_and_layer_type_values(client: LanguageClient, tmp_path: Path) -> None:
    text = ('fakequant_precision_mode: \ndo_fusion: \noverride_layer_types {\n  layer_type: "Con\n'
            '  calibration_config { ifmr_quantize { dst_type: } }\n}\n')
    uri, _ = await open_document(client, tmp_path / "complete-values.cfg", text)
    assert [i.label for i in await complete(client, uri, at(text, "fakequant_precision_mode: "))] == \
        ["FORCE_FP16_QUANT"]
    assert [i.label for i in await complete(client, uri, at(text, "do_fusion: "))] == ["true", "false"]
    types_ = await complete(client, uri, at(text, '"Con'))
    assert "Conv2d" in [i.label for i in types_] and "LSTM" in [i.label for i in types_]
    (conv,) = [i for i in types_ if i.label == "Conv2d"]
    assert conv.text_edit is not None and conv.text_edit.new_text == "Conv2d"  # inside the quotes already
    dst = await complete(client, uri, at(text, "dst_type:"))
    assert [i.label for i in dst] == ["INT8", "INT16"]
    assert isinstance(dst[1].documentation, types.MarkupContent)
    assert dst[1].documentation.value == ("16-bit integer activations (A16W8): an error under the default target "
                                          "`documented`, accepted for AMCT's INT16 types under `amct-9.1` and `amct-9.2`.")


async def test_completion_of_layer_names_from_the_inventory(client: LanguageClient, tmp_path: Path) -> None:
    (tmp_path / "layers.json").write_text(json.dumps(INVENTORY), encoding="utf-8")
    text = '# amct: layers=layers.json\nskip_layers: ["features.0", \nskip_fusion_layers: \n' \
           'override_layer_configs { layer_name: "'
    uri, _ = await open_document(client, tmp_path / "complete-layers.cfg", text)
    names = await complete(client, uri, at(text, '"features.0", '))
    assert [i.label for i in names] == ["features.0", "层.conv", "classifier"]
    assert names[1].text_edit is not None and names[1].text_edit.new_text == '"层.conv"'
    fusion = await complete(client, uri, at(text, "skip_fusion_layers: "))
    assert [i.label for i in fusion] == ["features.0"]
    inside = await complete(client, uri, at(text, 'layer_name: "'))
    assert [i.label for i in inside] == ["features.0", "层.conv", "classifier"]


# ---------------------------------------------------------------- formatting, actions, outline


async def test_formatting_returns_what_amct_fmt_writes(client: LanguageClient, tmp_path: Path) -> None:
    text = 'batch_num:2;common_config<arq_quantize{quant_bits:8}>  # keep me\nskip_layers:["a","b"]\n'
    uri, _ = await open_document(client, tmp_path / "fmt.cfg", text)
    edits = await client.text_document_formatting_async(types.DocumentFormattingParams(
        text_document=doc(uri), options=types.FormattingOptions(tab_size=8, insert_spaces=False)))
    assert edits is not None
    assert apply(text, edits) == format_text(text)
    formatted = format_text(text)
    again_uri, _ = await open_document(client, tmp_path / "fmt-done.cfg", formatted)
    assert await client.text_document_formatting_async(types.DocumentFormattingParams(
        text_document=doc(again_uri), options=types.FormattingOptions(tab_size=2, insert_spaces=True))) in ([], ())


async def test_formatting_leaves_a_file_with_syntax_errors_alone(client: LanguageClient, tmp_path: Path) -> None:
    uri, _ = await open_document(client, tmp_path / "fmt-broken.cfg", "batch_num: 2\ncommon_config {\n")
    assert not await client.text_document_formatting_async(types.DocumentFormattingParams(
        text_document=doc(uri), options=types.FormattingOptions(tab_size=2, insert_spaces=True)))


async def test_code_actions_offer_every_fix_labelled(client: LanguageClient, tmp_path: Path) -> None:
    path = tmp_path / "fix.cfg"
    text = "batch_num: 1\nbatch_num: 2\ncommon_config { arq_quantize { quant_bit: 8 } }\n"
    uri, diagnostics = await open_document(client, path, text)
    whole = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=3, character=0))
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=doc(uri), range=whole, context=types.CodeActionContext(diagnostics=diagnostics)))
    assert actions is not None
    quick = [a for a in actions if isinstance(a, types.CodeAction) and a.kind == types.CodeActionKind.QuickFix]
    safe = [a for a in quick if a.is_preferred]
    unsafe = [a for a in quick if not a.is_preferred]
    assert safe and all("(unsafe)" not in a.title for a in safe)
    assert unsafe and all(a.title.endswith("(unsafe)") for a in unsafe)
    assert all(a.diagnostics and a.edit and a.edit.changes for a in quick)
    fix_all = [a for a in actions if isinstance(a, types.CodeAction) and a.kind == "source.fixAll.amct"]
    assert [a.title.endswith("(unsafe)") for a in fix_all] == [False, True]
    assert apply(text, fix_all[0].edit.changes[uri]) == fix_text(text, str(path)).text
    assert apply(text, fix_all[1].edit.changes[uri]) == fix_text(text, str(path), unsafe=True).text
    for action in quick:
        # each quick fix alone takes its diagnostic away
        fixed = apply(text, action.edit.changes[uri])
        assert fixed != text


async def test_document_symbols_outline_common_config_and_every_override(client: LanguageClient,
                                                                          tmp_path: Path) -> None:
    text = ('batch_num: 1\ncommon_config {\n  arq_quantize { quant_bits: 8 }\n}\n'
            'override_layer_types {\n  layer_type: "Linear"\n  calibration_config { }\n}\n'
            'override_layer_configs: [{ layer_name: "特征.0" calibration_config { } }, '
            '{ layer_name: "fc" calibration_config { } }]\n')
    uri, _ = await open_document(client, tmp_path / "symbols.cfg", text)
    symbols = await client.text_document_document_symbol_async(types.DocumentSymbolParams(text_document=doc(uri)))
    assert symbols is not None
    names = [s.name for s in symbols]
    assert names == ["batch_num", "common_config", "override_layer_types: Linear",
                     "override_layer_configs: 特征.0", "override_layer_configs: fc"]
    common = symbols[1]
    assert isinstance(common, types.DocumentSymbol) and common.children
    assert [c.name for c in common.children] == ["arq_quantize"]
    assert common.range.start == types.Position(line=1, character=0)
    second = symbols[4]
    assert second.selection_range.start.line == 8
