"""Checks on what a checkpoint declares about the model to rebuild, before anything is allocated.

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
from typing import Any

__all__ = ["MAX_CLASSES", "MAX_SIZE", "check_rebuild_info"]

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
