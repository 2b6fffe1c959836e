"""Front-end throughput: this project's VGGish log-mel against librosa, torchaudio and the NumPy reference.

``python -m benchmarks frontend [--batch 32] [--seconds 10] [--repeats 7] [--device auto] [--threads N]``

One process, one input (``batch`` clips of white noise at 16 kHz, fixed seed), every
implementation timed in interleaved rounds (so background load hits them alike), median of the
rounds reported as audio-seconds per second, and the ratio of ours to each peer.

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
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op and BLAS threads for every implementation (default: torch's current)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--peers", default=",".join(PEERS), help=f"comma list from {list(PEERS)} (default all)")
    parser.add_argument("--no-save", action="store_true", help="print only, write no run folder")
    args = parser.parse_args(argv)
    for name in ("batch", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
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


def measure(argv: list[str] | None = None) -> tuple[pd.DataFrame, dict]:
    """Time every implementation; return the tidy table and the run parameters."""
    args = _parse(argv)
    device = resolve_device(args.device)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    try:  # keep NumPy's BLAS to the same thread count (numpy.fft itself is single-threaded)
        from threadpoolctl import threadpool_limits
        limiter = threadpool_limits(limits=threads)
    except ImportError:  # pragma: no cover - scikit-learn brings threadpoolctl
        limiter = None

    generator = torch.Generator().manual_seed(args.seed)
    samples = int(round(args.seconds * SAMPLE_RATE))
    waveform = 0.1 * torch.randn(args.batch, samples, generator=generator)
    audio_seconds = args.batch * samples / SAMPLE_RATE
    peers = [p for p in args.peers.split(",") if p]
    impls = _implementations(waveform, device, peers)

    outputs = {name: fn() for name, (fn, _) in impls.items()}  # warm-up: caches, allocators, CUDA init
    timings: dict[str, list[float]] = {name: [] for name in impls}
    for _ in range(args.repeats):
        for name, (fn, _) in impls.items():
            start = time.perf_counter()
            fn()
            timings[name].append(time.perf_counter() - start)
    if limiter is not None:
        limiter.unregister()

    median = {name: statistics.median(times) for name, times in timings.items()}
    ours = audio_seconds / median["audiolib"]
    common = {"device": str(device), "threads": threads, "batch": args.batch, "clip_seconds": args.seconds,
              "repeats": args.repeats}
    rows = []
    for name, (_, what) in impls.items():
        speed = audio_seconds / median[name]
        base = {"implementation": name, **common, "runs": what}
        rows.append({**base, "metric": "audio_seconds_per_second", "value": speed})
        rows.append({**base, "metric": "median_seconds", "value": median[name]})
        rows.append({**base, "metric": "min_seconds", "value": min(timings[name])})
        rows.append({**base, "metric": "ours_speedup", "value": ours / speed})
    if "numpy_reference" in outputs:
        ours_out = outputs["audiolib"].detach().cpu().double().numpy()
        diff = float(np.abs(ours_out - outputs["numpy_reference"]).max())
        rows.append({"implementation": "audiolib", **common, "runs": impls["audiolib"][1],
                     "metric": "max_abs_diff_vs_numpy_reference", "value": diff})
    params = {**common, "seed": args.seed, "peers": peers, "save": not args.no_save,
              "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
              "cpu_count": os.cpu_count(), "numpy_fft_threads": 1}
    return pd.DataFrame(rows), params


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Wide view: one row per implementation."""
    wide = table.pivot_table(index="implementation", columns="metric", values="value", sort=False)
    return wide.sort_values("audio_seconds_per_second", ascending=False)


def main(argv: list[str] | None = None) -> int:
    table, params = measure(argv)
    first = table.iloc[0]
    print(f"front-end throughput: {first['batch']} clips x {first['clip_seconds']} s at 16 kHz, "
          f"device {first['device']}, {first['threads']} torch/BLAS thread(s), NumPy FFT 1 thread, "
          f"median of {first['repeats']} rounds")
    with pd.option_context("display.float_format", "{:.4g}".format, "display.width", 160):
        print(summary(table).to_string())
    if params["save"]:
        run = start_run("bench_frontend", params)
        run.save_table("frontend_throughput", table, describes="front-end throughput (no paper table)",
                       data=f"synthetic white noise, {first['batch']} x {first['clip_seconds']} s at 16 kHz, "
                            f"seed {params['seed']}")
        folder = run.finish()
        print(f"saved {folder / 'frontend_throughput.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
