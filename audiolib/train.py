"""Training, prediction and evaluation, on CPU or GPU, single process or under torchrun (DDP).

The training loop follows H17: Adam, sigmoid outputs with binary cross-entropy, patches that
inherit their clip's labels, a fixed number of mini-batches ("steps"); clip scores are the mean
of the clip's patch scores.

Reproducibility and interruptions: the batch order is a pure function of ``(seed, step)``, and a
checkpoint holds the model, optimizer, scheduler, step, history and every RNG state, so a run
killed at any point and started again with the same ``checkpoint_dir`` resumes where the last
checkpoint was taken and, on CPU, ends with exactly the same weights as an uninterrupted run.

>>> result = fit(model, train_patches, TrainConfig(steps=100, batch_size=64))  # doctest: +SKIP
>>> scores = predict(model, test_patches)                                       # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

LOSSES = ("bce", "softmax_ce", "mse")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")


# --- devices and seeds --------------------------------------------------------------------------
def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/``None`` -> CUDA when present, else CPU; otherwise ``torch.device(device)``."""
    if device in (None, "auto"):
        if dist.is_available() and dist.is_initialized() and torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("parameter DEVICE='cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def world() -> tuple[int, int]:
    """``(rank, world_size)``: ``(0, 1)`` outside torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    return world()[0] == 0


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
            order and dropout.
        device: ``auto`` / ``cpu`` / ``cuda``.
        amp: bf16 autocast on CUDA (ignored on CPU).
        channels_last, compile: GPU speed switches (``compile`` works on CPU too, slowly).
        eval_every: evaluate ``val_set`` every this many steps (and at the end).
        monitor: metric of ``evaluate_fn``'s dict whose maximum is kept as the best model.
        restore_best: load the best weights at the end (when a ``val_set`` is given).
        checkpoint_dir: where ``last.pt`` (every ``checkpoint_every`` steps) and ``best.pt`` live;
            a run started with an existing ``last.pt`` there resumes from it.
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
        history: one row per logged step: step, loss, lr, seconds, and validation metrics.
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
def batch_indices(n: int, batch_size: int, step: int, seed: int) -> torch.Tensor:
    """The example indices of global mini-batch ``step``: a pure function of its arguments.

    Each epoch is a fresh permutation seeded by ``(seed, epoch)``; batches do not cross epochs.
    """
    per_epoch = max(1, n // batch_size)
    epoch, offset = divmod(step, per_epoch)
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=g)
    return perm[offset * batch_size:(offset + 1) * batch_size]


def make_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    kw = dict(lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, **kw)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, **kw)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, momentum=config.momentum, **kw)
    return torch.optim.RMSprop(params, momentum=config.momentum, **kw)


def loss_function(config: TrainConfig, device: torch.device) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``f(logits [B, C], targets [B, C]) -> scalar``."""
    if config.loss == "bce":
        pos_weight = None if config.pos_weight is None else torch.as_tensor(config.pos_weight, dtype=torch.float32,
                                                                             device=device)
        return nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    if config.loss == "softmax_ce":
        return lambda logits, y: nn.functional.cross_entropy(logits, y / y.sum(1, keepdim=True).clamp_min(1e-12))
    return lambda logits, y: nn.functional.mse_loss(torch.sigmoid(logits), y)


def _get_batch(dataset, idx: torch.Tensor):
    if hasattr(dataset, "get_batch"):
        return dataset.get_batch(idx)
    items = [dataset[i] for i in idx.tolist()]
    return torch.utils.data.default_collate(items)


def _unwrap(model: nn.Module) -> nn.Module:
    model = getattr(model, "_orig_mod", model)
    return getattr(model, "module", model)


# --- checkpoints --------------------------------------------------------------------------------
def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(_py, np_state[2:]))}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _py(v):
    return v.item() if hasattr(v, "item") else v


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_tuplify(state["python"]))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuplify(v):
    return tuple(_tuplify(x) for x in v) if isinstance(v, (list, tuple)) else v


