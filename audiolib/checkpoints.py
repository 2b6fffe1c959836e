"""Model files: one reader, one fit check, one save/rebuild pair, and checks before anything is allocated.

:func:`read_torch_file` reads any ``.pt``/``.pth`` file safely (``weights_only=True``) and names
the file when it cannot; :func:`check_state_fits` is the one "missing / unexpected / mismatched
tensors" check; :func:`save_model` and :func:`load_model` are the one pair that saves a trained
model with what rebuilds it (name, arguments, classes, feature config ...) and rebuilds it.

A checkpoint saved by :func:`audiolib.tagging.save_tagger` or
:func:`audiolib.embeddings.save_embedding_model` loads safely (``weights_only=True``), but its
``extra`` says which model to build and how big: ``model_name``, ``num_classes``,
``model_kwargs`` and ``feature_config``. A damaged or hostile file declaring
``num_classes=10**12`` or ``n_fft=2**28`` would make the rebuild allocate gigabytes before any
shape check. :func:`check_rebuild_info` refuses such sizes first, naming the file and the field.

Limits (well above every model of the papers: H17's largest label set has 30,871 classes):

- ``num_classes``: an int in ``1..MAX_CLASSES``;
- every number in ``model_kwargs`` and ``feature_config``: finite and at most ``MAX_SIZE`` in
  magnitude (``n_fft``, widths, units, sample rates ...);
- ``classes`` / ``class_names``, when present: lists of ``num_classes`` strings.

>>> check_rebuild_info({"model_name": "fc_audio", "num_classes": 10**12}, "best.pt")  # doctest: +SKIP
Traceback (most recent call last):
ValueError: checkpoint best.pt: extra.num_classes=1000000000000 is outside 1..100000 ...
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch
from torch import nn

from .results import atomic_path
from .runtime import rng_state, unwrap

__all__ = ["MAX_CLASSES", "MAX_SIZE", "check_rebuild_info", "read_torch_file", "check_state_fits", "save_checkpoint",
           "load_checkpoint", "save_model", "load_model"]

MAX_CLASSES = 100_000
MAX_SIZE = 2**20


def check_rebuild_info(extra: Any, path: str | Path) -> None:
    """Raise ``ValueError`` naming ``path`` and the field if ``extra`` declares an absurd model.

    Args:
        extra: the checkpoint's ``extra`` dict (``model_name``, ``num_classes``, ``model_kwargs``,
            optional ``feature_config``, ``classes``, ``class_names``).
        path: the checkpoint file, for the message.
    """
    where = f"checkpoint {path}"
    if not isinstance(extra, dict):
        raise ValueError(f"{where}: extra must be a dict, got {type(extra).__name__}; it is damaged or not "
                         "a checkpoint of this project")
    from .models import list_models

    name = extra.get("model_name")
    if not isinstance(name, str) or name not in list_models():
        raise ValueError(f"{where}: extra.model_name={name!r:.60} is not a registered model "
                         "(audiolib.models.list_models()); the file is damaged or from another project")
    n = extra.get("num_classes")
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_CLASSES:
        raise ValueError(f"{where}: extra.num_classes={n!r:.60} is outside 1..{MAX_CLASSES}; the file is damaged "
                         "or hostile, refusing to build the model")
    for field in ("model_kwargs", "feature_config"):
        value = extra.get(field)
        if field == "model_kwargs" and value is not None and not isinstance(value, dict):
            raise ValueError(f"{where}: extra.model_kwargs must be a dict, got {type(value).__name__}")
        bad = _first_absurd(value, f"extra.{field}")
        if bad:
            raise ValueError(f"{where}: {bad[0]}={bad[1]!r:.60} is not a finite number of magnitude at most "
                             f"{MAX_SIZE}; the file is damaged or hostile, refusing to build the model")
    for field in ("classes", "class_names"):
        value = extra.get(field)
        if value is not None and (not isinstance(value, list) or len(value) != n
                                  or not all(isinstance(c, str) for c in value)):
            raise ValueError(f"{where}: extra.{field} must be a list of {n} strings (one per class)")


def _first_absurd(value: Any, where: str) -> tuple[str, Any] | None:
    """``(field path, value)`` of the first number in ``value`` that is not finite or too large."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return None
    if isinstance(value, (int, float)):
        ok = math.isfinite(value) and abs(value) <= MAX_SIZE
        return None if ok else (where, value)
    if isinstance(value, dict):
        items = ((f"{where}.{k}", v) for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for field, item in items:
        bad = _first_absurd(item, field)
        if bad:
            return bad
    return None


def read_torch_file(path: str | Path, what: str = "checkpoint") -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; errors name ``what`` and the file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: damaged, from another program, or holding objects other than tensors (a
            file holding code is refused, never run).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - pickle, zip and format errors alike, reported with the file
        raise ValueError(f"{what} {path} is unreadable ({type(exc).__name__}: {str(exc)[:200]}): it is damaged, "
                         "from another program, or holds objects other than tensors (never loaded)") from None


def check_state_fits(own: Mapping[str, torch.Tensor], state: Mapping[str, Any], *, where: str, target: str = "",
                     optional: Iterable[str] = ()) -> None:
    """Raise ``ValueError`` ("``where`` does not fit ``target``: ...") unless ``state`` has exactly
    ``own``'s tensors and shapes.

    ``optional`` names tensors of ``own`` that may be absent from ``state`` (e.g. a fresh head).

    >>> check_state_fits({"w": torch.zeros(2)}, {"w": torch.zeros(3), "b": torch.zeros(1)}, where="x.pt")
    Traceback (most recent call last):
    ValueError: x.pt does not fit: 1 unexpected (e.g. b); 1 mismatched (e.g. w: file (3,) vs model (2,))
    """
    missing = sorted(set(own) - set(state) - set(optional))
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                        for k in set(own) & set(state) if tuple(state[k].shape) != tuple(own[k].shape))
    parts = [f"{len(names)} {kind} (e.g. {names[0]})"
             for kind, names in (("missing", missing), ("unexpected", unexpected), ("mismatched", mismatched)) if names]
    if parts:
        raise ValueError(f"{where} does not fit{' ' + target if target else ''}: {'; '.join(parts)}")


