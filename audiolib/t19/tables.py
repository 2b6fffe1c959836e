"""Tables 3 and 4 of the report (micro AUPRC, micro F1, macro AUPRC; fine and coarse) beside this
run, the SONYC-UST label statistics, and the figure.

The report's numbers are :mod:`audiolib.t19.paper` (Tables 3 and 4 as printed, every number);
:func:`reference_rows` gives them in the run table's schema, :func:`beside_paper` sets this
run's mean [95 % CI] over seeds beside them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audiolib.reference import beside
from audiolib.t19.experiment import METRICS, VARIANTS
from audiolib.t19.paper import table_3_4

__all__ = ["reference_rows", "tables_3_4", "beside_paper", "sonyc_label_statistics", "available_sonyc_label_statistics",
           "plot_tables", "REFERENCE_DATASET"]

REFERENCE_DATASET = "SONYC-UST v1 validate: the report's Tables 3 and 4"


def reference_rows() -> pd.DataFrame:
    """The report's Tables 3 and 4 in the run table's schema (``source``: the table; ``system``: its row name)."""
    ref = table_3_4()
    return pd.DataFrame({"dataset": REFERENCE_DATASET, "corpus": "sonyc_ust", "variant": ref["variant"],
                         "checkpoint": ref["checkpoint"], "system": ref["system"],
                         "description": ref["variant"].map(lambda v: VARIANTS[v][2]), "level": ref["level"],
                         "metric": ref["metric"], "value": ref["value"], "quoted": ref["quoted"], "split": "validate",
                         "source": "report, " + ref["where"]})


def tables_3_4(results: pd.DataFrame) -> pd.DataFrame:
    """The report's layout: one row per (dataset, variant, checkpoint, source), columns (level, metric);
    this run's values are means over seeds."""
    wide = results.pivot_table(index=["dataset", "variant", "checkpoint", "source"], columns=["level", "metric"],
                               values="value", aggfunc="mean")
    columns = [(lv, m) for lv in ("fine", "coarse") for m in METRICS if (lv, m) in wide.columns]
    order = {v: k for k, v in enumerate(VARIANTS)}
    wide = wide[columns]
    return wide.sort_index(key=lambda idx: idx.map(order) if idx.name == "variant" else idx)


def beside_paper(results: pd.DataFrame) -> pd.DataFrame:
    """This run (one corpus) beside the report: per variant, checkpoint, level and metric, our mean
    [95 % CI] over seeds, n, and the report's printed number where it has one (Tables 3 and 4)."""
    ours = results[results["source"] == "this run"] if "source" in results else results
    return beside(ours, table_3_4(), keys=["variant", "checkpoint", "level"], metrics=list(METRICS))


def sonyc_label_statistics(root=None, thresholds=(0.0, 0.5)) -> pd.DataFrame:
    """Positive files per tag in the real SONYC-UST annotations, as the task defines the labels:
    train at each agreement ``threshold`` (plus the summed soft targets), validate verified.

    Tidy: ``split, labels ("agreement > t" / "soft (sum of agreement)" / "verified"), level,
    tag, metric ("positive_files"), value``.
    """
    from audiolib.data.sonyc_ust import load_taxonomy, read_annotations, sonyc_ust_ground_truth, taxonomy_columns

    taxonomy = load_taxonomy(root)
    annotations = read_annotations(root, taxonomy)
    fine, coarse = taxonomy_columns(taxonomy, "fine"), taxonomy_columns(taxonomy, "coarse")
    frames = []
    variants = [("train", f"agreement > {t:g}", dict(threshold=t)) for t in thresholds]
    variants += [("train", "soft (sum of agreement)", dict(soft=True)), ("validate", "verified", {})]
    for split, labels, kw in variants:
        truth = sonyc_ust_ground_truth(annotations, taxonomy, split, **kw)
        for level, cols in (("fine", fine), ("coarse", coarse)):
            counts = truth[cols].sum()
            frames.append(pd.DataFrame({"split": split, "labels": labels, "level": level, "tag": cols,
                                        "metric": "positive_files", "value": counts.to_numpy(dtype=float),
                                        "n_files": len(truth)}))
    return pd.concat(frames, ignore_index=True)


def available_sonyc_label_statistics(root=None) -> pd.DataFrame | None:
    """:func:`sonyc_label_statistics` when the SONYC-UST annotations are present, else ``None`` (with the reason printed)."""
    try:
        return sonyc_label_statistics(root)
    except FileNotFoundError as err:
        print(f"SONYC-UST label statistics skipped: {err}")
        return None


def plot_tables(results: pd.DataFrame):
    """Grouped bars: one panel per (dataset, level), a group per metric, a bar per arm (variant and
    checkpoint), the mean over seeds with the seeds' range as an error bar.

    The report's numbers (SONYC-UST validate) are a separate row of panels, labelled.
    """
    import matplotlib.pyplot as plt

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
                stats = [part[(part.arm == arm) & (part.level == level) & (part.metric == m)]["value"] for m in METRICS]
                mean = [v.mean() if len(v) else np.nan for v in stats]
                err = [[m - v.min() if len(v) else 0 for m, v in zip(mean, stats)],
                       [v.max() - m if len(v) else 0 for m, v in zip(mean, stats)]]
                ax.bar(np.arange(len(METRICS)) + (k - (len(arms) - 1) / 2) * width, mean, width, yerr=err,
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
