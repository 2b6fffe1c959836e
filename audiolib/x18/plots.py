"""X18 figures: architecture bars (Table 3), validation curves (Figs. 2-6), back ends (Table 2 analogue).

Bars are :func:`audiolib.plots.metric_bars` of the tidy tables (mean over seeds); every figure
prints the data it was measured on under it.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from audiolib.plots import metric_bars



def _note(fig, data: str):
    if data:
        fig.text(0.01, 0.0, f"data: {data}", fontsize=7, va="top", wrap=True)
    return fig


def plot_architectures(table: pd.DataFrame, data: str = ""):
    """Bars of test AUC and AP per model, one group per dataset; ``data`` is printed under it."""
    return _note(metric_bars(table, x="dataset", hue="model", metrics=("AUC", "AP"),
                             title="X18 Table 3 analogue: architectures on 10x128 embeddings (mean over seeds)"), data)


def plot_curves(curves: pd.DataFrame, title: str, data: str = ""):
    """Validation AUC and AP against epochs, one line per setting (mean over seeds); ``data`` is printed under it."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, metric in zip(axes, ("val_AUC", "val_AP")):
        sub = curves[curves["metric"] == metric]
        for setting, g in sub.groupby("setting", sort=False):
            mean = g.groupby("step", sort=True).agg(epoch=("epoch", "mean"), value=("value", "mean"))
            ax.plot(mean["epoch"], mean["value"], marker=".", label=str(setting))
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric.replace("val_", "validation "))
        ax.grid(alpha=0.3)
    if not curves.empty:
        axes[0].legend(title=str(curves["factor"].iloc[0]), fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return _note(fig, data)


def plot_backends(table: pd.DataFrame, data: str = ""):
    """AUC, AP and training time of each back end side by side; ``data`` is printed under it."""
    return _note(metric_bars(table, x="backend", metrics=("AUC", "AP", "train_seconds"),
                             title="X18 Table 2 analogue: one description, two execution back ends (mean over seeds)"),
                 data)