def save_checkpoint(path: str | Path, model: nn.Module, optimizer=None, scheduler=None, *, step: int = 0,
                    history: list[dict] | None = None, extra: dict | None = None) -> Path:
    """Write a checkpoint atomically (temporary file, then rename)."""
    from .results import atomic_path

    path = Path(path)
    payload = {"model": _unwrap(model).state_dict(), "step": step, "history": history or [], "rng": _rng_state(),
               "model_class": type(_unwrap(model)).__name__, "extra": extra or {}}
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        payload["scheduler"] = scheduler.state_dict()
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | Path, model: nn.Module | None = None, map_location="cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; load its weights into ``model`` if given.

    Raises ``ValueError`` naming the file when the checkpoint does not fit ``model``'s
    architecture (missing/unexpected keys or shape mismatches).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise ValueError(f"checkpoint {path} is unreadable: {type(exc).__name__}: {exc}") from exc
    state = payload.get("model", payload) if isinstance(payload, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint {path} holds no state dict")
    if model is not None:
        target = _unwrap(model)
        own = target.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        mismatched = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
        if missing or unexpected or mismatched:
            raise ValueError(
                f"checkpoint {path} does not fit {type(target).__name__} "
                f"(saved from {payload.get('model_class', 'unknown') if isinstance(payload, dict) else 'unknown'}): "
                f"{len(missing)} missing, {len(unexpected)} unexpected, {len(mismatched)} mismatched tensors"
                + (f", e.g. {(missing or unexpected or mismatched)[0]}" if (missing or unexpected or mismatched) else ""))
        target.load_state_dict(state)
    return payload


# --- training -----------------------------------------------------------------------------------
def fit(model: nn.Module, train_set, config: TrainConfig, val_set=None,
        evaluate_fn: Callable[[nn.Module, Any], dict[str, float]] | None = None,
        on_evaluate: Callable[[int, dict, torch.optim.Optimizer], None] | None = None) -> FitResult:
    """Train ``model`` on ``train_set`` for ``config.steps`` mini-batches.

    Args:
        model: any module mapping ``x`` to logits ``[B, C]``.
        train_set: a :class:`~audiolib.data.patches.PatchSet` or any map-style dataset of
            ``(x, y)`` (``y`` ``[C]`` float targets).
        config: :class:`TrainConfig`.
        val_set: evaluated every ``config.eval_every`` steps and at the end with ``evaluate_fn``
            (default :func:`evaluate`, clip-level balanced metrics).
        on_evaluate: ``f(step, metrics, optimizer)`` after each evaluation (e.g. to reduce the
            learning rate on a plateau).

    Returns:
        :class:`FitResult`. Under torchrun every rank trains; only rank 0 writes checkpoints.
    """
    device = resolve_device(config.device)
    rank, world_size = world()
    if config.batch_size % world_size:
        raise ValueError(f"batch_size {config.batch_size} must be divisible by the number of processes {world_size}")
    evaluate_fn = evaluate_fn or (lambda m, data: evaluate(m, data, device=device, progress=False)[0])
    torch.manual_seed(config.seed)
    model.to(device)
    if config.channels_last and device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    groups = config.param_groups(model) if config.param_groups else model.parameters()
    optimizer = make_optimizer(groups, config)
    scheduler = config.scheduler(optimizer, config.steps) if config.scheduler else None
    criterion = loss_function(config, device)

    history: list[dict] = []
    start_step, resumed_from, best, best_state = 0, None, {}, None
    ckpt_dir = Path(config.checkpoint_dir) if config.checkpoint_dir else None
    if ckpt_dir is not None and (ckpt_dir / "last.pt").exists():
        payload = load_checkpoint(ckpt_dir / "last.pt", model, map_location=device)
        optimizer.load_state_dict(payload["optimizer"])
        if scheduler is not None and "scheduler" in payload:
            scheduler.load_state_dict(payload["scheduler"])
        start_step = resumed_from = int(payload["step"])
        history = list(payload["history"])
        best = dict(payload["extra"].get("best", {}))
        _set_rng_state(payload["rng"])
        if (ckpt_dir / "best.pt").exists() and best:
            best_state = torch.load(ckpt_dir / "best.pt", map_location="cpu", weights_only=True)["model"]

    train_model = model
    if world_size > 1:
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    if config.compile:
        train_model = torch.compile(train_model)
    use_amp = config.amp and device.type == "cuda"

    n = len(train_set)
    seconds, last_loss = 0.0, float("nan")
    bar = tqdm(total=config.steps, initial=start_step, desc="train", disable=not (config.progress and rank == 0),
               leave=False)
    for step in range(start_step, config.steps):
        idx = batch_indices(n, config.batch_size, step, config.seed)
        idx = idx[rank::world_size]
        t0 = time.perf_counter()
        train_model.train()
        x, y = _get_batch(train_set, idx)
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True).float()
        if config.channels_last and device.type == "cuda" and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            logits = train_model(x)
        loss = criterion(logits.float(), y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss.item()} at step {step}; lower the learning rate")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds += time.perf_counter() - t0
        last_loss = loss.item()
        done = step + 1
        row = {"step": done, "loss": last_loss, "lr": optimizer.param_groups[-1]["lr"]}
        bar.update(1)
        bar.set_postfix(loss=f"{last_loss:.4f}")

        evaluate_now = val_set is not None and (done == config.steps or (config.eval_every and done % config.eval_every == 0))
        if evaluate_now:
            metrics = evaluate_fn(model, val_set)
            row.update({f"val_{k}": v for k, v in metrics.items() if isinstance(v, (int, float))})
            score = metrics.get(config.monitor)
            if score is not None and (not best or score > best.get(config.monitor, -math.inf)):
                best = {k: v for k, v in metrics.items() if isinstance(v, (int, float))} | {"step": done}
                best_state = {k: v.detach().cpu().clone() for k, v in _unwrap(model).state_dict().items()}
                if ckpt_dir is not None and rank == 0:
                    save_checkpoint(ckpt_dir / "best.pt", model, step=done, extra={"best": best})
            if on_evaluate is not None:
                on_evaluate(done, metrics, optimizer)
        history.append(row)
        if ckpt_dir is not None and rank == 0 and config.checkpoint_every and (done % config.checkpoint_every == 0
                                                                             or done == config.steps):
            save_checkpoint(ckpt_dir / "last.pt", model, optimizer, scheduler, step=done, history=history,
                            extra={"best": best, "config": config.describe()})
    bar.close()
    if best_state is not None and config.restore_best:
        _unwrap(model).load_state_dict(best_state)
    trained = config.steps - start_step
    examples = trained * config.batch_size
    return FitResult(pd.DataFrame(history), config.steps, seconds, examples / seconds if seconds else float("nan"),
                     best, resumed_from)


