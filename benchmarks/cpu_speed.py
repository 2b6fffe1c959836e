"""CPU training speed switches side by side: float32 against bf16 autocast (+ channels_last).

``python -m benchmarks cpu-speed [--models a,b] [--widths 0.0625,0.25] [--batch 32] [--steps 10]
[--warmup 2] [--threads N]``

For each registered 96x64 model and width it times forward + backward + Adam steps on random
patches three ways in one run (float32 NCHW, bf16 autocast, bf16 autocast + channels_last,
through :class:`audiolib.runtime.CpuSpeed`) and prints examples/s and the ratios to float32.
The choice this measures lives in :func:`audiolib.train.speed_switches`.
"""

from __future__ import annotations

import time
from typing import Sequence

import pandas as pd
import torch
from torch import nn

from audiolib.models import create_model
from audiolib.runtime import CpuSpeed, torch_threads


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




def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks cpu-speed", description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="alexnet_audio,inception_v3_audio,resnet50_audio")
    parser.add_argument("--widths", default="0.0625,0.25")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    table = speed_table(args.models.split(","), [float(w) for w in args.widths.split(",")], batch_size=args.batch,
                        steps=args.steps, warmup=args.warmup, threads=args.threads)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    return 0
