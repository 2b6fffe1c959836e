"""X18 classifiers: train a :class:`~audiolib.models.describe.ModelDescription` on embeddings, score it.

Each network is a declarative description (structure, loss, optimizer: the report's "flexible
API", sec. 3.1), trained by :func:`audiolib.train.fit` with the weights best on validation AP
kept, and scored with macro AUC and AP (:func:`audiolib.metrics.balanced_metrics`) on clip-level
targets. The validation history (one row per evaluation) is what the learning-curve claims
(Figs. 2-6) are measured on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from audiolib.data.audioset import EmbeddingSet
from audiolib.models.describe import FAMILIES, ModelDescription

from .data import EmbeddingSplits

__all__ = ["score", "bce", "Trained", "cpu_threads", "train_description", "families"]


# --- training and scoring ---------------------------------------------------------------------
def score(y_true: np.ndarray, y_score: np.ndarray) -> dict[str, float]:
    """Macro AUC and AP over the classes with positives and negatives (plus d' and counts)."""
    from audiolib.metrics import balanced_metrics

    m = balanced_metrics(y_true, y_score)
    return {"AUC": m["AUC"], "AP": m["mAP"], "dprime": m["dprime_of_mean_auc"],
            "n_classes_evaluated": m["n_classes_evaluated"]}


def bce(y_true: np.ndarray, probs: np.ndarray, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy of probabilities ``probs`` against 0/1 targets (the training loss).

    >>> round(bce(np.array([[1, 0]]), np.array([[0.5, 0.5]])), 4)
    0.6931
    """
    p = np.clip(np.asarray(probs, dtype=np.float64), eps, 1 - eps)
    y = np.asarray(y_true, dtype=np.float64)
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


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
    clips), ``loss`` (training) and the validation ``val_AUC`` / ``val_AP`` / ``val_loss``. On CPU the run uses
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
        probs = predict(m, data, device=device)
        return {**score(data.y, probs), "loss": bce(data.y, probs)}

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
