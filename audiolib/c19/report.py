"""C19 tables and figures: Tables 1-3 laid out like the paper, the mixup table, Figs. 2-3 box plots,
the range-test plot and the staged schedule.

>>> wide = accuracy_wide(result.table)            # doctest: +SKIP
>>> fig = plot_boxplots(result.table)             # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audiolib.schedules import Stage, staged_curve

__all__ = ["with_summary", "accuracy_wide", "mixup_wide", "range_test_table", "plot_boxplots",
           "plot_range_tests", "plot_schedule", "schedule_table"]

METHOD_ORDER = ("baseline", "mel", "resize", "mel+resize")


def _order(methods) -> list[str]:
    methods = list(dict.fromkeys(methods))
    return [m for m in METHOD_ORDER if m in methods] + [m for m in methods if m not in METHOD_ORDER]


def with_summary(table: pd.DataFrame, metrics=("accuracy", "accuracy_last_epoch")) -> pd.DataFrame:
    """``table`` plus, per (dataset, method, mixup, metric), rows ``fold="mean"`` and ``fold="std"``.

    The standard deviation is the sample one (``ddof=1``) over the folds; ``NaN`` with one fold.
    """
    keys = ["dataset", "method", "mixup", "metric"]
    per = table[table["metric"].isin(metrics)]
    stats = per.groupby(keys, sort=False)["value"].agg(mean="mean", std=lambda v: v.std(ddof=1)).reset_index()
    long = stats.melt(id_vars=keys, value_vars=["mean", "std"], var_name="fold", value_name="value")
    out = table.copy()
    out["fold"] = out["fold"].astype(str)
    return pd.concat([out, long], ignore_index=True)


def accuracy_wide(table: pd.DataFrame, *, mixup: bool = False, metric: str = "accuracy",
                  percent: bool = True) -> dict[str, pd.DataFrame]:
    """Tables 2 and 3 layout, one per dataset: a row per held-out fold (mean over seeds), then mean and std
    over those folds; a column per method."""
    out = {}
    rows = table[(table["metric"] == metric) & (table["mixup"] == mixup)]
    for dataset, part in rows.groupby("dataset", sort=False):
        wide = part.pivot_table(index="fold", columns="method", values="value", aggfunc="mean")
        wide = wide[_order(wide.columns)]
        wide.index = [f"fold {f}" for f in wide.index]
        folds = wide.copy()
        wide.loc["mean"] = folds.mean()
        wide.loc["std"] = folds.std(ddof=1)
        out[dataset] = (wide * 100).round(2) if percent else wide
    return out


def mixup_wide(table: pd.DataFrame, *, metric: str = "accuracy") -> pd.DataFrame:
    """Mixup off vs on: rows (dataset, method), columns per fold (mean over seeds), mean and std (accuracy, %)."""
    rows = table[table["metric"] == metric]
    mixed = rows[rows["mixup"]]["method"].unique()
    rows = rows[rows["method"].isin(mixed)]
    wide = rows.pivot_table(index=["dataset", "method", "mixup"], columns="fold", values="value", aggfunc="mean")
    wide.columns = [f"fold {c}" for c in wide.columns]
    folds = list(wide.columns)
    wide["mean"] = wide[folds].mean(axis=1)
    wide["std"] = wide[folds].std(axis=1, ddof=1)
    wide = wide.rename(index={False: "off", True: "on"}, level="mixup")
    return (wide * 100).round(2)


def schedule_table(schedules: pd.DataFrame) -> pd.DataFrame:
    """Table 1: per dataset and method, each stage's Table 1 rate name, resolution, epochs and peak rates (mixup off).

    Rates chosen per fold (``range_test="every_stage"``) are shown as their median over seeds and folds.
    """
    base = schedules[~schedules["mixup"]] if "mixup" in schedules else schedules
    keys = ["dataset", "method", "stage"] + (["rate"] if "rate" in base else []) + ["resolution", "shape", "epochs"]
    return (base.groupby(keys, sort=False)
            [["lr_last_layer", "lr_other_layers"]].median().reset_index())


def range_test_table(tests: list[dict]) -> pd.DataFrame:
    """Tidy rows of every range test: ``dataset, fold, method, resolution, body_lr_factor, lr, metric, value``.

    Metrics: ``loss``, ``smoothed_loss`` per step, and ``suggested_lr``, ``min_loss_lr``,
    ``steepest_lr`` once per test (their ``lr`` column holds the same value).
    """
    rows = []
    for t in tests:
        rt = t["test"]
        common = {"dataset": t["dataset"], "fold": t["fold"], "method": t["method"], "resolution": t["tag"],
                  "body_lr_factor": t["body_lr_factor"]}
        for r in rt.curve.itertuples():
            rows.append({**common, "lr": r.lr, "metric": "loss", "value": r.loss})
            rows.append({**common, "lr": r.lr, "metric": "smoothed_loss", "value": r.smoothed})
        for name, v in (("suggested_lr", rt.suggestion), ("min_loss_lr", rt.min_loss_lr), ("steepest_lr", rt.steepest_lr)):
            rows.append({**common, "lr": v, "metric": name, "value": v})
    return pd.DataFrame(rows, columns=["dataset", "fold", "method", "resolution", "body_lr_factor", "lr", "metric",
                                       "value"])


# --- figures ------------------------------------------------------------------------------------
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
        methods = _order(part["method"])
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
    """The learning-rate range tests: smoothed loss against rate, the chosen lambda_max marked."""
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


def plot_schedule(schedules: pd.DataFrame, steps_per_epoch: dict[str, int], cycle: dict):
    """Table 1 drawn: learning rates (last layer, other layers) and momentum over the steps of each method.

    Args:
        schedules: :func:`schedule_table` rows of ONE dataset.
        steps_per_epoch: per method (identical for all stages of a method).
        cycle: the 1cycle settings.
    """
    import matplotlib.pyplot as plt

    groups: dict[tuple, list[str]] = {}  # methods with identical schedules share one curve
    for m in _order(schedules["method"]):
        part = schedules[schedules["method"] == m].sort_values("stage")
        key = tuple(map(tuple, part[["resolution", "epochs", "lr_last_layer", "lr_other_layers"]].values.tolist()))
        groups.setdefault(key + (steps_per_epoch[m],), []).append(m)
    fig, axes = plt.subplots(2, 1, figsize=(7.5, 5), sharex=True)
    for names in groups.values():
        m, label = names[0], ", ".join(names)
        part = schedules[schedules["method"] == m].sort_values("stage")
        stages = [Stage(r.resolution, int(r.epochs), float(r.lr_last_layer), float(r.lr_other_layers / r.lr_last_layer),
                        dict(cycle)) for r in part.itertuples()]
        curve = staged_curve(stages, steps_per_epoch[m])
        x = curve["step"] / steps_per_epoch[m]
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
