"""The bundled demo: a small CNN on scikit-learn's digits (8x8 images, no download).

Conv2d+BatchNorm2d+ReLU blocks (folded), AvgPool2d (activation-only quantization) and a Linear head,
so that every Engine-I layer kind shows. The trained weights are cached in the user's cache folder
(``$XDG_CACHE_HOME/amct-cfg`` or ``~/.cache/amct-cfg``); ``digits_cnn`` is a model factory usable as
``--model quant.demo:digits_cnn``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["DigitsCNN", "DigitsData", "load_digits_data", "train", "cache_dir", "cached_model_path", "trained_model",
           "digits_cnn", "calibration_batches", "accuracy", "DemoRow", "config_path", "evaluate", "ALGOS"]

_CACHE_NAME = "digits_cnn_v1.pt"
#: the bundled demo configs, ``quant/data/demo_<algo>.cfg``
ALGOS = ("ifmr", "hfmg")
_SEED = 0


class DigitsCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.relu2 = nn.ReLU()
        self.pool1 = nn.AvgPool2d(2)
        self.conv3 = nn.Conv2d(32, 32, 3, padding=1)
        self.bn3 = nn.BatchNorm2d(32)
        self.relu3 = nn.ReLU()
        self.pool2 = nn.AvgPool2d(2)
        self.fc = nn.Linear(32 * 2 * 2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.pool1(self.relu2(self.bn2(self.conv2(x))))
        x = self.pool2(self.relu3(self.bn3(self.conv3(x))))
        return self.fc(torch.flatten(x, 1))


@dataclass(frozen=True)
class DigitsData:
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def load_digits_data(test_size: int = 500) -> DigitsData:
    """The digits images scaled to [0, 1], shape ``[N, 1, 8, 8]``, and a fixed held-out split."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.from_numpy((digits.images / 16.0).astype(np.float32)).unsqueeze(1)
    y = torch.from_numpy(digits.target.astype(np.int64))
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(_SEED))
    test, train = order[:test_size], order[test_size:]
    return DigitsData(x[train], y[train], x[test], y[test])


def train(data: DigitsData, *, epochs: int = 10, seed: int = _SEED) -> DigitsCNN:
    """Train the CNN (a few seconds on a CPU); returned in eval mode."""
    torch.manual_seed(seed)
    model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(data.train_y), generator=gen)
        for i in range(0, len(order), 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(data.train_x[idx]), data.train_y[idx])
            loss.backward()
            opt.step()
    return model.eval()


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "amct-cfg"


def cached_model_path(cache: Path | None = None) -> Path:
    """Where the trained CNN's weights are cached (``cache``: the folder, default :func:`cache_dir`)."""
    return (cache or cache_dir()) / _CACHE_NAME


def trained_model(cache: Path | None = None, data: DigitsData | None = None) -> DigitsCNN:
    """The trained CNN: from the cache when there, else trained once and cached."""
    path = cached_model_path(cache)
    model = DigitsCNN()
    if path.is_file():
        try:
            model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            return model.eval()
        except Exception:  # a stale or broken cache file: retrain and replace it
            pass
    model = train(data or load_digits_data())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, path)
    return model


def digits_cnn() -> DigitsCNN:
    """Model factory for the command line: ``--model quant.demo:digits_cnn``."""
    return trained_model()


def calibration_batches(data: DigitsData, count: int, batch_size: int = 64) -> list[torch.Tensor]:
    return [data.train_x[i * batch_size:(i + 1) * batch_size] for i in range(count)]


def accuracy(logits: torch.Tensor | np.ndarray, labels: torch.Tensor) -> float:
    predicted = torch.as_tensor(np.asarray(logits)).argmax(dim=1)
    return float((predicted == labels).float().mean()) * 100.0


@dataclass(frozen=True)
class DemoRow:
    config: str
    findings: int
    fp32: float
    int8: float
    onnx: float
    agreement: float  # % of held-out samples where ONNX Runtime and torch fake-quant pick the same class
    cosine: float  # cosine of the two models' logits (all held-out samples)


def config_path(algo: str) -> Path:
    """A bundled demo config: ``quant/data/demo_<algo>.cfg``."""
    return Path(__file__).resolve().parent / "data" / f"demo_{algo}.cfg"


def evaluate(model: nn.Module, result, data: DigitsData, config: str, findings: int, fp32: float) -> DemoRow:
    from quant.onnx_export import onnx_session, run_onnx

    # ONNX Runtime without its integer rewrites (exact=True): with them its results depend on the CPU
    # (98.8% / 97.4% on an AVX2-only host against 99.4%), and the column would measure the host, not the export
    with torch.no_grad():
        fq_logits = result.model(data.test_x)
    ort_logits = torch.from_numpy(run_onnx(onnx_session(result.onnx_bytes(), exact=True), data.test_x))
    same = (ort_logits.argmax(1) == fq_logits.argmax(1)).float().mean().item() * 100.0
    cosine = nn.functional.cosine_similarity(ort_logits.reshape(1, -1).double(),
                                             fq_logits.reshape(1, -1).double()).item()
    return DemoRow(config, findings, fp32, accuracy(fq_logits, data.test_y), accuracy(ort_logits, data.test_y),
                   same, cosine)
