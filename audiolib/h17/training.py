"""Train and evaluate H17 models, and turn the results into tidy tables.

Every model is trained as H17 trains: Adam, sigmoid outputs with binary cross-entropy, a fixed
number of mini-batches of patches drawn at random, patches inheriting their clip's labels; it is
evaluated on clip-level scores (the mean of the clip's non-overlapping 0.96 s patch scores) of a
balanced evaluation set, with macro AUC, d' (from the mean AUC, as the paper's) and mAP.

>>> trained = train_and_evaluate("fc_audio", data.train, data.eval, steps=100)   # doctest: +SKIP
>>> trained.metrics["mAP"]                                                       # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import train as _train
from ..data.patches import PatchSet
from ..metrics import balanced_metrics, per_class_metrics
from ..models import complexity, create_model, default_input_shape
from . import paper

#: The five architectures of H17 Table 2, in the paper's order.
ARCHITECTURES = ("fc_audio", "alexnet_audio", "vgg_audio", "inception_v3_audio", "resnet50_audio")
#: Reported metrics, in the paper's order.
METRICS = ("AUC", "dprime", "mAP")


@dataclass
class Trained:
    """A trained model and its evaluation.

    Attributes:
        name: registered model name.
        model_kwargs: the arguments it was built with (beyond ``num_classes``).
        model: the trained module (on the training device, eval mode).
        classes: the classes it outputs, in order.
        fit: :class:`audiolib.train.FitResult` (steps, train_seconds, examples_per_second, history).
        metrics: clip-level balanced metrics on the evaluation set (``mAP``, ``AUC``,
            ``dprime`` = d' of the mean AUC, ``mean_dprime`` ...).
        clip_scores: ``[n_eval_clips, len(eval_classes)]``.
        eval_classes: the classes evaluated (columns of ``clip_scores``).
        eval_seconds: wall time of the evaluation.
    """

    name: str
    model_kwargs: dict[str, Any]
    model: nn.Module
    classes: list[str]
    fit: _train.FitResult
    metrics: dict[str, float]
    clip_scores: np.ndarray
    eval_classes: list[str]
    eval_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def rows(self, **ids) -> list[dict[str, Any]]:
        """Tidy rows (metric, value) of this run, with ``ids`` as extra columns."""
        values = {
            "AUC": self.metrics["AUC"], "dprime": self.metrics["dprime"], "mAP": self.metrics["mAP"],
            "mean_dprime": self.metrics["mean_dprime"], "steps": self.fit.steps,
            "train_seconds": self.fit.train_seconds, "examples_per_second": self.fit.examples_per_second,
            "eval_seconds": self.eval_seconds, "n_classes_evaluated": self.metrics["n_classes_evaluated"],
        }
        base = {"model": self.name, **ids}
        return [{**base, "metric": k, "value": float(v)} for k, v in values.items()]

    def table(self, **ids) -> pd.DataFrame:
        """:meth:`rows` as a DataFrame."""
        return pd.DataFrame(self.rows(**ids))


def build_model(name: str, num_classes: int, *, width: float = 1.0, bottleneck: int | None = None,
                seed: int = 0, **kwargs) -> tuple[nn.Module, dict[str, Any]]:
    """``create_model`` after seeding, passing ``width``/``bottleneck`` only when set away from defaults.

    Returns ``(model, kwargs used)`` so that the model can be rebuilt from a checkpoint.
    """
    kw = dict(kwargs)
    if width != 1.0:
        kw["width"] = width
    if bottleneck:
        kw["bottleneck"] = int(bottleneck)
    _train.seed_everything(seed)
    return create_model(name, num_classes, **kw), kw


def evaluate_clips(model: nn.Module, model_classes: Sequence[str], eval_set: PatchSet,
                   eval_classes: Sequence[str] | None = None, *, device="auto",
                   batch_size: int = 256) -> tuple[dict[str, float], np.ndarray]:
    """Clip-level balanced metrics on ``eval_classes`` (default: all of ``model_classes``).

    Frame scores (sigmoid) are averaged per clip, the columns of ``eval_classes`` are taken from
    the model's outputs and compared with the evaluation set's targets of the same classes.

    Returns ``(metrics, clip_scores [n_clips, len(eval_classes)])``; ``metrics["dprime"]`` is the
    d' of the mean AUC (H17's), ``metrics["mean_dprime"]`` the mean per-class d'.
    """
    eval_classes = list(model_classes if eval_classes is None else eval_classes)
    missing = [c for c in eval_classes if c not in model_classes]
    if missing:
        raise ValueError(f"evaluate_clips: classes {missing[:5]} are not outputs of the model")
    missing = [c for c in eval_classes if c not in eval_set.classes]
    if missing:
        raise ValueError(f"evaluate_clips: classes {missing[:5]} are not labelled in the evaluation set")
    frame = _train.predict(model, eval_set, batch_size=batch_size, device=device)
    scores = _train.clip_scores(frame, eval_set.clip_index.numpy(), eval_set.n_clips)
    cols = [list(model_classes).index(c) for c in eval_classes]
    target_cols = [list(eval_set.classes).index(c) for c in eval_classes]
    scores = scores[:, cols]
    metrics = balanced_metrics(eval_set.clip_targets.numpy()[:, target_cols], scores)
    metrics["dprime"] = metrics["dprime_of_mean_auc"]
    return metrics, scores


def train_and_evaluate(name: str, train_set: PatchSet, eval_set: PatchSet, *, steps: int, batch_size: int = 64,
                       lr: float = 1e-3, width: float = 1.0, bottleneck: int | None = None,
                       eval_classes: Sequence[str] | None = None, device="auto", seed: int = 0,
                       progress: bool = False, model_kwargs: dict[str, Any] | None = None,
                       config_kwargs: dict[str, Any] | None = None) -> Trained:
    """Build ``name`` for ``train_set.classes``, train ``steps`` mini-batches, evaluate on ``eval_set``.

    Args:
        name: registered model name (e.g. one of :data:`ARCHITECTURES`).
        train_set, eval_set: :class:`PatchSet` s (the evaluation set must label ``eval_classes``).
        steps, batch_size, lr: H17 trains with Adam on mini-batches of 128 patches.
        width: channel multiplier (1.0: the paper's networks).
        bottleneck: size of the optional bottleneck before the output layer (H17: 128).
        eval_classes: evaluate only these classes (default all the model's classes).
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        model_kwargs: other entry-point arguments (e.g. ``input_shape`` for ``fc_audio``).
        config_kwargs: other :class:`audiolib.train.TrainConfig` fields (e.g. ``amp=True``).
    """
    classes = list(train_set.classes)
    model, kw = build_model(name, len(classes), width=width, bottleneck=bottleneck, seed=seed,
                            **(model_kwargs or {}))
    config = _train.TrainConfig(steps=steps, batch_size=batch_size, lr=lr, seed=seed, device=device,
                                progress=progress, **(config_kwargs or {}))
    result = _train.fit(model, train_set, config)
    t0 = time.perf_counter()
    metrics, scores = evaluate_clips(model, classes, eval_set, eval_classes, device=device)
    seconds = time.perf_counter() - t0
    return Trained(name, kw, model.eval(), classes, result, metrics, scores,
                   list(classes if eval_classes is None else eval_classes), seconds)


# --- tables ---------------------------------------------------------------------------------------
def complexity_table(models: Sequence[str] = ARCHITECTURES, num_classes: int = 3087,
                     input_shape: tuple[int, int, int] = (1, 96, 64), **kwargs) -> pd.DataFrame:
    """Weights and multiplies of each model at width 1.0 beside the paper's Table 1 (tidy).

    Models are built on the ``meta`` device (shapes only), so this is fast and needs no memory.
    Rows: ``model, metric (weights | multiplies), value, source``; for the paper's five models
    also ``paper`` and ``ratio`` (ours / paper) columns.
    """
    rows = []
    for name in models:
        with torch.device("meta"):
            model = create_model(name, num_classes, **kwargs)
        weights, mults = complexity(model, input_shape)
        ref = paper.TABLE1.get(name, (np.nan, np.nan))
        for metric, value, theirs in (("weights", weights, ref[0]), ("multiplies", mults, ref[1])):
            rows.append({"model": name, "metric": metric, "value": float(value), "paper": theirs,
                         "ratio": value / theirs if theirs == theirs else np.nan,
                         "num_classes": num_classes, "input": "x".join(map(str, input_shape)),
                         "source": "this implementation (width 1.0)"})
    return pd.DataFrame(rows)


def table2(trained: Sequence[Trained], *, dataset: str, width: float, seed: int = 0) -> pd.DataFrame:
    """H17 Table 2 rows of our runs (``source = "this run"``) followed by the paper's rows.

    Our rows add each model's weights and multiplies at the width it ran at.
    """
    rows = []
    for t in trained:
        rows += t.rows(seed=seed, width=width)
        shape = getattr(t.model, "input_shape", None) or default_input_shape(t.name)
        weights, mults = complexity(t.model, shape)
        rows += [{"model": t.name, "seed": seed, "width": width, "metric": "weights", "value": float(weights)},
                 {"model": t.name, "seed": seed, "width": width, "metric": "multiplies", "value": float(mults)}]
    ours = pd.DataFrame(rows).assign(source="this run", dataset=dataset, variant="")
    return pd.concat([ours, paper.table2()], ignore_index=True)


def wide(table: pd.DataFrame, index: Sequence[str], metrics: Sequence[str] = ("steps", "train_seconds", "AUC",
                                                                              "dprime", "mAP")) -> pd.DataFrame:
    """A tidy table laid out like the paper's: one row per ``index`` values, one column per metric."""
    present = [m for m in metrics if m in set(table["metric"])]
    sub = table[table["metric"].isin(present)]
    out = sub.pivot_table(index=list(index), columns="metric", values="value", aggfunc="first", sort=False)
    return out[[m for m in present if m in out.columns]]


def per_class_table(trained: Trained, eval_set: PatchSet, train_prior: np.ndarray,
                    class_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Per-class AUC, AP, d' of ``trained`` on the evaluation set, with the training prior (H17 Fig. 1).

    Columns: ``class, name, n_pos, prior (training), log10_prior, AUC, AP, dprime, evaluated``.
    """
    cols = [list(eval_set.classes).index(c) for c in trained.eval_classes]
    table = per_class_metrics(eval_set.clip_targets.numpy()[:, cols], trained.clip_scores, trained.eval_classes)
    prior_of = dict(zip(eval_set.classes, np.asarray(train_prior, dtype=float)))
    names = dict(zip(eval_set.classes, class_names)) if class_names is not None else {}
    table = table.rename(columns={"prior": "eval_prior"})
    table.insert(1, "name", [names.get(c, c) for c in table["class"]])
    table["prior"] = [prior_of[c] for c in table["class"]]
    with np.errstate(divide="ignore"):
        table["log10_prior"] = np.log10(table["prior"].to_numpy())
    return table


def tidy_per_class(table: pd.DataFrame, **ids) -> pd.DataFrame:
    """:func:`per_class_table` in tidy form (metric, value) for ``Run.save_table``."""
    long = table.melt(id_vars=["class", "name", "evaluated"], value_vars=["n_pos", "prior", "log10_prior", "AUC",
                                                                          "AP", "dprime"],
                      var_name="metric", value_name="value")
    for k, v in ids.items():
        long[k] = v
    return long


def best_of(trained: Sequence[Trained], metric: str = "mAP") -> Trained:
    """The run with the highest ``metric``."""
    if not trained:
        raise ValueError("best_of: no trained models")
    return max(trained, key=lambda t: t.metrics[metric])
