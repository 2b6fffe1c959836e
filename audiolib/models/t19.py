"""Tompkins & Nichols (DCASE 2019 Task 5, "CNN+VGGish"): the log-mel CNN of their Table 1 and
the bilinear fusion with VGGish embeddings of their Table 2.

Their Table 1, as we read it (the authors' code, github.com/microsoft/dcase-2019 ``train.py``,
``AudioCNN``, has the same numbers), on a 128-mel x 862-frame log spectrogram laid out
``[batch, 1, mels, frames]`` (librosa's layout, which theirs was):

=====  ========  ======  =======  =======  ================================================
block  channels  kernel  stride   padding  then
=====  ========  ======  =======  =======  ================================================
1      8         1x1     1x1      0x0      BN, ReLU, dropout 0.5
2      16        3x3     1x1      1x1      BN, ReLU, dropout 0.5
3      32        16x128  4x16     8x16     BN, ReLU, max pool 4x4, dropout 0.5
4      64        5x5     2x2      1x1      BN, ReLU, dropout 0.5
5      128       5x5     2x2      1x1      BN, ReLU, dropout 0.5
6      256       3x3     2x2      1x1      BN, ReLU, dropout 0.5
=====  ========  ======  =======  =======  ================================================

Each block is conv -> batch norm -> ReLU -> (max pool) -> dropout. A 128 x 862 input ends as
256 x 1 x 1 (block 3 gives 33 x 48, pooled 8 x 12; then 3 x 5, 1 x 2, 1 x 1). Other input
sizes end in a larger map; a global max pool then reduces it to 256 (an identity at the
paper's size; our addition so that shorter clips also run).

Their Table 2, the fusion head: a bilinear layer of the CNN's 256 features and the clip's
10 x 128 VGGish embeddings flattened to 1280 -> 512, batch norm, ReLU, dropout 0.2; a linear
layer 512 -> 256, batch norm, ReLU, dropout 0.2; a linear output layer (37 = 29 fine + 8
coarse, 29 fine, or 8 coarse outputs, as logits).

One tensor carries both inputs of the fusion model, so that the generic training loop can move
it to the device: ``[batch, 1, 128, frames + 10]``, the spectrogram followed by ten columns
holding the ten 128-d VGGish embeddings (:func:`pack_inputs`, :func:`unpack_inputs`).

``width`` scales every channel and hidden width (1.0 = the paper's; the 1280-d VGGish input
stays). At width 1 the bilinear layer alone holds 256 x 1280 x 512 = 168 M weights, as theirs.

A quirk of the report: sec. 4.1's text says the 256-d CNN output and the 1280 VGGish values are
"concatenated to yield a 1536-dimensional vector" followed by three fully-connected layers, while
its Table 2 names a bilinear first layer. ``fusion="bilinear"`` (default) follows Table 2 and the
authors' code; ``fusion="concat"`` follows the text. With 1024-d YAMNet embeddings
(``embedding_dim=1024``: 10 x 1024 = 10240 values) a bilinear layer would hold 256 x 10240 x 512
= 1.3 G weights at width 1, so the YAMNet branch uses the concatenation.

>>> m = t19_fusion(num_classes=37, width=0.25)
>>> m(m.example_input(2)).shape
torch.Size([2, 37])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import scaled
from .registry import register_model

__all__ = ["CNN_BLOCKS", "T19CNN", "T19Classifier", "T19Fusion", "t19_cnn", "t19_fusion", "pack_inputs",
           "unpack_inputs", "embedding_columns", "feature_map_sizes", "FUSIONS", "N_MELS", "N_FRAMES", "VGGISH_FRAMES", "VGGISH_DIM"]

N_MELS = 128
N_FRAMES = 862  # 10 s at 44.1 kHz, hop 512, centred frames
VGGISH_FRAMES = 10  # 0.96 s examples in 10 s
VGGISH_DIM = 128
FUSIONS = ("bilinear", "concat")

#: (out channels, kernel, stride, padding, max pool) of the six blocks of Table 1.
CNN_BLOCKS = (
    (8, (1, 1), (1, 1), (0, 0), None),
    (16, (3, 3), (1, 1), (1, 1), None),
    (32, (16, 128), (4, 16), (8, 16), (4, 4)),
    (64, (5, 5), (2, 2), (1, 1), None),
    (128, (5, 5), (2, 2), (1, 1), None),
    (256, (3, 3), (2, 2), (1, 1), None),
)


def feature_map_sizes(mels: int, frames: int) -> list[tuple[int, int]]:
    """Height x width after each block of Table 1 (sizes < 1 mean the input is too small).

    >>> feature_map_sizes(128, 862)[2:]
    [(8, 12), (3, 5), (1, 2), (1, 1)]
    """
    sizes, h, w = [], mels, frames
    for _, kernel, stride, padding, pool in CNN_BLOCKS:
        if h < 1 or w < 1:
            sizes.append((0, 0))
            continue
        h = (h + 2 * padding[0] - kernel[0]) // stride[0] + 1
        w = (w + 2 * padding[1] - kernel[1]) // stride[1] + 1
        if pool and h >= 1 and w >= 1:
            h, w = h // pool[0], w // pool[1]
        sizes.append((h, w))
    return sizes


class Bilinear(nn.Bilinear):
    """``nn.Bilinear`` (same parameters, same result) computed as one matrix product.

    ``y_o = x1^T W_o x2 + b_o``: first ``x2 @ W`` as a ``[J, O * I]`` matrix, then a contraction
    with ``x1``. PyTorch's own CPU kernel (``_trilinear``) runs hundreds of small batched
    products in the backward pass and is an order of magnitude slower for T19's 256 x 1280 -> 512.
    """

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        out_f, in1, in2 = self.weight.shape
        t = x2 @ self.weight.permute(2, 0, 1).reshape(in2, out_f * in1)  # [B, O * I]
        y = torch.bmm(t.view(-1, out_f, in1), x1.unsqueeze(-1)).squeeze(-1)  # [B, O]
        return y + self.bias if self.bias is not None else y


class StridedConv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters, same result) for a kernel that is a multiple of its stride,
    computed as a stride-1 convolution of the space-to-depth rearranged input.

    Block 3's 16 x 128 kernel with stride 4 x 16 becomes a 4 x 8 kernel over ``64 * C`` channels:
    the same multiplies, but several times faster on CPU than the direct large-kernel
    convolution (whose backward pass is the most expensive step of the whole model).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        if kh % sh or kw % sw or self.dilation != (1, 1) or self.groups != 1 or self.padding_mode != "zeros":
            return super().forward(x)
        x = F.pad(x, (pw, pw, ph, ph))
        b, c, h, w = x.shape
        h, w = (h - kh) // sh * sh + kh, (w - kw) // sw * sw + kw  # the rows/columns the conv uses
        h, w = -(-h // sh) * sh, -(-w // sw) * sw
        x = F.pad(x, (0, max(0, w - x.shape[3]), 0, max(0, h - x.shape[2])))[:, :, :h, :w]
        z = x.reshape(b, c, h // sh, sh, w // sw, sw).permute(0, 1, 3, 5, 2, 4).reshape(b, c * sh * sw, h // sh, w // sw)
        o = self.out_channels
        weight = self.weight.reshape(o, c, kh // sh, sh, kw // sw, sw).permute(0, 1, 3, 5, 2, 4)
        return F.conv2d(z, weight.reshape(o, c * sh * sw, kh // sh, kw // sw), self.bias)


class ConvBlock(nn.Sequential):
    """conv -> BN -> ReLU -> (max pool) -> dropout, the authors' ``ConvBlock``."""

    def __init__(self, c_in: int, c_out: int, kernel, stride, padding, pool, dropout: float):
        conv = StridedConv2d if max(kernel) > 8 else nn.Conv2d
        layers = [conv(c_in, c_out, kernel, stride, padding), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        if pool:
            layers.append(nn.MaxPool2d(pool, stride=pool))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        super().__init__(*layers)


class T19CNN(nn.Module):
    """The six conv blocks of Table 1: ``[B, 1, 128, frames]`` -> ``[B, out_features]``.

    Args:
        width: channel multiplier (1.0: 8 ... 256 channels).
        dropout: after every block (0.5 in the paper).
    """

    def __init__(self, width: float = 1.0, dropout: float = 0.5):
        super().__init__()
        blocks, c_in = [], 1
        for c_out, kernel, stride, padding, pool in CNN_BLOCKS:
            c_out = scaled(c_out, width)
            blocks.append(ConvBlock(c_in, c_out, kernel, stride, padding, pool, dropout))
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.out_features = c_in

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        if spec.dim() != 4 or spec.shape[1] != 1:
            raise ValueError(f"T19 CNN expects [batch, 1, mels, frames], got {tuple(spec.shape)}")
        if min(feature_map_sizes(spec.shape[2], spec.shape[3])[-1]) < 1:
            raise ValueError(f"T19 CNN: a {spec.shape[2]} x {spec.shape[3]} (mels x frames) input is too small for "
                             "the six blocks of Table 1 (at least 108 mels and 528 frames)")
        x = self.blocks(spec)
        return torch.amax(x, dim=(2, 3))


def _head(hidden: tuple[int, int], num_classes: int, dropout: float) -> nn.ModuleDict:
    return nn.ModuleDict({
        "bn1": nn.BatchNorm1d(hidden[0]), "fc2": nn.Linear(hidden[0], hidden[1]), "bn2": nn.BatchNorm1d(hidden[1]),
        "drop": nn.Dropout(dropout), "out": nn.Linear(hidden[1], num_classes),
    })


class _T19Base(nn.Module):
    """Shared tail: fc1 output -> BN, ReLU, dropout -> fc2 -> BN, ReLU, dropout (= embedding) -> out."""

    def _tail(self, h: torch.Tensor) -> torch.Tensor:
        t = self.tail
        h = t["drop"](torch.relu(t["bn1"](h)))
        return t["drop"](torch.relu(t["bn2"](t["fc2"](h))))

    @property
    def embedding_dim(self) -> int:
        return self.tail["fc2"].out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail["out"](self.embedding(x))


class T19Classifier(_T19Base):
    """The Table 1 CNN alone, with the fusion head's layers but a linear first layer (256 -> 512)
    in place of the bilinear one (our CNN-only baseline; the paper's head needs VGGish)."""

    def __init__(self, num_classes: int, width: float = 1.0, dropout: float = 0.5, head_dropout: float = 0.2):
        super().__init__()
        self.cnn = T19CNN(width, dropout)
        hidden = (scaled(512, width), scaled(256, width))
        self.fc1 = nn.Linear(self.cnn.out_features, hidden[0])
        self.tail = _head(hidden, num_classes, head_dropout)
        self.num_classes = num_classes

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        return self._tail(self.fc1(self.cnn(x)))


def embedding_columns(frames: int, dim: int, mels: int = N_MELS) -> int:
    """Columns that ``frames`` embeddings of size ``dim`` take after the spectrogram (:func:`pack_inputs`).

    >>> embedding_columns(10, 128), embedding_columns(10, 1024)
    (10, 80)
    """
    return -(-frames * dim // mels)


def pack_inputs(spec: torch.Tensor, vggish: torch.Tensor) -> torch.Tensor:
    """``spec [B, mels, frames]`` (or ``[B, 1, mels, frames]``) and embeddings ``[B, n, D]`` ->
    ``[B, 1, mels, frames + ceil(n * D / mels)]``.

    The ``n`` embeddings, flattened in order and zero-padded to a multiple of ``mels``, fill
    columns of ``mels`` values after the spectrogram: with ``D == mels`` (VGGish: 10 x 128)
    embedding ``k`` is column ``frames + k``; a 1024-d YAMNet embedding takes 8 columns.
    """
    if spec.dim() == 4:
        spec = spec[:, 0]
    if spec.dim() != 3 or vggish.dim() != 3 or spec.shape[0] != vggish.shape[0]:
        raise ValueError(f"pack_inputs: expected spec [B, mels, frames] and embeddings [B, n, D], got "
                         f"{tuple(spec.shape)} and {tuple(vggish.shape)}")
    b, n, d = vggish.shape
    mels = spec.shape[1]
    cols = embedding_columns(n, d, mels)
    flat = F.pad(vggish.reshape(b, n * d), (0, cols * mels - n * d))
    return torch.cat([spec, flat.reshape(b, cols, mels).transpose(1, 2).to(spec.dtype)], dim=2).unsqueeze(1)


def unpack_inputs(x: torch.Tensor, vggish_frames: int = VGGISH_FRAMES,
                  embedding_dim: int = VGGISH_DIM) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of :func:`pack_inputs`: ``([B, 1, mels, frames], [B, vggish_frames, embedding_dim])``."""
    cols = embedding_columns(vggish_frames, embedding_dim, x.shape[2] if x.dim() == 4 else N_MELS)
    if x.dim() != 4 or x.shape[1] != 1 or x.shape[3] <= cols:
        raise ValueError(f"T19 fusion input must be [batch, 1, 128, frames + {cols}] "
                         f"(see pack_inputs), got {tuple(x.shape)}")
    tail = x[:, 0, :, -cols:].transpose(1, 2).reshape(x.shape[0], -1)[:, :vggish_frames * embedding_dim]
    return x[..., :-cols], tail.reshape(x.shape[0], vggish_frames, embedding_dim)


class T19Fusion(_T19Base):
    """Table 2: CNN features (x) VGGish embeddings through a bilinear layer, then two FC layers.

    Input: the packed tensor of :func:`pack_inputs`, ``[B, 1, 128, frames + columns]``.

    Args:
        embedding_dim: size of each pretrained embedding (128 for VGGish, 1024 for YAMNet).
        fusion: ``"bilinear"`` (Table 2: ``Bilinear(256, 1280) -> 512``) or ``"concat"`` (sec. 4.1's
            text: the two vectors "concatenated to yield a 1536-dimensional vector", then a linear
            layer to 512). The report names both; its Table 2 and its text disagree.
    """

    def __init__(self, num_classes: int, width: float = 1.0, dropout: float = 0.5, head_dropout: float = 0.2,
                 frames: int = N_FRAMES, vggish_frames: int = VGGISH_FRAMES, embedding_dim: int = VGGISH_DIM,
                 fusion: str = "bilinear"):
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"parameter fusion: must be one of {FUSIONS}, got {fusion!r}")
        self.cnn = T19CNN(width, dropout)
        hidden = (scaled(512, width), scaled(256, width))
        flat = vggish_frames * embedding_dim
        self.fc1 = (Bilinear(self.cnn.out_features, flat, hidden[0]) if fusion == "bilinear"
                    else nn.Linear(self.cnn.out_features + flat, hidden[0]))
        self.tail = _head(hidden, num_classes, head_dropout)
        self.num_classes = num_classes
        self.frames = frames
        self.vggish_frames = vggish_frames
        self.embedding_dim_in = embedding_dim
        self.fusion = fusion

    def example_input(self, batch_size: int = 2) -> torch.Tensor:
        """A zero input of the right shape, ``[batch_size, 1, 128, frames + columns]``."""
        device = next(self.parameters()).device
        cols = embedding_columns(self.vggish_frames, self.embedding_dim_in)
        return torch.zeros(batch_size, 1, N_MELS, self.frames + cols, device=device)

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        spec, emb = unpack_inputs(x, self.vggish_frames, self.embedding_dim_in)
        a, b = self.cnn(spec), emb.reshape(emb.shape[0], -1)
        h = self.fc1(a, b) if self.fusion == "bilinear" else self.fc1(torch.cat([a, b.to(a.dtype)], dim=1))
        return self._tail(h)


@register_model(input_shape=(1, N_MELS, N_FRAMES))
def t19_cnn(num_classes: int, *, width: float = 1.0, dropout: float = 0.5, head_dropout: float = 0.2) -> T19Classifier:
    """The CNN of T19's Table 1 with a 512-256 FC head (no VGGish): input ``[B, 1, 128, 862]``."""
    return T19Classifier(num_classes, width, dropout, head_dropout)


@register_model(input_shape=(1, N_MELS, N_FRAMES + VGGISH_FRAMES))
def t19_fusion(num_classes: int, *, width: float = 1.0, dropout: float = 0.5, head_dropout: float = 0.2,
               frames: int = N_FRAMES, embedding_dim: int = VGGISH_DIM, fusion: str = "bilinear") -> T19Fusion:
    """T19's Table 2: the Table 1 CNN fused with 10 x 128 VGGish embeddings by a bilinear layer.

    Input ``[B, 1, 128, frames + 10]`` (:func:`pack_inputs`); outputs 37, 29 or 8 in the paper.
    ``embedding_dim=1024`` takes YAMNet's embeddings; ``fusion="concat"`` is sec. 4.1's concatenation.
    """
    return T19Fusion(num_classes, width, dropout, head_dropout, frames, embedding_dim=embedding_dim, fusion=fusion)
