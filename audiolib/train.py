"""Training, prediction and evaluation, on CPU or GPU, single process or under torchrun (DDP).

The training loop follows H17: Adam, sigmoid outputs with binary cross-entropy, patches that
inherit their clip's labels, a fixed number of mini-batches ("steps"); clip scores are the mean
of the clip's patch scores.

Reproducibility and interruptions: the batch order is a pure function of ``(seed, step)``, and a
checkpoint holds the model, optimizer, scheduler, step, history and every RNG state, so a run
killed at any point and started again with the same ``checkpoint_dir`` resumes where the last
checkpoint was taken and, on CPU, ends with exactly the same weights as an uninterrupted run.

Speed: on CUDA, ``TrainConfig(**speed_switches(PROFILE, DEVICE))`` turns on bf16 autocast,
channels_last and ``torch.compile`` in the ``full`` profile (off elsewhere and on CPU); an
in-memory training set is copied to the GPU once, otherwise batches come through pinned memory,
prepared ahead by ``num_workers`` DataLoader processes (:mod:`audiolib.loaders`).

Scale: the same calls run under ``torchrun --nproc_per_node=N`` (see :mod:`audiolib.distributed`):
DDP with NCCL on GPUs or gloo on CPUs, each rank a share of every global batch, metrics gathered
across ranks, checkpoints from rank 0.

>>> result = fit(model, train_patches, TrainConfig(steps=100, batch_size=64))  # doctest: +SKIP
>>> scores = predict(model, test_patches)                                       # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from . import distributed as _dist
from . import loaders as _loaders
from .checkpoints import load_checkpoint, save_checkpoint
from .runtime import cpu_has_bf16, resolve_device, rng_state, set_rng_state, unwrap

LOSSES = ("bce", "softmax_ce", "mse")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")


# --- devices and seeds (audiolib.runtime; re-exported here for callers of the training API) -------
def world() -> tuple[int, int]:
    """``(rank, world_size)``: ``(0, 1)`` outside torchrun."""
    return _dist.rank(), _dist.world_size()


def speed_switches(profile: str, device: str | torch.device | None = "auto", *,
                   width: float | None = None, min_width: float = 0.0625) -> dict[str, bool]:
    """The speed switches of :class:`TrainConfig` (``amp``, ``channels_last``, ``compile``) for a run.

    On CUDA, ``full`` turns all three on; every other profile keeps them off.

    On the CPU, ``compile`` stays off, and ``amp`` (bf16 autocast) with ``channels_last`` are
    turned on for a network of channel ``width`` >= ``min_width`` when the CPU has native bf16
    (AVX-512 BF16 or AMX in ``/proc/cpuinfo``), in every profile. Measured on this machine's CPU
    (AVX-512 BF16) with ``python -m benchmarks cpu-speed`` (batch 32, training steps, ex/s of
    bf16 + channels_last over float32 NCHW): ResNet-50 audio at width 0.25, 2 threads, 171 vs 92
    ex/s (1.86x); at width 0.0625, 1 thread, 1.44-1.64x (channels_last alone 0.73-0.91x: slower,
    so the two go together); AlexNet at 0.0625 1.03-1.80x; Inception-V3 at 0.0625 1.60-1.86x.
    Narrower networks (the smoke profile's 1/32) stay in float32. Without ``width`` the CPU
    switches stay off. :func:`fit` applies ``amp``/``channels_last`` on CUDA; on the CPU a caller
    applies them by wrapping the model (:class:`audiolib.runtime.CpuSpeed`, as
    :func:`audiolib.trials.run_trial` does).

    >>> speed_switches("quick", "cpu")
    {'amp': False, 'channels_last': False, 'compile': False}
    >>> speed_switches("quick", "cpu", width=0.03125)
    {'amp': False, 'channels_last': False, 'compile': False}
    """
    dev = resolve_device(device)
    if dev.type == "cuda":
        on = profile == "full"
        return {"amp": on, "channels_last": on, "compile": on}
    cpu = width is not None and width >= min_width and cpu_has_bf16()
    return {"amp": cpu, "channels_last": cpu, "compile": False}


# --- configuration ------------------------------------------------------------------------------
@dataclass
class TrainConfig:
    """How to train.

    Attributes:
        steps: number of mini-batches (H17 compares architectures at equal steps).
        batch_size: global mini-batch size (split across ranks under torchrun).
        lr, optimizer, momentum, weight_decay: optimizer settings (``adam`` by default).
        loss: ``bce`` (sigmoid + binary cross-entropy), ``softmax_ce`` (single-label, targets
            one-hot or soft), or ``mse`` (on sigmoid outputs).
        pos_weight: optional per-class positive weights ``[C]`` for ``bce``.
        scheduler: optional ``f(optimizer, total_steps) -> LRScheduler`` stepped after every step.
        param_groups: optional ``f(model) -> list of optimizer param-group dicts``.
        grad_clip: clip the gradient norm to this value.
        seed: seeds initialisation (if the model is built after :func:`seed_everything`), batch
            order and dropout (rank ``r`` of a torchrun job draws dropout from ``seed + r``).
        device: ``auto`` / ``cpu`` / ``cuda``.
        amp: bf16 autocast on CUDA (ignored on CPU).
        channels_last: NHWC memory layout for 4-d inputs on CUDA (ignored on CPU).
        compile: ``torch.compile`` the training model (works on CPU too, after a long compile);
            ``compile_mode`` and ``compile_backend`` are passed as its ``mode`` (e.g.
            ``"max-autotune"``) and ``backend`` (``"eager"`` traces without generating code).
            :func:`speed_switches` gives the three switches of a profile.
        eval_every: evaluate ``val_set`` every this many steps (and at the end).
        monitor: metric of ``evaluate_fn``'s dict whose maximum is kept as the best model.
        restore_best: load the best weights at the end (when a ``val_set`` is given).
        checkpoint_dir: where ``last.pt`` (every ``checkpoint_every`` steps and at the end) and
            ``best.pt`` live; a run started with an existing ``last.pt`` there resumes from it.
        num_workers: DataLoader processes that make the next mini-batches ahead (0: in this
            process). Batches are the same whatever the value.
        log_every: the losses are read back from the device (one host-device synchronisation)
            every this many steps; ``history`` still has one row per step. 1 checks every loss
            before its update; larger values keep a GPU busy. ``None``: 1 on CPU, 20 on CUDA.
        data_on_device: ``"auto"`` copies an in-memory training set (a ``PatchSet``) to the GPU
            once when it takes under a quarter of the free GPU memory; ``True``/``False`` force it.
        sync_batchnorm: under torchrun on GPUs, turn batch norms into ``SyncBatchNorm`` (batch
            statistics over the global batch rather than each rank's share).
        progress: a tqdm bar (notebook-aware).
    """

    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    loss: str = "bce"
    pos_weight: Any = None
    scheduler: Callable | None = None
    param_groups: Callable | None = None
    grad_clip: float | None = None
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    channels_last: bool = False
    compile: bool = False
    eval_every: int | None = None
    monitor: str = "mAP"
    restore_best: bool = True
    checkpoint_dir: str | Path | None = None
    checkpoint_every: int | None = None
    num_workers: int = 0
    progress: bool = True
    log_every: int | None = None
    data_on_device: bool | str = "auto"
    sync_batchnorm: bool = False
    compile_mode: str | None = None
    compile_backend: str = "inductor"

    def __post_init__(self):
        if self.steps < 1:
            raise ValueError(f"TrainConfig.steps must be >= 1, got {self.steps}")
        if self.batch_size < 1:
            raise ValueError(f"TrainConfig.batch_size must be >= 1, got {self.batch_size}")
        if self.loss not in LOSSES:
            raise ValueError(f"TrainConfig.loss {self.loss!r} unknown; allowed: {', '.join(LOSSES)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"TrainConfig.optimizer {self.optimizer!r} unknown; allowed: {', '.join(OPTIMIZERS)}")
        if self.lr <= 0:
            raise ValueError(f"TrainConfig.lr must be > 0, got {self.lr}")
        for name in ("eval_every", "checkpoint_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1 or None, got {value}")
        if self.num_workers < 0:
            raise ValueError(f"TrainConfig.num_workers must be >= 0, got {self.num_workers}")
        if self.log_every is not None and self.log_every < 1:
            raise ValueError(f"TrainConfig.log_every must be >= 1, got {self.log_every}")
        if self.data_on_device not in (True, False, "auto"):
            raise ValueError(f"TrainConfig.data_on_device must be True, False or 'auto', got {self.data_on_device!r}")

    def describe(self) -> dict[str, Any]:
        """JSON-able summary (callables by name)."""
        out = {}
        for k, v in asdict(self).items():
            if callable(v):
                v = getattr(v, "__name__", type(v).__name__)
            elif isinstance(v, torch.Tensor):
                v = v.tolist()
            elif isinstance(v, Path):
                v = str(v)
            out[k] = v
        return out


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        history: one row per step: step, loss (mean over the global batch), lr, seconds
            (training time so far, at the steps where the host synchronised with the device;
            NaN between), and the validation metrics at the evaluated steps.
        steps: steps trained in total (including those before a resume).
        train_seconds: wall time of the training steps of this process (excluding evaluation).
        examples_per_second: global examples per second over ``train_seconds``.
        best: the best validation metrics (empty without a ``val_set``).
        resumed_from: the step a checkpoint resumed from, or ``None``.
    """

    history: pd.DataFrame
    steps: int
    train_seconds: float
    examples_per_second: float
    best: dict[str, float] = field(default_factory=dict)
    resumed_from: int | None = None


# --- building blocks ----------------------------------------------------------------------------
def make_optimizer(params, config: TrainConfig, device: torch.device | None = None) -> torch.optim.Optimizer:
    """The optimizer of ``config`` (Adam and AdamW fused into one kernel when ``device`` is CUDA)."""
    kw = dict(lr=config.lr, weight_decay=config.weight_decay)
    fused = {"fused": True} if device is not None and device.type == "cuda" else {}
    if config.optimizer == "adam":
        return torch.optim.Adam(params, **kw, **fused)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, **kw, **fused)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, momentum=config.momentum, **kw)
    return torch.optim.RMSprop(params, momentum=config.momentum, **kw)


