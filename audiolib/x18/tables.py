"""Our X18 tables beside the report's (:func:`audiolib.reference.beside`), numbered as the report numbers them.

Table 2 (frameworks) has no counterpart here: :func:`table2_beside` sets one description run
eagerly and through ``torch.compile`` beside the report's PyTorch column.
"""

from __future__ import annotations

import pandas as pd

from audiolib.reference import beside

from . import paper



def table3_beside(architectures: pd.DataFrame) -> pd.DataFrame:
    """Our Table 3 (mean [95 % CI] over seeds per dataset and model) beside the report's Table 3."""
    return beside(architectures, paper.TABLE3, ["dataset", "embedder", "model"], metrics=["AUC", "AP"])


def table4_beside(sweeps: pd.DataFrame) -> pd.DataFrame:
    """The data-size sweep's smallest and largest shares beside the report's small and big data."""
    rows = sweeps[(sweeps["factor"] == "data_fraction") & sweeps["metric"].isin(["test_AUC", "test_AP"])].copy()
    if rows.empty:
        return pd.DataFrame()
    shares = sorted(set(rows["setting"]), key=float)
    rows = rows[rows["setting"].isin([shares[0], shares[-1]])]
    rows["metric"] = rows["metric"].str.replace("test_", "", regex=False)
    rows["model"] = "fully_connected"
    rows["data"] = rows["setting"].map({shares[0]: paper.SMALL_DATA, shares[-1]: paper.BIG_DATA})
    clips = rows.groupby("setting")["train_clips"].first()
    rows["ours"] = rows["setting"].map(lambda s: f"share {s} ({int(clips[s])} training clips)")
    out = beside(rows, pd.concat([paper.TABLE3, paper.TABLE4]), ["dataset", "embedder", "model", "data", "ours"],
                 metrics=["AUC", "AP"])
    return out.rename(columns={"data": "paper_data"})


def table2_beside(backends: pd.DataFrame) -> pd.DataFrame:
    """Our back ends (AUC, AP, training seconds; :func:`~audiolib.x18.studies.compare_backends`)
    beside the report's PyTorch column of Table 2 (AUC, AP and its "Speed" row)."""
    return beside(backends.assign(framework="Pytorch"), pd.concat([paper.TABLE2, paper.TABLE2_SPEED]),
                  ["dataset", "embedder", "framework", "backend"], metrics=["AUC", "AP", "train_seconds"])
