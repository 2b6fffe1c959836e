"""X18 experiments over seeds: architectures and their average, one-factor sweeps, execution back ends.

Every function trains each arm once per seed in ``seeds``; the arms of one seed share the data
split (and, for the data-size sweep, nested subsets of the training clips), so differences
between arms are paired by seed. Tables are tidy (``dataset``, ``embedder``, the arm column,
``seed``, ``metric``, ``value``); curves hold the validation history of every run.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from audiolib.models.describe import FAMILIES, ModelDescription

from .data import EmbeddingSplits
from .training import Trained, score, train_description

__all__ = ["AVERAGE", "SWEEP_FACTORS", "SWEEP_FIGURES", "compare_architectures", "architecture_study",
           "sweep_descriptions", "sweep", "run_sweeps", "compare_backends"]

#: The model name of the average of the three families' test probabilities (the report's "ensemble").
AVERAGE = "average of the above"

SWEEP_FACTORS = ("dropout", "l2", "data_fraction", "width", "init_scale")

#: sweep factor -> (figure name, what it shows), numbered as the report's figures.
SWEEP_FIGURES = {
    "dropout": ("fig2_dropout", "X18 Figure 2: dropout rate, validation AUC/AP against epochs"),
    "l2": ("fig3_regularization", "X18 Figure 3: L2 regularisation strength, validation AUC/AP against epochs"),
    "data_fraction": ("fig4_data_size", "X18 Figure 4: small vs big training data, validation AUC/AP against epochs"),
    "init_scale": ("fig5_weight_scale", "X18 Figure 5: weight scale of the initialisation, validation AUC/AP "
                                        "against epochs"),
    "width": ("fig6_width", "X18 Figure 6: network width, validation AUC/AP against epochs"),
}


def _base(splits: EmbeddingSplits) -> dict[str, Any]:
    return {"dataset": splits.name, "embedder": splits.embedder}


def _metric_rows(base: dict, metrics: dict[str, float], **extra) -> list[dict]:
    return [{**base, **extra, "metric": k, "value": float(v)} for k, v in metrics.items() if k in ("AUC", "AP")]


def _curve(base: dict, history: pd.DataFrame, **keys) -> pd.DataFrame:
    long = history.melt(id_vars=["step", "epoch"], value_vars=[c for c in ("val_AUC", "val_AP", "val_loss", "loss") if c in history],
                        var_name="metric", value_name="value")
    for k, v in reversed(list({**base, **keys}.items())):
        long.insert(0, k, v)
    return long


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def compare_architectures(splits: EmbeddingSplits, descriptions: dict[str, ModelDescription], *,
                          seeds: Sequence[int], **train_kw) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Train every description per seed and score the average of their test probabilities too.

    Returns ``(table, curves, trained)``: ``table`` tidy (dataset, embedder, model, seed, metric
    AUC/AP, value, train_seconds), ``curves`` the validation histories, ``trained`` the
    :class:`Trained` runs by ``(model, seed)``.
    """
    rows, curves, trained = [], [], {}
    base = _base(splits)
    for seed in seeds:
        runs: dict[str, Trained] = {name: train_description(d, splits, name=name, seed=seed, **train_kw)
                                    for name, d in descriptions.items()}
        for name, t in runs.items():
            trained[(name, seed)] = t
            rows += _metric_rows(base, t.test_metrics, model=name, seed=seed, train_seconds=t.train_seconds)
            curves.append(_curve(base, t.history, factor="model", setting=name, seed=seed))
        if len(runs) > 1:
            mean = np.mean([t.test_scores for t in runs.values()], axis=0)
            rows += _metric_rows(base, score(splits.test.y, mean), model=AVERAGE, seed=seed,
                                 train_seconds=float(sum(t.train_seconds for t in runs.values())))
    return pd.DataFrame(rows), _concat(curves), trained


