"""VGG for log-mel patches (H17) and the torchvision-style layer builder VGGish reuses.

H17 (sec. 3.1): "The only changes we made to VGG (configuration E) were to the final layer
(3087 units with a sigmoid) as well as the use of batch normalization instead of LRN."
Strides are unchanged, so a 96x64 patch ends as a 3x2 map of 512 channels after five
2x2 max pools, followed by the two 4096-unit fully-connected layers of VGG.

:func:`make_vgg_layers` builds ``features`` with torchvision's module indices
(conv, [bn], relu per number; a max pool per ``"M"``), so a VGGish state dict whose keys are
``features.N.weight`` loads into it.

>>> make_vgg_layers([64, "M", 128, "M"], batch_norm=False)[3]
Conv2d(64, 128, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .base import AudioClassifier, fc_stack, scaled
from .registry import register_model

#: Convolution configurations of Simonyan & Zisserman (A, B, D, E) and of VGGish.
CONFIGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
    "vggish": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M"],
}


def make_vgg_layers(cfg: Sequence[int | str], batch_norm: bool, in_channels: int = 1) -> nn.Sequential:
    """VGG's convolutional ``features``: 3x3 convs (padding 1) with ReLU, 2x2 max pools at ``"M"``.

    Module indices follow torchvision's ``make_layers``: each number adds ``Conv2d``,
    (``BatchNorm2d``,) ``ReLU``; each ``"M"`` adds ``MaxPool2d(2, 2)``.

    Args:
        cfg: channel counts and ``"M"`` markers, e.g. ``CONFIGS["vggish"]``.
        batch_norm: add a batch norm after every conv.
        in_channels: input channels (1 for a log-mel patch).

    Returns:
        ``nn.Sequential`` mapping ``[B, in_channels, H, W]`` to ``[B, last, H / 2^pools, W / 2^pools]``.

    >>> f = make_vgg_layers(CONFIGS["vggish"], batch_norm=False)
    >>> f(torch.zeros(1, 1, 96, 64)).shape
    torch.Size([1, 512, 6, 4])
    """
    if in_channels < 1:
        raise ValueError(f"make_vgg_layers: in_channels must be >= 1, got {in_channels}")
    layers: list[nn.Module] = []
    channels = in_channels
    for item in cfg:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        if not isinstance(item, int) or isinstance(item, bool) or item < 1:
            raise ValueError(f"make_vgg_layers: cfg entries must be positive ints or 'M', got {item!r}")
        layers.append(nn.Conv2d(channels, item, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(item))
        layers.append(nn.ReLU(inplace=True))
        channels = item
    return nn.Sequential(*layers)


class VGGTrunk(nn.Module):
    """``features`` then flatten then the fully-connected ``fc`` stack (``[B, fc_units[-1]]``)."""

    def __init__(self, features: nn.Sequential, flat_features: int, fc_units: Sequence[int], dropout: float):
        super().__init__()
        self.features = features
        self.fc, self.out_features = fc_stack(flat_features, fc_units, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))


@register_model
def vgg_audio(num_classes: int, *, config: str = "E", batch_norm: bool = True, fc_units: Sequence[int] = (4096, 4096),
              width: float = 1.0, bottleneck: int | None = None, dropout: float = 0.0,
              input_shape: tuple[int, int, int] = (1, 96, 64)) -> AudioClassifier:
    """H17's VGG: configuration ``E`` with batch norm after every conv, VGG's 4096-4096 FC layers.

    With 3087 outputs: 62M weights and 2.4B multiplies (paper, Table 1).

    Args:
        config: a key of :data:`CONFIGS`.
        fc_units: the fully-connected layers after the flattened conv map (empty for none).
        width: multiplier on every conv and FC width (``quick`` uses 0.25 or less).
        input_shape: ``(channels, frames, mels)``; frames and mels must survive the pools.
    """
    if config not in CONFIGS:
        raise ValueError(f"vgg_audio: config must be one of {sorted(CONFIGS)}, got {config!r}")
    cfg = [item if item == "M" else scaled(item, width) for item in CONFIGS[config]]
    pools = sum(item == "M" for item in cfg)
    channels, frames, mels = input_shape
    if frames < 2 ** pools or mels < 2 ** pools:
        raise ValueError(f"vgg_audio: input {frames}x{mels} is too small for {pools} 2x2 max pools")
    flat = [c for c in cfg if c != "M"][-1] * (frames // 2 ** pools) * (mels // 2 ** pools)
    trunk = VGGTrunk(make_vgg_layers(cfg, batch_norm, channels), flat, [scaled(u, width) for u in fc_units], dropout)
    return AudioClassifier(trunk, trunk.out_features, num_classes, bottleneck)

