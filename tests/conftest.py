"""Shared fixtures: the real data subsets (skipped with a reason when absent) and a results root."""

from __future__ import annotations

import os

import pytest
import torch

from audiolib import paths

# Two cores: keep torch from oversubscribing when tests run beside other work.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def shared_data():
    """``../shared/data`` (or ``$AUDIOLIB_SHARED_DATA``); skips the test when it is absent."""
    root = paths.shared_data_root()
    if root is None:
        pytest.skip("real data subsets not found: ../shared/data is absent and AUDIOLIB_SHARED_DATA is unset")
    return root


@pytest.fixture()
def results_root(tmp_path, monkeypatch):
    """A private results root, so tests never write into the project's results/."""
    root = tmp_path / "results"
    monkeypatch.setenv("AUDIOLIB_RESULTS", str(root))
    return root


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module: tiny models run faster so, and far faster on a busy CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory):
    """Every registered notebook run once through the runner in the smoke profile.

    Returns ``(results_root, {name: (run folder, status)})``. The runs use a fresh feature cache
    (``$AUDIOLIB_DATA`` in a temporary folder), so a later run with the same settings reads back
    what these computed: the determinism test compares the two. The notebook, determinism and
    report tests share these runs instead of each running the notebooks again.
    """
    from audiolib import experiments, params, run

    root = tmp_path_factory.mktemp("smoke-results")
    data = tmp_path_factory.mktemp("smoke-data")
    runs = {}
    with pytest.MonkeyPatch.context() as patch:   # only while the notebooks run
        patch.setenv("AUDIOLIB_DATA", str(data))
        for name, exp in sorted(experiments.EXPERIMENTS.items()):
            values = {**exp.parameters("smoke"), "DEVICE": "cpu"}
            params.validate(exp.notebook, values)
            runs[name] = run.execute(exp, values, "smoke", root)
    return root, data, runs
