"""A declarative description of a classifier: structure, loss, optimizer, initialisation, L2.

X18 describes every network it compares as data (a list of layer specs plus training choices:
the report's "flexible API" of sec. 3.1, "structure, loss function and optimizer")
rather than as code, so that one description can be stored, varied in a sweep, carried as a
papermill parameter and built for different execution back ends. A
:class:`ModelDescription` round-trips through a plain dict and YAML, builds into a PyTorch
module (:meth:`ModelDescription.build`) and into an :class:`audiolib.train.TrainConfig`
(:meth:`ModelDescription.train_config`).

Layer specs (each a dict with ``type``; omitted keys take the defaults in :data:`LAYER_SPECS`):

- ``dense``: ``units``, ``activation``, ``dropout``, ``batch_norm``. A non-flat input is
  flattened first (the 10x128 embedding becomes 1280 features).
- ``residual``: ``units``, ``layers`` (linear layers inside the block, default 2),
  ``activation``, ``dropout``, ``batch_norm``: ``act(F(x) + P(x))`` where ``F`` is the stack of
  linear layers (activation between them) and ``P`` the identity, or a linear projection when
  the width changes.
- ``conv1d``: convolution along the time axis with the 128 embedding dimensions as input
  channels: ``channels``, ``kernel_size``, ``pool`` (max-pool size over time), ``activation``,
  ``dropout``, ``batch_norm``. "same" padding.
- ``conv2d``: convolution over the 10x128 input as a one-channel image: ``channels``,
  ``kernel_size``, ``pool`` (max-pool size over both axes), ``activation``, ``dropout``,
  ``batch_norm``. "same" padding.
- ``global_pool``: ``mode`` ``mean`` or ``max`` over time (over both axes after ``conv2d``).

Training choices: ``loss`` ``sigmoid_cross_entropy`` or ``mse`` (on sigmoid outputs);
``optimizer`` ``{"name": "adam" | "rmsprop" | "sgd", "lr": ..., "momentum": ...}``;
``init_scale``: when set, every weight is drawn from N(0, init_scale^2) and every bias is 0
(the "weight scale" of the report; ``None`` keeps PyTorch's default initialisation); ``l2``: the
L2 penalty ``l2 * w`` added to the gradient of every weight (not the biases), i.e. a loss term
``l2/2 * sum(w^2)``.

>>> d = ModelDescription([{"type": "dense", "units": 64, "dropout": 0.2}], loss="sigmoid_cross_entropy",
...                      optimizer={"name": "adam", "lr": 1e-3}, init_scale=0.01, l2=1e-4)
>>> ModelDescription.from_yaml(d.to_yaml()) == d
True
>>> d.build(input_shape=(10, 128), num_classes=5)(torch.zeros(2, 10, 128)).shape
torch.Size([2, 5])
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .registry import register_model

__all__ = ["ModelDescription", "DescribedNet", "DescriptionError", "LAYER_SPECS", "ACTIVATIONS", "LOSSES",
           "OPTIMIZERS", "x18_fc", "x18_residual", "x18_conv"]

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "elu": nn.ELU, "gelu": nn.GELU,
               "leaky_relu": nn.LeakyReLU, "linear": nn.Identity}
LOSSES = {"sigmoid_cross_entropy": "bce", "mse": "mse"}
OPTIMIZERS = {"adam": {"lr": 1e-3}, "rmsprop": {"lr": 1e-3, "momentum": 0.0}, "sgd": {"lr": 1e-2, "momentum": 0.9}}

_COMMON = {"activation": "relu", "dropout": 0.0, "batch_norm": False}
#: layer type -> its keys and their defaults (``None``: required)
LAYER_SPECS: dict[str, dict[str, Any]] = {
    "dense": {"units": None, **_COMMON},
    "residual": {"units": None, "layers": 2, **_COMMON},
    "conv1d": {"channels": None, "kernel_size": 3, "pool": 1, **_COMMON},
    "conv2d": {"channels": None, "kernel_size": 3, "pool": 1, **_COMMON},
    "global_pool": {"mode": "mean"},
}


class DescriptionError(ValueError):
    """A model description that cannot be built; the message names the field or layer index."""


# --- validation -------------------------------------------------------------------------------
def _positive_int(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DescriptionError(f"{where} must be a positive int, got {value!r}")
    return value


def _kernel(value, where: str) -> int | list[int]:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise DescriptionError(f"{where} must be an int or a pair [time, frequency], got {value!r}")
        return [_positive_int(v, where) for v in value]
    return _positive_int(value, where)


def _normalise_layer(index: int, spec: Any) -> dict[str, Any]:
    where = f"structure[{index}]"
    if not isinstance(spec, dict):
        raise DescriptionError(f"{where} must be a dict with a 'type', got {type(spec).__name__}")
    kind = spec.get("type")
    if kind not in LAYER_SPECS:
        raise DescriptionError(f"{where}: type {kind!r} unknown; allowed: {', '.join(LAYER_SPECS)}")
    where = f"structure[{index}] ({kind})"
    defaults = LAYER_SPECS[kind]
    unknown = sorted(set(spec) - set(defaults) - {"type"})
    if unknown:
        raise DescriptionError(f"{where}: unknown key(s) {unknown}; allowed: {', '.join(defaults)}")
    out: dict[str, Any] = {"type": kind}
    for key, default in defaults.items():
        if key not in spec and default is None:
            raise DescriptionError(f"{where}: '{key}' is required")
        value = spec.get(key, default)
        at = f"{where}.{key}"
        if key in ("units", "channels", "layers"):
            value = _positive_int(value, at)
        elif key in ("kernel_size", "pool"):
            value = _kernel(value, at)
            if kind == "conv1d" and isinstance(value, list):
                raise DescriptionError(f"{at}: conv1d takes a single int, got {value!r}")
        elif key == "activation":
            if value not in ACTIVATIONS:
                raise DescriptionError(f"{at}: {value!r} unknown; allowed: {', '.join(ACTIVATIONS)}")
        elif key == "dropout":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise DescriptionError(f"{at} must be a number in [0, 1), got {value!r}")
            value = float(value)
        elif key == "batch_norm":
            if not isinstance(value, bool):
                raise DescriptionError(f"{at} must be true or false, got {value!r}")
        elif key == "mode":
            if value not in ("mean", "max"):
                raise DescriptionError(f"{at}: {value!r} unknown; allowed: mean, max")
        out[key] = value
    return out


def _normalise_optimizer(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        raise DescriptionError(f"optimizer must be a name or a dict with 'name', got {value!r}")
    name = value.get("name")
    if name not in OPTIMIZERS:
        raise DescriptionError(f"optimizer.name {name!r} unknown; allowed: {', '.join(OPTIMIZERS)}")
    allowed = set(OPTIMIZERS[name]) | {"name"}
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise DescriptionError(f"optimizer ({name}): unknown key(s) {unknown}; allowed: {', '.join(sorted(allowed))}")
    out = {"name": name, **OPTIMIZERS[name], **{k: v for k, v in value.items() if k != "name"}}
    lr = out["lr"]
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0 or not math.isfinite(lr):
        raise DescriptionError(f"optimizer.lr must be a positive number, got {lr!r}")
    out["lr"] = float(lr)
    if "momentum" in out:
        m = out["momentum"]
        if isinstance(m, bool) or not isinstance(m, (int, float)) or not 0.0 <= m < 1.0:
            raise DescriptionError(f"optimizer.momentum must be in [0, 1), got {m!r}")
        out["momentum"] = float(m)
    return out


# --- the description --------------------------------------------------------------------------
@dataclass
class ModelDescription:
    """A network and how to train it, as data.

    Attributes:
        structure: layer specs (see the module docstring), input to output; the output layer
            (``num_classes`` logits) is added by :meth:`build`.
        loss: ``"sigmoid_cross_entropy"`` or ``"mse"``.
        optimizer: ``{"name": "adam" | "rmsprop" | "sgd", "lr": float, "momentum": float}``
            (or just the name); defaults per optimizer in :data:`OPTIMIZERS`.
        init_scale: standard deviation of the Gaussian weight initialisation, or ``None``.
        l2: L2 regularisation strength on the weights (>= 0).
        name: a label for tables.

    Invalid values raise :class:`DescriptionError` naming the field (``structure[2].units``).
    """

    structure: list[dict[str, Any]] = field(default_factory=list)
    loss: str = "sigmoid_cross_entropy"
    optimizer: dict[str, Any] | str = field(default_factory=lambda: {"name": "adam"})
    init_scale: float | None = None
    l2: float = 0.0
    name: str = "model"

    def __post_init__(self):
        if not isinstance(self.structure, (list, tuple)):
            raise DescriptionError(f"structure must be a list of layer specs, got {type(self.structure).__name__}")
        self.structure = [_normalise_layer(i, s) for i, s in enumerate(self.structure)]
        if self.loss not in LOSSES:
            raise DescriptionError(f"loss {self.loss!r} unknown; allowed: {', '.join(LOSSES)}")
        self.optimizer = _normalise_optimizer(self.optimizer)
        if self.init_scale is not None:
            s = self.init_scale
            if isinstance(s, bool) or not isinstance(s, (int, float)) or not s > 0 or not math.isfinite(s):
                raise DescriptionError(f"init_scale must be a positive number or null, got {s!r}")
            self.init_scale = float(s)
        if isinstance(self.l2, bool) or not isinstance(self.l2, (int, float)) or not self.l2 >= 0:
            raise DescriptionError(f"l2 must be a number >= 0, got {self.l2!r}")
        self.l2 = float(self.l2)
        if not isinstance(self.name, str) or not self.name:
            raise DescriptionError(f"name must be a non-empty string, got {self.name!r}")

    # -- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A plain dict (lists, numbers, strings) with every default filled in."""
        return {"name": self.name, "structure": copy.deepcopy(self.structure), "loss": self.loss,
                "optimizer": dict(self.optimizer), "init_scale": self.init_scale, "l2": self.l2}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelDescription":
        """Inverse of :meth:`to_dict`; unknown top-level keys are an error naming them."""
        if isinstance(data, ModelDescription):
            return data
        if not isinstance(data, dict):
            raise DescriptionError(f"a model description must be a dict, got {type(data).__name__}")
        allowed = {"name", "structure", "loss", "optimizer", "init_scale", "l2"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise DescriptionError(f"unknown field(s) {unknown}; allowed: {', '.join(sorted(allowed))}")
        return cls(**copy.deepcopy(data))

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str) -> "ModelDescription":
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise DescriptionError(f"model description is not valid YAML: {exc}") from None
        return cls.from_dict(data)

    def replace(self, **changes) -> "ModelDescription":
        """A copy with top-level fields changed, e.g. ``d.replace(l2=1e-3)``."""
        return ModelDescription.from_dict({**self.to_dict(), **changes})

    def with_layers(self, **changes) -> "ModelDescription":
        """A copy with ``changes`` (e.g. ``dropout=0.5``) applied to every layer that has those keys."""
        structure = [{**layer, **{k: v for k, v in changes.items() if k in LAYER_SPECS[layer["type"]]}}
                     for layer in self.structure]
        return self.replace(structure=structure)

    # -- building --------------------------------------------------------------------------------
    def build(self, input_shape: tuple[int, ...] = (10, 128), num_classes: int = 527) -> "DescribedNet":
        """The PyTorch module: input ``[B, *input_shape]`` -> logits ``[B, num_classes]``."""
        return DescribedNet(self, tuple(input_shape), num_classes)

    def train_config(self, **overrides):
        """An :class:`audiolib.train.TrainConfig` with this description's loss, optimizer and L2.

        The L2 strength applies to weights only (biases and batch-norm parameters are exempt,
        through ``param_groups``). ``overrides`` set any other field (``steps``, ``batch_size``,
        ``device``, ``compile`` ...).
        """
        from audiolib.train import TrainConfig

        opt = self.optimizer
        l2 = self.l2

        def param_groups(model: nn.Module) -> list[dict]:
            decay, no_decay = [], []
            for name, p in model.named_parameters():
                if p.requires_grad:
                    (decay if p.dim() > 1 else no_decay).append(p)
            return [{"params": decay, "weight_decay": l2}, {"params": no_decay, "weight_decay": 0.0}]

        kwargs = dict(loss=LOSSES[self.loss], optimizer=opt["name"], lr=opt["lr"], momentum=opt.get("momentum", 0.0),
                      weight_decay=l2, param_groups=param_groups)
        kwargs.update(overrides)
        return TrainConfig(**kwargs)


