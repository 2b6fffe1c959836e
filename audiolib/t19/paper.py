"""The report's own numbers, in one place: its Tables 3 and 4, every printed number.

Quoted exactly from the report's text (``../shared/papers/002_c875c80a09dbccc4.txt``); a test
checks every ``quoted`` string against it. Both tables are on the SONYC-UST validate split.

Table 3 (the authors' systems). "CNN+VGGish1" and "CNN+VGGish2" are two checkpoints of ONE
training run of the 37-output CNN+VGGish (sec. 6: "Both CNN+VGGish models are checkpoints from
different points of a single training session; the best fine-level score was achieved before
the best coarse-level score"): 1 is the best-coarse checkpoint, 2 the best-fine one (its fine
micro AUPRC, 0.656, is the higher). Each checkpoint is scored at BOTH levels. The hierarchical
row's coarse numbers equal CNN+VGGish1's: its coarse scores are its top-level model's.

Table 4 (the task's baseline: a frame-wise logistic regression on VGGish embeddings). The
fine-level baseline is scored at both levels (coarse from its fine outputs); the coarse-level
baseline has no fine-level numbers (printed "-").

>>> table_3_4()[["system", "level", "metric", "quoted"]].head(2).to_dict("records")
[{'system': 'CNN+VGGish1', 'level': 'fine', 'metric': 'micro_auprc', 'quoted': '0.646'}, {'system': 'CNN+VGGish1', 'level': 'fine', 'metric': 'micro_f1', 'quoted': '0.483'}]
"""

from __future__ import annotations

import pandas as pd

from audiolib.reference import paper_rows

__all__ = ["TABLE_3", "TABLE_4", "SYSTEMS", "table_3_4", "paper_value"]

METRIC_COLUMNS = ("micro_auprc", "micro_f1", "macro_auprc")

#: Printed rows: system -> (fine micro AUPRC, micro F1, macro AUPRC, coarse micro AUPRC, micro F1, macro AUPRC).
TABLE_3 = {
    "CNN+VGGish1": ("0.646", "0.483", "0.425", "0.787", "0.609", "0.579"),
    "CNN+VGGish2": ("0.656", "0.398", "0.401", "0.768", "0.533", "0.555"),
    "Hierarchical": ("0.643", "0.490", "0.414", "0.787", "0.609", "0.579"),
}
TABLE_4 = {
    "Fine-level": ("0.671", "0.502", "0.427", "0.742", "0.507", "0.530"),
    "Coarse-level": ("-", "-", "-", "0.762", "0.674", "0.542"),
}

#: The report's system names -> this workbook's arm (``variant``, ``checkpoint``).
SYSTEMS = {
    "CNN+VGGish1": ("fusion_37", "best coarse"),
    "CNN+VGGish2": ("fusion_37", "best fine"),
    "Hierarchical": ("hierarchical", "best coarse"),
    "Fine-level": ("baseline_fine", "best val loss"),
    "Coarse-level": ("baseline_coarse", "best val loss"),
}


def table_3_4() -> pd.DataFrame:
    """Tables 3 and 4 as tidy rows: ``system, variant, checkpoint, level, metric, value, quoted, paper, where``."""
    frames = []
    for where, table in (("Table 3", TABLE_3), ("Table 4", TABLE_4)):
        for level, offset in (("fine", 0), ("coarse", 3)):
            rows = [{"system": system, "variant": SYSTEMS[system][0], "checkpoint": SYSTEMS[system][1], "level": level,
                     **dict(zip(METRIC_COLUMNS, printed[offset:offset + 3]))} for system, printed in table.items()]
            frames.append(paper_rows("T19", where, rows, METRIC_COLUMNS))
    out = pd.concat(frames, ignore_index=True)
    order = {s: k for k, s in enumerate(SYSTEMS)}
    return out.sort_values(["system", "level"], key=lambda s: s.map(order) if s.name == "system" else
                           s.map({"fine": 0, "coarse": 1}), kind="stable").reset_index(drop=True)


def paper_value(system: str, level: str, metric: str) -> str:
    """One printed number, e.g. ``paper_value("CNN+VGGish1", "coarse", "micro_auprc") == "0.787"``."""
    table = TABLE_3 if system in TABLE_3 else TABLE_4
    return table[system][(0 if level == "fine" else 3) + METRIC_COLUMNS.index(metric)]
