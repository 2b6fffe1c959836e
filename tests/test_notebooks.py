"""Smoke runs: every registered notebook through papermill in the smoke profile.

Tests read files, not cell outputs: each run folder must hold the declared tables (tidy CSV,
non-empty), figures (PNG and SVG), the executed notebook and a complete meta.json.
"""

from __future__ import annotations

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
        table = pd.read_csv(folder / "findings.csv")
        assert len(table) > 0 and set(table["verdict"]) <= set(findings.VERDICTS), f"{name}: bad findings verdicts"
        assert set(findings.FINDINGS_COLUMNS) <= set(table.columns), f"{name}: findings lacks columns"
        assert table["claim_id"].is_unique, f"{name}: a claim appears twice in findings"
        assert (table["paper"] == exp.paper).all(), f"{name}: findings of another paper"
