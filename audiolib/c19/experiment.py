"""The C19 notebook's steps and tables: every dataset cross-validated, Tables 1-3 laid out like the
paper, the mixup table, the range-test rows, ours beside the paper's, and the run's saved tables.

>>> trials, timings = run_all(datasets, C19Config(epoch_scale=0.02, width=0.125), test_folds=1)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import time

import pandas as pd

from audiolib import reference
from audiolib.data import ClipSet
from audiolib.runtime import feature_workers
from audiolib.trials import Trial, tidy

from . import paper
from .data import dataset_images, folds_of
from .training import METHODS, C19Config, cross_validate, range_tests, schedules

def method_order(methods) -> list[str]:
    """``methods`` once each, C19's :data:`~audiolib.c19.training.METHODS` first in their order."""
    methods = list(dict.fromkeys(methods))
    return [m for m in METHODS if m in methods] + [m for m in methods if m not in METHODS]


def run_all(datasets: list[ClipSet], config: C19Config, *, methods=METHODS, mixup_methods=(), test_folds: int = 0,
            seeds=None, mixup_datasets=None, progress: bool = True) -> tuple[list[Trial], dict[str, dict]]:
    """Images (cached) and cross-validation of every dataset, holding out its first ``test_folds`` folds
    (0: all) -> ``(trials, {dataset: timings})``; ``mixup_methods`` run again with mixup on ``mixup_datasets``
    (default: all)."""
    trials, timings = [], {}
    for data in datasets:
        t0 = time.perf_counter()
        images = dataset_images(data, num_workers=feature_workers(), progress=progress)
        t1 = time.perf_counter()
        mixed = mixup_methods if mixup_datasets is None or data.name in mixup_datasets else ()
        trials += cross_validate(data, images, config, methods=methods, mixup_methods=mixed,
                                 test_folds=sorted(set(folds_of(data).tolist()))[:test_folds or None], seeds=seeds, progress=progress)
        timings[data.name] = {"features_s": round(t1 - t0, 1), "cross_validation_s": round(time.perf_counter() - t1, 1)}
    return trials, timings


def _replicates(data: ClipSet, trials: list[Trial]) -> dict[str, list[int]]:
    mine = [t.ids for t in trials if t.ids["dataset"] == data.name]
    return {"seeds": list(dict.fromkeys(i["seed"] for i in mine)), "test_folds": list(dict.fromkeys(i["fold"] for i in mine)),
            "folds_present": sorted(set(folds_of(data).tolist()))}


def data_note(data: ClipSet, trials: list[Trial], config: C19Config, profile: str) -> str:
    """One line naming the data, the folds and the scale it ran at (goes next to every table and figure)."""
    scale = ("the paper's scale" if config.width == 1.0 and config.epoch_scale == 1.0
             else f"reduced: ResNet-34 width {config.width}, Table 1's epochs x {config.epoch_scale}")
    stands = {"esc10": "ESC-10 (400 clips, 5 folds) stands in for ESC-50 (Table 3 / Fig. 3)",
              "urbansound8k": "UrbanSound8K here has folds 1-2 complete and part of 3 (Table 2 / Fig. 2 used all 10)",
              "synthetic": "the synthetic corpus stands in for the paper's data"}.get(data.name, "")
    subset = "" if data.name == "synthetic" else "; a subset of the real data, so not the paper's figure"
    rep = _replicates(data, trials)
    return "; ".join(filter(None, [
        f"{data.description}", stands, f"seeds {rep['seeds']} x held-out folds {rep['test_folds']} of those present "
        f"{rep['folds_present']}", f"{scale}; rates {config.lr_policy}; profile {profile}{subset}"]))


