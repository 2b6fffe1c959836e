"""X18 inputs: AudioSet-format 10x128 embeddings of a dataset, split into train / validation / test.

Xu trained on AudioSet's released features: "features of 128 dimensions, extracted from a
bottleneck layer of ResNet" (sec. 1.2), ten per 10 s clip. They are not on this machine, so the
workbook makes data of the same format and says which network made it:

- ``embedder="trained"``: a patch CNN with a 128-d bottleneck trained inside the workbook on the
  training split of the synthetic default corpus (:func:`train_embedding_model`); every clip is
  embedded with it and post-processed as the AudioSet release is (PCA fitted on the training
  clips, clipped, 8-bit; :func:`audiolib.embeddings.embed_clipset`). ESC-10 and UrbanSound8K
  are embedded by the same model, in their own label spaces.
- ``embedder="yamnet"``: Google's YAMNet (trained on AudioSet) through
  :func:`audiolib.models.yamnet.load_yamnet`, its 1024-d frame embeddings reduced to 128 by the
  same post-processing (PCA fitted on each dataset's training clips): a network trained on
  AudioSet, as Xu's ResNet was, on real clips.

Either way the embeddings are written as the release's TFRecords (and packed HDF5), read back
and checked (:func:`write_and_reload`); the classifiers train on what was read back. With real
AudioSet embeddings (:func:`audioset_splits`) everything downstream runs on them unchanged.

Splits: the default corpus uses its ``split`` column (train / validate / test); a dataset with
folds uses its last fold for test, the one before for validation and the others for training
(:func:`split_by_folds`; one split, not the datasets' cross-validation).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from torch import nn

from audiolib.data.audioset import EmbeddingSet

__all__ = ["EMBEDDERS", "EmbeddingSplits", "train_embedding_model", "embed_default_corpus", "embed_dataset",
           "embed_available", "yamnet_available", "load_embedder", "audioset_splits", "split_by_column",
           "split_by_folds", "limit_clips", "write_and_reload"]

#: Networks that can make the 10x128 input: one trained here, or YAMNet (trained on AudioSet).
EMBEDDERS = ("trained", "yamnet")

# --- data ---------------------------------------------------------------------------------------
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


def _check_model(name: str) -> None:
    from audiolib.models import list_models

    if name not in list_models():
        raise ValueError(f"unknown model {name!r}; registered models: {', '.join(list_models())}")


def _create_with(name: str, num_classes: int, wanted: dict[str, Any]) -> tuple[nn.Module, dict[str, Any]]:
    """``create_model(name, C, **wanted)``, leaving out the arguments the entry point refuses.

    ``create_model`` names refused keyword arguments in its ``TypeError``; the registry has no
    public way to list an entry point's arguments.
    """
    from audiolib.models import create_model

    kwargs = dict(wanted)
    while True:
        try:
            return create_model(name, num_classes, **kwargs), kwargs
        except TypeError as exc:
            refused = [k for k in kwargs if f"'{k}'" in str(exc).split("allowed")[0]]
            if not refused:
                raise
            for k in refused:
                kwargs.pop(k)


def train_embedding_model(patches, model_name: str, *, width: float | None = None, steps: int = 200,
                          batch_size: int = 32, lr: float = 1e-3, seed: int = 0, device: str = "auto",
                          eval_set=None) -> tuple[nn.Module, dict[str, Any], Any]:
    """Train ``create_model(model_name, C[, bottleneck=128][, width])`` on log-mel patches.

    ``bottleneck=128`` and ``width`` are passed when the entry point takes them (``vggish`` has
    its own 128-d embedding layer). Returns ``(model, model_kwargs, FitResult)``;
    ``model.embedding(x)`` is the embedding (one wider than 128 is reduced to 128 by the PCA).
    """
    from audiolib.train import TrainConfig, fit, seed_everything

    _check_model(model_name)
    seed_everything(seed)
    wanted = {"bottleneck": 128, **({} if width is None else {"width": width})}
    model, kwargs = _create_with(model_name, len(patches.classes), wanted)
    result = fit(model, patches, TrainConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed, device=device,
                                             progress=False), val_set=eval_set)
    return model, kwargs, result


def yamnet_available() -> str:
    """``""`` when YAMNet (port and weights) can be loaded here, else the reason it cannot."""
    try:
        from audiolib.models.yamnet import yamnet_files

        yamnet_files()
    except (ImportError, FileNotFoundError, ValueError) as exc:
        return f"YAMNet not available: {exc}"
    return ""


def load_embedder(embedder: str, device: str = "auto"):
    """``(model, feature_config, label)`` of the ``yamnet`` embedder: the released network with
    the VGGish front end at ``log(mel + 0.001)`` and 0.96 s patches without overlap (one
    embedding per 0.96 s, as the AudioSet release). ``label`` names the network and its data."""
    if embedder != "yamnet":
        raise ValueError(f"load_embedder: {embedder!r} is not loadable; allowed: yamnet "
                         "('trained' is trained by embed_default_corpus)")
    reason = yamnet_available()
    if reason:
        raise FileNotFoundError(f"{reason}; set EMBEDDER='trained'")
    from audiolib.features import get_config
    from audiolib.models.yamnet import load_yamnet, yamnet_files
    from audiolib.train import resolve_device

    model = load_yamnet(device=resolve_device(device))
    model.cache_key = f"yamnet-{_file_digest(yamnet_files()['tflite'])}"  # the weights' identity
    config = get_config("yamnet").with_(patch_hop=None)  # the release's 0.96 s hop, not YAMNet's 0.48 s
    return model, config, "YAMNet (Google's release, MobileNet-v1 trained on AudioSet), 1024-d -> PCA 128"


def _file_digest(path) -> str:
    """Size and modification time of a file: enough to notice a replaced weights file."""
    stat = Path(path).stat()
    return f"{stat.st_size}-{int(stat.st_mtime)}"


def _raw_embeddings(model, patches, *, key: str | None, device) -> np.ndarray:
    """``model.embedding`` of every patch; with ``key``, read from / written to
    ``<data_root>/embeddings/<key>.npy`` (a fixed network's embeddings of fixed patches are
    computed once: YAMNet on this CPU embeds about 30-60 patches a second)."""
    from audiolib import paths
    from audiolib.embeddings import embed_patches

    path = None if key is None else paths.data_root() / "embeddings" / f"{key}.npy"
    if path is not None and path.exists():
        raw = np.load(path)
        if raw.shape[0] == len(patches):
            return raw
    raw = embed_patches(model, patches, device=device)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, raw)
        tmp.replace(path)
    return raw


def _embedding_set(raw: np.ndarray, patches, clips, *, pca, fit_rows, label: str) -> tuple[EmbeddingSet, Any]:
    """The AudioSet release's post-processing of raw patch embeddings (PCA to 128 fitted on the
    clips at ``fit_rows`` unless ``pca`` is given, clipped, 8-bit), ten per clip, with labels."""
    from audiolib.embeddings import fit_pca, frames_per_clip, postprocess

    clip_index = patches.clip_index.numpy()
    if pca is None:
        mask = np.zeros(patches.n_clips, bool)
        mask[np.asarray(fit_rows if fit_rows is not None else np.arange(patches.n_clips))] = True
        pca = fit_pca(raw[mask[clip_index]])
    x, n_frames = frames_per_clip(postprocess(raw, pca), clip_index, patches.n_clips, 10)
    manifest = clips.manifest
    codes = [str(c) for c in clips.classes]
    tax = clips.taxonomy
    names = codes if tax is None else [tax.fine.get(c) or tax.coarse.get(c) or c for c in codes]
    folds = manifest["fold"].to_numpy() if "fold" in manifest else (
        manifest["split"].to_numpy() if "split" in manifest else None)
    data = EmbeddingSet(x, clips.targets() > 0.5, manifest["clip_id"].astype(str).tolist(), names, codes, n_frames,
                        np.zeros(len(manifest)), n_frames * 0.96, folds, name=clips.name,
                        description=f"128-d embeddings ({label}, AudioSet-release post-processing) of "
                                    f"{clips.description or clips.name}")
    return data, pca


def _embed(model, clips, *, config, pca, fit_rows, device, out_dir, num_workers, cache_key: str | None = None,
           label: str = ""):
    import hashlib

    from audiolib.cache import cached_patchset, feature_key

    patches = cached_patchset(clips, config, num_workers=num_workers, progress=False)
    key = None
    if cache_key is not None:
        digest = hashlib.sha256(f"{cache_key}|{feature_key(clips, config)}".encode()).hexdigest()[:20]
        key = f"{clips.name}-{digest}"
    raw = _raw_embeddings(model, patches, key=key, device=device)
    data, pca = _embedding_set(raw, patches, clips, pca=pca, fit_rows=fit_rows, label=label or type(model).__name__)
    back, files = write_and_reload(data, out_dir) if out_dir is not None else ({"tfrecord": data}, pd.DataFrame())
    return back["tfrecord"], pca, files


def embed_default_corpus(n_clips: int, *, model_name: str, width: float | None, steps: int, batch_size: int,
                         seed: int = 0, device: str = "auto", out_dir=None, num_workers: int = 0,
                         embedder: str = "trained", loaded: tuple | None = None
                         ) -> tuple[EmbeddingSplits, nn.Module, Any, dict[str, Any], pd.DataFrame]:
    """The default corpus as AudioSet-format embeddings.

    Loads ``n_clips`` synthetic clips and computes (or reads cached) log-mel patches. With
    ``embedder="trained"`` it trains ``model_name`` on the training split's patches; with
    ``"yamnet"`` it loads YAMNet (``model_name``, ``width``, ``steps`` unused). The PCA is fitted
    on the training clips, every clip embedded, TFRecords and HDF5 written under ``out_dir``
    (with a trained model and its PCA as ``embedding_model.pt``, for ``python -m
    audiolib.embeddings``), and what was read back from the TFRecords is returned. ``loaded``:
    an already loaded :func:`load_embedder` result.

    Returns ``(splits, model, pca, info, files)``; ``info`` has the clip set, timings and the
    embedding model's description.
    """
    from audiolib.cache import cached_patchset
    from audiolib.data import load_dataset
    from audiolib.embeddings import save_embedding_model

    if embedder not in EMBEDDERS:
        raise ValueError(f"unknown embedder {embedder!r}; allowed: {', '.join(EMBEDDERS)}")
    t0 = time.perf_counter()
    clips = load_dataset("synthetic", n_clips=n_clips, seed=seed)
    train_rows = np.flatnonzero(clips.manifest["split"].to_numpy() == "train")
    kwargs: dict[str, Any] = {}
    final_loss = float("nan")
    if embedder == "trained":
        _check_model(model_name)  # before any work
        config = "vggish"
        patches = cached_patchset(clips, config, num_workers=num_workers, progress=False)
        t1 = time.perf_counter()
        model, kwargs, fit_result = train_embedding_model(patches.subset_clips(train_rows), model_name, width=width,
                                                          steps=steps, batch_size=batch_size, seed=seed, device=device)
        final_loss = float(fit_result.history["loss"].iloc[-1])
        label = (f"{model_name} {kwargs} trained here for {steps} steps on the {len(train_rows)} training clips of "
                 f"the synthetic corpus (seed {seed})")
    else:
        t1 = time.perf_counter()
        model, config, label = loaded or load_embedder("yamnet", device)
        model_name = "yamnet"
    t2 = time.perf_counter()
    data, pca, files = _embed(model, clips, config=config, pca=None, fit_rows=train_rows, device=device,
                              out_dir=out_dir, num_workers=num_workers, label=label,
                              cache_key=getattr(model, "cache_key", None) if embedder == "yamnet" else None)
    if out_dir is not None and embedder == "trained":  # for `python -m audiolib.embeddings --checkpoint ...`
        save_embedding_model(Path(out_dir) / "embedding_model.pt", model, model_name=model_name, model_kwargs=kwargs,
                             num_classes=len(clips.classes), pca=pca)
    t3 = time.perf_counter()
    description = (f"{clips.description}; embedded by {label}; AudioSet-release post-processing (PCA to 128 fitted "
                   f"on the training clips, clipped, 8-bit), read back from TFRecords")
    splits = split_by_column(data, description=description)
    splits.embedder = label
    info = {"clips": clips, "embedder": embedder, "model_name": model_name, "model_kwargs": kwargs,
            "embedder_label": label, "features_seconds": t1 - t0, "embed_train_seconds": t2 - t1,
            "embed_write_seconds": t3 - t2, "embed_final_loss": final_loss}
    return splits, model, pca, info, files


def _training_rows(clips) -> np.ndarray:
    """Rows of the folds :func:`split_by_folds` trains on (all but the last two)."""
    folds = clips.manifest["fold"].astype(str)
    order = sorted(set(folds), key=lambda f: (len(f), f))
    return np.flatnonzero(~folds.isin(order[-2:]).to_numpy())


def embed_dataset(name: str, model: nn.Module, pca, *, max_clips: int, seed: int = 0, device: str = "auto",
                  out_dir=None, num_workers: int = 0, config="vggish", embedder: str = ""
                  ) -> tuple[EmbeddingSplits, Any, pd.DataFrame]:
    """A real dataset (``esc10``, ``urbansound8k``) embedded by ``model``, in the dataset's own
    label space, at most ``max_clips`` clips (the same share from every fold).

    ``pca``: the post-processing to apply (the default corpus's: one embedding release for every
    dataset), or ``None`` to fit it on this dataset's training folds. ``embedder`` names the
    network and its training data. Returns ``(splits, clips, files)``. Raises
    ``FileNotFoundError``/``ImportError`` when the dataset is absent.
    """
    from audiolib.data import load_dataset

    clips = limit_clips(load_dataset(name), max_clips, seed=seed)
    fit_rows = _training_rows(clips) if pca is None else None
    data, _, files = _embed(model, clips, config=config, pca=pca, fit_rows=fit_rows, device=device, out_dir=out_dir,
                            num_workers=num_workers, label=embedder, cache_key=getattr(model, "cache_key", None))
    where = "the default corpus's PCA" if pca is not None else "PCA fitted on its training folds"
    description = f"{clips.description}; embedded by {embedder or type(model).__name__} ({where}), read back from TFRecords"
    splits = split_by_folds(data, description=description)
    splits.embedder = embedder or type(model).__name__
    return splits, clips, files


def embed_available(names: Sequence[str], model: nn.Module, pca, **kw) -> tuple[dict[str, EmbeddingSplits],
                                                                             dict[str, Any], pd.DataFrame, dict[str, str]]:
    """:func:`embed_dataset` for each named dataset that is present.

    Returns ``(splits by name, clip sets by name, files, skipped)`` where ``skipped`` maps an
    absent dataset to the reason (printed too); an absent dataset is not an error.
    """
    base = kw.pop("out_dir", None)
    splits, clip_sets, files, skipped = {}, {}, [], {}
    for name in names:
        try:
            splits[name], clip_sets[name], f = embed_dataset(name, model, pca, **kw,
                                                             out_dir=None if base is None else Path(base) / name)
        except (FileNotFoundError, ImportError) as exc:
            skipped[name] = f"not available: {exc}"
            print(f"{name}: {skipped[name]}")
            continue
        files.append(f)
    return splits, clip_sets, (pd.concat(files, ignore_index=True) if files else pd.DataFrame()), skipped


def audioset_splits(source, *, val_fraction: float = 0.1, seed: int = 0) -> EmbeddingSplits:
    """Real AudioSet embeddings (release folder or packed ``.h5`` files): ``bal_train`` for training
    (``val_fraction`` of it held out for validation) and ``eval`` for test, as the report used."""
    from audiolib.data.audioset import load_embeddings

    train_all = load_embeddings(source, split="bal_train")
    test = load_embeddings(source, split="eval")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train_all))
    n_val = max(1, int(round(val_fraction * len(train_all))))
    return EmbeddingSplits("audioset", train_all.subset(np.sort(order[n_val:]), name="audioset/bal_train"),
                           train_all.subset(np.sort(order[:n_val]), name="audioset/bal_train (held out)"),
                           test.subset(np.arange(len(test)), name="audioset/eval"),
                           f"AudioSet embeddings from {source}: bal_train ({len(train_all) - n_val} train, "
                           f"{n_val} validation), eval ({len(test)} test), 527 classes",
                           "the AudioSet release's embedding network (Xu: 'a bottleneck layer of ResNet'), "
                           "trained by Google on YouTube videos")


def split_by_column(data: EmbeddingSet, *, train: str = "train", val: str = "validate", test: str = "test",
                    description: str = "") -> EmbeddingSplits:
    """Splits from ``data.folds`` holding split names (the default corpus's ``split`` column)."""
    if data.folds is None:
        raise ValueError(f"{data.name}: no split column to split by")
    parts = {}
    for role, value in (("train", train), ("val", val), ("test", test)):
        rows = np.flatnonzero(data.folds == value)
        if len(rows) == 0:
            raise ValueError(f"{data.name}: no clip in split {value!r} (splits: {sorted(set(data.folds))})")
        parts[role] = data.subset(rows, name=f"{data.name}/{value}")
    return EmbeddingSplits(data.name, parts["train"], parts["val"], parts["test"], description or data.description)


def split_by_folds(data: EmbeddingSet, *, description: str = "") -> EmbeddingSplits:
    """Last fold -> test, the one before -> validation, the others -> training."""
    if data.folds is None:
        raise ValueError(f"{data.name}: no folds to split by")
    folds = sorted(set(data.folds.tolist()), key=lambda f: (len(f), f))
    if len(folds) < 3:
        raise ValueError(f"{data.name}: need at least 3 folds for train/validation/test, found {folds}")
    test_fold, val_fold = folds[-1], folds[-2]
    train = data.subset(~np.isin(data.folds, [test_fold, val_fold]), name=f"{data.name}/train")
    val = data.subset(data.folds == val_fold, name=f"{data.name}/fold{val_fold}")
    test = data.subset(data.folds == test_fold, name=f"{data.name}/fold{test_fold}")
    text = description or data.description
    text += f"; train folds {folds[:-2]}, validation fold {val_fold}, test fold {test_fold}"
    return EmbeddingSplits(data.name, train, val, test, text)


def limit_clips(clips, max_clips: int, *, seed: int = 0):
    """At most ``max_clips`` clips of a ClipSet, the same share from every fold (all when fewer)."""
    if len(clips) <= max_clips:
        return clips
    rng = np.random.default_rng(seed)
    key = "fold" if "fold" in clips.manifest else ("split" if "split" in clips.manifest else None)
    groups = clips.manifest.groupby(key).indices if key else {"all": np.arange(len(clips))}
    keep = []
    for _, rows in sorted(groups.items()):
        take = max(1, int(round(max_clips * len(rows) / len(clips))))
        keep += sorted(rng.choice(rows, size=min(take, len(rows)), replace=False).tolist())
    sub = clips.subset(sorted(keep))
    sub.description = (clips.description or clips.name) + f" (subset: {len(sub)} of {len(clips)} clips, all folds)"
    return sub


def write_and_reload(data: EmbeddingSet, out_dir) -> tuple[dict[str, EmbeddingSet], pd.DataFrame]:
    """Write ``data`` in both release formats, read each back and check it is unchanged.

    Returns ``({"tfrecord": set, "hdf5": set}, files table)``. Raises ``AssertionError`` naming
    the format if a read-back differs from what was written.
    """
    from audiolib.data.audioset import load_embeddings
    from audiolib.embeddings import WRITERS

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
        for f in files:
            rows.append({"dataset": data.name, "format": fmt, "file": str(f.relative_to(out_dir)),
                         "metric": "bytes", "value": f.stat().st_size})
    return back, pd.DataFrame(rows)


