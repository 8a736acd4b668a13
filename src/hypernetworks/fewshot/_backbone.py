"""The shared feature extractor: a Conv-4 network (conv 3×3 → GroupNorm → ReLU → max-pool)."""

from __future__ import annotations

from torch import Tensor, nn

from .._checks import check_positive_int

__all__ = ["ConvNet"]


class ConvNet(nn.Module):
    """Conv-4 backbone of the few-shot literature, with GroupNorm instead of BatchNorm.

    GroupNorm normalizes each image on its own, so no method sees the statistics of an
    episode's other images (no transductive batch statistics, also not for MAML), and
    train and test behave alike.

    Args:
        in_channels: image channels.
        channels: width of every block.
        blocks: number of conv blocks; each halves the resolution (28 → 14 → 7 → 3 → 1).

    Example:
        >>> import torch
        >>> from hypernetworks.fewshot import ConvNet
        >>> net = ConvNet(channels=16)
        >>> net(torch.zeros(5, 1, 28, 28)).shape, net.out_features
        (torch.Size([5, 16]), 16)
    """

    def __init__(self, in_channels: int = 1, channels: int = 32, blocks: int = 4) -> None:
        super().__init__()
        check_positive_int(in_channels, "in_channels")
        check_positive_int(channels, "channels")
        check_positive_int(blocks, "blocks")
        layers: list[nn.Module] = []
        width = in_channels
        for _ in range(blocks):
            layers += [
                nn.Conv2d(width, channels, 3, padding=1),
                nn.GroupNorm(min(8, channels), channels),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            width = channels
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.blocks = blocks
        self.channels = channels

    @property
    def out_features(self) -> int:
        """Feature size for 28 × 28 inputs."""
        side = 28
        for _ in range(self.blocks):
            side //= 2
        return self.channels * side * side

    def forward(self, x: Tensor) -> Tensor:
        """``[n, C, H, W]`` images → ``[n, features]``."""
        return self.features(x)
