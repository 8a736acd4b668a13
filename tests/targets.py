"""Target networks the core must handle (issue: Linear, Conv, Embedding, norms, attention,
recurrent, raw parameters, nested containers), each with a matching input batch."""

from __future__ import annotations

import torch
from torch import nn


class RawParameter(nn.Module):
    """A custom module with raw nn.Parameters (a matrix, a vector and a scalar)."""

    def __init__(self) -> None:
        super().__init__()
        self.matrix = nn.Parameter(torch.randn(6, 4) * 0.3)
        self.offset = nn.Parameter(torch.randn(4) * 0.1)
        self.scale = nn.Parameter(torch.tensor(1.5))

    def forward(self, x):
        return torch.tanh(x @ self.matrix + self.offset) * self.scale


class SelfAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(8, num_heads=2, batch_first=True)
        self.out = nn.Linear(8, 3)

    def forward(self, x):
        y, _ = self.attn(x, x, x)
        return self.out(y.mean(dim=1))


class Recurrent(nn.Module):
    def __init__(self, kind: type[nn.RNNBase], **kwargs) -> None:
        super().__init__()
        self.rnn = kind(5, 6, batch_first=True, **kwargs)
        width = 6 * (2 if kwargs.get("bidirectional") else 1)
        self.out = nn.Linear(kwargs.get("proj_size") or width, 2)

    def forward(self, x):
        y = self.rnn(x)[0]
        return self.out(y.mean(dim=1))


class Nested(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleDict(
            {
                "a": nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.ReLU()),
                "b": nn.ModuleList([nn.Linear(8, 8), nn.Sequential(nn.Linear(8, 4))]),
            }
        )

    def forward(self, x):
        h = self.blocks["a"](x)
        h = torch.relu(self.blocks["b"][0](h)) + h
        return self.blocks["b"][1](h)


def _conv_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(4, 8, 3, padding=1, groups=2),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, groups=8),
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, 3),
    )


# name -> (factory, input factory for a batch of b)
TARGETS = {
    "linear": (lambda: nn.Linear(6, 3), lambda b: torch.randn(b, 6)),
    "conv1d_groups": (
        lambda: nn.Sequential(nn.Conv1d(4, 6, 3, groups=2), nn.ReLU(), nn.Conv1d(6, 2, 3)),
        lambda b: torch.randn(b, 4, 10),
    ),
    "conv2d_groups": (_conv_net, lambda b: torch.randn(b, 4, 6, 6)),
    "conv_transpose2d": (
        lambda: nn.ConvTranspose2d(4, 2, 3, stride=2, groups=2),
        lambda b: torch.randn(b, 4, 5, 5),
    ),
    "embedding": (
        lambda: nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(4 * 7, 2)),
        lambda b: torch.randint(0, 10, (b, 7)),
    ),
    "layernorm": (
        lambda: nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.Linear(8, 2)),
        lambda b: torch.randn(b, 6),
    ),
    "groupnorm": (
        lambda: nn.Sequential(
            nn.Conv2d(3, 4, 3), nn.GroupNorm(2, 4), nn.ReLU(), nn.Flatten(), nn.Linear(64, 2)
        ),
        lambda b: torch.randn(b, 3, 6, 6),
    ),
    "batchnorm2d": (
        lambda: nn.Sequential(
            nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 2)
        ),
        lambda b: torch.randn(b, 3, 6, 6),
    ),
    "multihead_attention": (SelfAttention, lambda b: torch.randn(b, 5, 8)),
    "gru": (lambda: Recurrent(nn.GRU, num_layers=2), lambda b: torch.randn(b, 7, 5)),
    "lstm": (lambda: Recurrent(nn.LSTM, bidirectional=True), lambda b: torch.randn(b, 7, 5)),
    "raw_parameter": (RawParameter, lambda b: torch.randn(b, 6)),
    "nested": (Nested, lambda b: torch.randn(b, 6)),
}
