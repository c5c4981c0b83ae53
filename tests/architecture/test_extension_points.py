"""The paths of docs/architecture.md, "Where does my change go", walked once each in the tests' own fixtures.

Each test adds one thing through the table the docs name (a rule and its check, a calibrator, a weight
algorithm, an output format, a subcommand) and shows that the pipeline picks it up with nothing else
changed. The tables are patched for the test only.
"""

from __future__ import annotations

import types

import pytest

from clirun import amct

CONFIG = """batch_num: 1
common_config {
  arq_quantize { channel_wise: false }
  ifmr_quantize { }
}
"""


def test_a_rule_and_its_check(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    from cfglang import rules
    from cfglang.checker import check
    from cfglang.diagnostics import Severity
    from cfglang.rules import value
    from cfglang.rules.findings import Finding

    code = rules.rule("V999", "batch-num-above-hundred", Severity.WARNING, "batch_num above 100",
                      "A test rule.", "batch_num: 101\n", "batch_num: 2\n", family="value")
    request.addfinalizer(lambda: rules.REGISTRY.pop(code))
    checks = list(value.CHECKS.messages.get("AMCTConfig", []))
    monkeypatch.setitem(value.CHECKS.messages, "AMCTConfig", checks)

    @value.CHECKS.on("AMCTConfig")
    def batch_num_above_hundred(config, target):
        if config.batch_num > 100:
            yield Finding(code, f"`batch_num: {config.batch_num}` is above 100", ("batch_num",))

    found = [d for d in check("batch_num: 101\n").diagnostics if d.code == "V999"]
    assert [(d.severity, d.span.line, d.span.column, rules.get("V999").stage) for d in found] == [
        (Severity.WARNING, 1, 12, "check")]
    assert not [d for d in check("batch_num: 2\n").diagnostics if d.code == "V999"]


@pytest.fixture(scope="module")
def small_model():
    torch = pytest.importorskip("torch")
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)).eval()
    return model, [torch.randn(32, 8)]


def _plan(model):
    import warnings

    import cfglang
    import quant

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cfglang.resolve(CONFIG, quant.model_inventory(model))


def test_a_calibrator(monkeypatch: pytest.MonkeyPatch, small_model) -> None:
    import quant
    from quant import calibrators
    from quant.calibrators import ActivationQParams
    from quant.core import IFMRSpec

    class MinMax:
        """Symmetric min/max over every batch (the simplest calibrator)."""

        def __init__(self, spec, num_batches):
            self.bound = 0.0

        def observe(self, x):
            self.bound = max(self.bound, float(x.abs().max()))

        def compute(self):
            return ActivationQParams(self.bound / 127, 0, -self.bound, self.bound)

    monkeypatch.setitem(calibrators.CALIBRATORS, IFMRSpec, MinMax)
    model, batches = small_model
    result = quant.quantize(model, _plan(model), batches, progress=False)
    first = result.layers[0]
    assert first.name == "0"
    assert first.clip_max == pytest.approx(float(batches[0].abs().max()))
    assert first.scale_d == pytest.approx(first.clip_max / 127)


def test_a_weight_algorithm(monkeypatch: pytest.MonkeyPatch, small_model) -> None:
    import torch

    import quant
    from quant import engine
    from quant.arq import WeightQuant
    from quant.core import ARQSpec

    def power_of_two(module, spec, context):
        """Per-tensor scales rounded up to a power of two."""
        bound = float(module.weight.detach().abs().max())
        scale = torch.tensor(2.0 ** torch.ceil(torch.log2(torch.tensor(bound / 127))).item())
        codes = torch.clamp(torch.round(module.weight / scale), -128, 127).to(torch.int8)
        return WeightQuant(codes, scale, 0, spec.bits, False)

    monkeypatch.setitem(engine.WEIGHT_ALGOS, ARQSpec, power_of_two)
    model, batches = small_model
    result = quant.quantize(model, _plan(model), batches, progress=False)
    for layer in result.layers:
        (scale,) = layer.scale_w
        assert scale == 2.0 ** round(torch.log2(torch.tensor(scale)).item())


def test_an_output_format(monkeypatch: pytest.MonkeyPatch, tmp_path, capsys) -> None:
    from cfglang import render

    def counts(reports, color=False):
        return "".join(f"{r.path}\t{len(r.diagnostics)}\n" for r in reports)

    monkeypatch.setitem(render.RENDERERS, "counts", counts)
    (tmp_path / "a.cfg").write_text("batch_num: 0\n")
    status, out, _ = amct("lint", str(tmp_path / "a.cfg"), "--format", "counts")
    assert status == 1
    assert out == f"{tmp_path / 'a.cfg'}\t1\n"


def test_a_subcommand(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import amct_cli

    module = types.ModuleType("amct_cli_hello")
    module.add_arguments = lambda parser: parser.add_argument("name")
    module.main = lambda args, stdout, stderr: stdout.write(f"hello {args.name}\n") and 0
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(amct_cli.COMMANDS, "hello", amct_cli.Command(module.__name__, "say hello"))
    assert amct("hello", "world") == (0, "hello world\n", "")
    assert "say hello" in amct("--help")[1]
