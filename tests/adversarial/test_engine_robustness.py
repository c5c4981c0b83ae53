"""Engine robustness (issue 9): bad calibration data, bad models, bad output
folders. Each case ends in a clear message, nothing half written, and the
user's model untouched (same parameters, buffers and mode).

The config goes through the real pipeline: ``cfglang.resolve`` against
``quant.model_inventory(model)``, then ``quant.quantize``; the output-folder cases run
``amct quantize`` in-process.
"""

from __future__ import annotations

import io
import sys
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import cfglang  # noqa: E402

CONFIG = "batch_num: 3\ncommon_config { ifmr_quantize { asymmetric: true } }\n"


class Net(nn.Module):
    """Conv + BN + ReLU, adaptive pool, Linear: any input height and width works."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.relu(self.bn(self.conv(x)))), 1))


def _snapshot(model: nn.Module) -> tuple:
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return state, [m.training for m in model.modules()]


def _same(model: nn.Module, snap: tuple) -> bool:
    state, modes = snap
    now = model.state_dict()
    return (now.keys() == state.keys() and all(torch.equal(now[k], state[k]) for k in state)
            and [m.training for m in model.modules()] == modes)


def _plan(model: nn.Module, config: str = CONFIG):
    from quant import model_inventory

    return cfglang.resolve(config, model_inventory(model))


def _quantize(model, plan, batches):
    from quant import quantize

    return quantize(model, plan, batches, progress=False)


def _batches(n: int = 3, shape=(2, 3, 8, 8)) -> list:
    g = torch.Generator().manual_seed(1)
    return [torch.randn(*shape, generator=g) for _ in range(n)]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_calibration_data_names_the_layer_and_batch(bad: float) -> None:
    from quant import QuantizeError

    model = Net().eval()
    snap = _snapshot(model)
    batches = _batches()
    batches[1][0, 0, 0, 0] = bad
    with pytest.raises(QuantizeError) as info:
        _quantize(model, _plan(model), batches)
    message = str(info.value)
    assert "`conv`" in message  # the first layer that sees it
    assert "batch 1" in message or "batch 2" in message  # 0- or 1-based, but the batch is named
    assert "nan" in message or "inf" in message
    assert _same(model, snap)


@pytest.mark.parametrize("value", [0.0, 3.5])
def test_constant_activations_calibrate_to_finite_parameters(value: float) -> None:
    model = Net().eval()
    snap = _snapshot(model)
    batches = [torch.full((2, 3, 8, 8), value) for _ in range(3)]
    result = _quantize(model, _plan(model), batches)
    for layer in result.layers:
        assert torch.isfinite(torch.tensor(layer.scale_d)) and layer.scale_d > 0, layer.name
    out = result.model(batches[0])
    assert bool(torch.isfinite(out).all())
    if value == 0.0:
        assert result.layer("conv").scale_d == 1.0  # as in AMCT: a scale below epsilon becomes 1.0
    assert _same(model, snap)


def test_batches_of_varying_shape() -> None:
    model = Net().eval()
    snap = _snapshot(model)
    batches = [torch.randn(1, 3, 8, 8), torch.randn(4, 3, 6, 10), torch.randn(2, 3, 12, 12)]
    result = _quantize(model, _plan(model), batches)
    for x in batches:
        assert bool(torch.isfinite(result.model(x)).all())
    assert _same(model, snap)


def test_fewer_batches_than_batch_num_fails_before_any_work() -> None:
    from quant import QuantizeError

    model = Net().eval()
    snap = _snapshot(model)
    calls = []
    model.register_forward_pre_hook(lambda m, a: calls.append(1))
    with pytest.raises(QuantizeError) as info:
        _quantize(model, _plan(model), iter(_batches(2)))
    assert "2 calibration batches" in str(info.value) and "3" in str(info.value)
    assert calls == []  # no forward pass ran
    assert _same(model, snap)


def test_model_in_train_mode_is_refused() -> None:
    from quant import QuantizeError

    model = Net().train()
    snap = _snapshot(model)
    with pytest.raises(QuantizeError) as info:
        _quantize(model, _plan(model), _batches())
    assert "train mode" in str(info.value) and "eval" in str(info.value)
    assert _same(model, snap) and model.training


def test_the_users_model_is_untouched_by_a_successful_run() -> None:
    model = Net().eval()
    snap = _snapshot(model)
    result = _quantize(model, _plan(model), _batches())
    assert result.model is not model
    assert _same(model, snap)


# ----------------------------------------------------------------- amct quantize and its output folder


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "h8model.py").write_text(textwrap.dedent('''
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                torch.manual_seed(0)
                self.conv = nn.Conv2d(3, 4, 3, padding=1)
                self.relu = nn.ReLU()
                self.pool = nn.AdaptiveAvgPool2d(2)
                self.fc = nn.Linear(16, 3)

            def forward(self, x):
                return self.fc(torch.flatten(self.pool(self.relu(self.conv(x))), 1))

        def make():
            return Net()
    '''))
    (tmp_path / "quant.cfg").write_text(CONFIG)
    torch.save(_batches(), tmp_path / "calib.pt")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("h8model", None)


def _amct(*argv: str) -> tuple[int, str, str]:
    from amct_cli import run

    out, err = io.StringIO(), io.StringIO()
    code = run(["quantize", "quant.cfg", "--model", "h8model:make", "--data", "calib.pt", "--no-progress", *argv],
               out, err)
    return code, out.getvalue(), err.getvalue()


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_quantize_writes_its_outputs(project: Path) -> None:
    code, out, err = _amct("-o", "out")
    assert code == 0, err
    assert (project / "out" / "record.txt").is_file()
    assert not [p for p in (project / "out").iterdir() if p.name.endswith(".tmp")]


def test_existing_outputs_are_kept_without_force(project: Path) -> None:
    out = project / "out"
    out.mkdir()
    (out / "record.txt").write_text("mine\n")
    before = _tree(project)
    code, _, err = _amct("-o", "out")
    assert code == 2
    assert "record.txt" in err and "--force" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert _tree(project) == before  # nothing written, nothing replaced
    code, _, err = _amct("-o", "out", "--force")
    assert code == 0, err
    assert (out / "record.txt").read_text() != "mine\n"


def test_output_folder_that_cannot_be_created(project: Path) -> None:
    (project / "blocker").write_text("a file, not a folder\n")
    before = _tree(project)
    code, _, err = _amct("-o", "blocker/out")
    assert code == 2
    assert "blocker" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert _tree(project) == before


def test_output_folder_that_cannot_be_created_is_a_user_error(project: Path) -> None:
    (project / "blocker").write_text("a file, not a folder\n")
    code, _, err = _amct("-o", "blocker/out")
    assert code == 2
    assert "internal error" not in err, err  # a user error (a bad -o), not a failure of the tool


def test_output_folder_that_is_not_writable(project: Path) -> None:
    import os

    out = project / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        if os.access(out, os.W_OK):
            pytest.skip("running with privileges that ignore folder permissions (root)")
        code, _, err = _amct("-o", "ro")
        assert code == 2
        assert "ro" in err and "Traceback" not in err
        assert list(out.iterdir()) == []
    finally:
        out.chmod(0o700)
