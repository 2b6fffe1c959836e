"""audiolib.distributed: process-group helpers, gathering across ranks, the torchrun notebook runner.

Multi-process tests use 2 CPU processes with the gloo backend (what this machine has); the NCCL
path differs only in the backend name and the device of the tensors.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from audiolib import distributed

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = str(Path(sys.executable).with_name("torchrun"))


def test_single_process_helpers_are_no_ops():
    info = distributed.init_distributed(device="cpu")
    assert (info.rank, info.world_size, info.backend) == (0, 1, None)
    assert distributed.rank() == 0 and distributed.world_size() == 1 and distributed.is_main_process()
    t = torch.arange(6).reshape(3, 2)
    assert distributed.all_gather_tensor(t) is t
    assert distributed.all_gather_object({"a": 1}) == [{"a": 1}]
    assert distributed.reduce_mean({"x": 2.0}) == {"x": 2.0}
    assert distributed.broadcast_object("x") == "x"
    distributed.barrier()
    distributed.cleanup()


@pytest.mark.parametrize("n, world", [(10, 3), (2, 4), (0, 2), (7, 1)])
def test_shard_range_partitions_rows(n, world):
    ranges = [distributed.shard_range(n, r, world) for r in range(world)]
    rows = [i for a, b in ranges for i in range(a, b)]
    assert rows == list(range(n))
    assert max(b - a for a, b in ranges) - min(b - a for a, b in ranges) <= 1


def test_torchrun_command():
    assert distributed.torchrun_command(4, "--only", "01") == [
        "torchrun", "--standalone", "--nproc_per_node=4", "-m", "audiolib.distributed", "--only", "01"]
    cmd = distributed.torchrun_command(8, "--profile", "full", nnodes=2, node_rank=1, rdzv_endpoint="n0:29500")
    assert cmd[:7] == ["torchrun", "--nnodes=2", "--node_rank=1", "--nproc_per_node=8", "--rdzv_backend=c10d",
                       "--rdzv_endpoint=n0:29500", "--rdzv_id=audiolib"]
    with pytest.raises(ValueError, match="rdzv_endpoint"):
        distributed.torchrun_command(8, nnodes=2)


def test_init_distributed_rejects_nccl_on_cpu(monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    with pytest.raises(ValueError, match="nccl"):
        distributed.init_distributed("nccl", device="cpu")
    with pytest.raises(ValueError, match="backend"):
        distributed.init_distributed("mpi", device="cpu")


def collectives_job() -> dict:
    """Rank r holds r + 1 rows; gathers, weighted means and a broadcast."""
    r = distributed.rank()
    rows = torch.arange(2 * (r + 1), dtype=torch.float32).reshape(r + 1, 2) + 10 * r
    return {
        "rank": r,
        "world": distributed.world_size(),
        "gathered": distributed.all_gather_tensor(rows).tolist(),
        "objects": distributed.all_gather_object({"rank": r}),
        "mean": distributed.reduce_mean({"a": float(r), "b": 2.0 * r + 1}, weight=r + 1),
        "tensor_mean": distributed.reduce_mean(torch.tensor([float(r), 4.0])).tolist(),
        "broadcast": distributed.broadcast_object(f"from rank {r}"),
    }


def failing_job() -> None:
    raise RuntimeError("this rank fails on purpose")


def test_launch_runs_collectives_on_two_gloo_processes():
    out = distributed.launch(collectives_job, 2, device="cpu", timeout_s=120)
    expected_rows = [[0.0, 1.0], [10.0, 11.0], [12.0, 13.0]]
    for r, res in enumerate(out):
        assert res["rank"] == r and res["world"] == 2
        assert res["gathered"] == expected_rows
        assert res["objects"] == [{"rank": 0}, {"rank": 1}]
        assert res["mean"] == pytest.approx({"a": 2 / 3, "b": (1 * 1 + 2 * 3) / 3})
        assert res["tensor_mean"] == pytest.approx([0.5, 4.0])
        assert res["broadcast"] == "from rank 0"
    with pytest.raises(RuntimeError, match="rank 0.*fails on purpose"):
        distributed.launch(failing_job, 1, device="cpu", timeout_s=120)


def _notebook(path: Path, body: str) -> Path:
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": "# A tiny experiment\n"},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": "%matplotlib inline\nimport pandas as pd\nimport torch\n"
                   "from audiolib import distributed, results\nfrom audiolib.data.patches import PatchSet\n"
                   "from audiolib.models import create_model\nfrom audiolib.train import TrainConfig, fit\n"},
        {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "execution_count": None, "outputs": [],
         "source": 'STEPS: int = 4  # > 0\nPROFILE: str = "quick"  # {"smoke", "quick", "full"}\n'
                   'RUN_DIR: str = ""  # run folder made by the runner; empty: a new one\n'
                   'SEED: int = 0  # >= 0\nDEVICE: str = "auto"  # {"auto", "cpu", "cuda"}\n'},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": body},
    ]
    nb = {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                      "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return path


TRAIN_BODY = """\
run = results.start_run("nb_ddp", {"STEPS": STEPS, "PROFILE": PROFILE, "SEED": SEED}, run_dir=RUN_DIR)
torch.manual_seed(SEED)
x = torch.randn(32, 8, 6)
y = (x.mean((1, 2)) > 0).float()[:, None]
data = PatchSet(x, y, torch.arange(32), y, [str(i) for i in range(32)], ["positive"])
model = create_model("fc_audio", 1, layers=1, units=8, input_shape=(1, 8, 6))
history = fit(model, data, TrainConfig(steps=STEPS, batch_size=8, device=DEVICE, progress=False)).history
table = pd.DataFrame({"metric": ["final_loss", "world_size", "steps"],
                      "value": [history["loss"].iloc[-1], distributed.world_size(), len(history)]})