def loss_function(config: TrainConfig, device: torch.device) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``f(logits [B, C], targets [B, C]) -> scalar`` (the mean over the batch)."""
    if config.loss == "bce":
        pos_weight = None if config.pos_weight is None else torch.as_tensor(config.pos_weight, dtype=torch.float32,
                                                                             device=device)
        return nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    if config.loss == "softmax_ce":
        return lambda logits, y: nn.functional.cross_entropy(logits, y / y.sum(1, keepdim=True).clamp_min(1e-12))
    return lambda logits, y: nn.functional.mse_loss(torch.sigmoid(logits), y)


class _DatasetBatchIndex:
    """``step -> indices`` from a dataset that samples its own batches (a streaming cache)."""

    def __init__(self, dataset, batch_size: int, seed: int, rank: int, world_size: int):
        self.dataset, self.batch_size, self.seed, self.rank, self.world_size = dataset, batch_size, seed, rank, world_size

    def global_size(self, step: int) -> int:
        return self.batch_size

    def __call__(self, step: int) -> torch.Tensor:
        return self.dataset.local_batch_indices(step, self.batch_size, self.seed, self.rank, self.world_size)


def _device_copy(train_set, device: torch.device, mode) -> Any:
    """An in-memory ``PatchSet``-like dataset with its tensors on ``device`` (or ``train_set``)."""
    import dataclasses

    if device.type != "cuda" or mode is False:
        return train_set
    if not (dataclasses.is_dataclass(train_set) and isinstance(getattr(train_set, "patches", None), torch.Tensor)
            and isinstance(getattr(train_set, "targets", None), torch.Tensor)):
        return train_set
    size = train_set.patches.nbytes + train_set.targets.nbytes
    if mode == "auto":
        free, _ = torch.cuda.mem_get_info(device)
        if size > free // 4:
            return train_set
    return dataclasses.replace(train_set, patches=train_set.patches.to(device), targets=train_set.targets.to(device))


def _check_resumable(path: Path, payload: dict, config: TrainConfig, world_size: int) -> None:
    saved = payload.get("extra", {}).get("config") or {}
    for name in ("seed", "batch_size", "loss", "optimizer"):
        if name in saved and saved[name] != getattr(config, name):
            raise ValueError(f"checkpoint {path} was written with {name}={saved[name]!r} but this run has "
                             f"{name}={getattr(config, name)!r}; use another checkpoint_dir or the same {name}")
    if "optimizer" not in payload:
        raise ValueError(f"checkpoint {path} holds no optimizer state; it cannot resume training")


# --- training -----------------------------------------------------------------------------------
def fit(model: nn.Module, train_set, config: TrainConfig, val_set=None,
        evaluate_fn: Callable[[nn.Module, Any], dict[str, float]] | None = None,
        on_evaluate: Callable[[int, dict, torch.optim.Optimizer], None] | None = None) -> FitResult:
    """Train ``model`` on ``train_set`` for ``config.steps`` mini-batches.

    Args:
        model: any module mapping ``x`` to logits ``[B, C]``.
        train_set: a :class:`~audiolib.data.patches.PatchSet`, a
            :class:`~audiolib.cache.CachedPatchSet` (memory-mapped; ``.stream()`` for per-rank
            shard reading) or any map-style dataset of ``(x, y)`` (``y`` ``[C]`` float targets).
        config: :class:`TrainConfig`.
        val_set: evaluated every ``config.eval_every`` steps and at the end with ``evaluate_fn``
            (default :func:`evaluate`, clip-level balanced metrics).
        on_evaluate: ``f(step, metrics, optimizer)`` after each evaluation (e.g. to reduce the
            learning rate on a plateau).

    Returns:
        :class:`FitResult`.

    Under torchrun (an initialised process group) every rank calls ``fit`` with the same
    arguments: the model is wrapped in ``DistributedDataParallel`` (gradients averaged over
    ranks), rank ``r`` trains on ``idx[r::world_size]`` of each global batch (a streaming cache
    gives each rank batches from its own shards), the logged loss is the global batch's,
    evaluation splits the rows over ranks and gathers the scores, and only rank 0 writes
    checkpoints. Weights stay identical on every rank.
    """
    device = resolve_device(config.device)
    rank, world_size = world()
    if config.batch_size % world_size:
        raise ValueError(f"batch_size {config.batch_size} must be divisible by the number of processes {world_size}")
    n = len(train_set)
    if n < 1:
        raise ValueError("fit: the training set is empty")
    evaluate_fn = evaluate_fn or (lambda m, data: evaluate(m, data, device=device, progress=False)[0])
    torch.manual_seed(config.seed + rank)
    model.to(device)
    cuda = device.type == "cuda"
    if config.channels_last and cuda:
        model.to(memory_format=torch.channels_last)
    groups = config.param_groups(model) if config.param_groups else model.parameters()
    optimizer = make_optimizer(groups, config, device)
    scheduler = config.scheduler(optimizer, config.steps) if config.scheduler else None
    criterion = loss_function(config, device)

    history: list[dict] = []
    start_step, resumed_from, best, best_state = 0, None, {}, None
    ckpt_dir = Path(config.checkpoint_dir) if config.checkpoint_dir else None
    if ckpt_dir is not None and (ckpt_dir / "last.pt").exists():
        # on the CPU: RNG states must stay CPU tensors; weights and optimizer states are copied
        # onto the parameters' device by load_state_dict
        payload = load_checkpoint(ckpt_dir / "last.pt", model)
        _check_resumable(ckpt_dir / "last.pt", payload, config, world_size)
        optimizer.load_state_dict(payload["optimizer"])
        if scheduler is not None and "scheduler" in payload:
            scheduler.load_state_dict(payload["scheduler"])
        start_step = resumed_from = int(payload["step"])
        history = list(payload["history"])
        best = dict(payload["extra"].get("best", {}))
        rng_ranks = payload["extra"].get("rng_ranks")
        set_rng_state(rng_ranks[rank] if isinstance(rng_ranks, list) and len(rng_ranks) == world_size
                       else payload["rng"])
        if (ckpt_dir / "best.pt").exists() and best:
            best_state = torch.load(ckpt_dir / "best.pt", map_location="cpu", weights_only=True)["model"]

    train_model = model
    if world_size > 1:
        if config.sync_batchnorm and cuda:
            train_model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        train_model = nn.parallel.DistributedDataParallel(
            train_model, device_ids=[device.index] if cuda else None, gradient_as_bucket_view=True)
    if config.compile:
        train_model = torch.compile(train_model, mode=config.compile_mode, backend=config.compile_backend)
    use_amp = config.amp and cuda
    log_every = config.log_every or (20 if cuda else 1)

    if callable(getattr(train_set, "local_batch_indices", None)):
        index_fn = _DatasetBatchIndex(train_set, config.batch_size, config.seed, rank, world_size)
    else:
        index_fn = _loaders.GlobalBatchIndex(n, config.batch_size, config.seed, rank, world_size)
    data = _device_copy(train_set, device, config.data_on_device) if config.num_workers == 0 else train_set
    on_device = data is not train_set
    batches = _loaders.step_batches(data, index_fn, range(start_step, config.steps), num_workers=config.num_workers,
                                    pin_memory=cuda and not on_device)

    seconds, t0 = 0.0, time.perf_counter()
    pending_losses: list[torch.Tensor] = []
    pending_rows: list[dict] = []
    bar = tqdm(total=config.steps, initial=start_step, desc="train", disable=not (config.progress and rank == 0),
               leave=False)
    train_model.train()
    for step in range(start_step, config.steps):
        done = step + 1
        x, y = next(batches)
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True).float()
        if config.channels_last and cuda and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            logits = train_model(x)
        loss = criterion(logits.float(), y)
        # Each rank's loss is the mean over its share; weighting by the share's size makes DDP's
        # gradient average equal the gradient of the global batch's mean, even for uneven shares.
        share = x.shape[0] * world_size / index_fn.global_size(step)
        scaled = loss * share if share != 1 else loss
        pending_losses.append(scaled.detach())

        evaluate_now = val_set is not None and (done == config.steps or bool(config.eval_every and done % config.eval_every == 0))
        checkpoint_now = ckpt_dir is not None and bool(config.checkpoint_every) and (
            done % config.checkpoint_every == 0 or done == config.steps)
        sync_now = done % log_every == 0 or done == config.steps or evaluate_now or checkpoint_now
        values: list[float] = []
        if sync_now:  # one host-device synchronisation (and one all-reduce) for the pending steps
            values = _dist.reduce_mean(torch.stack(pending_losses)).tolist()
            for k, v in enumerate(values):
                if not math.isfinite(v):
                    bad = done - len(values) + k + 1  # 1-based, as history's step column
                    raise FloatingPointError(f"training loss became {v} at step {bad}; lower the learning rate")
            pending_losses = []

        optimizer.zero_grad(set_to_none=True)
        scaled.backward()
        if config.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        pending_rows.append({"step": done, "loss": float("nan"), "lr": optimizer.param_groups[-1]["lr"],
                             "seconds": float("nan")})
        bar.update(1)
        if not sync_now:
            continue

        if cuda:
            torch.cuda.synchronize(device)
        now = time.perf_counter()
        seconds += now - t0
        for row, v in zip(pending_rows, values):
            row["loss"] = v
        pending_rows[-1]["seconds"] = seconds
        history.extend(pending_rows)
        pending_rows = []
        row = history[-1]
        bar.set_postfix(loss=f"{row['loss']:.4f}")

        if evaluate_now:
            metrics = evaluate_fn(model, val_set)
            row.update({f"val_{k}": v for k, v in metrics.items() if isinstance(v, (int, float))})
            score = metrics.get(config.monitor)
            if score is not None and (not best or score > best.get(config.monitor, -math.inf)):
                best = {k: v for k, v in metrics.items() if isinstance(v, (int, float))} | {"step": done}
                best_state = {k: v.detach().cpu().clone() for k, v in unwrap(model).state_dict().items()}
                if ckpt_dir is not None and rank == 0:
                    save_checkpoint(ckpt_dir / "best.pt", model, step=done, extra={"best": best})
            if on_evaluate is not None:
                on_evaluate(done, metrics, optimizer)
            train_model.train()
        if checkpoint_now:
            rng_ranks = _dist.all_gather_object(rng_state()) if world_size > 1 else None
            if rank == 0:
                save_checkpoint(ckpt_dir / "last.pt", model, optimizer, scheduler, step=done, history=history,
                                extra={"best": best, "config": config.describe(), "world_size": world_size,
                                       **({"rng_ranks": rng_ranks} if rng_ranks else {})})
        t0 = time.perf_counter()
    bar.close()
    _dist.barrier()  # checkpoints are on disk before any rank goes on
    if best_state is not None and config.restore_best:
        unwrap(model).load_state_dict(best_state)
    trained = config.steps - start_step
    examples = trained * config.batch_size
    return FitResult(pd.DataFrame(history), config.steps, seconds, examples / seconds if seconds else float("nan"),
                     best, resumed_from)


# --- inference ----------------------------------------------------------------------------------
@torch.no_grad()
def predict(model: nn.Module, data, *, batch_size: int = 256, device: str | torch.device | None = "auto",
            activation: str = "sigmoid", embeddings: bool = False, progress: bool = False,
            distributed: bool | None = None) -> np.ndarray:
    """Frame-level scores ``[N, C]`` (or embeddings ``[N, D]`` with ``embeddings=True``).

    Args:
        data: a ``[N, channels, frames, mels]`` tensor, or a dataset with ``get_batch``/``__getitem__``.
        activation: ``sigmoid``, ``softmax`` or ``none`` (logits).
        distributed: split the rows over the ranks of a process group and gather the result on
            every rank (then every rank must call ``predict``); ``None``: when a process group
            of several ranks is initialised.

    Returns:
        float32 array, rows in ``data``'s order (the same on every rank).
    """
    if activation not in ("sigmoid", "softmax", "none"):
        raise ValueError(f"predict: activation must be 'sigmoid', 'softmax' or 'none', got {activation!r}")
    device = resolve_device(device)
    model = unwrap(model).to(device).eval()
    n = data.shape[0] if isinstance(data, torch.Tensor) else len(data)
    split = (_dist.is_distributed() if distributed is None else distributed) and n >= _dist.world_size()
    start, stop = _dist.shard_range(n) if split else (0, n)
    outputs = []
    for first in tqdm(range(start, stop, batch_size), desc="predict", disable=not progress, leave=False):
        idx = torch.arange(first, min(stop, first + batch_size))
        x = data[idx] if isinstance(data, torch.Tensor) else _loaders.get_batch(data, idx)[0]
        x = x.to(device)
        out = model.embedding(x) if embeddings else model(x)
        if not embeddings:
            out = {"sigmoid": torch.sigmoid, "softmax": lambda t: torch.softmax(t, -1), "none": lambda t: t}[activation](out)
        outputs.append(out.float().cpu())
    width = getattr(model, "embedding_dim", 0) if embeddings else getattr(model, "num_classes", 0)
    local = torch.cat(outputs) if outputs else torch.zeros((0, width), dtype=torch.float32)
    if split:
        local = _dist.all_gather_tensor(local)
    return local.numpy()


def clip_scores(frame_scores: np.ndarray, clip_index, n_clips: int | None = None) -> np.ndarray:
    """Average frame scores ``[N, C]`` per clip -> ``[n_clips, C]`` (H17's video-level scores).

    >>> clip_scores(np.array([[0.0], [1.0], [0.5]]), [0, 0, 1]).tolist()
    [[0.5], [0.5]]
    """
    clip_index = np.asarray(clip_index)
    frame_scores = np.asarray(frame_scores)
    if frame_scores.ndim != 2 or clip_index.shape != (frame_scores.shape[0],):
        raise ValueError(f"clip_scores: frame_scores must be [N, C] and clip_index [N]; got {frame_scores.shape} "
                         f"and {clip_index.shape}")
    if clip_index.size and clip_index.min() < 0:
        raise ValueError("clip_scores: clip_index holds negative values")
    n_clips = int(clip_index.max()) + 1 if n_clips is None else n_clips
    sums = np.zeros((n_clips, frame_scores.shape[1]), dtype=np.float64)
    np.add.at(sums, clip_index, frame_scores)
    counts = np.bincount(clip_index, minlength=n_clips)
    if (counts == 0).any():
        raise ValueError(f"{int((counts == 0).sum())} clip(s) have no frame; cannot average their scores")
    return (sums / counts[:, None]).astype(np.float32)


def evaluate(model: nn.Module, patches, *, batch_size: int = 256, device: str | torch.device | None = "auto",
             progress: bool = False) -> tuple[dict[str, float], np.ndarray]:
    """Clip-level balanced metrics of ``model`` on a PatchSet.

    Under torchrun the patches are split over the ranks and the scores gathered, so every rank
    returns the same metrics.

    Returns:
        ``(metrics, clip_scores [n_clips, C])`` where metrics holds mAP, AUC and both d'
        aggregations (:func:`audiolib.metrics.balanced_metrics`).
    """
    from .metrics import balanced_metrics

    frame = predict(model, patches, batch_size=batch_size, device=device, progress=progress)
    scores = clip_scores(frame, patches.clip_index.numpy(), patches.n_clips)
    return balanced_metrics(patches.clip_targets.numpy(), scores), scores
