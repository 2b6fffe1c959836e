"""UrbanSound8K: urban sound excerpts in ten classes (Salamon, Jacoby and Bello, ACM MM 2014).

Dataset card
------------
Source
    https://urbansounddataset.weebly.com/urbansound8k.html; the release is on Zenodo,
    record 1203745: ``UrbanSound8K.tar.gz`` (about 6 GiB, MD5
    ``9aa69802bbf37fb986f71ec1483a196e``, as the soundata index records it).
    :func:`download_urbansound8k` fetches it resumably and checks the MD5.
Layout
    ``<root>/metadata/UrbanSound8K.csv`` with columns ``slice_file_name, fsID, start, end,
    salience, fold, classID, class``; ``<root>/audio/fold{1..10}/<slice_file_name>``: WAV
    excerpts of at most 4 s at their original rates (mixed: 8 to 192 kHz, mono or stereo).
    This loader accepts a clip's stem with any audio extension (``.wav``, ``.flac``, ``.ogg``).
Content
    8732 labelled excerpts of field recordings from freesound.org, one label each, 10 classes
    (``classID`` 0..9: air_conditioner, car_horn, children_playing, dog_bark, drilling,
    engine_idling, gun_shot, jackhammer, siren, street_music). ``salience``: 1 foreground,
    2 background. ``start``/``end``: the excerpt's time in the source recording (s).
Official folds
    ``fold`` 1..10, predefined: excerpts from the same recording share a fold. Results must be
    reported as 10-fold cross-validation on these folds (never a random split).
Licence
    Creative Commons Attribution-NonCommercial 3.0 (CC BY-NC 3.0); attribution list in
    ``FREESOUNDCREDITS.txt`` of the release.
Shared copy here
    ``../shared/data/urbansound8k``: all 8732 metadata rows; folds 1 and 2 complete, fold 3
    387 of 925 clips, folds 4-10 absent; every clip 22.05 kHz mono, exactly 4.0 s (shorter
    ones looped), Ogg Vorbis. The absent clips are reported in ``ClipSet.unusable``.

>>> clips = load_urbansound8k(folds=[1, 2])  # doctest: +SKIP
>>> len(clips), clips.classes[:2]  # doctest: +SKIP
(1761, ['air_conditioner', 'car_horn'])
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd

from audiolib import paths
from audiolib.audio import AUDIO_EXTENSIONS
from audiolib.data import _recipes
from audiolib.data.base import ClipSet
from audiolib.data.download import download_file, is_complete, mark_complete, unpack_into

__all__ = ["URBANSOUND8K_URL", "URBANSOUND8K_MD5", "download_urbansound8k", "load_urbansound8k", "N_CLIPS"]

URBANSOUND8K_URL = "https://zenodo.org/record/1203745/files/UrbanSound8K.tar.gz"
URBANSOUND8K_MD5 = "9aa69802bbf37fb986f71ec1483a196e"
N_CLIPS = 8732
N_FOLDS = 10
METADATA = Path("metadata") / "UrbanSound8K.csv"
COLUMNS = ("slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class")


def download_urbansound8k(root=None, *, keep_archive: bool = False, progress: bool = True) -> Path:
    """Download, verify (MD5) and unpack UrbanSound8K into ``root``; skipped when complete.

    Args:
        root: destination; default ``audiolib.paths.data_root() / "urbansound8k"``.
        keep_archive: keep ``UrbanSound8K.tar.gz`` after unpacking.
        progress: show download progress.

    Returns:
        ``root`` with ``metadata/``, ``audio/fold1..10`` and a ``.complete`` marker.
    """
    root = Path(root) if root is not None else paths.data_root() / "urbansound8k"
    if is_complete(root):
        return root
    archive = download_file(URBANSOUND8K_URL, root / "UrbanSound8K.tar.gz", md5=URBANSOUND8K_MD5,
                            progress=progress)
    unpack_into(archive, root, top="UrbanSound8K", require=METADATA)

    meta = _read_metadata(root / METADATA)
    missing = []
    for fold, group in meta.groupby("fold"):
        audio = _recipes.index_audio(root / "audio" / f"fold{fold}")
        missing += [f for f in group["slice_file_name"] if Path(f).stem not in audio]
    if missing:
        raise RuntimeError(
            f"{archive} unpacked, but {len(missing)} listed clips are absent (first: {missing[:3]}); "
            f"delete {archive} and download again"
        )
    mark_complete(root, {"dataset": "urbansound8k", "url": URBANSOUND8K_URL, "md5": URBANSOUND8K_MD5,
                         "clips": len(meta)})
    if not keep_archive:
        archive.unlink()
    return root


def load_urbansound8k(
    root=None,
    *,
    folds=None,
    on_missing: str = "report",
    sample_rate: int | None = None,
    verify: bool = False,
) -> ClipSet:
    """UrbanSound8K as a :class:`ClipSet` with its ten official folds.

    Args:
        root: the dataset folder; default ``audiolib.paths.dataset_root("urbansound8k")``
            (``$AUDIOLIB_URBANSOUND8K_ROOT`` overrides).
        folds: keep only these folds (ints in 1..10); ``None`` keeps all.
        on_missing: ``"report"`` (default): listed clips without audio (a whole fold folder
            absent, or single files) go to ``ClipSet.unusable`` with the reason and a warning
            counts them per fold; ``"error"``: raise ``FileNotFoundError`` naming the first ones.
        sample_rate: the loader resamples to this rate; ``None`` keeps each file's rate (the
            release mixes rates, so ``ClipSet.sample_rate`` is then ``None`` unless ``verify``
            finds a single rate).
        verify: also read every file's header now; unreadable files become unusable.

    Returns:
        ClipSet ``"urbansound8k"``. Manifest columns: ``clip_id`` (stem), ``path``,
        ``labels`` (``(class,)``), ``fold``, ``classID``, ``class``, ``salience``, ``start``,
        ``end``, ``fsID``, ``filename``. ``classes`` in ``classID`` order.
    """
    _recipes.check_on_missing(on_missing)
    root = Path(root) if root is not None else paths.dataset_root("urbansound8k")
    csv = root / METADATA
    if not csv.is_file():
        raise FileNotFoundError(
            f"UrbanSound8K metadata {csv} not found: download the dataset with "
            f"audiolib.data.urbansound8k.download_urbansound8k({str(root)!r}) (needs internet), "
            "or point $AUDIOLIB_URBANSOUND8K_ROOT at an existing copy"
        )
    meta = _read_metadata(csv)
    classes = meta.drop_duplicates("classID").sort_values("classID")["class"].tolist()
    chosen = _recipes.select_folds(folds, range(1, N_FOLDS + 1), "urbansound8k")
    if chosen is not None:
        meta = meta[meta["fold"].isin(chosen)].reset_index(drop=True)

    tried = "{" + ",".join(e.lstrip(".") for e in AUDIO_EXTENSIONS) + "}"
    rows, unusable = [], []
    missing_per_fold: Counter = Counter()
    absent_folds = set()
    for fold, group in meta.groupby("fold", sort=True):
        folder = root / "audio" / f"fold{fold}"
        audio = _recipes.index_audio(folder)
        if not folder.is_dir():
            absent_folds.add(int(fold))
        for rec in group.itertuples(index=False):
            stem = Path(rec.slice_file_name).stem
            found = audio.get(stem)
            if found is None or found[1] == 0:
                if not folder.is_dir():
                    reason = f"fold folder audio/fold{fold} absent"
                elif found is None:
                    reason = f"audio file not found (looked for audio/fold{fold}/{stem}.{tried})"
                else:
                    reason = "empty file (0 bytes)"
                path = found[0] if found else folder / rec.slice_file_name
                unusable.append(_recipes.unusable_entry(stem, path, reason))
                missing_per_fold[int(fold)] += 1
                continue
            rows.append({
                "clip_id": stem, "path": str(found[0]), "labels": (rec[7],), "fold": int(fold),
                "classID": int(rec.classID), "class": rec[7], "salience": int(rec.salience),
                "start": float(rec.start), "end": float(rec.end), "fsID": str(rec.fsID),
                "filename": rec.slice_file_name,
            })
    manifest = pd.DataFrame(rows, columns=["clip_id", "path", "labels", "fold", "classID", "class",
                                           "salience", "start", "end", "fsID", "filename"])
    rates: set[int] = set()
    if verify and len(manifest):
        manifest, bad, rates = _recipes.verify_files(manifest)
        unusable += bad

    detail = _missing_detail(missing_per_fold, absent_folds)
    _recipes.report_missing("UrbanSound8K", csv, unusable, len(meta), on_missing, detail)

    listed = len(meta)
    count = f"{len(manifest)} clips" if len(manifest) == listed else f"{len(manifest)} of {listed} listed clips"
    present = sorted(manifest["fold"].unique()) if len(manifest) else []
    complete = [f for f in present if missing_per_fold[f] == 0]
    partial = [f for f in present if missing_per_fold[f] > 0]
    folds_text = _recipes.fold_text(complete) + (" complete" if partial else "")
    if partial:
        folds_text += ", " + _recipes.fold_text(partial) + " partial"
    description = f"UrbanSound8K ({count}, {len(classes)} classes, {folds_text}, {_recipes.where(root)})"
    native = rates.pop() if len(rates) == 1 else None
    return ClipSet(
        name="urbansound8k",
        manifest=manifest,
        classes=classes,
        loader=_recipes.FileLoader(sample_rate),
        sample_rate=sample_rate or native,
        unusable=unusable,
        description=description,
    )


def _missing_detail(missing_per_fold: Counter, absent_folds: set[int]) -> str:
    if not missing_per_fold:
        return ""
    parts = []
    partial = {f: n for f, n in sorted(missing_per_fold.items()) if f not in absent_folds}
    for fold, n in partial.items():
        parts.append(f"fold {fold}: {n} missing")
    if absent_folds:
        parts.append(f"{_recipes.fold_text(absent_folds)}: folder absent "
                     f"({sum(missing_per_fold[f] for f in absent_folds)} clips)")
    return " (" + "; ".join(parts) + ")"


def _read_metadata(csv: Path) -> pd.DataFrame:
    """Read and check ``UrbanSound8K.csv``: columns, 8732 rows, folds 1..10, 10 classes."""
    meta = _recipes.read_release_metadata(
        csv, dataset="UrbanSound8K", columns=COLUMNS, dtypes={"slice_file_name": str, "class": str, "fsID": str},
        n_rows=N_CLIPS, n_folds=N_FOLDS, class_id="classID", class_name="class", n_classes=10)
    return meta[list(COLUMNS)]

#: The datasets this recipe provides: name -> (loader function, fixed keyword arguments).
DATASETS = {"urbansound8k": ("load_urbansound8k", {})}
