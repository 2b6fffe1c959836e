"""ResNets for log-mel inputs, with torchvision's parameter names.

One class, :class:`ResNetAudio`, covers the variants; entry points only set arguments:

- ``resnet50_audio`` (H17): bottleneck blocks (3, 4, 6, 3), **no stride on the first 7x7
  conv**, the stem max pool kept, average pool 6x4 (the final map of a 96x64 patch).
  With 3087 outputs: 30M weights and 1.9B multiplies in the paper.
- ``resnet34`` (C19): the standard torchvision ResNet-34 (basic blocks (3, 4, 6, 3), stem stride
  2, max pool, global average pool), ``in_chans`` 1 or 3, on 128x300 log-mel images.

State-dict names are torchvision's (``conv1``, ``bn1``, ``layer1``..``layer4`` with blocks
``conv1/bn1/conv2/bn2/(conv3/bn3)/downsample.0/.1``, ``fc``), so an ImageNet checkpoint loads
with :func:`load_torchvision_resnet`. The optional 128-unit bottleneck of H17 sits between the
pooled features and ``fc`` (``bottleneck.0``); without it the keys are exactly torchvision's.

>>> import torch
>>> from audiolib.models import create_model
>>> m = create_model("resnet50_audio", 10, width=0.25)
>>> m(torch.zeros(2, 1, 96, 64)).shape
torch.Size([2, 10])
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from .base import scaled
from .registry import register_model


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def _conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs (torchvision ``BasicBlock``); ``planes`` output channels."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided, as torchvision's v1.5) -> 1x1 with 4x expansion."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNetAudio(nn.Module):
    """A ResNet whose stem, pooling and widths are arguments.

    Args:
        block: ``"basic"`` or ``"bottleneck"``.
        layers: blocks per stage, e.g. ``(3, 4, 6, 3)``.
        num_classes: output units (logits).
        in_chans: input channels (1 for a log-mel image).
        width: multiplier on every stage's channels (64, 128, 256, 512 at 1.0).
        stem_stride: stride of the 7x7 ``conv1`` (torchvision: 2; H17: 1).
        stem_pool: keep the 3x3 stride-2 max pool after ``conv1``.
        pool_size: ``None`` for a global average pool, or a fixed ``(frames, mels)`` average-pool
            kernel (H17: ``(6, 4)``), which must cover the whole final map.
        bottleneck: units of an optional linear+ReLU layer before ``fc`` (H17: 128).
        dropout: dropout before ``fc``.

    Input ``[batch, in_chans, frames, mels]``; output logits ``[batch, num_classes]``.
    ``embedding(x)`` is the input of ``fc`` (``embedding_dim`` wide).
    """

    def __init__(self, block: str, layers: Sequence[int], num_classes: int, *, in_chans: int = 1,
                 width: float = 1.0, stem_stride: int = 2, stem_pool: bool = True,
                 pool_size: tuple[int, int] | None = None, bottleneck: int | None = None, dropout: float = 0.0):
        super().__init__()
        if block not in BLOCKS:
            raise ValueError(f"ResNetAudio: block must be one of {sorted(BLOCKS)}, got {block!r}")
        if len(layers) != 4 or any(n < 1 for n in layers):
            raise ValueError(f"ResNetAudio: layers must be four positive counts, got {tuple(layers)}")
        if in_chans < 1:
            raise ValueError(f"ResNetAudio: in_chans must be >= 1, got {in_chans}")
        block_cls = BLOCKS[block]
        self.num_classes = num_classes
        self.pool_size = tuple(pool_size) if pool_size is not None else None
        self.inplanes = scaled(64, width)
        self.conv1 = nn.Conv2d(in_chans, self.inplanes, 7, stride=stem_stride, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1) if stem_pool else nn.Identity()
        self.layer1 = self._make_layer(block_cls, scaled(64, width), layers[0], 1)
        self.layer2 = self._make_layer(block_cls, scaled(128, width), layers[1], 2)
        self.layer3 = self._make_layer(block_cls, scaled(256, width), layers[2], 2)
        self.layer4 = self._make_layer(block_cls, scaled(512, width), layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1) if pool_size is None else nn.AvgPool2d(self.pool_size)
        features = scaled(512, width) * block_cls.expansion
        self.bottleneck = nn.Sequential(nn.Linear(features, bottleneck), nn.ReLU(inplace=True)) if bottleneck else None
        self.embedding_dim = bottleneck or features
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(self.embedding_dim, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, block_cls, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block_cls.expansion:
            downsample = nn.Sequential(_conv1x1(self.inplanes, planes * block_cls.expansion, stride),
                                       nn.BatchNorm2d(planes * block_cls.expansion))
        stage = [block_cls(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block_cls.expansion
        stage += [block_cls(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled trunk features ``[batch, 512 * expansion * width]``."""
        if x.dim() != 4:
            raise ValueError(f"ResNetAudio expects [batch, channels, frames, mels], got shape {tuple(x.shape)}")
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        if self.pool_size is not None and tuple(x.shape[-2:]) != self.pool_size:
            raise ValueError(f"ResNetAudio: the final feature map is {tuple(x.shape[-2:])} but the average pool is "
                             f"fixed at {self.pool_size}; feed the input size the model was built for "
                             f"(96x64 patches for resnet50_audio) or use pool_size=None")
        return torch.flatten(self.avgpool(x), 1)

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate representation ``[batch, embedding_dim]`` (the bottleneck when present)."""
        z = self.features(x)
        return self.bottleneck(z) if self.bottleneck is not None else z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.embedding(x)))


@register_model
def resnet50_audio(num_classes: int, *, width: float = 1.0, bottleneck: int | None = None, in_chans: int = 1,
                   dropout: float = 0.0) -> ResNetAudio:
    """H17's ResNet-50: bottleneck blocks (3, 4, 6, 3), first 7x7 conv with stride 1, 6x4 average pool."""
    return ResNetAudio("bottleneck", (3, 4, 6, 3), num_classes, in_chans=in_chans, width=width, stem_stride=1,
                       stem_pool=True, pool_size=(6, 4), bottleneck=bottleneck, dropout=dropout)


