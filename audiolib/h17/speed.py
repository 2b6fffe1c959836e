"""Training throughput of the H17 networks on this machine, with and without the CPU speed switches.

:func:`train_speed` times forward + backward + Adam steps of one network on random 96x64 patches;
:func:`speed_table` compares float32 with bf16 autocast + channels_last side by side. The measured
choice lives in :func:`audiolib.train.speed_switches`.

>>> speed_table(["resnet50_audio"], widths=[0.0625], steps=2, warmup=1)   # doctest: +SKIP
"""

from __future__ import annotations

import time
from typing import Sequence

import pandas as pd
import torch
from torch import nn

from ..models import create_model
from ..runtime import torch_threads


class CpuSpeed(nn.Module):
    """Wrap a model so that its forward runs in bf16 autocast and/or channels_last on the CPU.

    The wrapped model is converted to channels_last in place when ``channels_last``; its
    parameters stay float32 (autocast casts per operation), so the optimizer and checkpoints are
    those of the model itself. ``embedding`` and attributes are passed through.
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


def train_speed(name: str, *, width: float, batch_size: int = 32, amp: bool = False, channels_last: bool = False,
                steps: int = 10, warmup: int = 2, num_classes: int = 29, threads: int | None = None) -> float:
    """Examples per second of ``steps`` training steps (after ``warmup``) on the CPU."""
    with torch_threads(threads):
        torch.manual_seed(0)
        model = create_model(name, num_classes, width=width)
        run = CpuSpeed(model, amp=amp, channels_last=channels_last) if (amp or channels_last) else model
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        x = torch.randn(batch_size, 1, 96, 64)
        y = (torch.rand(batch_size, num_classes) < 0.1).float()
        loss_fn = nn.BCEWithLogitsLoss()
        t0 = 0.0
        for step in range(warmup + steps):
            if step == warmup:
                t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss_fn(run(x), y).backward()
            opt.step()
        return batch_size * steps / (time.perf_counter() - t0)


def speed_table(models: Sequence[str], widths: Sequence[float], *, batch_size: int = 32, steps: int = 10,
                warmup: int = 2, threads: int | None = None) -> pd.DataFrame:
    """float32 vs bf16 autocast + channels_last, side by side: ex/s of each and their ratio."""
    rows = []
    for name in models:
        for width in widths:
            kw = dict(width=width, batch_size=batch_size, steps=steps, warmup=warmup, threads=threads)
            f32 = train_speed(name, **kw)
            both = train_speed(name, amp=True, channels_last=True, **kw)
            bf16 = train_speed(name, amp=True, **kw)
            rows.append({"model": name, "width": width, "batch_size": batch_size, "float32": f32,
                         "bf16": bf16, "bf16+channels_last": both, "ratio bf16": bf16 / f32,
                         "ratio bf16+channels_last": both / f32})
    return pd.DataFrame(rows)