run.save_table("summary", table, describes="a test table", data="random numbers")
display(table)
run.finish()
"""


def test_notebook_runs_under_torchrun_and_only_rank_zero_writes(tmp_path):
    notebook = _notebook(tmp_path / "nb_ddp.ipynb", TRAIN_BODY)
    results_root = tmp_path / "results"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([TORCHRUN, "--standalone", "--nproc_per_node=2", "-m", "audiolib.distributed",
                           "--notebook", str(notebook), "--results", str(results_root), "--device", "cpu",
                           "--profile", "smoke", "--set", "STEPS=3"], env=env, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    runs = [p for p in (results_root / "nb_ddp").iterdir() if p.is_dir()]
    assert len(runs) == 1  # one run folder, written by rank 0 alone
    folder = runs[0]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["status"] == "complete"
    assert meta["launcher"] == {"name": "torchrun", "world_size": 2, "backend": "gloo"}
    assert meta["parameters"]["STEPS"] == 3 and meta["parameters"]["PROFILE"] == "smoke"
    table = pd.read_csv(folder / "summary.csv").set_index("metric")["value"]
    assert table["world_size"] == 2 and table["steps"] == 3
    executed = json.loads((folder / "notebook.ipynb").read_text())
    injected = [c for c in executed["cells"] if "injected-parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(injected) == 1 and "STEPS = 3" in injected[0]["source"]
    assert sorted(p.name for p in folder.iterdir()) == ["meta.json", "notebook.ipynb", "summary.csv"]
    assert "final_loss" in proc.stdout  # rank 0's display()


def test_runner_marks_a_failing_notebook_and_checks_parameters(tmp_path):
    body = 'run = results.start_run("nb_fail", {}, run_dir=RUN_DIR)\nraise RuntimeError("boom in a cell")\n'
    notebook = _notebook(tmp_path / "nb_fail.ipynb", body)
    results_root = tmp_path / "results"
    code = distributed.main(["--notebook", str(notebook), "--results", str(results_root), "--device", "cpu"])
    assert code == 1
    (folder,) = [p for p in (results_root / "nb_fail").iterdir() if p.is_dir()]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["status"] == "failed" and "boom in a cell" in meta["error"]
    from audiolib.params import ParameterError

    with pytest.raises(ParameterError, match="STEPS"):
        distributed.main(["--notebook", str(notebook), "--results", str(results_root), "--set", "STEPS=0"])
    with pytest.raises(FileNotFoundError, match="missing.ipynb"):
        distributed.main(["--notebook", str(tmp_path / "missing.ipynb"), "--results", str(results_root)])
