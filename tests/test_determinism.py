"""Same seed, same profile, same machine: identical tables.

The ``smoke`` profile of the data tour and of the H17 architecture notebook runs twice on the CPU
with the same seeds, through the runner (papermill): the first run is the shared smoke run of every
notebook (``smoke_runs`` in ``conftest.py``), the second a fresh one into another results root, and
every table CSV must be equal to the last bit, except wall-clock measurements.

The rule for wall-clock measurements (the only values allowed to differ): a row whose ``metric``
names a time or a speed, and a column whose name does, where "names a time or a speed" means the
name contains one of :data:`WALL_CLOCK_WORDS` (case-insensitive), e.g. ``train_seconds``,
``eval_seconds``, ``examples_per_second``, ``train_hours``, ``wall_time_s``. Positions inside a
recording (``start_s``, ``end_s``) are not wall-clock and are compared. The first run computes the
log-mel features into an empty feature cache and the second reads them back, so the comparison
also covers "computed" against "cached".

The training loop's own repeatability (same seed -> the same weights, bit for bit, whatever the
number of loader workers, and after a resume from a checkpoint) is tested in ``test_train.py``.
GPU runs are not covered: see the README's section on determinism for the GPU paths that are not
bitwise reproducible.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from audiolib import experiments, run

WALL_CLOCK_WORDS = ("second", "seconds", "time", "hours", "duration", "elapsed", "throughput", "latency", "wall")
NOTEBOOKS = ("00_data_tour", "01_architectures")


def is_wall_clock(name: str) -> bool:
    """Whether a metric or column name is a wall-clock time or speed (see the module docstring)."""
    name = str(name).lower()
    return any(word in name for word in WALL_CLOCK_WORDS)


def comparable(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` without wall-clock rows and columns, in a canonical row order."""
    keep_columns = [c for c in table.columns if not is_wall_clock(c)]
    rows = ~table["metric"].astype(str).map(is_wall_clock) if "metric" in table else slice(None)
    return table.loc[rows, keep_columns].reset_index(drop=True)


def test_the_wall_clock_rule():
    table = pd.DataFrame({
        "metric": ["AUC", "train_seconds", "examples_per_second", "steps", "train_hours", "mAP"],
        "value": [0.8, 12.5, 300.0, 10, 1.0, 0.3],
        "start_s": [0.0, 0.96, 1.92, 2.88, 3.84, 4.8],
        "wall_time_s": [1.0] * 6,
    })
    kept = comparable(table)
    assert kept["metric"].tolist() == ["AUC", "steps", "mAP"]
    assert list(kept.columns) == ["metric", "value", "start_s"]


@pytest.mark.slow
@pytest.mark.timeout(1500)
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_same_seed_same_profile_same_tables(name, smoke_runs, tmp_path, monkeypatch):
    """The smoke run (features computed into an empty cache) against a second run reading that cache."""
    _, data, runs = smoke_runs
    exp = experiments.EXPERIMENTS[name]
    first, status = runs[name]
    assert status == "complete", f"{name} (first run) failed"
    monkeypatch.setenv("AUDIOLIB_DATA", str(data))
    values = {**exp.parameters("smoke"), "DEVICE": "cpu"}
    second, status = run.execute(exp, values, "smoke", tmp_path / "second")
    meta = json.loads((second / "meta.json").read_text())
    assert status == "complete", f"{name} (second run) failed: {meta.get('error')}"
    folders = [first, second]

    tables = sorted(p.name for p in first.glob("*.csv"))
    assert tables and tables == sorted(p.name for p in second.glob("*.csv"))
    for table in tables:
        a, b = pd.read_csv(first / table), pd.read_csv(second / table)
        assert list(a.columns) == list(b.columns), table
        pd.testing.assert_frame_equal(comparable(a), comparable(b), check_exact=True, obj=f"{name}/{table}")

    meta_a, meta_b = (json.loads((f / "meta.json").read_text()) for f in folders)
    for key in ("tables", "figures"):
        assert meta_a[key] == meta_b[key], key
    assert {k: v["fingerprint"] for k, v in meta_a["data"].items()} == \
        {k: v["fingerprint"] for k, v in meta_b["data"].items()}
    params_a, params_b = (dict(m["parameters"], RUN_DIR=None) for m in (meta_a, meta_b))
    assert params_a == params_b
