"""Datasets: one module per dataset (``download_<name>``, ``load_<name>``), discovered like models.

Every loader returns a :class:`ClipSet`. A recipe module declares what it provides in a
module-level ``DATASETS = {name: (loader function name, fixed keyword arguments)}``; adding a
dataset is adding one recipe file. :func:`list_datasets` finds them by scanning this package.

>>> from audiolib.data import load_dataset, list_datasets
>>> "synthetic" in list_datasets()
True
>>> clips = load_dataset("synthetic", n_clips=20, seed=0)
>>> len(clips), len(clips.classes)
(20, 29)
"""

from __future__ import annotations

import importlib
import pkgutil

from audiolib.data.base import ClipSet, Taxonomy

__all__ = ["ClipSet", "Taxonomy", "load_dataset", "list_datasets", "dataset_recipes"]


def dataset_recipes() -> dict[str, tuple[str, str, dict]]:
    """name -> (module, loader function, fixed keyword arguments), from every recipe's ``DATASETS``.

    Read on every call, so a recipe file added while a session runs is found too.
    """
    found: dict[str, tuple[str, str, dict]] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for name, (function, fixed) in getattr(module, "DATASETS", {}).items():
            if name in found:
                raise ValueError(f"dataset {name!r} declared by both {found[name][0]} and {module.__name__}")
            found[name] = (module.__name__, function, dict(fixed))
    return found


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`, sorted."""
    return sorted(dataset_recipes())


def load_dataset(name: str, **kwargs) -> ClipSet:
    """Load dataset ``name`` (see :func:`list_datasets`) with the loader's keyword arguments.

    ``"esc10"`` is ``load_esc50(esc10=True)``; ``"sonyc-ust"`` and ``"sonyc_ust"`` are the same.

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    key = str(name).strip().lower().replace("-", "_")
    recipes = dataset_recipes()
    if key not in recipes:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(recipes))}")
    module_name, function, fixed = recipes[key]
    module = importlib.import_module(module_name)
    overlap = sorted(set(fixed) & set(kwargs))
    if overlap:
        raise ValueError(f"load_dataset({name!r}) fixes {overlap}; do not pass them")
    return getattr(module, function)(**fixed, **kwargs)
