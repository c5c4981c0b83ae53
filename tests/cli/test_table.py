"""The one fixed-width table printer behind `amct plan --format table`, `amct rules`, `amct explain <target>`,
the demo table and the quantization report."""

from __future__ import annotations

from cfglang.table import table_lines


def test_columns_align_to_the_widest_cell_and_padding_is_stripped() -> None:
    rows = [("layer", "type", "bits"), ("conv1", "Conv2d", "8"), ("features.0", "Linear", "")]
    assert table_lines(rows, rule=True) == [
        "layer       type    bits",
        "----------  ------  ----",
        "conv1       Conv2d  8",
        "features.0  Linear",
    ]


def test_a_free_last_column_is_not_padded_and_the_indent_leads_every_line() -> None:
    rows = [("quant_bits 4", "Conv2d"), ("dmq_balancer", "Conv2d, Linear ")]
    assert table_lines(rows, pad_last=False, indent="  ") == [
        "  quant_bits 4  Conv2d",
        "  dmq_balancer  Conv2d, Linear ",
    ]
