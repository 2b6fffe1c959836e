"""An on-disk, memory-mapped feature cache: features are computed once per (dataset, front end).

A cache entry holds the log-mel patches of every clip of a :class:`~audiolib.data.base.ClipSet`
under one front-end configuration. Its folder name carries a fingerprint (:func:`feature_key`)
of everything the features depend on:

- the dataset: its name, :meth:`ClipSet.fingerprint` (ids, paths, labels, folds, classes), its
  description, and the size and modification time of every audio file;
- the front end: every field of the :class:`~audiolib.features.LogMelConfig`, ``pad_short``,
  the stored dtype, and a digest of the source code that computes the features
  (``audiolib/features/*.py``, ``audiolib/data/patches.py``, ``audiolib/audio.py``) and of the
  module of the clip loader (e.g. the synthetic corpus generator).

Change any of them and the key changes, so a read is never stale; the old entry stays on disk
until deleted (:func:`remove_cache`).

Layout of an entry ``<root>/<dataset>-<key>/``::

    meta.json              key, its parts, counts, shapes, shards, classes, build time
    shard-00000.npy        patches [n_0, frames, mels] of clips [0, c_1)   (memory-mapped)
    shard-00000.clips.npy  [n_0] clip row of each patch
    ...
    clip_index.npy         [N] clip row of every patch; clip_targets.npy [n_clips, C]

Integrity: when a file of the entry is written, its size, its SHA-256 and a SHA-256 of 16
sampled 64 KiB blocks (:func:`file_checksums`) go into ``meta.json``. Opening an entry checks
``meta.json`` itself, every file's size and sampled hash, and the full hash of the two small
index files (``verify="sample"``, the default of :class:`CachedPatchSet`); ``verify="full"``
hashes every shard in full, and :meth:`CachedPatchSet.to_patchset` (so :func:`cached_patchset`
with ``in_memory=True``, the notebooks' path) always does, because it reads every byte anyway.
Measured on ESC-10 from ``../shared/data/esc50`` (400 clips, 2,002 VGGish patches, one shard of
47 MiB, a busy 2-core CPU; ``open_cache`` timed after ``build_cache(load_esc50(root, esc10=True))``):
``verify="sample"`` 2 ms, ``verify="full"`` 95 ms (SHA-256 at 0.5 to 0.8 GB/s), against 29 ms to
read every patch without hashing and 24 s to compute them; ``to_patchset`` with its full check
134 ms. So the full check roughly quadruples a load from the page cache, and is about 0.4 % of
building the entry.
A damaged file (a flipped byte, a truncated or missing shard, a hand-edited ``meta.json``)
raises :class:`CacheIntegrityError` naming the file and the way out: delete the entry
(:func:`remove_cache`) and the next call rebuilds it. A checked file is not hashed again in
the same process until its size or modification time changes.

Shards hold whole clips, ``shard_clips`` at a time. While an entry is built its shards go to
``.<dataset>-<key>.partial/``; each finished shard is kept there, so an interrupted build
resumes with the next shard, and the folder is renamed into place when complete. Under torchrun
the ranks featurise different shards and rank 0 completes the entry.

Reading: :class:`CachedPatchSet` is a training set for :func:`audiolib.train.fit`, reading
patches from the memory-mapped shards (the operating system pages them in and out), so a corpus
larger than memory trains without loading it; :meth:`CachedPatchSet.stream` makes each rank read
only its own shards, one shard after the other. :meth:`CachedPatchSet.to_patchset` loads it all
into an in-memory :class:`~audiolib.data.patches.PatchSet`.

>>> patches = cached_patchset(clips, "vggish", num_workers=2)        # doctest: +SKIP
>>> again = cached_patchset(clips, "vggish")      # no recomputation: read from data/features/  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import time
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from . import distributed as _dist
from . import paths
from .features import get_config
from .runtime import torch_threads

__all__ = [
    "CACHE_FORMAT", "CacheIntegrityError", "file_checksums", "verify_cache", "feature_key", "key_parts", "cache_root",
    "cache_path", "build_cache", "open_cache", "cached_patchset", "CachedPatchSet", "StreamingPatchSet", "list_caches",
    "remove_cache", "cached_embeddings", "network_digest",
]

#: Bump when the layout changes; part of every key. 2: checksums of every file in meta.json.
CACHE_FORMAT = 2
DTYPES = ("float32", "float16")
_CODE_FILES = ("features/*.py", "data/patches.py", "audio.py")
VERIFY = ("sample", "full")
_INDEX_FILES = ("clip_index.npy", "clip_targets.npy")
_SAMPLE_BLOCKS, _SAMPLE_BLOCK_BYTES = 16, 1 << 16


class CacheIntegrityError(ValueError):
    """A cache entry whose files do not match what was recorded when it was written."""


# --- keys ---------------------------------------------------------------------------------------
def cache_root() -> Path:
    """``<data_root>/features`` (``$AUDIOLIB_DATA/features`` when set)."""
    return paths.data_root() / "features"


@lru_cache(maxsize=1)
def _code_digest() -> str:
    """Digest of the source files that compute features (so a changed front end is a new key)."""
    package = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for pattern in _CODE_FILES:
        for file in sorted(package.glob(pattern)):
            h.update(file.relative_to(package).as_posix().encode())
            h.update(file.read_bytes())
    return h.hexdigest()[:16]


def _files_digest(clips) -> str:
    """Digest of (path, size, mtime) of every clip's file: a replaced recording is a new key."""
    h = hashlib.sha256()
    if "path" in clips.manifest:
        for path in clips.manifest["path"]:
            if isinstance(path, (str, os.PathLike)) and str(path):
                try:
                    st = os.stat(path)
                    h.update(f"{path}|{st.st_size}|{st.st_mtime_ns}\n".encode())
                except OSError:
                    h.update(f"{path}|missing\n".encode())
    return h.hexdigest()[:16]


