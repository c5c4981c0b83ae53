"""all-MiniLM-L6-v2 as a sentence embedder: the model's output is the mean-pooled embedding (as
``tests/engine/minilm_support.embed`` computes it), so that the output cosine of ``quant.analyze`` and
``amct tune`` is the embedding cosine. The layers keep their names (the model's class is subclassed in
place), so ``examples/minilm*.cfg`` apply as they are."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))

import minilm_support  # noqa: E402

__all__ = ["mean_pooled", "minilm_embedder", "minilm_support"]


@functools.cache
def _pooled_class(base: type) -> type:
    class MeanPooled(base):
        def forward(self, input_ids=None, attention_mask=None, token_type_ids=None):
            hidden = super().forward(input_ids=input_ids, attention_mask=attention_mask,
                                     token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    MeanPooled.__name__ = MeanPooled.__qualname__ = f"MeanPooled{base.__name__}"
    return MeanPooled


def mean_pooled(model: nn.Module) -> nn.Module:
    """``model`` (a transformers encoder), its forward returning mean-pooled embeddings; changed in place."""
    model.__class__ = _pooled_class(type(model))
    return model


def minilm_embedder() -> nn.Module:
    """Model factory: all-MiniLM-L6-v2 (offline), returning sentence embeddings."""
    return mean_pooled(minilm_support.load()[1])


def batches(kind: str, size: int) -> list[dict[str, torch.Tensor]]:
    """The fixed sentences of ``kind`` (``eval``, ``calib``), tokenized into batches of ``size``."""
    tokenizer, _ = minilm_support.load()
    return minilm_support.batches(tokenizer, minilm_support.sentences(kind), size)
