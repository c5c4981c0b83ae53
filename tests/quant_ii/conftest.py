"""Shared fixtures for engine II: a digits CNN trained once per session."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from torch import nn


@dataclass(frozen=True)
class Digits:
    model: nn.Module
    train_x: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    #: each quantized layer and the activation that consumes its output
    fused: dict[str, str | None]


class DigitsCNN(nn.Module):
    """A small CNN for 8x8 digits: conv-relu x2, pool, conv-relu, two Linear layers."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(32, 32, 3, padding=1)
        self.relu3 = nn.ReLU()
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.relu4 = nn.ReLU()
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu2(self.conv2(self.relu1(self.conv1(x)))))
        x = self.relu3(self.conv3(x))
        return self.fc2(self.relu4(self.fc1(self.flatten(x))))


def _train() -> Digits:
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32)[:, None] / 16.0
    y = torch.tensor(data.target)
    gen = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(x), generator=gen)
    train, test = perm[:1400], perm[1400:]
    torch.manual_seed(0)
    model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _epoch in range(10):
        for idx in torch.randperm(len(train), generator=gen).split(64):
            batch = train[idx]
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    fused = {"conv1": "relu1", "conv2": "relu2", "conv3": "relu3", "fc1": "relu4", "fc2": None}
    return Digits(model, x[train], x[test], y[test], fused)


@pytest.fixture(scope="session")
def digits() -> Digits:
    return _train()
