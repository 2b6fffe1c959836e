"""The fully-connected baseline of H17: N layers of M ReLU units on the flattened patch."""

from __future__ import annotations

import math

from torch import nn

from .base import AudioClassifier, fc_stack, scaled
from .registry import register_model


@register_model
def fc_audio(num_classes: int, *, layers: int = 3, units: int = 1000, width: float = 1.0,
             bottleneck: int | None = None, input_shape: tuple[int, int, int] = (1, 96, 64)) -> AudioClassifier:
    """H17's fully-connected network: ``layers`` x ``units`` ReLU (paper's best: 3 x 1000).

    With 3 x 1000 and 3087 outputs: 11.2M weights and 11.2M multiplies, as the paper lists.
    """
    if layers < 0:
        raise ValueError(f"fc_audio: layers must be >= 0, got {layers}")
    units = scaled(units, width)
    in_features = math.prod(input_shape)
    stack, _ = fc_stack(in_features, [units] * layers)
    trunk = nn.Sequential(nn.Flatten(), *stack)
    return AudioClassifier(trunk, units if layers else in_features, num_classes, bottleneck)
