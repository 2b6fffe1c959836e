"""H17 sec. 4.4: a classifier on a network's embeddings vs one on raw log-mel patches.

The paper trains a ResNet-50 on YouTube-100M, takes its penultimate ("embedding", here the
128-unit bottleneck) layer, and trains two fully-connected classifiers on AudioSet: one on the
embeddings of 0.96 s patches, one on 64x20 log-mel patches (the baseline). Here the large corpus
is the default corpus (or its large part) and the small labelled sets are a disjoint part of it,
ESC-10 and UrbanSound8K when their real subsets are present. Clip scores average the patch
scores, as everywhere in H17.

>>> result = embedding_transfer(trained.model, small, train_rows, test_rows, steps=300)   # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import train as _train
from ..data import load_dataset
from ..data.base import ClipSet
from ..data.patches import PatchSet
from .data import balanced_eval_rows, coarse_targets, load_patches, repatch, with_targets
from .training import Trained, train_and_evaluate

FEATURES = ("embedding", "log-mel 64x20")


@dataclass
class SmallSet:
    """A small labelled set for the transfer experiment.

    Attributes:
        name: short name (``synthetic-small``, ``esc10``, ``urbansound8k``).
        patches: 96x64 patches of its clips with its own labels.
        train_rows, test_rows: clip rows (disjoint).
        description: one line naming the data and the split.
        clips: the clips (for provenance: fingerprint, unusable files), when loaded here.
    """

    name: str
    patches: PatchSet
    train_rows: np.ndarray
    test_rows: np.ndarray
    description: str
    clips: ClipSet | None = None


def embedding_patchset(model: nn.Module, patches: PatchSet, *, device="auto", batch_size: int = 256) -> PatchSet:
    """Replace every 96x64 patch by the model's embedding of it: patches ``[N, 1, D]``."""
    emb = _train.predict(model, patches, embeddings=True, device=device, batch_size=batch_size)
    return PatchSet(torch.from_numpy(emb).float().unsqueeze(1), patches.targets, patches.clip_index,
                    patches.clip_targets, list(patches.clip_ids), list(patches.classes))


def embedding_transfer(embed_model: nn.Module, small: SmallSet, *, steps: int, batch_size: int = 64,
                       lr: float = 1e-3, layers: int = 2, units: int = 512, baseline_frames: int = 20,
                       device="auto", seed: int = 0) -> tuple[pd.DataFrame, list[Trained]]:
    """Train a fully-connected classifier on embeddings and one on log-mel patches; evaluate both.

    Args:
        embed_model: a trained model with ``.embedding(x)`` (its bottleneck when it has one).
        small: the small labelled set and its train/test split.
        steps, batch_size, lr: for both classifiers (the same).
        layers, units: the classifiers' hidden layers (``fc_audio``).
        baseline_frames: frames of the baseline's log-mel patches (H17: 64x20).

    Returns:
        ``(tidy rows, [embedding run, baseline run])``; rows have ``features`` (``embedding`` or
        ``log-mel 64x20``), ``small_set``, ``metric``, ``value``.
    """
    train_set = small.patches.subset_clips(small.train_rows)
    test_set = small.patches.subset_clips(small.test_rows)
    inputs = {
        "embedding": (embedding_patchset(embed_model, train_set, device=device),
                      embedding_patchset(embed_model, test_set, device=device)),
        f"log-mel 64x{baseline_frames}": (repatch(train_set, baseline_frames), repatch(test_set, baseline_frames)),
    }
    rows, runs = [], []
    for features, (tr, te) in inputs.items():
        shape = tuple(tr.example_shape)
        trained = train_and_evaluate("fc_audio", tr, te, steps=steps, batch_size=batch_size, lr=lr, device=device,
                                     seed=seed, model_kwargs={"layers": layers, "units": units, "input_shape": shape})
        runs.append(trained)
        rows += trained.rows(features=features, small_set=small.name, input="x".join(map(str, shape)),
                             train_clips=len(small.train_rows), test_clips=len(small.test_rows), seed=seed)
    table = pd.DataFrame(rows).assign(source="this run", dataset=small.description)
    return table, runs


