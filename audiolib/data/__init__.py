"""Datasets: one module per dataset (``download_<name>``, ``load_<name>``) and a registry.

Every loader returns a :class:`ClipSet`. :func:`load_dataset` dispatches by name and imports
the dataset's module only then, so a dataset whose module or files are missing does not break
the others.

>>> from audiolib.data import load_dataset, list_datasets
>>> "synthetic" in list_datasets()
True
>>> clips = load_dataset("synthetic", n_clips=20, seed=0)
>>> len(clips), len(clips.classes)
(20, 29)
"""

from __future__ import annotations

import importlib

from audiolib.data.base import ClipSet, Taxonomy

__all__ = ["ClipSet", "Taxonomy", "load_dataset", "list_datasets", "DATASETS"]

#: name -> (module, function, fixed keyword arguments)
DATASETS: dict[str, tuple[str, str, dict]] = {
    "synthetic": ("audiolib.data.synthetic", "load_synthetic", {}),
    "esc50": ("audiolib.data.esc50", "load_esc50", {}),
    "esc10": ("audiolib.data.esc50", "load_esc50", {"esc10": True}),
    "urbansound8k": ("audiolib.data.urbansound8k", "load_urbansound8k", {}),
    "sonyc_ust": ("audiolib.data.sonyc_ust", "load_sonyc_ust", {}),
    "urban_mixtures": ("audiolib.data.urban_mixtures", "load_urban_mixtures", {}),
}


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`."""
    return list(DATASETS)


def load_dataset(name: str, **kwargs) -> ClipSet:
    """Load dataset ``name`` (see :func:`list_datasets`) with the loader's keyword arguments.

    ``"esc10"`` is ``load_esc50(esc10=True)``; ``"sonyc-ust"`` and ``"sonyc_ust"`` are the same.

    Raises:
        ValueError: unknown name (the message lists the known ones).
        ImportError: the dataset's module is not available.
    """
    key = str(name).strip().lower().replace("-", "_")
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    module_name, function, fixed = DATASETS[key]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise
        raise ImportError(f"dataset {name!r} needs the module {module_name}, which is not available") from None
    overlap = sorted(set(fixed) & set(kwargs))
    if overlap:
        raise ValueError(f"load_dataset({name!r}) fixes {overlap}; do not pass them")
    return getattr(module, function)(**fixed, **kwargs)
