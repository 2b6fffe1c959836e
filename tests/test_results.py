"""Run folders: new per run, tidy tables, figures, meta.json provenance, atomic writes, index."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from audiolib import results


def _table():
    return pd.DataFrame({"model": ["fc", "fc"], "metric": ["mAP", "AUC"], "value": [0.3, 0.8], "seed": [0, 0]})


def test_run_writes_table_figure_and_meta(results_root):
    run = results.start_run("demo", {"SEED": 0, "PROFILE": "smoke"})
    assert run.folder.parent.parent == results_root
    run.save_table("scores", _table(), describes="H17 Table 2", data="synthetic (smoke)")
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    run.save_figure("curve", fig, describes="H17 Figure 1", data="synthetic (smoke)")
    run.record_data("synthetic", "abc123", description="60 clips", unusable=[{"path": "x.wav", "reason": "empty"}])
    run.finish()

    meta = json.loads((run.folder / "meta.json").read_text())
    assert meta["status"] == "complete" and meta["profile"] == "smoke"
    for key in ("parameters", "git", "packages", "device", "wall_time_s", "data", "tables", "figures"):
        assert key in meta, key
    assert meta["tables"]["scores"]["describes"] == "H17 Table 2"
    assert meta["data"]["synthetic"]["unusable"][0]["reason"] == "empty"
    table = pd.read_csv(run.folder / "scores.csv")
    assert list(table.columns[:1]) == ["experiment"] and table["value"].tolist() == [0.3, 0.8]
    assert (run.folder / "curve.png").stat().st_size > 0 and (run.folder / "curve.svg").exists()
    assert not list(run.folder.glob(".*tmp*")), "temporary files left behind"

    index = pd.read_csv(results_root / "index.csv")
    assert index.loc[0, "status"] == "complete" and index.loc[0, "experiment"] == "demo"


def test_rerun_never_overwrites(results_root):
    a = results.start_run("demo", {"PROFILE": "smoke"})
    b = results.start_run("demo", {"PROFILE": "smoke"})
    assert a.folder != b.folder and a.folder.exists() and b.folder.exists()
    with pytest.raises(FileExistsError, match="never overwrites"):
        results.start_run("demo", {}, run_dir=a.folder)


def test_untidy_table_is_refused(results_root):
    run = results.start_run("demo", {})
    with pytest.raises(ValueError, match="not tidy"):
        run.save_table("wide", pd.DataFrame({"mAP": [0.3]}), describes="x", data="y")
    assert not (run.folder / "wide.csv").exists()


def test_interrupted_run_is_marked_incomplete(results_root):
    run = results.start_run("demo", {})
    run.save_table("scores", _table(), describes="x", data="y")
    # no finish(): as if the process was killed here
    runs = results.list_runs(results_root)
    assert runs.loc[0, "status"] == "incomplete"
    assert results.latest_run("demo", results_root) is None


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "t.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with results.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]
