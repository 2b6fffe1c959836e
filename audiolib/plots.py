"""Figures of tidy tables shared by every paper: a metric as bars or lines, mean over seeds.

Every function takes a tidy table (``metric``, ``value`` and key columns) and returns a
:class:`matplotlib.figure.Figure` (never shows it), so a notebook saves it with
``run.save_figure(name, fig, ...)``. A paper's own figures live in its ``plots`` module
(``audiolib.h17.plots``, ``audiolib.x18.plots`` ...).

>>> fig = metric_bars(table, x="model", metrics=("AUC", "dprime", "mAP"))   # doctest: +SKIP
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["METRIC_LABELS", "metric_bars", "metric_lines"]

METRIC_LABELS = {"AUC": "AUC", "dprime": "d'", "mAP": "mAP", "mean_dprime": "mean per-class d'"}


def metric_bars(table: pd.DataFrame, *, x: str, metrics: Sequence[str] = ("AUC", "dprime", "mAP"),
                hue: str | None = None, title: str = "", order: Sequence | None = None) -> Figure:
    """One panel per metric: bars of ``value`` by ``x`` (grouped by ``hue`` when given).

    Args:
        table: tidy rows with columns ``x``, ``metric``, ``value`` (and ``hue``).
        x: the column on the horizontal axis (e.g. ``model``, ``n_labels``).
        metrics: which metrics to draw, one panel each.
        hue: a column whose values are drawn as side-by-side bars (e.g. ``bottleneck``).
        order: the order of ``x`` values (default: first appearance).
    """
    metrics = [m for m in metrics if m in set(table["metric"])]
    if not metrics:
        raise ValueError(f"metric_bars: none of the metrics are in the table (it has {sorted(set(table['metric']))})")
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.6), squeeze=False)
    xs = list(order) if order is not None else list(dict.fromkeys(table[x]))
    hues = list(dict.fromkeys(table[hue])) if hue else [None]
    width = 0.8 / len(hues)
    for ax, metric in zip(axes[0], metrics):
        sub = table[table["metric"] == metric]
        for j, h in enumerate(hues):
            part = sub if h is None else sub[sub[hue] == h]
            values = [part.loc[part[x] == v, "value"].mean() if (part[x] == v).any() else np.nan for v in xs]
            ax.bar(np.arange(len(xs)) + (j - (len(hues) - 1) / 2) * width, values, width,
                   label=None if h is None else f"{hue}={h}")
        ax.set_xticks(np.arange(len(xs)))
        ax.set_xticklabels([str(v) for v in xs], rotation=30, ha="right", fontsize=8)
        ax.set_title(METRIC_LABELS.get(metric, metric))
        ax.grid(axis="y", alpha=0.3)
        if metric == "AUC":
            ax.set_ylim(0.5 if np.nanmin(sub["value"]) >= 0.5 else None, 1.0)
    if hue:
        axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def metric_lines(table: pd.DataFrame, *, x: str, metrics: Sequence[str] = ("AUC", "dprime", "mAP"),
                 hue: str | None = None, logx: bool = True, title: str = "") -> Figure:
    """One panel per metric: ``value`` against a numeric ``x`` (e.g. training clips), one line per ``hue``."""
    metrics = [m for m in metrics if m in set(table["metric"])]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        sub = table[table["metric"] == metric]
        groups = sub.groupby(hue, sort=False) if hue else [(None, sub)]
        for h, part in groups:
            part = part.sort_values(x)
            ax.plot(part[x], part["value"], marker="o", label=None if h is None else str(h))
        if logx:
            ax.set_xscale("log")
        ax.set_xlabel(x)
        ax.set_title(METRIC_LABELS.get(metric, metric))
        ax.grid(alpha=0.3)
    if hue:
        axes[0][-1].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
