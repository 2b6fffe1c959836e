"""Front-end throughput: this project's VGGish log-mel against librosa, torchaudio and the NumPy reference.

``python -m benchmarks frontend [--batch 32] [--seconds 10] [--repeats 7] [--device auto] [--threads N]``

One process, one input (``batch`` clips of white noise at 16 kHz, fixed seed), every
implementation timed in interleaved rounds (so background load hits them alike), median of the
rounds reported as audio-seconds per second, and the ratio of ours to each peer (``ours_speedup``:
ours / peer throughput). The process's CPU time per call is reported beside the wall time
(``median_cpu_seconds``, ``ours_cpu_speedup``): on a machine shared with other work, wall time
also counts the time spent waiting for a core, CPU time only the work done.

Implementations, all 25 ms / 10 ms / 512-point FFT / 64 mel bands 125-7500 Hz / magnitude /
``log(mel + 0.01)``:

* ``audiolib``: :func:`audiolib.features.vggish_examples` (log-mel and 96-frame patches), on
  ``--device``.
* ``torchaudio``: ``torchaudio.transforms.MelSpectrogram(power=1, center=False,
  mel_scale="htk")`` then ``log(+0.01)``, on ``--device``. Its triangles are linear in Hz and
  its frames are 512 samples with the 400-sample window centred (one frame fewer), so its
  numbers differ slightly from VGGish's; the work is the same.
* ``librosa``: ``librosa.feature.melspectrogram(htk=True, power=1, center=False, norm=None)``
  on the whole ``[batch, time]`` array, then ``np.log(+0.01)`` (CPU, NumPy FFT).
* ``numpy_reference``: ``tests/reference_vggish_numpy.py``, the float64 NumPy transcription of
  the published algorithm, clip by clip (CPU).

Torch peers get the input already on the device; the NumPy peers get a float32 NumPy array.
The table (tidy: one row per implementation and metric) goes to a new run folder under
``results/bench_frontend/`` and is printed.

On a machine whose cores are busy with other work, multi-threaded torch code loses most of its
time to OpenMP threads spinning between operations (ours more than the peers, since it runs
many small cache-sized operations): run with ``OMP_WAIT_POLICY=PASSIVE`` in the environment, or
compare at ``--threads 1``. Both settings are recorded in the run's parameters.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import time
from typing import Callable

import numpy as np
import pandas as pd
import torch

from audiolib import paths
from audiolib.features import vggish_examples
from audiolib.results import start_run

SAMPLE_RATE = 16000
PEERS = ("torchaudio", "librosa", "numpy_reference")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks frontend", description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32, help="clips per call (default 32)")
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length in seconds (default 10)")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds; the median is reported (default 7)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1 ...")
    parser.add_argument("--threads", type=lambda text: [int(t) for t in text.split(",")], default=None,
                        help="comma list of torch intra-op and BLAS thread counts, each a separate set of "
                             "rounds (default: 1 and torch's current count)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--peers", default=",".join(PEERS), help=f"comma list from {list(PEERS)} (default all)")
    parser.add_argument("--no-save", action="store_true", help="print only, write no run folder")
    args = parser.parse_args(argv)
    for name in ("batch", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    if args.threads is not None and min(args.threads) < 1:
        parser.error("--threads must be positive")
    if args.seconds <= 0:
        parser.error("--seconds must be > 0")
    unknown = sorted(set(filter(None, args.peers.split(","))) - set(PEERS))
    if unknown:
        parser.error(f"unknown peer(s) {unknown}; choose from {list(PEERS)}")
    return args


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else as ``torch.device``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: CUDA is not available on this machine")
    return device


def _load_reference():
    path = paths.project_root() / "tests" / "reference_vggish_numpy.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("reference_vggish_numpy", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _implementations(waveform: torch.Tensor, device: torch.device, peers: list[str]) -> dict[str, tuple[Callable, str]]:
    """name -> (zero-argument callable returning its output, what exactly it runs)."""
    on_device = waveform.to(device)
    host = waveform.numpy()

    def sync(out):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return out

    impls: dict[str, tuple[Callable, str]] = {
        "audiolib": (lambda: sync(vggish_examples(on_device, SAMPLE_RATE)),
                     f"audiolib.features.vggish_examples on {device}, float32, log-mel + 96-frame patches"),
    }
    if "torchaudio" in peers:
        import torchaudio

        mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=SAMPLE_RATE, n_fft=512, win_length=400, hop_length=160, f_min=125.0, f_max=7500.0,
            n_mels=64, power=1.0, center=False, mel_scale="htk").to(device)
        impls["torchaudio"] = (lambda: sync(torch.log(mel(on_device) + 0.01)),
                               f"torchaudio.transforms.MelSpectrogram(power=1, center=False, htk) + log on {device}")
    if "librosa" in peers:
        import librosa

        def run_librosa():
            spec = librosa.feature.melspectrogram(
                y=host, sr=SAMPLE_RATE, n_fft=512, win_length=400, hop_length=160, center=False, power=1.0,
                n_mels=64, fmin=125.0, fmax=7500.0, htk=True, norm=None)
            return np.log(spec + 0.01)

        impls["librosa"] = (run_librosa, "librosa.feature.melspectrogram(htk=True, power=1, center=False) "
                                         "+ np.log on the [batch, time] array, CPU")
    if "numpy_reference" in peers:
        reference = _load_reference()
        if reference is None:
            print("numpy_reference skipped: tests/reference_vggish_numpy.py not found")
        else:
            impls["numpy_reference"] = (lambda: np.stack([reference.waveform_to_examples(clip) for clip in host]),
                                        "tests/reference_vggish_numpy.py, float64, clip by clip, CPU")
    return impls


def _time_round_robin(impls: dict[str, tuple[Callable, str]], repeats: int) -> dict[str, tuple[list, list]]:
    """name -> (wall seconds, process CPU seconds) of ``repeats`` calls, implementations interleaved."""
    times: dict[str, tuple[list, list]] = {name: ([], []) for name in impls}
    for _ in range(repeats):
        for name, (fn, _) in impls.items():
            start, cpu_start = time.perf_counter(), time.process_time()
            fn()
            times[name][0].append(time.perf_counter() - start)
            times[name][1].append(time.process_time() - cpu_start)
    return times


def _rows(impls, times, audio_seconds: float, common: dict) -> list[dict]:
    wall = {name: statistics.median(t[0]) for name, t in times.items()}
    cpu = {name: statistics.median(t[1]) for name, t in times.items()}
    rows = []
    for name, (_, what) in impls.items():
        base = {"implementation": name, **common, "runs": what}
        for metric, value in (("audio_seconds_per_second", audio_seconds / wall[name]),
                              ("median_seconds", wall[name]),
                              ("min_seconds", min(times[name][0])),
                              ("ours_speedup", wall[name] / wall["audiolib"]),
                              ("median_cpu_seconds", cpu[name]),
                              ("ours_cpu_speedup", cpu[name] / cpu["audiolib"])):
            rows.append({**base, "metric": metric, "value": value})
    return rows


def measure(argv: list[str] | None = None) -> tuple[pd.DataFrame, dict]:
    """Time every implementation at each thread count; return the tidy table and the parameters."""
    args = _parse(argv)
    device = resolve_device(args.device)
    thread_counts = args.threads or sorted({1, torch.get_num_threads()})
    generator = torch.Generator().manual_seed(args.seed)
    samples = int(round(args.seconds * SAMPLE_RATE))
    waveform = 0.1 * torch.randn(args.batch, samples, generator=generator)
    audio_seconds = args.batch * samples / SAMPLE_RATE
    peers = [p for p in args.peers.split(",") if p]
    impls = _implementations(waveform, device, peers)

    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    rows: list[dict] = []
    initial_threads = torch.get_num_threads()
    try:
        for threads in thread_counts:
            torch.set_num_threads(threads)
            with threadpool_limits(limits=threads):  # NumPy's BLAS too; numpy.fft is single-threaded
                outputs = {name: fn() for name, (fn, _) in impls.items()}  # warm-up: caches, CUDA init
                times = _time_round_robin(impls, args.repeats)
            common = {"device": str(device), "threads": threads, "batch": args.batch,
                      "clip_seconds": args.seconds, "repeats": args.repeats}
            rows += _rows(impls, times, audio_seconds, common)
            if "numpy_reference" in outputs:
                diff = np.abs(outputs["audiolib"].detach().cpu().double().numpy() - outputs["numpy_reference"]).max()
                rows.append({"implementation": "audiolib", **common, "runs": impls["audiolib"][1],
                             "metric": "max_abs_diff_vs_numpy_reference", "value": float(diff)})
    finally:
        torch.set_num_threads(initial_threads)
    params = {"device": str(device), "threads": thread_counts, "batch": args.batch, "clip_seconds": args.seconds,
              "repeats": args.repeats, "seed": args.seed, "peers": peers, "save": not args.no_save,
              "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
              "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
              "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset: active spin-waiting)")}
    return pd.DataFrame(rows), params


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Wide view: one row per (threads, implementation)."""
    wide = table.pivot_table(index=["threads", "implementation"], columns="metric", values="value", sort=False)
    order = ["audio_seconds_per_second", "ours_speedup", "median_seconds", "min_seconds", "median_cpu_seconds",
             "ours_cpu_speedup", "max_abs_diff_vs_numpy_reference"]
    wide = wide[[c for c in order if c in wide.columns]]
    return wide.sort_values(["threads", "audio_seconds_per_second"], ascending=[True, False])


def main(argv: list[str] | None = None) -> int:
    table, params = measure(argv)
    print(f"front-end throughput: {params['batch']} clips x {params['clip_seconds']} s at 16 kHz, device "
          f"{params['device']}, torch/BLAS threads {params['threads']} (NumPy FFT: 1 thread), median of "
          f"{params['repeats']} interleaved rounds; load average before: {params['load_average']}")
    print("ours_speedup = peer time / our time (> 1: ours faster); audio_seconds_per_second = throughput; "
          f"OMP_WAIT_POLICY {params['omp_wait_policy']}")
    with pd.option_context("display.float_format", "{:.4g}".format, "display.width", 200):
        print(summary(table).to_string())
    if params["save"]:
        run = start_run("bench_frontend", params)
        run.save_table("frontend_throughput", table, describes="front-end throughput (no paper table)",
                       data=f"synthetic white noise, {params['batch']} x {params['clip_seconds']} s at 16 kHz, "
                            f"seed {params['seed']}")
        folder = run.finish()
        print(f"saved {folder / 'frontend_throughput.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
