"""Where and how a computation runs: device resolution, seeding, the torch thread policy, CPU bf16.

One small module that everything else imports (training, loaders, the feature cache, the
models' helpers), so none of them needs another's internals.

>>> resolve_device("cpu")
device(type='cpu')
>>> with torch_threads(1):
...     torch.get_num_threads()
1
"""

from __future__ import annotations

import contextlib
import os
import random
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from . import distributed as _dist

__all__ = ["resolve_device", "seed_everything", "rng_state", "set_rng_state", "torch_threads", "cpu_has_bf16",
           "CpuSpeed", "unwrap", "feature_workers"]


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/``None`` -> CUDA when present, else CPU; otherwise ``torch.device(device)``.

    Under torchrun, ``"auto"`` and ``"cuda"`` mean this rank's GPU, ``cuda:LOCAL_RANK``.

    Raises:
        ValueError: ``"cuda"`` asked for where no CUDA device is available.
    """
    if device in (None, "auto"):
        return _default_cuda() if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("parameter DEVICE='cuda' but no CUDA device is available; use 'auto' or 'cpu'")
        if device.index is None:
            device = _default_cuda()
    return device


def _default_cuda() -> torch.device:
    """This rank's GPU under a process group (``LOCAL_RANK``), else the current CUDA device."""
    if _dist.world_size() > 1 or _dist.launched_by_torchrun():
        return torch.device("cuda", _dist.local_rank())
    return torch.device("cuda", torch.cuda.current_device())


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (``None`` or 0: leave as is), then restore.

    The thread policy of the workbook: a clip's front end and the small classifiers are too small
    to gain from intra-op threads, and on a busy machine the threads' spinning makes them several
    times slower, so those run with one thread; large networks keep torch's default.
    """
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def feature_workers(cpus: int | None = None) -> int:
    """Feature processes for a machine of ``cpus`` cores (default this one's): none up to 4 cores
    (decoding in the main process is then as fast and spares the training its cores), else up to 8,
    leaving 2 cores free.

    >>> feature_workers(2), feature_workers(16), feature_workers(64)
    (0, 8, 8)
    """
    cpus = cpus or os.cpu_count() or 1
    return 0 if cpus <= 4 else min(8, cpus - 2)


def cpu_has_bf16() -> bool:
    """True when this CPU has native bf16 arithmetic (AVX-512 BF16 or AMX), read from /proc/cpuinfo."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in ("avx512_bf16", "amx_bf16"))


class CpuSpeed(nn.Module):
    """Wrap a model so that its forward runs in bf16 autocast and/or channels_last on the CPU.

    The wrapped model is converted to channels_last in place when ``channels_last``; its
    parameters stay float32 (autocast casts per operation), so the optimizer and checkpoints are
    those of the model itself. Outputs are float32. On CUDA, :func:`audiolib.train.fit` applies
    the same switches itself; :func:`audiolib.trials.run_trial` wraps CPU runs in this.
    """

    def __init__(self, model: nn.Module, *, amp: bool, channels_last: bool):
        super().__init__()
        self.model = model
        self.amp = bool(amp)
        self.channels_last = bool(channels_last)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.amp):
            return self.model(x).float()


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside ``torch.compile`` / ``DistributedDataParallel`` wrappers (``model`` itself otherwise)."""
    model = getattr(model, "_orig_mod", model)
    return getattr(model, "module", model)


def rng_state() -> dict[str, Any]:
    """Python, NumPy, torch (and CUDA) random states, as tensors and plain values (``weights_only``-loadable)."""
    np_state = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(_py, np_state[2:]))}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _py(v):
    return v.item() if hasattr(v, "item") else v


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    random.setstate(_tuplify(state["python"]))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuplify(v):
    return tuple(_tuplify(x) for x in v) if isinstance(v, (list, tuple)) else v
