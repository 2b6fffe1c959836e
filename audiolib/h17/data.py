"""Data for the H17 experiments: the corpus, balanced evaluation sets, label and training subsets,
the recording of Fig. 2.

H17 trains on 0.96 s log-mel patches that inherit their video's labels, and evaluates on a
*balanced* set of videos (roughly the same number of examples of every class), scoring a video
by averaging its patches' scores. Here the embedded default corpus stands in for YouTube-100M:
its ``train`` split trains, and the evaluation set is a balanced selection from the clips of the
``validate`` and ``test`` splits (no model selection uses them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..cache import cached_patchset
from ..data import load_dataset
from ..data.base import ClipSet
from ..data.splits import balanced_rows
from ..data.patches import PatchSet


@dataclass
class H17Data:
    """A corpus split for an H17 experiment.

    Attributes:
        clips: the whole corpus.
        patches: 96x64 patches of every clip (clip rows are ``clips`` rows).
        train_rows: clip rows that train.
        train: :class:`PatchSet` of the training clips.
        eval: :class:`PatchSet` of the evaluation clips.
        eval_per_class: the target number of positives per class in ``eval``.
    """

    clips: ClipSet
    patches: PatchSet
    train_rows: np.ndarray
    train: PatchSet
    eval: PatchSet
    eval_per_class: int

    @property
    def classes(self) -> list[str]:
        return list(self.clips.classes)

    @property
    def class_names(self) -> list[str]:
        return self.clips.class_names()

    def describe(self) -> str:
        """One line naming the data, for every table caption."""
        counts = self.eval.clip_targets.numpy().sum(axis=0)
        return (f"{self.clips.description}; train: {len(self.train_rows)} clips / {len(self.train)} patches "
                f"(split 'train'); balanced evaluation set: {self.eval.n_clips} clips from the 'validate' and "
                f"'test' splits, target {self.eval_per_class} per class (positives per class "
                f"{int(counts.min())}-{int(counts.max())})")


def label_subset_sizes(n_classes: int, fractions) -> list[int]:
    """``max(1, round(f * n_classes))`` for each fraction (H17: 30K, 3K = 10 %, 400 = 1.3 %).

    >>> label_subset_sizes(64, [1.0, 0.1, 0.013])
    [64, 6, 1]
    """
    return [max(1, int(round(f * n_classes))) for f in fractions]


def training_sizes(n_train: int, n_sizes: int, ratio: float) -> list[int]:
    """A geometric series of training-set sizes ending at ``n_train``: ``n_train / ratio**k``.

    >>> training_sizes(1000, 4, 4.0)
    [15, 62, 250, 1000]
    """
    sizes = [int(n_train / ratio ** k) for k in range(n_sizes - 1, -1, -1)]
    if sizes[0] < 1:
        raise ValueError(f"training_sizes: {n_sizes} sizes at ratio {ratio} from {n_train} clips leave fewer than "
                         f"one clip; use fewer sizes or a smaller ratio")
    return sizes


def repatch(patches: PatchSet, frames: int) -> PatchSet:
    """Cut each patch into ``patches.patches.shape[1] // frames`` non-overlapping shorter patches.

    H17's transfer baseline uses 64x20 log-mel patches: from 96-frame patches this gives four
    20-frame patches each (frames 0-79; the last 16 frames of every 0.96 s are not used).
    Targets and clip indices follow their patch.
    """
    n, total, mels = patches.patches.shape[-3:]
    k = total // frames
    x = patches.patches[..., :k * frames, :].reshape(n * k, frames, mels)
    return relabel(patches, x.contiguous(), patches.clip_index.repeat_interleave(k, 0), patches.clip_targets)


def relabel(patches: PatchSet, x, clip_index: torch.Tensor, clip_targets,
            classes: list[str] | None = None) -> PatchSet:
    """Inputs ``x [N, ...]`` of the clips of ``patches`` (input ``i`` from clip ``clip_index[i]``) as a
    PatchSet labelled with ``clip_targets [n_clips, C]`` (``classes``, default those of ``patches``)."""
    clip_targets = torch.as_tensor(clip_targets, dtype=torch.float32)
    return PatchSet(torch.as_tensor(x).float(), clip_targets[clip_index], clip_index, clip_targets,
                    list(patches.clip_ids), list(classes or patches.classes))


def coarse_targets(clips: ClipSet) -> tuple[np.ndarray, list[str]]:
    """Clip targets at the taxonomy's coarse level ``[n_clips, n_coarse]`` and the coarse codes."""
    coarse = list(clips.taxonomy.coarse)
    targets = np.zeros((len(clips), len(coarse)), dtype=np.float32)
    for row, labels in enumerate(clips.manifest["labels"]):
        targets[row, [coarse.index(clips.taxonomy.parent[code]) for code in labels]] = 1.0
    return targets, coarse


def prepare_corpus(n_clips: int, seed: int = 0, *, eval_per_class: int = 20, fine_per_coarse=None,
                   num_workers: int = 0, rows: np.ndarray | None = None) -> H17Data:
    """The default corpus and its patches: its ``train`` split trains, a balanced choice from the
    other splits evaluates.

    Args:
        n_clips: corpus size (clips of 10 s).
        seed: corpus seed; also seeds the evaluation-set choice.
        eval_per_class: target positives per class in the evaluation set.
        fine_per_coarse: fine classes per coarse category (default: the corpus default, 29
            classes); e.g. ``(16,) * 8`` for 128 classes.
        num_workers: processes that compute features the first time.
        rows: restricts both to these clip rows (e.g. the large part of a transfer split).
    """
    kw = {} if fine_per_coarse is None else {"fine_per_coarse": tuple(fine_per_coarse)}
    clips = load_dataset("synthetic", n_clips=n_clips, seed=seed, **kw)
    patches = cached_patchset(clips, "vggish", num_workers=num_workers, progress=False)
    rows = np.arange(len(clips)) if rows is None else np.asarray(rows)
    split = clips.manifest["split"].to_numpy()[rows]
    train_rows = rows[split == "train"]
    held_out = rows[split != "train"]
    if len(train_rows) == 0 or len(held_out) == 0:
        raise ValueError(f"{clips.name}: {len(rows)} clips give {len(train_rows)} training and {len(held_out)} "
                         f"held-out clips; use more clips")
    eval_rows = held_out[balanced_rows(patches.clip_targets.numpy()[held_out], eval_per_class, seed)]
    return H17Data(clips, patches, train_rows, patches.subset_clips(train_rows), patches.subset_clips(eval_rows),
                   eval_per_class)


def recording(path: str = "", *, seconds: float = 60.0,
              seed: int = 0) -> tuple[torch.Tensor, int, pd.DataFrame | None, str]:
    """The recording for Fig. 2: the audio file at ``path``, or a synthetic one when ``path`` is empty.

    The synthetic recording (:func:`audiolib.data.synthetic.long_recording`) is ``seconds`` long,
    built from the default corpus's sound families and class prior, with its event timeline.

    Returns:
        ``(waveform [time], sample_rate, events or None, description)``.
    """
    if path:
        from ..audio import load_audio

        waveform, sr = load_audio(path)
        return waveform, sr, None, f"audio file {path} ({waveform.shape[-1] / sr:.1f} s)"
    from ..data.synthetic import long_recording

    waveform, sr, events = long_recording(seconds=seconds, seed=seed)
    return waveform, sr, events, (f"synthetic recording of {seconds:g} s (seed {seed}, {len(events)} events, "
                                  f"default-corpus sound families)")
