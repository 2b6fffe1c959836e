"""The inputs of every T19 model, computed once per corpus and kept in memory.

For each clip (and each augmented copy of a training clip): the 128-mel log spectrogram of the
CNN (``t19_cnn`` preset: 44.1 kHz, 862 frames for 10 s, dB relative to the clip's maximum as
the authors' ``librosa.power_to_db(S, ref=np.max)``), the ten 0.96 s VGGish examples, and the
fine / coarse targets. VGGish embeddings are added later (:func:`add_embeddings`), once a
VGGish is available (official weights, or one trained in the workbook).

>>> inputs = extract_inputs(load_dataset("synthetic", n_clips=6), device="cpu")  # doctest: +SKIP
>>> inputs.spec.shape, inputs.examples.shape                                    # doctest: +SKIP
(torch.Size([6, 128, 862]), torch.Size([6, 10, 96, 64]))
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
from tqdm.auto import tqdm

from audiolib.augment import AugmentPolicy, augment, augment_seed
from audiolib.data.base import ClipSet, Taxonomy
from audiolib.features import get_config, log_mel, log_mel_patches, vggish_examples
from audiolib.t19.labels import clip_targets
from audiolib.train import resolve_device

__all__ = ["T19Inputs", "extract_inputs", "add_embeddings", "standardise_embeddings", "fit_length", "example_patches",
           "CLIP_SECONDS", "FEATURES", "EXAMPLE_FRONT_ENDS"]

CLIP_SECONDS = 10.0
FEATURES = "t19_cnn"
#: Front ends of the pretrained branch's 0.96 s examples: the published VGGish input
#: (``log(mel + 0.01)``) or YAMNet's (``log(mel + 0.001)``), ten non-overlapping 96 x 64 patches in 10 s.
EXAMPLE_FRONT_ENDS = ("vggish", "yamnet")


def example_patches(batch: torch.Tensor, sample_rate: int, front_end: str = "vggish") -> torch.Tensor:
    """``[B, time]`` -> ``[B, n, 96, 64]`` non-overlapping 0.96 s examples for the pretrained branch.

    ``yamnet`` uses the ``yamnet`` preset with one patch per 0.96 s (the release hops 0.48 s;
    the fusion layer takes ten non-overlapping frames per 10 s, as VGGish gives).
    """
    if front_end == "vggish":
        return vggish_examples(batch, sample_rate)
    if front_end == "yamnet":
        return log_mel_patches(batch, sample_rate, get_config("yamnet").with_(patch_hop=None))
    raise ValueError(f"parameter front_end: must be one of {EXAMPLE_FRONT_ENDS}, got {front_end!r}")


@dataclass
class T19Inputs:
    """Per-example inputs and targets of one corpus (rows: clips, then augmented copies).

    Attributes:
        name, description, taxonomy: of the corpus.
        clip_ids: ``[n]`` the clip each row comes from (augmented copies repeat it).
        split: ``[n]`` ``train`` / ``validate`` / ``test``.
        copy: ``[n]`` 0 for the original audio, k >= 1 for the k-th augmented copy.
        spec: ``[n, 128, frames]`` float16 log-mel (dB re the row's maximum), mels x frames.
        examples: ``[n, 10, 96, 64]`` float16 0.96 s examples of the pretrained branch's front end.
        front_end: ``"vggish"`` or ``"yamnet"`` (:data:`EXAMPLE_FRONT_ENDS`).
        fine, coarse: ``[n, n_fine]``, ``[n, n_coarse]`` float32 hard targets.
        fine_soft, coarse_soft: soft targets (annotator agreement; equal to the hard ones
            where the corpus has none).
        embeddings: ``[n, 10, 128]`` float32 VGGish embeddings, standardised with the training
            rows' mean and deviation; ``None`` until :func:`add_embeddings`.
        augmentations: per row, the augmentation drawn (``{}`` for originals).
    """

    name: str
    description: str
    taxonomy: Taxonomy
    clip_ids: list[str]
    split: np.ndarray
    copy: np.ndarray
    spec: torch.Tensor
    examples: torch.Tensor
    fine: np.ndarray
    coarse: np.ndarray
    fine_soft: np.ndarray
    coarse_soft: np.ndarray
    embeddings: torch.Tensor | None = None
    augmentations: list[dict] = field(default_factory=list)
    front_end: str = "vggish"

    def __len__(self) -> int:
        return len(self.clip_ids)

    def rows(self, split: str, *, originals_only: bool = False) -> np.ndarray:
        """Row indices of ``split`` (with or without augmented copies)."""
        keep = self.split == split
        if originals_only:
            keep &= self.copy == 0
        return np.flatnonzero(keep)

    def splits(self) -> list[str]:
        return [s for s in ("train", "validate", "test") if (self.split == s).any()]

    def subset(self, rows) -> "T19Inputs":
        rows = np.asarray(rows, dtype=np.int64)
        index = torch.as_tensor(rows)
        return replace(self, clip_ids=[self.clip_ids[i] for i in rows], split=self.split[rows], copy=self.copy[rows],
                       spec=self.spec[index], examples=self.examples[index], fine=self.fine[rows],
                       coarse=self.coarse[rows], fine_soft=self.fine_soft[rows], coarse_soft=self.coarse_soft[rows],
                       embeddings=None if self.embeddings is None else self.embeddings[index],
                       augmentations=[self.augmentations[i] for i in rows] if self.augmentations else [])


def fit_length(waveform: torch.Tensor, sample_rate: int, seconds: float = CLIP_SECONDS) -> torch.Tensor:
    """Zero-pad or cut ``[time]`` to exactly ``seconds`` (the CNN's 862 frames need 10 s).

    (The authors zero-padded the few SONYC-UST clips two frames short.)
    """
    n = int(round(seconds * sample_rate))
    if waveform.shape[-1] >= n:
        return waveform[..., :n]
    return torch.nn.functional.pad(waveform, (0, n - waveform.shape[-1]))


def extract_inputs(clips: ClipSet, *, rows=None, augment_copies: int = 0, policy: AugmentPolicy | None = None,
                   seed: int = 0, augment_splits=("train",), clip_seconds: float = CLIP_SECONDS,
                   batch_size: int = 16, front_end: str = "vggish", device="auto", progress: bool = False) -> T19Inputs:
    """Log-mel spectrograms, VGGish examples and targets of ``clips`` (plus augmented copies).

    Args:
        clips: a ClipSet with a taxonomy and a ``split`` column.
        rows: manifest rows to use (default all).
        augment_copies: augmented copies per clip of ``augment_splits`` (0: none), each drawn by
            :func:`audiolib.augment.augment` from ``policy`` with the generator seed
            ``augment_seed(seed, clip row, copy)``, applied to the waveform at its own rate.
        clip_seconds: every clip is padded or cut to this length.
        batch_size: clips per feature batch.
        front_end: the pretrained branch's examples, ``"vggish"`` or ``"yamnet"``.
        device: where the front ends run (``auto``: CUDA when present); results are on the CPU.
    """
    if "split" not in clips.manifest:
        raise ValueError(f"dataset {clips.name!r} has no 'split' column; T19 needs train / validate (/ test)")
    if augment_copies < 0:
        raise ValueError(f"parameter augment_copies: must be >= 0, got {augment_copies}")
    if front_end not in EXAMPLE_FRONT_ENDS:
        raise ValueError(f"parameter front_end: must be one of {EXAMPLE_FRONT_ENDS}, got {front_end!r}")
    policy = policy or AugmentPolicy()
    device = resolve_device(device)
    if rows is not None:
        clips = clips.subset(rows)
    fine, coarse = clip_targets(clips)
    fine_soft, coarse_soft = clip_targets(clips, soft=True)
    config = get_config(FEATURES)
    todo = []  # (clip row, copy)
    for i, split in enumerate(clips.manifest["split"]):
        todo.append((i, 0))
        if split in augment_splits:
            todo += [(i, k) for k in range(1, augment_copies + 1)]
    specs, examples, augmentations = [], [], []
    cache: dict[int, tuple[torch.Tensor, int]] = {}
    for start in tqdm(range(0, len(todo), batch_size), desc=f"features {clips.name}", disable=not progress, leave=False):
        chunk = todo[start:start + batch_size]
        waves, rates = [], set()
        for i, k in chunk:
            if i not in cache:
                cache.clear()
                wave, sr = clips.load(i)
                cache[i] = (fit_length(wave.float(), sr, clip_seconds), sr)
            wave, sr = cache[i]
            what = {}
            if k:
                g = torch.Generator().manual_seed(augment_seed(seed, i, k))
                wave, what = augment(wave, sr, policy, g)
            waves.append(wave)
            rates.add(sr)
            augmentations.append(what)
        if len(rates) != 1:
            raise ValueError(f"dataset {clips.name!r}: clips of one batch have different rates {sorted(rates)}")
        batch = torch.stack(waves).to(device)
        sr = rates.pop()
        spec = log_mel(batch, sr, config)  # [B, frames, mels], dB re 1
        spec = spec - spec.amax(dim=(1, 2), keepdim=True)  # dB re the clip's maximum, as ref=np.max
        specs.append(spec.transpose(1, 2).to(torch.float16).cpu())
        examples.append(example_patches(batch, sr, front_end).to(torch.float16).cpu())
    index = np.array([i for i, _ in todo], dtype=np.int64)
    m = clips.manifest
    return T19Inputs(
        name=clips.name, description=clips.description, taxonomy=clips.taxonomy,
        clip_ids=[str(m["clip_id"].iloc[i]) for i in index], split=m["split"].to_numpy()[index].astype(str),
        copy=np.array([k for _, k in todo], dtype=np.int64), spec=torch.cat(specs), examples=torch.cat(examples),
        fine=fine[index], coarse=coarse[index], fine_soft=fine_soft[index], coarse_soft=coarse_soft[index],
        augmentations=augmentations, front_end=front_end)


def standardise_embeddings(embeddings: torch.Tensor, train_rows) -> torch.Tensor:
    """Zero mean, unit variance per embedding dimension, with the training rows' statistics."""
    train = embeddings[torch.as_tensor(np.asarray(train_rows))].reshape(-1, embeddings.shape[-1])
    mean = train.mean(dim=0)
    std = train.std(dim=0).clamp_min(1e-6)
    return (embeddings - mean) / std


def add_embeddings(inputs: T19Inputs, embed, *, standardise: bool = True) -> T19Inputs:
    """Fill ``inputs.embeddings`` with ``embed(examples [n, 10, 96, 64]) -> [n, 10, D]`` (D: 128 VGGish, 1024 YAMNet).

    The embeddings are standardised with the training rows' statistics (our choice: the
    bilinear layer then sees inputs of unit scale whatever VGGish produced them; the authors
    fed the 0..255 post-processed values).
    """
    emb = embed(inputs.examples).float()
    if emb.shape[:2] != inputs.examples.shape[:2]:
        raise ValueError(f"embed returned {tuple(emb.shape)} for examples {tuple(inputs.examples.shape)}")
    if standardise:
        train = inputs.rows("train")
        emb = standardise_embeddings(emb, train if len(train) else np.arange(len(inputs)))
    inputs.embeddings = emb
    return inputs