@register_model(input_shape=(1, 128, 300))
def resnet34(num_classes: int, *, in_chans: int = 1, width: float = 1.0, bottleneck: int | None = None,
             dropout: float = 0.0) -> ResNetAudio:
    """torchvision's ResNet-34 (C19): basic blocks (3, 4, 6, 3), stride-2 stem, global average pool."""
    return ResNetAudio("basic", (3, 4, 6, 3), num_classes, in_chans=in_chans, width=width, stem_stride=2,
                       stem_pool=True, pool_size=None, bottleneck=bottleneck, dropout=dropout)


def load_torchvision_resnet(model: ResNetAudio, checkpoint_path: str | Path) -> dict[str, list[str]]:
    """Load an ImageNet torchvision ResNet state dict file into ``model``.

    The file is read with ``weights_only=True``; it may hold the state dict itself (as the
    files torchvision publishes do) or a dict with a ``"state_dict"`` or ``"model"`` entry.
    ``conv1`` is adapted to ``model``'s input channels: RGB filters are summed for one channel
    (a grey image through the RGB filters), kept for three. ``fc`` is skipped (left at its
    initialisation) when its shape differs, e.g. a different class count or a bottleneck.

    Returns:
        ``{"adapted": [...], "skipped": [...]}``: the tensor names changed or left out.

    Raises:
        FileNotFoundError / ValueError naming ``checkpoint_path`` when it is missing, unreadable
        or does not fit ``model`` (another depth or block type, a width other than 1.0).

    >>> m = create_model("resnet34", 50, in_chans=1)                          # doctest: +SKIP
    >>> load_torchvision_resnet(m, "resnet34-b627a593.pth")                    # doctest: +SKIP
    {'adapted': ['conv1.weight'], 'skipped': ['fc.weight', 'fc.bias']}
    """
    from audiolib.checkpoints import check_state_fits, read_torch_file

    path = Path(checkpoint_path)
    state = read_torch_file(path, "torchvision ResNet checkpoint")
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"torchvision ResNet checkpoint {path} does not hold a state dict of tensors")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    own = model.state_dict()
    adapted, skipped = [], []

    conv = state.get("conv1.weight")
    target = own.get("conv1.weight")
    if conv is not None and target is not None and conv.shape != target.shape:
        if conv.shape[1] == 3 and target.shape[1] == 1 and conv.shape[0] == target.shape[0] \
                and conv.shape[2:] == target.shape[2:]:
            state["conv1.weight"] = conv.sum(dim=1, keepdim=True)
            adapted.append("conv1.weight")
    for key in ("fc.weight", "fc.bias"):
        if key in state and key in own and state[key].shape != own[key].shape:
            skipped.append(key)
            del state[key]

    head_keys = {k for k in own if k.startswith(("fc.", "bottleneck."))}
    check_state_fits(own, state, where=f"torchvision ResNet checkpoint {path}",
                     target=f"{type(model).__name__} (it must be a torchvision ResNet of the same depth at width 1.0)",
                     optional=head_keys)
    skipped += sorted(k for k in head_keys if k not in state)
    model.load_state_dict(state, strict=False)
    return {"adapted": adapted, "skipped": sorted(set(skipped))}
