"""C19 figures: Figs. 2-3 box plots, the learning-rate range tests, and Table 1's staged schedules drawn.

>>> fig = plot_boxplots(tidy(trials))                     # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audiolib.schedules import Stage, staged_curve

from .experiment import method_order, schedule_table

def plot_boxplots(table: pd.DataFrame, *, metric: str = "accuracy", mixup: bool = False, titles: dict | None = None):
    """Figs. 2 (UrbanSound8K) and 3 (ESC-50): per dataset, the distribution of each method's accuracy (%).

    Boxes as matplotlib draws them (median, quartiles, 1.5 IQR whiskers) over every replicate
    (seed x held-out fold), each a dot.
    """
    import matplotlib.pyplot as plt

    rows = table[(table["metric"] == metric) & (table["mixup"] == mixup)]
    datasets = list(dict.fromkeys(rows["dataset"]))
    fig, axes = plt.subplots(1, max(1, len(datasets)), figsize=(4.2 * max(1, len(datasets)), 3.6), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        part = rows[rows["dataset"] == dataset]
        methods = method_order(part["method"])
        values = [100 * part[part["method"] == m]["value"].to_numpy() for m in methods]
        ax.boxplot(values, tick_labels=methods, widths=0.5)
        for k, v in enumerate(values, start=1):
            ax.scatter(np.full(len(v), k) + np.linspace(-0.08, 0.08, len(v)), v, s=14, color="tab:blue", zorder=3)
        folds = sorted(part["fold"].unique())
        fig_no = "Fig. 2" if dataset == "urbansound8k" else "Fig. 3"
        ax.set_title((titles or {}).get(dataset, f"{fig_no}: {dataset} (folds {', '.join(map(str, folds))})"),
                     fontsize=10)
        ax.set_ylabel("held-out fold accuracy (%)")
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_range_tests(tests: list[dict]):
    """The learning-rate range tests (:func:`~audiolib.c19.training.range_tests`): smoothed loss against
    rate, the chosen lambda_max marked."""
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(t["dataset"] for t in tests)) or ["(none)"]
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.6 * len(datasets), 3.6), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        for t in [t for t in tests if t["dataset"] == dataset]:
            rt = t["test"]
            label = f"{t['tag']}" + (f" (others x{t['body_lr_factor']:.2g})" if t["body_lr_factor"] != 1 else "")
            if t.get("method", "any") != "any":
                label += f", {t['method']} fold {t['fold']}"
            line, = ax.plot(rt.curve["lr"], rt.curve["smoothed"], label=label)
            y = np.interp(np.log(rt.suggestion), np.log(rt.curve["lr"]), rt.curve["smoothed"])
            ax.scatter([rt.suggestion], [y], color=line.get_color(), marker="o", zorder=3)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate of the last layer")
        ax.set_ylabel("smoothed training loss")
        ax.set_title(f"{dataset}: range test (dot = lambda_max)", fontsize=10)
        if ax.lines:
            ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_schedule(schedules: pd.DataFrame, dataset: str, cycle: dict):
    """Table 1 drawn for ``dataset`` from :func:`~audiolib.c19.training.schedules` rows and ``C19Config.cycle``:
    learning rates (last layer, other layers) and momentum over each method's steps (mixup off, as Table 1)."""
    import matplotlib.pyplot as plt

    rows = schedules[schedules["dataset"] == dataset]
    per_epoch = rows.groupby("method")["steps_per_epoch"].first().to_dict()
    table = schedule_table(rows)
    groups: dict[tuple, list[str]] = {}  # methods with identical schedules share one curve
    for m in method_order(table["method"]):
        part = table[table["method"] == m].sort_values("stage")
        rows = part[["resolution", "epochs", "lr_last_layer", "lr_other_layers"]].itertuples(index=False)
        groups.setdefault((tuple(rows), per_epoch[m]), []).append(m)
    fig, axes = plt.subplots(2, 1, figsize=(7.5, 5), sharex=True)
    for (rows, spe), names in groups.items():
        label = ", ".join(names)
        stages = [Stage(r.resolution, int(r.epochs), float(r.lr_last_layer), float(r.lr_other_layers / r.lr_last_layer),
                        dict(cycle)) for r in rows]
        curve = staged_curve(stages, spe)
        x = curve["step"] / spe
        line, = axes[0].plot(x, curve["lr_last"], label=f"{label}: last layer")
        axes[0].plot(x, curve["lr_body"], ls="--", color=line.get_color(), label=f"{label}: other layers")
        axes[1].plot(x, curve["momentum"], color=line.get_color(), label=label)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("learning rate")
    axes[0].legend(fontsize=7, ncol=2)
    axes[1].set_ylabel("momentum (Adam beta1)")
    axes[1].set_xlabel("epoch")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
