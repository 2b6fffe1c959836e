"""End-to-end featurisation: audio files to a feature cache, in clips per second.

``python -m benchmarks featurize [--datasets esc10,urbansound8k] [--workers 0,2] [--limit N]
[--config vggish] [--shard-clips 512] [--no-save]``

For each dataset of ``../shared/data`` (the ESC-10 clips: 400 x 5 s Ogg Vorbis at 44.1 kHz; the
UrbanSound8K folds present: 4 s Ogg Vorbis at 22.05 kHz) and each number of DataLoader workers,
:func:`audiolib.cache.build_cache` runs into a fresh, empty cache folder: decode, resample to
16 kHz, log-mel, 96-frame patches, write the memory-mapped shards. Reported per run: clips/s,
audio seconds per second, patches/s, and the MiB written; then the same entry is read back
(``to_patchset``: patches/s from the page cache) and asked for again (a cache hit: seconds to
find and open it). The audio files are read once, and two clips featurised, before the first
timing, so every run starts with the files in the page cache and the one-time set-up done.

The table (tidy) goes to ``results/bench_featurize/<run>/``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

import pandas as pd
import torch

from audiolib import cache
from audiolib.audio import info as audio_info
from audiolib.paths import shared_data_root
from audiolib.results import start_run

DATASETS = ("esc10", "urbansound8k")


def _parse(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks featurize", description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default=",".join(DATASETS), help=f"comma list from {list(DATASETS)}")
    p.add_argument("--workers", default="0,2", help="comma list of DataLoader worker counts (default 0,2)")
    p.add_argument("--limit", type=int, default=None, help="first N clips of each dataset (default all)")
    p.add_argument("--config", default="vggish", help="front-end preset (default vggish)")
    p.add_argument("--shard-clips", type=int, default=512, help="clips per shard (default 512)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads of the main process (workers always use 1); default: torch's")
    p.add_argument("--no-save", action="store_true", help="print only, write no run folder")
    args = p.parse_args(argv)
    args.datasets = [d for d in args.datasets.split(",") if d]
    bad = [d for d in args.datasets if d not in DATASETS]
    if bad:
        p.error(f"--datasets: unknown {bad}; allowed {list(DATASETS)}")
    try:
        args.workers = [int(w) for w in args.workers.split(",")]
    except ValueError:
        p.error(f"--workers must be comma-separated integers, got {args.workers!r}")
    if any(w < 0 for w in args.workers):
        p.error("--workers must be >= 0")
    if args.limit is not None and args.limit < 1:
        p.error("--limit must be >= 1")
    return args


def load(name: str, limit: int | None):
    """The clips of ``name`` present in the shared data (absent listed clips are left out)."""
    import warnings

    if name == "esc10":
        from audiolib.data.esc50 import load_esc50

        clips = load_esc50(esc10=True)
    else:
        from audiolib.data.urbansound8k import load_urbansound8k

        with warnings.catch_warnings():  # folds 4-10 are absent from the shared subset, by design
            warnings.simplefilter("ignore")
            clips = load_urbansound8k()
    if limit is not None:
        clips = clips.subset(range(min(limit, len(clips))), name=clips.name)
    return clips


def _warm_files(clips) -> tuple[float, int]:
    """Read every file once (page cache) and sum the audio durations (headers)."""
    seconds, size = 0.0, 0
    for path in clips.manifest["path"]:
        with open(path, "rb") as fh:
            size += len(fh.read())
        seconds += audio_info(path).duration
    return seconds, size


def measure(clips, config: str, workers: int, shard_clips: int, audio_seconds: float) -> dict[str, float]:
    root = tempfile.mkdtemp(prefix="bench-featurize-")
    try:
        start = time.perf_counter()
        path = cache.build_cache(clips, config, root=root, shard_clips=shard_clips, num_workers=workers,
                                 progress=False)
        build = time.perf_counter() - start
        written = sum(f.stat().st_size for f in path.iterdir())
        data = cache.open_cache(path)
        start = time.perf_counter()
        patches = data.to_patchset().patches
        read = time.perf_counter() - start
        start = time.perf_counter()
        cache.open_cache(cache.build_cache(clips, config, root=root, progress=False))
        hit = time.perf_counter() - start
        return {"clips_per_second": len(clips) / build, "audio_seconds_per_second": audio_seconds / build,
                "patches_per_second": patches.shape[0] / build, "build_seconds": build, "clips": len(clips),
                "patches": patches.shape[0], "mib_written": written / 2**20,
                "read_patches_per_second": patches.shape[0] / read, "cache_hit_seconds": hit}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if shared_data_root() is None:
        print("featurize: ../shared/data is absent (set AUDIOLIB_SHARED_DATA); nothing to measure", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for name in args.datasets:
        clips = load(name, args.limit)
        audio_seconds, size = _warm_files(clips)
        warm = tempfile.mkdtemp(prefix="bench-featurize-warmup-")
        try:  # one-time costs (imports, filter banks, resampling kernels) outside the timings
            cache.build_cache(clips.subset(range(min(2, len(clips)))), args.config, root=warm, progress=False)
        finally:
            shutil.rmtree(warm, ignore_errors=True)
        print(f"{name}: {len(clips)} clips, {audio_seconds:.0f} s of audio, {size / 2**20:.1f} MiB of files", flush=True)
        for workers in args.workers:
            figures = measure(clips, args.config, workers, args.shard_clips, audio_seconds)
            print(f"  workers={workers}: {figures['clips_per_second']:.1f} clips/s, "
                  f"{figures['audio_seconds_per_second']:.0f} audio s/s, {figures['patches']} patches in "
                  f"{figures['build_seconds']:.1f} s; read back {figures['read_patches_per_second']:.0f} patches/s; "
                  f"cache hit {figures['cache_hit_seconds'] * 1000:.0f} ms", flush=True)
            for metric, value in figures.items():
                rows.append({"dataset": name, "config": args.config, "workers": workers,
                             "main_torch_threads": torch.get_num_threads(), "metric": metric,
                             "value": value, "description": clips.description})
    table = pd.DataFrame(rows)
    if not args.no_save and not table.empty:
        run = start_run("bench_featurize", {k: v for k, v in vars(args).items()}, profile="bench")
        for name in args.datasets:
            clips = load(name, args.limit)
            run.record_data(name, clips.fingerprint(), description=clips.description, unusable=clips.unusable)
        run.record("command", " ".join(["python -m benchmarks featurize", *(argv if argv is not None else sys.argv[1:])]))
        run.record("cpu_count", os.cpu_count())
        run.record("cpu_load_average", os.getloadavg() if hasattr(os, "getloadavg") else None)
        run.save_table("featurize_throughput", table, describes="end-to-end featurisation throughput (no paper table)",
                       data=", ".join(f"{d} from ../shared/data" + (f" (first {args.limit} clips)" if args.limit else "")
                                      for d in args.datasets))
        print(f"-> {run.finish()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
