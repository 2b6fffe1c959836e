"""YAMNet: Google's MobileNet-v1 audio event network trained on AudioSet (521 classes), in PyTorch.

Architecture (``tensorflow/models`` ``research/audioset/yamnet``), per 0.96 s example
``[B, 1, 96 frames, 64 mels]`` (the VGGish front end with ``log(mel + 0.001)``, preset
``"yamnet"`` of :mod:`audiolib.features.config`):

    layer1      conv 3x3 /2, 32, ReLU                                   -> [B,   32, 48, 32]
    layer2..14  depthwise 3x3 (stride 1 or 2), ReLU; pointwise 1x1, ReLU:
                64, 128/2, 128, 256/2, 256, 512/2, 512 x5, 1024/2, 1024  -> [B, 1024,  3,  2]
    global average pooling                  = the 1024-d embedding       -> [B, 1024]
    dense 1024 -> 521 (logits; the release applies a sigmoid)            -> [B,  521]

Convolutions pad as TensorFlow's ``"SAME"``: a stride-2 3x3 convolution of an even-sized input
pads 0 before and 1 after (asymmetric), which PyTorch's symmetric ``padding`` cannot express,
so every convolution pads explicitly (:func:`same_padding`).

Batch normalisation is folded into the convolutions (as in the TensorFlow Lite release): each
convolution has a bias and no batch-norm layer.

Pretrained weights come from the TensorFlow Lite release (``yamnet.tflite``), read without
TensorFlow by :func:`load_yamnet_weights`. That file stores most weights as int8 with one scale
per tensor; a convolution whose int8 weights are used directly (not through a DEQUANTIZE op) is
a "hybrid" kernel in TensorFlow Lite, which also rounds its float input to int8 with one scale
per example. ``int8_inputs=True`` reproduces that rounding (for bit-level parity with the LiteRT
interpreter); the default computes in float with the dequantised weights.

>>> model = yamnet(num_classes=521)
>>> model(torch.zeros(2, 1, 96, 64)).shape, model.embedding(torch.zeros(2, 1, 96, 64)).shape
(torch.Size([2, 521]), torch.Size([2, 1024]))
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .registry import register_model

__all__ = ["YAMNet", "ReleaseFrontEnd", "yamnet", "load_yamnet_weights", "load_yamnet", "yamnet_root", "yamnet_files",
           "yamnet_missing",
           "download_yamnet", "class_names", "ClipEmbeddings", "embed_patches", "embed_clips", "same_padding", "EMBEDDING_DIM", "NUM_CLASSES", "LAYERS",
           "TFLITE_SHA256", "CLASS_MAP_SHA256", "TFLITE_URL", "CLASS_MAP_URL"]

EMBEDDING_DIM = 1024
NUM_CLASSES = 521
#: (stride, output channels) of layer1 (a full convolution) and layers 2..14 (separable).
LAYERS = ((2, 32), (1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
          (1, 512), (1, 512), (1, 512), (1, 512), (1, 512), (2, 1024), (1, 1024))

#: The public release (Apache License 2.0) and the checksums of the files it serves.
TFLITE_URL = "https://storage.googleapis.com/audioset/yamnet.tflite"
CLASS_MAP_URL = "https://raw.githubusercontent.com/tensorflow/models/master/research/audioset/yamnet/yamnet_class_map.csv"
TFLITE_SHA256 = "469be6a3421cbc52cf97e9f2f966cba984198e8e7af9854d68b3e3ebb1e04194"
CLASS_MAP_SHA256 = "cdf24d193e196d9e95912a2667051ae203e92a2ba09449218ccb40ef787c6df2"


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow ``"SAME"`` padding ``(before, after)`` of one axis: output ``ceil(size / stride)``.

    >>> same_padding(96, 3, 2), same_padding(96, 3, 1), same_padding(3, 3, 2)
    ((0, 1), (1, 1), (1, 1))
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def int8_round(x: torch.Tensor) -> torch.Tensor:
    """TensorFlow Lite's hybrid-kernel input rounding: one symmetric int8 scale per example.

    ``scale = max|x| / 127`` over all but the batch axis, ``x -> round(x / scale) * scale``
    (round half away from zero, as ``std::round``); an all-zero example stays zero.
    """
    flat = x.reshape(x.shape[0], -1)
    peak = flat.abs().amax(dim=1)
    inv = torch.where(peak > 0, 127.0 / peak.clamp_min(torch.finfo(x.dtype).tiny), torch.zeros_like(peak))
    scaled = flat * inv[:, None]
    q = (torch.sign(scaled) * torch.floor(scaled.abs() + 0.5)).clamp(-127, 127)
    return (q * (peak / 127.0)[:, None]).reshape(x.shape)


class SameConv2d(nn.Conv2d):
    """A ``Conv2d`` (with bias, ReLU by default) padded as TensorFlow's ``"SAME"``.

    ``int8_input`` marks a layer that TensorFlow Lite computes as a hybrid kernel; the owning
    :class:`YAMNet` decides with its ``int8_inputs`` flag whether to round the input as it does.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1,
                 relu: bool = True):
        super().__init__(in_channels, out_channels, kernel, stride=stride, groups=groups, bias=True)
        self.relu = relu
        self.int8_input = False
        self.emulate_int8 = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        top, bottom = same_padding(x.shape[-2], k, s)
        left, right = same_padding(x.shape[-1], k, s)
        if self.int8_input and self.emulate_int8:
            x = int8_round(x)
        x = F.conv2d(F.pad(x, (left, right, top, bottom)), self.weight, self.bias, self.stride, 0, 1, self.groups)
        return F.relu(x) if self.relu else x


