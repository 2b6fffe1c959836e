"""Training throughput: examples per second of every registered 96x64 architecture.

``python -m benchmarks training [--models a,b] [--batch 128] [--width 1.0] [--warmup W] [--steps S]
[--classes 3087] [--device auto] [--amp/--no-amp] [--channels-last/--no-channels-last]
[--compile/--no-compile] [--threads N] [--no-save]``

What is timed is :func:`audiolib.train.fit` itself on a global batch of ``--batch`` patches
(1 x 96 x 64, random values, random multi-hot targets of ``--classes`` classes, H17's Table 2
label set by default): batch gathering, host-to-device copy, forward, BCE loss, backward, Adam
step. ``--warmup`` steps run first (cuDNN autotuning, ``torch.compile``), then ``--steps``
steps are timed between two host-device synchronisations: examples/s = steps x batch /
seconds (defaults: 3 + 5 steps on CPU, 20 + 100 on CUDA). On CUDA the ``full`` profile's switches (bf16 autocast, channels_last, compile) are on
by default; on CPU they are off (they would change nothing but compile time).

Under ``torchrun --nproc_per_node=N -m benchmarks training`` the same loop runs with DDP and
the figure is the global throughput of the N ranks (``--batch`` stays the global batch).

For scale: H17 trained ResNet-50 on 20 GPUs at 11 mini-batches of 128 per second, 1408
examples/s for the cluster; this workbook's target on one H100 is 14,000 examples/s.
The table (tidy: one row per model and metric) goes to ``results/bench_training/<run>/``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import pandas as pd
import torch

from audiolib import distributed
from audiolib.data.patches import PatchSet
from audiolib.models import accepts, complexity, create_model, default_input_shape, list_models
from audiolib.results import start_run
from audiolib.runtime import resolve_device
from audiolib.train import TrainConfig, fit, speed_switches

PATCH = (1, 96, 64)
H17_CLUSTER_EXAMPLES_PER_S = 11 * 128  # 11 mini-batches of 128 per second, the whole 20-GPU cluster
H100_TARGET_EXAMPLES_PER_S = 14000


def patch_models() -> list[str]:
    """Registered models whose default input is one 96x64 log-mel patch."""
    return [m for m in list_models() if default_input_shape(m) == PATCH]


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks training", description=__doc__.splitlines()[0])
    p.add_argument("--models", default=None, help="comma list (default: every model with 1x96x64 input)")
    p.add_argument("--batch", type=int, default=128, help="global mini-batch (default 128)")
    p.add_argument("--width", type=float, default=1.0, help="width multiplier of every model (default 1.0)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 3 on CPU, 20 on CUDA)")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 5 on CPU, 100 on CUDA)")
    p.add_argument("--classes", type=int, default=3087, help="output classes (default 3087, H17 Table 2)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    for flag in ("amp", "channels-last", "compile"):
        p.add_argument(f"--{flag}", dest=flag.replace("-", "_"), action=argparse.BooleanOptionalAction, default=None,
                       help=f"{flag} (default: on with CUDA, off on CPU)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (CPU)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-save", action="store_true", help="print only, write no run folder")
    args = p.parse_args(argv)
    for name in ("batch", "warmup", "steps", "classes"):
        if getattr(args, name) is not None and getattr(args, name) < (0 if name == "warmup" else 1):
            p.error(f"--{name} must be {'>= 0' if name == 'warmup' else '>= 1'}")
    if args.width <= 0:
        p.error("--width must be > 0")
    return args


def _random_patches(n: int, classes: int, seed: int) -> PatchSet:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, PATCH[1], PATCH[2], generator=g)
    clip_targets = (torch.rand(n, classes, generator=g) < 3.0 / classes).float()
    index = torch.arange(n)
    return PatchSet(x, clip_targets, index, clip_targets, [str(i) for i in range(n)],
                    [f"class{i}" for i in range(classes)])


def _build(name: str, classes: int, width: float):
    return create_model(name, classes, **({"width": width} if accepts(name, "width") else {}))


def measure(name: str, data: PatchSet, args, switches: dict[str, bool], device: torch.device) -> dict:
    """Examples/s of ``fit`` for one model (timed between the synchronised rows of its history)."""
    torch.manual_seed(args.seed)
    model = _build(name, args.classes, args.width)
    weights, mults = complexity(model, PATCH)
    total = args.warmup + args.steps
    # the host waits for the device only every log_every steps; both ends of the timed span are such steps
    log_every = math.gcd(args.warmup, total) if args.warmup else total
    config = TrainConfig(steps=total, batch_size=args.batch, device=str(device), progress=False,
                         log_every=log_every, **switches)
    start = time.perf_counter()
    history = fit(model, data, config).history.set_index("step")["seconds"]
    wall = time.perf_counter() - start
    begin = history.loc[args.warmup] if args.warmup else 0.0
    seconds = history.loc[total] - begin
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {"examples_per_second": args.steps * args.batch / seconds, "step_ms": 1000 * seconds / args.steps,
            "weights": weights, "multiplies": mults, "wall_seconds": wall}


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    info = distributed.init_distributed(device=args.device)
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")
    cuda = device.type == "cuda"
    args.warmup = args.warmup if args.warmup is not None else (20 if cuda else 3)
    args.steps = args.steps if args.steps is not None else (100 if cuda else 5)
    switches = speed_switches("full", device)
    for key in switches:
        if getattr(args, key) is not None:
            switches[key] = getattr(args, key)
    names = args.models.split(",") if args.models else patch_models()
    unknown = [n for n in names if n not in list_models()]
    if unknown:
        print(f"unknown model(s) {unknown}; registered: {list_models()}", file=sys.stderr)
        return 2
    data = _random_patches(max(4 * args.batch, args.batch), args.classes, args.seed)
    rows = []
    for name in names:
        if info.rank == 0:
            print(f"{name}: width {args.width}, batch {args.batch}, {args.warmup}+{args.steps} steps on {device} "
                  f"x{info.world_size} {switches} ...", flush=True)
        try:
            figures = measure(name, data, args, switches, device)
        except torch.cuda.OutOfMemoryError as exc:  # pragma: no cover - GPU only
            print(f"  {name}: out of GPU memory ({exc})", file=sys.stderr)
            continue
        if info.rank == 0:
            print(f"  {figures['examples_per_second']:.1f} examples/s, {figures['step_ms']:.1f} ms/step", flush=True)
        for metric, value in figures.items():
            rows.append({"model": name, "width": args.width, "batch": args.batch, "classes": args.classes,
                         "device": str(device.type), "processes": info.world_size, **switches,
                         "warmup_steps": args.warmup, "timed_steps": args.steps, "metric": metric, "value": value})
    table = pd.DataFrame(rows)
    if info.rank == 0:
        if not table.empty:
            wide = table.pivot_table(index="model", columns="metric", values="value", sort=False)
            print(wide[["examples_per_second", "step_ms", "weights", "multiplies"]].to_string(float_format="%.1f"))
        if not args.no_save and not table.empty:
            params = {k: v for k, v in vars(args).items()}
            run = start_run("bench_training", {**params, "switches": switches, "processes": info.world_size},
                            profile="bench")
            run.record("reference_examples_per_second", {"H17 cluster (20 GPUs, 11 x 128 per s)": H17_CLUSTER_EXAMPLES_PER_S,
                                                         "target, one H100, resnet50_audio": H100_TARGET_EXAMPLES_PER_S})
            run.record("command", " ".join(["python -m benchmarks training", *(argv if argv is not None else sys.argv[1:])]))
            run.record("torch_threads", torch.get_num_threads())
            run.record("cpu_load_average", os.getloadavg() if hasattr(os, "getloadavg") else None)
            run.save_table("training_throughput", table, describes="training throughput (no paper table; H17 sec. 3 "
                           "reports 11 mini-batches of 128 per second on 20 GPUs)",
                           data=f"random 1x96x64 patches, {args.classes} classes, batch {args.batch}")
            print(f"-> {run.finish()}")
    distributed.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
