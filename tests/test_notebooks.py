"""Smoke runs: every registered notebook through papermill in the smoke profile.

Tests read files, not cell outputs: each run folder must hold the declared tables (tidy CSV,
non-empty), figures (PNG and SVG), the executed notebook and a complete meta.json.
"""

from __future__ import annotations

import importlib
import json

import pandas as pd
import pytest

from audiolib import experiments, findings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.mark.parametrize("name", sorted(experiments.EXPERIMENTS))
def test_notebook_smoke(name, smoke_runs):
    exp = experiments.EXPERIMENTS[name]
    folder, status = smoke_runs[2][name]
    meta = json.loads((folder / "meta.json").read_text())
    assert status == "complete", f"{name} failed: {meta.get('error')} (see {folder / 'notebook.ipynb'})"
    assert meta["status"] == "complete" and meta["profile"] == "smoke"
    assert meta["parameters"]["PROFILE"] == "smoke"
    for key in ("git", "packages", "device", "wall_time_s", "data"):
        assert meta.get(key) is not None, f"{name}: meta.json lacks {key}"
    assert (folder / "notebook.ipynb").exists()
    for table in exp.tables:
        df = pd.read_csv(folder / f"{table}.csv")
        assert len(df) > 0, f"{name}: table {table} is empty"
        assert {"experiment", "metric", "value"} <= set(df.columns), f"{name}: {table} is not tidy"
        assert meta["tables"][table]["describes"] and meta["tables"][table]["data"]
    for figure in exp.figures:
        for ext in ("png", "svg"):
            assert (folder / f"{figure}.{ext}").stat().st_size > 0, f"{name}: {figure}.{ext} missing"
        assert meta["figures"][figure]["describes"]
    if exp.paper:
        check_findings(folder, exp)


def check_findings(folder, exp) -> pd.DataFrame:
    """A notebook that tests a paper's claims writes a findings table: one row per claim, verdicts allowed."""
    from audiolib.findings import FINDINGS_COLUMNS, VERDICTS

    path = folder / "findings.csv"
    assert path.exists(), f"{exp.name}: tests claims of {exp.paper} but wrote no findings.csv"
    findings = pd.read_csv(path)
    assert "verdict" in findings.columns and set(findings["verdict"]) <= set(VERDICTS), \
        f"{exp.name}: verdicts {sorted(set(findings['verdict']))} not in {VERDICTS}"
    assert set(FINDINGS_COLUMNS) <= set(findings.columns), f"{exp.name}: findings lacks columns"
    assert len(findings) > 0 and findings["claim_id"].is_unique
    assert (findings["paper"] == exp.paper).all()
    # a paper package that maps notebooks to claim ids (NOTEBOOK_CLAIMS) must see all of them
    try:
        declared = importlib.import_module(f"audiolib.{exp.paper.lower()}.claims").NOTEBOOK_CLAIMS
    except (ImportError, AttributeError):
        declared = {}
    expected = declared.get(exp.name[:2]) or declared.get(exp.name)
    if expected:
        assert sorted(findings["claim_id"]) == sorted(expected), f"{exp.name}: claim ids differ from the declared"
    return findings
