"""Our X18 tables beside the report's, numbered as the report numbers them.

- Table 2 (frameworks) has no counterpart here: :func:`table2_beside` puts the report's numbers
  for TensorFlow / PyTorch / MXNet next to our analogue, one description run eagerly and through
  ``torch.compile`` (the same maths, two execution back ends), with the difference said in a column.
- Table 3 (architectures, small data): :func:`table3_beside`, per dataset and embedder.
- Table 4 (big data): :func:`table4_beside`, our smallest training share and all training clips
  of the data-size sweep beside the report's small ("about 20K", its Table 3) and big ("≈ 2M",
  its Table 4) fully-connected rows.
"""

from __future__ import annotations

import pandas as pd

from audiolib.reference import beside

from . import paper

__all__ = ["table2_beside", "table3_beside", "table4_beside"]


def _label(out: pd.DataFrame, ours: pd.DataFrame) -> pd.DataFrame:
    for col in ("dataset", "embedder"):
        if col in ours.columns and col not in out.columns:
            out.insert(0, col, "; ".join(dict.fromkeys(ours[col].astype(str))))
    return out


def table3_beside(architectures: pd.DataFrame) -> pd.DataFrame:
    """Our Table 3 (mean [95 % CI] over seeds per dataset and model) beside the report's Table 3."""
    out = beside(architectures, paper.TABLE3, ["dataset", "embedder", "model"], metrics=["AUC", "AP"])
    out["paper_data"] = out["paper"].notna().map({True: f"AudioSet, {paper.SMALL_DATA} clips", False: ""})
    return out


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
    """Our back ends (AUC, AP, training seconds) and the report's frameworks, stacked, with the
    difference said: the report compares three frameworks; ours runs one description two ways."""
    ours = beside(backends, None, ["dataset", "embedder", "backend"],
                  metrics=["AUC", "AP", "train_seconds"]).drop(columns=["paper", "paper_where"])
    ours["source"] = "ours (analogue: eager vs torch.compile, one description)"
    ref = paper.TABLE2.drop(columns=["paper"]).rename(columns={"framework": "backend", "quoted": "paper"})
    ref = ref[["backend", "metric", "paper", "where", "value"]]
    speed = pd.DataFrame([{"backend": k, "metric": "train_seconds", "paper": v, "where": "Table 2",
                           "value": paper.speed_seconds(v)} for k, v in paper.TABLE2_SPEED.items()])
    ref = pd.concat([ref, speed], ignore_index=True).rename(columns={"where": "paper_where"})
    ref["dataset"], ref["embedder"] = "AudioSet (the report's small data)", f"the release's {paper.FEATURES}"
    ref["source"] = "the report's Table 2 (ResNet model; TensorFlow, PyTorch, MXNet; its 'Speed' row)"
    return pd.concat([ours, ref], ignore_index=True)
