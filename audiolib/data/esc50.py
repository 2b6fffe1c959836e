"""ESC-50 and ESC-10: environmental sound classification (K. J. Piczak, ACM MM 2015).

Dataset card
------------
Source
    https://github.com/karolpiczak/ESC-50 (the release is the repository itself;
    :func:`download_esc50` fetches ``archive/master.zip``, about 600 MiB). GitHub builds that
    archive on the fly, so there is no fixed checksum: the download is verified by content
    (a zip holding ``meta/esc50.csv`` with 2000 rows and 2000 audio files).
Layout
    ``<root>/meta/esc50.csv`` with columns ``filename, fold, target, category, esc10,
    src_file, take``; ``<root>/audio/<filename>``: 5 s clips, 44.1 kHz mono WAV, named
    ``{fold}-{src_file}-{take}-{target}.wav``. This loader accepts a clip's stem with any
    audio extension (``.wav``, ``.flac``, ``.ogg``), WAV first.
Content
    2000 clips, 50 classes x 40 clips (``target`` 0..49, ``category`` names such as ``dog``),
    single label per clip. ESC-10 is the subset with ``esc10 == True``: 400 clips, 10 classes
    (dog, rooster, rain, sea_waves, crackling_fire, crying_baby, sneezing, clock_tick,
    helicopter, chainsaw).
Official folds
    ``fold`` 1..5, 400 clips each (80 for ESC-10), made so that clips cut from the same source
    recording share a fold. Results are reported as 5-fold cross-validation accuracy.
Licence
    ESC-50: Creative Commons Attribution-NonCommercial 3.0 (CC BY-NC 3.0);
    ESC-10: CC BY 3.0. Clips from freesound.org; attribution in the release.
Shared copy here
    ``../shared/data/esc50`` holds all 2000 metadata rows but only the 400 ESC-10 clips, as
    the 2015 ESC-10 Ogg Vorbis files (44.1 kHz mono, same recordings). ``load_esc50()`` on it
    reports the 1600 absent clips in ``ClipSet.unusable``; ``load_esc50(esc10=True)`` is
    complete.

>>> clips = load_esc50(esc10=True)  # doctest: +SKIP
>>> len(clips), len(clips.classes), sorted(clips.manifest.fold.unique())  # doctest: +SKIP
(400, 10, [1, 2, 3, 4, 5])
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from audiolib import paths
from audiolib.audio import AUDIO_EXTENSIONS
from audiolib.data import _recipes
from audiolib.data.base import ClipSet
from audiolib.data.download import (
    download_file,
    file_digest,
    is_complete,
    mark_complete,
    unpack_into,
)

__all__ = ["ESC50_URL", "download_esc50", "load_esc50", "N_CLIPS", "N_ESC10_CLIPS"]

ESC50_URL = "https://github.com/karolpiczak/ESC-50/archive/master.zip"
N_CLIPS = 2000
N_ESC10_CLIPS = 400
N_FOLDS = 5
SAMPLE_RATE = 44100
METADATA = Path("meta") / "esc50.csv"
COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")


def download_esc50(root=None, *, keep_archive: bool = False, progress: bool = True) -> Path:
    """Download and unpack ESC-50 into ``root`` (resumable; skipped when already complete).

    Args:
        root: destination folder; default ``audiolib.paths.data_root() / "esc50"`` (the cache,
            never the read-only shared subset).
        keep_archive: keep ``ESC-50-master.zip`` after unpacking.
        progress: show download progress.

    Returns:
        ``root``, holding ``meta/esc50.csv`` and ``audio/*.wav`` and a ``.complete`` marker.
    """
    root = Path(root) if root is not None else paths.data_root() / "esc50"
    if is_complete(root):
        return root
    archive = download_file(ESC50_URL, root / "ESC-50-master.zip", progress=progress)
    unpack_into(archive, root, require=METADATA)

    metadata = _read_metadata(root / METADATA)
    audio = _recipes.index_audio(root / "audio")
    missing = [s for s in metadata["filename"].map(lambda f: Path(f).stem) if s not in audio]
    if missing:
        raise RuntimeError(
            f"{archive} unpacked, but {len(missing)} clips listed in {METADATA} are absent from "
            f"{root / 'audio'} (first: {missing[:3]}); delete {archive} and download again"
        )
    mark_complete(root, {
        "dataset": "esc50",
        "url": ESC50_URL,
        "archive_sha256": file_digest(archive)["sha256"],
        "clips": len(metadata),
    })
    if not keep_archive:
        archive.unlink()
    return root


def load_esc50(
    root=None,
    *,
    esc10: bool = False,
    folds=None,
    on_missing: str = "report",
    sample_rate: int | None = None,
    verify: bool = False,
) -> ClipSet:
    """ESC-50 (or its ESC-10 subset) as a :class:`ClipSet` with the official folds.

    Args:
        root: the dataset folder; default ``audiolib.paths.dataset_root("esc50")`` (the shared
            subset when present, else the download cache; ``$AUDIOLIB_ESC50_ROOT`` overrides).
        esc10: only the 400 ESC-10 rows and their 10 classes.
        folds: keep only these official folds (ints in 1..5); ``None`` keeps all.
        on_missing: ``"report"`` (default): clips listed in the metadata without an audio file
            go to ``ClipSet.unusable`` (with the reason) and a warning gives their number;
            ``"error"``: raise ``FileNotFoundError`` naming the first missing files.
        sample_rate: the loader resamples to this rate; ``None`` keeps 44.1 kHz.
        verify: also read every file's header now and report unreadable files as unusable.

    Returns:
        ClipSet named ``"esc10"`` or ``"esc50"``. Manifest columns: ``clip_id`` (file stem),
        ``path``, ``labels`` (``(category,)``), ``fold`` (1..5), ``target`` (0..49),
        ``category``, ``esc10`` (bool), ``src_file``, ``take``, ``filename`` (as listed).
        ``classes`` are category names in ``target`` order.

    Raises:
        FileNotFoundError: no ``meta/esc50.csv`` under ``root`` (says how to download).
        ValueError: the metadata does not have ESC-50's 2000 rows, columns or folds.
    """
    _recipes.check_on_missing(on_missing)
    root = Path(root) if root is not None else paths.dataset_root("esc50")
    csv = root / METADATA
    if not csv.is_file():
        raise FileNotFoundError(
            f"ESC-50 metadata {csv} not found: download the dataset with "
            f"audiolib.data.esc50.download_esc50({str(root)!r}) (needs internet), or point "
            "$AUDIOLIB_ESC50_ROOT at an existing copy"
        )
    meta = _read_metadata(csv)
    name = "esc10" if esc10 else "esc50"
    if esc10:
        meta = meta[meta["esc10"]].reset_index(drop=True)
    categories = meta.drop_duplicates("target").sort_values("target")["category"].tolist()
    chosen = _recipes.select_folds(folds, range(1, N_FOLDS + 1), name)
    if chosen is not None:
        meta = meta[meta["fold"].isin(chosen)].reset_index(drop=True)

    audio = _recipes.index_audio(root / "audio")
    rows, unusable = [], []
    for rec in meta.itertuples(index=False):
        stem = Path(rec.filename).stem
        found = audio.get(stem)
        if found is None:
            tried = "{" + ",".join(e.lstrip(".") for e in AUDIO_EXTENSIONS) + "}"
            unusable.append(_recipes.unusable_entry(
                stem, root / "audio" / rec.filename, f"audio file not found (looked for audio/{stem}.{tried})"))
            continue
        path, size = found
        if size == 0:
            unusable.append(_recipes.unusable_entry(stem, path, "empty file (0 bytes)"))
            continue
        rows.append({
            "clip_id": stem, "path": str(path), "labels": (rec.category,), "fold": int(rec.fold),
            "target": int(rec.target), "category": rec.category, "esc10": bool(rec.esc10),
            "src_file": str(rec.src_file), "take": str(rec.take), "filename": rec.filename,
        })
    manifest = pd.DataFrame(rows, columns=["clip_id", "path", "labels", "fold", "target", "category",
                                           "esc10", "src_file", "take", "filename"])
    rates: set[int] = set()
    if verify and len(manifest):
        manifest, bad, rates = _recipes.verify_files(manifest)
        unusable += bad
    title = "ESC-10" if esc10 else "ESC-50"
    _recipes.report_missing(title, csv, unusable, len(meta), on_missing)

    listed = len(meta)
    count = f"{len(manifest)} clips" if len(manifest) == listed else f"{len(manifest)} of {listed} listed clips"
    fold_set = sorted(manifest["fold"].unique()) if len(manifest) else []
    description = (
        f"{title} ({count}, {len(categories)} classes, {_recipes.fold_text(fold_set)}, "
        f"{_recipes.where(root)})"
    )
    native = SAMPLE_RATE if not rates else (rates.pop() if len(rates) == 1 else None)
    return ClipSet(
        name=name,
        manifest=manifest,
        classes=categories,
        loader=_recipes.FileLoader(sample_rate),
        sample_rate=sample_rate or native,
        unusable=unusable,
        description=description,
    )


def _read_metadata(csv: Path) -> pd.DataFrame:
    """Read and check ``esc50.csv``: columns, 2000 rows, folds 1..5, 50 targets, 400 ESC-10 rows."""
    meta = _recipes.read_release_metadata(
        csv, dataset="ESC-50", columns=COLUMNS, dtypes={"filename": str, "category": str, "src_file": str, "take": str},
        n_rows=N_CLIPS, n_folds=N_FOLDS, class_id="target", class_name="category", n_classes=50)
    meta["esc10"] = meta["esc10"].map(_as_bool)
    if meta["esc10"].isna().any():
        raise ValueError(f"{csv}: column esc10 must hold True/False values")
    meta["esc10"] = meta["esc10"].astype(bool)
    if int(meta["esc10"].sum()) != N_ESC10_CLIPS:
        raise ValueError(f"{csv}: expected {N_ESC10_CLIPS} ESC-10 rows, found {int(meta['esc10'].sum())}")
    return meta


def _as_bool(value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return {"true": True, "1": True, "false": False, "0": False}.get(text)

#: The datasets this recipe provides: name -> (loader function, fixed keyword arguments).
DATASETS = {"esc50": ("load_esc50", {}), "esc10": ("load_esc50", {"esc10": True})}
