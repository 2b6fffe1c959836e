"""VGGish: the published AudioSet embedding network (Hershey et al. 2017, ``tensorflow/models``
``research/audioset/vggish``), in the module layout of the PyTorch port (harritaylor/torchvggish).

Architecture (per 0.96 s example, input ``[B, 1, 96 frames, 64 mels]`` from
:func:`audiolib.features.vggish_examples`):

    conv3x3 64, ReLU, maxpool 2 | conv 128, ReLU, maxpool | conv 256, ReLU, conv 256, ReLU,
    maxpool | conv 512, ReLU, conv 512, ReLU, maxpool  -> [B, 512, 6, 4]
    flatten in (height, width, channel) order (the TensorFlow layout the weights were trained
    in) -> 12288 -> fc 4096, ReLU -> fc 4096, ReLU -> fc 128, ReLU  = the 128-d embedding

``features`` are built by :func:`audiolib.models.vgg.make_vgg_layers` (torchvision indices
``features.0, .3, .6, .8, .11, .13``) and the fully-connected part is ``embeddings.0/.2/.4``,
so the official PyTorch state dict ``vggish-10086976.pth`` loads with
:func:`load_vggish_weights`. A ``head`` (128 -> ``num_classes``) on top of the embedding makes
the network trainable as a classifier when no pretrained file is available (as the T19
notebook does on the default corpus). :func:`vggish_postprocess` applies the published PCA
and 8-bit quantisation (``vggish_pca_params``) that the released embeddings went through.

>>> model = vggish(num_classes=5, width=0.25)
>>> model(torch.zeros(2, 1, 96, 64)).shape, model.embedding(torch.zeros(2, 1, 96, 64)).shape
(torch.Size([2, 5]), torch.Size([2, 128]))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .base import scaled
from .registry import register_model
from .vgg import CONFIGS, make_vgg_layers

__all__ = ["VGGish", "vggish", "load_vggish_weights", "vggish_postprocess", "load_vggish_pca",
           "EMBEDDING_DIM", "OFFICIAL_SHAPES"]

EMBEDDING_DIM = 128
#: Tensor shapes of the official PyTorch VGGish state dict (harritaylor/torchvggish).
OFFICIAL_SHAPES = {
    "features.0.weight": (64, 1, 3, 3), "features.0.bias": (64,),
    "features.3.weight": (128, 64, 3, 3), "features.3.bias": (128,),
    "features.6.weight": (256, 128, 3, 3), "features.6.bias": (256,),
    "features.8.weight": (256, 256, 3, 3), "features.8.bias": (256,),
    "features.11.weight": (512, 256, 3, 3), "features.11.bias": (512,),
    "features.13.weight": (512, 512, 3, 3), "features.13.bias": (512,),
    "embeddings.0.weight": (4096, 12288), "embeddings.0.bias": (4096,),
    "embeddings.2.weight": (4096, 4096), "embeddings.2.bias": (4096,),
    "embeddings.4.weight": (128, 4096), "embeddings.4.bias": (128,),
}
# The published post-processing: PCA, clip to [-2, 2], quantise to 0..255.
QUANTIZE_MIN, QUANTIZE_MAX = -2.0, 2.0


class VGGish(nn.Module):
    """VGGish with an optional classification head.

    Args:
        num_classes: outputs of ``head`` (logits); ``forward`` returns them.
        width: multiplies every conv and hidden fc width (1.0 = the published network); the
            embedding stays 128-d.

    Input ``[B, 1, 96, 64]`` (the published 0.96 s log-mel example), any device.
    """

    def __init__(self, num_classes: int, width: float = 1.0):
        super().__init__()
        cfg = [item if item == "M" else scaled(item, width) for item in CONFIGS["vggish"]]
        self.features = make_vgg_layers(cfg, batch_norm=False, in_channels=1)
        last = cfg[-2]
        hidden = scaled(4096, width)
        self.embeddings = nn.Sequential(
            nn.Linear(last * 6 * 4, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, EMBEDDING_DIM), nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(EMBEDDING_DIM, num_classes)
        self.num_classes = num_classes
        self.embedding_dim = EMBEDDING_DIM
        self.width = width

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 1, 96, 64]`` -> the 128-d embedding ``[B, 128]`` (before any PCA)."""
        if x.dim() != 4 or tuple(x.shape[1:]) != (1, 96, 64):
            raise ValueError(f"VGGish expects [batch, 1, 96, 64] log-mel examples, got {tuple(x.shape)}")
        x = self.features(x)
        # TensorFlow flattens [B, H, W, C]; the official weights expect that order.
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)
        return self.embeddings(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(x))


