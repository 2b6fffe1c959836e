"""C19's claims, declared once, and the evaluator that turns a run's tidy accuracy table into verdicts.

Replicates are (seed x held-out fold) within a dataset; every method of a replicate starts from
the same initial weights, so the effects are paired differences per replicate. Claims about
"both datasets" are tested on each dataset separately (Table 2: UrbanSound8K; Table 3: ESC-50,
for which ESC-10 stands in here); claims about the aggregate pool the replicates of both.

>>> sorted(CLAIMS.by_id())[:2]
['C19-T2-mel-beats-baseline', 'C19-T2-resize-beats-baseline']
>>> findings_table = findings(run_table, scale="quick")          # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audiolib import findings as _f

from . import paper

__all__ = ["CLAIMS", "accuracy_matrix", "effects", "findings", "high_rate_epochs", "NO_INTERACTION_MARGIN"]

CONCLUSION = "Experimental results show that both methods significantly improve the performances of the network"
#: an interaction this small (2.5 accuracy points) is below every progressive gain of Tables 2 and 3
#: (2.72 to 4.4 points), so it cannot change which method wins
NO_INTERACTION_MARGIN = 0.025
FULL_SCALE = "the full profile (ESC-50 and UrbanSound8K complete, ResNet-34 width 1, Table 1's 190/170 epochs, 3 seeds): about 12 GPU-hours"
TABLE_OF = {"urbansound8k": "T2"}  # every other dataset stands in for ESC-50 (Table 3)


def _means(where: pd.DataFrame, method: str) -> str:
    row = where[(where["fold"] == "mean") & (where["method"] == method)]
    return row["quoted"].iloc[0]


def _wins(where: pd.DataFrame, a: str, b: str) -> tuple[int, int]:
    folds = where[~where["fold"].isin(["mean", "std"])].pivot_table(index="fold", columns="method", values="value")
    return int((folds[a] > folds[b]).sum()), len(folds)


def _beats_numbers(table: str, method: str) -> str:
    where = paper.TABLE2 if table == "T2" else paper.TABLE3
    wins, n = _wins(where, method, "baseline")
    return (f"Table {table[1]} mean accuracy (%): baseline {_means(where, 'baseline')}, {method} "
            f"{_means(where, method)}; {method} higher on {wins} of {n} splits")


CLAIMS = _f.ClaimSet("C19")
for _table, _name in (("T2", "UrbanSound8K"), ("T3", "ESC-50")):
    for _method in ("mel", "resize"):
        CLAIMS.add(id=f"C19-{_table}-{_method}-beats-baseline", quote=CONCLUSION,
                   where=f"sec. 4; sec. 3.1, Table {_table[1]} ({_name})", paper_numbers=_beats_numbers(_table, _method),
                   metric=f"accuracy({_method}) - accuracy(baseline) on {_name}"
                          + (" (ESC-10 standing in)" if _table == "T3" else "") + ", paired by seed x fold",
                   direction="greater", scale_needed=FULL_SCALE)
CLAIMS.add(id="C19-s3.1-mel-ahead-of-resize",
           quote="Looking at the aggregated data, it seems that mel-based resizing has a small advantage over "
                 "bi-linear resizing.",
           where="sec. 3.1, Tables 2 and 3, Figs. 2 and 3",
           paper_numbers=(f"means (%): Table 2 mel {_means(paper.TABLE2, 'mel')} vs resize "
                          f"{_means(paper.TABLE2, 'resize')}; Table 3 mel {_means(paper.TABLE3, 'mel')} vs resize "
                          f"{_means(paper.TABLE3, 'resize')}"),
           metric="accuracy(mel) - accuracy(resize), both datasets pooled, paired by dataset x seed x fold",
           direction="greater", scale_needed=FULL_SCALE)
CLAIMS.add(id="C19-s3.1-combined-beats-both",
           quote="It is thus likely that aggregating the two techniques can yield further gain in performances.",
           where="sec. 3.1 (future work), sec. 4",
           paper_numbers="none (left as future work); mel is ahead of resize on "
                         + "{} of {} splits in Table 2 and {} of {} in Table 3".format(
                             *_wins(paper.TABLE2, "mel", "resize"), *_wins(paper.TABLE3, "mel", "resize")),
           metric="accuracy(mel+resize) - max(accuracy(mel), accuracy(resize)) per replicate (beats both), "
                  "both datasets pooled",
           direction="greater", scale_needed=FULL_SCALE)
CLAIMS.add(id="C19-s3.1-mixup-flat-gain",
           quote="introducing a flat gain in accuracy with and without progressive resizing",
           where="sec. 3.1", paper_numbers="none given",
           metric="accuracy(with mixup) - accuracy(without), mean over the methods run both ways, the datasets it ran on pooled",
           direction="greater", scale_needed=FULL_SCALE + ", twice the arms")
CLAIMS.add(id="C19-s3.1-mixup-no-interaction",
           quote="other augmentation techniques such as Mix-up [19] didn't have any interaction with the proposed method",
           where="sec. 3.1", paper_numbers="none given",
           metric="[accuracy(progressive, mixup) - accuracy(progressive)] - [accuracy(baseline, mixup) - "
                  "accuracy(baseline)], the datasets it ran on pooled; equivalent within 2.5 accuracy points",
           direction="equivalent", margin=NO_INTERACTION_MARGIN,
           scale_needed="about 30 replicates per arm (the full profile with 3 seeds gives 45): about 20 GPU-hours")
CLAIMS.add(id="C19-s3-imagenet-speeds-convergence",
           quote="this initialization allowed shorter training duration (i.e. faster convergence), albeit it did "
                 "not have an impact on the final performances",
           where="sec. 3", paper_numbers="none given",
           metric="epochs to the final accuracy and final accuracy, ImageNet vs random initialisation",
           untestable="no ImageNet ResNet-34 weights on this machine and none can be downloaded; give a torchvision "
                      "resnet34 checkpoint as PRETRAINED (WIDTH 1.0) and run with and without it")


def accuracy_matrix(table: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """``metric`` per replicate: index ``(dataset, seed, fold)``, columns ``(method, mixup)``.

    A (replicate, arm) measured twice is an error; ``seed`` defaults to 0 when absent.
    """
    rows = table[table["metric"] == metric]
    if "seed" not in rows:
        rows = rows.assign(seed=0)
    keys = ["dataset", "seed", "fold", "method", "mixup"]
    if rows.duplicated(keys).any():
        raise ValueError(f"C19: {metric} appears more than once for some (dataset, seed, fold, method, mixup)")
    return rows.set_index(keys)["value"].astype(float).unstack(["method", "mixup"]).sort_index()


def _col(m: pd.DataFrame, method: str, mixup: bool = False) -> pd.Series | None:
    return m[(method, mixup)] if (method, mixup) in m.columns else None


def _present(values: pd.Series) -> pd.Series | None:
    """The replicates of the datasets where every arm of an effect ran (``None`` when there are none)."""
    values = values.dropna()
    return values if len(values) else None


def effects(table: pd.DataFrame, metric: str = "accuracy") -> tuple[dict[str, pd.Series | None], dict[str, str]]:
    """Per-replicate effect of every testable claim, and a note for each that could not be measured.

    Returns:
        ``({claim id: Series of per-replicate values or None}, {claim id: note})``. Replicates
        where an arm is missing are an error (arms must share seeds and folds), not dropped.
    """
    m = accuracy_matrix(table, metric)
    partial = m.isna().groupby(level="dataset").agg(lambda v: 0 < v.sum() < len(v))
    if partial.any().any():
        bad = sorted({(d, c) for c in partial.columns for d in partial.index[partial[c]]})
        raise ValueError(f"C19: arms {bad} lack some replicates of the others in their dataset; arms must share "
                         "seeds and folds")
    out, notes = {}, {}
    datasets = list(dict.fromkeys(m.index.get_level_values("dataset")))
    for table_id in ("T2", "T3"):
        here = [d for d in datasets if TABLE_OF.get(d, "T3") == table_id]
        for method in ("mel", "resize"):
            cid = f"C19-{table_id}-{method}-beats-baseline"
            a, b = _col(m, method), _col(m, "baseline")
            if not here or a is None or b is None:
                out[cid] = None
                notes[cid] = ("no dataset for this table ran" if not here else f"{method} or baseline not run")
                continue
            sel = m.index.get_level_values("dataset").isin(here)
            out[cid] = _present((a - b)[sel])
    mel, res, comb = _col(m, "mel"), _col(m, "resize"), _col(m, "mel+resize")
    out["C19-s3.1-mel-ahead-of-resize"] = None if mel is None or res is None else _present(mel - res)
    out["C19-s3.1-combined-beats-both"] = (None if mel is None or res is None or comb is None
                                           else _present(comb - np.maximum(mel, res)))
    mixed = [meth for meth, mix in m.columns if mix and (meth, False) in m.columns]
    gains = {meth: m[(meth, True)] - m[(meth, False)] for meth in mixed}
    out["C19-s3.1-mixup-flat-gain"] = (_present(pd.concat(gains, axis=1).mean(axis=1, skipna=False))
                                       if gains else None)
    prog = [meth for meth in mixed if meth != "baseline"]
    out["C19-s3.1-mixup-no-interaction"] = (
        _present(pd.concat({p: gains[p] - gains["baseline"] for p in prog}, axis=1).mean(axis=1, skipna=False))
        if prog and "baseline" in gains else None)
    for cid in ("C19-s3.1-mel-ahead-of-resize", "C19-s3.1-combined-beats-both", "C19-s3.1-mixup-flat-gain",
                "C19-s3.1-mixup-no-interaction"):
        if out[cid] is None:
            notes[cid] = "the arms it compares were not run (METHODS / MIXUP_METHODS)"
    return out, notes


def high_rate_epochs(dataset: str, threshold: float = 1e-4) -> dict[str, int]:
    """Epochs of Table 1 whose last-layer peak rate is at least ``threshold``, baseline vs progressive.

    >>> high_rate_epochs("urbansound8k")
    {'baseline': 20, 'progressive': 80}
    """
    rates = paper.TABLE1_RATES[paper.rate_column(dataset)]
    count = {"baseline": 0, "progressive": 0}
    for name, epochs in paper.TABLE1_EPOCHS.items():
        if rates[name] >= threshold:
            count["progressive" if "R" in name else "baseline"] += epochs
    return count


def findings(table: pd.DataFrame, *, scale: str, metric: str = "accuracy", lr_policy: str = "table1") -> pd.DataFrame:
    """The findings table of a C19 run: one row per claim of :data:`CLAIMS`.

    Args:
        table: the run's tidy rows (``dataset, seed, fold, method, mixup, metric, value``).
        scale: the scale the run measured at.
        metric: ``accuracy`` (the best epoch on the held-out fold, the paper's procedure) or
            ``accuracy_last_epoch``.
        lr_policy: the run's rate policy (the note on the baseline claims depends on it).
    """
    measured, notes = effects(table, metric)
    rows = table[table["metric"] == metric]
    seeds = rows["seed"].nunique() if "seed" in rows else 1
    per = rows.groupby("dataset")["fold"].nunique().to_dict()
    replicates = f"{seeds} seeds x held-out folds ({', '.join(f'{d}: {n}' for d, n in per.items())})"
    if lr_policy == "table1":
        for cid in measured:
            if "beats-baseline" in cid and measured[cid] is not None:
                ds = "urbansound8k" if "-T2-" in cid else "esc50"
                hr = high_rate_epochs(ds)
                notes[cid] = "; ".join(filter(None, [notes.get(cid, ""), (
                    f"Table 1 as written gives the baseline {hr['baseline']} of its 190 epochs at a last-layer "
                    f"rate >= 1e-4 and the progressive methods {hr['progressive']} of their 170 ({ds} rates)")]))
    # an effect whose arms or dataset this run left out was not measured (inconclusive), not untestable
    measured = {cid: v for cid, v in measured.items() if v is not None}
    return _f.judge(CLAIMS.claims, measured, scale=scale, replicates=replicates, notes=notes)
