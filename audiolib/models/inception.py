"""Inception-V3 for 96x64 log-mel patches (H17 sec. 3.1), with torchvision's module names.

H17 (sec. 3.3.4): "We modified the inception V3 network by removing the first four layers of the
stem, up to and including the MaxPool, as well as removing the auxiliary network." Two readings:

- ``stem="4a"`` (the default): torchvision's stem is ``Conv2d_1a_3x3, Conv2d_2a_3x3,
  Conv2d_2b_3x3, maxpool1, Conv2d_3b_1x1, Conv2d_4a_3x3, maxpool2``; removing its first four
  *layers* counting the max pool and the 1x1 ``Conv2d_3b_1x1`` as layers too, the patch enters at
  ``Conv2d_4a_3x3``. With 3087 outputs this gives 27.9M weights and 4.64B multiplies, within 2 %
  of the paper's "28M weights and 4.7B multiplies": the reading that matches both counts.
- ``stem="3b"``: the patch enters at ``Conv2d_3b_1x1`` (the three convs and the first max pool
  removed). 28.0M weights but 5.44B multiplies, 16 % above the paper's 4.7B
  (``Conv2d_4a_3x3`` on 80 channels alone costs 0.81B).

In both, ``Conv2d_4a_3x3`` and ``MaxPool_5a`` (both unpadded) leave 46x30, the Mixed_6a and
Mixed_7a reductions leave 10x6, and the network ends with a 10x6 average pool (2048 features).
Everything else is Szegedy et al.'s network (torchvision's ``Inception3``): convs without bias
followed by batch norm (eps 0.001) and ReLU.

``width`` multiplies every branch's channels, so ``quick`` can train it on a CPU.

>>> m = create_model("inception_v3_audio", 10, width=0.25)   # doctest: +SKIP
>>> m(torch.zeros(2, 1, 96, 64)).shape                       # doctest: +SKIP
torch.Size([2, 10])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import AudioClassifier, scaled
from .registry import register_model


#: The two readings of "removing the first four layers of the stem" (see the module docstring).
STEMS = ("4a", "3b")


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BatchNorm (eps 0.001) -> ReLU."""

    def __init__(self, cin: int, cout: int, kernel, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class InceptionA(nn.Module):
    """35x35-grid module (Mixed_5b-d): 1x1, 5x5, double 3x3 and pooled branches."""

    def __init__(self, cin: int, pool_features: int, w: float):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, scaled(64, w), 1)
        self.branch5x5_1 = BasicConv2d(cin, scaled(48, w), 1)
        self.branch5x5_2 = BasicConv2d(scaled(48, w), scaled(64, w), 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, scaled(64, w), 1)
        self.branch3x3dbl_2 = BasicConv2d(scaled(64, w), scaled(96, w), 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(scaled(96, w), scaled(96, w), 3, padding=1)
        self.branch_pool = BasicConv2d(cin, scaled(pool_features, w), 1)
        self.out_channels = 2 * scaled(64, w) + scaled(96, w) + scaled(pool_features, w)

    def forward(self, x):
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1))
        return torch.cat([b1, b5, b3, bp], 1)


class InceptionB(nn.Module):
    """Grid reduction (Mixed_6a): strided 3x3, strided double 3x3, max pool."""

    def __init__(self, cin: int, w: float):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, scaled(384, w), 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, scaled(64, w), 1)
        self.branch3x3dbl_2 = BasicConv2d(scaled(64, w), scaled(96, w), 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(scaled(96, w), scaled(96, w), 3, stride=2)
        self.out_channels = scaled(384, w) + scaled(96, w) + cin

    def forward(self, x):
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([b3, bd, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionC(nn.Module):
    """17x17-grid module (Mixed_6b-e) with factorised 1x7 / 7x1 convs."""

    def __init__(self, cin: int, channels_7x7: int, w: float):
        super().__init__()
        c7, c192 = scaled(channels_7x7, w), scaled(192, w)
        self.branch1x1 = BasicConv2d(cin, c192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, c192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, c192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, c192, 1)
        self.out_channels = 4 * c192

    def forward(self, x):
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                      self.branch7x7dbl_5):
            bd = layer(bd)
        bp = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1))
        return torch.cat([b1, b7, bd, bp], 1)