def _loader_digest(loader) -> str:
    """Name and source digest of the code that produces a clip's audio (e.g. a synthetic generator).

    A loader that wraps another (an attribute ``loader``, or ``clips.loader`` for one wrapping a
    whole ClipSet, as a preprocessing step around a dataset's file loader) adds the inner one's
    digest, so that a change to either is a new key.
    """
    import inspect

    target = loader if inspect.isfunction(loader) or inspect.ismethod(loader) else type(loader)
    name = f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', '?')}"
    try:
        source = Path(inspect.getsourcefile(target) or "").read_bytes()
    except (TypeError, OSError):
        source = b""
    digest = f"{name}:{hashlib.sha256(source).hexdigest()[:16]}"
    inner = getattr(loader, "loader", None) or getattr(getattr(loader, "clips", None), "loader", None)
    return digest if inner is None or inner is loader else f"{digest}|inner:{_loader_digest(inner)}"


def key_parts(clips, config, *, pad_short: bool = True, dtype: str = "float32") -> dict[str, Any]:
    """Everything a cache entry's features depend on (JSON-able); :func:`feature_key` hashes it."""
    config = get_config(config)
    config_fields = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else {"repr": repr(config)}
    return {
        "format": CACHE_FORMAT,
        "dataset": clips.name,
        "dataset_fingerprint": clips.fingerprint(),
        "dataset_description": clips.description,
        "n_clips": len(clips),
        "files": _files_digest(clips),
        "loader": _loader_digest(clips.loader),
        "frontend": {"class": type(config).__name__, **config_fields},
        "code": _code_digest(),
        "pad_short": bool(pad_short),
        "dtype": dtype,
    }


def feature_key(clips, config, *, pad_short: bool = True, dtype: str = "float32") -> str:
    """The fingerprint of (dataset, front-end config): 20 hex digits.

    >>> feature_key(clips, "vggish") != feature_key(clips, "t19_cnn")   # doctest: +SKIP
    True
    """
    text = json.dumps(key_parts(clips, config, pad_short=pad_short, dtype=dtype), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "dataset"


def cache_path(clips, config, *, root: str | Path | None = None, pad_short: bool = True,
               dtype: str = "float32") -> Path:
    """Folder of the entry for ``(clips, config)`` (it may not exist yet)."""
    root = Path(root) if root is not None else cache_root()
    return root / f"{_safe(clips.name)}-{feature_key(clips, config, pad_short=pad_short, dtype=dtype)}"


# --- building -----------------------------------------------------------------------------------
def _save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, array)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    os.replace(tmp, path)


