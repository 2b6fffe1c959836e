"""Unit tests of audiolib.train: batch order, losses, checkpoints, resume after a kill, DDP.

Tolerances: runs on one CPU process are compared exactly (``torch.equal``); a 2-process gloo
DDP run is compared with a single-process run of the same global batch within ``atol=1e-5``
on weights and losses (float32 sums in a different order: all-reduce of two half-batch
gradients versus one full-batch gradient).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from audiolib.data.patches import PatchSet
from audiolib.models import create_model
from audiolib.models.base import AudioClassifier
from audiolib.checkpoints import load_checkpoint, save_checkpoint
from audiolib.loaders import batch_indices
from audiolib.runtime import resolve_device
from audiolib.train import TrainConfig, clip_scores, evaluate, fit, loss_function, predict, speed_switches

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
TORCHRUN = str(Path(sys.executable).with_name("torchrun"))


def tiny_patches(n: int = 48, classes: int = 4, frames: int = 8, mels: int = 6, seed: int = 0) -> PatchSet:
    """``n`` patches of ``ceil(n / 4)`` clips (4 patches per clip, the last clip may have fewer)."""
    g = torch.Generator().manual_seed(seed)
    n_clips = (n + 3) // 4
    clip_targets = (torch.rand(n_clips, classes, generator=g) > 0.5).float()
    clip_index = torch.arange(n) // 4
    signal = torch.randn(classes, frames, mels, generator=g)  # a learnable pattern per class
    x = torch.randn(n, frames, mels, generator=g) + torch.einsum("nc,cfm->nfm", clip_targets[clip_index], signal)
    return PatchSet(x, clip_targets[clip_index], clip_index, clip_targets, [f"c{i}" for i in range(n_clips)],
                    [f"k{i}" for i in range(classes)])


def tiny_model(seed: int = 0, dropout: float = 0.0, classes: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    if dropout:
        trunk = nn.Sequential(nn.Flatten(), nn.Linear(48, 16), nn.ReLU())
        return AudioClassifier(trunk, 16, classes, dropout=dropout)
    return create_model("fc_audio", classes, layers=2, units=16, input_shape=(1, 8, 6))


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# --- batch order --------------------------------------------------------------------------------
def test_batch_indices_is_a_pure_function_and_covers_each_epoch():
    a = [batch_indices(50, 8, s, seed=3) for s in range(12)]
    b = [batch_indices(50, 8, s, seed=3) for s in reversed(range(12))][::-1]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    per_epoch = 50 // 8
    first = torch.cat(a[:per_epoch])
    assert len(set(first.tolist())) == per_epoch * 8  # no repeat inside an epoch
    assert not torch.equal(torch.cat(a[per_epoch:2 * per_epoch]), first)  # a new order next epoch
    assert not torch.equal(batch_indices(50, 8, 0, seed=4), a[0])
    assert batch_indices(5, 8, 0, seed=0).sort().values.tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="empty"):
        batch_indices(0, 8, 0, seed=0)


def test_fit_is_deterministic_and_independent_of_loader_workers():
    data = tiny_patches()
    runs = []
    for workers in (0, 0, 2):
        model = tiny_model(dropout=0.3)
        result = fit(model, data, TrainConfig(steps=6, batch_size=8, progress=False, num_workers=workers, seed=1))
        # the global generator after fit: seeded by fit, then used by dropout only (workers draw nothing)
        runs.append((weights(model), result.history["loss"].tolist(), torch.get_rng_state()))
    for w, losses, rng in runs[1:]:
        assert losses == runs[0][1]
        assert all(torch.equal(w[k], runs[0][0][k]) for k in w)
        assert torch.equal(rng, runs[0][2])


def test_log_every_keeps_one_row_per_step_and_same_result():
    data = tiny_patches()
    out = []
    for log_every in (1, 4):
        model = tiny_model()
        result = fit(model, data, TrainConfig(steps=7, batch_size=8, progress=False, log_every=log_every), val_set=data,
                     evaluate_fn=lambda m, d: {"mAP": 0.5})
        out.append((weights(model), result))
    (w1, r1), (w4, r4) = out
    assert r1.history["step"].tolist() == r4.history["step"].tolist() == list(range(1, 8))
    assert r1.history["loss"].tolist() == r4.history["loss"].tolist()
    assert r1.history["seconds"].notna().all()
    assert r4.history["seconds"].notna().tolist() == [False, False, False, True, False, False, True]
    assert all(torch.equal(w1[k], w4[k]) for k in w1)
    assert r1.examples_per_second > 0 and math.isfinite(r1.examples_per_second)


# --- losses -------------------------------------------------------------------------------------
def test_losses_match_their_formulas():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 3, generator=g)
    y = (torch.rand(6, 3, generator=g) > 0.5).float()
    p = torch.sigmoid(logits)
    cpu = torch.device("cpu")
    bce = -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()
    torch.testing.assert_close(loss_function(TrainConfig(loss="bce"), cpu)(logits, y), bce, atol=1e-6, rtol=0)
    w = torch.tensor([1.0, 2.0, 0.5])
    bce_w = -(w * y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()
    torch.testing.assert_close(loss_function(TrainConfig(loss="bce", pos_weight=w), cpu)(logits, y), bce_w,
                               atol=1e-6, rtol=0)
    onehot = torch.eye(3)[torch.tensor([0, 2, 1, 1, 0, 2])]
    ce = -(torch.log_softmax(logits, 1) * onehot).sum(1).mean()
    torch.testing.assert_close(loss_function(TrainConfig(loss="softmax_ce"), cpu)(logits, onehot), ce, atol=1e-6, rtol=0)
    torch.testing.assert_close(loss_function(TrainConfig(loss="mse"), cpu)(logits, y), ((p - y) ** 2).mean(),
                               atol=1e-7, rtol=0)


def test_non_finite_loss_is_reported_with_its_step():
    data = tiny_patches()
    data.patches[:] = float("nan")
    for log_every in (1, 3):
        with pytest.raises(FloatingPointError, match="at step 1;"):
            fit(tiny_model(), data, TrainConfig(steps=3, batch_size=8, progress=False, log_every=log_every))


@pytest.mark.parametrize("kwargs, match", [
    ({"steps": 0}, "steps"), ({"batch_size": 0}, "batch_size"), ({"loss": "hinge"}, "loss"),
    ({"optimizer": "lion"}, "optimizer"), ({"lr": 0}, "lr"), ({"num_workers": -1}, "num_workers"),
    ({"log_every": 0}, "log_every"), ({"checkpoint_every": 0}, "checkpoint_every"),
    ({"data_on_device": "yes"}, "data_on_device"),
])
def test_bad_config_names_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


# --- devices and speed switches -----------------------------------------------------------------
def test_speed_switches_leave_cpu_runs_unchanged():
    assert speed_switches("full", "cpu") == {"amp": False, "channels_last": False, "compile": False}
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            resolve_device("cuda")
    data = tiny_patches()
    plain, switched = tiny_model(), tiny_model()
    r0 = fit(plain, data, TrainConfig(steps=4, batch_size=8, progress=False, device="cpu"))
    r1 = fit(switched, data, TrainConfig(steps=4, batch_size=8, progress=False, device="cpu", amp=True,
                                         channels_last=True, data_on_device=True))
    assert r0.history["loss"].tolist() == r1.history["loss"].tolist()
    w0, w1 = weights(plain), weights(switched)
    assert all(torch.equal(w0[k], w1[k]) for k in w0)


def test_compiled_training_matches_eager_and_saves_plain_weights(tmp_path):
    """``compile=True`` through TorchDynamo (the 'eager' backend keeps the test fast on CPU)."""
    data = tiny_patches()
    plain, compiled = tiny_model(), tiny_model()
    fit(plain, data, TrainConfig(steps=3, batch_size=8, progress=False))
    fit(compiled, data, TrainConfig(steps=3, batch_size=8, progress=False, compile=True, compile_backend="eager",
                                    checkpoint_dir=tmp_path, checkpoint_every=3))
    w0, w1 = weights(plain), weights(compiled)
    assert all(torch.allclose(w0[k], w1[k], atol=1e-6) for k in w0)
    payload = torch.load(tmp_path / "last.pt", weights_only=True)
    assert set(payload["model"]) == set(w0)  # no "_orig_mod." prefixes


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (GPU-only path: bf16, channels_last, compile)")
def test_gpu_speed_path_trains_checkpoints_and_resumes(tmp_path):
    data = tiny_patches(n=256, frames=96, mels=64)
    torch.manual_seed(0)
    model = create_model("resnet50_audio", 4, width=0.125)
    switches = speed_switches("full", "cuda")
    assert switches == {"amp": True, "channels_last": True, "compile": True}
    config = dict(batch_size=32, progress=False, device="cuda", checkpoint_dir=tmp_path, checkpoint_every=5,
                  log_every=5, lr=3e-3, **switches)
    first = fit(model, data, TrainConfig(steps=10, **config))
    losses = first.history["loss"]
    assert losses.notna().all() and np.isfinite(losses).all()
    assert losses.iloc[-3:].mean() < losses.iloc[:3].mean()
    assert next(model.parameters()).device.type == "cuda"
    resumed = fit(model, data, TrainConfig(steps=15, **config))
    assert resumed.resumed_from == 10 and len(resumed.history) == 15
    cpu_model = create_model("resnet50_audio", 4, width=0.125)
    load_checkpoint(tmp_path / "last.pt", cpu_model)  # weights_only, onto the CPU
    scores = predict(model, data, device="cuda")
    np.testing.assert_allclose(predict(cpu_model, data, device="cpu"), scores, atol=2e-3)


# --- checkpoints --------------------------------------------------------------------------------
def test_checkpoints_load_with_weights_only_and_check_the_architecture(tmp_path):
    model = tiny_model()
    opt = torch.optim.Adam(model.parameters())
    path = save_checkpoint(tmp_path / "ck.pt", model, opt, step=5, history=[{"step": 5, "loss": 0.1}],
                           extra={"note": "x"})
    payload = torch.load(path, weights_only=True)  # must not need pickle of arbitrary objects
    assert payload["step"] == 5 and payload["extra"] == {"note": "x"}
    fresh = tiny_model(seed=1)
    load_checkpoint(path, fresh)
    assert all(torch.equal(v, weights(model)[k]) for k, v in weights(fresh).items())
    other = create_model("fc_audio", 4, layers=1, units=8, input_shape=(1, 8, 6))
    with pytest.raises(ValueError, match="ck.pt.*does not fit"):
        load_checkpoint(path, other)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt.*unreadable"):
        load_checkpoint(tmp_path / "bad.pt")
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt")


def test_resume_refuses_a_checkpoint_of_another_run(tmp_path):
    data = tiny_patches()
    fit(tiny_model(), data, TrainConfig(steps=2, batch_size=8, progress=False, checkpoint_dir=tmp_path,
                                        checkpoint_every=1, seed=0))
    with pytest.raises(ValueError, match="seed=0 but this run has seed=1"):
        fit(tiny_model(), data, TrainConfig(steps=4, batch_size=8, progress=False, checkpoint_dir=tmp_path,
                                            checkpoint_every=1, seed=1))


class Slow:
    """A PatchSet whose batches take a while, so that a run can be killed in the middle."""

    def __init__(self, data, delay):
        self.data, self.delay = data, delay

    def __len__(self):
        return len(self.data)

    def get_batch(self, idx):
        time.sleep(self.delay)
        return self.data.get_batch(idx)


def resume_job(out: str, ckpt: str | None, delay: float) -> None:
    """12 steps of a dropout model with a step schedule, checkpointing every 4 steps."""
    data = tiny_patches()
    model = tiny_model(dropout=0.5)
    config = TrainConfig(steps=12, batch_size=8, progress=False, seed=2, checkpoint_dir=ckpt, checkpoint_every=4,
                         scheduler=lambda opt, n: torch.optim.lr_scheduler.StepLR(opt, 3, 0.5))
    result = fit(model, Slow(data, delay), config)
    torch.save({"weights": model.state_dict(), "losses": result.history["loss"].tolist(),
                "resumed_from": result.resumed_from}, out)


def _job_command(call: str) -> list[str]:
    code = f"import sys, torch; torch.set_num_threads(1); sys.path.insert(0, {str(Path(__file__).parent)!r}); " \
           f"import test_train; test_train.{call}"
    return ["-c", code]


def _one_thread(fn, *args):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn(*args)
    finally:
        torch.set_num_threads(threads)


def test_resume_after_kill_equals_an_uninterrupted_run(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    ckpt = tmp_path / "ckpt"
    # 1. an uninterrupted run (in this process, one thread as in the subprocesses)
    _one_thread(resume_job, str(tmp_path / "full.pt"), None, 0.0)
    # 2. the same run in a subprocess, killed (SIGKILL) after its first checkpoint ...
    proc = subprocess.Popen([PYTHON, *_job_command(f"resume_job({str(tmp_path / 'killed.pt')!r}, {str(ckpt)!r}, 0.4)")],
                            env=env)
    deadline = time.time() + 90
    while not (ckpt / "last.pt").exists():
        assert proc.poll() is None, "the job ended before writing a checkpoint"
        assert time.time() < deadline, "no checkpoint within 90 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (tmp_path / "killed.pt").exists()
    killed_at = torch.load(ckpt / "last.pt", weights_only=True)["step"]
    assert 4 <= killed_at < 12
    # ... and started again with the same checkpoint_dir
    _one_thread(resume_job, str(tmp_path / "resumed.pt"), str(ckpt), 0.0)
    full = torch.load(tmp_path / "full.pt", weights_only=True)
    resumed = torch.load(tmp_path / "resumed.pt", weights_only=True)
    assert resumed["resumed_from"] == killed_at
    assert resumed["losses"] == full["losses"]  # the history is carried over and identical
    for k, v in full["weights"].items():
        assert torch.equal(v, resumed["weights"][k]), k


# --- inference ----------------------------------------------------------------------------------
def test_predict_and_clip_scores():
    data = tiny_patches(n=20)
    model = tiny_model()
    scores = predict(model, data, batch_size=7, device="cpu")
    with torch.no_grad():
        expected = torch.sigmoid(model(data.patches.unsqueeze(1))).numpy()
    np.testing.assert_allclose(scores, expected, atol=1e-6)
    np.testing.assert_allclose(predict(model, data.patches.unsqueeze(1), activation="none", device="cpu"),
                               torch.logit(torch.from_numpy(expected).double()).numpy(), atol=1e-4)
    clip = clip_scores(scores, data.clip_index.numpy())
    manual = np.stack([scores[data.clip_index.numpy() == c].mean(0) for c in range(data.n_clips)])
    np.testing.assert_allclose(clip, manual, atol=1e-6)
    with pytest.raises(ValueError, match="no frame"):
        clip_scores(scores[:4], np.array([0, 0, 2, 2]))
    metrics, _ = evaluate(model, data, device="cpu")
    assert 0 <= metrics["mAP"] <= 1
    with pytest.raises(ValueError, match="activation"):
        predict(model, data, activation="relu")


# --- DDP ----------------------------------------------------------------------------------------
def ddp_job(outdir: str) -> None:
    """Train two tiny runs (48 examples; 9 examples: rank shares of 5 and 4) and dump the results.

    Run in a plain process it trains alone; under torchrun every rank runs it with DDP.
    """
    import audiolib.train as T
    from audiolib import distributed

    info = distributed.init_distributed(device="cpu")
    calls = []
    original = T.save_checkpoint

    def recording(path, *a, **k):
        calls.append(os.path.basename(str(path)))
        return original(path, *a, **k)

    T.save_checkpoint = recording
    out = {}
    try:
        for name, n in (("even", 48), ("uneven", 9)):
            data = tiny_patches(n=n)
            model = tiny_model()
            ckpt = os.path.join(outdir, f"{name}-ckpt-world{info.world_size}")
            result = T.fit(model, data, T.TrainConfig(steps=6, batch_size=16, lr=0.01, progress=False, device="cpu",
                                                      eval_every=3, checkpoint_dir=ckpt, checkpoint_every=3),
                           val_set=data)
            out[name] = {"weights": {k: v.tolist() for k, v in model.state_dict().items()},
                         "losses": result.history["loss"].tolist(),
                         "val": result.history["val_mAP"].dropna().tolist(),
                         "predict": T.predict(model, data, batch_size=5).tolist()}
    finally:
        T.save_checkpoint = original
    out["calls"] = calls
    out["world"] = info.world_size
    with open(os.path.join(outdir, f"rank{info.rank}-world{info.world_size}.json"), "w") as fh:
        json.dump(out, fh)
    if info.world_size > 1:
        distributed.cleanup()


def test_ddp_on_two_gloo_processes_equals_a_single_process(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    script = tmp_path / "ddp_job.py"
    script.write_text("import sys, torch\ntorch.set_num_threads(1)\n"
                      f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
                      "import test_train\ntest_train.ddp_job(sys.argv[1])\n")
    subprocess.run([TORCHRUN, "--standalone", "--nproc_per_node=2", str(script), str(tmp_path)], check=True,
                   env=env, timeout=180)
    _one_thread(ddp_job, str(tmp_path))
    one = json.loads((tmp_path / "rank0-world1.json").read_text())
    ranks = [json.loads((tmp_path / f"rank{r}-world2.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    for name in ("even", "uneven"):  # "uneven": 9 examples, shares of 5 and 4
        for r in ranks:
            for k, v in one[name]["weights"].items():
                np.testing.assert_allclose(np.array(r[name]["weights"][k]), np.array(v), atol=1e-5, rtol=0,
                                           err_msg=f"{name} {k}")
            np.testing.assert_allclose(r[name]["losses"], one[name]["losses"], atol=1e-5, rtol=0)
            np.testing.assert_allclose(r[name]["val"], one[name]["val"], atol=1e-5)
            np.testing.assert_allclose(r[name]["predict"], one[name]["predict"], atol=1e-5)
        assert ranks[0][name]["weights"] == ranks[1][name]["weights"]  # identical on both ranks
    assert ranks[1]["calls"] == []  # only rank 0 writes checkpoints
    assert sorted(set(ranks[0]["calls"])) == ["best.pt", "last.pt"]
    payload = torch.load(tmp_path / "even-ckpt-world2" / "last.pt", weights_only=True)
    assert payload["step"] == 6 and len(payload["extra"]["rng_ranks"]) == 2
