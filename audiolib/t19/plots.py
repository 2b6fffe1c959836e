"""T19's figure: Tables 3 and 4 as grouped bars, this run's corpora beside the report's numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from audiolib.t19.experiment import METRICS, VARIANTS


def plot_tables(results: pd.DataFrame, paper: pd.DataFrame | None = None):
    """Grouped bars: one panel per (dataset, level), a group per metric, a bar per arm (variant and
    checkpoint), the mean over seeds with their range; ``paper``: the report's numbers, a row of their own."""
    import matplotlib.pyplot as plt

    results = results[results["metric"].isin(METRICS)]
    if paper is not None:
        results = pd.concat([results, paper.assign(dataset="SONYC-UST v1 validate: the report's Tables 3 and 4")], ignore_index=True)
    results = results.assign(arm=results["variant"] + np.where(results["checkpoint"].isin(["best coarse", "best fine"]),
                                                               " · " + results["checkpoint"], ""))
    datasets = list(dict.fromkeys(results["dataset"]))
    arms = list(dict.fromkeys(results.sort_values("variant", key=lambda s: s.map({v: k for k, v in enumerate(VARIANTS)}),
                                                  kind="stable")["arm"]))
    colors = {a: plt.get_cmap("tab20")(k % 20) for k, a in enumerate(arms)}
    fig, axes = plt.subplots(len(datasets), 2, figsize=(12, 2.9 * len(datasets) + 1.0), squeeze=False, sharey=True)
    width = 0.8 / max(1, len(arms))
    for r, dataset in enumerate(datasets):
        part = results[results["dataset"] == dataset]
        for c, level in enumerate(("fine", "coarse")):
            ax = axes[r, c]
            for k, arm in enumerate(arms):
                groups = part[(part.arm == arm) & (part.level == level)].groupby("metric")["value"]
                stats = groups.agg(["mean", "min", "max"]).reindex(list(METRICS))
                err = [(stats["mean"] - stats["min"]).fillna(0), (stats["max"] - stats["mean"]).fillna(0)]
                ax.bar(np.arange(len(METRICS)) + (k - (len(arms) - 1) / 2) * width, stats["mean"], width, yerr=err,
                       color=colors[arm], label=arm, error_kw={"elinewidth": 0.6})
            ax.set_xticks(np.arange(len(METRICS)), [m.replace("_", " ") for m in METRICS])
            ax.set_ylim(0, 1)
            ax.set_title(f"{dataset}\n{level} level", fontsize=9)
            ax.grid(axis="y", alpha=0.3)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[a]) for a in arms]
    fig.legend(handles, arms, loc="lower center", ncol=min(len(arms), 4), fontsize=7, frameon=False)
    fig.suptitle("T19 Tables 3 and 4 layout: official DCASE 2019 Task 5 metrics (mean over seeds, range)", fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 0.97))
    return fig
