"""Urban mixtures: a SONYC-UST stand-in mixed from real UrbanSound8K clips (not SONYC-UST).

No SONYC-UST audio is available on these machines, so the T19 notebook also runs on 10 s
soundscapes mixed from the real UrbanSound8K excerpts in ``../shared/data`` and labelled in the
SONYC-UST taxonomy. Every table that uses it names it "urban mixtures (UrbanSound8K stand-in)".

Dataset card
------------
Sources
    UrbanSound8K (Salamon, Jacoby and Bello 2014; CC BY-NC 3.0), loaded with
    :func:`audiolib.data.urbansound8k.load_urbansound8k`; the shared copy holds folds 1 and 2
    complete and 387 clips of fold 3, each 4.0 s at 22.05 kHz.
Class mapping (UrbanSound8K class -> SONYC-UST fine tag), :data:`CLASS_MAP`
    ================  ==========================================  ====================================
    UrbanSound8K      SONYC-UST fine tag                          why
    ================  ==========================================  ====================================
    car_horn          5-1 car-horn                                same source
    siren             5-3 siren                                   same source
    jackhammer        2-2 jackhammer                              same source
    drilling          2-1 rock-drill                              closest impact-machinery tag
    dog_bark          8-1 dog-barking-whining                     same source
    engine_idling     1-X engine-of-uncertain-size                engine, size not known
    children_playing  7-X other-unknown-human-voice               voices, neither talk nor shout only
    street_music      6-X music-from-uncertain-source             music, source type not known
    gun_shot          3-1 non-machinery-impact                    impulsive, not machinery
    air_conditioner   (background bed, no tag)                    SONYC-UST has no HVAC tag
    ================  ==========================================  ====================================

    Coarse labels follow from the taxonomy (5, 2, 8, 1, 7, 6, 3); category 4 (powered saw)
    never occurs. Three of the tags are SONYC "X" tags, so the official evaluation's special
    handling of "unknown" tags is exercised.
Mixtures
    ``clip_seconds`` (10 s) at 22.05 kHz: a background bed of air-conditioner clips laid end to
    end (20 ms cross-fades) at a level drawn in ``background_db`` (dBFS RMS), plus 1 to
    ``max_events`` (3) event clips of distinct mapped classes, each at a uniform onset (the
    event stays inside the clip) and a signal-to-background ratio drawn in ``snr_db`` (RMS over
    the event). The mixture is scaled down if its peak would exceed 0.99.
Splits (source folds never shared)
    ``train`` mixtures use folds 1 and 3; ``validate`` and ``test`` use fold 2, divided by
    freesound recording (``fsID``) so no recording feeds both. Sizes: ``split_fractions``.
Labels
    Clip-level (weak) labels: the fine tags of the events, their coarse categories.
Determinism
    Mixture ``i`` of a split depends only on ``(seed, split, i)`` and the source lists.
Licence
    Derived from UrbanSound8K: CC BY-NC 3.0 applies to the mixtures.

>>> clips = load_urban_mixtures(n_clips=10, seed=0)   # doctest: +SKIP
>>> clips.manifest[["clip_id", "split", "labels"]].head(2)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import hashlib
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from audiolib.audio import load_audio
from audiolib.data.base import ClipSet, Taxonomy
from audiolib.data.synthetic import SONYC_COARSE, SONYC_FINE

__all__ = ["CLASS_MAP", "BACKGROUND_CLASS", "sonyc_taxonomy", "load_urban_mixtures", "MixtureLoader", "NAME"]

NAME = "urban mixtures (UrbanSound8K stand-in)"
CLASS_MAP = {
    "car_horn": "5-1",
    "siren": "5-3",
    "jackhammer": "2-2",
    "drilling": "2-1",
    "dog_bark": "8-1",
    "engine_idling": "1-X",
    "children_playing": "7-X",
    "street_music": "6-X",
    "gun_shot": "3-1",
}
BACKGROUND_CLASS = "air_conditioner"
SPLITS = ("train", "validate", "test")
CROSSFADE_SECONDS = 0.02


def sonyc_taxonomy() -> Taxonomy:
    """The SONYC-UST v1 taxonomy (8 coarse, 29 fine incl. X tags), the codes of dcase-ust-taxonomy.yaml."""
    return Taxonomy(coarse=dict(SONYC_COARSE), fine=dict(SONYC_FINE), parent={f: f.split("-")[0] for f in SONYC_FINE})


@dataclass(frozen=True)
class MixtureLoader:
    """``row -> (waveform [time], sample_rate)``: mixes the row's recipe from its source files.

    The recipe is in the manifest: ``background_paths`` (laid end to end) at ``background_db``
    (dBFS RMS, from the pieces' mean RMS), and ``events``: ``(path, level dB RMS, onset fraction)``
    tuples; an event of ``L`` samples starts at ``onset fraction * (clip samples - L)``.
    Picklable, for DataLoader workers.
    """

    sample_rate: int
    clip_samples: int

    def __call__(self, row) -> tuple[torch.Tensor, int]:
        fade = int(CROSSFADE_SECONDS * self.sample_rate)
        bed = np.zeros(self.clip_samples + fade, dtype=np.float64)
        pieces = [_decode(path, self.sample_rate) for path in row["background_paths"]]
        position = 0
        for piece in pieces:
            if position >= self.clip_samples:
                break
            if position > 0 and 0 < fade < len(piece):
                ramp = np.linspace(0.0, 1.0, fade)
                piece = piece.copy()
                piece[:fade] *= ramp
                bed[position - fade:position] *= ramp[::-1]
                position -= fade
            end = min(len(bed), position + len(piece))
            bed[position:end] += piece[:end - position]
            position = end
        bed_rms = np.mean([_rms(p) for p in pieces]) or 1.0
        out = bed[:self.clip_samples] * (10 ** (row["background_db"] / 20) / bed_rms)
        for path, level_db, onset_fraction in row["events"]:
            piece = _decode(path, self.sample_rate)[:self.clip_samples]
            onset = int(onset_fraction * (self.clip_samples - len(piece)))
            out[onset:onset + len(piece)] += piece * (10 ** (level_db / 20) / (_rms(piece) or 1.0))
        peak = np.abs(out).max()
        if peak > 0.99:
            out *= 0.99 / peak
        return torch.from_numpy(out.astype(np.float32)), self.sample_rate


@functools.lru_cache(maxsize=512)
def _decode(path: str, sample_rate: int) -> np.ndarray:
    """A source clip as float64 (read-only; cached: sources recur across mixtures)."""
    wave = load_audio(path, sample_rate)[0].double().numpy()
    wave.setflags(write=False)
    return wave


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def _hash_fraction(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 16 ** 8


def _source_pools(sources: ClipSet) -> dict[str, pd.DataFrame]:
    m = sources.manifest
    validate_fold = m[m["fold"] == 2]
    is_validate = validate_fold["fsID"].astype(str).map(lambda s: _hash_fraction(f"fsID-{s}") < 0.5)
    return {"train": m[m["fold"].isin([1, 3])], "validate": validate_fold[is_validate],
            "test": validate_fold[~is_validate]}


def load_urban_mixtures(n_clips: int = 300, seed: int = 0, *, root=None, clip_seconds: float = 10.0,
                        max_events: int = 3, snr_db: tuple[float, float] = (0.0, 12.0),
                        background_db: tuple[float, float] = (-32.0, -22.0),
                        split_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
                        sample_rate: int = 22050) -> ClipSet:
    """``n_clips`` mixtures of real UrbanSound8K clips, labelled in the SONYC-UST taxonomy.

    Args:
        n_clips: total number of mixtures, divided among train / validate / test by
            ``split_fractions`` (each split gets at least one when ``n_clips >= 3``).
        seed: mixture seed.
        root: UrbanSound8K folder (default ``audiolib.paths.dataset_root("urbansound8k")``).
        clip_seconds: mixture length (> 4 s: each event must fit).
        max_events: events per mixture, 1..len(CLASS_MAP).
        snr_db: (low, high) event-to-background RMS ratio.
        background_db: (low, high) background level, dBFS RMS.
        sample_rate: the rate of the mixtures (the shared clips are at 22.05 kHz).

    Returns:
        ClipSet ``"urban_mixtures"`` with ``classes`` = the 29 SONYC-UST fine codes (tags that
        never occur included), ``taxonomy`` = :func:`sonyc_taxonomy`. Manifest: ``clip_id``,
        ``path`` (None), ``split``, ``labels`` (fine codes), ``coarse_labels``, ``event_clips``
        (UrbanSound8K ids), ``event_classes``, ``background_clips``, and the recipe columns the
        loader reads (``background_paths``, ``background_db``, ``events``).

    Raises:
        FileNotFoundError: UrbanSound8K is absent (the message says where it was looked for).
        ValueError: a parameter is out of range, or a split's source pool lacks a mapped class
            or background clips.
    """
    from audiolib.data.urbansound8k import load_urbansound8k

    if int(n_clips) != n_clips or n_clips < 3:
        raise ValueError(f"parameter n_clips: must be an integer >= 3 (one mixture per split at least), got {n_clips!r}")
    if not 1 <= max_events <= len(CLASS_MAP):
        raise ValueError(f"parameter max_events: must lie in 1..{len(CLASS_MAP)}, got {max_events!r}")
    if clip_seconds <= 4.0:
        raise ValueError(f"parameter clip_seconds: must exceed the 4 s of an UrbanSound8K clip, got {clip_seconds!r}")
    if len(split_fractions) != 3 or min(split_fractions) <= 0:
        raise ValueError(f"parameter split_fractions: three positive fractions (train, validate, test), got {split_fractions!r}")
    for name, (low, high) in (("snr_db", snr_db), ("background_db", background_db)):
        if low > high:
            raise ValueError(f"parameter {name}: (low, high) with low <= high, got {(low, high)}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sources = load_urbansound8k(root, folds=[1, 2, 3], sample_rate=sample_rate)
    pools = _source_pools(sources)
    for split, pool in pools.items():
        have = set(pool["class"])
        lacking = sorted((set(CLASS_MAP) | {BACKGROUND_CLASS}) - have)
        if lacking:
            raise ValueError(f"urban mixtures: the {split} source pool lacks UrbanSound8K class(es) {lacking}")

    taxonomy = sonyc_taxonomy()
    clip_samples = int(round(clip_seconds * sample_rate))
    fractions = np.asarray(split_fractions, dtype=float) / sum(split_fractions)
    counts = np.maximum(1, np.floor(fractions * n_clips).astype(int))
    counts[0] = n_clips - counts[1:].sum()
    classes = sorted(CLASS_MAP)
    rows = []
    for s, split in enumerate(SPLITS):
        pool = pools[split]
        by_class = {c: pool[pool["class"] == c].sort_values("clip_id") for c in classes + [BACKGROUND_CLASS]}
        for i in range(int(counts[s])):
            rng = np.random.default_rng([seed, s, i])
            n_bed = int(np.ceil(clip_seconds / 4.0)) + 1
            bed = by_class[BACKGROUND_CLASS].iloc[rng.choice(len(by_class[BACKGROUND_CLASS]), n_bed, replace=False)]
            bed_gain_db = rng.uniform(*background_db)
            k = int(rng.integers(1, max_events + 1))
            chosen = [classes[j] for j in rng.choice(len(classes), k, replace=False)]
            events, event_levels = [], []
            for cls in chosen:
                clip = by_class[cls].iloc[int(rng.integers(len(by_class[cls])))]
                events.append(clip)
                event_levels.append((bed_gain_db + rng.uniform(*snr_db), rng.uniform(0.0, 1.0)))
            rows.append(_recipe(f"mix-{seed}-{split}-{i:05d}", split, bed, bed_gain_db, events, event_levels, taxonomy))
    manifest = pd.DataFrame(rows)
    unusable_sources = len(sources.unusable)
    description = (f"{NAME}: {len(manifest)} mixtures x {clip_seconds:g} s at {sample_rate} Hz of real "
                   f"UrbanSound8K clips (train: folds 1+3, validate/test: fold 2 by recording; "
                   f"{len(sources)} source clips, {unusable_sources} listed clips absent), 1-{max_events} events "
                   f"over an air-conditioner bed, SNR {snr_db[0]:g}..{snr_db[1]:g} dB, seed {seed}; "
                   "labelled in the SONYC-UST taxonomy through a class mapping; not SONYC-UST")
    del caught
    return ClipSet(name="urban_mixtures", manifest=manifest, classes=list(taxonomy.fine),
                   loader=MixtureLoader(sample_rate, clip_samples), sample_rate=sample_rate, taxonomy=taxonomy,
                   unusable=[], description=description)


def _recipe(clip_id, split, bed, bed_db, events, event_levels, taxonomy) -> dict:
    """One manifest row (levels in dB; the loader turns them into gains from the sources' RMS)."""
    order = list(taxonomy.fine)
    codes = [CLASS_MAP[clip["class"]] for clip in events]
    labels = tuple(sorted(set(codes), key=order.index))
    return {
        "clip_id": clip_id, "path": None, "split": split, "labels": labels,
        "coarse_labels": tuple(dict.fromkeys(taxonomy.parent[c] for c in labels)),
        "event_clips": tuple(c["clip_id"] for c in events), "event_classes": tuple(c["class"] for c in events),
        "background_clips": tuple(bed["clip_id"]), "background_paths": tuple(bed["path"]),
        "background_db": float(bed_db),
        "events": tuple((c["path"], float(level), float(onset)) for c, (level, onset) in zip(events, event_levels)),
    }

#: The datasets this recipe provides: name -> (loader function, fixed keyword arguments).
DATASETS = {"urban_mixtures": ("load_urban_mixtures", {})}
