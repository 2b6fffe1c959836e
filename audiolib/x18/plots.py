"""X18 figures: architecture bars (Table 3), validation curves (Figs. 2-6), back ends (Table 2 analogue)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["plot_architectures", "plot_curves", "plot_backends"]


def _note(fig, data: str) -> None:
    if data:
        fig.text(0.01, 0.0, f"data: {data}", fontsize=7, va="top", wrap=True)


def plot_architectures(table: pd.DataFrame, data: str = ""):
    """Bars of test AUC and AP per model, one group per dataset; ``data`` is printed under it."""
    import matplotlib.pyplot as plt

    metrics = ["AUC", "AP"]
    datasets = list(dict.fromkeys(table["dataset"]))
    models = list(dict.fromkeys(table["model"]))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    width = 0.8 / max(1, len(models))
    for ax, metric in zip(axes, metrics):
        sub = table[table["metric"] == metric]
        for k, model in enumerate(models):
            vals = [sub[(sub["dataset"] == d) & (sub["model"] == model)]["value"].mean() for d in datasets]
            ax.bar(np.arange(len(datasets)) + (k - (len(models) - 1) / 2) * width, vals, width, label=model)
        ax.set_xticks(range(len(datasets)), datasets)
        ax.set_ylabel(f"test {metric} (macro)")
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    axes[1].legend(fontsize=8, loc="upper right")
    fig.suptitle("X18 Table 3 analogue: architectures on 10x128 embeddings (mean over seeds)")
    fig.tight_layout()
    _note(fig, data)
    return fig


def plot_curves(curves: pd.DataFrame, title: str, data: str = ""):
    """Validation AUC and AP against epochs, one line per setting (mean over seeds); ``data`` is printed under it."""
    import matplotlib.pyplot as plt

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
    _note(fig, data)
    return fig


def plot_backends(table: pd.DataFrame, data: str = ""):
    """AUC, AP and training time of each back end side by side; ``data`` is printed under it."""
    import matplotlib.pyplot as plt

    metrics = ["AUC", "AP", "train_seconds"]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for ax, metric in zip(axes, metrics):
        sub = table[table["metric"] == metric].groupby("backend", sort=False)["value"].mean()
        ax.bar(sub.index, sub.values, color=["tab:blue", "tab:orange", "tab:green"][:len(sub)])
        ax.set_title(metric)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("X18 Table 2 analogue: one description, two execution back ends (mean over seeds)")
    fig.tight_layout()
    _note(fig, data)
    return fig
