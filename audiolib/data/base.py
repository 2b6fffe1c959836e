"""The common shape of every dataset: a manifest of clips, a label vocabulary and a loader.

Each dataset module (``esc50``, ``urbansound8k``, ``sonyc_ust``, ``synthetic`` ...) returns a
:class:`ClipSet`. Everything downstream (feature extraction, training, evaluation) only needs this.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import torch


@dataclass(frozen=True)
class Taxonomy:
    """A two-level label hierarchy.

    ``coarse`` and ``fine`` map codes (e.g. ``"1"``, ``"1-1"``) to names; ``parent`` maps each
    fine code to its coarse code. Order of the dicts is the output order of models.
    """

    coarse: dict[str, str]
    fine: dict[str, str]
    parent: dict[str, str]

    def fine_of(self, coarse_code: str) -> list[str]:
        """Fine codes under ``coarse_code``, in taxonomy order."""
        return [f for f, c in self.parent.items() if c == coarse_code]

    def validate_labels(self, labels, *, level: str, where: str) -> None:
        """Raise ``ValueError`` naming ``where`` if a label is not a code of ``level``."""
        known = self.fine if level == "fine" else self.coarse
        unknown = sorted({l for l in labels if l not in known})
        if unknown:
            raise ValueError(f"{where}: labels not in the {level} taxonomy: {unknown[:10]}")


Loader = Callable[[pd.Series], "tuple[torch.Tensor, int]"]


@dataclass
class ClipSet:
    """A labelled set of audio clips.

    Attributes:
        name: dataset name, e.g. ``"esc50"``.
        manifest: one row per clip. Columns always present: ``clip_id`` (unique str),
            ``path`` (str or None for generated audio), ``labels`` (tuple of class names),
            and ``fold`` (int) or ``split`` (str) where the dataset defines them.
        classes: label vocabulary, in model output order.
        loader: ``row -> (waveform Tensor[time] float32 mono, sample_rate)``.
        sample_rate: the native rate when all clips share one, else ``None``.
        taxonomy: optional coarse/fine hierarchy.
        unusable: files listed in the metadata that are absent or unreadable, as dicts
            ``{"clip_id", "path", "reason"}``; never silently dropped, reported in results.
        description: one line naming the data actually used (goes next to every table).
    """

    name: str
    manifest: pd.DataFrame
    classes: list[str]
    loader: Loader
    sample_rate: int | None = None
    taxonomy: Taxonomy | None = None
    unusable: list[dict] = field(default_factory=list)
    description: str = ""

    def __len__(self) -> int:
        return len(self.manifest)

    def load(self, i: int) -> tuple[torch.Tensor, int]:
        """Waveform ``[time]`` (float32, mono) and its sample rate for clip ``i``."""
        return self.loader(self.manifest.iloc[i])

    def targets(self) -> np.ndarray:
        """Multi-hot targets ``[n_clips, n_classes]`` (float32) in ``classes`` order."""
        index = {c: k for k, c in enumerate(self.classes)}
        y = np.zeros((len(self.manifest), len(self.classes)), dtype=np.float32)
        for row, labels in enumerate(self.manifest["labels"]):
            for label in labels:
                if label not in index:
                    clip = self.manifest.iloc[row]
                    raise ValueError(f"{self.name}: clip {clip['clip_id']} ({clip.get('path')}) has label {label!r}, "
                                     f"which is not in the class list; scan the set first "
                                     f"(audiolib.data.scan.scan_clips) to list such rows")
                y[row, index[label]] = 1.0
        return y

    def subset(self, rows, *, classes: list[str] | None = None, name: str | None = None) -> "ClipSet":
        """A new ClipSet of the selected rows (boolean mask or positional indices).

        With ``classes``, the vocabulary is restricted to them and other labels are dropped
        from each clip (clips keep their audio; they may end up with no positive label).
        """
        manifest = self.manifest.iloc[np.flatnonzero(rows) if _is_mask(rows) else list(rows)]
        manifest = manifest.reset_index(drop=True)
        if classes is not None:
            unknown = sorted(set(classes) - set(self.classes))
            if unknown:
                raise ValueError(f"subset of {self.name}: classes not in the vocabulary: {unknown[:10]}")
            keep = set(classes)
            manifest = manifest.assign(labels=[tuple(l for l in ls if l in keep) for ls in manifest["labels"]])
        return ClipSet(
            name=name or self.name,
            manifest=manifest,
            classes=list(classes) if classes is not None else list(self.classes),
            loader=self.loader,
            sample_rate=self.sample_rate,
            taxonomy=self.taxonomy,
            unusable=list(self.unusable),
            description=self.description,
        )

    def class_names(self) -> list[str]:
        """Readable names of :attr:`classes`, in order: the taxonomy's (fine, else coarse), else the codes."""
        tax = self.taxonomy
        return [str((tax.fine.get(c) or tax.coarse.get(c) or c) if tax is not None else c) for c in self.classes]

    def fingerprint(self) -> str:
        """A short hash of the manifest (ids, paths, labels, folds) and vocabulary."""
        cols = [c for c in ("clip_id", "path", "labels", "fold", "split") if c in self.manifest]
        text = self.name + "|" + ",".join(self.classes) + "|" + self.manifest[cols].to_csv(index=False)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def label_counts(self) -> pd.Series:
        """Number of clips carrying each class, in ``classes`` order."""
        return pd.Series(self.targets().sum(axis=0).astype(int), index=self.classes, name="clips")


def _is_mask(rows) -> bool:
    arr = np.asarray(rows)
    return arr.dtype == bool
