"""A registry of model entry points, as timm keeps one.

An entry point is a function ``name(num_classes, **kw) -> nn.Module`` decorated with
:func:`register_model`. It only sets arguments; variants are arguments, never copied classes.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from typing import Callable

import torch
from torch import nn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
_DEFAULT_INPUT: dict[str, tuple[int, ...]] = {}


def register_model(fn: Callable[..., nn.Module] | None = None, *, input_shape: tuple[int, ...] = (1, 96, 64)):
    """Register ``fn`` under its own name. ``input_shape`` is ``(channels, frames, mels)`` per example."""

    def wrap(f):
        if f.__name__ in _REGISTRY:
            raise ValueError(f"model {f.__name__!r} is registered twice")
        _REGISTRY[f.__name__] = f
        _DEFAULT_INPUT[f.__name__] = tuple(input_shape)
        return f

    return wrap(fn) if fn is not None else wrap


def unregister_model(name: str) -> None:
    """Remove ``name`` from the registry (e.g. before reloading an edited model file in a notebook,
    which would otherwise register the name twice)."""
    _check_name(name)
    del _REGISTRY[name], _DEFAULT_INPUT[name]


def discover() -> None:
    """Import every module of the models package not imported yet: a new file registers itself.

    Runs on every lookup, so a file added while a session runs is found too (importing a module
    already imported costs a dictionary lookup).
    """
    package = sys.modules[__package__]
    for info in pkgutil.iter_modules(package.__path__):
        if info.name not in {"base", "registry"} and not info.name.startswith("_"):
            importlib.import_module(f"{__package__}.{info.name}")


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    discover()
    return sorted(_REGISTRY)


def model_arguments(name: str) -> dict[str, object]:
    """The keyword arguments entry point ``name`` accepts, with their defaults (``num_classes`` left out).

    >>> model_arguments("fc_audio")["layers"]
    3
    """
    _check_name(name)
    params = inspect.signature(_REGISTRY[name]).parameters
    return {k: (None if p.default is p.empty else p.default) for k, p in params.items()
            if k != "num_classes" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


def accepts(name: str, argument: str) -> bool:
    """Whether :func:`create_model` ``(name, ..., argument=...)`` is accepted.

    >>> accepts("resnet50_audio", "bottleneck"), accepts("fc_audio", "no_such_argument")
    (True, False)
    """
    _check_name(name)
    params = inspect.signature(_REGISTRY[name]).parameters
    return argument in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def default_input_shape(name: str) -> tuple[int, ...]:
    """Per-example input shape the entry point expects by default, e.g. ``(1, 96, 64)``."""
    _check_name(name)
    return _DEFAULT_INPUT[name]


def create_model(name: str, num_classes: int, **kw) -> nn.Module:
    """Build a registered model.

    Args:
        name: one of :func:`list_models`.
        num_classes: size of the output layer (logits; the sigmoid lives in the loss).
        **kw: the entry point's keyword arguments (e.g. ``width``, ``bottleneck``).

    >>> m = create_model("fc_audio", 10, layers=2, units=32)
    >>> m(torch.zeros(4, 1, 96, 64)).shape
    torch.Size([4, 10])
    """
    _check_name(name)
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    fn = _REGISTRY[name]
    params = inspect.signature(fn).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(kw) - set(params))
        if unknown:
            allowed = sorted(k for k in params if k != "num_classes")
            raise TypeError(f"create_model({name!r}): unknown argument(s) {unknown}; allowed: {allowed}")
    return fn(num_classes=num_classes, **kw)


def _check_name(name: str) -> None:
    if name not in _REGISTRY:
        discover()
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; registered models: {', '.join(list_models())}")


@torch.no_grad()
def complexity(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """Count trainable weights and multiplies for one example of ``input_shape``.

    Weights are the trainable parameters (biases and batch-norm scales included).
    Multiplies are those of convolutions and fully-connected layers (one per weight use,
    per output position), the count the H17 paper reports; element-wise operations
    (batch norm, activations, pooling) are not counted.

    Args:
        model: any module taking ``[batch, *input_shape]``.
        input_shape: per-example shape, e.g. ``(1, 96, 64)``.

    Returns:
        ``(weights, multiplies)``.

    >>> complexity(nn.Linear(10, 5), (10,))
    (55, 50)
    """
    weights = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = 0

    def conv_hook(mod, inp, out):
        nonlocal total
        per_output = mod.weight.shape[1] * int(torch.tensor(mod.weight.shape[2:]).prod())
        total += out.numel() * per_output

    def linear_hook(mod, inp, out):
        nonlocal total
        total += out.numel() * mod.in_features

    def bilinear_hook(mod, inp, out):
        nonlocal total
        total += out.numel() * mod.in1_features * (mod.in2_features + 1)

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
        elif isinstance(m, nn.Bilinear):
            hooks.append(m.register_forward_hook(bilinear_hook))
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else "cpu"
        model(torch.zeros((1, *input_shape), device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return int(weights), int(total)