# --- inference ----------------------------------------------------------------------------------
@torch.no_grad()
def predict(model: nn.Module, data, *, batch_size: int = 256, device: str | torch.device | None = "auto",
            activation: str = "sigmoid", embeddings: bool = False, progress: bool = False) -> np.ndarray:
    """Frame-level scores ``[N, C]`` (or embeddings ``[N, D]`` with ``embeddings=True``).

    Args:
        data: a ``[N, channels, frames, mels]`` tensor, or a dataset with ``get_batch``/``__getitem__``.
        activation: ``sigmoid``, ``softmax`` or ``none`` (logits).
    """
    device = resolve_device(device)
    model = _unwrap(model).to(device).eval()
    n = data.shape[0] if isinstance(data, torch.Tensor) else len(data)
    outputs = []
    for start in tqdm(range(0, n, batch_size), desc="predict", disable=not progress, leave=False):
        idx = torch.arange(start, min(n, start + batch_size))
        x = data[idx] if isinstance(data, torch.Tensor) else _get_batch(data, idx)[0]
        x = x.to(device)
        out = model.embedding(x) if embeddings else model(x)
        if not embeddings:
            out = {"sigmoid": torch.sigmoid, "softmax": lambda t: torch.softmax(t, -1), "none": lambda t: t}[activation](out)
        outputs.append(out.float().cpu())
    width = getattr(model, "embedding_dim", 0) if embeddings else getattr(model, "num_classes", 0)
    return torch.cat(outputs).numpy() if outputs else np.zeros((0, width), dtype=np.float32)


def clip_scores(frame_scores: np.ndarray, clip_index, n_clips: int | None = None) -> np.ndarray:
    """Average frame scores ``[N, C]`` per clip -> ``[n_clips, C]`` (H17's video-level scores)."""
    clip_index = np.asarray(clip_index)
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

    Returns:
        ``(metrics, clip_scores [n_clips, C])`` where metrics holds mAP, AUC and both d'
        aggregations (:func:`audiolib.metrics.balanced_metrics`).
    """
    from .metrics import balanced_metrics

    frame = predict(model, patches, batch_size=batch_size, device=device, progress=progress)
    scores = clip_scores(frame, patches.clip_index.numpy(), patches.n_clips)
    return balanced_metrics(patches.clip_targets.numpy(), scores), scores