def architecture_study(datasets: dict[str, EmbeddingSplits], descriptions: dict[str, ModelDescription], *,
                       seeds: Sequence[int], **train_kw) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`compare_architectures` on every dataset; returns ``(table, curves)`` concatenated."""
    tables, curves = [], []
    for splits in datasets.values():
        table, curve, _ = compare_architectures(splits, descriptions, seeds=seeds, **train_kw)
        tables.append(table)
        curves.append(curve)
    return _concat(tables), _concat(curves)


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
    raise ValueError(f"unknown sweep factor {factor!r}; allowed: {', '.join(SWEEP_FACTORS)}")


def _variants(splits: EmbeddingSplits, base: ModelDescription, factor: str, values: Sequence[Any], make, seed: int):
    if factor != "data_fraction":
        return {v: (d, splits) for v, d in sweep_descriptions(base, factor, values, make).items()}
    order = np.random.default_rng(seed).permutation(len(splits.train))  # nested subsets within a seed
    variants = {}
    for v in values:
        if not 0 < float(v) <= 1:
            raise ValueError(f"data_fraction values must be in (0, 1], got {v}")
        variants[v] = (base, splits.with_train(np.sort(order[:max(2, int(round(float(v) * len(splits.train))))])))
    return variants


def sweep(splits: EmbeddingSplits, base: ModelDescription, factor: str, values: Sequence[Any], *,
          seeds: Sequence[int], make: Callable[[float], ModelDescription] | None = None, **train_kw
          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train one variant per value of ``factor`` and seed; ``factor="data_fraction"`` trains
    ``base`` on a share of the training clips (nested shares within a seed; the same validation
    and test clips).

    Returns ``(final test metrics, validation curves)``, both tidy with ``factor``, ``setting``
    and ``seed``. A setting that diverges is a row with metric ``diverged``, not a crash.
    """
    rows, curves = [], []
    base_cols = _base(splits)
    for seed in seeds:
        for value, (description, data) in _variants(splits, base, factor, values, make, seed).items():
            keys = {"factor": factor, "setting": str(value), "seed": seed}
            try:
                t = train_description(description, data, seed=seed, name=f"{factor}={value}", **train_kw)
            except FloatingPointError as exc:
                rows.append({**base_cols, **keys, "metric": "diverged", "value": 1.0, "note": str(exc),
                             "train_clips": len(data.train)})
                continue
            curves.append(_curve(base_cols, t.history, **keys))
            for k, v in t.test_metrics.items():
                if k in ("AUC", "AP"):
                    rows.append({**base_cols, **keys, "metric": f"test_{k}", "value": float(v), "note": "",
                                 "train_clips": len(data.train)})
    return pd.DataFrame(rows), _concat(curves)


def run_sweeps(splits: EmbeddingSplits, family: str, values: dict[str, Sequence[Any]], *, width: float,
               dropout: float, lr: float, seeds: Sequence[int], **train_kw) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One-factor sweeps around ``family`` (a key of :data:`FAMILIES`) at ``width``/``dropout``/``lr``.

    ``values`` maps a factor (:data:`SWEEP_FACTORS`) to its settings; an empty list skips it.
    Returns ``(final test metrics, validation curves)``.
    """
    make = FAMILIES[family]
    optimizer = {"name": "adam", "lr": lr}
    base = make(width=width, dropout=dropout, optimizer=optimizer)
    tables, curves = [], []
    for factor, settings in values.items():
        if not settings:
            continue
        table, curve = sweep(splits, base, factor, settings, seeds=seeds,
                             make=lambda w: make(width=w, dropout=dropout, optimizer=optimizer), **train_kw)
        tables.append(table)
        curves.append(curve)
    return _concat(tables), _concat(curves)


def compare_backends(splits: EmbeddingSplits, description: ModelDescription, backends: Sequence[str], *,
                     seeds: Sequence[int], **train_kw) -> pd.DataFrame:
    """Train one description under each back end (``eager``, ``torch.compile``) per seed.

    The workbook's analogue of the report's Table 2 (TensorFlow vs PyTorch vs MXNet): one
    description, two ways of executing it. ``train_seconds`` is the time of the training steps
    (for ``compile`` including compiling on the first step); ``wall_seconds`` the whole run.
    """
    rows = []
    for backend in backends:
        if backend not in ("eager", "compile"):
            raise ValueError(f"unknown back end {backend!r}; allowed: eager, compile")
    for seed in seeds:
        for backend in backends:
            kw = {k: v for k, v in train_kw.items() if k != "cache"}
            t = train_description(description, splits, compile=backend == "compile", name=backend, seed=seed, **kw)
            base = {**_base(splits), "model": description.name, "backend": backend, "seed": seed}
            rows += [{**base, "metric": m, "value": float(v)} for m, v in
                     (("AUC", t.test_metrics["AUC"]), ("AP", t.test_metrics["AP"]),
                      ("train_seconds", t.train_seconds), ("wall_seconds", t.wall_seconds),
                      ("examples_per_second", t.examples_per_second))]
    return pd.DataFrame(rows)
