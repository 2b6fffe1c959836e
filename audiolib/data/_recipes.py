"""Pieces shared by the file-based dataset recipes (ESC-50, UrbanSound8K).

Finding a clip's audio by stem whatever its extension, reporting listed-but-absent clips
(never dropping them silently), a picklable file loader, and naming where the data came from.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from audiolib import paths
from audiolib.audio import AUDIO_EXTENSIONS, AudioError, info, load_audio

ON_MISSING = ("report", "error")


def check_on_missing(value: str) -> str:
    if value not in ON_MISSING:
        raise ValueError(f"on_missing must be one of {ON_MISSING}, got {value!r}")
    return value


def index_audio(folder: Path) -> dict[str, tuple[Path, int]]:
    """``stem -> (path, size in bytes)`` for the audio files directly in ``folder``.

    When a stem exists with several extensions the first in :data:`AUDIO_EXTENSIONS` order
    (WAV, FLAC, Ogg) wins, so a full WAV release placed next to a compressed copy is preferred.
    """
    rank = {ext: k for k, ext in enumerate(AUDIO_EXTENSIONS)}
    found: dict[str, tuple[Path, int, int]] = {}
    if not folder.is_dir():
        return {}
    with os.scandir(folder) as entries:
        for entry in entries:
            stem, ext = os.path.splitext(entry.name)
            ext = ext.lower()
            if ext not in rank or not entry.is_file():
                continue
            previous = found.get(stem)
            if previous is None or rank[ext] < previous[2]:
                found[stem] = (Path(entry.path), entry.stat().st_size, rank[ext])
    return {stem: (p, size) for stem, (p, size, _) in found.items()}


def unusable_entry(clip_id: str, path: Path, reason: str) -> dict:
    return {"clip_id": clip_id, "path": str(path), "reason": reason}


def verify_files(manifest: pd.DataFrame) -> tuple[pd.DataFrame, list[dict], set[int]]:
    """Read every header; rows whose file is not usable audio move to the unusable list."""
    bad, rates = [], set()
    keep = []
    for row in manifest.itertuples(index=False):
        try:
            rates.add(info(row.path).sample_rate)
            keep.append(True)
        except AudioError as err:
            bad.append(unusable_entry(row.clip_id, Path(row.path), f"unreadable: {err.reason}"))
            keep.append(False)
    return manifest[keep].reset_index(drop=True), bad, rates


def report_missing(dataset: str, metadata: Path, unusable: list[dict], listed: int, on_missing: str,
                   detail: str = "") -> None:
    """Warn (``on_missing="report"``) or raise (``"error"``) about listed clips without audio."""
    if not unusable:
        return
    first = ", ".join(u["path"] for u in unusable[:3])
    if on_missing == "error":
        raise FileNotFoundError(
            f"{dataset}: {len(unusable)} of {listed} clips listed in {metadata} have no usable audio "
            f"(first: {first}){detail}; place the files, or pass on_missing='report' to continue "
            "with the clips present"
        )
    warnings.warn(
        f"{dataset}: {len(unusable)} of {listed} clips listed in {metadata} have no usable audio"
        f"{detail}; they are listed in ClipSet.unusable and left out of the manifest",
        stacklevel=3,
    )


def where(root: Path) -> str:
    """``"shared subset"`` for the real subsets under ``../shared/data``, else the folder."""
    shared = paths.shared_data_root()
    try:
        if shared is not None and Path(root).resolve().is_relative_to(shared.resolve()):
            return "shared subset"
    except OSError:
        pass
    return f"at {root}"


def fold_text(folds) -> str:
    folds = sorted(set(int(f) for f in folds))
    if not folds:
        return "no folds"
    if folds == list(range(folds[0], folds[-1] + 1)) and len(folds) > 2:
        return f"folds {folds[0]}-{folds[-1]}"
    return ("fold " if len(folds) == 1 else "folds ") + ",".join(map(str, folds))


def select_folds(folds, allowed: range, dataset: str) -> set[int] | None:
    if folds is None:
        return None
    chosen = {int(f) for f in ([folds] if isinstance(folds, int) else folds)}
    bad = sorted(chosen - set(allowed))
    if bad or not chosen:
        raise ValueError(f"{dataset}: folds must be in {allowed.start}..{allowed.stop - 1}, got {sorted(chosen)}")
    return chosen


@dataclass(frozen=True)
class FileLoader:
    """``row -> load_audio(row["path"], sample_rate)``; picklable for DataLoader workers."""

    sample_rate: int | None = None

    def __call__(self, row) -> tuple[torch.Tensor, int]:
        return load_audio(row["path"], self.sample_rate)


def read_release_metadata(csv: Path, *, dataset: str, columns, dtypes: dict, n_rows: int, n_folds: int,
                          class_id: str, class_name: str, n_classes: int) -> pd.DataFrame:
    """Read a release's metadata CSV and check what every such release promises.

    Checks the columns, the row count, folds ``1..n_folds`` and ``n_classes`` classes with one
    name per class id; every failure is a ``ValueError`` naming ``csv`` and what was found.
    """
    try:
        meta = pd.read_csv(csv, dtype=dtypes)
    except (OSError, ValueError) as err:
        raise ValueError(f"{csv}: cannot be read as CSV ({err})") from None
    missing = [c for c in columns if c not in meta.columns]
    if missing:
        raise ValueError(f"{csv}: not {dataset} metadata, columns {missing} are missing (has {list(meta.columns)})")
    if len(meta) != n_rows:
        raise ValueError(f"{csv}: expected the {n_rows} rows of the {dataset} release, found {len(meta)}; "
                         f"the metadata file is incomplete or not {dataset}'s")
    bad_folds = sorted(set(meta["fold"]) - set(range(1, n_folds + 1)))
    if bad_folds:
        raise ValueError(f"{csv}: folds must be 1..{n_folds}, found {bad_folds}")
    pairs = meta.drop_duplicates([class_id, class_name])
    if len(pairs) != n_classes or pairs[class_id].nunique() != n_classes:
        raise ValueError(f"{csv}: expected {n_classes} classes with one name per {class_id}, found {len(pairs)} pairs")
    return meta