# --- integrity ----------------------------------------------------------------------------------
def _sample_offsets(size: int) -> list[int]:
    """Start of each sampled block: evenly spaced from the first byte to the last block."""
    last = max(size - _SAMPLE_BLOCK_BYTES, 0)
    return sorted({last * k // (_SAMPLE_BLOCKS - 1) for k in range(_SAMPLE_BLOCKS)})


def _sampled_sha256(fh, size: int) -> str:
    h = hashlib.sha256(str(size).encode())
    for offset in _sample_offsets(size):
        fh.seek(offset)
        h.update(fh.read(_SAMPLE_BLOCK_BYTES))
    return h.hexdigest()


def file_checksums(path: str | Path, *, full: bool = True) -> dict[str, Any]:
    """``{"size", "sample_sha256"[, "sha256"]}`` of a file, as recorded in a cache entry's meta.

    ``sample_sha256`` hashes the size and 16 blocks of 64 KiB spread over the file (the first
    and the last included): it reads at most 1 MiB whatever the size of the file.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        out: dict[str, Any] = {"size": size, "sample_sha256": _sampled_sha256(fh, size)}
        if full:
            fh.seek(0)
            out["sha256"] = hashlib.file_digest(fh, "sha256").hexdigest() if hasattr(hashlib, "file_digest") \
                else _sha256_chunks(fh)
    return out


def _sha256_chunks(fh) -> str:  # Python 3.10 has no hashlib.file_digest
    h = hashlib.sha256()
    for block in iter(lambda: fh.read(1 << 22), b""):
        h.update(block)
    return h.hexdigest()


#: (file, size, mtime_ns) -> "sample" or "full": files already checked in this process.
_CHECKED: dict[tuple[str, int, int], str] = {}


def _way_out(entry: Path) -> str:
    return (f"delete the entry with audiolib.cache.remove_cache({str(entry)!r}) (or the folder itself) and "
            "run again: the next call rebuilds it")


def _check_file(entry: Path, name: str, recorded: Any, tier: str) -> None:
    """Raise :class:`CacheIntegrityError` unless file ``name`` of ``entry`` matches ``recorded``."""
    path = entry / name
    if not isinstance(recorded, dict) or not {"size", "sample_sha256", "sha256"} <= set(recorded):
        raise CacheIntegrityError(f"feature cache {entry}: meta.json records no checksums for {name}; {_way_out(entry)}")
    try:
        st = path.stat()
    except OSError:
        raise CacheIntegrityError(f"feature cache file {path} is missing; {_way_out(entry)}") from None
    memo = (str(path), st.st_size, st.st_mtime_ns)
    if _CHECKED.get(memo) in (tier, "full"):
        return
    if st.st_size != recorded["size"]:
        raise CacheIntegrityError(f"feature cache file {path} has {st.st_size} bytes, {recorded['size']} were written "
                                  f"(truncated or overwritten); {_way_out(entry)}")
    found = file_checksums(path, full=tier == "full")
    key = "sha256" if tier == "full" else "sample_sha256"
    if found[key] != recorded[key]:
        raise CacheIntegrityError(f"feature cache file {path} does not match its checksum ({key}): the file is "
                                  f"damaged; {_way_out(entry)}")
    _CHECKED[memo] = tier


def _shard_name(s: int) -> str:
    return f"shard-{s:05d}"


@contextlib.contextmanager
def _lock(path: Path):
    """An exclusive advisory lock on ``path`` (two processes never build one entry together)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _build_shard(clips, config, staging: Path, s: int, rows: range, *, num_workers: int, pad_short: bool,
                 dtype: str, bar) -> None:
    from .loaders import feature_loader

    name = _shard_name(s)
    if (staging / f"{name}.json").exists():  # finished by an earlier, interrupted build
        bar.update(len(rows))
        return
    chunks, owners = [], []
    with torch_threads(1) if num_workers == 0 else contextlib.nullcontext():
        for row, patches in feature_loader(clips, config, rows=rows, num_workers=num_workers, pad_short=pad_short):
            chunks.append(patches.numpy().astype(dtype, copy=False))
            owners.append(np.full(patches.shape[0], row, dtype=np.int64))
            bar.update(1)
    _save_npy(staging / f"{name}.npy", np.ascontiguousarray(np.concatenate(chunks)))
    _save_npy(staging / f"{name}.clips.npy", np.concatenate(owners))
    _write_json(staging / f"{name}.json", {"clips": [rows.start, rows.stop], "patches": int(sum(len(o) for o in owners)),
                                           "shape": list(chunks[0].shape[1:]),
                                           "checksums": file_checksums(staging / f"{name}.npy")})


def _finalise(clips, staging: Path, final: Path, parts: dict, n_shards: int, seconds: float) -> None:
    shards, offsets, clip_index, shape = [], [0], [], None
    for s in range(n_shards):
        info = json.loads((staging / f"{_shard_name(s)}.json").read_text())
        if shape is not None and info["shape"] != shape:
            raise ValueError(f"feature cache {staging}: shard {s} has patches of shape {info['shape']}, "
                             f"shard 0 {shape}; the front end gave clips different mel/frame sizes")
        shape = info["shape"]
        offsets.append(offsets[-1] + info["patches"])
        shards.append({"file": f"{_shard_name(s)}.npy", "clips": info["clips"], "patches": [offsets[-2], offsets[-1]],
                       "checksums": info["checksums"]})
        clip_index.append(np.load(staging / f"{_shard_name(s)}.clips.npy"))
    _save_npy(staging / "clip_index.npy", np.concatenate(clip_index))
    _save_npy(staging / "clip_targets.npy", clips.targets().astype(np.float32))
    meta = {
        "checksums": {name: file_checksums(staging / name) for name in _INDEX_FILES},
        "key": final.name.rsplit("-", 1)[-1], "parts": parts, "n_clips": len(clips), "n_patches": offsets[-1],
        "patch_shape": shape, "dtype": parts["dtype"], "classes": list(clips.classes),
        "clip_ids": clips.manifest["clip_id"].astype(str).tolist(), "shards": shards,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "build_seconds": round(seconds, 3),
        "description": clips.description,
    }
    _write_json(staging / "meta.json", meta)
    for s in range(n_shards):
        (staging / f"{_shard_name(s)}.json").unlink()
        (staging / f"{_shard_name(s)}.clips.npy").unlink()
    if final.exists():  # an entry whose meta.json was deleted: it cannot be trusted, replace it
        warnings.warn(f"feature cache {final} has no meta.json (incomplete or damaged); replacing it with the new build")
        shutil.rmtree(final)
    os.replace(staging, final)


def _scan(clips, config, pad_short: bool, num_workers: int, my_rows: list[range]) -> None:
    """Check every clip before the first feature is computed (:func:`audiolib.data.scan.scan_clips`).

    One process: all clips, files read by ``num_workers`` threads. Under torchrun: every rank
    checks labels, ids and headers of all clips (cheap), fully decodes only the clips of its own
    shards, and the verdicts are gathered, so every rank raises the same error together.
    """
    from .data.patches import patch_seconds
    from .data.scan import UnusableDataError, scan_clips, unusable_message

    min_seconds = 0.0 if pad_short else patch_seconds(config)
    if _dist.world_size() == 1:
        scan_clips(clips, on_error="error", min_seconds=min_seconds, num_workers=num_workers)
        return
    scan_clips(clips, on_error="error", decode="headers", min_seconds=min_seconds, num_workers=num_workers)
    rows = [r for part in my_rows for r in part]
    found = scan_clips(clips.subset(rows), on_error="report", min_seconds=min_seconds,
                       num_workers=num_workers).unusable if rows else []
    found = [u for part in _dist.all_gather_object(found) for u in part]
    if found:
        order = {cid: k for k, cid in enumerate(clips.manifest["clip_id"].astype(str))}
        found.sort(key=lambda u: order.get(str(u["clip_id"]), -1))
        raise UnusableDataError(unusable_message(clips.name, found, len(clips)), found)


def build_cache(clips, config="vggish", *, root: str | Path | None = None, shard_clips: int = 2048,
                num_workers: int = 0, pad_short: bool = True, dtype: str = "float32",
                progress: bool = True) -> Path:
    """Compute and store the patches of every clip, unless the entry already exists.

    Args:
        clips: a ClipSet. Before the first feature is computed every clip is scanned
            (:func:`audiolib.data.scan.scan_clips`): an unusable one raises a ``ValueError``
            naming the file and the reason. To go on without them, scan first and cache the
            usable set: ``clips = scan_clips(clips).clips``. A failure while featurising keeps
            the shards finished so far for the next attempt. The scan reads files with
            ``num_workers`` threads; under torchrun each rank decodes only its own shards' clips.
        config: a :class:`~audiolib.features.LogMelConfig` or a preset name.
        root: cache root (default ``data/features``, or ``$AUDIOLIB_DATA/features``).
        shard_clips: clips per shard (whole clips per shard; the last shard may be smaller).
        num_workers: DataLoader processes decoding, resampling and featurising (0: this one).
        pad_short: pad clips shorter than one patch to one patch (as ``build_patchset``).
        dtype: ``"float32"`` (exact) or ``"float16"`` (half the disk; rounding ~1e-3 relative).

    Returns:
        The entry's folder. Under torchrun every rank must call it: rank ``r`` featurises
        shards ``r, r + world, ...`` and rank 0 completes the entry (one shared file system).
    """
    if dtype not in DTYPES:
        raise ValueError(f"build_cache: dtype must be one of {DTYPES}, got {dtype!r}")
    if shard_clips < 1:
        raise ValueError(f"build_cache: shard_clips must be >= 1, got {shard_clips}")
    if len(clips) == 0:
        raise ValueError(f"build_cache: dataset {clips.name!r} has no clips")
    config = get_config(config)
    rank, world = _dist.rank(), _dist.world_size()
    parts = key_parts(clips, config, pad_short=pad_short, dtype=dtype)
    final = cache_path(clips, config, root=root, pad_short=pad_short, dtype=dtype)
    if (final / "meta.json").exists():
        return final
    staging = final.with_name(f".{final.name}.partial")
    bounds = list(range(0, len(clips), shard_clips)) + [len(clips)]
    n_shards = len(bounds) - 1
    _scan(clips, config, pad_short, num_workers, [range(bounds[s], bounds[s + 1]) for s in range(n_shards)
                                                  if s % world == rank])
    start = time.perf_counter()
    with _lock(final.with_name(f".{final.name}.lock")) if world == 1 else contextlib.nullcontext():
        if (final / "meta.json").exists():  # another process finished it while we waited
            return final
        staging.mkdir(parents=True, exist_ok=True)
        mine = [s for s in range(n_shards) if s % world == rank]
        total = sum(bounds[s + 1] - bounds[s] for s in mine)
        with tqdm(total=total, desc=f"features {clips.name}", disable=not progress, leave=False) as bar:
            for s in mine:
                _build_shard(clips, config, staging, s, range(bounds[s], bounds[s + 1]), num_workers=num_workers,
                             pad_short=pad_short, dtype=dtype, bar=bar)
        _dist.barrier()
        if rank == 0:
            _finalise(clips, staging, final, parts, n_shards, time.perf_counter() - start)
        _dist.barrier()
    return final


def _is_range(a: np.ndarray) -> bool:
    return len(a) > 0 and int(a[-1]) - int(a[0]) + 1 == len(a) and bool(np.all(np.diff(a) == 1))


# --- reading ------------------------------------------------------------------------------------
class CachedPatchSet(Dataset):
    """The patches of a cache entry, read from memory-mapped shards.

    The same reading interface as :class:`~audiolib.data.patches.PatchSet`: ``len``,
    ``dataset[i] -> (x [1, frames, mels], y [C])``, ``get_batch(idx) -> (x [B, 1, frames, mels],
    y [B, C])`` (float32, CPU), ``clip_index [N]``, ``clip_targets [n_clips, C]``, ``clip_ids``,
    ``classes``, ``n_clips``, ``example_shape``, ``subset_clips``, ``select_classes``. Nothing is
    loaded until read; rows are read from disk (through the page cache) on demand.

    A view (after ``subset_clips``) maps its positions to rows of the entry.
    """

    def __init__(self, path: str | Path, *, verify: str = "sample", _rows: np.ndarray | None = None,
                 _clip_rows: np.ndarray | None = None, _class_idx: np.ndarray | None = None):
        if verify not in VERIFY:
            raise ValueError(f"{type(self).__name__}: verify must be one of {VERIFY}, got {verify!r}")
        self.path = Path(path)
        self.meta = _read_meta(self.path)
        self.verify(full=verify == "full")
        offsets = [sh["patches"][0] for sh in self.meta["shards"]] + [self.meta["n_patches"]]
        self._offsets = np.asarray(offsets, dtype=np.int64)
        all_index = torch.from_numpy(self._load_index("clip_index.npy", (self.meta["n_patches"],)))
        all_ids = list(self.meta["clip_ids"])
        classes = list(self.meta["classes"])
        all_targets = torch.from_numpy(self._load_index("clip_targets.npy", (len(all_ids), len(classes))))
        self._rows = _rows  # None: the identity (every row of the entry, in order)
        clip_rows = np.arange(len(all_ids)) if _clip_rows is None else _clip_rows
        remap = torch.full((len(all_ids),), -1, dtype=torch.long)
        remap[torch.from_numpy(clip_rows)] = torch.arange(len(clip_rows))
        index = all_index if _rows is None else all_index[torch.from_numpy(_rows)]
        self.clip_index = remap[index]
        self.clip_targets = all_targets[torch.from_numpy(clip_rows)]
        self.clip_ids = [all_ids[i] for i in clip_rows.tolist()]
        self._clip_rows = clip_rows
        self._class_idx = _class_idx
        if _class_idx is not None:
            self.clip_targets = self.clip_targets[:, torch.from_numpy(_class_idx)]
            classes = [classes[i] for i in _class_idx.tolist()]
        self.classes = classes
        self._arrays: dict[int, np.ndarray] = {}

    def verify(self, full: bool = True) -> None:
        """Check every file of the entry against the checksums written with it.

        ``full=False``: sizes and sampled hashes of the shards (reads at most 1 MiB a shard);
        ``full=True``: the SHA-256 of every byte. The two index files are always hashed in full.
        Raises :class:`CacheIntegrityError` naming the first damaged file and the way out.
        """
        for name in _INDEX_FILES:
            _check_file(self.path, name, self.meta["checksums"].get(name), "full")
        for shard in self.meta["shards"]:
            _check_file(self.path, shard["file"], shard.get("checksums"), "full" if full else "sample")

    def _load_index(self, name: str, shape: tuple) -> np.ndarray:
        try:
            array = np.load(self.path / name)
        except (OSError, ValueError) as exc:
            raise CacheIntegrityError(f"feature cache file {self.path / name} is unreadable ({exc}); "
                                      f"{_way_out(self.path)}") from None
        if array.shape != tuple(shape):
            raise CacheIntegrityError(f"feature cache file {self.path / name} has shape {array.shape}, meta.json "
                                      f"says {tuple(shape)}; {_way_out(self.path)}")
        return array

    # -- sizes -----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.meta["n_patches"]) if self._rows is None else len(self._rows)

    @property
    def n_clips(self) -> int:
        return self.clip_targets.shape[0]

    @property
    def n_shards(self) -> int:
        return len(self.meta["shards"])

    @property
    def example_shape(self) -> tuple[int, ...]:
        return (1, *self.meta["patch_shape"])

    @property
    def targets(self) -> torch.Tensor:
        """``[N, C]`` each patch's clip targets."""
        return self.clip_targets[self.clip_index]

    @property
    def nbytes(self) -> int:
        """Bytes of the patches on disk (of the whole entry)."""
        return int(self.meta["n_patches"]) * int(np.prod(self.meta["patch_shape"])) * np.dtype(self.meta["dtype"]).itemsize

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({str(self.path)!r}, patches={len(self)}, clips={self.n_clips}, "
                f"shards={self.n_shards}, shape={self.example_shape})")

    # -- reading ---------------------------------------------------------------------------------
    def _array(self, s: int) -> np.ndarray:
        arr = self._arrays.get(s)
        if arr is None:
            shard = self.meta["shards"][s]
            file = self.path / shard["file"]
            expected = (shard["patches"][1] - shard["patches"][0], *self.meta["patch_shape"])
            try:
                arr = np.load(file, mmap_mode="r")
            except (OSError, ValueError) as exc:
                raise CacheIntegrityError(f"feature cache file {file} is unreadable ({exc}); "
                                          f"{_way_out(self.path)}") from None
            if arr.shape != expected or arr.dtype != np.dtype(self.meta["dtype"]):
                raise CacheIntegrityError(f"feature cache file {file} holds {arr.dtype} {arr.shape}, meta.json says "
                                          f"{self.meta['dtype']} {expected}; {_way_out(self.path)}")
            self._arrays[s] = arr
        return arr

    def __getstate__(self):  # memory maps are reopened in each worker process
        state = dict(self.__dict__)
        state["_arrays"] = {}
        return state

    def _entry_rows(self, idx) -> np.ndarray:
        idx = np.asarray(idx.cpu() if isinstance(idx, torch.Tensor) else idx, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"{type(self).__name__}: index out of range 0..{len(self) - 1}")
        return idx if self._rows is None else self._rows[idx]

    def read_rows(self, entry_rows: np.ndarray) -> torch.Tensor:
        """Patches ``[B, frames, mels]`` (float32) of rows of the entry (not of a view)."""
        entry_rows = np.asarray(entry_rows, dtype=np.int64)
        out = np.empty((len(entry_rows), *self.meta["patch_shape"]), dtype=np.float32)
        shard_of = np.searchsorted(self._offsets, entry_rows, side="right") - 1
        for s in np.unique(shard_of):
            where = np.flatnonzero(shard_of == s)
            local = entry_rows[where] - self._offsets[s]
            arr = self._array(int(s))
            if _is_range(local):  # consecutive rows of the file: one sequential read
                block = arr[local[0]:local[-1] + 1]
                if _is_range(where):
                    out[where[0]:where[-1] + 1] = block
                else:
                    out[where] = block
                continue
            order = np.argsort(local, kind="stable")  # read in file order
            out[where[order]] = arr[local[order]]
        return torch.from_numpy(out)

    def get_batch(self, idx):
        """``(x [B, 1, frames, mels] float32, y [B, C] float32)`` for positions ``idx``."""
        idx_t = torch.as_tensor(np.asarray(idx.cpu() if isinstance(idx, torch.Tensor) else idx), dtype=torch.long)
        x = self.read_rows(self._entry_rows(idx_t)).unsqueeze(1)
        return x, self.clip_targets[self.clip_index[idx_t]]

    def __getitem__(self, i: int):
        x, y = self.get_batch(torch.tensor([int(i)]))
        return x[0], y[0]

    def to_patchset(self):
        """All patches of this set in memory, as a :class:`~audiolib.data.patches.PatchSet`."""
        from .data.patches import PatchSet

        self.verify(full=True)  # every byte is read anyway: one hash pass on top (see the module docstring)
        rows = np.arange(len(self)) if self._rows is None else self._rows
        patches = self.read_rows(rows) if len(rows) else torch.zeros((0, *self.meta["patch_shape"]))
        return PatchSet(patches, self.targets.clone(), self.clip_index.clone(), self.clip_targets.clone(),
                        list(self.clip_ids), list(self.classes))

    # -- views -----------------------------------------------------------------------------------
    def _view(self, rows: np.ndarray, clip_rows: np.ndarray, class_idx: np.ndarray | None):
        return type(self)(self.path, _rows=rows, _clip_rows=clip_rows, _class_idx=class_idx)

    def subset_clips(self, clip_rows) -> "CachedPatchSet":
        """The patches of the selected clips (row indices into ``clip_targets``), re-indexed."""
        clip_rows = np.asarray(clip_rows, dtype=np.int64).reshape(-1)
        if clip_rows.size and (clip_rows.min() < 0 or clip_rows.max() >= self.n_clips):
            raise IndexError(f"subset_clips: clip rows must be in 0..{self.n_clips - 1}")
        entry_clips = self._clip_rows[clip_rows]
        keep = np.isin(self.clip_index.numpy(), clip_rows)
        positions = np.flatnonzero(keep)
        rows = positions if self._rows is None else self._rows[positions]
        return self._view(rows, entry_clips, self._class_idx)

    def select_classes(self, class_idx) -> "CachedPatchSet":
        """The same patches with targets restricted to the given class columns."""
        class_idx = np.asarray(class_idx, dtype=np.int64).reshape(-1)
        base = np.arange(len(self.meta["classes"])) if self._class_idx is None else self._class_idx
        return self._view(self._rows, self._clip_rows, base[class_idx])

    def shard_members(self) -> list[np.ndarray]:
        """For each shard of the entry, the positions of this set that live in it."""
        rows = np.arange(len(self)) if self._rows is None else self._rows
        shard_of = np.searchsorted(self._offsets, rows, side="right") - 1
        order = np.argsort(shard_of, kind="stable")
        bounds = np.searchsorted(shard_of[order], np.arange(self.n_shards + 1))
        return [order[bounds[s]:bounds[s + 1]] for s in range(self.n_shards)]

    def stream(self, shuffle_shards: bool = True) -> "StreamingPatchSet":
        """The same patches, sampled shard by shard with each rank reading only its own shards."""
        return StreamingPatchSet(self.path, _rows=self._rows, _clip_rows=self._clip_rows, _class_idx=self._class_idx,
                                 shuffle_shards=shuffle_shards)


class StreamingPatchSet(CachedPatchSet):
    """A :class:`CachedPatchSet` whose training batches stream from shards, each rank its own.

    Epoch ``e`` of a run with seed ``s`` on ``W`` ranks: the shards are put in an order seeded
    by ``(s, e)`` and dealt out, shard ``k`` of that order to rank ``k mod W``; each rank walks
    through its shards one after the other, each shard's patches in an order seeded by
    ``(s, e, shard)``, cutting consecutive batches of ``batch_size / W``. All ranks take the same
    number of steps per epoch (the smallest share decides; the rest of a larger share waits for
    a later epoch, where the deal differs). A rank's batch of step ``t`` is a pure function of
    ``(s, t, rank, W)``, so runs resume exactly, and a rank touches one or two shards at a time:
    a corpus much larger than memory streams through the page cache.

    :func:`audiolib.train.fit` uses :meth:`local_batch_indices` instead of its own sampling.
    """

    def __init__(self, path, *, shuffle_shards: bool = True, **kw):
        super().__init__(path, **kw)
        self.shuffle_shards = shuffle_shards
        self._members = self.shard_members()
        self._sizes = np.asarray([len(m) for m in self._members], dtype=np.int64)
        self._epochs: dict[tuple, Any] = {}
        self._cumulative: dict[tuple, list[int]] = {}

    def _deal(self, seed: int, epoch: int, world: int) -> list[np.ndarray]:
        shards = np.flatnonzero(self._sizes > 0)
        if self.shuffle_shards:
            shards = np.random.default_rng([int(seed), int(epoch), 0x5A4D]).permutation(shards)
        return [shards[r::world] for r in range(world)]

    def steps_in_epoch(self, epoch: int, batch_size: int, seed: int, world_size: int) -> int:
        """Steps every rank takes in ``epoch``."""
        local = batch_size // world_size
        counts = [int(self._sizes[d].sum()) for d in self._deal(seed, epoch, world_size)]
        steps = min(counts) // local
        if steps == 0:
            raise ValueError(
                f"feature cache {self.path}: with {world_size} rank(s), batch size {batch_size} and {self.n_shards} "
                f"shard(s), some rank has fewer than {local} patches in epoch {epoch} (per-rank patches: {counts}); "
                "build the cache with a smaller shard_clips, or use fewer ranks or a smaller batch")
        return steps

    def _locate(self, step: int, batch_size: int, seed: int, world: int) -> tuple[int, int]:
        key = (batch_size, seed, world)
        cum = self._cumulative.setdefault(key, [0])
        while cum[-1] <= step:
            cum.append(cum[-1] + self.steps_in_epoch(len(cum) - 1, batch_size, seed, world))
        epoch = int(np.searchsorted(cum, step, side="right")) - 1
        return epoch, step - cum[epoch]

    def _order(self, epoch: int, seed: int, rank: int, world: int) -> np.ndarray:
        key = (epoch, seed, rank, world)
        order = self._epochs.get(key)
        if order is None:
            parts = []
            for s in self._deal(seed, epoch, world)[rank]:
                members = self._members[s]
                parts.append(members[np.random.default_rng([int(seed), int(epoch), int(s)]).permutation(len(members))])
            order = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
            if len(self._epochs) >= 2:
                self._epochs.pop(next(iter(self._epochs)))
            self._epochs[key] = order
        return order

    def local_batch_indices(self, step: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> torch.Tensor:
        """Positions of rank ``rank``'s share (``batch_size / world_size``) of global batch ``step``."""
        if batch_size % world_size:
            raise ValueError(f"batch_size {batch_size} must be divisible by the number of processes {world_size}")
        local = batch_size // world_size
        epoch, offset = self._locate(step, batch_size, seed, world_size)
        order = self._order(epoch, seed, rank, world_size)
        return torch.from_numpy(order[offset * local:(offset + 1) * local].copy())

    def shards_of_rank(self, epoch: int, seed: int, rank: int, world_size: int) -> list[int]:
        """The shards rank ``rank`` reads in ``epoch``."""
        return [int(s) for s in self._deal(seed, epoch, world_size)[rank]]

    def _view(self, rows, clip_rows, class_idx):
        return type(self)(self.path, _rows=rows, _clip_rows=clip_rows, _class_idx=class_idx,
                          shuffle_shards=self.shuffle_shards)


def open_cache(path: str | Path, *, verify: str = "sample") -> CachedPatchSet:
    """Open a complete cache entry (a folder made by :func:`build_cache`).

    ``verify``: ``"sample"`` checks sizes and sampled hashes, ``"full"`` every byte (see the
    module docstring for the cost); a damaged file raises :class:`CacheIntegrityError`.
    """
    return CachedPatchSet(path, verify=verify)


def verify_cache(path: str | Path) -> None:
    """Hash every file of the entry at ``path`` in full; raise :class:`CacheIntegrityError` on damage."""
    CachedPatchSet(path, verify="full")


def _read_meta(entry: Path) -> dict[str, Any]:
    """The entry's meta.json, checked for the fields and types the reader relies on."""
    meta_file = entry / "meta.json"
    if not meta_file.is_file():
        raise FileNotFoundError(f"feature cache {entry}: no meta.json (not a complete cache entry); if it is an "
                                f"interrupted or damaged entry, {_way_out(entry)}")
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CacheIntegrityError(f"feature cache file {meta_file} is unreadable ({exc}); {_way_out(entry)}") from None
    problem = _meta_problem(meta)
    if problem:
        raise CacheIntegrityError(f"feature cache file {meta_file}: {problem}; {_way_out(entry)}")
    return meta


def _meta_problem(meta: Any) -> str | None:
    """What is wrong with a parsed meta.json, or ``None``."""
    if not isinstance(meta, dict):
        return f"expected a JSON object, got {type(meta).__name__}"
    fmt = meta.get("parts", {}).get("format") if isinstance(meta.get("parts"), dict) else None
    if fmt != CACHE_FORMAT:
        return f"format {fmt} is not {CACHE_FORMAT} (written by another version of audiolib)"
    kinds = {"n_patches": int, "n_clips": int, "patch_shape": list, "dtype": str, "classes": list,
             "clip_ids": list, "shards": list, "checksums": dict}
    for key, kind in kinds.items():
        if not isinstance(meta.get(key), kind) or isinstance(meta.get(key), bool):
            return f"field {key!r} must be a {kind.__name__}, got {meta.get(key)!r:.60}"
    if meta["dtype"] not in DTYPES or not all(isinstance(v, int) and v > 0 for v in meta["patch_shape"]):
        return f"dtype {meta['dtype']!r} / patch_shape {meta['patch_shape']} are not a cache's"
    if len(meta["clip_ids"]) != meta["n_clips"]:
        return f"{len(meta['clip_ids'])} clip_ids for n_clips {meta['n_clips']}"
    start = 0
    for s, shard in enumerate(meta["shards"]):
        ok = (isinstance(shard, dict) and shard.get("file") == f"{_shard_name(s)}.npy"
              and isinstance(shard.get("patches"), list) and len(shard["patches"]) == 2
              and shard["patches"][0] == start and isinstance(shard["patches"][1], int) and shard["patches"][1] >= start)
        if not ok:
            return f"shard {s} is not {{'file': '{_shard_name(s)}.npy', 'patches': [{start}, end], ...}}"
        start = shard["patches"][1]
    if start != meta["n_patches"] or not meta["shards"]:
        return f"the shards hold {start} patches, n_patches says {meta['n_patches']}"
    return None


def cached_patchset(clips, config="vggish", *, root: str | Path | None = None, in_memory: bool = True,
                    shard_clips: int = 2048, num_workers: int = 0, pad_short: bool = True, dtype: str = "float32",
                    progress: bool = True):
    """``build_patchset`` with a cache: the patches of ``clips`` under ``config``, computed once.

    Args:
        in_memory: return an in-memory :class:`~audiolib.data.patches.PatchSet` (``True``) or the
            memory-mapped :class:`CachedPatchSet` (``False``; for corpora larger than memory).
        other arguments: as :func:`build_cache`.

    The first call featurises (in ``num_workers`` processes) and stores; later calls with the
    same dataset and configuration only read. The result equals ``build_patchset(clips, config)``
    exactly (float32).
    """
    path = build_cache(clips, config, root=root, shard_clips=shard_clips, num_workers=num_workers,
                       pad_short=pad_short, dtype=dtype, progress=progress)
    data = CachedPatchSet(path)
    return data.to_patchset() if in_memory else data


# --- a fixed network's embeddings of cached patches ----------------------------------------------
def network_digest(model: torch.nn.Module) -> str:
    """Digest of a network's weights (every tensor of its state) and of the source of its module."""
    import inspect

    h = hashlib.sha256(Path(inspect.getsourcefile(type(model))).read_bytes())
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:20]


def cached_embeddings(model: torch.nn.Module, patches, clips, config, *, device="auto",
                      root: str | Path | None = None) -> np.ndarray:
    """``model.embedding`` of every patch of ``clips`` ``[n_patches, D]`` float32, computed once.

    For a fixed network (YAMNet embeds about 30-60 patches a second on a 2-core CPU). The file
    ``<root>/<dataset>-<key>.npy`` (default root ``<data_root>/embeddings``) is keyed, like a feature
    entry, by everything it depends on: the patches' :func:`feature_key` (dataset, its files, front end, feature code),
    :func:`network_digest` (weights and module source) and the patch count. ``<...>.json`` beside
    it records the key's parts and the file's checksums, checked in full on every read: a file
    that does not match is a :class:`CacheIntegrityError` naming it.
    """
    from .embeddings import embed_patches

    parts = {"features": feature_key(clips, config), "network": network_digest(model), "n_patches": len(patches)}
    key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]
    path = (Path(root) if root else paths.data_root() / "embeddings") / f"{_safe(clips.name)}-{key}.npy"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        if json.loads(meta.read_text()).get("checksums") != file_checksums(path):
            raise CacheIntegrityError(f"embeddings file {path} does not match the checksums in {meta.name}: it is "
                                      f"damaged; delete {path} and {meta} and run again (they are recomputed)")
        return np.load(path)
    raw = embed_patches(model, patches, device=device)
    path.parent.mkdir(parents=True, exist_ok=True)
    _save_npy(path, raw)
    _write_json(meta, {**parts, "shape": list(raw.shape), "checksums": file_checksums(path)})
    return raw


def list_caches(root: str | Path | None = None) -> pd.DataFrame:
    """One row per entry: folder, dataset, key, clips, patches, shards, MiB, created, problem.

    An entry whose meta.json is missing or damaged is listed with ``problem`` saying so (delete
    it with :func:`remove_cache`); the others have an empty ``problem``.
    """
    root = Path(root) if root is not None else cache_root()
    columns = ["folder", "dataset", "key", "clips", "patches", "shards", "patch_shape", "dtype", "mib", "created",
               "problem"]
    rows = []
    for folder in sorted(p for p in root.glob("*") if p.is_dir() and _is_entry_folder(p)):
        size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
        row = {"folder": folder.name, "key": folder.name.rsplit("-", 1)[-1], "mib": round(size / 2**20, 2),
               "problem": ""}
        try:
            meta = _read_meta(folder)
        except (FileNotFoundError, CacheIntegrityError) as exc:
            row["problem"] = str(exc)
        else:
            row.update(dataset=meta["parts"].get("dataset"), clips=meta["n_clips"], patches=meta["n_patches"],
                       shards=len(meta["shards"]), patch_shape="x".join(map(str, meta["patch_shape"])),
                       dtype=meta["dtype"], created=meta.get("created"))
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def _is_entry_folder(path: Path) -> bool:
    """A complete entry, or a folder named and filled like one (its meta.json lost)."""
    import re

    if (path / "meta.json").is_file():
        return True
    if not re.fullmatch(r".+-[0-9a-f]{20}", path.name):
        return False
    names = [p.name for p in path.iterdir()]
    cache_file = re.compile(r"(shard-\d{5}(\.clips)?\.npy|shard-\d{5}\.json|clip_index\.npy|clip_targets\.npy|"
                            r"\..+\.tmp)")
    return bool(names) and all(cache_file.fullmatch(n) for n in names)


def remove_cache(path: str | Path) -> None:
    """Delete a cache entry, an entry that lost its meta.json, or an unfinished ``.partial`` build."""
    path = Path(path)
    if not (path.is_dir() and (_is_entry_folder(path) or path.name.endswith(".partial"))):
        raise ValueError(f"{path} is not a feature-cache entry; refusing to delete it")
    shutil.rmtree(path)
