"""X18 (Xu, "Audio Event Recognition"): classifiers on AudioSet-style 10x128 embeddings.

The helpers behind ``notebooks/06_embedding_classifiers.ipynb``:

1. **Embeddings.** AudioSet's released features are not available here, so the workbook makes
   the same kind of data: a VGGish-style patch classifier with a 128-d bottleneck is trained on
   the training split of the default corpus (:func:`train_embedding_model`), every clip of a
   dataset is embedded with it and post-processed as VGGish does (PCA whitening fitted on the
   training clips, clipping, 8-bit quantisation; :func:`audiolib.embeddings.embed_clipset`),
   written as TFRecords and packed HDF5 and read back (:func:`write_and_reload`). ESC-10 and
   UrbanSound8K (when present) are embedded with the same model, in their own label spaces.
   With real AudioSet embeddings (``load_embeddings``) everything below runs on them unchanged.
2. **Classifiers.** Each network is a :class:`~audiolib.models.describe.ModelDescription`,
   trained by :func:`audiolib.train.fit` (:func:`train_description`) and scored with macro
   AUC and AP (:func:`audiolib.metrics.balanced_metrics`) on clip-level targets.
3. **Experiments.** The architecture comparison with the average of the three families
   (:func:`compare_architectures`), one-factor sweeps with validation curves against epochs
   (:func:`sweep`), and eager vs ``torch.compile`` execution of one description
   (:func:`compare_backends`).

Splits: the default corpus uses its ``split`` column (train / validate / test); a dataset with
folds uses its last fold for test, the one before for validation and the others for training
(:func:`split_by_folds`; one split, not the datasets' cross-validation).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from audiolib.data.audioset import EmbeddingSet
from audiolib.models.describe import FAMILIES, ModelDescription

__all__ = ["REFERENCE", "EmbeddingSplits", "train_embedding_model", "embed_default_corpus", "embed_dataset",
           "embed_available", "audioset_splits", "architecture_study", "run_sweeps", "SWEEP_FIGURES", "split_by_folds", "split_by_column",
           "limit_clips", "write_and_reload", "train_description", "score", "compare_architectures", "sweep",
           "compare_backends", "families", "sweep_descriptions", "plot_architectures", "plot_curves",
           "plot_backends", "with_reference"]

#: Published results of classifiers trained on the released AudioSet embeddings
#: (``bal_train`` -> ``eval``, 527 classes); comparable only to runs on that data.
REFERENCE = pd.DataFrame([
    {"model": "baseline (Gemmeke et al. 2017)", "metric": "mAP", "reference_value": 0.314,
     "reference_source": "Gemmeke et al., ICASSP 2017, as tabulated by Kong et al., arXiv:1711.00927"},
    {"model": "baseline (Gemmeke et al. 2017)", "metric": "AUC", "reference_value": 0.959,
     "reference_source": "Gemmeke et al., ICASSP 2017, as tabulated by Kong et al., arXiv:1711.00927"},
])


# --- data ---------------------------------------------------------------------------------------
@dataclass
class EmbeddingSplits:
    """Train / validation / test embeddings of one dataset and a line saying what they are."""

    name: str
    train: EmbeddingSet
    val: EmbeddingSet
    test: EmbeddingSet
    description: str

    def label(self) -> str:
        """A short line for figures: name, clip counts per split, classes."""
        return (f"{self.name}: {len(self.train)} train / {len(self.val)} validation / {len(self.test)} test clips, "
                f"{len(self.train.classes)} classes")

    def summary(self) -> dict[str, Any]:
        return {"dataset": self.name, "train_clips": len(self.train), "val_clips": len(self.val),
                "test_clips": len(self.test), "classes": len(self.train.classes), "description": self.description}


def train_embedding_model(patches, model_name: str, *, width: float | None = None, steps: int = 200,
                          batch_size: int = 32, lr: float = 1e-3, seed: int = 0, device: str = "auto",
                          eval_set=None) -> tuple[nn.Module, dict[str, Any], Any]:
    """Train ``create_model(model_name, C[, bottleneck=128][, width])`` on log-mel patches.

    ``bottleneck=128`` is passed when the entry point takes it (``vggish`` has its own 128-d
    embedding layer). Returns ``(model, model_kwargs, FitResult)``; ``model.embedding(x)`` is
    the embedding (one wider than 128 is reduced to 128 by the PCA).
    """
    from audiolib.models import create_model
    from audiolib.models.registry import _REGISTRY, _check_name
    from audiolib.train import TrainConfig, fit, seed_everything

    _check_name(model_name)  # an unknown name is a ValueError listing the registered models
    accepted = inspect.signature(_REGISTRY[model_name]).parameters
    kwargs: dict[str, Any] = {"bottleneck": 128} if "bottleneck" in accepted else {}
    if width is not None and "width" in accepted:
        kwargs["width"] = width
    seed_everything(seed)
    model = create_model(model_name, len(patches.classes), **kwargs)
    result = fit(model, patches, TrainConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed, device=device,
                                             progress=False), val_set=eval_set)
    return model, kwargs, result


def embed_default_corpus(n_clips: int, *, model_name: str, width: float | None, steps: int, batch_size: int,
                         seed: int = 0, device: str = "auto", out_dir=None, num_workers: int = 0
                         ) -> tuple[EmbeddingSplits, nn.Module, Any, dict[str, Any], pd.DataFrame]:
    """The default corpus as AudioSet-style embeddings.

    Loads ``n_clips`` synthetic clips, computes (or reads cached) VGGish log-mel patches, trains
    the embedding model on the training split's patches, fits the PCA on the training clips,
    embeds every clip, writes TFRecords and HDF5 under ``out_dir`` (with the embedding model and
    its PCA as ``embedding_model.pt``, for ``python -m audiolib.embeddings``) and continues with
    what was read back from them (the TFRecords).

    Returns ``(splits, model, pca, info, files)``; ``info`` has the clip set, timings and the
    embedding model's description.
    """
    from pathlib import Path

    from audiolib.cache import cached_patchset
    from audiolib.data import load_dataset
    from audiolib.embeddings import embed_clipset, save_embedding_model
    from audiolib.models.registry import _check_name

    _check_name(model_name)  # before any work
    t0 = time.perf_counter()
    clips = load_dataset("synthetic", n_clips=n_clips, seed=seed)
    patches = cached_patchset(clips, "vggish", num_workers=num_workers, progress=False)
    t1 = time.perf_counter()
    train_rows = np.flatnonzero(clips.manifest["split"].to_numpy() == "train")
    model, kwargs, fit_result = train_embedding_model(patches.subset_clips(train_rows), model_name, width=width,
                                                      steps=steps, batch_size=batch_size, seed=seed, device=device)
    t2 = time.perf_counter()
    data, pca = embed_clipset(model, clips, patches=patches, fit_rows=train_rows, device=device)
    back, files = write_and_reload(data, out_dir) if out_dir is not None else ({"tfrecord": data}, pd.DataFrame())
    if out_dir is not None:  # for `python -m audiolib.embeddings --checkpoint <out_dir>/embedding_model.pt`
        save_embedding_model(Path(out_dir) / "embedding_model.pt", model, model_name=model_name, model_kwargs=kwargs,
                             num_classes=len(clips.classes), pca=pca)
    t3 = time.perf_counter()
    description = (f"{clips.description}; embedded by {model_name} {kwargs} trained {steps} steps on its training "
                   f"split, VGGish post-processing (PCA fitted on the training clips), read back from TFRecords")
    splits = split_by_column(back["tfrecord"], description=description)
    info = {"clips": clips, "model_name": model_name, "model_kwargs": kwargs, "features_seconds": t1 - t0,
            "embed_train_seconds": t2 - t1, "embed_write_seconds": t3 - t2,
            "embed_final_loss": float(fit_result.history["loss"].iloc[-1])}
    return splits, model, pca, info, files


def embed_dataset(name: str, model: nn.Module, pca, *, max_clips: int, seed: int = 0, device: str = "auto",
                  out_dir=None, num_workers: int = 0) -> tuple[EmbeddingSplits, Any, pd.DataFrame]:
    """A real dataset (``esc10``, ``urbansound8k``) embedded by ``model`` with ``pca`` (the
    default corpus's post-processing: one embedding release for every dataset), in the dataset's
    own label space, at most ``max_clips`` clips (the same share from every fold).

    Returns ``(splits, clips, files)``. Raises ``FileNotFoundError``/``ImportError`` when the
    dataset is absent.
    """
    from audiolib.cache import cached_patchset
    from audiolib.data import load_dataset
    from audiolib.embeddings import embed_clipset

    clips = limit_clips(load_dataset(name), max_clips, seed=seed)
    patches = cached_patchset(clips, "vggish", num_workers=num_workers, progress=False)
    data, _ = embed_clipset(model, clips, patches=patches, pca=pca, device=device)
    back, files = write_and_reload(data, out_dir) if out_dir is not None else ({"tfrecord": data}, pd.DataFrame())
    description = f"{clips.description}; embedded by the default corpus's embedding model, read back from TFRecords"
    return split_by_folds(back["tfrecord"], description=description), clips, files


def embed_available(names: Sequence[str], model: nn.Module, pca, **kw) -> tuple[dict[str, EmbeddingSplits],
                                                                             dict[str, Any], pd.DataFrame, dict[str, str]]:
    """:func:`embed_dataset` for each named dataset that is present.

    Returns ``(splits by name, clip sets by name, files, skipped)`` where ``skipped`` maps an
    absent dataset to the reason (printed too); an absent dataset is not an error.
    """
    from pathlib import Path

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
                           f"{n_val} validation), eval ({len(test)} test), 527 classes")


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
    from pathlib import Path

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


# --- training and scoring ---------------------------------------------------------------------
def score(y_true: np.ndarray, y_score: np.ndarray) -> dict[str, float]:
    """Macro AUC and AP over the classes with positives and negatives (plus d' and counts)."""
    from audiolib.metrics import balanced_metrics

    m = balanced_metrics(y_true, y_score)
    return {"AUC": m["AUC"], "AP": m["mAP"], "dprime": m["dprime_of_mean_auc"],
            "n_classes_evaluated": m["n_classes_evaluated"]}


@dataclass
class Trained:
    """A trained description: the model, its validation history and test scores."""

    name: str
    model: nn.Module
    history: pd.DataFrame
    test_scores: np.ndarray
    test_metrics: dict[str, float]
    train_seconds: float
    examples_per_second: float
    wall_seconds: float = float("nan")
    reused: bool = False


@contextlib.contextmanager
def cpu_threads(n: int | None):
    """Run the block with ``torch.set_num_threads(n)`` (``None``: unchanged), then restore.

    The X18 classifiers are small (a 10x128 input, a few hundred units): on CPU, one intra-op
    thread is faster than two, and much faster when other processes share the cores (OpenMP
    workers then wait for each other).
    """
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_description(description: ModelDescription, splits: EmbeddingSplits, *, steps: int, batch_size: int,
                      eval_every: int, seed: int = 0, device: str = "auto", compile: bool = False,
                      name: str | None = None, threads: int | None = 1, cache: dict | None = None) -> Trained:
    """Build ``description`` for the data, train it, keep the weights best on validation AP, test them.

    The history has one row per evaluation: ``step``, ``epoch`` (= step x batch / training
    clips), ``loss`` and the validation ``val_AUC`` / ``val_AP``. On CPU the run uses
    ``threads`` intra-op threads (see :func:`cpu_threads`). With a ``cache`` dict, a run whose
    description, data (clip ids of every split) and settings equal an earlier one's is not
    trained again: the earlier result is returned (marked ``reused``; runs are deterministic on
    CPU, so retraining would give the same numbers).
    """
    import hashlib

    from audiolib.train import resolve_device

    key = None
    if cache is not None:
        ids = "|".join(",".join(part.clip_ids) for part in (splits.train, splits.val, splits.test))
        key = (splits.name, hashlib.sha256(ids.encode()).hexdigest(), description.to_yaml(), steps, batch_size,
               eval_every, seed, str(device), compile, threads)
        if key in cache:
            return dataclasses.replace(cache[key], name=name or description.name, reused=True)
    start = time.perf_counter()
    with cpu_threads(threads if resolve_device(device).type == "cpu" else None):
        trained = _train_description(description, splits, steps=steps, batch_size=batch_size, eval_every=eval_every,
                                     seed=seed, device=device, compile=compile, name=name)
    trained.wall_seconds = time.perf_counter() - start
    if key is not None:
        cache[key] = trained
    return trained


def _train_description(description, splits, *, steps, batch_size, eval_every, seed, device, compile, name) -> Trained:
    from audiolib.train import fit, predict, seed_everything

    seed_everything(seed)
    model = description.build(splits.train.example_shape, len(splits.train.classes))
    config = description.train_config(steps=steps, batch_size=min(batch_size, len(splits.train)),
                                      eval_every=eval_every, monitor="AP", seed=seed, device=device,
                                      compile=compile, progress=False)

    def evaluate_fn(m: nn.Module, data: EmbeddingSet) -> dict[str, float]:
        return score(data.y, predict(m, data, device=device))

    result = fit(model, splits.train, config, val_set=splits.val, evaluate_fn=evaluate_fn)
    history = result.history
    history = history[history["val_AUC"].notna()] if "val_AUC" in history else history
    history = history.reset_index(drop=True)
    history.insert(1, "epoch", history["step"] * config.batch_size / len(splits.train))
    scores = predict(model, splits.test, device=device)
    return Trained(name or description.name, model, history, scores, score(splits.test.y, scores),
                   result.train_seconds, result.examples_per_second)


def families(width: float, dropout: float, lr: float, **kw) -> dict[str, ModelDescription]:
    """The report's three families at one width/dropout/learning rate (Adam, sigmoid cross-entropy)."""
    return {name: make(width=width, dropout=dropout, optimizer={"name": "adam", "lr": lr}, **kw)
            for name, make in FAMILIES.items()}


def compare_architectures(splits: EmbeddingSplits, descriptions: dict[str, ModelDescription], **train_kw
                          ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Trained]]:
    """Train every description and score the average of their test probabilities as well.

    Returns ``(table, curves, trained)``: ``table`` tidy (dataset, model, metric AUC/AP/dprime,
    value, train_seconds), ``curves`` the validation histories.
    """
    trained = {name: train_description(d, splits, name=name, **train_kw) for name, d in descriptions.items()}
    rows = []
    for name, t in trained.items():
        rows += _metric_rows(splits.name, name, t.test_metrics, train_seconds=t.train_seconds)
    if len(trained) > 1:
        mean = np.mean([t.test_scores for t in trained.values()], axis=0)
        rows += _metric_rows(splits.name, "average of the above", score(splits.test.y, mean), train_seconds=float(
            sum(t.train_seconds for t in trained.values())))
    curves = _curves(splits.name, {name: t.history for name, t in trained.items()}, "model")
    return pd.DataFrame(rows), curves, trained


def _metric_rows(dataset: str, model: str, metrics: dict[str, float], **extra) -> list[dict]:
    return [{"dataset": dataset, "model": model, "metric": k, "value": float(v), **extra}
            for k, v in metrics.items() if k in ("AUC", "AP", "dprime")]


def _curves(dataset: str, histories: dict[Any, pd.DataFrame], factor: str) -> pd.DataFrame:
    frames = []
    for value, h in histories.items():
        long = h.melt(id_vars=["step", "epoch"], value_vars=[c for c in ("val_AUC", "val_AP", "loss") if c in h],
                      var_name="metric", value_name="value")
        long.insert(0, "setting", str(value))
        long.insert(0, "factor", factor)
        long.insert(0, "dataset", dataset)
        frames.append(long)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def sweep_descriptions(base: ModelDescription, factor: str, values: Sequence[Any],
                       make: Callable[[float], ModelDescription] | None = None) -> dict[Any, ModelDescription]:
    """Descriptions that differ from ``base`` in one factor: ``dropout`` (every layer), ``l2``,
    ``init_scale``, or ``width`` (needs ``make(width) -> description``)."""
    if factor == "dropout":
        return {v: base.with_layers(dropout=float(v)) for v in values}
    if factor in ("l2", "init_scale"):
        return {v: base.replace(**{factor: float(v)}) for v in values}
    if factor == "width":
        if make is None:
            raise ValueError("sweep over width needs make(width) -> ModelDescription")
        return {v: make(float(v)) for v in values}
    raise ValueError(f"unknown sweep factor {factor!r}; allowed: dropout, l2, init_scale, width, data_fraction")


def sweep(splits: EmbeddingSplits, base: ModelDescription, factor: str, values: Sequence[Any], *,
          make: Callable[[float], ModelDescription] | None = None, seed: int = 0, **train_kw
          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train one variant per value of ``factor``; ``factor="data_fraction"`` trains ``base`` on a
    random share of the training clips (same validation and test clips).

    Returns ``(final test metrics, validation curves)``, both tidy with ``factor`` and ``setting``.
    """
    rows, histories = [], {}
    if factor == "data_fraction":
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(splits.train))
        variants = {}
        for v in values:
            if not 0 < float(v) <= 1:
                raise ValueError(f"data_fraction values must be in (0, 1], got {v}")
            keep = np.sort(order[:max(2, int(round(float(v) * len(splits.train))))])
            variants[v] = (base, EmbeddingSplits(splits.name, splits.train.subset(keep), splits.val, splits.test,
                                                 splits.description))
    else:
        variants = {v: (d, splits) for v, d in sweep_descriptions(base, factor, values, make).items()}
    for value, (description, data) in variants.items():
        try:
            t = train_description(description, data, seed=seed, name=f"{factor}={value}", **train_kw)
        except FloatingPointError as exc:  # a diverging setting is a result, not a crash
            rows.append({"dataset": splits.name, "factor": factor, "setting": str(value), "metric": "diverged",
                         "value": 1.0, "note": str(exc), "train_clips": len(data.train)})
            continue
        histories[value] = t.history
        for k, v in t.test_metrics.items():
            if k in ("AUC", "AP"):
                rows.append({"dataset": splits.name, "factor": factor, "setting": str(value), "metric": f"test_{k}",
                             "value": float(v), "note": "", "train_clips": len(data.train)})
    return pd.DataFrame(rows), _curves(splits.name, histories, factor)


def compare_backends(splits: EmbeddingSplits, description: ModelDescription, backends: Sequence[str], *,
                     repeats: int = 1, **train_kw) -> pd.DataFrame:
    """Train one description under each back end (``eager``, ``compile``): AUC, AP and times.

    ``train_seconds`` is the time of the training steps (evaluation excluded); for ``compile``
    it includes compiling the training step on the first step. ``wall_seconds`` covers the whole
    run (building, training, evaluation, test); ``examples_per_second`` is over all steps. A
    ``cache`` in ``train_kw`` may supply the first repeat from an identical earlier run (its
    times are that run's).
    """
    rows = []
    for backend in backends:
        if backend not in ("eager", "compile"):
            raise ValueError(f"unknown back end {backend!r}; allowed: eager, compile")
        for r in range(repeats):
            kw = {k: v for k, v in train_kw.items() if not (k == "cache" and r > 0)}
            t = train_description(description, splits, compile=backend == "compile", name=backend, **kw)
            wall = t.wall_seconds
            base = {"dataset": splits.name, "model": description.name, "backend": backend, "repeat": r}
            rows += [{**base, "metric": "AUC", "value": t.test_metrics["AUC"]},
                     {**base, "metric": "AP", "value": t.test_metrics["AP"]},
                     {**base, "metric": "train_seconds", "value": t.train_seconds},
                     {**base, "metric": "wall_seconds", "value": wall},
                     {**base, "metric": "examples_per_second", "value": t.examples_per_second}]
    return pd.DataFrame(rows)


def architecture_study(datasets: dict[str, EmbeddingSplits], descriptions: dict[str, ModelDescription],
                       **train_kw) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`compare_architectures` on every dataset; returns ``(table, curves)`` concatenated."""
    tables, curves = [], []
    for splits in datasets.values():
        table, curve, _ = compare_architectures(splits, descriptions, **train_kw)
        tables.append(table)
        curves.append(curve)
    return pd.concat(tables, ignore_index=True), pd.concat(curves, ignore_index=True)


#: sweep factor -> (figure name, what it shows)
SWEEP_FIGURES = {
    "dropout": ("fig2_dropout", "X18 Figure 2: dropout rate, validation AUC/AP against epochs"),
    "l2": ("fig3_regularization", "X18 Figure 3: L2 regularisation strength, validation AUC/AP against epochs"),
    "data_fraction": ("fig4_data_size", "X18 Figure 4: small vs big training data, validation AUC/AP against epochs"),
    "width": ("fig5_width", "X18 Figure 5: network width, validation AUC/AP against epochs"),
    "init_scale": ("fig6_weight_scale", "X18 Figure 6: weight scale of the initialisation, validation AUC/AP "
                                        "against epochs"),
}


def run_sweeps(splits: EmbeddingSplits, family: str, values: dict[str, Sequence[Any]], *, width: float,
               dropout: float, lr: float, **train_kw) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One-factor sweeps around ``family`` (a key of :data:`FAMILIES`) at ``width``/``dropout``/``lr``.

    ``values`` maps a factor (``dropout``, ``l2``, ``data_fraction``, ``width``, ``init_scale``)
    to its settings; an empty list skips it. Returns ``(final test metrics, validation curves)``.
    """
    make = FAMILIES[family]
    optimizer = {"name": "adam", "lr": lr}
    base = make(width=width, dropout=dropout, optimizer=optimizer)
    tables, curves = [], []
    for factor, settings in values.items():
        if not settings:
            continue
        table, curve = sweep(splits, base, factor, settings,
                             make=lambda w: make(width=w, dropout=dropout, optimizer=optimizer), **train_kw)
        tables.append(table)
        curves.append(curve)
    return (pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(),
            pd.concat(curves, ignore_index=True) if curves else pd.DataFrame())


def with_reference(table: pd.DataFrame) -> pd.DataFrame:
    """Add ``reference_value``/``reference_source``: published AudioSet numbers where the data is
    the AudioSet release, otherwise empty with the reason."""
    table = table.copy()
    table["reference_value"] = np.nan
    table["reference_source"] = "none: this data is not the AudioSet release, so no published number is comparable"
    audioset = table["dataset"].astype(str).str.contains("audioset", case=False)
    if audioset.any():
        ref = REFERENCE.set_index("metric")
        for i in table.index[audioset]:
            metric = "mAP" if table.at[i, "metric"] == "AP" else table.at[i, "metric"]
            if metric in ref.index:
                table.at[i, "reference_value"] = ref.at[metric, "reference_value"]
                table.at[i, "reference_source"] = f"{ref.at[metric, 'model']}: {ref.at[metric, 'reference_source']}"
    return table


# --- plots ------------------------------------------------------------------------------------
def _note(fig, data: str) -> None:
    if data:
        fig.text(0.01, 0.0, f"data: {data}", fontsize=7, va="top", wrap=True)


def plot_architectures(table: pd.DataFrame, data: str = ""):
    """Bars of test AUC and AP per model, one group per dataset; ``data`` is printed under it."""
    import matplotlib.pyplot as plt

    metrics = ["AUC", "AP"]
    datasets = list(dict.fromkeys(table["dataset"]))
    models = list(dict.fromkeys(table["model"]))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    width = 0.8 / max(1, len(models))
    for ax, metric in zip(axes, metrics):
        sub = table[table["metric"] == metric]
        for k, model in enumerate(models):
            vals = [sub[(sub["dataset"] == d) & (sub["model"] == model)]["value"].mean() for d in datasets]
            ax.bar(np.arange(len(datasets)) + (k - (len(models) - 1) / 2) * width, vals, width, label=model)
        ax.set_xticks(range(len(datasets)), datasets)
        ax.set_ylabel(f"test {metric} (macro)")
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    axes[1].legend(fontsize=8, loc="upper right")
    fig.suptitle("X18 architecture comparison on 10x128 embeddings")
    fig.tight_layout()
    _note(fig, data)
    return fig


def plot_curves(curves: pd.DataFrame, title: str, data: str = ""):
    """Validation AUC and AP against epochs, one line per setting; ``data`` is printed under it."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, metric in zip(axes, ("val_AUC", "val_AP")):
        sub = curves[curves["metric"] == metric]
        for setting, g in sub.groupby("setting", sort=False):
            ax.plot(g["epoch"], g["value"], marker=".", label=str(setting))
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric.replace("val_", "validation "))
        ax.grid(alpha=0.3)
    if not curves.empty:
        axes[0].legend(title=str(curves["factor"].iloc[0]), fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    _note(fig, data)
    return fig


def plot_backends(table: pd.DataFrame, data: str = ""):
    """AUC, AP and training time of each back end side by side; ``data`` is printed under it."""
    import matplotlib.pyplot as plt

    metrics = ["AUC", "AP", "train_seconds"]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for ax, metric in zip(axes, metrics):
        sub = table[table["metric"] == metric].groupby("backend", sort=False)["value"].mean()
        ax.bar(sub.index, sub.values, color=["tab:blue", "tab:orange", "tab:green"][:len(sub)])
        ax.set_title(metric)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("one description, two execution back ends")
    fig.tight_layout()
    _note(fig, data)
    return fig


def epochs_for(steps: int, batch_size: int, n_train: int) -> float:
    """Epochs of ``steps`` mini-batches of ``batch_size`` over ``n_train`` clips."""
    return steps * min(batch_size, n_train) / max(1, n_train)

