"""H17 sec. 4.4: a classifier on a network's embeddings vs one on raw log-mel patches.

The paper trains a ResNet-50 on YouTube-100M, takes "the output of the penultimate 'embedding'
layer of our best ResNet model", and trains two fully-connected classifiers on AudioSet: one on the
embeddings of 0.96 s patches, one on 64x20 log-mel patches (the baseline). Here three inputs are
compared on each small labelled set:

- ``log-mel 64x20``: the baseline;
- ``embedding``: the penultimate layer (the pooled features, or the bottleneck when it has one)
  of a network trained in the workbook on the large part of the synthetic default corpus;
- ``YAMNet (AudioSet)``: the 1024-d embedding of Google's YAMNet, a network trained on AudioSet
  (:mod:`audiolib.models.yamnet`), when its port and release file are present: the closest
  stand-in here for a network trained on a very large corpus.

The small sets are a disjoint part of the synthetic corpus (replicates: seeds) and ESC-10 and
UrbanSound8K from ``../shared/data`` (replicates: official folds, each in turn the test fold).
Every row names the network that produced its input and the data that network was trained on.
Clip scores average the patch scores, as everywhere in H17.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..cache import cached_patchset
from ..data import splits
from ..data.base import ClipSet
from ..data.patches import PatchSet
from ..train import predict
from ..trials import Trial, over_seeds, tidy
from ..data.splits import balanced_rows
from .data import H17Data, coarse_targets, prepare_corpus, relabel, repatch
from .training import train_and_evaluate

YAMNET = "YAMNet (AudioSet)"


@dataclass
class SmallSet:
    """A small labelled set for the transfer experiment.

    Attributes:
        name: short name (``synthetic-small``, ``esc10``, ``urbansound8k``).
        patches: 96x64 patches of its clips with its own labels.
        splits: ``(fold, train_rows, test_rows)`` clip rows, one per replicate: every official
            fold in turn (a real set), or ``[(0, train, test)]`` (a synthetic set).
        description: one line naming the data and the split.
        clips: the clips (for provenance: fingerprint, unusable files).
    """

    name: str
    patches: PatchSet
    splits: list[tuple[int, np.ndarray, np.ndarray]]
    description: str
    clips: ClipSet


def yamnet_patchset(small: SmallSet, *, device="auto") -> PatchSet | None:
    """YAMNet's 1024-d frame embeddings (0.96 s every 0.48 s) of every clip of ``small`` as patches
    ``[N, 1, 1024]`` labelled with the clip's labels; ``None`` (with the reason printed) when the
    YAMNet port or its release file is not available here."""
    from ..models.yamnet import embed_clips, load_yamnet, yamnet_missing

    missing = yamnet_missing()
    if missing:
        print(f"YAMNet not available: {missing}")
        return None
    out = embed_clips(small.clips, load_yamnet(device="cpu"), device=device)
    index = torch.arange(len(out.frames)).repeat_interleave(torch.tensor([len(f) for f in out.frames]))
    return relabel(small.patches, np.concatenate(out.frames)[:, None], index, small.patches.clip_targets)


def embedding_transfer(small: SmallSet, embed_model: nn.Module | None, *, embed_network: str = "",
                       embed_data: str = "", yamnet: PatchSet | None = None, steps: int, batch_size: int = 64,
                       lr: float = 1e-3, layers: int = 2, units: int = 512, device="auto",
                       seeds: Sequence[int] = (0,)) -> tuple[pd.DataFrame, list[Trial]]:
    """Train a fully-connected classifier (``fc_audio``) on each input of ``small``; score each.

    The inputs: 64x20 log-mel patches (H17's baseline), the penultimate layer ``[N, 1, D]`` of
    ``embed_model`` (``embed_network`` trained on ``embed_data``) and ``yamnet``
    (:func:`yamnet_patchset`), where given. Every input runs with every seed and every split of
    ``small``; the classifiers have ``layers`` hidden layers of ``units`` units.

    Returns:
        ``(tidy rows, trials)``; rows have ``features``, ``network``, ``trained_on``, ``small_set``,
        ``input``, ``train_clips``, ``test_clips``, ``fold``, ``seed``, ``metric``, ``value``.
    """
    ps = small.patches
    features = [("log-mel 64x20", repatch(ps, 20), "none (log-mel)", "-")]
    if embed_model is not None:
        emb = predict(embed_model, ps, embeddings=True, device=device, batch_size=256)
        features.append(("embedding", relabel(ps, emb[:, None], ps.clip_index, ps.clip_targets), embed_network,
                         embed_data))
    if yamnet is not None:
        features.append((YAMNET, yamnet, "YAMNet (MobileNet-v1, 1024-d average-pool embedding)",
                         "AudioSet (Google's release, about 2M clips, 521 classes)"))

    def one_seed(seed: int) -> list[Trial]:
        trials = []
        for fold, train_rows, test_rows in small.splits:
            for name, patches, network, trained_on in features:
                tr, te = patches.subset_clips(train_rows), patches.subset_clips(test_rows)
                shape = tuple(tr.example_shape)
                trials.append(train_and_evaluate(
                    "fc_audio", tr, te, steps=steps, batch_size=batch_size, lr=lr, device=device, seed=seed,
                    model_kwargs={"layers": layers, "units": units, "input_shape": shape},
                    ids={"features": name, "network": network, "trained_on": trained_on,
                         "small_set": small.name, "input": "x".join(map(str, shape)),
                         "train_clips": len(train_rows), "test_clips": len(test_rows), "fold": fold}))
        return trials

    trials = over_seeds(seeds, one_seed)
    return tidy(trials).assign(dataset=small.description), trials


def real_small_set(clips: ClipSet, *, max_clips_per_fold: int = 0, num_workers: int = 0) -> SmallSet:
    """A real dataset with official folds (ESC-10, UrbanSound8K: :func:`audiolib.data.splits.load_available`
    loads those present) as a small set; every fold in turn is the test fold.

    ``max_clips_per_fold`` > 0 keeps a random choice of that many clips per fold
    (:func:`audiolib.data.splits.sample_per_fold`, seed 0). Absent or unreadable files are
    counted in the description and listed in ``ClipSet.unusable``.
    """
    if "fold" not in clips.manifest:
        raise ValueError(f"real_small_set: {clips.name} has no official folds (no 'fold' column)")
    if max_clips_per_fold > 0:
        clips = clips.subset(splits.sample_per_fold(clips.manifest["fold"].to_numpy(), max_clips_per_fold, seed=0))
    folds = clips.manifest["fold"].to_numpy()
    patches = cached_patchset(clips, "vggish", num_workers=num_workers, progress=False)
    kept = f", at most {max_clips_per_fold} clips per fold" if max_clips_per_fold > 0 else ""
    description = (f"{clips.description}{kept}; official folds {sorted(set(folds.tolist()))} "
                   f"({len(folds)} clips), each fold in turn the test fold; "
                   f"{len(clips.unusable)} listed clips without audio not used")
    return SmallSet(clips.name, patches, splits.fold_splits(folds), description, clips)


def transfer_corpus(n_clips: int, small_clips: int, *, seed: int = 0, eval_per_class: int = 20,
                    small_labels: str = "fine", num_workers: int = 0) -> tuple[H17Data, SmallSet]:
    """The default corpus split into a large part (clips ``0 .. n - small - 1``) and a small one.

    The parts hold disjoint clips. Returns ``(large, small)``: the large part is split as
    :func:`~audiolib.h17.data.prepare_corpus` does (train / balanced evaluation); in the small part
    the ``train``/``validate`` clips train and a balanced choice of the ``test`` clips tests, with
    the fine classes or (``small_labels="coarse"``) the coarse categories as labels.
    """
    large = prepare_corpus(n_clips, seed, eval_per_class=eval_per_class, num_workers=num_workers,
                           rows=np.arange(n_clips - small_clips))
    rows = np.arange(n_clips - small_clips, n_clips)
    clips = large.clips.subset(rows)
    part = large.patches.subset_clips(rows)
    if small_labels == "coarse":
        targets, codes = coarse_targets(clips)
        part = relabel(part, part.patches, part.clip_index, targets, codes)
    split = clips.manifest["split"].to_numpy()
    train_rows = np.flatnonzero(split != "test")
    held = np.flatnonzero(split == "test")
    test_rows = held[balanced_rows(part.clip_targets.numpy()[held], max(1, eval_per_class // 2), seed)]
    description = (f"small part of the default corpus: clips {int(rows.min())}-{int(rows.max())} "
                   f"({len(rows)} clips, disjoint from the large part), {small_labels} labels "
                   f"({len(part.classes)} classes); train {len(train_rows)} clips (splits train+validate), test "
                   f"{len(test_rows)} clips (balanced choice from split test)")
    return large, SmallSet("synthetic-small", part, [(0, train_rows, test_rows)], description, clips)


@dataclass
class Embedders:
    """Embedding networks trained on the large part: ``models`` (seed -> model, its ``embedding`` the
    penultimate layer), what they are (``network``), their data (``trained_on``) and their own
    evaluation (``table``: tidy rows with ``seed``)."""

    models: dict[int, nn.Module]
    network: str
    trained_on: str
    table: pd.DataFrame


def train_embedders(model: str, large: H17Data, *, seeds: Sequence[int], steps: int, batch_size: int, lr: float,
                    width: float, bottleneck: int = 0, device="auto", profile: str = "quick") -> Embedders:
    """Train ``model`` on ``large.train`` once per seed (H17 sec. 4.4's embedding network)."""
    trials = over_seeds(seeds, lambda seed: train_and_evaluate(
        model, large.train, large.eval, steps=steps, batch_size=batch_size, lr=lr, width=width,
        bottleneck=bottleneck or None, device=device, seed=seed, profile=profile,
        ids={"width": width, "bottleneck": bottleneck}))
    dim = int(getattr(trials[0].model, "embedding_dim", 0))
    layer = f"{bottleneck}-unit bottleneck" if bottleneck else "pooled features"
    network = f"{model} width {width:g}, {steps} steps; penultimate layer ({layer}, {dim}-d)"
    trained_on = f"synthetic default corpus, large part ({large.train.n_clips} training clips)"
    table = tidy(trials).assign(network=network, trained_on=trained_on)
    return Embedders({t.seed: t.model for t in trials}, network, trained_on, table)


def transfer_experiment(small: SmallSet, real_sets: Sequence[SmallSet], embedders: Embedders, *, yamnet: bool,
                        seeds: Sequence[int], real_seeds: Sequence[int], steps: int, batch_size: int, lr: float,
                        layers: int, units: int, device="auto") -> pd.DataFrame:
    """Sec. 4.4 on every small set: classifiers on log-mel, on the workbook embedding and on YAMNet's.

    On the synthetic small set each seed uses its own embedding network and classifier seed; on a
    real set the embedding network of the first seed is used and every official fold is a replicate
    (with each of ``real_seeds``). YAMNet's input is added on the real sets when ``yamnet`` and
    the model is available. Returns the tidy rows of all trials.
    """
    first = embedders.models[int(seeds[0])]
    runs = [(small, embedders.models[int(s)], [s], False) for s in seeds]
    runs += [(real, first, real_seeds, yamnet) for real in real_sets]
    tables = []
    for data, model, classifier_seeds, with_yamnet in runs:
        tables.append(embedding_transfer(
            data, model, embed_network=embedders.network, embed_data=embedders.trained_on,
            yamnet=yamnet_patchset(data, device=device) if with_yamnet else None, steps=steps, batch_size=batch_size,
            lr=lr, layers=layers, units=units, device=device, seeds=classifier_seeds)[0])
    return pd.concat(tables, ignore_index=True)


def transfer_notes(transfer: pd.DataFrame, *, yamnet: bool, real_sets: Sequence[str]) -> dict[str, str]:
    """Why a sec. 4.4 claim could not be measured in this run (real set or YAMNet absent)."""
    notes = {}
    for claim_id, name in (("H17-S44-yamnet-esc10", "esc10"), ("H17-S44-yamnet-us8k", "urbansound8k")):
        if name not in real_sets:
            notes[claim_id] = f"{name} not in REAL_SETS"
        elif name not in set(transfer["small_set"]):
            notes[claim_id] = f"{name} is not available here (../shared/data)"
        elif not yamnet:
            notes[claim_id] = "YAMNET is off"
        elif YAMNET not in set(transfer[transfer["small_set"] == name]["features"]):
            notes[claim_id] = "the YAMNet port (audiolib.models.yamnet) or its release file is not available here"
    return notes
