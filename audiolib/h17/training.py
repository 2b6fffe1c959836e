"""Train and score H17 models as :class:`audiolib.trials.Trial` s, and H17's tables of them.

Every model is trained as H17 trains: Adam, sigmoid outputs with binary cross-entropy, a fixed
number of mini-batches of patches drawn at random, patches inheriting their clip's labels; it is
evaluated on clip-level scores (the mean of the clip's non-overlapping 0.96 s patch scores) of a
balanced evaluation set, with macro AUC, d' (from the mean AUC, as the paper's) and mAP.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..data.patches import PatchSet
from ..metrics import balanced_metrics, per_class_metrics
from ..models import complexity, create_model, default_input_shape
from ..train import TrainConfig, clip_scores, predict, speed_switches
from ..trials import Trial, over_seeds, run_trial
from . import paper

#: The five architectures of H17 Table 2, in the paper's order.
ARCHITECTURES = ("fc_audio", "alexnet_audio", "vgg_audio", "inception_v3_audio", "resnet50_audio")
#: What every H17 trial reports of its evaluation (its times are metrics too: ``audiolib.trials.TIME_METRICS``).
METRICS = ("AUC", "dprime", "mAP", "mean_dprime", "n_classes_evaluated")


def _columns(classes: Sequence[str], wanted: Sequence[str], what: str) -> list[int]:
    """Positions of ``wanted`` in ``classes``; a ``ValueError`` naming the ones that are not there."""
    missing = [c for c in wanted if c not in classes]
    if missing:
        raise ValueError(f"parameter eval_classes: {missing[:5]} are not {what}")
    return [list(classes).index(c) for c in wanted]


def evaluate_clips(model: nn.Module, model_classes: Sequence[str], eval_set: PatchSet,
                   eval_classes: Sequence[str] | None = None, *, device="auto") -> tuple[dict[str, float], np.ndarray]:
    """H17's clip-level scoring (mean sigmoid of a clip's patches) of ``model`` on ``eval_classes``
    (default: all of ``model_classes``).

    Returns ``(metrics, clip_scores [n_clips, len(eval_classes)])``; ``metrics`` holds
    :data:`METRICS`: macro ``AUC`` and ``mAP``, ``dprime`` the d' of the mean AUC (H17's),
    ``mean_dprime`` the mean per-class d', ``n_classes_evaluated``.
    """
    eval_classes = list(model_classes if eval_classes is None else eval_classes)
    score_cols = _columns(model_classes, eval_classes, "outputs of the model")
    target_cols = _columns(eval_set.classes, eval_classes, "labelled in the evaluation set")
    frame = predict(model, eval_set, batch_size=256, device=device)
    scores = clip_scores(frame, eval_set.clip_index.numpy(), eval_set.n_clips)[:, score_cols]
    metrics = balanced_metrics(eval_set.clip_targets.numpy()[:, target_cols], scores)
    metrics["dprime"] = metrics["dprime_of_mean_auc"]
    return {k: metrics[k] for k in METRICS}, scores


def train_and_evaluate(name: str, train_set: PatchSet, eval_set: PatchSet, *, steps: int, batch_size: int = 64,
                       lr: float = 1e-3, width: float = 1.0, bottleneck: int | None = None,
                       eval_classes: Sequence[str] | None = None, device="auto", seed: int = 0,
                       model_kwargs: dict[str, Any] | None = None, profile: str = "quick",
                       also_at: Sequence[int] = (), lr_drop_at: float | None = None,
                       ids: dict[str, Any] | None = None) -> Trial:
    """One H17 trial: build ``name`` for ``train_set.classes``, train ``steps`` mini-batches, score on ``eval_set``.

    Args:
        name: registered model name (e.g. one of :data:`ARCHITECTURES`).
        train_set, eval_set: :class:`PatchSet` s (the evaluation set must label ``eval_classes``).
        steps, batch_size, lr: H17 trains with Adam on mini-batches of 128 patches.
        width: channel multiplier (1.0: the paper's networks).
        bottleneck: size of the optional bottleneck before the output layer (H17: 128).
        eval_classes: score only these classes (default all the model's classes).
        model_kwargs: other entry-point arguments (e.g. ``input_shape`` for ``fc_audio``).
        profile: the workbook profile; with ``device`` and ``width`` it picks
            :func:`audiolib.train.speed_switches`.
        also_at: earlier steps at which the same run is also scored (H17 Table 2's ResNet-50 at
            5M and at 17M steps).
        lr_drop_at: fraction of ``steps`` after which the learning rate drops tenfold (H17's
            17M-step ResNet-50: after 13M, ``13 / 17``); ``None``: constant.
        ids: columns that identify the trial in tables (``model`` and ``seed`` are added).

    Returns:
        :class:`~audiolib.trials.Trial`: ``ids = {"model": name, **ids, "seed": seed}``, metrics
        :data:`METRICS` and the times, ``scores`` the clip scores ``[n_eval_clips, len(eval_classes)]``;
        ``extra``: ``model_kwargs`` (what rebuilds it besides ``num_classes``), ``classes`` (its
        outputs), ``eval_classes`` (the scored columns) and, with ``also_at``, ``at = {step:
        {metric: value}}`` (with ``train_seconds`` up to that step).
    """
    classes = list(train_set.classes)
    eval_classes = classes if eval_classes is None else list(eval_classes)
    _columns(classes, eval_classes, "outputs of the model")  # before training, not after it
    _columns(eval_set.classes, eval_classes, "labelled in the evaluation set")
    kw = {**(model_kwargs or {}), **({"width": width} if width != 1.0 else {}),
          **({"bottleneck": int(bottleneck)} if bottleneck else {})}

    def score(model, data):
        return evaluate_clips(model, classes, data, eval_classes, device=device)

    config = dict(speed_switches(profile, device, width=width), steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                  device=device, progress=False)
    at = sorted({int(s) for s in also_at if 0 < int(s) < steps})
    seen: dict[int, dict[str, float]] = {}
    fit_kw: dict[str, Any] = {}
    if at:
        config.update(eval_every=math.gcd(*at, steps), restore_best=False)
        fit_kw = dict(val_set=eval_set, evaluate_fn=lambda model, data: score(model, data)[0],
                      on_evaluate=lambda step, metrics, opt: seen.__setitem__(step, dict(metrics)))
    if lr_drop_at is not None:
        drop = int(round(lr_drop_at * steps))
        config["scheduler"] = lambda opt, total: torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: 1.0 if step < drop else 0.1)
    trial = run_trial(name, train_set, TrainConfig(**config), num_classes=len(classes), model_kwargs=kw,
                      eval_set=eval_set, scorer=score, ids={"model": name, **(ids or {})}, **fit_kw)
    trial.extra.update(model_kwargs=kw, classes=classes, eval_classes=eval_classes)
    if at:
        seconds = trial.history.set_index("step")["seconds"]
        trial.extra["at"] = {s: {**seen[s], "train_seconds": float(seconds.loc[:s].max())} for s in at if s in seen}
    return trial


def train_architectures(models: Sequence[str], data, *, steps: int, batch_size: int, lr: float, width: float,
                        seeds: Sequence[int], bottleneck: int, longer_factor: int, lr_drop_at: float, device="auto",
                        profile: str = "quick") -> list[Trial]:
    """H17 Table 2: every model with every seed for ``steps``; ``resnet50_audio`` for ``longer_factor``
    times as long (scored at ``steps`` too, the learning rate dropping tenfold after ``lr_drop_at``
    of its steps), as the paper's 5M- and 17M-step ResNet-50."""
    def one_seed(seed: int) -> list[Trial]:
        out = []
        for name in models:
            longer = name == "resnet50_audio" and longer_factor > 1
            out.append(train_and_evaluate(
                name, data.train, data.eval, steps=steps * (longer_factor if longer else 1), batch_size=batch_size,
                lr=lr, width=width, bottleneck=bottleneck or None, device=device, seed=seed, profile=profile,
                also_at=(steps,) if longer else (), lr_drop_at=lr_drop_at if longer else None))
        return out

    return over_seeds(seeds, one_seed)


# --- tables ---------------------------------------------------------------------------------------
def complexity_table(models: Sequence[str] = ARCHITECTURES, *,
                     variants: dict[str, dict[str, Any]] | None = None) -> pd.DataFrame:
    """Weights and multiplies of each model at width 1.0 for 3087 outputs and 96x64 patches beside
    the paper's counts (tidy; the counts are in the text of sec. 3.3, its Table 1 lists labels).

    Models are built on the ``meta`` device (shapes only), so this is fast and needs no memory.
    ``variants`` adds rows for other arguments of a model, e.g. ``{"inception_v3_audio":
    {"stem": "3b"}}`` (the other reading of its stem). Rows: ``model, variant, metric (weights |
    multiplies), value, paper, ratio (ours / paper), source``.
    """
    rows = []
    for name, kw in [(name, {}) for name in models] + list((variants or {}).items()):
        with torch.device("meta"):
            model = create_model(name, 3087, **kw)
        weights, mults = complexity(model, (1, 96, 64))
        ref = paper.counts(name)
        label = name + "".join(f" ({k}={v})" for k, v in kw.items())
        for metric, value, theirs in (("weights", weights, ref[0]), ("multiplies", mults, ref[1])):
            rows.append({"model": name, "variant": label, "metric": metric, "value": float(value), "paper": theirs,
                         "ratio": value / theirs if theirs == theirs else np.nan,
                         "num_classes": 3087, "input": "1x96x64",
                         "source": "this implementation (width 1.0)"})
    return pd.DataFrame(rows)


def table2(trials: Sequence[Trial], *, dataset: str, width: float) -> pd.DataFrame:
    """H17 Table 2 rows of our trials (the paper's beside them: ``reference.beside(table, paper.TABLE2, ...)``).

    Our rows carry each trial's ``seed`` and add each model's weights and multiplies at the width
    it ran at. A trial also scored at earlier steps (``also_at``) gives rows at the first of them
    (``variant = ""``, the Table 2 comparison at equal steps) and at its end (``variant =
    "longer"``, the paper's 17M-step row).
    """
    rows = []
    for t in trials:
        name = t.ids["model"]
        weights, mults = complexity(t.model, getattr(t.model, "input_shape", None) or default_input_shape(name))
        size = {"weights": float(weights), "multiplies": float(mults)}
        base = {"model": name, "seed": t.seed, "width": width, "variant": ""}
        at = t.extra.get("at") or {}
        if at:
            first = min(at)
            early = {k: at[first][k] for k in ("AUC", "dprime", "mAP", "mean_dprime", "train_seconds")}
            rows += [{**base, "metric": k, "value": float(v)} for k, v in {**early, "steps": first, **size}.items()]
            rows += [{**r, "variant": "longer"} for r in t.rows(width=width)]
        else:
            rows += [{**r, "variant": ""} for r in t.rows(width=width)]
            rows += [{**base, "metric": k, "value": v} for k, v in size.items()]
    return pd.DataFrame(rows).assign(dataset=dataset)


def per_class_runs(trials: Sequence[Trial], data, *, model: str) -> pd.DataFrame:
    """Per-class AUC, AP, d' of every trial of ``model`` on ``data.eval``, with the training prior (H17 Fig. 1).

    Columns: ``class, name, n_pos, eval_prior, AUC, AP, dprime, evaluated, prior (training),
    log10_prior, seed``.
    """
    names = dict(zip(data.classes, data.class_names))
    # H17's "prior": the fraction of training clips carrying the class.
    prior = dict(zip(data.classes, data.train.clip_targets.numpy().mean(axis=0).astype(float)))
    tables = []
    for t in trials:
        if t.ids["model"] != model:
            continue
        evaluated = t.extra["eval_classes"]
        cols = [data.eval.classes.index(c) for c in evaluated]
        table = per_class_metrics(data.eval.clip_targets.numpy()[:, cols], t.scores, evaluated)
        table = table.rename(columns={"prior": "eval_prior"})
        table.insert(1, "name", [names[c] for c in table["class"]])
        table["prior"] = [prior[c] for c in table["class"]]
        with np.errstate(divide="ignore"):
            table["log10_prior"] = np.log10(table["prior"].to_numpy())
        tables.append(table.assign(seed=t.seed))
    if not tables:
        raise ValueError(f"per_class_runs: no run of {model!r}; models run: {sorted({t.ids['model'] for t in trials})}")
    return pd.concat(tables, ignore_index=True)


def tidy_per_class(table: pd.DataFrame, **ids) -> pd.DataFrame:
    """:func:`per_class_runs` in tidy form (metric, value) for ``Run.save_table``."""
    return table.melt(id_vars=["class", "name", "evaluated", "seed"],
                      value_vars=["n_pos", "prior", "log10_prior", "AUC", "AP", "dprime"],
                      var_name="metric", value_name="value").assign(**ids)
