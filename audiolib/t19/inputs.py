"""The inputs of every T19 model, computed once per corpus through the feature cache, kept in memory.

Each row (a clip cut or zero-padded to 10 s, then each augmented copy of a training clip, drawn from
``(seed, clip, copy)``): the CNN's 128-mel log spectrogram (``t19_cnn``: 862 frames, dB re the row's
maximum as the authors' ``power_to_db(S, ref=np.max)``), the pretrained branch's ten 0.96 s
examples, and the targets; embeddings come later (:func:`add_embeddings`).

>>> inputs = extract_inputs(load_dataset("synthetic", n_clips=6))   # doctest: +SKIP
>>> inputs.spec.shape, inputs.examples.shape                        # doctest: +SKIP
(torch.Size([6, 128, 862]), torch.Size([6, 10, 96, 64]))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from audiolib.augment import AugmentPolicy, augment, augment_seed
from audiolib.cache import cached_patchset
from audiolib.data.base import ClipSet, Taxonomy
from audiolib.features import get_config
from audiolib.t19.labels import clip_targets


CLIP_SECONDS = 10.0
FEATURES = "t19_cnn"
#: Front ends of the pretrained branch's 0.96 s examples, ten non-overlapping 96 x 64 patches in 10 s:
#: the published VGGish input (``log(mel + 0.01)``) or YAMNet's (``log(mel + 0.001)``; the release
#: hops 0.48 s, the fusion layer takes ten non-overlapping frames per 10 s, as VGGish gives).
EXAMPLE_FRONT_ENDS = {"vggish": get_config("vggish"), "yamnet": get_config("yamnet").with_(patch_hop=None)}


@dataclass
class T19Inputs:
    """Per-row inputs and targets of one corpus (rows: clips, each followed by its augmented copies).

    ``copy``: 0 for the original audio, k for the k-th augmented copy; ``spec``: ``[n, 128, frames]``
    float16; ``examples``: ``[n, 10, 96, 64]`` float16; ``fine``, ``coarse``: ``[n, n_fine]``,
    ``[n, n_coarse]`` hard targets (``*_soft``: annotator agreement where the corpus has it);
    ``embeddings``: ``[n, 10, D]``, standardised, ``None`` until :func:`add_embeddings`.
    """

    name: str
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
    front_end: str = "vggish"

    def __len__(self) -> int:
        return len(self.clip_ids)

    def rows(self, split: str, *, originals_only: bool = False) -> np.ndarray:
        """Row indices of ``split`` (with or without augmented copies)."""
        keep = self.split == split
        if originals_only:
            keep &= self.copy == 0
        return np.flatnonzero(keep)


@dataclass(frozen=True)
class ClipCopy:
    """Loader of :func:`input_clips`: the source clip zero-padded or cut to ``seconds`` (the authors
    zero-padded the few SONYC-UST clips two frames short); copy k >= 1 augmented with the generator
    seed ``augment_seed(seed, source_row, k)``."""

    clips: ClipSet
    seconds: float
    policy: AugmentPolicy
    seed: int

    def __call__(self, row) -> tuple[torch.Tensor, int]:
        source = int(row["source_row"])
        wave, sr = self.clips.load(source)
        n = int(round(self.seconds * sr))
        wave = torch.nn.functional.pad(wave.float()[..., :n], (0, max(0, n - wave.shape[-1])))
        if row["augment_copy"]:
            g = torch.Generator().manual_seed(augment_seed(self.seed, source, int(row["augment_copy"])))
            wave, _ = augment(wave, sr, self.policy, g)
        return wave, sr


def input_clips(clips: ClipSet, *, augment_copies: int = 0, seed: int = 0) -> ClipSet:
    """The rows of :class:`T19Inputs` as a ClipSet: each clip, then ``augment_copies`` augmented
    copies of each training clip (ids ``<clip>~<k>``). Its description (the feature cache's key)
    names the base corpus, the length, the copies, the policy and the seed."""
    policy = AugmentPolicy()
    todo = [(i, k) for i, split in enumerate(clips.manifest["split"])
            for k in range(augment_copies + 1 if split == "train" else 1)]
    source, copy = np.array([i for i, _ in todo], dtype=np.int64), np.array([k for _, k in todo], dtype=np.int64)
    manifest = clips.manifest.iloc[source].reset_index(drop=True).assign(source_row=source, augment_copy=copy)
    manifest["clip_id"] = [f"{c}~{k}" if k else str(c) for c, k in zip(manifest["clip_id"], copy)]
    description = (f"{clips.description}; T19 inputs: clips cut or padded to {CLIP_SECONDS:g} s, {augment_copies} "
                   f"augmented copies of each train clip ({policy}, seed {seed})")
    return ClipSet(f"{clips.name}-t19", manifest, list(clips.classes), ClipCopy(clips, CLIP_SECONDS, policy, seed),
                   taxonomy=clips.taxonomy, description=description)


def _cached(clips: ClipSet, config, transform=lambda x: x) -> torch.Tensor:
    """``[n_clips, k, frames, mels]`` float16 patches of every clip from the feature cache (checked in
    full when read); ``transform`` acts on float32 chunks ``[B, frames, mels]`` before the rounding."""
    data = cached_patchset(clips, config, in_memory=False, shard_clips=512, progress=False)
    data.verify(full=True)
    k = len(data) // len(clips)  # the same for every clip: ClipCopy cuts or pads each to 10 s
    chunks = [transform(data.read_rows(np.arange(s, min(s + 256, len(data))))).to(torch.float16)
              for s in range(0, len(data), 256)]  # float32 only a chunk at a time
    return torch.cat(chunks).reshape(len(clips), k, *chunks[0].shape[1:])


def _db_re_max(spec: torch.Tensor) -> torch.Tensor:
    """``[B, frames, mels]`` dB re 1 -> ``[B, mels, frames]`` dB re each row's maximum (``ref=np.max``)."""
    return (spec - spec.amax(dim=(1, 2), keepdim=True)).transpose(1, 2)


def extract_inputs(clips: ClipSet, *, front_end: str = "vggish", **copies) -> T19Inputs:
    """Log-mel spectrograms, pretrained-branch examples (``"vggish"`` or ``"yamnet"`` front end) and
    targets of ``clips`` (taxonomy and ``split`` column needed); ``copies``: of :func:`input_clips`."""
    fine, coarse = clip_targets(clips)
    fine_soft, coarse_soft = clip_targets(clips, soft=True)
    rows = input_clips(clips, **copies)
    spec = _cached(rows, get_config(FEATURES), _db_re_max)[:, 0]
    examples = _cached(rows, EXAMPLE_FRONT_ENDS[front_end])
    index = rows.manifest["source_row"].to_numpy()
    m = clips.manifest
    return T19Inputs(
        name=clips.name, taxonomy=clips.taxonomy, clip_ids=[str(m["clip_id"].iloc[i]) for i in index],
        split=m["split"].to_numpy()[index].astype(str), copy=rows.manifest["augment_copy"].to_numpy(), spec=spec,
        examples=examples, fine=fine[index], coarse=coarse[index], fine_soft=fine_soft[index],
        coarse_soft=coarse_soft[index], front_end=front_end)


def add_embeddings(inputs: T19Inputs, embed) -> T19Inputs:
    """Fill ``inputs.embeddings`` with ``embed(examples [n, 10, 96, 64]) -> [n, 10, D]`` (D: 128 VGGish, 1024 YAMNet).

    Standardised per dimension with the training rows' statistics (our choice: the fusion layer then
    sees unit scale whatever network produced them; the authors fed VGGish's 0..255 values).
    """
    emb = embed(inputs.examples).float()
    if emb.shape[:2] != inputs.examples.shape[:2]:
        raise ValueError(f"embed returned {tuple(emb.shape)} for examples {tuple(inputs.examples.shape)}")
    train = inputs.rows("train")
    train = emb[torch.as_tensor(train if len(train) else np.arange(len(inputs)))].reshape(-1, emb.shape[-1])
    inputs.embeddings = (emb - train.mean(dim=0)) / train.std(dim=0).clamp_min(1e-6)
    return inputs
