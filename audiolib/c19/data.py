"""C19 data: single-label ClipSets with official folds, and their mel images from the shared feature cache.

:func:`load_c19_dataset` gives one label per clip and a ``fold`` column: a registered dataset
with both, or C19's ``synthetic`` stand-in (the default corpus, one event per 4 s clip, uniform class
prior, labelled by the event's coarse category, folds 1..5 round-robin within each class).

:func:`dataset_images` gives the images of every clip at R1, R2 and R3 through
:func:`audiolib.cache.cached_patchset` (one entry per dataset and resolution), the clip loader wrapped
in :class:`~audiolib.c19.preprocess.PreparedClip`: each clip is one patch, the image before min-max.

>>> data = load_c19_dataset("esc10", clips_per_fold=8)         # doctest: +SKIP
>>> dataset_images(data)["R3"].shape                           # doctest: +SKIP
torch.Size([40, 128, 300])
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from audiolib.cache import cached_patchset
from audiolib.data import ClipSet, load_dataset
from audiolib.data.splits import cap_per_fold, load_available

from .preprocess import RESOLUTIONS, SAMPLE_RATE, PreparedClip, to_images

SYNTHETIC_CLIPS = 400
SYNTHETIC_FOLDS = 5


def labels_of(clips: ClipSet) -> np.ndarray:
    """``[n]`` class index of each clip of a single-label set."""
    return clips.targets().argmax(axis=1)


def folds_of(clips: ClipSet) -> np.ndarray:
    """``[n]`` official fold of each clip."""
    return clips.manifest["fold"].to_numpy().astype(int)


def _synthetic(n_clips: int, seed: int) -> ClipSet:
    from audiolib.data.synthetic import SyntheticSpec, load_synthetic

    spec = SyntheticSpec(n_clips=n_clips, seed=seed, max_events=1, clip_seconds=4.0, zipf_exponent=0.0)
    clips = load_synthetic(spec=spec)
    codes = list(clips.taxonomy.coarse)
    labels = np.array([codes.index(cl[0]) for cl in clips.manifest["coarse_labels"]])
    folds = np.zeros(len(labels), dtype=int)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        folds[idx] = 1 + np.arange(len(idx)) % SYNTHETIC_FOLDS
    names = [clips.taxonomy.coarse[c] for c in codes]
    manifest = clips.manifest.drop(columns=["coarse_labels"]).assign(labels=[(names[k],) for k in labels], fold=folds)
    return ClipSet("synthetic", manifest, names, clips.loader, clips.sample_rate, description=(
        f"synthetic default corpus, {n_clips} clips of 4 s with one event each, label = coarse category (8 classes), "
        f"{SYNTHETIC_FOLDS} folds assigned round-robin per class (generator spec {spec.key()})"))


def load_c19_dataset(name: str, *, clips_per_fold: int = 0, seed: int = 0,
                     synthetic_clips: int = SYNTHETIC_CLIPS) -> ClipSet:
    """Load ``name`` (``synthetic``: C19's stand-in above) as single-label clips with official folds, at most
    ``clips_per_fold`` per fold, classes in turn (:func:`audiolib.data.splits.cap_per_fold`; 0 keeps all).
    ``seed`` seeds that selection and the synthetic corpus."""
    if name == "synthetic":
        clips = _synthetic(synthetic_clips, seed)
    else:
        clips = load_dataset(name)
        multi = [i for i, ls in enumerate(clips.manifest["labels"]) if len(ls) != 1]
        if multi:
            raise ValueError(f"C19 needs single-label clips; {len(multi)} clips of {name} have "
                             f"{len(clips.manifest['labels'].iloc[multi[0]])} labels (e.g. "
                             f"{clips.manifest['clip_id'].iloc[multi[0]]})")
        if "fold" not in clips.manifest:
            raise ValueError(f"C19 needs official folds; the manifest of {name} has no 'fold' column")
        clips.description = clips.description or name
    if len(clips) == 0:
        raise FileNotFoundError(f"C19: dataset {name} has no usable clip here")
    if clips_per_fold:
        keep = cap_per_fold(labels_of(clips), folds_of(clips), clips_per_fold, seed)
        clips = clips.subset(keep)
        clips.description += f"; at most {clips_per_fold} clips per fold (classes in turn): {len(keep)} clips"
    return clips


def select_datasets(names, *, clips_per_fold: int = 0, seed: int = 0,
                    synthetic_clips: int = SYNTHETIC_CLIPS) -> tuple[list[ClipSet], list[str]]:
    """Load each of ``names`` that is here (:func:`audiolib.data.splits.load_available`); the first
    absent one is replaced by the synthetic corpus, unless that already runs -> ``(datasets, notes)``,
    ``notes`` saying what was missing and what ran instead."""
    load = dict(clips_per_fold=clips_per_fold, seed=seed, synthetic_clips=synthetic_clips)
    loaded, skipped = load_available(names, load_c19_dataset, **load)
    out, notes = [], []
    for name in names:
        if name in loaded:
            out.append(loaded[name])
        elif any(d.name == "synthetic" for d in out) or "synthetic" in names:
            notes.append(f"{name}: {skipped[name]}; skipped (the synthetic corpus already stands in)")
        else:
            out.append(load_c19_dataset("synthetic", **load))
            notes.append(f"{name}: {skipped[name]}; the synthetic default corpus runs in its place (not the paper's data)")
    return out, notes


def dataset_images(clips: ClipSet, resolutions=("R1", "R2", "R3"), *, num_workers: int = 0, progress: bool = False,
                   root=None) -> dict[str, torch.Tensor]:
    """Mel images of every clip at each resolution -> ``{name: Tensor[n, n_mels, frames]}`` (float32), from the
    shared feature cache (``root``: its folder, default ``data/features``)."""
    out = {}
    for name in resolutions:
        res = RESOLUTIONS[name]
        prepared = dataclasses.replace(clips, loader=PreparedClip(clips.loader, res), sample_rate=SAMPLE_RATE)
        spectra = cached_patchset(prepared, res.front_end, root=root, num_workers=num_workers, progress=progress)
        out[name] = to_images(spectra.patches)  # one patch per clip: the extract is exactly one image long
    return out
