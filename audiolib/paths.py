"""Where things live: the project root, the data cache, the results root and the shared real data.

Every location can be overridden by an environment variable, so that notebooks run from any
working directory (JupyterLab starts them in ``notebooks/``, papermill from the project root).

>>> from audiolib import paths
>>> paths.results_root().name
'results'
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def project_root() -> Path:
    """The repository root (the folder that holds ``audiolib/`` and ``notebooks/``)."""
    return PROJECT_ROOT


def data_root() -> Path:
    """Download and feature cache: ``$AUDIOLIB_DATA`` or ``<project>/data``."""
    return Path(os.environ.get("AUDIOLIB_DATA", PROJECT_ROOT / "data"))


def results_root() -> Path:
    """Versioned run folders: ``$AUDIOLIB_RESULTS`` or ``<project>/results``."""
    return Path(os.environ.get("AUDIOLIB_RESULTS", PROJECT_ROOT / "results"))


def shared_data_root() -> Path | None:
    """The real data subsets (ESC-10, UrbanSound8K folds, SONYC-UST annotations, AudioSet labels).

    ``$AUDIOLIB_SHARED_DATA`` if set, else ``<project>/../shared/data``; ``None`` when absent.
    """
    env = os.environ.get("AUDIOLIB_SHARED_DATA")
    candidate = Path(env) if env else PROJECT_ROOT.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def papers_root() -> Path | None:
    """The papers' text: ``$AUDIOLIB_PAPERS`` or ``<project>/../shared/papers``; ``None`` when absent."""
    env = os.environ.get("AUDIOLIB_PAPERS")
    candidate = Path(env) if env else PROJECT_ROOT.parent / "shared" / "papers"
    return candidate if candidate.is_dir() else None


def dataset_root(name: str) -> Path:
    """Where dataset ``name`` is looked for: the shared real subset if present, else the cache.

    ``$AUDIOLIB_<NAME>_ROOT`` (e.g. ``AUDIOLIB_ESC50_ROOT``) wins over both.
    """
    env = os.environ.get(f"AUDIOLIB_{name.upper().replace('-', '_')}_ROOT")
    if env:
        return Path(env)
    shared = shared_data_root()
    if shared is not None and (shared / name).is_dir():
        return shared / name
    return data_root() / name