class Separable(nn.Module):
    """Depthwise 3x3 (ReLU) then pointwise 1x1 (ReLU): one MobileNet-v1 layer."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.depthwise = SameConv2d(in_channels, in_channels, 3, stride, groups=in_channels)
        self.pointwise = SameConv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class Int8Linear(nn.Linear):
    """``nn.Linear`` that can round its input as TensorFlow Lite's hybrid FULLY_CONNECTED does."""

    int8_input = False
    emulate_int8 = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.int8_input and self.emulate_int8:
            x = int8_round(x)
        return super().forward(x)


class YAMNet(nn.Module):
    """YAMNet on log-mel patches ``[B, 1, frames, mels]`` (96 x 64 as released), any device.

    Args:
        num_classes: outputs of ``classifier`` (logits; 521 for the released head).
        int8_inputs: round the inputs of the hybrid int8 layers as TensorFlow Lite does (only
            matters for layers the loaded file marks so; see the module docstring).

    ``features`` holds ``layer1`` .. ``layer14`` as ``features[0]`` .. ``features[13]``.
    """

    def __init__(self, num_classes: int = NUM_CLASSES, *, int8_inputs: bool = False):
        super().__init__()
        blocks: list[nn.Module] = [SameConv2d(1, LAYERS[0][1], 3, LAYERS[0][0])]
        channels = LAYERS[0][1]
        for stride, out in LAYERS[1:]:
            blocks.append(Separable(channels, out, stride))
            channels = out
        self.features = nn.Sequential(*blocks)
        self.classifier = Int8Linear(EMBEDDING_DIM, num_classes)
        self.num_classes = num_classes
        self.embedding_dim = EMBEDDING_DIM
        self.int8_inputs = int8_inputs

    @property
    def int8_inputs(self) -> bool:
        return self._int8_inputs

    @int8_inputs.setter
    def int8_inputs(self, value: bool) -> None:
        self._int8_inputs = bool(value)
        for m in self.modules():
            if isinstance(m, (SameConv2d, Int8Linear)):
                m.emulate_int8 = self._int8_inputs

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 1, frames, mels]`` -> the 1024-d embedding ``[B, 1024]`` (input of the dense layer)."""
        if x.dim() != 4 or x.shape[1] != 1:
            raise ValueError(f"YAMNet expects [batch, 1, frames, mels] log-mel patches, got {tuple(x.shape)}")
        return self.features(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, num_classes]``; ``torch.sigmoid`` of them are the released scores."""
        return self.classifier(self.embedding(x))

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Sigmoid scores ``[B, num_classes]`` (what the release outputs)."""
        return torch.sigmoid(self(x))


@register_model(input_shape=(1, 96, 64))
def yamnet(num_classes: int = NUM_CLASSES, *, weights: str | None = None, int8_inputs: bool = False) -> YAMNet:
    """YAMNet with a ``num_classes`` head.

    Args:
        weights: ``None`` (random initialisation), a path to ``yamnet.tflite``, or ``"auto"``
            (the file found by :func:`yamnet_files`). With ``num_classes != 521`` only the
            convolutions are loaded and the head stays freshly initialised.
        int8_inputs: see :class:`YAMNet`.
    """
    model = YAMNet(num_classes, int8_inputs=int8_inputs)
    if weights:
        path = yamnet_files()["tflite"] if weights == "auto" else weights
        load_yamnet_weights(model, path, head=num_classes == NUM_CLASSES)
    return model


# --- weights from the TensorFlow Lite file --------------------------------------------------------
def _layer_names() -> list[tuple[str, str]]:
    """``(module path, TensorFlow scope)`` of every weighted layer, in graph order."""
    names = [("features.0", "layer1/conv")]
    for k in range(1, len(LAYERS)):
        names += [(f"features.{k}.depthwise", f"layer{k + 1}/depthwise_conv"),
                  (f"features.{k}.pointwise", f"layer{k + 1}/pointwise_conv")]
    return names + [("classifier", "dense")]


def _weight_source(graph, index: int):
    """The constant behind an op's weight input (through a DEQUANTIZE op) and whether it is int8 there."""
    tensor = graph.tensors[index]
    if tensor.is_constant:
        return tensor, tensor.is_quantized
    producer = graph.producer(index)
    if producer is not None and producer.kind == "DEQUANTIZE":
        return graph.tensors[producer.inputs[0]], False
    raise ValueError(f"{graph.path}: weight tensor {tensor.name!r} is neither a constant nor dequantised from one")


