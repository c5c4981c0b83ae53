"""The AMCT type of a module (quant.inventory.layer_type): subclasses of quantizable torch.nn classes,
parametrized layers and transformers' Conv1D; and what the inventory records beside the layers (the other
weights, shared parameters, layers never called)."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
parametrizations = pytest.importorskip("torch.nn.utils.parametrizations")

from cfglang.inventory import Inventory, Weight  # noqa: E402
from quant.inventory import layer_type, model_inventory, module_attributes, weight_transposed  # noqa: E402


class Conv3DSimple(nn.Conv3d):
    def __init__(self) -> None:
        super().__init__(4, 8, 3, bias=False)


class Conv1D(nn.Module):
    """transformers.pytorch_utils.Conv1D as GPT-2 uses it: weight (in, out), x @ W + b."""

    def __init__(self, nf: int, nx: int) -> None:
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.randn(nx, nf))
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight).view(*x.shape[:-1], self.nf)


Conv1D.__module__ = "transformers.pytorch_utils"  # where transformers defines it


class OtherConv1D(Conv1D):
    pass


OtherConv1D.__name__ = "Conv1D"
OtherConv1D.__module__ = "mypackage.layers"  # a Conv1D that is not transformers': not a Linear


class Conv2d(nn.Module):  # a user class called Conv2d: a layer by name, as AMCT matches it
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class NotTorchConv(Conv2d):  # its base is called Conv2d but is no torch.nn class
    pass


@pytest.mark.parametrize("module, expected", [
    (nn.Conv2d(1, 1, 1), "Conv2d"),
    (Conv3DSimple(), "Conv3d"),
    (nn.modules.linear.NonDynamicallyQuantizableLinear(4, 4), "Linear"),
    (parametrizations.weight_norm(nn.Conv1d(2, 4, 3)), "Conv1d"),
    (parametrizations.weight_norm(nn.Linear(2, 4)), "Linear"),
    (Conv1D(6, 4), "Linear"),
    (OtherConv1D(6, 4), None),
    (Conv2d(), "Conv2d"),
    (NotTorchConv(), None),
    (nn.LayerNorm(4), None),
    (nn.MultiheadAttention(8, 2), None),
])
def test_layer_type(module: nn.Module, expected: str | None) -> None:
    assert layer_type(module) == expected


def test_conv1d_is_a_linear_with_a_transposed_weight() -> None:
    layer = Conv1D(6, 4)
    assert weight_transposed(layer) and not weight_transposed(nn.Linear(4, 6))
    assert module_attributes(layer) == {"bias": True, "in_channels": 4}
    x = torch.randn(3, 4)
    assert torch.allclose(layer(x), x @ layer.weight + layer.bias)


class Mixed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 8)
        self.conv = parametrizations.weight_norm(nn.Conv1d(8, 8, 1))
        self.act = nn.ReLU()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.proj = Conv1D(8, 8)
        self.norm = nn.LayerNorm(8)
        self.unused = nn.Linear(8, 8)
        self.scale = nn.Parameter(torch.ones(8))
        self.head = nn.Linear(8, 10, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.act(self.conv(self.embed(ids).transpose(1, 2))).transpose(1, 2)
        x, _ = self.attn(x, x, x, need_weights=False)
        return self.head(self.norm(self.proj(x)) * self.scale)


def test_the_inventory_of_a_mixed_model() -> None:
    model = Mixed().eval()
    inventory = model_inventory(model, "mixed")
    assert inventory.traced
    assert [(layer.name, layer.label, layer.called) for layer in inventory.quantizable] == [
        ("conv", "ParametrizedConv1d (Conv1d)", True),
        ("proj", "Conv1D (Linear, transposed weight)", True),
        ("head", "Linear", True),
        # those the forward never calls come last: MultiheadAttention reads its out_proj's weight itself
        ("attn.out_proj", "NonDynamicallyQuantizableLinear (Linear)", False),
        ("unused", "Linear", False)]
    assert "conv.parametrizations.weight.0" not in inventory  # the parametrization is the layer's own
    assert inventory.activation_of("conv").activation == "act"
    assert inventory.get("proj").attributes() == {"in_channels": 8, "bias": True}
    assert inventory.weights == (  # in named_modules() order: the model's own parameter first
        Weight("scale", "Mixed", True), Weight("embed", "Embedding"),
        Weight("attn.in_proj_weight", "MultiheadAttention", True),
        Weight("attn.in_proj_bias", "MultiheadAttention", True), Weight("norm", "LayerNorm"))
    assert inventory.shared == (("embed.weight", "head.weight"),)
    data = json.loads(json.dumps(inventory.to_dict()))
    assert Inventory.from_dict(data) == inventory
    assert data["layers"][1] == {"name": "conv", "type": "Conv1d", "in_channels": 8, "groups": 1, "bias": True,
                                 "class_name": "ParametrizedConv1d"}


def test_an_example_batch_gives_the_same_inventory_as_fx() -> None:
    # torch.export sees the parametrized convolution as one layer too (its weight-norm operations included)
    model = Mixed().eval()
    assert model_inventory(model, "mixed", example=torch.randint(0, 10, (2, 5))) == model_inventory(model, "mixed")


class EncoderBlock(nn.Module):
    """torch.fx keeps `nn.TransformerEncoderLayer` opaque (a torch.nn module): one call, insides unseen."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layer(x))