def synthetic_small_set(clips: ClipSet, patches: PatchSet, rows: np.ndarray, *, labels: str = "fine",
                        eval_per_class: int = 10, seed: int = 0) -> SmallSet:
    """The small part of the default corpus: its ``train``/``validate`` clips train, a balanced
    choice of its ``test`` clips tests; labelled with the fine classes or the coarse categories."""
    if labels not in ("fine", "coarse"):
        raise ValueError(f"synthetic_small_set: labels must be 'fine' or 'coarse', got {labels!r}")
    part = patches.subset_clips(rows)
    if labels == "coarse":
        targets, codes = coarse_targets(clips.subset(rows))
        part = with_targets(part, targets, codes)
    split = clips.manifest["split"].to_numpy()[rows]
    train_rows = np.flatnonzero(split != "test")
    held = np.flatnonzero(split == "test")
    test_rows = held[balanced_eval_rows(part.clip_targets.numpy()[held], eval_per_class, seed)]
    description = (f"small part of the default corpus: clips {int(rows.min())}-{int(rows.max())} "
                   f"({len(rows)} clips, disjoint from the large part), {labels} labels "
                   f"({len(part.classes)} classes); train {len(train_rows)} clips (splits train+validate), test "
                   f"{len(test_rows)} clips (balanced choice from split test)")
    return SmallSet("synthetic-small", part, train_rows, test_rows, description, clips.subset(rows))


def real_small_set(name: str, *, test_fold: int = 1, num_workers: int = 0, progress: bool = False) -> SmallSet | None:
    """ESC-10 or UrbanSound8K from ``../shared/data`` (``None`` when absent), split by official fold.

    The clips of ``test_fold`` test; the clips of every other available fold train. Absent or
    unreadable files are listed in the description's count and in ``ClipSet.unusable``.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clips = load_dataset(name)
    except (FileNotFoundError, OSError, ImportError) as exc:
        print(f"{name}: not available ({exc})")
        return None
    folds = clips.manifest["fold"].to_numpy()
    if test_fold not in set(folds.tolist()):
        raise ValueError(f"{name}: test fold {test_fold} has no audio here; available folds: "
                         f"{sorted(set(folds.tolist()))}")
    patches = load_patches(clips, "vggish", num_workers=num_workers, progress=progress)
    train_rows = np.flatnonzero(folds != test_fold)
    test_rows = np.flatnonzero(folds == test_fold)
    description = (f"{clips.description}; test fold {test_fold} ({len(test_rows)} clips), train folds "
                   f"{sorted(set(folds[train_rows].tolist()))} ({len(train_rows)} clips); "
                   f"{len(clips.unusable)} listed clips without audio not used")
    return SmallSet(name, patches, train_rows, test_rows, description, clips)


def transfer_table(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Our transfer rows followed by the paper's sec. 4.4 numbers."""
    from . import paper

    return pd.concat([*tables, paper.transfer()], ignore_index=True)


def transfer_corpus(n_clips: int, small_clips: int, *, seed: int = 0, eval_per_class: int = 20,
                    small_labels: str = "fine", num_workers: int = 0, progress: bool = False):
    """The default corpus split into a large part (clips ``0 .. n - small - 1``) and a small one.

    The parts hold disjoint clips. Returns ``(large: H17Data, small: SmallSet)``: the large part is
    split as :func:`~audiolib.h17.data.split_corpus` does (train / balanced evaluation), the small
    part as :func:`synthetic_small_set` does.
    """
    from .data import split_corpus

    if not 0 < small_clips < n_clips:
        raise ValueError(f"transfer_corpus: small_clips must be in 1..{n_clips - 1}, got {small_clips}")
    clips = load_dataset("synthetic", n_clips=n_clips, seed=seed)
    patches = load_patches(clips, "vggish", num_workers=num_workers, progress=progress)
    large = split_corpus(clips, patches, eval_per_class=eval_per_class, seed=seed,
                         rows=np.arange(n_clips - small_clips))
    small = synthetic_small_set(clips, patches, np.arange(n_clips - small_clips, n_clips), labels=small_labels,
                                eval_per_class=max(1, eval_per_class // 2), seed=seed)
    return large, small
