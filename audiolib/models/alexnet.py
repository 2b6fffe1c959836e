"""AlexNet for 96x64 log-mel patches (H17 sec. 3.1).

The paper's changes to AlexNet: "an initial conv layer stride of 2x1 instead of 4x4", so that
the 96x64 patch gives about as many activations as the original 224x224x3 image
(48x64x96 vs 55x55x96); "batch normalization after every convolutional layer instead of local
response normalization"; no split of the filters across two GPUs. Everything else is
Krizhevsky's network with Caffe's paddings: 11x11x96 (no padding), 3x3/2 max pool,
5x5x256 (padding 2), 3x3/2 max pool, 3x3x384, 3x3x384, 3x3x256 (padding 1), max pool, then
4096-4096 fully-connected layers.

On a 96x64 patch conv5 leaves a 10x12 map. The paper's counts (37.3M weights, 767M
multiplies with 3087 outputs) are both met (37.4M, 768M) when that map is max-pooled to
2x2 = 1024 features before fc6; the paper does not say how its pool5 did this, so
``final_map=(2, 2)`` (the default) is an adaptive max pool. ``final_map=None`` keeps
AlexNet's own 3x3/2 pool5, which leaves 4x5 and gives fc6 21M weights (54.1M in all).

>>> import torch
>>> from audiolib.models import create_model
>>> m = create_model("alexnet_audio", 10, width=0.25)
>>> m(torch.zeros(2, 1, 96, 64)).shape
torch.Size([2, 10])
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .base import AudioClassifier, fc_stack, scaled
from .registry import register_model


def _conv_bn(cin: int, cout: int, kernel: int, stride: tuple[int, int] | int = 1, padding: int = 0) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True)]


class AlexNetTrunk(nn.Module):
    """Conv layers (``features``), pool5 and fc6-fc7 (``fc``); output ``[B, fc_units[-1]]``."""

    def __init__(self, in_chans: int, filters: Sequence[int], fc_units: Sequence[int], first_stride: tuple[int, int],
                 final_map: tuple[int, int] | None, input_hw: tuple[int, int], dropout: float):
        super().__init__()
        c1, c2, c3, c4, c5 = filters
        self.features = nn.Sequential(
            *_conv_bn(in_chans, c1, 11, stride=first_stride),
            nn.MaxPool2d(3, stride=2),
            *_conv_bn(c1, c2, 5, padding=2),
            nn.MaxPool2d(3, stride=2),
            *_conv_bn(c2, c3, 3, padding=1),
            *_conv_bn(c3, c4, 3, padding=1),
            *_conv_bn(c4, c5, 3, padding=1),
        )
        self.pool5 = nn.AdaptiveMaxPool2d(final_map) if final_map is not None else nn.MaxPool2d(3, stride=2)
        with torch.no_grad():
            flat = self.pool5(self.features(torch.zeros(1, in_chans, *input_hw))).numel()
        self.fc, self.out_features = fc_stack(flat, fc_units, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool5(self.features(x)), 1))


@register_model
def alexnet_audio(num_classes: int, *, width: float = 1.0, bottleneck: int | None = None,
                  first_stride: tuple[int, int] = (2, 1), final_map: tuple[int, int] | None = (2, 2),
                  fc_units: Sequence[int] = (4096, 4096), dropout: float = 0.0,
                  input_shape: tuple[int, int, int] = (1, 96, 64)) -> AudioClassifier:
    """H17's AlexNet: first conv stride 2x1, batch norm after every conv, no filter split.

    Args:
        width: multiplier on the conv filters (96, 256, 384, 384, 256) and FC units.
        first_stride: stride of the 11x11 conv (``(frames, mels)``; AlexNet's own is 4x4).
        final_map: size pool5 reduces conv5's map to (adaptive max pool); ``None`` for a 3x3/2 pool.
        input_shape: ``(channels, frames, mels)`` the FC layers are sized for.
    """
    channels, frames, mels = input_shape
    filters = [scaled(c, width) for c in (96, 256, 384, 384, 256)]
    try:
        trunk = AlexNetTrunk(channels, filters, [scaled(u, width) for u in fc_units], tuple(first_stride),
                             tuple(final_map) if final_map is not None else None, (frames, mels), dropout)
    except RuntimeError as exc:
        raise ValueError(f"alexnet_audio: input_shape {tuple(input_shape)} is too small for AlexNet's "
                         f"strides and pools ({exc})") from exc
    return AudioClassifier(trunk, trunk.out_features, num_classes, bottleneck)
