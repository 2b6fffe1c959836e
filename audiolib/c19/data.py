"""C19 data: single-label datasets with official folds, and the per-dataset, per-resolution feature cache.

:func:`load_c19_dataset` returns a :class:`C19Data` for ``esc10``, ``esc50``, ``urbansound8k``
(official folds: 5, 5, 10) or ``synthetic``. The synthetic default corpus is made single-label
by construction: it is generated with one event per clip (``max_events=1``), 4 s clips, a
uniform class prior, and the clip's label is the coarse category of its event (8 classes);
folds 1..5 are assigned round-robin within each class in clip order.

:func:`dataset_images` computes the mel images of every clip at R1, R2 and R3 (one audio decode
per clip for all three) and caches them on disk in
``audiolib.paths.data_root() / "cache" / "c19"``, one file per dataset and resolution named by a
hash of the pre-processing configuration; inside, images are keyed per clip by its id, path,
file size and modification time (or the generator's spec for synthetic clips), so a changed
configuration or a changed file is recomputed, never read stale. Files are written atomically.

>>> data = load_c19_dataset("esc10", clips_per_fold=8)         # doctest: +SKIP
>>> images = dataset_images(data)                              # doctest: +SKIP
>>> images["R3"].shape                                         # doctest: +SKIP
torch.Size([40, 128, 300])
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from audiolib import paths
from audiolib.results import atomic_path

from .preprocess import RESOLUTIONS, SAMPLE_RATE, TRIM_FRAME, TRIM_HOP, TRIM_TOP_DB, Resolution, image_from_prepared, \
    prepare_waveform

__all__ = ["C19Data", "DATASET_FOLDS", "load_c19_dataset", "select_datasets", "dataset_images", "cache_dir",
           "PIPELINE_VERSION"]

#: official number of folds of each real dataset
DATASET_FOLDS = {"esc10": 5, "esc50": 5, "urbansound8k": 10, "synthetic": 5}
PIPELINE_VERSION = 1
SYNTHETIC_CLIPS = 400


@dataclass
class C19Data:
    """A single-label dataset with folds, as the C19 experiments use it.

    Attributes:
        name: ``esc10`` / ``esc50`` / ``urbansound8k`` / ``synthetic``.
        clips: the :class:`~audiolib.data.ClipSet` of the clips used (after any per-fold cap).
        labels: ``[n]`` class index of each clip.
        classes: class names, in model output order.
        folds: ``[n]`` official fold of each clip.
        clip_keys: ``[n]`` cache keys (id, path, size, mtime; or the synthetic spec).
        description: what data this is (goes next to every table).
        unusable: clips listed by the dataset but absent here (from the loader).
    """

    name: str
    clips: object
    labels: np.ndarray
    classes: list[str]
    folds: np.ndarray
    clip_keys: list[str]
    description: str
    unusable: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def folds_present(self) -> list[int]:
        return sorted(int(f) for f in np.unique(self.folds))

    def fingerprint(self) -> str:
        text = self.name + "|" + ",".join(self.classes) + "|" + "\n".join(
            f"{k}|{l}|{f}" for k, l, f in zip(self.clip_keys, self.labels, self.folds))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _file_key(clip_id: str, path) -> str:
    try:
        st = os.stat(path)
    except OSError as err:
        raise FileNotFoundError(f"C19: audio file {path} of clip {clip_id} is not readable: {err}") from None
    return f"{clip_id}|{path}|{st.st_size}|{st.st_mtime_ns}"


def _cap_per_fold(labels: np.ndarray, folds: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """Indices of at most ``cap`` clips per fold, classes taken in turn (stratified), in original order."""
    rng = np.random.default_rng(seed)
    keep = []
    for fold in np.unique(folds):
        per_class = []
        for c in np.unique(labels[folds == fold]):
            idx = np.flatnonzero((folds == fold) & (labels == c))
            per_class.append(list(rng.permutation(idx)))
        chosen = []
        while len(chosen) < cap and any(per_class):
            for queue in per_class:
                if queue and len(chosen) < cap:
                    chosen.append(queue.pop(0))
        keep += chosen
    return np.sort(np.array(keep, dtype=int))


def load_c19_dataset(name: str, *, clips_per_fold: int = 0, seed: int = 0,
                     synthetic_clips: int = SYNTHETIC_CLIPS) -> C19Data:
    """Load ``name`` as single-label data with its official folds.

    Args:
        name: ``esc10``, ``esc50``, ``urbansound8k`` or ``synthetic``.
        clips_per_fold: keep at most this many clips per fold, classes in turn (0 keeps all).
        seed: seeds the per-fold selection (and the synthetic corpus).
        synthetic_clips: clips generated for ``synthetic``.

    Raises:
        FileNotFoundError: the dataset is not available here (the message says where it was looked for).
        ValueError: a clip does not have exactly one label, or an unknown name.
    """
    from audiolib.data import load_dataset

    if name not in DATASET_FOLDS:
        raise ValueError(f"C19: dataset {name!r} unknown; allowed: {', '.join(DATASET_FOLDS)}")
    if clips_per_fold < 0:
        raise ValueError(f"C19: clips_per_fold must be >= 0, got {clips_per_fold}")
    if name == "synthetic":
        from audiolib.data.synthetic import SyntheticSpec, load_synthetic

        spec = SyntheticSpec(n_clips=synthetic_clips, seed=seed, max_events=1, clip_seconds=4.0, zipf_exponent=0.0)
        clips = load_synthetic(spec=spec)
        names = [clips.taxonomy.coarse[c] for c in clips.taxonomy.coarse]
        coarse_codes = list(clips.taxonomy.coarse)
        labels = np.array([coarse_codes.index(cl[0]) for cl in clips.manifest["coarse_labels"]])
        folds = np.zeros(len(labels), dtype=int)
        for c in np.unique(labels):
            idx = np.flatnonzero(labels == c)
            folds[idx] = 1 + np.arange(len(idx)) % DATASET_FOLDS["synthetic"]
        keys = [f"{cid}|{spec.key()}" for cid in clips.manifest["clip_id"]]
        classes = names
        description = (f"synthetic default corpus, {synthetic_clips} clips of 4 s with one event each, label = "
                       f"coarse category (8 classes), 5 folds assigned round-robin per class")
    else:
        clips = load_dataset(name)
        multi = [i for i, ls in enumerate(clips.manifest["labels"]) if len(ls) != 1]
        if multi:
            raise ValueError(f"C19 needs single-label clips; {len(multi)} clips of {name} have "
                             f"{len(clips.manifest['labels'].iloc[multi[0]])} labels (e.g. "
                             f"{clips.manifest['clip_id'].iloc[multi[0]]})")
        index = {c: k for k, c in enumerate(clips.classes)}
        labels = np.array([index[ls[0]] for ls in clips.manifest["labels"]])
        folds = clips.manifest["fold"].to_numpy().astype(int)
        keys = [_file_key(cid, p) for cid, p in zip(clips.manifest["clip_id"], clips.manifest["path"])]
        classes = list(clips.classes)
        description = clips.description or name
    if len(labels) == 0:
        raise FileNotFoundError(f"C19: dataset {name} has no usable clip here")
    if clips_per_fold:
        keep = _cap_per_fold(labels, folds, clips_per_fold, seed)
        clips = clips.subset(keep)
        labels, folds, keys = labels[keep], folds[keep], [keys[i] for i in keep]
        description += f"; at most {clips_per_fold} clips per fold (classes in turn): {len(keep)} clips"
    return C19Data(name, clips, labels, classes, folds, keys, description, list(getattr(clips, "unusable", [])))


def select_datasets(names, *, clips_per_fold: int = 0, seed: int = 0,
                    synthetic_clips: int = SYNTHETIC_CLIPS) -> tuple[list[C19Data], list[str]]:
    """Load each of ``names``; a dataset absent here is replaced (once) by the synthetic corpus.

    Returns:
        ``(datasets, notes)``: ``notes`` says which dataset was missing and what ran instead.
    """
    out, notes, fell_back = [], [], False
    for name in names:
        try:
            out.append(load_c19_dataset(name, clips_per_fold=clips_per_fold, seed=seed,
                                        synthetic_clips=synthetic_clips))
        except FileNotFoundError as err:
            notes.append(f"{name} is not available here ({err}); ")
            if not fell_back:
                out.append(load_c19_dataset("synthetic", clips_per_fold=clips_per_fold, seed=seed,
                                            synthetic_clips=synthetic_clips))
                notes[-1] += "the synthetic default corpus runs in its place (not the paper's data)"
                fell_back = True
            else:
                notes[-1] += "skipped (the synthetic corpus already stands in)"
    return out, notes


# --- feature cache ------------------------------------------------------------------------------
def cache_dir() -> Path:
    """``data_root()/cache/c19``."""
    return paths.data_root() / "cache" / "c19"


def resolution_config(resolution: Resolution) -> dict:
    """Everything that determines an image at ``resolution`` (hashed into the cache file name)."""
    from audiolib.features import get_config

    return {"version": PIPELINE_VERSION, "resolution": resolution.__dict__, "sample_rate": SAMPLE_RATE,
            "trim": {"top_db": TRIM_TOP_DB, "frame_length": TRIM_FRAME, "hop_length": TRIM_HOP},
            "logmel": get_config(resolution.preset).with_(normalize=None).to_dict(), "normalize": "minmax after crop"}


def _store_path(dataset: str, resolution: Resolution, root: Path) -> Path:
    digest = hashlib.sha256(json.dumps(resolution_config(resolution), sort_keys=True).encode()).hexdigest()[:16]
    return root / f"{dataset}-{resolution.name}-{digest}.pt"


def _read_store(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        return {}
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        return dict(zip(payload["keys"], payload["images"]))
    except Exception as exc:  # a damaged cache file is recomputed, not trusted
        import warnings

        warnings.warn(f"C19 feature cache {path} is unreadable ({type(exc).__name__}: {exc}); recomputing it")
        return {}


class _ClipImages(torch.utils.data.Dataset):
    """Clip ``missing[j]`` -> its images at the resolutions it lacks (for parallel workers)."""

    def __init__(self, data: C19Data, missing: list[int], wanted: list[list[Resolution]]):
        self.data, self.missing, self.wanted = data, missing, wanted

    def __len__(self) -> int:
        return len(self.missing)

    def __getitem__(self, j: int) -> tuple[int, dict[str, torch.Tensor]]:
        i = self.missing[j]
        waveform, sr = self.data.clips.load(int(i))
        prepared = prepare_waveform(waveform, sr)
        return i, {r.name: image_from_prepared(prepared, r) for r in self.wanted[j]}


def dataset_images(data: C19Data, resolutions=("R1", "R2", "R3"), *, root: str | Path | None = None,
                   use_cache: bool = True, workers: int = 0, progress: bool = False) -> dict[str, torch.Tensor]:
    """Mel images of every clip of ``data`` at each resolution -> ``{name: Tensor[n, n_mels, frames]}``.

    Clips already in the cache are read; the others are decoded once, prepared (22.05 kHz,
    silence trimmed) and turned into every missing resolution (in ``workers`` processes when
    > 0); the cache files are then rewritten atomically with the union of old and new clips.
    """
    res = [RESOLUTIONS[r] if isinstance(r, str) else r for r in resolutions]
    root = Path(root) if root is not None else cache_dir()
    stores = {r.name: (_read_store(_store_path(data.name, r, root)) if use_cache else {}) for r in res}
    missing = sorted({i for r in res for i, k in enumerate(data.clip_keys) if k not in stores[r.name]})
    wanted = [[r for r in res if data.clip_keys[i] not in stores[r.name]] for i in missing]
    new: dict[str, dict[str, torch.Tensor]] = {r.name: {} for r in res}
    loader = torch.utils.data.DataLoader(_ClipImages(data, missing, wanted), batch_size=None, shuffle=False,
                                         num_workers=workers)
    for i, images in tqdm(loader, total=len(missing), desc=f"C19 features {data.name}", disable=not progress,
                          leave=False):
        for name, image in images.items():
            new[name][data.clip_keys[i]] = image
    out = {}
    for r in res:
        merged = {**stores[r.name], **new[r.name]}
        if use_cache and new[r.name]:
            keys = list(merged)
            with atomic_path(_store_path(data.name, r, root)) as tmp:
                torch.save({"keys": keys, "images": torch.stack([merged[k] for k in keys]),
                            "config": json.dumps(resolution_config(r), sort_keys=True)}, tmp)
        out[r.name] = torch.stack([merged[k] for k in data.clip_keys]).float()
    return out
