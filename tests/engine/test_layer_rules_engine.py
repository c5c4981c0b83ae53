"""The torch side of AMCT's per-layer width rules (issue 15 follow-up): the inventory records the attributes
the rules read, from a module and from a torch.export program alike; a config resolved under `amct-9.2`
gives a grouped convolution 8-bit weights and the engine writes them so in the record; a hand-edited
plan that asks for what the target refuses is refused before any work."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import cfglang
from cfglang.record import parse_record
from quant import QuantizeError, model_inventory, quantize
from quant_helpers import ifmr, layer, plan


class Block(nn.Module):
    """A 3-channel stem (odd Cin), a depthwise conv, a pointwise conv, a grouped transposed conv, a GRU with
    an odd hidden size and a Linear head without bias reading 7 features (odd)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.pw = nn.Conv2d(8, 4, 1)
        self.up = nn.ConvTranspose2d(4, 4, 2, stride=2, groups=2)
        self.rnn = nn.GRU(4, 7, batch_first=True)
        self.head = nn.Linear(7, 5, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.up(self.pw(self.dw(self.stem(x))))
        y, _ = self.rnn(x.mean(-1).transpose(1, 2))
        return self.head(y)


ATTRIBUTES = [
    {"name": "stem", "type": "Conv2d", "in_channels": 3, "groups": 1, "bias": True},
    {"name": "dw", "type": "Conv2d", "in_channels": 8, "groups": 8, "bias": False},
    {"name": "pw", "type": "Conv2d", "in_channels": 8, "groups": 1, "bias": True},
    {"name": "up", "type": "ConvTranspose2d", "in_channels": 4, "groups": 2, "bias": True},
    {"name": "rnn", "type": "GRU", "in_channels": 4, "bias": True, "hidden_size": 7, "num_layers": 1,
     "bidirectional": False},
    {"name": "head", "type": "Linear", "in_channels": 7, "bias": False},
]


def _model() -> Block:
    torch.manual_seed(0)
    return Block().eval()


# torch.export's own notes on the GRU's flat weights and its tree specs: not about the inventory
@pytest.mark.filterwarnings("ignore:The tensor attributes:UserWarning", "ignore::FutureWarning")
def test_module_and_program_inventories_record_the_same_attributes() -> None:
    model = _model()
    from_module = model_inventory(model).to_dict()["layers"]
    assert from_module[4].pop("dropout") == 0.0  # a program keeps no dropout
    assert from_module == ATTRIBUTES
    program = torch.export.export(model, (torch.randn(1, 3, 4, 4),))
    assert model_inventory(program).to_dict()["layers"] == ATTRIBUTES
    assert model_inventory(program.run_decompositions()).to_dict()["layers"] == ATTRIBUTES


CFG = """\
common_config {
  arq_quantize { quant_bits: 4 }
}
"""


@pytest.mark.parametrize("target, int8", [("amct-9.2", {"stem", "dw", "up", "rnn", "head"}), ("amct-9.1", set())])
def test_a_grouped_conv_under_amct_9_2_gets_8_bit_weights_in_the_record(target: str, int8: set[str]) -> None:
    model = _model()
    resolved = cfglang.resolve(CFG, model_inventory(model), target=target)
    assert not resolved.diagnostics or {d.code for d in resolved.diagnostics} == {"M018"}
    data = [torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    result = quantize(model, resolved, data, progress=False)
    record = parse_record(result.record)
    assert {name: entry.wts_type for name, entry in record.items()} == {
        name: "INT8" if name in int8 else "INT4" for name in ("stem", "dw", "pw", "up", "rnn", "head")}
    assert {l.name: l.weight_bits for l in result.layers}["dw"] == (8 if "dw" in int8 else 4)


@pytest.mark.parametrize("name, kind, module, weight_bits, act_bits, message", [
    ("dw", "Conv2d", nn.Conv2d(4, 4, 3, groups=4), 4, 8,
     r"layer `0` \(Conv2d\) has weight bits `4`, which target `amct-9.2` does not give it \(a grouped convolution, "
     r"`groups` > 1\): AMCT packs INT4 weights two per byte along the input channels"),
    ("odd", "Linear", nn.Linear(3, 4), 4, 8, r"does not give it \(an odd number of input channels\)"),
    ("head", "Linear", nn.Linear(4, 4, bias=False), 8, 16,
     r"layer `0` \(Linear\) has activation bits `16`, which target `amct-9.2` does not give a `Linear` without bias"),
])
def test_a_hand_edited_plan_is_held_to_the_layer_rules(name, kind, module, weight_bits, act_bits, message) -> None:
    p = plan([layer("0", kind, act={**ifmr(), "bits": act_bits}, bits=weight_bits)])
    p["target"] = "amct-9.2"
    x = torch.randn(2, 4, 5, 5) if kind == "Conv2d" else torch.randn(2, module.in_features)
    with pytest.raises(QuantizeError, match=message):
        quantize(nn.Sequential(module).eval(), p, [x] * 2, progress=False)
    p["target"] = "amct-9.1"  # no packing rule there (the bias rule is, so keep INT16 out of this run)
    if act_bits == 8:
        assert quantize(nn.Sequential(module).eval(), p, [x] * 2, progress=False).layers[0].weight_bits == 4