class InceptionD(nn.Module):
    """Grid reduction (Mixed_7a)."""

    def __init__(self, cin: int, w: float):
        super().__init__()
        c192 = scaled(192, w)
        self.branch3x3_1 = BasicConv2d(cin, c192, 1)
        self.branch3x3_2 = BasicConv2d(c192, scaled(320, w), 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, c192, 1)
        self.branch7x7x3_2 = BasicConv2d(c192, c192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(c192, c192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(c192, c192, 3, stride=2)
        self.out_channels = scaled(320, w) + c192 + cin

    def forward(self, x):
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([b3, b7, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionE(nn.Module):
    """8x8-grid module (Mixed_7b-c) with expanded 1x3 / 3x1 branches."""

    def __init__(self, cin: int, w: float):
        super().__init__()
        c384 = scaled(384, w)
        self.branch1x1 = BasicConv2d(cin, scaled(320, w), 1)
        self.branch3x3_1 = BasicConv2d(cin, c384, 1)
        self.branch3x3_2a = BasicConv2d(c384, c384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(c384, c384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, scaled(448, w), 1)
        self.branch3x3dbl_2 = BasicConv2d(scaled(448, w), c384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(c384, c384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(c384, c384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, scaled(192, w), 1)
        self.out_channels = scaled(320, w) + 4 * c384 + scaled(192, w)

    def forward(self, x):
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        bp = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1))
        return torch.cat([b1, b3, bd, bp], 1)


class InceptionV3Trunk(nn.Module):
    """Inception-V3 from ``Conv2d_4a_3x3`` (or ``Conv2d_3b_1x1``) to the final average pool.

    ``[B, C, 96, 64] -> [B, 2048 * w]``.

    Args:
        in_chans: input channels.
        stem: where the patch enters: ``"4a"`` (default, matches the paper's counts) or ``"3b"``
            (see the module docstring).
        width: channel multiplier.
        pool_size: the final average-pool kernel (H17: 10x6, the whole final map of a 96x64
            patch); ``None`` for a global average pool.
    """

    def __init__(self, in_chans: int = 1, width: float = 1.0, pool_size: tuple[int, int] | None = (10, 6),
                 stem: str = "4a"):
        super().__init__()
        if stem not in STEMS:
            raise ValueError(f"inception_v3_audio: stem must be one of {STEMS}, got {stem!r}")
        w = width
        self.stem = stem
        if stem == "3b":
            self.Conv2d_3b_1x1 = BasicConv2d(in_chans, scaled(80, w), 1)
        self.Conv2d_4a_3x3 = BasicConv2d(scaled(80, w) if stem == "3b" else in_chans, scaled(192, w), 3)
        self.maxpool2 = nn.MaxPool2d(3, stride=2)
        self.Mixed_5b = InceptionA(scaled(192, w), 32, w)
        self.Mixed_5c = InceptionA(self.Mixed_5b.out_channels, 64, w)
        self.Mixed_5d = InceptionA(self.Mixed_5c.out_channels, 64, w)
        self.Mixed_6a = InceptionB(self.Mixed_5d.out_channels, w)
        self.Mixed_6b = InceptionC(self.Mixed_6a.out_channels, 128, w)
        self.Mixed_6c = InceptionC(self.Mixed_6b.out_channels, 160, w)
        self.Mixed_6d = InceptionC(self.Mixed_6c.out_channels, 160, w)
        self.Mixed_6e = InceptionC(self.Mixed_6d.out_channels, 192, w)
        self.Mixed_7a = InceptionD(self.Mixed_6e.out_channels, w)
        self.Mixed_7b = InceptionE(self.Mixed_7a.out_channels, w)
        self.Mixed_7c = InceptionE(self.Mixed_7b.out_channels, w)
        self.pool_size = tuple(pool_size) if pool_size is not None else None
        self.avgpool = nn.AdaptiveAvgPool2d(1) if pool_size is None else nn.AvgPool2d(self.pool_size)
        self.out_features = self.Mixed_7c.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stem == "3b":
            x = self.Conv2d_3b_1x1(x)
        x = self.maxpool2(self.Conv2d_4a_3x3(x))
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e",
                     "Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = getattr(self, name)(x)
        if self.pool_size is not None and tuple(x.shape[-2:]) != self.pool_size:
            raise ValueError(f"inception_v3_audio: the final feature map is {tuple(x.shape[-2:])} but the average "
                             f"pool is fixed at {self.pool_size}; feed 96x64 patches or use pool_size=None")
        return torch.flatten(self.avgpool(x), 1)


@register_model
def inception_v3_audio(num_classes: int, *, width: float = 1.0, bottleneck: int | None = None, in_chans: int = 1,
                       pool_size: tuple[int, int] | None = (10, 6), dropout: float = 0.0,
                       stem: str = "4a") -> AudioClassifier:
    """H17's Inception-V3: the first four stem layers removed, no auxiliary head, 10x6 pool.

    ``stem="4a"`` (default): the patch enters at ``Conv2d_4a_3x3``; with 3087 outputs 27.9M
    weights and 4.64B multiplies (the paper, sec. 3.3.4: 28M and 4.7B). ``stem="3b"``: it enters
    at ``Conv2d_3b_1x1``; 28.0M weights and 5.44B multiplies.
    """
    trunk = InceptionV3Trunk(in_chans, width, pool_size, stem)
    return AudioClassifier(trunk, trunk.out_features, num_classes, bottleneck, dropout)
