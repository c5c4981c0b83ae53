"""The torch side: inventories of real nn.Modules (torch.fx), then resolution against them."""

from __future__ import annotations

import json
import warnings

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from cfglang.inventory import Inventory  # noqa: E402
from quant.inventory import TraceWarning, model_inventory  # noqa: E402

from resolve.conftest import validate_plan  # noqa: E402


class BasicBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + x)  # the residual add


class ResNetish(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.act = nn.ReLU()
        self.layer1 = nn.Sequential(BasicBlock(8), BasicBlock(8))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.layer1(self.act(self.bn(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def sequential_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 8, 3), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(8 * 2 * 2, 10),
    )


class TransposedGrouped(nn.Module):
    """ConvTranspose2d + BatchNorm is not foldable; a grouped conv with a BN is; a conv read twice is not."""

    def __init__(self) -> None:
        super().__init__()
        self.grouped = nn.Conv2d(8, 8, 3, padding=1, groups=4)
        self.gbn = nn.BatchNorm2d(8)
        self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.upbn = nn.BatchNorm2d(4)
        self.side = nn.Conv2d(4, 4, 1)
        self.sidebn = nn.BatchNorm2d(4)
        self.act = nn.GELU()

    def forward(self, x):
        x = self.gbn(self.grouped(x))
        x = self.act(self.upbn(self.up(x)))
        y = self.side(x)
        return self.sidebn(y) + y  # `side` feeds the BN and the add: not foldable


class Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow defeats symbolic tracing
            return self.fc(x)
        return x


def _roundtrip(inv: Inventory) -> Inventory:
    data = json.loads(json.dumps(inv.to_dict()))
    back = Inventory.from_dict(data)
    assert back == inv
    return back


def test_resnet_block_inventory() -> None:
    inv = _roundtrip(model_inventory(ResNetish()))
    assert [layer.name for layer in inv.quantizable] == [
        "stem", "layer1.0.conv1", "layer1.0.conv2", "layer1.1.conv1", "layer1.1.conv2", "fc"]
    assert [(p.conv, p.bn) for p in inv.foldable] == [
        ("stem", "bn"), ("layer1.0.conv1", "layer1.0.bn1"), ("layer1.0.conv2", "layer1.0.bn2"),
        ("layer1.1.conv1", "layer1.1.bn1"), ("layer1.1.conv2", "layer1.1.bn2")]
    # conv2's BN feeds the residual add, not the ReLU directly
    assert [(a.layer, a.activation) for a in inv.activations] == [
        ("stem", "act"), ("layer1.0.conv1", "layer1.0.relu"), ("layer1.1.conv1", "layer1.1.relu")]


def test_sequential_cnn_inventory_and_plan() -> None:
    import cfglang

    inv = _roundtrip(model_inventory(sequential_cnn()))
    assert [(l.name, l.type) for l in inv.quantizable] == [
        ("0", "Conv2d"), ("3", "Conv2d"), ("5", "AvgPool2d"), ("7", "Linear")]
    assert [(p.conv, p.bn) for p in inv.foldable] == [("0", "1")]
    assert [(a.layer, a.activation, a.type) for a in inv.activations] == [("0", "2", "ReLU"), ("3", "4", "ReLU")]
    plan = cfglang.resolve("common_config { hfmg_quantize { } }\nskip_layers: \"7\"\n", inv)
    validate_plan(plan)
    assert [(l.name, l.quantize) for l in plan.layers] == [("0", True), ("3", True), ("5", True), ("7", False)]
    assert plan.layer("5").weight is None and plan.layer("5").activation.algo == "hfmg"
    assert [(f.conv, f.bn) for f in plan.fusions] == [("0", "1")]


def test_transposed_and_grouped_convs() -> None:
    import cfglang

    inv = _roundtrip(model_inventory(TransposedGrouped()))
    assert [(l.name, l.type) for l in inv.quantizable] == [
        ("grouped", "Conv2d"), ("up", "ConvTranspose2d"), ("side", "Conv2d")]
    assert [(p.conv, p.bn) for p in inv.foldable] == [("grouped", "gbn")]
    assert [(a.layer, a.activation) for a in inv.activations] == []  # upbn is not folded into `up`
    plan = cfglang.resolve('common_config { ada_quantize { } }\nskip_fusion_layers: "up"\n', inv)
    validate_plan(plan)
    assert plan.layer("up").weight.algo == "ada"
    # `up` is a ConvTranspose2d: AMCT fuses Conv1d/2d/3d only and refuses it in `skip_fusion_layers`
    assert [d.code for d in plan.diagnostics] == ["M015"]


def test_resnet_plan_with_overrides() -> None:
    import cfglang

    inv = model_inventory(ResNetish())
    text = """
common_config { arq_quantize { channel_wise: true } }
override_layer_types { layer_type: "Linear" calibration_config { arq_quantize { channel_wise: false } } }
override_layer_configs { layer_name: "layer1.1.conv2" calibration_config { arq_quantize { quant_bits: 6 } } }
skip_fusion_layers: "layer1.0.conv2"
"""
    plan = cfglang.resolve(text, inv)
    validate_plan(plan)
    assert plan.diagnostics == ()
    assert plan.layer("layer1.1.conv2").weight.bits == 6
    assert plan.layer("fc").weight.channel_wise is False
    assert ("layer1.0.conv2", "layer1.0.bn2") not in [(f.conv, f.bn) for f in plan.fusions]
    assert len(plan.fusions) == 4


def test_untraceable_model_still_gets_names_and_types() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inv = model_inventory(Untraceable())
    assert inv.traced is False and [(l.name, l.type) for l in inv.layers] == [("fc", "Linear")]
    messages = [str(w.message) for w in caught if issubclass(w.category, TraceWarning)]
    assert messages and "cannot trace `Untraceable`" in messages[0] and "traced: false" in messages[0]
    assert _roundtrip(inv).traced is False


def test_model_inventory_is_the_package_attribute_beside_its_module() -> None:
    import types

    import quant
    import quant.inventory

    # the function is named apart from its module, so importing the module does not shadow it
    assert isinstance(quant.inventory, types.ModuleType) and not callable(quant.inventory)
    assert quant.model_inventory is quant.inventory.model_inventory
    assert quant.model_inventory(sequential_cnn()).names[:3] == ["0", "1", "2"]
