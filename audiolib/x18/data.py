"""X18 inputs: AudioSet-format 10x128 embeddings of a dataset, split into train / validation / test.

Xu trained on AudioSet's released features: "features of 128 dimensions, extracted from a
bottleneck layer of ResNet" (sec. 1.2), ten per 10 s clip. They are not on this machine, so the
workbook makes data of the same format and says which network made it:

- ``embedder="trained"``: a patch CNN with a 128-d bottleneck trained inside the workbook on the
  training split of the synthetic default corpus (:func:`train_embedding_model`); every clip is
  embedded with it and post-processed as the AudioSet release is (PCA fitted on the training
  clips, clipped, 8-bit). ESC-10 and UrbanSound8K are embedded by the same model, in their own
  label spaces.
- ``embedder="yamnet"``: Google's YAMNet (trained on AudioSet) through
  :func:`audiolib.models.yamnet.load_yamnet`, its 1024-d frame embeddings reduced to 128 by the
  same post-processing (PCA fitted on each dataset's training clips): a network trained on
  AudioSet, as Xu's ResNet was, on real clips.

Either way the embeddings are written as the release's TFRecords (and packed HDF5), read back
and checked (:func:`write_and_reload`); the classifiers train on what was read back. With real
AudioSet embeddings (:func:`audioset_splits`) everything downstream runs on them unchanged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from torch import nn

from audiolib.cache import cached_embeddings, cached_patchset
from audiolib.data import load_dataset
from audiolib.data.audioset import EmbeddingSet, load_embeddings
from audiolib.data.splits import column_split, held_out_folds, load_available, share_of_groups
from audiolib.embeddings import WRITERS, embed_patches, fit_pca, frames_per_clip, postprocess, save_embedding_model
from audiolib.features import get_config
from audiolib.models import accepts
from audiolib.models.yamnet import load_yamnet, yamnet_missing
from audiolib.train import TrainConfig
from audiolib.trials import Trial, run_trial

#: Networks that can make the 10x128 input: one trained here, or YAMNet (trained on AudioSet).
EMBEDDERS = ("trained", "yamnet")


@dataclass
class EmbeddingSplits:
    """Train / validation / test embeddings of one dataset, what they are, and who made them.

    ``embedder`` names the network that produced the embeddings and the data it was trained on
    (every table of notebook 06 carries it).
    """

    name: str
    train: EmbeddingSet
    val: EmbeddingSet
    test: EmbeddingSet
    description: str
    embedder: str = ""

    def label(self) -> str:
        """A short line for figures: name, clip counts per split, classes."""
        return (f"{self.name}: {len(self.train)} train / {len(self.val)} validation / {len(self.test)} test clips, "
                f"{len(self.train.classes)} classes")

    def summary(self) -> dict[str, Any]:
        return {"dataset": self.name, "train_clips": len(self.train), "val_clips": len(self.val),
                "test_clips": len(self.test), "classes": len(self.train.classes), "embedder": self.embedder,
                "description": self.description}

    def with_train(self, rows: np.ndarray) -> "EmbeddingSplits":
        """The same splits with only the training clips at ``rows``."""
        return EmbeddingSplits(self.name, self.train.subset(rows), self.val, self.test, self.description,
                               self.embedder)


def split_embeddings(data: EmbeddingSet, *, by: str, description: str = "", embedder: str = "") -> EmbeddingSplits:
    """Train / validation / test of ``data`` by its ``folds`` array.

    ``by="split"``: ``folds`` holds split names (``train``, ``validate``, ``test``: the default
    corpus's ``split`` column, :func:`audiolib.data.splits.column_split`). ``by="fold"``: the
    last fold is the test fold, the one before the validation fold
    (:func:`audiolib.data.splits.held_out_folds`): one split, not the datasets' cross-validation.
    """
    if data.folds is None:
        raise ValueError(f"{data.name}: no {by} column to split by")
    text = description or data.description
    if by == "split":
        rows, names = column_split(data.folds, name=data.name), {"train": "train", "val": "validate", "test": "test"}
    else:
        rows, order = held_out_folds(data.folds, name=data.name)
        names = {"train": "train", "val": f"fold{order[-2]}", "test": f"fold{order[-1]}"}
        text += f"; train folds {order[:-2]}, validation fold {order[-2]}, test fold {order[-1]}"
    parts = [data.subset(rows[role], name=f"{data.name}/{names[role]}") for role in ("train", "val", "test")]
    return EmbeddingSplits(data.name, *parts, text, embedder)


# --- the embedding networks and embedding datasets ------------------------------------------------
def train_embedding_model(patches, model_name: str, *, width: float | None = None, steps: int, batch_size: int,
                          seed: int = 0, device: str = "auto") -> Trial:
    """Train ``create_model(model_name, C[, bottleneck=128][, width])`` on log-mel patches ``[N, 96, 64]``.

    ``bottleneck=128`` and ``width`` are passed when the entry point accepts them
    (:func:`audiolib.models.accepts`; ``vggish`` has its own 128-d embedding layer). Returns the
    :class:`~audiolib.trials.Trial`; ``trial.extra["model_kwargs"]`` are the arguments passed and
    ``trial.model.embedding(x)`` is the embedding ``[B, D]`` (one wider than 128 is reduced to 128
    by the PCA).
    """
    kwargs = {k: v for k, v in (("bottleneck", 128), ("width", width)) if v is not None and accepts(model_name, k)}
    config = TrainConfig(steps=steps, batch_size=batch_size, seed=seed, device=device, progress=False)
    trial = run_trial(model_name, patches, config, num_classes=len(patches.classes), model_kwargs=kwargs,
                      ids={"model": model_name})
    trial.extra["model_kwargs"] = kwargs
    return trial


def _embed(model: nn.Module, clips, *, config, pca, fit_rows, device, out_dir, keep: bool,
           label: str) -> tuple[EmbeddingSet, Any, pd.DataFrame]:
    """``clips`` as the AudioSet release: log-mel patches (feature cache) -> raw embeddings
    ``[n_patches, D]`` (with ``keep``, a fixed network, through
    :func:`audiolib.cache.cached_embeddings`, so later runs read them back) -> the release's
    post-processing (PCA to 128 fitted on the clips at ``fit_rows`` unless ``pca`` is given,
    clipped, 8-bit) -> ``[n_clips, 10, 128]`` uint8 with the clips' labels -> written under
    ``out_dir`` and read back (:func:`write_and_reload`).

    Returns ``(the set read back from the TFRecords, pca, files table)``."""
    patches = cached_patchset(clips, config, progress=False)
    if keep:
        raw = cached_embeddings(model, patches, clips, config, device=device)
    else:
        raw = embed_patches(model, patches, device=device)
    clip_index = patches.clip_index.numpy()
    if pca is None:
        mask = np.zeros(patches.n_clips, bool)
        mask[np.asarray(fit_rows)] = True
        pca = fit_pca(raw[mask[clip_index]])
    x, n_frames = frames_per_clip(postprocess(raw, pca), clip_index, patches.n_clips, 10)
    manifest = clips.manifest
    folds = manifest["fold" if "fold" in manifest else "split"].to_numpy()  # real datasets / the default corpus
    data = EmbeddingSet(x, clips.targets() > 0.5, manifest["clip_id"].astype(str).tolist(), clips.class_names(),
                        [str(c) for c in clips.classes], n_frames, np.zeros(len(manifest)), n_frames * 0.96, folds,
                        name=clips.name, description=f"128-d embeddings ({label}, AudioSet-release "
                                                     f"post-processing) of {clips.description or clips.name}")
    back, files = write_and_reload(data, out_dir) if out_dir is not None else ({"tfrecord": data}, pd.DataFrame())
    return back["tfrecord"], pca, files


def embed_default_corpus(n_clips: int, *, model_name: str, width: float | None, steps: int, batch_size: int,
                         seed: int = 0, device: str = "auto", out_dir=None, loaded: tuple | None = None
                         ) -> tuple[EmbeddingSplits, nn.Module, Any, dict[str, Any], pd.DataFrame]:
    """The default corpus as AudioSet-format embeddings.

    Loads ``n_clips`` synthetic clips. Without ``loaded`` it trains ``model_name`` on the training
    split's log-mel patches; ``loaded``: a fixed network ``(model, feature config, label)`` (YAMNet,
    :func:`prepare_datasets`; ``model_name``, ``width``, ``steps`` unused). The PCA is fitted
    on the training clips, every clip embedded, TFRecords and HDF5 written under ``out_dir``
    (with a trained model and its PCA as ``embedding_model.pt``, for ``python -m
    audiolib.embeddings``), and what was read back from the TFRecords is returned.

    Returns ``(splits, model, pca, info, files)``; ``info`` has the clip set, timings and the
    embedding model's description.
    """
    t0 = time.perf_counter()
    clips = load_dataset("synthetic", n_clips=n_clips, seed=seed)
    train_rows = np.flatnonzero(clips.manifest["split"].to_numpy() == "train")
    kwargs: dict[str, Any] = {}
    final_loss = float("nan")
    if loaded is None:
        config = "vggish"
        patches = cached_patchset(clips, config, progress=False)
        t1 = time.perf_counter()
        trial = train_embedding_model(patches.subset_clips(train_rows), model_name, width=width, steps=steps,
                                      batch_size=batch_size, seed=seed, device=device)
        model, kwargs = trial.model, trial.extra["model_kwargs"]
        final_loss = float(trial.history["loss"].iloc[-1])
        label = (f"{model_name} {kwargs} trained here for {steps} steps on the {len(train_rows)} training clips of "
                 f"the synthetic corpus (seed {seed})")
    else:
        t1 = time.perf_counter()
        model, config, label = loaded
        model_name = "yamnet"
    t2 = time.perf_counter()
    data, pca, files = _embed(model, clips, config=config, pca=None, fit_rows=train_rows, device=device,
                              out_dir=out_dir, label=label, keep=loaded is not None)
    if out_dir is not None and loaded is None:  # for `python -m audiolib.embeddings --checkpoint ...`
        save_embedding_model(Path(out_dir) / "embedding_model.pt", model, model_name=model_name, model_kwargs=kwargs,
                             num_classes=len(clips.classes), pca=pca)
    t3 = time.perf_counter()
    description = (f"{clips.description}; embedded by {label}; AudioSet-release post-processing (PCA to 128 fitted "
                   f"on the training clips, clipped, 8-bit), read back from TFRecords")
    splits = split_embeddings(data, by="split", description=description, embedder=label)
    info = {"clips": clips, "embedder": "trained" if loaded is None else "yamnet", "model_name": model_name,
            "model_kwargs": kwargs, "embedder_label": label, "features_seconds": t1 - t0,
            "embed_train_seconds": t2 - t1, "embed_write_seconds": t3 - t2, "embed_final_loss": final_loss}
    return splits, model, pca, info, files


def embed_dataset(name: str, model: nn.Module, pca, *, max_clips: int, seed: int, device: str, out_dir, config,
                  embedder: str, keep: bool) -> tuple[EmbeddingSplits, Any, pd.DataFrame]:
    """A real dataset (``esc10``, ``urbansound8k``) embedded by ``model``, in the dataset's own
    label space, at most ``max_clips`` clips (the same share from every fold,
    :func:`audiolib.data.splits.share_of_groups`).

    ``pca``: the post-processing to apply (the default corpus's: one embedding release for every
    dataset), or ``None`` to fit it on this dataset's training folds. ``embedder`` names the
    network and its training data; ``keep``: keep its raw embeddings on disk (a fixed network).
    Returns ``(splits, clips, files)``. Raises ``FileNotFoundError``/``ImportError`` when the dataset is absent.
    """
    clips = load_dataset(name)
    if len(clips) > max_clips:
        total = len(clips)
        clips = clips.subset(share_of_groups(clips.manifest.groupby("fold").indices, total, max_clips, seed=seed))
        clips.description = f"{clips.description or clips.name} (subset: {len(clips)} of {total} clips, all folds)"
    fit_rows = None if pca is not None else held_out_folds(clips.manifest["fold"].astype(str), name=name)[0]["train"]
    data, _, files = _embed(model, clips, config=config, pca=pca, fit_rows=fit_rows, device=device, out_dir=out_dir,
                            label=embedder, keep=keep)
    where = "the default corpus's PCA" if pca is not None else "PCA fitted on its training folds"
    description = f"{clips.description}; embedded by {embedder} ({where}), read back from TFRecords"
    return split_embeddings(data, by="fold", description=description, embedder=embedder), clips, files


def audioset_splits(source, *, val_fraction: float = 0.1, seed: int = 0) -> EmbeddingSplits:
    """Real AudioSet embeddings (release folder or packed ``.h5`` files): ``bal_train`` for training
    (``val_fraction`` of it held out for validation) and ``eval`` for test, as the report used."""
    train_all = load_embeddings(source, split="bal_train")
    test = load_embeddings(source, split="eval")
    order = np.random.default_rng(seed).permutation(len(train_all))
    n_val = max(1, int(round(val_fraction * len(train_all))))
    return EmbeddingSplits("audioset", train_all.subset(np.sort(order[n_val:]), name="audioset/bal_train"),
                           train_all.subset(np.sort(order[:n_val]), name="audioset/bal_train (held out)"),
                           test.subset(np.arange(len(test)), name="audioset/eval"),
                           f"AudioSet embeddings from {source}: bal_train ({len(train_all) - n_val} train, "
                           f"{n_val} validation), eval ({len(test)} test), 527 classes",
                           "the AudioSet release's embedding network (Xu: 'a bottleneck layer of ResNet'), "
                           "trained by Google on YouTube videos")


def write_and_reload(data: EmbeddingSet, out_dir) -> tuple[dict[str, EmbeddingSet], pd.DataFrame]:
    """Write ``data`` in both release formats, read each back and check it is unchanged.

    Returns ``({"tfrecord": set, "hdf5": set}, files table)`` (tidy: ``dataset``, ``format``,
    ``file``, metric ``bytes``). Raises ``AssertionError`` naming the format if a read-back
    differs from what was written.
    """
    out_dir = Path(out_dir)
    back, rows = {}, []
    for fmt, writer in WRITERS.items():
        files = writer(data, out_dir / fmt)
        reloaded = load_embeddings(out_dir / fmt)
        order = {c: i for i, c in enumerate(reloaded.clip_ids)}
        rows_back = [order[c] for c in data.clip_ids]
        same = (np.array_equal(reloaded.x[rows_back], data.x) and np.array_equal(reloaded.y[rows_back], data.y)
                and reloaded.classes == data.classes)
        if not same:
            raise AssertionError(f"{fmt} files under {out_dir / fmt} do not read back as written")
        back[fmt] = reloaded.subset(rows_back, name=data.name)
        back[fmt].description = data.description
        rows += [{"dataset": data.name, "format": fmt, "file": str(f.relative_to(out_dir)), "metric": "bytes",
                  "value": f.stat().st_size} for f in files]
    return back, pd.DataFrame(rows)


# --- the datasets of notebook 06, in one call ----------------------------------------------------
def prepare_datasets(names: Sequence[str], *, embedder: str = "auto", primary: str = "auto", n_clips: int,
                     embed_model: str, embed_width: float, embed_steps: int, embed_batch: int, max_clips: int,
                     audioset_dir: str = "", seed: int = 0, device: str = "auto", out_dir=None
                     ) -> tuple[dict[str, EmbeddingSplits], str, dict[str, Any], pd.DataFrame]:
    """Embed the datasets ``names`` (``synthetic`` or datasets with folds: ``esc10``,
    ``urbansound8k``, ...) as AudioSet-format 10x128 embeddings, written as TFRecords under
    ``out_dir/<name>`` and read back; absent datasets are skipped
    (:func:`audiolib.data.splits.load_available`).

    ``embedder``: ``"yamnet"`` (YAMNet, trained on AudioSet; PCA fitted per dataset on its
    training clips), ``"trained"`` (``embed_model`` trained here on the synthetic corpus, which is
    then always embedded too; its PCA for every dataset) or ``"auto"`` (YAMNet when its release
    is here, else trained, saying why). ``audioset_dir``: real AudioSet embeddings, added as
    ``audioset``. ``primary``: the dataset the sweeps and findings run on; ``"auto"`` is
    ``audioset`` when given, else the first of ``names`` that is present.

    Returns ``(splits by name, primary, info, files)``; ``info`` has the embedder, the clip sets
    (``clips``) and the datasets skipped as absent (``skipped``) with the reason.
    """
    if embedder not in (*EMBEDDERS, "auto"):
        raise ValueError(f"EMBEDDER {embedder!r} unknown; allowed: auto, {', '.join(EMBEDDERS)}")
    info: dict[str, Any] = {"clips": {}}
    if embedder == "auto":
        missing = yamnet_missing()
        embedder = "trained" if missing else "yamnet"
        if missing:
            info["embedder_note"] = f"YAMNet not available: {missing}"
            print(f"EMBEDDER auto -> trained ({info['embedder_note']})")
    info["embedder"] = embedder

    def where(name: str) -> str | None:
        return None if out_dir is None else f"{out_dir}/{name}"

    datasets, files = {}, []
    loaded, pca = None, None
    if embedder == "yamnet":
        # The VGGish front end at log(mel + 0.001) and the release's 0.96 s hop (one embedding per
        # 0.96 s, as the AudioSet release), not YAMNet's 0.48 s.
        loaded = (load_yamnet(device=device), get_config("yamnet").with_(patch_hop=None),
                  "YAMNet (Google's release, MobileNet-v1 trained on AudioSet), 1024-d -> PCA 128")
    if embedder == "trained" or "synthetic" in names:
        splits, model, pca_syn, corpus_info, f = embed_default_corpus(
            n_clips, model_name=embed_model, width=embed_width, steps=embed_steps, batch_size=embed_batch, seed=seed,
            device=device, out_dir=where("synthetic"), loaded=loaded)
        info["clips"]["synthetic"] = corpus_info.pop("clips")
        info["synthetic"] = corpus_info
        datasets["synthetic"], files = splits, [f]
        if embedder == "trained":
            loaded, pca = (model, "vggish", splits.embedder), pca_syn
    model, config, label = loaded
    real, info["skipped"] = load_available(
        [n for n in names if n != "synthetic"], lambda name: embed_dataset(
            name, model, pca, max_clips=max_clips, seed=seed, device=device, out_dir=where(name), config=config,
            embedder=label, keep=embedder == "yamnet"), quiet=False)
    for name, (splits, clips, f) in real.items():
        datasets[name], info["clips"][name] = splits, clips
        files.append(f)
    if audioset_dir:
        datasets = {"audioset": audioset_splits(audioset_dir, seed=seed), **datasets}
    if primary == "auto":
        present = [n for n in ["audioset", *names] if n in datasets]
        if not present:
            raise FileNotFoundError(f"none of the datasets {list(names)} is available: {info['skipped']}")
        primary = present[0]
    if primary not in datasets:
        raise ValueError(f"PRIMARY {primary!r} is not among the embedded datasets {sorted(datasets)}")
    return datasets, primary, info, pd.concat(files, ignore_index=True) if files else pd.DataFrame()
