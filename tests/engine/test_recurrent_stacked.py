"""Stacked and bidirectional LSTM/GRU: AMCT does not quantize them (its ``GraphChecker.check_rnn_limit``),
so the plan leaves them in float with the reason, and the plan, the record and the engine agree."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import cfglang
import quant
from cfglang.plan import explain_layer
from cfglang.record import parse_record
from quant.core import QuantizeError

# (type, constructor arguments, the plan's skip detail)
STACKED = [
    ("LSTM", {"num_layers": 2}, "num_layers=2"),
    ("GRU", {"bidirectional": True}, "bidirectional=true"),
    ("LSTM", {"num_layers": 2, "bidirectional": True}, "num_layers=2"),
]
CONFIGS = {"arq+ifmr": "batch_num: 2", "hfmg": "batch_num: 2\ncommon_config { hfmg_quantize { } }"}


class Tagger(nn.Module):
    """A quantizable single-layer GRU, the recurrent layer under test, a Linear head."""

    def __init__(self, kind: str, **kw) -> None:
        super().__init__()
        self.first = nn.GRU(input_size=6, hidden_size=8, batch_first=True)
        self.rnn = getattr(nn, kind)(input_size=8, hidden_size=8, batch_first=True, **kw)
        self.head = nn.Linear(16 if kw.get("bidirectional") else 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.first(x)
        out, _ = self.rnn(out)
        return self.head(out)


def _inventory(model: nn.Module) -> cfglang.Inventory:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fx trace warning of a model with an LSTM
        return quant.model_inventory(model)


@pytest.mark.parametrize(("kind", "kw", "detail"), STACKED)
def test_the_plan_leaves_them_in_float_with_the_reason(kind: str, kw: dict, detail: str) -> None:
    inventory = _inventory(Tagger(kind, **kw))
    layer = inventory.get("rnn")
    assert (layer.num_layers, layer.bidirectional, layer.dropout) == (
        kw.get("num_layers", 1), kw.get("bidirectional", False), 0.0)
    assert cfglang.Inventory.from_dict(inventory.to_dict()) == inventory
    plan = cfglang.resolve("batch_num: 2", inventory)
    rnn = plan.layer("rnn")
    assert not rnn.quantize and rnn.skip.reason == "unsupported" and rnn.skip.detail == detail
    assert plan.layer("first").quantize and plan.layer("head").quantize
    assert f"no (unsupported: {detail})" in plan.to_table()
    assert cfglang.Plan.from_dict(plan.to_dict()) == plan
    assert "rnn" not in plan.to_amct_json()  # AMCT's config lists only layers it can quantize
    assert f"not quantized: {detail}, which AMCT does not quantize" in explain_layer(plan, "rnn")


@pytest.mark.parametrize("algo", sorted(CONFIGS))
@pytest.mark.parametrize(("kind", "kw", "detail"), STACKED)
def test_plan_record_and_engine_agree(kind: str, kw: dict, detail: str, algo: str) -> None:
    torch.manual_seed(0)
    model = Tagger(kind, **kw).eval()
    plan = cfglang.resolve(CONFIGS[algo], _inventory(model))
    batches = [torch.randn(4, 7, 6) for _ in range(2)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning about a layer left in float: the plan says it
        result = quant.quantize(model, plan, batches, progress=False)
    assert set(parse_record(result.record)) == {layer.name for layer in plan.layers if layer.quantize} \
        == {"first", "head"}
    assert type(result.model.first) is nn.GRU and hasattr(result.model.first, "input_quantizer")
    assert type(result.model.rnn) is getattr(nn, kind)
    x = torch.randn(3, 7, 6)
    with torch.no_grad():
        got, ref = result.model(x), model(x)
    cosine = nn.functional.cosine_similarity(got.flatten(), ref.flatten(), dim=0).item()
    print(f"{kind} {kw} {algo}: fake-quant vs float cosine {cosine:.6f}")
    assert cosine > 0.99


@pytest.mark.parametrize(("kind", "kw", "detail"), STACKED + [("LSTM", {"dropout": 0.5}, "dropout=0.5")])
def test_a_plan_that_quantizes_one_is_refused(kind: str, kw: dict, detail: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's warning about dropout on a single layer
        model = Tagger(kind, **kw).eval()
    plan = cfglang.resolve("batch_num: 2", _inventory(model)).to_dict()
    for layer in plan["layers"]:  # as a hand-edited plan, or one resolved against another model
        if layer["name"] == "rnn":
            layer["skip"], layer["quantize"] = None, True
            layer["activation"] = {"algo": "ifmr", "bits": 8, "asymmetric": True}
            layer["weight"] = {"algo": "arq", "bits": 8, "channel_wise": True}
    with pytest.raises(QuantizeError, match=rf"plan layer `rnn` is quantized, but `{kind}` has {detail}"):
        quant.quantize(model, plan, [torch.randn(4, 7, 6)] * 2, progress=False)


def test_an_inventory_without_the_attributes_is_not_judged() -> None:
    layer = cfglang.Inventory.from_dict({"version": 1, "layers": [{"name": "rnn", "type": "LSTM"}]})
    assert cfglang.resolve("batch_num: 2", layer).layer("rnn").quantize


def test_outputs_and_onnx_with_a_float_stacked_layer(tmp_path) -> None:
    from quant.onnx_export import onnx_session, run_onnx

    torch.manual_seed(0)
    model = Tagger("LSTM", num_layers=2, bidirectional=True).eval()
    plan = cfglang.resolve("batch_num: 2", _inventory(model))
    result = quant.quantize(model, plan, [torch.randn(4, 7, 6) for _ in range(2)], progress=False)
    saved = result.save(tmp_path)
    assert not saved.failed and {"record.txt", "plan.json", "config.json", "model_qdq.onnx"} <= set(saved.written)
    x = torch.randn(4, 7, 6)
    with torch.no_grad():
        fake = result.model(x)
        reloaded = quant.load_fake_quant_model(tmp_path / "fake_quant_model.pt", lambda: Tagger(
            "LSTM", num_layers=2, bidirectional=True))(x)
    assert torch.equal(reloaded, fake)
    ort = torch.from_numpy(run_onnx(onnx_session((tmp_path / "model_qdq.onnx").read_bytes(), exact=True), x))
    assert nn.functional.cosine_similarity(ort.flatten(), fake.flatten(), dim=0).item() > 0.9999
