"""Feeding the model: DataLoader paths with decoding, resampling and features in worker processes.

Three loaders, one idea each:

- :func:`clip_loader`: batches of whole clips (decode + resample in the workers), zero-padded
  to the longest clip of the batch, with their lengths and targets; for clip-level models and
  front ends that run on the GPU.
- :func:`feature_loader`: one clip's log-mel patches at a time, computed in the workers, in
  clip order; :mod:`audiolib.cache` builds its shards from it.
- :func:`step_batches`: the training mini-batches of :func:`audiolib.train.fit`, where batch
  ``step`` is a pure function of ``step`` (so it does not matter which worker makes it, and a
  resumed run gets the same batches). Workers prefetch the next batches while the model trains.

On CUDA, batches come in pinned (page-locked) memory, so the copy to the GPU is asynchronous
(``x.to(device, non_blocking=True)``). Worker processes run with one torch thread each (the
parallelism is the processes), and no loader draws from the global random generators, so
turning workers on or off never changes a training run.

Datasets are handed to workers by ``fork`` on Linux; with the ``spawn`` start method (macOS,
Windows) a ClipSet's loader must be picklable (the dataset recipes' loaders are).

>>> from audiolib.data.synthetic import load_synthetic
>>> waves, lengths, targets, rows = next(iter(clip_loader(load_synthetic(n_clips=8, seed=0), batch_size=4)))
>>> tuple(waves.shape), tuple(targets.shape)
((4, 160000), (4, 29))
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from .runtime import resolve_device

__all__ = [
    "ClipLoadError", "ClipAudioDataset", "ClipFeatureDataset", "StepBatches", "GlobalBatchIndex",
    "collate_waveforms", "clip_loader", "feature_loader", "step_batches", "get_batch", "worker_init", "batch_indices",
]


class ClipLoadError(ValueError):
    """A clip could not be decoded or featurised; the message names the clip and its file."""


def worker_init(_worker_id: int) -> None:
    """One torch thread per worker process: the processes are the parallelism."""
    torch.set_num_threads(1)


def _clip_name(clips, row: int) -> str:
    record = clips.manifest.iloc[row]
    path = record.get("path") if hasattr(record, "get") else None
    return f"clip {record['clip_id']!s}" + (f" ({path})" if isinstance(path, str) and path else "")


def get_batch(dataset, idx: torch.Tensor):
    """``dataset.get_batch(idx)`` when it has one, else ``default_collate`` of its items."""
    if hasattr(dataset, "get_batch"):
        return dataset.get_batch(idx)
    return torch.utils.data.default_collate([dataset[i] for i in idx.tolist()])


# --- clips ----------------------------------------------------------------------------------------
class ClipAudioDataset(Dataset):
    """Clip ``i`` of a :class:`~audiolib.data.base.ClipSet` as ``(waveform [time], target [C], i)``.

    Args:
        clips: any ClipSet.
        sample_rate: resample every clip to this rate (Hz); ``None`` keeps each clip's rate
            (then all clips must share one, or batches would mix rates).
        max_seconds: crop clips to at most this many seconds (``None``: whole clips).

    Decoding and resampling happen in ``__getitem__``, that is in the DataLoader's workers.
    """

    def __init__(self, clips, sample_rate: int | None = None, max_seconds: float | None = None):
        if sample_rate is not None and (int(sample_rate) != sample_rate or sample_rate <= 0):
            raise ValueError(f"ClipAudioDataset: sample_rate must be a positive int or None, got {sample_rate!r}")
        if max_seconds is not None and max_seconds <= 0:
            raise ValueError(f"ClipAudioDataset: max_seconds must be > 0 or None, got {max_seconds!r}")
        self.clips = clips
        self.sample_rate = None if sample_rate is None else int(sample_rate)
        self.max_seconds = max_seconds
        self.targets = torch.from_numpy(clips.targets())

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int):
        from .audio import resample

        try:
            waveform, sr = self.clips.load(i)
            if self.sample_rate is not None and sr != self.sample_rate:
                waveform, sr = resample(waveform, sr, self.sample_rate), self.sample_rate
        except Exception as exc:
            raise ClipLoadError(f"{_clip_name(self.clips, i)}: {exc}") from exc
        if self.max_seconds is not None:
            waveform = waveform[: int(round(self.max_seconds * sr))]
        return waveform.float(), self.targets[i], i, sr


def collate_waveforms(items: Sequence[tuple]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``[(waveform [t_i], target [C], row, sr)] -> (waves [B, max t], lengths [B], targets [B, C], rows [B])``.

    Waveforms are zero-padded at the end; ``lengths`` holds the true sample counts.
    """
    rates = {int(item[3]) for item in items}
    if len(rates) > 1:
        raise ValueError(f"a batch mixes sample rates {sorted(rates)}; give clip_loader a sample_rate")
    lengths = torch.tensor([item[0].shape[-1] for item in items], dtype=torch.long)
    waves = torch.zeros((len(items), int(lengths.max()) if len(items) else 0), dtype=torch.float32)
    for k, item in enumerate(items):
        waves[k, : item[0].shape[-1]] = item[0]
    targets = torch.stack([item[1] for item in items]) if items else torch.zeros(0, 0)
    rows = torch.tensor([item[2] for item in items], dtype=torch.long)
    return waves, lengths, targets, rows


