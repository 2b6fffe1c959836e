"""The numbers Hershey et al. (ICASSP 2017) report, as tidy tables to set beside ours.

Everything here is quoted from the paper (Tables 1-4, sec. 4.4); nothing is computed. The
paper trained on YouTube-100M (70M videos, 30,871 labels) and evaluated on a balanced set of
videos; our tables run on other data, so the two are set side by side, never mixed.
"""

from __future__ import annotations

import pandas as pd

PAPER = "Hershey et al. 2017"

#: Table 1: weights and multiplies of the audio versions with 3087 outputs, 96x64 input.
TABLE1 = {
    "fc_audio": (11.2e6, 11.2e6),
    "alexnet_audio": (37.3e6, 767e6),
    "vgg_audio": (62e6, 2.4e9),
    "inception_v3_audio": (28e6, 4.7e9),
    "resnet50_audio": (30e6, 1.9e9),
}

#: Table 2: (steps, training hours, AUC, d', mAP), 70M videos, 3K labels.
TABLE2 = [
    ("fc_audio", 5e6, 35, 0.851, 1.471, 0.058),
    ("alexnet_audio", 5e6, 82, 0.894, 1.764, 0.115),
    ("vgg_audio", 5e6, 184, 0.911, 1.909, 0.161),
    ("inception_v3_audio", 5e6, 137, 0.918, 1.969, 0.181),
    ("resnet50_audio", 5e6, 119, 0.916, 1.952, 0.182),
    ("resnet50_audio", 17e6, 356, 0.926, 2.041, 0.212),
]

#: Table 3: (bottleneck, training labels, AUC, d', mAP), ResNet-50, 70M videos, evaluated on 400 labels.
#: The 30K model without bottleneck was not trained ("would have taken several months").
TABLE3 = [
    (False, 3087, 0.930, 2.087, 0.381),
    (False, 400, 0.928, 2.067, 0.376),
    (True, 30871, 0.925, 2.035, 0.369),
    (True, 3087, 0.919, 1.982, 0.347),
    (True, 400, 0.924, 2.026, 0.365),
]

#: Table 4: (training videos, AUC, d', mAP), ResNet-50, 3K labels, the same number of steps.
TABLE4 = [
    (70_000_000, 0.923, 2.019, 0.206),
    (7_000_000, 0.922, 2.006, 0.202),
    (700_000, 0.921, 1.997, 0.203),
    (70_000, 0.909, 1.883, 0.162),
    (23_000, 0.868, 1.581, 0.118),
]

#: Sec. 4.4: fully-connected AudioSet classifiers on ResNet embeddings vs on 64x20 log-mel
#: patches: (input, mAP, AUC, d') as quoted in the project design (the arXiv v2 text gives
#: 0.314 / 0.959 / 2.452 vs 0.137 / 0.904 / 1.846 for an earlier AudioSet release).
TRANSFER = [
    ("embedding", 0.435, 0.963, 2.522),
    ("log-mel 64x20", 0.105, 0.859, 1.524),
]


def _tidy(rows: list[dict], describes: str) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    id_cols = [c for c in table.columns if c not in ("AUC", "dprime", "mAP", "steps", "train_hours",
                                                      "weights", "multiplies")]
    long = table.melt(id_vars=id_cols, var_name="metric", value_name="value")
    return long.assign(source=f"paper ({PAPER}, {describes})", dataset="YouTube-100M (paper)")


def table1() -> pd.DataFrame:
    """Table 1 as tidy rows: model, metric (weights / multiplies), value."""
    return _tidy([{"model": m, "weights": w, "multiplies": x} for m, (w, x) in TABLE1.items()], "Table 1")


def table2() -> pd.DataFrame:
    """Table 2 as tidy rows: model, metric (steps, train_hours, AUC, dprime, mAP), value."""
    return _tidy([{"model": m, "variant": "17M steps" if s > 5e6 else "", "steps": s, "train_hours": h, "AUC": a,
                   "dprime": d, "mAP": p} for m, s, h, a, d, p in TABLE2], "Table 2")


def table3() -> pd.DataFrame:
    """Table 3 as tidy rows: bottleneck, n_labels, metric, value (evaluated on 400 labels)."""
    return _tidy([{"model": "resnet50_audio", "bottleneck": b, "n_labels": n, "n_eval_labels": 400, "AUC": a,
                   "dprime": d, "mAP": p} for b, n, a, d, p in TABLE3], "Table 3")


def table4() -> pd.DataFrame:
    """Table 4 as tidy rows: train_clips (videos), metric, value."""
    return _tidy([{"model": "resnet50_audio", "train_clips": n, "AUC": a, "dprime": d, "mAP": p}
                  for n, a, d, p in TABLE4], "Table 4")


def transfer() -> pd.DataFrame:
    """Sec. 4.4 as tidy rows: features (embedding / log-mel), metric, value (on AudioSet)."""
    rows = _tidy([{"features": f, "mAP": p, "AUC": a, "dprime": d} for f, p, a, d in TRANSFER], "sec. 4.4")
    return rows.assign(dataset="AudioSet (paper)")
