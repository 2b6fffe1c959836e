"""X18's effects per replicate (seed), measured on a run's tidy tables, and the findings table.

The statistics of the learning-curve claims (see :mod:`audiolib.x18.claims`):

>>> convergence([10, 20, 30, 40], [0.60, 0.80, 0.95, 0.96])   # 0.5 + 0.9 * 0.46 = 0.914 first at step 30
0.75
>>> round(overfitting([0.60, 0.90, 0.85]), 3)
0.05
>>> round(loss_rise([0.30, 0.20, 0.26]), 3)
0.06
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from audiolib import findings as findings_mod

from .claims import CLAIMS
from .studies import AVERAGE


CHANCE = 0.5
#: Convergence: the first evaluation at which this share of the rise from chance to the peak is reached.
SHARE = 0.9


def convergence(steps: Sequence[float], values: Sequence[float], *, share: float = SHARE,
                chance: float = CHANCE) -> float:
    """Share of the run (``step / last step``) at which ``values`` first reach ``share`` of their
    rise from ``chance`` to their peak (1.0 when they never rise above chance)."""
    steps, values = np.asarray(steps, float), np.asarray(values, float)
    if steps.size == 0:
        raise ValueError("convergence needs at least one evaluation")
    peak = values.max()
    if peak <= chance:
        return 1.0
    first = int(np.argmax(values >= chance + share * (peak - chance)))
    return float(steps[first] / steps[-1])


def overfitting(values: Sequence[float]) -> float:
    """How far ``values`` (a validation curve) fall from their peak by the last evaluation."""
    values = np.asarray(values, float)
    return float(values.max() - values[-1])


def loss_rise(values: Sequence[float]) -> float:
    """How far ``values`` (a validation loss curve) rise from their minimum by the last evaluation."""
    values = np.asarray(values, float)
    return float(values[-1] - values.min())


def curve_statistics(curves: pd.DataFrame, metric: str = "val_AUC") -> pd.DataFrame:
    """Per run (dataset, factor, setting, seed): ``convergence`` and ``peak`` of ``metric``'s
    validation curve, and ``overfitting``: the rise of the validation loss from its minimum to
    the end (:func:`loss_rise`), or, for curves without a ``val_loss``, the fall of ``metric``
    from its peak (:func:`overfitting`). Tidy (``metric``, ``value``)."""
    keys = [k for k in ("dataset", "embedder", "factor", "setting", "seed") if k in curves.columns]
    rows = []
    losses = {key: g.sort_values("step")["value"].to_numpy()
              for key, g in curves[curves["metric"] == "val_loss"].groupby(keys, sort=False)}
    for key, g in curves[curves["metric"] == metric].groupby(keys, sort=False):
        g = g.sort_values("step")
        base = dict(zip(keys, key))
        over = loss_rise(losses[key]) if key in losses else overfitting(g["value"])
        rows += [{**base, "metric": "convergence", "value": convergence(g["step"], g["value"])},
                 {**base, "metric": "overfitting", "value": over},
                 {**base, "metric": "peak", "value": float(g["value"].max())}]
    return pd.DataFrame(rows)


def _settings(table: pd.DataFrame) -> list[str]:
    """The ``setting`` values of ``table`` in numeric order."""
    return sorted(set(table["setting"]), key=float)


def spread(table: pd.DataFrame, metric: str) -> pd.Series:
    """Per seed: max - min of ``metric`` over the settings of one factor."""
    rows = table[table["metric"] == metric]
    return rows.groupby("seed")["value"].agg(lambda v: float(v.max() - v.min()))


def _at(table: pd.DataFrame, metric: str, setting) -> pd.Series:
    """Per seed, ``metric`` at ``setting``: one setting, or per seed (a Series seed -> setting)."""
    rows = table[table["metric"] == metric]
    chosen = rows["seed"].map(setting) if isinstance(setting, pd.Series) else str(setting)
    return rows[rows["setting"] == chosen].set_index("seed")["value"].astype(float)


def chosen_on_validation(stats: pd.DataFrame, exclude: Sequence[str] = ()) -> pd.Series:
    """Per seed, the setting with the highest peak validation AUC (settings in ``exclude`` left out)."""
    peaks = stats[(stats["metric"] == "peak") & ~stats["setting"].isin(list(exclude))]
    return peaks.loc[peaks.groupby("seed")["value"].idxmax()].set_index("seed")["setting"]


def _still_rising(rows: pd.DataFrame) -> str:
    """A note naming the settings whose validation AUC reached 90 % of its rise only at the last
    evaluations in some seed: their "final" score is not final yet (more STEPS would tell)."""
    late = rows[(rows["metric"] == "convergence") & (rows["value"] >= 0.95)]
    if late.empty:
        return ""
    return (f"setting(s) {', '.join(_settings(late))} still rising at the end of the run: their final score is "
            "not reached, so the spread includes speed (more STEPS would separate the two)")


def measure(architectures: pd.DataFrame, sweeps: pd.DataFrame, curves: pd.DataFrame, *,
            dataset: str) -> tuple[dict[str, pd.Series], dict[str, str]]:
    """Per claim id, the per-seed effect on ``dataset`` (see each claim's ``metric``), and notes.

    ``architectures``: :func:`~audiolib.x18.studies.architecture_study` rows; ``sweeps`` and
    ``curves``: :func:`~audiolib.x18.studies.run_sweeps` output (a factor absent from them leaves
    its claims unmeasured, with a note).
    """
    measured: dict[str, pd.Series] = {}
    notes: dict[str, str] = {}
    arch = architectures[architectures["dataset"] == dataset]
    if not arch.empty:
        ap = arch[arch["metric"] == "AP"].pivot_table(index="seed", columns="model", values="value")
        singles = [m for m in ("fully_connected", "residual", "convolutional") if m in ap.columns]
        if {"fully_connected", "residual", "convolutional"} <= set(singles):
            measured["X18-T3-fc-best"] = ap["fully_connected"] - ap[["residual", "convolutional"]].max(axis=1)
        if AVERAGE in ap.columns and singles:
            measured["X18-T3-average-best"] = ap[AVERAGE] - ap[singles].max(axis=1)
    sweeps = sweeps[sweeps["dataset"] == dataset] if not sweeps.empty else sweeps
    stats = curve_statistics(curves[curves["dataset"] == dataset]) if not curves.empty else pd.DataFrame()
    both = pd.concat([sweeps, stats], ignore_index=True)

    def factor(name: str) -> pd.DataFrame:
        return both[both["factor"] == name] if not both.empty else both

    diverged = set(sweeps[sweeps["metric"] == "diverged"]["factor"]) if not sweeps.empty else set()
    # Figs. 2, 5, 6: the final score does not depend on the factor (and, Figs. 5-6, the speed does).
    for name, final, speed in (("dropout", "X18-F2-dropout-no-effect", None),
                               ("init_scale", "X18-F5-weight-scale-final-equal", "X18-F5-weight-scale-speed"),
                               ("width", "X18-F6-width-final-equal", "X18-F6-width-speed")):
        rows = factor(name)
        if rows.empty:
            continue
        measured[final] = spread(rows, "test_AUC")
        if speed:
            measured[speed] = spread(rows, "convergence")
            notes[final] = _still_rising(rows)
    w = factor("width")
    if not w.empty and len(_settings(w)) > 1:
        narrow, wide = _settings(w)[0], _settings(w)[-1]
        measured["X18-s3.4-overfitting-wide"] = _at(w, "overfitting", wide) - _at(w, "overfitting", narrow)
    r = factor("l2")
    if not r.empty:
        settings = _settings(r)
        none = [s for s in settings if float(s) == 0.0]
        if none and len(settings) > 1:
            chosen = chosen_on_validation(r, exclude=none)
            measured["X18-F3-l2-matters"] = _at(r, "test_AUC", chosen) - _at(r, "test_AUC", none[0])
            measured["X18-F3-l2-less-overfitting"] = _at(r, "overfitting", none[0]) - _at(r, "overfitting", chosen)
            measured["X18-F3-l2-faster"] = _at(r, "convergence", chosen) - _at(r, "convergence", none[0])
            notes["X18-F3-l2-matters"] = "L2 chosen per seed: " + ", ".join(f"seed {k}: {v}" for k, v in chosen.items())
        else:
            for cid in ("X18-F3-l2-matters", "X18-F3-l2-less-overfitting", "X18-F3-l2-faster"):
                notes[cid] = "L2S needs 0 and at least one positive strength"
    f = factor("data_fraction")
    if not f.empty and len(_settings(f)) > 1:
        small, big = _settings(f)[0], _settings(f)[-1]
        measured["X18-F4-big-data-less-overfitting"] = _at(f, "overfitting", small) - _at(f, "overfitting", big)
        measured["X18-F4-big-data-slower"] = _at(f, "convergence", big) - _at(f, "convergence", small)
        measured["X18-T4-big-data-better"] = _at(f, "test_AP", big) - _at(f, "test_AP", small)
        for cid in ("X18-F4-big-data-less-overfitting", "X18-F4-big-data-slower", "X18-T4-big-data-better"):
            notes[cid] = f"training share {small} vs {big} of the training clips (the report: about 20K vs 2M)"
    for claim in CLAIMS.claims:
        if claim.id not in measured and claim.id not in notes:
            notes[claim.id] = "its sweep or architecture is not in the parameters"
    for name in diverged:
        for claim in CLAIMS.claims:
            if claim.id in measured and name in claim.metric:
                notes[claim.id] = "; ".join(filter(None, [notes.get(claim.id, ""), f"a {name} setting diverged"]))
    return measured, notes


def findings(architectures: pd.DataFrame, sweeps: pd.DataFrame, curves: pd.DataFrame, *, dataset: str,
             scale: str, replicates: str = "") -> pd.DataFrame:
    """The findings table of notebook 06: every X18 claim, judged on ``dataset``'s runs.

    ``scale`` says what the run measured at (data, embedder, steps). A claim whose experiment did
    not run is kept as a row, inconclusive ("not measured in this run"), with the reason in its note.
    """
    measured, notes = measure(architectures, sweeps, curves, dataset=dataset)
    values = {cid: v.sort_index().to_numpy(dtype=float) for cid, v in measured.items()}
    if not replicates:
        n = max((len(v) for v in values.values()), default=0)
        replicates = f"{n} seed{'s' if n != 1 else ''}"
    return findings_mod.judge(CLAIMS.claims, values, scale=scale, replicates=replicates, notes=notes)
