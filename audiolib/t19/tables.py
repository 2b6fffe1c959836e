"""Tables 3 and 4 of the report (micro AUPRC, micro F1, macro AUPRC; fine and coarse) beside this
run (:mod:`audiolib.t19.paper` holds the report's numbers), and the SONYC-UST label statistics."""

from __future__ import annotations

import pandas as pd

from audiolib.reference import beside
from audiolib.t19.experiment import METRICS, VARIANTS
from audiolib.t19.paper import table_3_4


def tables_3_4(results: pd.DataFrame) -> pd.DataFrame:
    """The report's layout: one row per (dataset, variant, checkpoint), columns (level, metric); means over seeds."""
    scores = results[results["metric"].isin(METRICS)]
    wide = scores.pivot_table(index=["dataset", "variant", "checkpoint"], columns=["level", "metric"], values="value",
                              aggfunc="mean")
    columns = [(lv, m) for lv in ("fine", "coarse") for m in METRICS if (lv, m) in wide.columns]
    order = {v: k for k, v in enumerate(VARIANTS)}
    return wide[columns].sort_index(key=lambda idx: idx.map(order) if idx.name == "variant" else idx)


def beside_paper(results: pd.DataFrame) -> pd.DataFrame:
    """This run (one corpus) beside the report: per variant, checkpoint, level and metric, our mean
    [95 % CI] over seeds, n, and the report's printed number where it has one (Tables 3 and 4)."""
    return beside(results, table_3_4(), keys=["variant", "checkpoint", "level"], metrics=list(METRICS))


def sonyc_label_statistics(root=None) -> pd.DataFrame:
    """Positive files per tag in the real SONYC-UST annotations (tidy), as the task defines the labels:
    train at agreement thresholds 0 and 0.5 (plus the summed soft targets), validate verified."""
    from audiolib.data.sonyc_ust import load_taxonomy, read_annotations, sonyc_ust_ground_truth, taxonomy_columns

    taxonomy = load_taxonomy(root)
    annotations = read_annotations(root, taxonomy)
    fine, coarse = taxonomy_columns(taxonomy, "fine"), taxonomy_columns(taxonomy, "coarse")
    frames = []
    variants = [("train", f"agreement > {t:g}", dict(threshold=t)) for t in (0.0, 0.5)]
    variants += [("train", "soft (sum of agreement)", dict(soft=True)), ("validate", "verified", {})]
    for split, labels, kw in variants:
        truth = sonyc_ust_ground_truth(annotations, taxonomy, split, **kw)
        for level, cols in (("fine", fine), ("coarse", coarse)):
            counts = truth[cols].sum()
            frames.append(pd.DataFrame({"split": split, "labels": labels, "level": level, "tag": cols,
                                        "metric": "positive_files", "value": counts.to_numpy(dtype=float),
                                        "n_files": len(truth)}))
    return pd.concat(frames, ignore_index=True)
