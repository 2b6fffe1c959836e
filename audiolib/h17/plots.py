"""H17's figures: Tables 2-4 and sec. 4.4 as bars or lines, Fig. 1 (per-class d' against the prior).

Every function takes a tidy table (``metric``, ``value`` and key columns) and returns a
:class:`matplotlib.figure.Figure` (never shows it), so a notebook saves it with
``run.save_figure(name, fig, ...)``. Fig. 2 (frame-wise outputs) is :func:`audiolib.tagging.plot_framewise`.

>>> fig = metric_bars(table, x="model", metrics=("AUC", "dprime", "mAP"))   # doctest: +SKIP
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

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


def dprime_vs_prior(per_class: pd.DataFrame, *, title: str = "") -> Figure:
    """H17 Fig. 1: per-class d' against log10 prior, one point per class, coloured by AP.

    Args:
        per_class: columns ``log10_prior``, ``dprime``, ``AP`` (and ``evaluated``), one row per
            class (:func:`audiolib.h17.per_class_table`). Classes that cannot be evaluated
            (no positive or no negative) are left out and counted in the caption; infinite d'
            (AUC of exactly 0 or 1) is drawn at the panel's edge as a triangle.
    """
    table = per_class[per_class.get("evaluated", True) & np.isfinite(per_class["log10_prior"])]
    skipped = len(per_class) - len(table)
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    d = table["dprime"].to_numpy(dtype=float)
    finite = np.isfinite(d)
    top = np.nanmax(d[finite]) + 0.5 if finite.any() else 3.0
    bottom = np.nanmin(d[finite]) - 0.5 if finite.any() else -1.0
    shown = np.clip(np.where(finite, d, np.sign(d) * np.inf), bottom, top)
    sc = ax.scatter(table["log10_prior"], np.where(finite, d, shown), c=table["AP"], cmap="viridis", vmin=0, vmax=1,
                    s=28, edgecolors="k", linewidths=0.3)
    if (~finite).any():
        ax.scatter(table["log10_prior"][~finite], shown[~finite], marker="^", facecolors="none", edgecolors="r",
                   s=50, label="d' infinite (AUC 0 or 1)")
        ax.legend(fontsize=8, loc="lower right")
    if finite.any():
        ax.axhline(np.median(d[finite]), color="r", lw=1, alpha=0.6)
    fig.colorbar(sc, ax=ax, label="AP")
    ax.set_xlabel("log10 prior (training clips)")
    ax.set_ylabel("d'")
    ax.set_title(title or "per-class d' against prior, coloured by AP", fontsize=10)
    if skipped:
        ax.text(0.01, 0.01, f"{skipped} class(es) not evaluable, not shown", transform=ax.transAxes, fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