# --- tables -------------------------------------------------------------------------------------
def with_summary(table: pd.DataFrame, metrics=("accuracy", "accuracy_last_epoch")) -> pd.DataFrame:
    """``table`` plus, per (dataset, method, mixup, metric), rows ``fold="mean"`` and ``fold="std"`` (``ddof=1``)."""
    keys = ["dataset", "method", "mixup", "metric"]
    per = table[table["metric"].isin(metrics)]
    stats = per.groupby(keys, sort=False)["value"].agg(mean="mean", std=lambda v: v.std(ddof=1)).reset_index()
    long = stats.melt(id_vars=keys, value_vars=["mean", "std"], var_name="fold", value_name="value")
    return pd.concat([table.assign(fold=table["fold"].astype(str)), long], ignore_index=True)


def accuracy_wide(table: pd.DataFrame, *, mixup: bool = False, metric: str = "accuracy",
                  percent: bool = True) -> dict[str, pd.DataFrame]:
    """Tables 2 and 3 layout, one per dataset: a row per held-out fold (mean over seeds), then mean and std
    over those folds; a column per method."""
    out = {}
    rows = table[(table["metric"] == metric) & (table["mixup"] == mixup)]
    for dataset, part in rows.groupby("dataset", sort=False):
        wide = part.pivot_table(index="fold", columns="method", values="value", aggfunc="mean")
        wide = wide[method_order(wide.columns)]
        wide.index = [f"fold {f}" for f in wide.index]
        folds = wide.copy()
        wide.loc["mean"] = folds.mean()
        wide.loc["std"] = folds.std(ddof=1)
        out[dataset] = (wide * 100).round(2) if percent else wide
    return out


def mixup_wide(table: pd.DataFrame, *, metric: str = "accuracy") -> pd.DataFrame:
    """Mixup off vs on: rows (dataset, method), columns per fold (mean over seeds), mean and std (accuracy, %)."""
    rows = table[table["metric"] == metric]
    rows = rows[rows["method"].isin(rows[rows["mixup"]]["method"].unique())]
    wide = rows.pivot_table(index=["dataset", "method", "mixup"], columns="fold", values="value", aggfunc="mean")
    wide.columns = [f"fold {c}" for c in wide.columns]
    folds = list(wide.columns)
    wide["mean"] = wide[folds].mean(axis=1)
    wide["std"] = wide[folds].std(axis=1, ddof=1)
    wide = wide.rename(index={False: "off", True: "on"}, level="mixup")
    return (wide * 100).round(2)


def schedule_table(schedules: pd.DataFrame) -> pd.DataFrame:
    """Table 1: per dataset and method, each stage's rate name, resolution, epochs and peak rates (mixup off),
    rates chosen per fold (``range_test="every_stage"``) as their median over seeds and folds."""
    keys = ["dataset", "method", "stage", "rate", "resolution", "shape", "epochs"]
    return schedules[~schedules["mixup"]].groupby(keys, sort=False)[["lr_last_layer", "lr_other_layers"]].median() \
        .reset_index()


def range_test_table(tests: list[dict]) -> pd.DataFrame:
    """Tidy rows of every range test: ``dataset, fold, method, resolution, body_lr_factor, lr, metric, value``;
    ``loss``, ``smoothed_loss`` per step, ``suggested_lr``, ``min_loss_lr``, ``steepest_lr`` once per test."""
    rows = []
    for t in tests:
        rt, common = t["test"], {k: t[k] for k in ("dataset", "fold", "method")}
        common.update(resolution=t["tag"], body_lr_factor=t["body_lr_factor"])
        for r in rt.curve.itertuples():
            rows += [{**common, "lr": r.lr, "metric": "loss", "value": r.loss},
                     {**common, "lr": r.lr, "metric": "smoothed_loss", "value": r.smoothed}]
        for name, v in (("suggested_lr", rt.suggestion), ("min_loss_lr", rt.min_loss_lr), ("steepest_lr", rt.steepest_lr)):
            rows.append({**common, "lr": v, "metric": name, "value": v})
    return pd.DataFrame(rows, columns=["dataset", "fold", "method", "resolution", "body_lr_factor", "lr", "metric",
                                       "value"])