def _to_torch_layout(kind: str, array: np.ndarray) -> np.ndarray:
    """TensorFlow Lite layouts -> PyTorch: conv OHWI -> OIHW, depthwise 1HWO -> O1HW, dense OI stays."""
    if kind == "CONV_2D":
        return array.transpose(0, 3, 1, 2)
    if kind == "DEPTHWISE_CONV_2D":
        return array[0].transpose(2, 0, 1)[:, None]
    return array


def load_yamnet_weights(model: YAMNet, path, *, head: bool = True) -> YAMNet:
    """Load the weights of ``yamnet.tflite`` into ``model`` (no TensorFlow needed).

    The file's CONV_2D / DEPTHWISE_CONV_2D operators (in graph order) and its last
    FULLY_CONNECTED (the one fed by the global average pool) are matched to ``layer1`` ..
    ``layer14`` and ``dense``; each weight and bias is dequantised (per tensor or per channel,
    with zero points), converted to PyTorch's layout and checked: its TensorFlow name must name
    the layer, its shape must fit, every module parameter must be filled once, and every other
    constant of the file must belong to the front end (the ops before the first convolution).

    Args:
        head: load ``dense`` too (needs ``num_classes == 521``); ``False`` keeps the model's head.

    Raises:
        FileNotFoundError / ValueError naming the file and the tensor that is missing,
        unexpected or of the wrong shape.

    >>> model = load_yamnet_weights(YAMNet(), "yamnet.tflite")                 # doctest: +SKIP
    """
    from ._tflite import read_tflite

    graph = read_tflite(path)
    conv_ops = [op for op in graph.ops if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    pool = [op for op in graph.ops if op.kind == "MEAN"]
    dense_ops = [op for op in graph.ops if op.kind == "FULLY_CONNECTED" and pool and op.inputs[0] in pool[-1].outputs]
    names = _layer_names()
    found = conv_ops + dense_ops
    if len(found) != len(names):
        raise ValueError(f"{path}: {len(conv_ops)} convolutions and {len(dense_ops)} classifier layer(s); YAMNet has "
                         f"{len(names) - 1} and 1: not the YAMNet release")
    modules = dict(model.named_modules())
    state: dict[str, torch.Tensor] = {}
    used: set[int] = set()
    for op, (module_name, scope) in zip(found, names):
        if module_name == "classifier" and not head:  # a new head: the release's dense layer is left out
            used.update(t for t in op.inputs[1:] if t >= 0)
            continue
        module = modules[module_name]
        weight, int8 = _weight_source(graph, op.inputs[1])
        bias = graph.tensors[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        if f"yamnet_frames/{scope}/" not in weight.name + "/":
            raise ValueError(f"{path}: operator {op.kind} #{op.index} (expected for {scope}) reads tensor "
                             f"{weight.name!r}, which does not name {scope}")
        if bias is None or not bias.is_constant:
            raise ValueError(f"{path}: operator {op.kind} #{op.index} ({scope}) has no constant bias")
        for tensor, param in ((weight, "weight"), (bias, "bias")):
            value = torch.from_numpy(np.ascontiguousarray(_to_torch_layout(op.kind if param == "weight" else "", tensor.dequantized())))
            expected = tuple(getattr(module, param).shape)
            if tuple(value.shape) != expected:
                raise ValueError(f"{path}: tensor {tensor.name!r} has shape {tuple(tensor.shape)} -> {tuple(value.shape)} "
                                 f"in PyTorch layout; {module_name}.{param} needs {expected}")
            if not torch.isfinite(value).all():
                raise ValueError(f"{path}: tensor {tensor.name!r} holds NaN or inf")
            state[f"{module_name}.{param}"] = value
            used.add(tensor.index)
        module.int8_input = bool(int8)
        if op.options.get("fused_activation", 1 if module_name != "classifier" else 0) != (0 if module_name == "classifier" else 1):
            raise ValueError(f"{path}: operator {op.kind} #{op.index} ({scope}) has activation "
                             f"{op.options.get('fused_activation')}, expected {'none' if module_name == 'classifier' else 'ReLU'}")
        used.update(t for t in op.inputs if t >= 0 and graph.tensors[t].is_constant)
    wanted = {k for k in model.state_dict() if head or not k.startswith("classifier.")}
    missing = sorted(wanted - set(state))
    if missing:
        raise ValueError(f"{path}: no tensor for {missing[:3]} ({len(missing)} parameter(s) missing)")
    _check_leftover_constants(graph, conv_ops[0].index, used, pool)
    model.load_state_dict(state, strict=False)
    return model


def _check_leftover_constants(graph, first_conv: int, used: set[int], pool) -> None:
    """Every constant not mapped to a layer must be read by a front-end op or by the pooling."""
    allowed = set(used)
    for op in graph.ops:
        if op.index < first_conv or op in pool:
            allowed.update(t for t in op.inputs if t >= 0)
    unexpected = [t.name for t in graph.tensors if t.is_constant and t.index not in allowed]
    if unexpected:
        raise ValueError(f"{graph.path}: {len(unexpected)} unexpected constant tensor(s), e.g. {unexpected[0]!r}; "
                         "this is not the YAMNet release this loader knows")


# --- finding and downloading the release ------------------------------------------------------
def yamnet_root() -> Path:
    """Where the YAMNet files are looked for: ``$AUDIOLIB_YAMNET_ROOT``, else
    ``<project>/../shared/models/yamnet`` when present, else ``<data>/yamnet`` (where
    :func:`download_yamnet` puts them)."""
    from .. import paths

    env = os.environ.get("AUDIOLIB_YAMNET_ROOT")
    if env:
        return Path(env)
    shared = paths.project_root().parent / "shared" / "models" / "yamnet"
    if shared.is_dir():
        return shared
    return paths.data_root() / "yamnet"


def yamnet_files(root: str | Path | None = None) -> dict[str, Path]:
    """``{"tflite": path, "class_map": path}`` of the release in ``root`` (default :func:`yamnet_root`).

    Raises ``FileNotFoundError`` naming the folder and saying how to get the files when absent.
    """
    root = Path(root) if root is not None else yamnet_root()
    files = {"tflite": root / "yamnet.tflite", "class_map": root / "yamnet_class_map.csv"}
    absent = [str(p) for p in files.values() if not p.is_file()]
    if absent:
        raise FileNotFoundError(f"YAMNet release not found: {', '.join(absent)} missing; run "
                                "audiolib.models.yamnet.download_yamnet() (internet) or set $AUDIOLIB_YAMNET_ROOT "
                                "to a folder holding yamnet.tflite and yamnet_class_map.csv")
    return files


def yamnet_missing(root: str | Path | None = None) -> str:
    """Why YAMNet cannot be loaded here (its release files absent), or ``""`` when it can.

    The one availability check of the workbook: a notebook that uses YAMNet where present prints
    this reason and runs without it. A file that is present but damaged is not "missing": loading
    it raises, naming the file.
    """
    try:
        yamnet_files(root)
    except FileNotFoundError as exc:
        return str(exc)
    return ""


def download_yamnet(dest: str | Path | None = None, *, base_urls: dict[str, str] | None = None,
                    progress: bool = True) -> dict[str, Path]:
    """Download ``yamnet.tflite`` and ``yamnet_class_map.csv`` (resumable, verified by sha256).

    Args:
        dest: target folder (default ``<data>/yamnet``, found afterwards by :func:`yamnet_root`
            unless ``$AUDIOLIB_YAMNET_ROOT`` or the shared folder take precedence).
        base_urls: ``{"tflite": url, "class_map": url}`` overriding the public URLs (mirrors, tests).

    Returns:
        ``{"tflite": path, "class_map": path}``; files already present are only verified.

    >>> download_yamnet()                                                       # doctest: +SKIP
    {'tflite': PosixPath('data/yamnet/yamnet.tflite'), 'class_map': PosixPath('data/yamnet/yamnet_class_map.csv')}
    """
    from .. import paths
    from ..data.download import download_file, mark_complete

    dest = Path(dest) if dest is not None else paths.data_root() / "yamnet"
    urls = {"tflite": TFLITE_URL, "class_map": CLASS_MAP_URL, **(base_urls or {})}
    sums = {"tflite": TFLITE_SHA256, "class_map": CLASS_MAP_SHA256}
    names = {"tflite": "yamnet.tflite", "class_map": "yamnet_class_map.csv"}
    out = {key: download_file(urls[key], dest / names[key], sha256=sums[key], progress=progress) for key in names}
    mark_complete(dest, {"model": "yamnet", "sha256": sums, "urls": urls})
    return out


def class_names(path: str | Path | None = None) -> list[str]:
    """The 521 display names in output order, from ``yamnet_class_map.csv`` (``index,mid,display_name``)."""
    path = Path(path) if path is not None else yamnet_files()["class_map"]
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or set(rows[0]) != {"index", "mid", "display_name"}:
        raise ValueError(f"{path}: expected the columns index,mid,display_name")
    if [int(r["index"]) for r in rows] != list(range(len(rows))):
        raise ValueError(f"{path}: indices are not 0..{len(rows) - 1} in order")
    return [r["display_name"] for r in rows]


def load_yamnet(root: str | Path | None = None, *, device: str | torch.device | None = "cpu",
                int8_inputs: bool = False) -> YAMNet:
    """The released YAMNet, weights loaded from :func:`yamnet_files`, in eval mode on ``device``.

    ``int8_inputs=False`` (default) computes every layer in float with the dequantised weights,
    as the original (float) YAMNet computes. ``True`` computes as the TensorFlow Lite release
    does (its hybrid int8 layers round their inputs to int8 per example): its scores then match
    the LiteRT interpreter to about 1e-7 on the same log-mel patch, while the float network
    differs from the interpreter by up to about 0.9 on a score (median 0.05, on real clips):
    that rounding, not the port, is the difference.

    >>> model = load_yamnet()                                                   # doctest: +SKIP
    >>> model.scores(torch.zeros(1, 1, 96, 64)).shape                          # doctest: +SKIP
    torch.Size([1, 521])
    """
    from ..runtime import resolve_device

    model = load_yamnet_weights(YAMNet(NUM_CLASSES, int8_inputs=int8_inputs), yamnet_files(root)["tflite"])
    return model.to(resolve_device(device)).eval()


# --- the release's own front end -------------------------------------------------------------
class ReleaseFrontEnd(nn.Module):
    """The log-mel front end inside ``yamnet.tflite``, emulated: waveform -> ``[B, frames, 64]``.

    The release computes the VGGish-style spectrogram with int8 matrices: a DFT (real and
    imaginary parts, 257 x 512, scale 1/127) and the mel matrix (64 x 257), each applied as a
    hybrid FULLY_CONNECTED that rounds its input to int8 per frame; then ``log(mel + 0.001)``.
    Those roundings put a noise floor about 1e-2 under the spectrum, so bands far below a
    frame's peak differ from the float front end (preset ``"yamnet"``) by up to several units
    of log. This module reproduces them from the file, for parity checks against the interpreter.

    Input: 16 kHz waveform ``[time]`` or ``[B, time]`` (at least 400 samples); frames of 400
    samples every 160, no padding.

    >>> fe = ReleaseFrontEnd.from_tflite("yamnet.tflite")                       # doctest: +SKIP
    >>> fe(torch.zeros(15600)).shape                                            # doctest: +SKIP
    torch.Size([96, 64])
    """

    def __init__(self, window: torch.Tensor, dft_real: torch.Tensor, dft_imag: torch.Tensor, mel: torch.Tensor,
                 mel_bias: torch.Tensor, pad: tuple[int, int]):
        super().__init__()
        self.register_buffer("window", window)        # [400]
        self.register_buffer("dft_real", dft_real)    # [257, 512]
        self.register_buffer("dft_imag", dft_imag)    # [257, 512]
        self.register_buffer("mel", mel)              # [64, 257]
        self.register_buffer("mel_bias", mel_bias)    # [64], the log offset 0.001
        self.pad = pad

    @classmethod
    def from_tflite(cls, path: str | Path | None = None) -> "ReleaseFrontEnd":
        """Build from the file's constants (default: :func:`yamnet_files`)."""
        from ._tflite import read_tflite

        graph = read_tflite(path if path is not None else yamnet_files()["tflite"])
        fc = [op for op in graph.ops if op.kind == "FULLY_CONNECTED"]
        pads = [op for op in graph.ops if op.kind == "PAD"]
        muls = [op for op in graph.ops if op.kind == "MUL" and graph.tensors[op.inputs[1]].is_constant]
        if len(fc) < 3 or not pads or not muls:
            raise ValueError(f"{graph.path}: no DFT/mel front end found (FULLY_CONNECTED x3, PAD, MUL by a window)")

        def const(index: int) -> torch.Tensor:
            return torch.from_numpy(graph.tensors[index].dequantized())

        padding = graph.tensors[pads[0].inputs[1]].data.reshape(-1, 2)[-1]
        return cls(const(muls[0].inputs[1]).reshape(-1), const(fc[0].inputs[1]), const(fc[1].inputs[1]),
                   const(fc[2].inputs[1]), const(fc[2].inputs[2]), (int(padding[0]), int(padding[1])))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        squeeze = waveform.dim() == 1
        x = waveform.reshape(1, -1) if squeeze else waveform
        win = self.window.shape[0]
        if x.shape[-1] < win:
            raise ValueError(f"ReleaseFrontEnd: need at least {win} samples, got {x.shape[-1]}")
        frames = x.float().unfold(-1, win, 160) * self.window          # [B, n, 400]
        frames = F.pad(frames, self.pad)                                # [B, n, 512]
        b, n = frames.shape[:2]
        rows = int8_round(frames.reshape(b * n, -1))                    # per frame, as the hybrid FC
        magnitude = torch.sqrt((rows @ self.dft_real.T) ** 2 + (rows @ self.dft_imag.T) ** 2)
        out = torch.log(int8_round(magnitude) @ self.mel.T + self.mel_bias).reshape(b, n, -1)
        return out[0] if squeeze else out


# --- frame and clip embeddings of a dataset ---------------------------------------------------
@dataclass
class ClipEmbeddings:
    """YAMNet's outputs for every clip of a :class:`~audiolib.data.base.ClipSet`.

    Attributes:
        clip_ids: ``n_clips`` ids, in the ClipSet's manifest order.
        frames: per clip, the frame embeddings ``[n_frames, 1024]`` (float32), one per 0.96 s
            patch every 0.48 s (a clip shorter than one patch is zero-padded to one).
        scores: per clip, the sigmoid scores ``[n_frames, 521]``.
        start_s: per clip, the start time (s) of each patch.
        classes: the 521 output names (AudioSet display names when the class map is found).

    ``clip_embeddings`` ``[n_clips, 1024]`` and ``clip_scores`` ``[n_clips, 521]`` are the means
    over each clip's frames (the release's clip-level summary).
    """

    clip_ids: list[str]
    frames: list[np.ndarray]
    scores: list[np.ndarray]
    start_s: list[np.ndarray]
    classes: list[str]

    def __len__(self) -> int:
        return len(self.clip_ids)

    @property
    def clip_embeddings(self) -> np.ndarray:
        return np.stack([f.mean(axis=0) for f in self.frames]) if self.frames else np.zeros((0, EMBEDDING_DIM), np.float32)

    @property
    def clip_scores(self) -> np.ndarray:
        return np.stack([s.mean(axis=0) for s in self.scores]) if self.scores else np.zeros((0, len(self.classes)), np.float32)

    def top_classes(self, k: int = 5) -> list[list[tuple[str, float]]]:
        """Per clip, the ``k`` classes of highest mean score: ``[(name, score), ...]``."""
        out = []
        for mean in self.clip_scores:
            top = np.argsort(-mean, kind="stable")[:k]
            out.append([(self.classes[i], float(mean[i])) for i in top])
        return out


@torch.no_grad()
def embed_patches(model: YAMNet, patches, *, batch_size: int = 128, device: str | torch.device | None = "auto"
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(embeddings [N, 1024], scores [N, 521])`` of log-mel patches, in one pass, batched.

    ``patches``: a ``[N, 1, 96, 64]`` tensor or a patch set with ``get_batch`` (a
    :class:`~audiolib.data.patches.PatchSet` or a memory-mapped cache entry).
    """
    from ..runtime import resolve_device

    device = resolve_device(device)
    model = model.to(device).eval()
    n = patches.shape[0] if isinstance(patches, torch.Tensor) else len(patches)
    emb = np.zeros((n, EMBEDDING_DIM), np.float32)
    scores = np.zeros((n, model.num_classes), np.float32)
    for first in range(0, n, batch_size):
        idx = torch.arange(first, min(n, first + batch_size))
        x = patches[idx] if isinstance(patches, torch.Tensor) else patches.get_batch(idx)[0]
        e = model.embedding(x.to(device, non_blocking=True))
        emb[first:first + len(idx)] = e.float().cpu().numpy()
        scores[first:first + len(idx)] = torch.sigmoid(model.classifier(e)).float().cpu().numpy()
    return emb, scores


def embed_clips(clips, model: YAMNet | None = None, *, config="yamnet", batch_size: int = 128,
                device: str | torch.device | None = "auto", cache_root: str | Path | None = None,
                num_workers: int = 0, progress: bool = False) -> ClipEmbeddings:
    """Frame and clip embeddings of every clip of ``clips`` with YAMNet.

    The log-mel patches come from the feature cache (:func:`audiolib.cache.cached_patchset`,
    memory-mapped, computed once per dataset and front end); the network then runs over them
    in batches of ``batch_size`` on ``device``.

    Args:
        clips: a :class:`~audiolib.data.base.ClipSet` (e.g. ``load_esc50(esc10=True)``).
        model: a :class:`YAMNet` (default :func:`load_yamnet`: float arithmetic).
        config: the front end (default preset ``"yamnet"``: 96 x 64 patches every 0.48 s);
            e.g. ``get_config("yamnet").with_(patch_hop=None)`` for one patch per 0.96 s.
        cache_root, num_workers: passed to the feature cache.

    Returns:
        :class:`ClipEmbeddings` in the manifest's clip order. A clip the cache cannot read is
        an error naming its file (the cache scans every clip first).

    >>> from audiolib.data import load_esc50                                   # doctest: +SKIP
    >>> out = embed_clips(load_esc50(esc10=True))                               # doctest: +SKIP
    >>> out.frames[0].shape, out.clip_embeddings.shape                          # doctest: +SKIP
    ((9, 1024), (400, 1024))
    """
    from ..cache import cached_patchset
    from ..features import get_config

    config = get_config(config) if isinstance(config, str) else config
    model = model if model is not None else load_yamnet(device="cpu")
    patches = cached_patchset(clips, config, root=cache_root, in_memory=False, num_workers=num_workers,
                              progress=progress)
    emb, scores = embed_patches(model, patches, batch_size=batch_size, device=device)
    owner = patches.clip_index.numpy()
    order = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[order], np.arange(patches.n_clips + 1))
    step = config.patch_step * config.hop_length / config.sample_rate
    frames, frame_scores, starts = [], [], []
    for c in range(patches.n_clips):
        rows = order[bounds[c]:bounds[c + 1]]
        frames.append(emb[rows])
        frame_scores.append(scores[rows])
        starts.append(np.arange(len(rows)) * step)
    try:
        names = class_names()
    except (FileNotFoundError, ValueError):
        names = [str(k) for k in range(model.num_classes)]
    if len(names) != model.num_classes:
        names = [str(k) for k in range(model.num_classes)]
    return ClipEmbeddings(list(patches.clip_ids), frames, frame_scores, starts, names)