def test_layers_inside_a_module_fx_keeps_opaque_count_as_called_but_out_proj() -> None:
    inventory = model_inventory(EncoderBlock().eval(), "block")
    assert inventory.traced
    assert {layer.name: layer.called for layer in inventory.quantizable} == {
        "head": True, "layer.linear1": True, "layer.linear2": True, "layer.self_attn.out_proj": False}
    by_export = model_inventory(EncoderBlock().eval(), "block", example=torch.randn(2, 3, 8))
    assert {layer.name: layer.called for layer in by_export.quantizable} == {
        layer.name: layer.called for layer in inventory.quantizable}


class Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.fc = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # control flow on a tensor: torch.fx cannot trace it
            x = -x
        return self.fc(self.attn(x, x, x, need_weights=False)[0])


def test_an_untraced_inventory_knows_which_weights_multiheadattention_reads_itself() -> None:
    from quant.inventory import TraceWarning

    with pytest.warns(TraceWarning):
        inventory = model_inventory(Untraceable().eval(), "u")
    assert not inventory.traced
    assert {layer.name: layer.called for layer in inventory.quantizable} == {"attn.out_proj": False, "fc": True}


class UntraceableVideo(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = Conv3DSimple()
        self.bn = nn.BatchNorm3d(8)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > 1:  # torch.fx cannot branch on a shape, torch.export can
            x = -x
        return self.act(self.bn(self.conv(x)))


def test_the_graph_from_torch_export_reads_the_subclass_by_its_type() -> None:
    # the program names the class `Conv3DSimple`; the module's inventory gives the rules its type, Conv3d
    inventory = model_inventory(UntraceableVideo().eval(), "v", example=torch.randn(1, 4, 3, 5, 5))
    assert inventory.traced and inventory.bn_of("conv") == "bn"
    assert inventory.activation_of("conv").activation == "act"
    assert inventory.get("conv").label == "Conv3DSimple (Conv3d)"


def test_a_program_file_keeps_a_parametrized_layer(tmp_path) -> None:
    from quant.inventory import inventory_from_ref

    model = nn.Sequential(parametrizations.weight_norm(nn.Conv1d(2, 4, 1)), nn.ReLU(), nn.Linear(3, 2)).eval()
    path = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(model, (torch.randn(1, 2, 3),)), path)
    from_program = inventory_from_ref(str(path))
    assert from_program == model_inventory(model, str(path))
    assert from_program.get("0").label == "ParametrizedConv1d (Conv1d)"
    assert from_program.get("0").attributes() == {"in_channels": 2, "groups": 1, "bias": True}