def _pin(device) -> bool:
    return resolve_device(device).type == "cuda"


def clip_loader(clips, *, sample_rate: int | None = None, batch_size: int = 16, shuffle: bool = False,
                seed: int = 0, num_workers: int = 0, max_seconds: float | None = None, drop_last: bool = False,
                device: str | torch.device | None = "auto", prefetch_factor: int = 2) -> DataLoader:
    """Batches of decoded clips: ``(waves [B, T], lengths [B], targets [B, C], rows [B])``.

    Args:
        clips: a ClipSet.
        sample_rate: resample to this rate in the workers (``None``: keep the files' rate).
        batch_size, shuffle, drop_last: as in ``DataLoader``; the shuffle order is seeded by
            ``seed`` with a private generator (the global RNG is not touched).
        num_workers: decoding processes (0: in this process).
        max_seconds: crop clips to this length.
        device: pinned memory when it resolves to CUDA.

    >>> from audiolib.data.synthetic import load_synthetic
    >>> waves, lengths, targets, rows = next(iter(clip_loader(load_synthetic(n_clips=2, seed=0), sample_rate=8000)))
    >>> lengths.tolist()
    [80000, 80000]
    """
    if batch_size < 1:
        raise ValueError(f"clip_loader: batch_size must be >= 1, got {batch_size}")
    if num_workers < 0:
        raise ValueError(f"clip_loader: num_workers must be >= 0, got {num_workers}")
    dataset = ClipAudioDataset(clips, sample_rate, max_seconds)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                      num_workers=num_workers, collate_fn=collate_waveforms, pin_memory=_pin(device),
                      worker_init_fn=worker_init, generator=torch.Generator().manual_seed(int(seed)),
                      prefetch_factor=prefetch_factor if num_workers else None)


class ClipFeatureDataset(Dataset):
    """Item ``k`` = ``(row, patches [n, patch_frames, n_mels])`` of clip ``rows[k]``.

    The clip is decoded, resampled and turned into log-mel patches by
    :func:`audiolib.data.patches.clip_patches` (exactly what ``build_patchset`` computes).
    """

    def __init__(self, clips, config, rows: Sequence[int] | None = None, pad_short: bool = True):
        from .features import get_config

        self.clips = clips
        self.config = get_config(config) if isinstance(config, str) else config
        self.rows = list(range(len(clips))) if rows is None else [int(r) for r in rows]
        self.pad_short = pad_short

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, k: int):
        from .data.patches import clip_patches

        row = self.rows[k]
        try:
            waveform, sr = self.clips.load(row)
            patches = clip_patches(waveform, sr, self.config, pad_short=self.pad_short)
        except Exception as exc:
            raise ClipLoadError(f"{_clip_name(self.clips, row)}: {exc}") from exc
        if patches.shape[0] == 0:
            raise ClipLoadError(f"{_clip_name(self.clips, row)}: shorter than one {self.config.patch_frames}-frame "
                                "patch; use pad_short=True")
        return row, patches.float().contiguous()


def _first(items):
    return items[0]


