"""Tables 3 and 4 of the report (micro AUPRC, micro F1, macro AUPRC; fine and coarse), the
reference numbers, the SONYC-UST label statistics, and the figure.

Reference numbers. The report itself could not be consulted while this was written, so its
Tables 3 and 4 are not transcribed here. What is quoted, each with its source, are the
SONYC-UST validate-set figures in the authors' public code (github.com/microsoft/dcase-2019):
the micro AUPRCs written into the file names of their best 37-output CNN+VGGish checkpoints,
and the output of their evaluation of the hierarchical submission (``Readme.txt``; its level
is not printed there, but it is the fine level: the hierarchical coarse scores are the top
model's, whose coarse micro AUPRC is 0.787, not 0.643).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audiolib.t19.experiment import METRICS, VARIANTS

__all__ = ["REFERENCE", "reference_rows", "tables_3_4", "label_statistics", "available_label_statistics", "plot_tables"]

_REPO = "authors' code (github.com/microsoft/dcase-2019), SONYC-UST validate"
REFERENCE = [
    {"variant": "fusion_37", "level": "coarse", "metric": "micro_auprc", "value": 0.787,
     "note": "checkpoint 20190610_170308_coarse=0.787_fine=0.646 (their best coarse)"},
    {"variant": "fusion_37", "level": "fine", "metric": "micro_auprc", "value": 0.656,
     "note": "checkpoint 20190609_230306_coarse=0.769_fine=0.656 (their best fine)"},
    {"variant": "hierarchical", "level": "fine", "metric": "micro_auprc", "value": 0.6429200022744848,
     "note": "Readme.txt, hierarchical submission with the 0.787 coarse model"},
    {"variant": "hierarchical", "level": "fine", "metric": "micro_f1", "value": 0.5163853028798411,
     "note": "Readme.txt, hierarchical submission with the 0.787 coarse model"},
    {"variant": "hierarchical", "level": "fine", "metric": "macro_auprc", "value": 0.41221486377413197,
     "note": "Readme.txt, hierarchical submission with the 0.787 coarse model"},
]


def reference_rows() -> pd.DataFrame:
    """:data:`REFERENCE` as tidy rows (``source`` names where each number comes from)."""
    table = pd.DataFrame(REFERENCE)
    table.insert(0, "dataset", "SONYC-UST v1 validate, reference: authors' code")
    table.insert(1, "corpus", "sonyc_ust")
    table["description"] = table["variant"].map(lambda v: VARIANTS[v][2])
    table["split"] = "validate"
    table["source"] = _REPO
    return table


def tables_3_4(results: pd.DataFrame) -> pd.DataFrame:
    """The report's layout: one row per (dataset, variant), columns (level, metric), this run
    beside the reference rows (``source`` in the index)."""
    wide = results.pivot_table(index=["dataset", "variant", "source"], columns=["level", "metric"], values="value",
                               aggfunc="first")
    columns = [(lv, m) for lv in ("fine", "coarse") for m in METRICS if (lv, m) in wide.columns]
    order = {v: k for k, v in enumerate(VARIANTS)}
    wide = wide[columns]
    return wide.sort_index(key=lambda idx: idx.map(order) if idx.name == "variant" else idx)


def label_statistics(root=None, thresholds=(0.0, 0.5)) -> pd.DataFrame:
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


def available_label_statistics(root=None) -> pd.DataFrame | None:
    """:func:`label_statistics` when the SONYC-UST annotations are present, else ``None`` (with the reason printed)."""
    try:
        return label_statistics(root)
    except FileNotFoundError as err:
        print(f"SONYC-UST label statistics skipped: {err}")
        return None


def plot_tables(results: pd.DataFrame):
    """Grouped bars: one panel per (dataset, level), a group per metric, a bar per variant.

    Reference numbers (authors' code, SONYC-UST validate) are a separate row of panels, labelled.
    """
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(results["dataset"]))
    variants = [v for v in VARIANTS if v in set(results["variant"])]
    colors = {v: plt.get_cmap("tab10")(k) for k, v in enumerate(VARIANTS)}
    fig, axes = plt.subplots(len(datasets), 2, figsize=(11, 2.8 * len(datasets) + 0.6), squeeze=False,
                             sharey=True)
    width = 0.8 / max(1, len(variants))
    for r, dataset in enumerate(datasets):
        part = results[results["dataset"] == dataset]
        for c, level in enumerate(("fine", "coarse")):
            ax = axes[r, c]
            for k, variant in enumerate(variants):
                values = [part[(part.variant == variant) & (part.level == level) & (part.metric == m)]["value"]
                          for m in METRICS]
                heights = [float(v.iloc[0]) if len(v) else np.nan for v in values]
                ax.bar(np.arange(len(METRICS)) + (k - (len(variants) - 1) / 2) * width, heights, width,
                       color=colors[variant], label=variant)
            ax.set_xticks(np.arange(len(METRICS)), [m.replace("_", " ") for m in METRICS])
            ax.set_ylim(0, 1)
            ax.set_title(f"{dataset}\n{level} level", fontsize=9)
            ax.grid(axis="y", alpha=0.3)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[v]) for v in variants]
    fig.legend(handles, variants, loc="lower center", ncol=min(len(variants), 6), fontsize=8, frameon=False)
    fig.suptitle("T19 Tables 3 and 4 layout: official DCASE 2019 Task 5 metrics", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    return fig
