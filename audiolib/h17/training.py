"""Train and evaluate H17 models, and turn the results into tidy tables.

Every model is trained as H17 trains: Adam, sigmoid outputs with binary cross-entropy, a fixed
number of mini-batches of patches drawn at random, patches inheriting their clip's labels; it is
evaluated on clip-level scores (the mean of the clip's non-overlapping 0.96 s patch scores) of a
balanced evaluation set, with macro AUC, d' (from the mean AUC, as the paper's) and mAP.

>>> trained = train_and_evaluate("fc_audio", data.train, data.eval, steps=100)   # doctest: +SKIP
>>> trained.metrics["mAP"]                                                       # doctest: +SKIP
"""

from __future__ import annotations

import math
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
                       config_kwargs: dict[str, Any] | None = None, profile: str = "quick",
                       also_at: Sequence[int] = (), lr_drop_at: float | None = None) -> Trained:
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
        profile: the workbook profile; with ``device`` and ``width`` it picks the speed switches
            (:func:`audiolib.train.speed_switches`: bf16 autocast + channels_last on a bf16 CPU
            from width 0.25, all three on CUDA in ``full``).
        also_at: earlier steps at which the same run is also evaluated (H17 Table 2's ResNet-50 at
            5M and at 17M steps); their metrics go to ``extra["at"][step]``.
        lr_drop_at: fraction of ``steps`` after which the learning rate drops tenfold (H17's
            17M-step ResNet-50: after 13M, ``13 / 17``); ``None``: constant.
    """
    classes = list(train_set.classes)
    model, kw = build_model(name, len(classes), width=width, bottleneck=bottleneck, seed=seed,
                            **(model_kwargs or {}))
    switches = _train.speed_switches(profile, device, width=width)
    config = dict(switches, **(config_kwargs or {}))
    run_model: nn.Module = model
    if _train.resolve_device(device).type == "cpu" and (config.get("amp") or config.get("channels_last")):
        from .speed import CpuSpeed

        run_model = CpuSpeed(model, amp=bool(config.get("amp")), channels_last=bool(config.get("channels_last")))
    at = sorted({int(s) for s in also_at if 0 < int(s) < steps})
    seen: dict[int, dict[str, float]] = {}
    fit_kw: dict[str, Any] = {}
    if at:
        every = math.gcd(*at, steps)
        config.update(eval_every=every, restore_best=False)
        fit_kw = dict(val_set=eval_set,
                      evaluate_fn=lambda m, data: evaluate_clips(m, classes, data, eval_classes, device=device)[0],
                      on_evaluate=lambda step, metrics, opt: seen.__setitem__(step, dict(metrics)))
    if lr_drop_at is not None:
        drop = int(round(lr_drop_at * steps))
        config["scheduler"] = lambda opt, total: torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: 1.0 if step < drop else 0.1)
    result = _train.fit(run_model, train_set, _train.TrainConfig(steps=steps, batch_size=batch_size, lr=lr,
                                                                  seed=seed, device=device, progress=progress,
                                                                  **config), **fit_kw)
    t0 = time.perf_counter()
    metrics, scores = evaluate_clips(run_model, classes, eval_set, eval_classes, device=device)
    seconds = time.perf_counter() - t0
    if isinstance(run_model, nn.Module) and run_model is not model:
        model.to(memory_format=torch.contiguous_format)
    extra: dict[str, Any] = {"seed": seed,
                             "speed": {k: bool(config.get(k, False)) for k in ("amp", "channels_last", "compile")}}
    if at:
        hist = result.history.set_index("step")["seconds"] if "seconds" in result.history else None
        extra["at"] = {s: {**seen[s], "train_seconds": float(hist.loc[:s].max()) if hist is not None else math.nan}
                       for s in at if s in seen}
    return Trained(name, kw, model.eval(), classes, result, metrics, scores,
                   list(classes if eval_classes is None else eval_classes), seconds, extra)


# --- tables ---------------------------------------------------------------------------------------
def complexity_table(models: Sequence[str] = ARCHITECTURES, num_classes: int = 3087,
                     input_shape: tuple[int, int, int] = (1, 96, 64), *,
                     variants: dict[str, dict[str, Any]] | None = None, **kwargs) -> pd.DataFrame:
    """Weights and multiplies of each model at width 1.0 beside the paper's sec. 3.3 counts (tidy).

    (The paper's counts are in the text of sec. 3.3; its Table 1 lists example labels.)
    Models are built on the ``meta`` device (shapes only), so this is fast and needs no memory.
    ``variants`` adds rows for other arguments of a model, e.g. ``{"inception_v3_audio":
    {"stem": "3b"}}`` (the other reading of its stem). Rows: ``model, variant, metric (weights |
    multiplies), value, paper, ratio (ours / paper), source``.
    """
    rows = []
    runs = [(name, dict(kwargs)) for name in models] + [(n, {**kwargs, **kw}) for n, kw in (variants or {}).items()]
    for name, kw in runs:
        with torch.device("meta"):
            model = create_model(name, num_classes, **kw)
        weights, mults = complexity(model, input_shape)
        ref = paper.counts(name)
        label = name + "".join(f" ({k}={v})" for k, v in kw.items())
        for metric, value, theirs in (("weights", weights, ref[0]), ("multiplies", mults, ref[1])):
            rows.append({"model": name, "variant": label, "metric": metric, "value": float(value), "paper": theirs,
                         "ratio": value / theirs if theirs == theirs else np.nan,
                         "num_classes": num_classes, "input": "x".join(map(str, input_shape)),
                         "source": "this implementation (width 1.0)"})
    return pd.DataFrame(rows)


def train_architectures(models: Sequence[str], data, *, steps: int, batch_size: int, lr: float, width: float,
                        seeds: Sequence[int], bottleneck: int = 0, longer_factor: int = 1,
                        lr_drop_at: float | None = None, longer_model: str = "resnet50_audio", device="auto",
                        profile: str = "quick", progress: bool = False) -> list[Trained]:
    """H17 Table 2: every model with every seed for ``steps``; ``longer_model`` for ``longer_factor``
    times as long (evaluated at ``steps`` too, the learning rate dropping tenfold after
    ``lr_drop_at`` of its steps), as the paper's 5M- and 17M-step ResNet-50."""
    trained = []
    for seed in seeds:
        for name in models:
            longer = name == longer_model and longer_factor > 1
            trained.append(train_and_evaluate(
                name, data.train, data.eval, steps=steps * (longer_factor if longer else 1), batch_size=batch_size,
                lr=lr, width=width, bottleneck=bottleneck or None, device=device, seed=seed, progress=progress,
                profile=profile, also_at=(steps,) if longer else (), lr_drop_at=lr_drop_at if longer else None))
    return trained


def per_class_runs(trained: Sequence[Trained], data, *, model: str) -> pd.DataFrame:
    """:func:`per_class_table` of every run of ``model`` (one per seed), with a ``seed`` column (H17 Fig. 1)."""
    tables = [per_class_table(t, data.eval, data.train_prior, data.class_names).assign(seed=t.extra.get("seed", 0))
              for t in trained if t.name == model]
    if not tables:
        raise ValueError(f"per_class_runs: no run of {model!r}; models run: {sorted({t.name for t in trained})}")
    return pd.concat(tables, ignore_index=True)


def table2(trained: Sequence[Trained], *, dataset: str, width: float, seed: int | None = None) -> pd.DataFrame:
    """H17 Table 2 rows of our runs (``source = "this run"``) followed by the paper's rows.

    Our rows carry ``seed`` (each run's own, unless ``seed`` is given) and add each model's weights
    and multiplies at the width it ran at. A run evaluated at earlier steps too (``also_at``) gives
    rows at the first of them (``variant = ""``, the Table 2 comparison at equal steps) and at its
    end (``variant = "longer"``, the paper's 17M-step row).
    """
    rows = []
    for t in trained:
        s = t.extra.get("seed", 0) if seed is None else seed
        at = t.extra.get("at") or {}
        shape = getattr(t.model, "input_shape", None) or default_input_shape(t.name)
        weights, mults = complexity(t.model, shape)
        size = [{"metric": "weights", "value": float(weights)}, {"metric": "multiplies", "value": float(mults)}]
        if at:
            first = min(at)
            m = at[first]
            base = {"AUC": m["AUC"], "dprime": m["dprime_of_mean_auc"], "mAP": m["mAP"],
                    "mean_dprime": m["mean_dprime"], "steps": first, "train_seconds": m["train_seconds"]}
            rows += [{"model": t.name, "seed": s, "width": width, "variant": "", "metric": k, "value": float(v)}
                     for k, v in base.items()]
            rows += [{"model": t.name, "seed": s, "width": width, "variant": "", **r} for r in size]
            rows += [{**r, "variant": "longer"} for r in t.rows(seed=s, width=width)]
        else:
            rows += [{**r, "variant": ""} for r in t.rows(seed=s, width=width)]
            rows += [{"model": t.name, "seed": s, "width": width, "variant": "", **r} for r in size]
    ours = pd.DataFrame(rows).assign(source="this run", dataset=dataset)
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
    id_vars = ["class", "name", "evaluated"] + (["seed"] if "seed" in table.columns else [])
    long = table.melt(id_vars=id_vars, value_vars=["n_pos", "prior", "log10_prior", "AUC",
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


def beside(ours: pd.DataFrame, paper_rows: pd.DataFrame | None, keys: Sequence[str],
           metrics: Sequence[str]) -> pd.DataFrame:
    """:func:`audiolib.reference.beside` of our rows, leaving out non-finite values (an infinite d'
    of an AUC of exactly 0 or 1) with a count in the ``left_out`` column, so the rest still show."""
    from ..reference import beside as _beside

    ours = ours[ours["metric"].isin(metrics)]
    finite = np.isfinite(ours["value"].astype(float))
    wide = _beside(ours[finite], paper_rows, keys, metrics=metrics)
    dropped = ours[~finite].groupby(list(keys) + ["metric"]).size()
    wide["left_out"] = [int(dropped.get(tuple(r[k] for k in list(keys) + ["metric"]), 0)) for _, r in wide.iterrows()]
    return wide