@register_model(input_shape=(1, 96, 64))
def vggish(num_classes: int, *, width: float = 1.0, weights: str | None = None) -> VGGish:
    """The published VGGish (``width=1``), with a ``num_classes`` head.

    Args:
        weights: path of the official PyTorch state dict (``vggish-10086976.pth``) to load into
            ``features`` and ``embeddings`` (the head stays freshly initialised).
    """
    model = VGGish(num_classes, width)
    if weights:
        load_vggish_weights(model, weights)
    return model


def load_vggish_weights(model: VGGish, path) -> VGGish:
    """Load the official PyTorch VGGish state dict into ``model.features`` and ``model.embeddings``.

    Reads with ``torch.load(..., weights_only=True)``. Accepts the torchvggish file (keys
    ``features.N.*``, ``embeddings.0/2/4.*``), or a state dict of this class (its ``head.*`` is
    then ignored). Raises ``FileNotFoundError`` / ``ValueError`` naming the file when it is
    absent, unreadable, or does not fit (missing keys, shape mismatch: e.g. a ``width != 1`` model).
    """
    from audiolib.checkpoints import check_state_fits, read_torch_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"VGGish weights {path} not found; the official PyTorch file is "
                                "vggish-10086976.pth (harritaylor/torchvggish releases)")
    state = read_torch_file(path, "VGGish weights")
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise ValueError(f"VGGish weights {path} hold no state dict (got {type(state).__name__})")
    own = {k: v for k, v in model.state_dict().items() if not k.startswith("head.")}
    check_state_fits(own, {k: v for k, v in state.items() if not k.startswith("head.")},
                     where=f"VGGish weights {path}",
                     target=f"VGGish of width {model.width} (expected the torchvggish layout: features.N.*, "
                            "embeddings.0/2/4.*)")
    model.load_state_dict({**model.state_dict(), **{k: state[k] for k in own}})
    return model


def load_vggish_pca(path) -> tuple[torch.Tensor, torch.Tensor]:
    """``(eigen_vectors [128, 128], means [128])`` from ``vggish_pca_params.npz`` (TensorFlow
    release) or the torchvggish ``.pth`` (keys ``pca_eigen_vectors``, ``pca_means``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"VGGish PCA parameters {path} not found")
    try:
        if path.suffix == ".npz":
            with np.load(path) as data:
                params = {k: torch.from_numpy(np.asarray(data[k])) for k in data.files}
        else:
            params = torch.load(path, map_location="cpu", weights_only=True)
        vectors = torch.as_tensor(params["pca_eigen_vectors"], dtype=torch.float64)
        means = torch.as_tensor(params["pca_means"], dtype=torch.float64).reshape(-1)
    except KeyError as exc:
        raise ValueError(f"VGGish PCA parameters {path}: key {exc} missing") from None
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"VGGish PCA parameters {path} are unreadable: {type(exc).__name__}: {exc}") from None
    if vectors.shape != (EMBEDDING_DIM, EMBEDDING_DIM) or means.shape != (EMBEDDING_DIM,):
        raise ValueError(f"VGGish PCA parameters {path}: shapes {tuple(vectors.shape)}, {tuple(means.shape)}; "
                         "expected (128, 128) and (128,)")
    return vectors, means


def vggish_postprocess(embeddings: torch.Tensor, eigen_vectors: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """The published post-processing of VGGish embeddings (``vggish_postprocess.Postprocessor``).

    ``pca = eigen_vectors @ (e - means)``, clipped to [-2, 2], mapped linearly to [0, 255] and
    truncated to integers (TensorFlow's ``astype(uint8)``). Returns float32 ``[..., 128]``
    holding the 0..255 values the AudioSet release and the DCASE 2019 Task 5 baseline used.
    """
    if embeddings.shape[-1] != EMBEDDING_DIM:
        raise ValueError(f"parameter embeddings: last dimension must be {EMBEDDING_DIM}, got {tuple(embeddings.shape)}")
    x = embeddings.double()
    pca = (x - means.to(x)) @ eigen_vectors.to(x).T
    clipped = pca.clamp(QUANTIZE_MIN, QUANTIZE_MAX)
    quantized = torch.floor((clipped - QUANTIZE_MIN) * (255.0 / (QUANTIZE_MAX - QUANTIZE_MIN)))
    return quantized.float()
