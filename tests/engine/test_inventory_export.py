"""Inventories from `torch.export` program files equal the torch.fx inventories of the same models."""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from quant.inventory import TraceWarning, model_inventory, inventory_from_ref  # noqa: E402
from quant.modelref import ModelRefError, load_model, load_program  # noqa: E402

from clirun import amct  # noqa: E402
from test_inventory_models import ResNetish, TransposedGrouped, sequential_cnn  # noqa: E402


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4), nn.Sigmoid(), nn.Linear(4, 2))


MODELS = {
    "sequential_cnn": (sequential_cnn, (1, 1, 8, 8)),
    "resnetish": (ResNetish, (1, 3, 8, 8)),
    "transposed_grouped": (TransposedGrouped, (1, 8, 4, 4)),
    "mlp": (mlp, (2, 6)),
}


def save_program(model: nn.Module, shape: tuple[int, ...], path: Path, decompose: bool = False) -> Path:
    program = torch.export.export(model, (torch.randn(*shape),))
    if decompose:
        program = program.run_decompositions()
    torch.export.save(program, path)
    return path


@pytest.mark.parametrize("which", sorted(MODELS))
def test_program_inventory_equals_the_fx_inventory(which: str, tmp_path: Path) -> None:
    build, shape = MODELS[which]
    model = build().eval()
    path = save_program(model, shape, tmp_path / f"{which}.pt2")
    with warnings.catch_warnings():
        warnings.simplefilter("error", TraceWarning)
        from_program = inventory_from_ref(str(path))
    assert from_program == model_inventory(model, str(path))
    assert from_program.traced and from_program.model == str(path)


@pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated:FutureWarning")
@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_decomposed_programs_give_the_same_inventory(train: bool, tmp_path: Path) -> None:
    """After run_decompositions a Linear is permute + addmm and a training BatchNorm returns its buffer updates."""
    model = ResNetish().train(train)
    path = save_program(model, (1, 3, 8, 8), tmp_path / "decomposed.pt2", decompose=True)
    program = load_program(str(path))
    targets = {str(node.target) for node in program.graph.nodes}
    assert "aten.addmm.default" in targets and "aten.linear.default" not in targets
    if train:
        assert program.graph_signature.buffers_to_mutate  # running stats are outputs of the graph
    assert model_inventory(program, "m") == model_inventory(model, "m")


def test_program_inventory_relations(tmp_path: Path) -> None:
    inv = inventory_from_ref(str(save_program(ResNetish().eval(), (1, 3, 8, 8), tmp_path / "r.pt2")))
    assert [(layer.name, layer.type) for layer in inv.layers[:4]] == [
        ("stem", "Conv2d"), ("bn", "BatchNorm2d"), ("act", "ReLU"), ("layer1.0.conv1", "Conv2d")]
    assert [(p.conv, p.bn) for p in inv.foldable][:2] == [("stem", "bn"), ("layer1.0.conv1", "layer1.0.bn1")]
    # `layer1.0.relu` runs twice (after bn1 and after the residual add): called twice, it is one layer
    assert inv.names.count("layer1.0.relu") == 1
    assert [(a.layer, a.activation, a.type) for a in inv.activations] == [
        ("stem", "act", "ReLU"), ("layer1.0.conv1", "layer1.0.relu", "ReLU"),
        ("layer1.1.conv1", "layer1.1.relu", "ReLU")]


class WithUnused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.bn = nn.BatchNorm2d(2)
        self.skip = nn.Identity()
        self.spare = nn.Linear(3, 3)  # never called

    def forward(self, x):
        return self.skip(self.bn(self.conv(x)))


def test_modules_the_program_never_runs_are_not_known(tmp_path: Path) -> None:
    model = WithUnused().eval()
    path = save_program(model, (1, 1, 5, 5), tmp_path / "unused.pt2")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inv = inventory_from_ref(str(path))
    assert inv.names == ["conv", "bn"]
    assert [(p.conv, p.bn) for p in inv.foldable] == [("conv", "bn")]
    messages = [str(w.message) for w in caught if issubclass(w.category, TraceWarning)]
    assert len(messages) == 1 and "`spare` has weights in the program" in messages[0]
    assert model_inventory(model).names == ["conv", "bn", "skip", "spare"]  # torch.fx sees the module tree


def test_a_program_without_module_metadata_is_refused() -> None:
    program = torch.export.export(sequential_cnn().eval(), (torch.randn(1, 1, 8, 8),))
    for node in program.graph.nodes:
        node.meta.pop("nn_module_stack", None)
    with pytest.raises(ModelRefError, match="has no `nn_module_stack` metadata"):
        model_inventory(program, "stripped.pt2")


def test_any_file_name_is_a_program(tmp_path: Path) -> None:
    path = save_program(mlp().eval(), (2, 6), tmp_path / "m.pt2").rename(tmp_path / "model.export")
    assert inventory_from_ref(str(path)).names == ["0", "1", "2", "3", "4"]