# --- the module built from a description -----------------------------------------------------
class _Residual(nn.Module):
    def __init__(self, in_features: int, spec: dict[str, Any]):
        super().__init__()
        units, act = spec["units"], ACTIVATIONS[spec["activation"]]
        layers: list[nn.Module] = []
        width = in_features
        for k in range(spec["layers"]):
            layers.append(nn.Linear(width, units))
            if spec["batch_norm"]:
                layers.append(nn.BatchNorm1d(units))
            if k < spec["layers"] - 1:
                layers.append(act())
            width = units
        self.body = nn.Sequential(*layers)
        self.project = nn.Identity() if in_features == units else nn.Linear(in_features, units, bias=False)
        self.act = act()
        self.dropout = nn.Dropout(spec["dropout"]) if spec["dropout"] else nn.Identity()

    def forward(self, x):
        return self.dropout(self.act(self.body(x) + self.project(x)))


class _GlobalPool(nn.Module):
    def __init__(self, mode: str, dims: tuple[int, ...]):
        super().__init__()
        self.mode, self.dims = mode, dims

    def forward(self, x):
        return x.mean(self.dims) if self.mode == "mean" else x.amax(self.dims)


class _ToChannels(nn.Module):
    """``[B, T, F]`` -> ``[B, F, T]`` (conv1d) or ``[B, 1, T, F]`` (conv2d)."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def forward(self, x):
        return x.transpose(1, 2) if self.kind == "conv1d" else x.unsqueeze(1)


def _pair(v) -> tuple[int, int]:
    return tuple(v) if isinstance(v, list) else (v, v)


class DescribedNet(nn.Module):
    """The module a :class:`ModelDescription` builds.

    Input ``[B, frames, dim]`` (``[B, 10, 128]`` for AudioSet embeddings); output logits
    ``[B, num_classes]``. ``embedding(x)`` is the last hidden representation ``[B, embedding_dim]``.
    """

    def __init__(self, description: ModelDescription, input_shape: tuple[int, ...], num_classes: int):
        super().__init__()
        if len(input_shape) != 2:
            raise DescriptionError(f"input_shape must be (frames, dim), got {input_shape}")
        if not isinstance(num_classes, int) or num_classes < 1:
            raise DescriptionError(f"num_classes must be a positive int, got {num_classes!r}")
        self.description = description
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        blocks: list[nn.Module] = []
        state, shape = "seq", tuple(input_shape)  # shape excludes the batch axis
        for index, spec in enumerate(description.structure):
            kind, where = spec["type"], f"structure[{index}] ({spec['type']})"
            if kind in ("dense", "residual"):
                if state != "flat":
                    blocks.append(nn.Flatten())
                    shape, state = (math.prod(shape),), "flat"
                if kind == "dense":
                    blocks.append(nn.Linear(shape[0], spec["units"]))
                    if spec["batch_norm"]:
                        blocks.append(nn.BatchNorm1d(spec["units"]))
                    blocks.append(ACTIVATIONS[spec["activation"]]())
                    if spec["dropout"]:
                        blocks.append(nn.Dropout(spec["dropout"]))
                else:
                    blocks.append(_Residual(shape[0], spec))
                shape = (spec["units"],)
            elif kind in ("conv1d", "conv2d"):
                if state == "seq":
                    blocks.append(_ToChannels(kind))
                    shape = (shape[1], shape[0]) if kind == "conv1d" else (1, *shape)
                    state = kind
                elif state != kind:
                    raise DescriptionError(f"{where}: cannot follow a {'flat' if state == 'flat' else state} "
                                           f"representation; put convolutions first")
                if kind == "conv1d":
                    k, p = spec["kernel_size"], spec["pool"]
                    blocks.append(nn.Conv1d(shape[0], spec["channels"], k, padding="same"))
                    if spec["batch_norm"]:
                        blocks.append(nn.BatchNorm1d(spec["channels"]))
                    blocks.append(ACTIVATIONS[spec["activation"]]())
                    length = shape[1]
                    if p > 1:
                        if p > length:
                            raise DescriptionError(f"{where}.pool {p} exceeds the {length} frames left")
                        blocks.append(nn.MaxPool1d(p))
                        length //= p
                    if spec["dropout"]:
                        blocks.append(nn.Dropout(spec["dropout"]))
                    shape = (spec["channels"], length)
                else:
                    k, p = _pair(spec["kernel_size"]), _pair(spec["pool"])
                    blocks.append(nn.Conv2d(shape[0], spec["channels"], k, padding="same"))
                    if spec["batch_norm"]:
                        blocks.append(nn.BatchNorm2d(spec["channels"]))
                    blocks.append(ACTIVATIONS[spec["activation"]]())
                    h, w = shape[1], shape[2]
                    if p != (1, 1):
                        if p[0] > h or p[1] > w:
                            raise DescriptionError(f"{where}.pool {list(p)} exceeds the {h}x{w} map left")
                        blocks.append(nn.MaxPool2d(p))
                        h, w = h // p[0], w // p[1]
                    if spec["dropout"]:
                        blocks.append(nn.Dropout(spec["dropout"]))
                    shape = (spec["channels"], h, w)
            else:  # global_pool
                if state == "flat":
                    raise DescriptionError(f"{where}: nothing to pool after a flat representation")
                dims = {"seq": (1,), "conv1d": (2,), "conv2d": (2, 3)}[state]
                blocks.append(_GlobalPool(spec["mode"], dims))
                shape = {"seq": (shape[1],), "conv1d": (shape[0],), "conv2d": (shape[0],)}[state]
                state = "flat"
        if state != "flat":
            blocks.append(nn.Flatten())
            shape = (math.prod(shape),)
        self.body = nn.Sequential(*blocks)
        self.embedding_dim = shape[0]
        self.output = nn.Linear(self.embedding_dim, num_classes)
        if description.init_scale is not None:
            self.reset_parameters(description.init_scale)

    @torch.no_grad()
    def reset_parameters(self, scale: float) -> None:
        """Weights of every linear and convolution ~ N(0, scale^2); their biases 0."""
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
                m.weight.normal_(0.0, scale)
                if m.bias is not None:
                    m.bias.zero_()

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        """Last hidden representation ``[B, embedding_dim]``."""
        if x.dim() == 4 and x.shape[1] == 1:  # [B, 1, frames, dim] from patch-style loaders
            x = x[:, 0]
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.embedding(x))


# --- the report's three families, registered ---------------------------------------------------
# Xu's report names the three layer types (its Figure 1) and that its fully-connected network has
# two layers (sec. 3.5: "a two-layer vanilla fully-connected network"), but gives no widths, no
# dropout rate, no kernel sizes and no depth for the residual and convolutional networks: every
# number below (1024 units, 256 channels, kernel 3, two residual blocks, dropout 0.3) is the
# workbook's own choice, scaled by ``width``.
def _width(units: int, width: float) -> int:
    return max(1, int(round(units * width)))


def fc_description(width: float = 1.0, dropout: float = 0.3, **kw) -> ModelDescription:
    """Fully connected: two 1024-unit ReLU layers on the flattened 10x128 embedding (two layers as
    the report says; the width and dropout are our choices)."""
    return ModelDescription([{"type": "dense", "units": _width(1024, width), "dropout": dropout}] * 2,
                            name="fully_connected", **kw)


def residual_description(width: float = 1.0, dropout: float = 0.3, blocks: int = 2, **kw) -> ModelDescription:
    """Residual: a 1024-unit dense layer, then ``blocks`` two-layer residual blocks (our choices:
    the report gives no sizes)."""
    units = _width(1024, width)
    return ModelDescription([{"type": "dense", "units": units, "dropout": dropout}]
                            + [{"type": "residual", "units": units, "dropout": dropout}] * blocks,
                            name="residual", **kw)


def conv_description(width: float = 1.0, dropout: float = 0.3, **kw) -> ModelDescription:
    """Convolutional: two 1-D convolutions along the 10 seconds (256 channels, kernel 3, the 128
    embedding dimensions as input channels, max-pooling by 2 after each), then a 1024-unit dense
    layer (our choices: the report gives no sizes). (A ``conv2d`` stack over the 10x128 image is
    the alternative the API also builds; at width 0.25 on a 2-core CPU it trained about four
    times slower.)"""
    channels = _width(256, width)
    return ModelDescription([{"type": "conv1d", "channels": channels, "pool": 2},
                             {"type": "conv1d", "channels": channels, "pool": 2, "dropout": dropout},
                             {"type": "dense", "units": _width(1024, width), "dropout": dropout}],
                            name="convolutional", **kw)


FAMILIES = {"fully_connected": fc_description, "residual": residual_description, "convolutional": conv_description}


@register_model(input_shape=(10, 128))
def x18_fc(num_classes: int, *, width: float = 1.0, dropout: float = 0.3,
           input_shape: tuple[int, int] = (10, 128)) -> DescribedNet:
    """X18's fully connected classifier on 10x128 embeddings (:func:`fc_description`)."""
    return fc_description(width, dropout).build(input_shape, num_classes)


@register_model(input_shape=(10, 128))
def x18_residual(num_classes: int, *, width: float = 1.0, dropout: float = 0.3, blocks: int = 2,
                 input_shape: tuple[int, int] = (10, 128)) -> DescribedNet:
    """X18's residual classifier on 10x128 embeddings (:func:`residual_description`)."""
    return residual_description(width, dropout, blocks).build(input_shape, num_classes)


@register_model(input_shape=(10, 128))
def x18_conv(num_classes: int, *, width: float = 1.0, dropout: float = 0.3,
             input_shape: tuple[int, int] = (10, 128)) -> DescribedNet:
    """X18's convolutional classifier on 10x128 embeddings (:func:`conv_description`)."""
    return conv_description(width, dropout).build(input_shape, num_classes)
