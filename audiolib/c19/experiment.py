"""The C19 notebook's steps as library calls: which folds, the whole cross-validation, saving tables.

>>> datasets, notes = select_datasets(["esc10", "urbansound8k"], clips_per_fold=40)   # doctest: +SKIP
>>> results = run_all(datasets, C19Config(epoch_scale=0.02, width=0.125), test_folds=1, seeds=[0, 1, 2])  # doctest: +SKIP
>>> save_tables(run, results, datasets, notes, config)                                  # doctest: +SKIP
"""

from __future__ import annotations

import os
import time

import pandas as pd

from audiolib import reference

from . import paper
from .data import C19Data, dataset_images
from .report import range_test_table, schedule_table, with_summary
from .training import METHODS, C19Config, CVResult, cross_validate

__all__ = ["first_folds", "run_all", "data_note", "save_tables", "schedule_curve_inputs", "beside_paper"]


def feature_workers() -> int:
    """Processes for feature extraction: none on a small machine (2 cores here), up to 8 on a large one."""
    cpus = os.cpu_count() or 1
    return 0 if cpus <= 4 else min(8, cpus - 2)


def first_folds(data: C19Data, count: int) -> list[int]:
    """The first ``count`` folds present (all of them when ``count`` is 0 or more than there are)."""
    if count < 0:
        raise ValueError(f"C19: number of test folds must be >= 0, got {count}")
    present = data.folds_present
    return present if count == 0 else present[:count]


def run_all(datasets: list[C19Data], config: C19Config, *, methods=METHODS, mixup_methods=(), test_folds: int = 0,
            seeds=None, mixup_datasets=None, progress: bool = True) -> dict[str, tuple[CVResult, dict]]:
    """Features (cached) and cross-validation for every dataset -> ``{name: (CVResult, timings)}``.

    ``mixup_methods`` run again with mixup on the datasets named in ``mixup_datasets`` (default: all).
    """
    out = {}
    for data in datasets:
        t0 = time.time()
        images = dataset_images(data, workers=feature_workers(), progress=progress)
        t1 = time.time()
        mixed = mixup_methods if mixup_datasets is None or data.name in mixup_datasets else ()
        result = cross_validate(data, images, config, methods=methods, mixup_methods=mixed,
                                test_folds=first_folds(data, test_folds), seeds=seeds, progress=progress)
        out[data.name] = (result, {"features_s": round(t1 - t0, 1), "cross_validation_s": round(result.seconds, 1)})
    return out


def data_note(data: C19Data, result: CVResult, config: C19Config, profile: str) -> str:
    """One line naming the data, the folds and the scale it ran at (goes next to every table and figure)."""
    scale = ("the paper's scale" if config.width == 1.0 and config.epoch_scale == 1.0
             else f"reduced: ResNet-34 width {config.width}, Table 1's epochs x {config.epoch_scale}")
    stands = {"esc10": "ESC-10 (400 clips, 5 folds) stands in for ESC-50 (Table 3 / Fig. 3)",
              "urbansound8k": "UrbanSound8K here has folds 1-2 complete and part of 3 (Table 2 / Fig. 2 used all 10)",
              "synthetic": "the synthetic corpus stands in for the paper's data"}.get(data.name, "")
    subset = "" if data.name == "synthetic" else "; a subset of the real data, so not the paper's figure"
    return "; ".join(filter(None, [
        f"{data.description}", stands, f"seeds {result.seeds} x held-out folds {result.test_folds} of those present "
        f"{result.folds_present}", f"{scale}; rates {config.lr_policy}; profile {profile}{subset}"]))


