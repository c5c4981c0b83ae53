"""User metrics for the analysis tests (``--metric metrics_support:NAME``; a module name of its own, since
every test folder has a ``conftest``)."""

from __future__ import annotations

#: not a metric: a string where `--metric` expects a function
TITLE = "top-1 accuracy (%)"


def accuracy(outputs, batch) -> float:
    """A user metric: top-1 accuracy (%) of the logits on a labelled batch ``{"x": images, "labels": labels}``."""
    return float((outputs.argmax(1) == batch["labels"]).float().mean()) * 100.0


def broken(outputs, batch) -> float:
    """A user metric that fails."""
    raise ValueError("no labels in this batch")
