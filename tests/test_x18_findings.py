"""X18 findings: the report's numbers and quotes against its text, the per-seed effects on
constructed tables with known answers, and the smoke run's findings table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audiolib import findings, paths, reference
from audiolib.x18 import claims, effects, paper
from audiolib.x18.studies import AVERAGE

needs_papers = pytest.mark.skipif(paths.papers_root() is None, reason="the papers' text (../shared/papers) is absent")


# -- the report's numbers and sentences ---------------------------------------------------------
@needs_papers
def test_paper_numbers_are_in_the_text():
    rows = paper.paper_numbers()
    assert reference.check_numbers(rows, "X18") == []
    text = reference.paper_text("X18")
    for printed in paper.TABLE2_SPEED["quoted"]:
        assert printed in text
    assert paper.FEATURES in text and paper.SMALL_DATA in text and paper.BIG_DATA in text


def test_paper_tables_hold_the_reports_values():
    t3 = paper.TABLE3.set_index(["model", "metric"])["value"]
    assert t3[("fully_connected", "AUC")] == 0.942 and t3[("fully_connected", "AP")] == 0.220
    assert t3[("convolutional", "AUC")] == 0.926 and t3[(AVERAGE, "AP")] == 0.258
    t4 = paper.TABLE4.set_index(["model", "metric"])["value"]
    assert t4.to_dict() == {("fully_connected", "AUC"): 0.944, ("fully_connected", "AP"): 0.232,
                            ("residual", "AUC"): 0.942, ("residual", "AP"): 0.210}
    t2 = paper.TABLE2.set_index(["framework", "metric"])["value"]
    assert t2[("Pytorch", "AUC")] == 0.941 and t2[("Mxnet", "AP")] == 0.198
    assert set(paper.TABLE3["where"]) == {"Table 3"} and set(paper.TABLE4["where"]) == {"Table 4"}
    assert {reference.parse_quoted(q) for q in paper.TABLE3["quoted"]} == set(paper.TABLE3["value"])
    # the AudioSet baseline pair 0.314 / 0.959 is not Xu's
    assert not paper.paper_numbers()["value"].isin([0.314, 0.959]).any()
    assert paper.speed_seconds("2m33s") == 153.0
    speed = paper.TABLE2_SPEED.set_index("framework")["value"]
    assert speed.to_dict() == {"Tensorflow": 153.0, "Pytorch": 133.0, "Mxnet": 134.0}
    with pytest.raises(ValueError, match="not a printed duration"):
        paper.speed_seconds("fast")


@needs_papers
def test_every_claim_quote_is_in_the_text():
    assert findings.check_quotes(claims.CLAIMS.claims, reference.paper_text("X18")) == []


def test_claims_are_well_formed():
    ids = [c.id for c in claims.CLAIMS.claims]
    assert len(ids) == len(set(ids)) and all(i.startswith("X18-") for i in ids)
    by_id = claims.CLAIMS.by_id()
    for cid in ("X18-F2-dropout-no-effect", "X18-F5-weight-scale-final-equal", "X18-F6-width-final-equal"):
        assert by_id[cid].direction == "equivalent" and by_id[cid].margin == claims.FINAL_MARGIN
    for cid in ("X18-F5-weight-scale-speed", "X18-F6-width-speed"):
        assert by_id[cid].direction == "greater" and by_id[cid].margin == claims.SPEED_MARGIN


# -- the statistics -----------------------------------------------------------------------------
def test_convergence_and_overfitting():
    assert effects.convergence([10, 20, 30, 40], [0.6, 0.8, 0.95, 0.96]) == 0.75
    assert effects.convergence([10, 20], [0.4, 0.45]) == 1.0  # never above chance
    assert effects.convergence([5, 10, 20], [0.9, 0.9, 0.9]) == 0.25
    assert effects.overfitting([0.6, 0.9, 0.85]) == pytest.approx(0.05)
    assert effects.overfitting([0.6, 0.7, 0.8]) == 0.0
    assert effects.loss_rise([0.5, 0.3, 0.4]) == pytest.approx(0.1) and effects.loss_rise([0.5, 0.4]) == 0.0
    with pytest.raises(ValueError):
        effects.convergence([], [])


def _arch(fc, res, conv, avg, seeds=(0, 1, 2)):
    rows = []
    for s in seeds:
        for model, v in (("fully_connected", fc), ("residual", res), ("convolutional", conv), (AVERAGE, avg)):
            rows.append({"dataset": "d", "model": model, "seed": s, "metric": "AP", "value": v + 0.001 * s})
            rows.append({"dataset": "d", "model": model, "seed": s, "metric": "AUC", "value": 0.9})
    return pd.DataFrame(rows)


def _curve_rows(factor, setting, seed, values):
    return [{"dataset": "d", "factor": factor, "setting": str(setting), "seed": seed, "step": 10 * (i + 1),
             "epoch": float(i + 1), "metric": "val_AUC", "value": v} for i, v in enumerate(values)]


def _sweeps(seeds=(0, 1, 2)):
    """Known answers: dropout changes nothing; width changes the final AUC by 0.1 and the speed a
    lot; big data overfits less and converges later; L2 1e-3 beats none and is chosen."""
    table, curves = [], []
    fast, slow = [0.95, 0.96, 0.96, 0.96], [0.55, 0.6, 0.7, 0.96]
    for s in seeds:
        jitter = 0.0005 * s
        for d in (0.0, 0.5):
            table.append({"dataset": "d", "factor": "dropout", "setting": str(d), "seed": s, "metric": "test_AUC",
                          "value": 0.9 + jitter + 0.001 * d})
            curves += _curve_rows("dropout", d, s, fast)
        for w, auc, curve in ((0.25, 0.8, slow), (1.0, 0.9, fast)):
            table.append({"dataset": "d", "factor": "width", "setting": str(w), "seed": s, "metric": "test_AUC",
                          "value": auc + jitter})
            curves += _curve_rows("width", w, s, curve if w == 1.0 else [0.55, 0.6, 0.7, 0.96 - 0.01 * (s + 1)])
        for frac, ap, curve in ((0.1, 0.2, [0.9, 0.95, 0.8, 0.7]), (1.0, 0.3, slow)):
            table.append({"dataset": "d", "factor": "data_fraction", "setting": str(frac), "seed": s,
                          "metric": "test_AP", "value": ap + jitter, "train_clips": 10 if frac < 1 else 100})
            curves += _curve_rows("data_fraction", frac, s, curve)
        for l2, auc, curve in ((0.0, 0.80, [0.6, 0.9, 0.8, 0.7]), (0.0001, 0.82, [0.6, 0.85, 0.85, 0.85]),
                               (0.001, 0.85, [0.9, 0.95, 0.95, 0.95])):
            table.append({"dataset": "d", "factor": "l2", "setting": str(l2), "seed": s, "metric": "test_AUC",
                          "value": auc + jitter})
            curves += _curve_rows("l2", l2, s, curve)
    return pd.DataFrame(table), pd.DataFrame(curves)


def test_overfitting_is_the_validation_loss_rise_when_recorded():
    curves = pd.DataFrame(_curve_rows("width", 1.0, 0, [0.6, 0.9, 0.8])
                          + [{**r, "metric": "val_loss", "value": v}
                             for r, v in zip(_curve_rows("width", 1.0, 0, [0, 0, 0]), [0.5, 0.2, 0.35])])
    stats = effects.curve_statistics(curves).set_index("metric")["value"]
    assert stats["overfitting"] == pytest.approx(0.15) and stats["peak"] == 0.9


def test_measure_gives_known_effects():
    sweeps, curves = _sweeps()
    measured, notes = effects.measure(_arch(0.30, 0.25, 0.20, 0.35), sweeps, curves, dataset="d")
    np.testing.assert_allclose(measured["X18-T3-fc-best"], 0.05)
    np.testing.assert_allclose(measured["X18-T3-average-best"], 0.05)
    np.testing.assert_allclose(measured["X18-F2-dropout-no-effect"], 0.0005)
    np.testing.assert_allclose(measured["X18-F6-width-final-equal"], 0.1)
    np.testing.assert_allclose(measured["X18-F3-l2-matters"], 0.05)
    assert "seed 0: 0.001" in notes["X18-F3-l2-matters"]
    np.testing.assert_allclose(measured["X18-F3-l2-less-overfitting"], 0.2)
    np.testing.assert_allclose(measured["X18-F4-big-data-less-overfitting"], 0.25)
    np.testing.assert_allclose(measured["X18-T4-big-data-better"], 0.1)
    assert (measured["X18-F4-big-data-slower"] > 0).all() and (measured["X18-F6-width-speed"] >= 0.5).all()
    assert "X18-F5-weight-scale-speed" not in measured and "not in the parameters" in notes["X18-F5-weight-scale-speed"]


def test_findings_verdicts_on_constructed_tables():
    sweeps, curves = _sweeps()
    table = effects.findings(_arch(0.30, 0.25, 0.20, 0.35), sweeps, curves, dataset="d", scale="constructed")
    assert list(table["claim_id"]) == [c.id for c in claims.CLAIMS.claims]
    v = table.set_index("claim_id")["verdict"]
    assert v["X18-T3-fc-best"] == "reproduced" and v["X18-T3-average-best"] == "reproduced"
    assert v["X18-F2-dropout-no-effect"] == "reproduced"
    assert v["X18-F6-width-final-equal"] == "contradicted"  # spread 0.1, far outside the 0.01 margin
    assert v["X18-F6-width-speed"] == "reproduced"
    assert v["X18-F3-l2-matters"] == "reproduced" and v["X18-T4-big-data-better"] == "reproduced"
    assert v["X18-F5-weight-scale-final-equal"] == "inconclusive"  # not run: no weight-scale sweep here
    assert (table.set_index("claim_id").loc["X18-T3-fc-best", "n"]) == 3
    # the residual network best: fully connected is contradicted
    worse = effects.findings(_arch(0.20, 0.30, 0.25, 0.35), sweeps, curves, dataset="d", scale="constructed")
    assert worse.set_index("claim_id").loc["X18-T3-fc-best", "verdict"] == "contradicted"


def test_tables_beside_the_report():
    from audiolib import x18

    arch = _arch(0.30, 0.25, 0.20, 0.35).assign(embedder="toy")
    t3 = x18.table3_beside(arch).set_index(["model", "metric"])
    assert t3.loc[("fully_connected", "AP"), "paper"] == "0.220" and t3.loc[(AVERAGE, "AUC"), "paper"] == "0.949"
    assert t3.loc[("fully_connected", "AP"), "n"] == 3
    sweeps, _ = _sweeps()
    sweeps = pd.concat([sweeps, sweeps[sweeps["factor"] == "data_fraction"].assign(metric="test_AUC")])
    t4 = x18.table4_beside(sweeps.assign(embedder="toy")).set_index(["paper_data", "metric"])
    assert t4.loc[(paper.BIG_DATA, "AP"), "paper"] == "0.232" and t4.loc[(paper.SMALL_DATA, "AUC"), "paper"] == "0.942"
    assert "100 training clips" in t4.loc[(paper.BIG_DATA, "AP"), "ours"]


# -- the smoke run --------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_smoke_run_findings_hold_every_claim(tmp_path, monkeypatch):
    from audiolib import experiments, params, run

    monkeypatch.setenv("AUDIOLIB_DATA", str(tmp_path / "data"))
    exp = experiments.EXPERIMENTS["06_embedding_classifiers"]
    values = {**exp.parameters("smoke"), "DEVICE": "cpu"}
    params.validate(exp.notebook, values)
    folder, status = run.execute(exp, values, "smoke", tmp_path / "results")
    assert status == "complete", f"see {folder / 'notebook.ipynb'}"
    table = pd.read_csv(folder / "findings.csv")
    assert set(table["claim_id"]) == {c.id for c in claims.CLAIMS.claims}
    assert set(table["verdict"]) <= set(findings.VERDICTS)
    for name in ("table3_architectures", "sweeps", "table2_backends"):
        assert pd.read_csv(folder / f"{name}.csv")["embedder"].notna().all()