def feature_loader(clips, config, *, rows: Sequence[int] | None = None, num_workers: int = 0,
                   pad_short: bool = True, prefetch_factor: int = 4) -> DataLoader:
    """``(row, patches [n, frames, mels])`` for each clip of ``rows`` (default all), in order.

    The front end runs in ``num_workers`` processes (0: in this process); the order of the
    output is the order of ``rows`` whatever the number of workers.
    """
    if num_workers < 0:
        raise ValueError(f"feature_loader: num_workers must be >= 0, got {num_workers}")
    dataset = ClipFeatureDataset(clips, config, rows, pad_short)
    return DataLoader(dataset, batch_size=None, shuffle=False, num_workers=num_workers,
                      worker_init_fn=worker_init, generator=torch.Generator(),
                      prefetch_factor=prefetch_factor if num_workers else None)


# --- training steps -----------------------------------------------------------------------------
class GlobalBatchIndex:
    """``step -> indices``: this rank's share of :func:`batch_indices` (picklable).

    The global batch of ``step`` is split by rank as ``idx[rank::world_size]``.
    """

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1):
        self.n, self.batch_size, self.seed, self.rank, self.world_size = n, batch_size, seed, rank, world_size

    def global_size(self, step: int) -> int:
        return min(self.batch_size, self.n)

    def __call__(self, step: int) -> torch.Tensor:
        return batch_indices(self.n, self.batch_size, step, self.seed)[self.rank::self.world_size]


class StepBatches(Dataset):
    """Map-style view of training steps: item ``k`` is ``(x, y)`` of step ``steps[k]``."""

    def __init__(self, dataset, index_fn: Callable[[int], torch.Tensor], steps: Sequence[int]):
        self.dataset, self.index_fn, self.steps = dataset, index_fn, list(steps)

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, k: int):
        idx = torch.as_tensor(self.index_fn(self.steps[k]), dtype=torch.long)
        return get_batch(self.dataset, idx)


def step_batches(dataset, index_fn: Callable[[int], torch.Tensor], steps: Iterable[int], *, num_workers: int = 0,
                 pin_memory: bool = False, prefetch_factor: int = 4) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(x, y)`` for each of ``steps`` with ``x, y = get_batch(dataset, index_fn(step))``.

    With ``num_workers > 0`` the batches are made ahead by worker processes (in order); with
    ``pin_memory`` they come in page-locked memory for asynchronous copies to the GPU.
    """
    steps = list(steps)
    if num_workers < 0:
        raise ValueError(f"step_batches: num_workers must be >= 0, got {num_workers}")
    if num_workers == 0:
        for step in steps:
            x, y = get_batch(dataset, torch.as_tensor(index_fn(step), dtype=torch.long))
            if pin_memory:
                x, y = x.pin_memory(), y.pin_memory()
            yield x, y
        return
    if not steps:
        return
    loader = DataLoader(StepBatches(dataset, index_fn, steps), batch_size=None, shuffle=False,
                        num_workers=num_workers, pin_memory=pin_memory, worker_init_fn=worker_init,
                        generator=torch.Generator(), prefetch_factor=prefetch_factor)
    yield from loader


# --- which examples each training step sees ---------------------------------------------------
_PERMUTATIONS: dict[tuple[int, int, int], torch.Tensor] = {}


def _epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    key = (n, int(seed), epoch)
    perm = _PERMUTATIONS.get(key)
    if perm is None:
        g = torch.Generator().manual_seed(int(seed) * 1_000_003 + epoch)
        perm = torch.randperm(n, generator=g)
        if len(_PERMUTATIONS) >= 4:  # a run walks through epochs in order; keep the last few
            _PERMUTATIONS.pop(next(iter(_PERMUTATIONS)))
        _PERMUTATIONS[key] = perm
    return perm


def batch_indices(n: int, batch_size: int, step: int, seed: int) -> torch.Tensor:
    """The example indices of global mini-batch ``step``: a pure function of its arguments.

    Each epoch is a fresh permutation seeded by ``(seed, epoch)``; batches do not cross epochs
    (an epoch holds ``n // batch_size`` full batches; with ``n < batch_size`` a batch is all
    ``n`` examples). The permutation is computed once per epoch and reused.

    >>> batch_indices(10, 4, 0, seed=0).shape
    torch.Size([4])
    """
    if n < 1:
        raise ValueError("batch_indices: the training set is empty")
    per_epoch = max(1, n // batch_size)
    epoch, offset = divmod(step, per_epoch)
    return _epoch_permutation(n, seed, epoch)[offset * batch_size:(offset + 1) * batch_size].clone()