def save_checkpoint(path: str | Path, model: nn.Module, optimizer=None, scheduler=None, *, step: int = 0,
                    history: list[dict] | None = None, extra: dict | None = None) -> Path:
    """Write a checkpoint atomically (temporary file, then rename).

    It holds the model's weights (unwrapped from DDP / ``torch.compile``), the optimizer and
    scheduler states, ``step``, ``history``, this process's RNG states and ``extra``; all of it
    loads with ``torch.load(..., weights_only=True)``.
    """
    path = Path(path)
    payload = {"model": unwrap(model).state_dict(), "step": step, "history": history or [], "rng": rng_state(),
               "model_class": type(unwrap(model)).__name__, "extra": extra or {}}
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        payload["scheduler"] = scheduler.state_dict()
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | Path, model: nn.Module | None = None) -> dict[str, Any]:
    """Load a checkpoint onto the CPU with ``weights_only=True``; load its weights into ``model`` if given.

    Raises ``ValueError`` naming the file when the checkpoint does not fit ``model``'s
    architecture (missing/unexpected keys or shape mismatches).
    """
    payload = read_torch_file(path)
    _load_weights(payload, path, model)
    return payload


def _load_weights(payload: Any, path: str | Path, model: nn.Module | None) -> None:
    """Check that ``payload`` (a checkpoint read from ``path``) holds a state dict and, given ``model``,
    that it fits; then load it into ``model``."""
    state = payload.get("model", payload) if isinstance(payload, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {path} holds no state dict")
    if model is not None:
        target = unwrap(model)
        saved_from = payload.get("model_class", "unknown")
        check_state_fits(target.state_dict(), state, where=f"checkpoint {path}",
                         target=f"{type(target).__name__} (saved from {saved_from})")
        target.load_state_dict(state)


def save_model(path: str | Path, model: nn.Module, *, model_name: str, num_classes: int,
               model_kwargs: Mapping[str, Any] | None = None, step: int = 0, **extra: Any) -> Path:
    """Save a trained registered model with what rebuilds it; ``extra`` adds JSON-able facts
    (``classes``, ``class_names``, ``feature_config``, ``pca``, ``description`` ...)."""
    info = {"model_name": model_name, "model_kwargs": dict(model_kwargs or {}), "num_classes": int(num_classes),
            **extra}
    return save_checkpoint(path, model, step=int(step), extra=info)


def load_model(path: str | Path, *, device: str | torch.device | None = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model saved by :func:`save_model`: ``(model in eval mode on device, extra)``.

    The declared sizes are checked (:func:`check_rebuild_info`) before the model is built.

    Raises:
        FileNotFoundError / ValueError naming ``path`` when it is missing, unreadable, does not
        say which model it holds, or does not fit that model.
    """
    from .models import create_model
    from .runtime import resolve_device

    payload = read_torch_file(path)
    extra = dict(payload.get("extra") or {}) if isinstance(payload, dict) else {}
    if "model_name" not in extra or "num_classes" not in extra:
        raise ValueError(f"checkpoint {path} does not say which model it holds (extra.model_name and "
                         "extra.num_classes); save it with audiolib.checkpoints.save_model")
    check_rebuild_info(extra, path)  # absurd declared sizes are refused before the model is allocated
    model = create_model(extra["model_name"], int(extra["num_classes"]), **dict(extra.get("model_kwargs") or {}))
    _load_weights(payload, path, model)  # the file read once
    return model.to(resolve_device(device)).eval(), extra
