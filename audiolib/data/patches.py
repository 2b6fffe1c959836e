"""Frame-level training data: fixed-size log-mel patches that inherit their clip's labels.

H17 trains on 0.96 s patches (96 frames x 64 mel bands), each labelled with its clip's
(video-level) labels, and scores a clip by averaging its patches' scores.

:func:`build_patchset` scans the clips first (:func:`audiolib.data.scan.scan_clips`), so a
broken file is found before any feature is computed: with ``on_error="report"`` (default) the
usable clips are featurised and the others are listed in ``PatchSet.unusable`` (record them with
``Run.record_data(..., unusable=patches.unusable)``); with ``on_error="error"`` the first one is
named in a ``ValueError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ..features import LogMelConfig, frame_patches, get_config, log_mel
from .base import ClipSet
from .scan import check_on_error, scan_clips, unusable_summary


@dataclass
class PatchSet(Dataset):
    """Patches of a set of clips, in memory.

    Attributes:
        patches: ``[N, frames, mels]`` float32 (or ``[N, channels, frames, mels]``).
        targets: ``[N, C]`` float32, each patch's clip labels.
        clip_index: ``[N]`` int64, the row in ``clip_targets`` each patch comes from.
        clip_targets: ``[n_clips, C]`` float32.
        clip_ids: ``n_clips`` ids, in ``clip_targets`` order.
        classes: ``C`` class names.
        unusable: the dataset's unusable clips (listed by its loader or found by the scan in
            :func:`build_patchset`), dicts ``{"clip_id", "path", "reason"}``; none of them has
            patches here.
        clipset: the ClipSet whose manifest rows are the rows of ``clip_targets`` (the usable
            clips), or ``None``. When clips were found unusable its rows differ from the input
            set's: take splits and folds from ``patches.clipset.manifest``.

    ``dataset[i]`` is ``(patch [1, frames, mels], target [C])``.
    """

    patches: torch.Tensor
    targets: torch.Tensor
    clip_index: torch.Tensor
    clip_targets: torch.Tensor
    clip_ids: list[str]
    classes: list[str]
    unusable: list[dict] = field(default_factory=list)
    clipset: ClipSet | None = None

    def __len__(self) -> int:
        return self.patches.shape[0]

    @property
    def n_clips(self) -> int:
        return self.clip_targets.shape[0]

    @property
    def example_shape(self) -> tuple[int, ...]:
        """Per-example input shape, e.g. ``(1, 96, 64)``."""
        shape = tuple(self.patches.shape[1:])
        return (1, *shape) if len(shape) == 2 else shape

    def _x(self, idx) -> torch.Tensor:
        x = self.patches[idx]
        return x.unsqueeze(-3) if self.patches.dim() == 3 else x

    def __getitem__(self, i: int):
        return self._x(i), self.targets[i]

    def get_batch(self, idx: torch.Tensor):
        """``(x [B, 1, frames, mels], y [B, C])`` for patch indices ``idx`` (fast path, no collate)."""
        return self._x(idx), self.targets[idx]

    def subset_clips(self, clip_rows) -> "PatchSet":
        """Patches of the selected clips (row indices into ``clip_targets``), re-indexed."""
        clip_rows = torch.as_tensor(np.asarray(clip_rows), dtype=torch.long)
        remap = torch.full((self.n_clips,), -1, dtype=torch.long)
        remap[clip_rows] = torch.arange(len(clip_rows))
        keep = remap[self.clip_index] >= 0
        clipset = self.clipset.subset(clip_rows.tolist()) if self.clipset is not None else None
        return PatchSet(self.patches[keep], self.targets[keep], remap[self.clip_index[keep]],
                        self.clip_targets[clip_rows], [self.clip_ids[i] for i in clip_rows.tolist()],
                        list(self.classes), list(self.unusable), clipset)

    def select_classes(self, class_idx) -> "PatchSet":
        """The same patches with targets restricted to the given class columns."""
        class_idx = torch.as_tensor(np.asarray(class_idx), dtype=torch.long)
        classes = [self.classes[i] for i in class_idx.tolist()]
        clipset = (self.clipset.subset(np.ones(len(self.clipset), dtype=bool), classes=classes)
                   if self.clipset is not None else None)
        return PatchSet(self.patches, self.targets[:, class_idx], self.clip_index, self.clip_targets[:, class_idx],
                        list(self.clip_ids), classes, list(self.unusable), clipset)


def clip_patches(waveform: torch.Tensor, sample_rate: int, config: LogMelConfig, *, pad_short: bool = True) -> torch.Tensor:
    """Non-overlapping patches ``[n, patch_frames, n_mels]`` of one clip.

    A clip shorter than one patch is zero-padded (in time, before the front end) to exactly one
    patch when ``pad_short`` is true; otherwise it yields ``n = 0`` patches.
    """
    spec = log_mel(waveform, sample_rate, config)
    if spec.shape[-2] < config.patch_frames and pad_short:
        need = config.win_length + (config.patch_frames - 1) * config.hop_length
        need = int(np.ceil(need * sample_rate / config.sample_rate))
        waveform = torch.nn.functional.pad(waveform, (0, max(0, need - waveform.shape[-1])))
        spec = log_mel(waveform, sample_rate, config)
    return frame_patches(spec, config.patch_frames, config.patch_hop)


def patch_seconds(config: LogMelConfig) -> float:
    """Shortest clip (seconds, at any rate) that yields one whole patch without padding.

    >>> round(patch_seconds(get_config("vggish")), 4)
    0.975
    """
    return (config.win_length + (config.patch_frames - 1) * config.hop_length) / config.sample_rate


def build_patchset(clips: ClipSet, config: LogMelConfig | str = "vggish", *, pad_short: bool = True,
                   progress: bool = True, on_error: str = "report", decode: str = "auto",
                   scan_workers: int = 0) -> PatchSet:
    """Scan ``clips``, then decode every usable clip, compute its log-mel patches and stack them.

    Args:
        clips: any :class:`ClipSet`.
        config: a :class:`LogMelConfig` or preset name (default ``"vggish"``: 96x64 patches).
        pad_short: pad a clip shorter than one patch to one patch (else such a clip is unusable:
            reported, or an error under ``on_error="error"``).
        on_error: ``"report"``: clips that fail the scan (missing, empty, not audio, truncated,
            NaN/inf samples, 0 channels, labels outside the vocabulary ...) are left out and
            listed in ``PatchSet.unusable`` with their reasons (a printed line counts them);
            ``"error"``: a ``ValueError`` (:class:`~audiolib.data.scan.UnusableDataError`)
            naming the first, raised before any feature is computed.
        decode, scan_workers: passed to :func:`~audiolib.data.scan.scan_clips` as ``decode`` and
            ``num_workers``.

    Returns:
        A :class:`PatchSet` of the usable clips (``clipset`` is their ClipSet, whose manifest
        rows are the PatchSet's clip rows); every clip contributes at least one patch.

    >>> from audiolib.data.synthetic import load_synthetic
    >>> patches = build_patchset(load_synthetic(n_clips=2), progress=False)
    >>> patches.example_shape, patches.n_clips, patches.unusable
    ((1, 96, 64), 2, [])
    """
    config = get_config(config) if isinstance(config, str) else config
    check_on_error(on_error)
    report = scan_clips(clips, on_error=on_error, decode=decode, num_workers=scan_workers, progress=progress,
                        min_seconds=0.0 if pad_short else patch_seconds(config))
    if report.unusable:
        print(f"build_patchset: {report.summary()}", flush=True)
    clips = report.clips
    if len(clips) == 0:
        raise ValueError(f"{clips.name}: no usable clip to compute features on "
                         f"({unusable_summary(clips.unusable, limit=3)})")
    clip_targets = torch.from_numpy(clips.targets())
    chunks, owners = [], []
    for row in tqdm(range(len(clips)), desc=f"features {clips.name}", disable=not progress, leave=False):
        waveform, sr = clips.load(row)
        patches = clip_patches(waveform, sr, config, pad_short=pad_short)
        if patches.shape[0] == 0:
            clip = clips.manifest.iloc[row]
            raise ValueError(f"{clip.get('path') or clip['clip_id']}: shorter than one "
                             f"{config.patch_frames}-frame patch; use pad_short=True")
        chunks.append(patches)
        owners.append(torch.full((patches.shape[0],), row, dtype=torch.long))
    patches = torch.cat(chunks).float().contiguous()
    clip_index = torch.cat(owners)
    return PatchSet(patches, clip_targets[clip_index], clip_index, clip_targets,
                    clips.manifest["clip_id"].astype(str).tolist(), list(clips.classes), list(clips.unusable), clips)
