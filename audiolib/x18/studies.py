"""X18 classifiers trained as trials, over seeds: architectures and their average, one-factor sweeps, back ends.

Each network is a declarative description (the report's "flexible API", sec. 3.1), trained by
:func:`train` with the weights best on validation AP kept, and scored with macro AUC and AP. The
arms of one seed share the data split (nested training subsets for the data-size sweep), so
differences between arms are paired by seed; the validation histories (curves) are what the
learning-curve claims (Figs. 2-6) are measured on.

>>> sorted(families(0.25, 0.0, 1e-3))
['convolutional', 'fully_connected', 'residual']
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from audiolib.data.splits import nested_subsets
from audiolib.metrics import balanced_metrics
from audiolib.models.describe import FAMILIES, ModelDescription
from audiolib.train import predict
from audiolib.trials import Trial, over_seeds, run_trial, tidy

from .data import EmbeddingSplits


#: The model name of the average of the three families' test probabilities (the report's "ensemble").
AVERAGE = "average of the above"

#: sweep factor -> (figure name, what it shows), numbered as the report's figures.
SWEEP_FIGURES = {
    "dropout": ("fig2_dropout", "X18 Figure 2: dropout rate, validation AUC/AP against epochs"),
    "l2": ("fig3_regularization", "X18 Figure 3: L2 regularisation strength, validation AUC/AP against epochs"),
    "data_fraction": ("fig4_data_size", "X18 Figure 4: small vs big training data, validation AUC/AP against epochs"),
    "init_scale": ("fig5_weight_scale", "X18 Figure 5: weight scale of the initialisation, validation AUC/AP "
                                        "against epochs"),
    "width": ("fig6_width", "X18 Figure 6: network width, validation AUC/AP against epochs"),
}


def score(y_true: np.ndarray, y_score: np.ndarray) -> dict[str, float]:
    """Macro AUC and AP over the classes with positives and negatives (plus d' and counts).

    ``y_true`` ``[n, C]`` 0/1, ``y_score`` ``[n, C]`` probabilities."""
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


def families(width: float, dropout: float, lr: float, **kw) -> dict[str, ModelDescription]:
    """The report's three families at one width/dropout/learning rate (Adam, sigmoid cross-entropy)."""
    return {name: make(width=width, dropout=dropout, optimizer={"name": "adam", "lr": lr}, **kw)
            for name, make in FAMILIES.items()}


def train(description: ModelDescription, splits: EmbeddingSplits, *, steps: int, batch_size: int, eval_every: int,
          seed: int = 0, device: str = "auto", compile: bool = False, ids: dict[str, Any] | None = None) -> Trial:
    """Build ``description`` for the data, train it, keep the weights best on validation AP, test them.

    Returns the :class:`~audiolib.trials.Trial`: ``metrics`` the test ``AUC``, ``AP``, ``dprime``,
    ``n_classes_evaluated`` (:func:`score`) and the times; ``scores`` the test probabilities
    ``[n_test, C]``; ``history`` one row per evaluation: ``step``, ``epoch`` (= step x batch /
    training clips), ``loss`` (training) and the validation ``val_AUC`` / ``val_AP`` /
    ``val_loss``; ``extra["description"]`` the description.
    """
    config = description.train_config(steps=steps, batch_size=min(batch_size, len(splits.train)),
                                      eval_every=eval_every, monitor="AP", seed=seed, device=device,
                                      compile=compile, progress=False)

    def scorer(model, data):
        probs = predict(model, data, device=device)
        return score(data.y, probs), probs

    def evaluate(model, data) -> dict[str, float]:
        metrics, probs = scorer(model, data)
        return {**metrics, "loss": bce(data.y, probs)}

    # threads=1: the classifiers are small, and one thread is the fastest on a shared CPU.
    trial = run_trial(lambda: description.build(splits.train.example_shape, len(splits.train.classes)),
                      splits.train, config, val_set=splits.val, evaluate_fn=evaluate, eval_set=splits.test,
                      scorer=scorer, threads=1, ids=ids)
    history = trial.history
    history = history[history["val_AUC"].notna()].reset_index(drop=True) if "val_AUC" in history else history
    history.insert(1, "epoch", history["step"] * config.batch_size / len(splits.train))
    trial.history = history
    trial.extra["description"] = description
    return trial


def _ids(splits: EmbeddingSplits) -> dict[str, Any]:
    return {"dataset": splits.name, "embedder": splits.embedder}


def _curve(trial: Trial, keys: dict[str, Any]) -> pd.DataFrame:
    """The trial's validation history as tidy rows ``{**keys, step, epoch, metric, value}``."""
    h = trial.history
    metrics = [c for c in ("val_AUC", "val_AP", "val_loss", "loss") if c in h]
    long = h.melt(id_vars=["step", "epoch"], value_vars=metrics, var_name="metric", value_name="value")
    return long.assign(**keys)[[*keys, "step", "epoch", "metric", "value"]]


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def architecture_study(datasets: dict[str, EmbeddingSplits], descriptions: dict[str, ModelDescription], *,
                       seeds: Sequence[int], **train_kw) -> tuple[pd.DataFrame, pd.DataFrame, list[Trial]]:
    """Train every description on every dataset per seed, and score the average of their test probabilities.

    Returns ``(table, curves, trials)``: ``table`` tidy (``dataset``, ``embedder``, ``model``,
    ``seed``, metrics ``AUC``, ``AP``, ``train_seconds``; the average's ``train_seconds`` is the
    sum of its models'), ``curves`` the validation histories, ``trials`` every trained
    :class:`~audiolib.trials.Trial` (ids ``dataset``, ``embedder``, ``model``, ``seed``).
    """
    trials, tables, curves = [], [], []
    for splits in datasets.values():
        got = over_seeds(seeds, lambda seed, splits=splits: [
            train(d, splits, seed=seed, ids={**_ids(splits), "model": name}, **train_kw)
            for name, d in descriptions.items()])
        rows = [row for t in got for row in t.rows() if row["metric"] in ("AUC", "AP", "train_seconds")]
        if len(descriptions) > 1:
            for seed in seeds:
                runs = [t for t in got if t.seed == seed]
                average = score(splits.test.y, np.mean([t.scores for t in runs], axis=0))
                metrics = {"AUC": average["AUC"], "AP": average["AP"],
                           "train_seconds": float(sum(t.metrics["train_seconds"] for t in runs))}
                rows += [{**_ids(splits), "model": AVERAGE, "seed": seed, "metric": k, "value": v}
                         for k, v in metrics.items()]
        tables.append(pd.DataFrame(rows))
        curves += [_curve(t, {**_ids(splits), "factor": "model", "setting": t.ids["model"], "seed": t.seed})
                   for t in got]
        trials += got
    return _concat(tables), _concat(curves), trials


def sweep_variants(splits: EmbeddingSplits, base: ModelDescription, factor: str, values: Sequence[Any], *,
                   make: Callable[[float], ModelDescription] | None = None, seed: int = 0
                   ) -> dict[Any, tuple[ModelDescription, EmbeddingSplits]]:
    """setting -> ``(description, splits)`` of a sweep that varies one factor of ``base``: ``dropout``
    (every layer), ``l2``, ``init_scale``, ``width`` (needs ``make(width) -> description``), or
    ``data_fraction``: ``base`` on that share of the training clips (nested shares by ``seed``)."""
    if factor == "data_fraction":
        n = len(splits.train)
        subsets = nested_subsets(n, [max(2, int(round(float(v) * n))) for v in values], seed)
        return {v: (base, splits.with_train(rows)) for v, rows in zip(values, subsets)}
    if factor == "dropout":
        descriptions = {v: base.with_layers(dropout=float(v)) for v in values}
    elif factor in ("l2", "init_scale"):
        descriptions = {v: base.replace(**{factor: float(v)}) for v in values}
    elif factor == "width":
        if make is None:
            raise ValueError("sweep over width needs make(width) -> ModelDescription")
        descriptions = {v: make(float(v)) for v in values}
    else:
        raise ValueError(f"unknown sweep factor {factor!r}; allowed: {', '.join(SWEEP_FIGURES)}")
    return {v: (d, splits) for v, d in descriptions.items()}


def _train_or_diverge(description: ModelDescription, splits: EmbeddingSplits, seed: int, train_kw) -> Trial:
    """:func:`train`, or for a run that diverges a trial without model whose one metric is ``diverged``."""
    try:
        return train(description, splits, seed=seed, **train_kw)
    except FloatingPointError as exc:
        return Trial({}, None, {"diverged": 1.0}, extra={"note": str(exc), "description": description})


def run_sweeps(splits: EmbeddingSplits, family: str, values: dict[str, Sequence[Any]], *, width: float,
               dropout: float, lr: float, seeds: Sequence[int], reuse: Sequence[Trial] = (), **train_kw
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One-factor sweeps around ``family`` (a key of :data:`FAMILIES`) at ``width``/``dropout``/``lr``.

    ``values`` maps a factor (a key of :data:`SWEEP_FIGURES`) to its settings (an empty list skips
    it). The setting of each factor that is the base itself (its dropout, L2, width; all training
    clips) is one arm, the *base arm*, trained once per seed and shared by those factors.
    ``reuse``: trials of the base on these splits with the same ``train_kw`` (the architecture
    study's), used as the base arm of their seed; others are ignored.

    Returns ``(final test metrics, validation curves)``, both tidy with ``factor``, ``setting``
    and ``seed`` (the table also ``train_clips`` and ``note``). A setting that diverges is a row
    with metric ``diverged``, not a crash.
    """
    def make(w: float) -> ModelDescription:
        return FAMILIES[family](width=w, dropout=dropout, optimizer={"name": "adam", "lr": lr})

    base = make(width)
    given = {t.seed: t for t in reuse if t.extra.get("description") == base and t.ids.get("dataset") == splits.name}

    def arms(seed: int) -> list[Trial]:
        shared, out = given.get(seed), []
        for factor, settings in values.items():
            variants = sweep_variants(splits, base, factor, settings, make=make, seed=seed) if settings else {}
            for value, (description, data) in variants.items():
                if description == base and len(data.train) == len(splits.train):  # the base arm
                    shared = shared or _train_or_diverge(base, splits, seed, train_kw)
                    trial = dataclasses.replace(shared)  # the base arm's trial, under this setting's ids
                else:
                    trial = _train_or_diverge(description, data, seed, train_kw)
                trial.ids = {**_ids(splits), "factor": factor, "setting": str(value), "train_clips": len(data.train)}
                out.append(trial)
        return out

    rows, curves = [], []
    for t in over_seeds(seeds, arms):
        if "diverged" in t.metrics:
            rows.append({**t.ids, "metric": "diverged", "value": 1.0, "note": t.extra["note"]})
            continue
        rows += [{**t.ids, "metric": f"test_{k}", "value": float(t.metrics[k]), "note": ""} for k in ("AUC", "AP")]
        curves.append(_curve(t, {k: t.ids[k] for k in ("dataset", "embedder", "factor", "setting", "seed")}))
    return pd.DataFrame(rows), _concat(curves)


def compare_backends(splits: EmbeddingSplits, description: ModelDescription, backends: Sequence[str], *,
                     seeds: Sequence[int], **train_kw) -> pd.DataFrame:
    """Train one description under each back end (``eager``, ``torch.compile``) per seed.

    The workbook's analogue of the report's Table 2 (TensorFlow vs PyTorch vs MXNet): one
    description, two ways of executing it. Tidy rows (``dataset``, ``embedder``, ``model``,
    ``backend``, ``seed``) of ``AUC``, ``AP`` and the times: ``train_seconds`` is the time of the
    training steps (for ``compile`` including compiling on the first step), ``wall_seconds`` the
    whole trial.
    """
    unknown = [b for b in backends if b not in ("eager", "compile")]
    if unknown:
        raise ValueError(f"unknown back end {unknown[0]!r}; allowed: eager, compile")
    trials = over_seeds(seeds, lambda seed: [
        train(description, splits, seed=seed, compile=backend == "compile",
              ids={**_ids(splits), "model": description.name, "backend": backend}, **train_kw) for backend in backends])
    table = tidy(trials)
    return table[table["metric"].isin(["AUC", "AP", "train_seconds", "examples_per_second", "eval_seconds",
                                       "wall_seconds"])].reset_index(drop=True)