def beside_paper(table: pd.DataFrame) -> pd.DataFrame:
    """Tables 2 and 3 per fold beside ours (:func:`audiolib.reference.beside`): per (paper table, our dataset,
    fold, method) our mean accuracy (%) [95 % CI over seeds] and n, the paper's printed number (split ``k``
    read as fold ``k + 1``), and per method the mean over every replicate beside the paper's Average. Mixup off."""
    rows = table[(table["metric"] == "accuracy") & ~table["mixup"].astype(bool)]
    rows = rows.assign(value=100 * rows["value"], metric="accuracy (%)", fold=rows["fold"].astype(str),
                       paper_table=["Table 2" if d == "urbansound8k" else "Table 3" for d in rows["dataset"]])
    ours = pd.concat([rows, rows.assign(fold="mean")], ignore_index=True)
    ref = paper.TABLES_2_3.rename(columns={"dataset": "paper_dataset"}).assign(paper_table=lambda t: t["where"])
    return reference.beside(ours, ref, ["paper_table", "dataset", "fold", "method"]).drop(columns=["paper_where"])


def save_tables(run, trials: list[Trial], timings: dict[str, dict], datasets: list[ClipSet], notes: list[str],
                config: C19Config) -> dict:
    """Write ``table1_schedule``, ``table2_3_accuracy``, ``tables2_3_beside_paper``, ``mixup_accuracy``,
    ``lr_range_test`` and provenance; return what the notebook shows and draws next."""
    profile = run.meta.get("profile", "interactive")
    data_text = " | ".join(data_note(d, trials, config, profile) for d in datasets)
    if notes:
        data_text += " | " + " ".join(notes)
    for d in datasets:
        rep = _replicates(d, trials)
        run.record_data(d.name, d.fingerprint(), description=d.description, unusable=d.unusable[:50],
                        n_unusable=len(d.unusable), folds_present=rep["folds_present"], test_folds=rep["test_folds"],
                        n_clips=len(d))
        run.record(f"timings_{d.name}", timings[d.name])
    run.record("c19_config", dataclasses.asdict(config))
    run.record("data_notes", notes)
    table, stages, tests = tidy(trials), schedules(trials), range_tests(trials)
    t1 = schedule_table(stages).melt(id_vars=["dataset", "method", "stage", "rate", "resolution", "shape", "epochs"],
                                     var_name="metric", value_name="value")
    run.save_table("table1_schedule", t1, describes="C19 Table 1 (staged 1cycle schedules, as written; epochs "
                   "scaled by EPOCH_SCALE)", data=data_text)
    run.save_table("table2_3_accuracy", with_summary(table[~table["mixup"]]),
                   describes="C19 Tables 2 (UrbanSound8K) and 3 (ESC-50), plus mel+resize", data=data_text)
    besides = beside_paper(table)
    run.save_table("tables2_3_beside_paper", besides, describes="C19 Tables 2 (UrbanSound8K) and 3 (ESC-50) per fold: "
                   "ours (mean [95% CI] over seeds) beside the paper's printed numbers", data=data_text)
    if table["mixup"].any():
        mixed = table[table["method"].isin(table[table["mixup"]]["method"].unique())]
        run.save_table("mixup_accuracy", with_summary(mixed), describes="extension: mixup on vs off (not in the paper)",
                       data=data_text)
    run.save_table("lr_range_test", range_test_table(tests), describes="C19 learning-rate range test (lambda_max)",
                   data=data_text)
    scale = (f"{profile}: ResNet-34 width {config.width}, Table 1 epochs x {config.epoch_scale}, rates "
             f"{config.lr_policy}, " + ", ".join(f"{d.name} {len(d)} clips" for d in datasets))
    return {"table": table, "schedules": stages, "tests": tests, "data_text": data_text, "beside": besides,
            "scale": scale}
