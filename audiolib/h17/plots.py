"""H17's own figure: Fig. 1, per-class d' against the class prior.

Tables 2-4 and sec. 4.4 are drawn by :func:`audiolib.plots.metric_bars` / ``metric_lines``;
Fig. 2 (frame-wise outputs) by :func:`audiolib.tagging.plot_framewise`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def dprime_vs_prior(per_class: pd.DataFrame, *, title: str = "") -> Figure:
    """H17 Fig. 1: per-class d' against log10 prior, one point per class, coloured by AP.

    Args:
        per_class: columns ``log10_prior``, ``dprime``, ``AP`` (and ``evaluated``), one row per
            class (:func:`audiolib.h17.per_class_runs`). Classes that cannot be evaluated
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