def beside_paper(table: pd.DataFrame) -> pd.DataFrame:
    """Tables 2 and 3 per fold beside ours: per (paper table, our dataset, fold, method) our mean accuracy (%)
    [95 % CI over seeds] and n, the paper's printed number (split ``k`` read as fold ``k + 1``), and per
    method the mean over every replicate beside the paper's Average. Mixup off."""
    rows = table[(table["metric"] == "accuracy") & ~table["mixup"].astype(bool)].copy()
    rows["value"] = 100 * rows["value"]
    rows["metric"] = "accuracy (%)"
    rows["paper_table"] = ["Table 2" if d == "urbansound8k" else "Table 3" for d in rows["dataset"]]
    rows["fold"] = rows["fold"].astype(str)
    ours = pd.concat([rows, rows.assign(fold="mean")], ignore_index=True)
    ref = paper.TABLES_2_3.rename(columns={"dataset": "paper_dataset"}).assign(paper_table=lambda t: t["where"])
    out = reference.beside(ours, ref, ["paper_table", "dataset", "fold", "method"])
    return out.drop(columns=["paper_where"])


def save_tables(run, results: dict[str, tuple[CVResult, dict]], datasets: list[C19Data], notes: list[str],
                config: C19Config) -> dict[str, pd.DataFrame]:
    """Write ``table1_schedule``, ``table2_3_accuracy``, ``mixup_accuracy``, ``lr_range_test`` and provenance."""
    profile = run.meta.get("profile", "interactive")
    by_name = {d.name: d for d in datasets}
    notes_text = " ".join(notes)
    data_text = " | ".join(data_note(by_name[n], r, config, profile) for n, (r, _) in results.items())
    if notes_text:
        data_text += " | " + notes_text
    for name, (result, timings) in results.items():
        d = by_name[name]
        run.record_data(name, d.fingerprint(), description=d.description, unusable=d.unusable[:50],
                        n_unusable=len(d.unusable), folds_present=result.folds_present, test_folds=result.test_folds,
                        n_clips=len(d))
        run.record(f"timings_{name}", timings)
    run.record("c19_config", config.describe())
    run.record("data_notes", notes)
    table = pd.concat([r.table for r, _ in results.values()], ignore_index=True)
    schedules = pd.concat([r.schedules for r, _ in results.values()], ignore_index=True)
    tests = [t for r, _ in results.values() for t in r.range_tests]
    main = with_summary(table[~table["mixup"]])
    mixup = with_summary(table[table["method"].isin(table[table["mixup"]]["method"].unique())])
    t1 = schedule_table(schedules).melt(id_vars=["dataset", "method", "stage", "rate", "resolution", "shape", "epochs"],
                                        var_name="metric", value_name="value")
    run.save_table("table1_schedule", t1, describes="C19 Table 1 (staged 1cycle schedules, as written; epochs "
                   "scaled by EPOCH_SCALE)", data=data_text)
    run.save_table("table2_3_accuracy", main, describes="C19 Tables 2 (UrbanSound8K) and 3 (ESC-50), plus mel+resize",
                   data=data_text)
    besides = beside_paper(table)
    run.save_table("tables2_3_beside_paper", besides, describes="C19 Tables 2 (UrbanSound8K) and 3 (ESC-50) per fold: "
                   "ours (mean [95% CI] over seeds) beside the paper's printed numbers", data=data_text)
    if table["mixup"].any():
        run.save_table("mixup_accuracy", mixup, describes="extension: mixup on vs off (not in the paper)",
                       data=data_text)
    run.save_table("lr_range_test", range_test_table(tests), describes="C19 learning-rate range test (lambda_max)",
                   data=data_text)
    scale = (f"{profile}: ResNet-34 width {config.width}, Table 1 epochs x {config.epoch_scale}, rates "
             f"{config.lr_policy}, " + ", ".join(f"{n} {len(by_name[n])} clips" for n in results))
    return {"table": table, "schedules": schedules, "tests": tests, "data_text": data_text, "beside": besides,
            "scale": scale}


def schedule_curve_inputs(saved: dict, dataset: str, config: C19Config) -> tuple[pd.DataFrame, dict[str, int], dict]:
    """Arguments of :func:`~audiolib.c19.report.plot_schedule` for ``dataset`` from :func:`save_tables`' output."""
    sched = schedule_table(saved["schedules"])
    sched = sched[sched["dataset"] == dataset]
    table = saved["table"]
    n_train = int(table[table["dataset"] == dataset]["n_train"].iloc[0])
    per_epoch = max(1, n_train // min(config.batch_size, n_train))
    return sched, {m: per_epoch for m in sched["method"].unique()}, dict(config.cycle)
