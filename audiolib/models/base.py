"""The head every classifier shares: an optional bottleneck, then the output layer.

Models return logits ``[batch, num_classes]``; the sigmoid lives in the loss and in
:func:`audiolib.train.predict`. ``embedding(x)`` returns the penultimate representation
(the bottleneck when there is one), the one H17 transfers.
"""

from __future__ import annotations

import torch
from torch import nn


def scaled(channels: int, width: float) -> int:
    """``channels * width`` rounded, at least 1: the width multiplier of every family."""
    return max(1, int(round(channels * width)))


def fc_stack(in_features: int, units, dropout: float = 0.0) -> tuple[nn.Sequential, int]:
    """Fully-connected ReLU layers of the given ``units`` (each followed by dropout when > 0).

    Returns the stack ``[batch, in_features] -> [batch, units[-1]]`` and its output width
    (``in_features`` when ``units`` is empty).
    """
    blocks: list[nn.Module] = []
    width = in_features
    for n in units:
        blocks += [nn.Linear(width, n), nn.ReLU(inplace=True)]
        if dropout > 0:
            blocks.append(nn.Dropout(dropout))
        width = n
    return nn.Sequential(*blocks), width


class ClassifierHead(nn.Module):
    """``[batch, in_features] -> [batch, num_classes]`` through an optional linear bottleneck.

    The bottleneck is a linear layer of ``bottleneck`` units followed by ReLU (H17 sec. 3.3
    adds "a 128-unit bottleneck layer before the output").
    """

    def __init__(self, in_features: int, num_classes: int, bottleneck: int | None = None, dropout: float = 0.0):
        super().__init__()
        self.bottleneck = (
            nn.Sequential(nn.Linear(in_features, bottleneck), nn.ReLU(inplace=True)) if bottleneck else nn.Identity()
        )
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.embedding_dim = bottleneck or in_features
        self.output = nn.Linear(self.embedding_dim, num_classes)

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        return self.bottleneck(features)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.output(self.dropout(self.embed(features)))


class AudioClassifier(nn.Module):
    """A trunk producing ``[batch, features]`` followed by a :class:`ClassifierHead`.

    Input ``[batch, channels, frames, mels]`` (``[B, 1, 96, 64]`` for H17 patches).
    """

    def __init__(self, trunk: nn.Module, trunk_features: int, num_classes: int, bottleneck: int | None = None,
                 dropout: float = 0.0):
        super().__init__()
        self.trunk = trunk
        self.head = ClassifierHead(trunk_features, num_classes, bottleneck, dropout)
        self.num_classes = num_classes

    @property
    def embedding_dim(self) -> int:
        return self.head.embedding_dim

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate representation ``[batch, embedding_dim]``."""
        return self.head.embed(self.trunk(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))