def _newer_schema(source: Path, target: Path) -> Path:
    """A copy of ``source`` as a torch with a newer serialization schema would have written it."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith("models/model.json"):
                model = json.loads(data)
                model["schema_version"]["major"] += 1
                data = json.dumps(model).encode()
            out.writestr(info, data)
    return target


def test_files_that_are_not_programs(tmp_path: Path) -> None:
    (tmp_path / "garbage.pt2").write_bytes(b"not a program")
    torch.save(mlp().state_dict(), tmp_path / "weights.pt")
    good = save_program(mlp().eval(), (2, 6), tmp_path / "good.pt2")
    newer = _newer_schema(good, tmp_path / "newer.pt2")
    cases = {
        "garbage.pt2": "`{}` is not a torch.export program (not a zip archive)",
        "missing.pt2": "cannot read `{}`: No such file or directory",
        "weights.pt": "`{}` is a zip archive without a torch.export program in it (`torch.save` writes such",
        "newer.pt2": f"cannot load the torch.export program `{{}}` with torch {torch.__version__} (SerializeError",
        "folder.pt2": "`{}` is a folder, expected a file written by `torch.export.save`",
        "folder": "found `{}` for the model, expected `package.module:factory` or a `torch.export` program file "
                  "(a folder)",
    }
    (tmp_path / "folder.pt2").mkdir()
    (tmp_path / "folder").mkdir()
    for name, message in cases.items():
        path = str(tmp_path / name)
        with pytest.raises(ModelRefError) as raised:
            inventory_from_ref(path)
        assert str(raised.value).startswith(message.format(path)) and "\n" not in str(raised.value)
    assert "does not match our current schema version" in _message(lambda: load_program(str(newer)))


def _message(call) -> str:
    with pytest.raises(ModelRefError) as raised:
        call()
    return str(raised.value)


def test_quantizing_needs_the_module_not_a_program(tmp_path: Path) -> None:
    path = str(save_program(mlp().eval(), (2, 6), tmp_path / "m.pt2"))
    message = _message(lambda: load_model(path))
    assert message.startswith(f"`{path}` names a program file, but quantizing needs the model itself")
    assert "`package.module:factory`" in message


# the command line -----------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cnn_models.py").write_text(
        "from torch import nn\n"
        "def cnn():\n"
        "    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3),\n"
        "                         nn.ReLU(), nn.Flatten(), nn.Linear(16, 2))\n")
    save_program(sequential_like(), (1, 1, 6, 6), tmp_path / "prog.pt2")
    (tmp_path / "quant.cfg").write_text('common_config { arq_quantize { } }\nskip_layers: "6"\n')
    (tmp_path / "typo.cfg").write_text('skip_layers: "conv_1"\nskip_layers: "03"\n')
    return tmp_path


def sequential_like() -> nn.Module:
    """What `cnn_models:cnn` builds (same structure, so the same inventory)."""
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3),
                         nn.ReLU(), nn.Flatten(), nn.Linear(16, 2)).eval()


def test_layers_from_a_program_match_the_factory(project: Path) -> None:
    status, _, err = amct("layers", "--model", "prog.pt2", "-o", "layers.json")
    assert status == 0, err
    assert "wrote layers.json: layer inventory, 7 layers (3 quantizable), 1 foldable pair" in err
    status, factory_json, _ = amct("layers", "--model", "cnn_models:cnn")
    assert status == 0
    from_program = json.loads((project / "layers.json").read_text())
    from_factory = json.loads(factory_json)
    assert from_program.pop("model") == "prog.pt2" and from_factory.pop("model") == "cnn_models:cnn"
    assert from_program == from_factory
    assert from_program["activations"] == [{"layer": "0", "activation": "2", "type": "ReLU"},
                                           {"layer": "3", "activation": "4", "type": "ReLU"}]


def test_lint_and_plan_with_a_program(project: Path) -> None:
    status, out, err = amct("lint", "typo.cfg", "--model", "prog.pt2", "--format", "json")
    assert status == 1, err
    found = [(d["code"], d["line"]) for d in json.loads(out)]
    assert ("M001", 1) in found and ("M001", 2) in found
    status, out, err = amct("plan", "quant.cfg", "--model", "prog.pt2")
    assert status == 0, err
    plan = json.loads(out)
    assert [(layer["name"], layer["quantize"]) for layer in plan["layers"]] == [
        ("0", True), ("3", True), ("6", False)]
    assert plan["fusions"] == [{"conv": "0", "bn": "1"}]
    status, out, _ = amct("explain", "quant.cfg", "--layer", "3", "--model", "prog.pt2")
    assert status == 0 and "weight.algo = arq" in out


@pytest.mark.parametrize("argv", [
    ["layers", "--model", "{}"],
    ["plan", "quant.cfg", "--model", "{}"],
    ["lint", "quant.cfg", "--model", "{}"],
])
@pytest.mark.parametrize("name, message", [
    ("garbage.pt2", "is not a torch.export program (not a zip archive)"),
    ("missing.pt2", "cannot read `missing.pt2`: No such file or directory"),
])
def test_bad_program_files_are_one_line(project: Path, argv: list[str], name: str, message: str) -> None:
    (project / "garbage.pt2").write_bytes(b"\x00garbage")
    status, out, err = amct(*[arg.format(name) for arg in argv])
    assert status == 2 and out == "" and "Traceback" not in err
    assert err.count("\n") == 1 and "`--model`: " in err and message in err


def test_quantize_refuses_a_program_file(project: Path) -> None:
    torch.save([torch.zeros(1, 1, 6, 6)], project / "calib.pt")
    status, out, err = amct("quantize", "quant.cfg", "--model", "prog.pt2", "--data", "calib.pt", "-o", "out")
    assert status == 2 and out == "" and err.count("\n") == 1
    assert ("`prog.pt2` names a program file, but quantizing needs the model itself: "
            "pass `package.module:factory`") in err
    assert not (project / "out" / "plan.json").exists()
