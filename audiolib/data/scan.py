"""Scan a :class:`~audiolib.data.base.ClipSet` before any feature or training work.

A dataset of thousands of files holds a few broken ones: a truncated download, a zero-byte
placeholder, a text file with an audio extension, a float WAV full of NaN, a metadata row naming a
file that is not there, a label outside the vocabulary. :func:`scan_clips` finds all of them in one
pass, before the first feature is computed, so that a bad file neither stops a run hours in nor
quietly turns into silence or a wrong table:

- ``on_error="report"`` (default): the usable clips are returned as a new ClipSet; the others are
  listed, each with its reason, in ``ScanReport.unusable`` and appended to the returned set's
  ``ClipSet.unusable`` (which notebooks record in ``meta.json`` with ``Run.record_data`` and count
  in their output). Nothing is dropped silently.
- ``on_error="error"``: :class:`UnusableDataError` (a ``ValueError``) naming the first unusable
  file and its reason, and how many others there are.

What is checked, per manifest row:

- labels: a tuple of class names, each in ``ClipSet.classes`` (and the coarse labels, when the
  manifest has ``coarse_labels`` and the set a taxonomy, in the taxonomy's coarse codes);
  ``clip_id`` unique;
- a file (``path`` set): the header (:func:`audiolib.audio.info`: missing, empty, not audio,
  0 channels, a WAV shorter than its header declares, shorter than ``min_seconds``) and, where the
  header cannot prove the samples whole and finite, a full decode (:func:`audiolib.audio.load_audio`:
  truncated compressed streams, NaN or infinite samples, 0 samples). ``decode="auto"`` decodes
  every file except integer-PCM WAV (complete when the header and the file size agree, and unable
  to hold NaN); ``"all"`` decodes every file; ``"headers"`` none;
- generated audio (``path`` empty, e.g. the synthetic corpus): rendered and checked only with
  ``decode="all"``.

What is not an error: all-zero (silent) audio, any channel count >= 1 (mixed down), any sample rate
(the loader resamples), a clip shorter than one patch (``build_patchset`` pads it) unless
``min_seconds`` asks otherwise.

>>> from audiolib.data.synthetic import load_synthetic
>>> report = scan_clips(load_synthetic(n_clips=8))
>>> len(report.clips), report.unusable
(8, [])
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import soundfile as sf
import torch
from tqdm.auto import tqdm

from audiolib.audio import AudioError, info, load_audio

from .base import ClipSet

__all__ = ["ON_ERROR", "DECODE", "ScanReport", "UnusableDataError", "check_on_error", "scan_clips", "unusable_summary"]

#: Policies for unusable clips.
ON_ERROR = ("report", "error")
#: Which files are fully decoded.
DECODE = ("auto", "all", "headers")
#: Formats whose integer-PCM subtypes need no decode: :func:`audiolib.audio.info` compares the
#: RIFF header with the file size, which proves them whole.
_HEADER_ONLY_FORMATS = ("WAV", "WAVEX")


class UnusableDataError(ValueError):
    """Unusable clips under ``on_error="error"``; ``.unusable`` lists them all (dicts)."""

    def __init__(self, message: str, unusable: list[dict]):
        super().__init__(message)
        self.unusable = unusable


@dataclass
class ScanReport:
    """What :func:`scan_clips` found.

    Attributes:
        clips: the usable clips (a new ClipSet, manifest rows in their original order); its
            ``unusable`` holds the input's entries followed by those found here.
        unusable: the clips found unusable by this scan, in manifest order, as dicts
            ``{"clip_id", "path", "reason"}``.
        checked: manifest rows checked.
        decoded: files (or generated clips) fully decoded.
        seconds: wall time of the scan.
    """

    clips: ClipSet
    unusable: list[dict]
    checked: int
    decoded: int
    seconds: float

    def summary(self) -> str:
        """One line for a notebook's output, e.g. ``"esc10: 400 clips checked ... 2 unusable"``."""
        text = (f"{self.clips.name}: {self.checked} clips checked ({self.decoded} decoded) in {self.seconds:.1f} s: "
                f"{len(self.clips)} usable, {len(self.unusable)} unusable")
        if self.unusable:
            text += "; first: " + _describe(self.unusable[0])
        return text


def check_on_error(value: str) -> str:
    """``value`` if it is an allowed ``on_error`` policy, else ``ValueError`` naming the allowed ones."""
    if value not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {value!r}")
    return value


def scan_clips(clips: ClipSet, *, on_error: str = "report", decode: str = "auto", min_seconds: float = 0.0,
               num_workers: int = 0, progress: bool = False) -> ScanReport:
    """Check every clip of ``clips`` (labels, header, and samples where needed); see the module docs.

    Args:
        clips: any :class:`ClipSet`.
        on_error: ``"report"``: return the usable clips and list the others; ``"error"``: raise
            :class:`UnusableDataError` naming the first unusable file and its reason.
        decode: ``"auto"`` (decode all but integer-PCM WAV), ``"all"``, or ``"headers"``.
        min_seconds: clips shorter than this (from the header, or the decoded length) are unusable.
        num_workers: threads reading files (0: this thread); libsndfile decodes without the GIL.
        progress: a tqdm bar.

    Returns:
        :class:`ScanReport`; ``report.clips`` is the set to compute features on and train with.

    Raises:
        UnusableDataError: ``on_error="error"`` and at least one clip is unusable.
        ValueError: a bad ``on_error``, ``decode``, ``min_seconds`` or ``num_workers``.

    >>> from audiolib.data.synthetic import load_synthetic
    >>> scan_clips(load_synthetic(n_clips=4), decode="all").decoded
    4
    """
    check_on_error(on_error)
    if decode not in DECODE:
        raise ValueError(f"decode must be one of {DECODE}, got {decode!r}")
    if not (isinstance(min_seconds, (int, float)) and min_seconds >= 0):
        raise ValueError(f"min_seconds must be a number >= 0, got {min_seconds!r}")
    if not (isinstance(num_workers, int) and num_workers >= 0):
        raise ValueError(f"num_workers must be an integer >= 0, got {num_workers!r}")
    start = time.perf_counter()
    manifest = clips.manifest
    for column in ("clip_id", "labels"):
        if column not in manifest.columns:
            raise ValueError(f"{clips.name}: the manifest has no {column!r} column")

    def check(i: int) -> tuple[str | None, bool]:
        return _check_row(clips, i, decode=decode, min_seconds=float(min_seconds))

    rows = range(len(manifest))
    with tqdm(total=len(manifest), desc=f"scan {clips.name}", disable=not progress, leave=False) as bar:
        if num_workers > 0:
            with ThreadPoolExecutor(max_workers=num_workers) as pool:
                outcomes = []
                for outcome in pool.map(check, rows):
                    outcomes.append(outcome)
                    bar.update(1)
        else:
            outcomes = []
            for i in rows:
                outcomes.append(check(i))
                bar.update(1)

    reasons = [reason for reason, _ in outcomes]
    for i, other in _duplicate_ids(manifest["clip_id"]):
        reasons[i] = reasons[i] or f"duplicate clip_id (also in manifest row {other})"
    found = [_entry(manifest.iloc[i], reason) for i, reason in enumerate(reasons) if reason is not None]
    if found and on_error == "error":
        raise UnusableDataError(unusable_message(clips.name, found, len(manifest)), found)
    keep = np.array([reason is None for reason in reasons], dtype=bool)
    usable = clips.subset(keep)
    usable.unusable = list(clips.unusable) + found
    return ScanReport(usable, found, len(manifest), sum(decoded for _, decoded in outcomes),
                      time.perf_counter() - start)


def unusable_summary(unusable: list[dict], limit: int = 5) -> str:
    """``"<n> unusable: <path>: <reason>; ..."`` (at most ``limit`` named), or ``"0 unusable"``.

    >>> unusable_summary([{"clip_id": "a", "path": "a.wav", "reason": "file not found"}])
    '1 unusable: a.wav: file not found'
    """
    if not unusable:
        return "0 unusable"
    text = f"{len(unusable)} unusable: " + "; ".join(_describe(u) for u in unusable[:limit])
    return text + (f"; ... and {len(unusable) - limit} more" if len(unusable) > limit else "")


# --- one row --------------------------------------------------------------------------------------
def _check_row(clips: ClipSet, i: int, *, decode: str, min_seconds: float) -> tuple[str | None, bool]:
    """``(reason or None, decoded)`` for manifest row ``i``."""
    row = clips.manifest.iloc[i]
    reason = _label_problem(clips, row)
    if reason is not None:
        return reason, False
    path = row.get("path")
    if _is_empty(path):
        if decode != "all":
            return None, False
        return _check_generated(clips, i, min_seconds), True
    decoded = False
    try:
        header = info(path)
        if header.frames == 0:  # a valid header with no data: load_audio would refuse it
            return "contains 0 samples (empty, or truncated before the first block)", False
        if header.duration < min_seconds:
            return f"is {header.duration:.3f} s long, shorter than the {min_seconds:g} s required", False
        if _needs_decode(path, decode):
            decoded = True
            load_audio(path, mono=False, min_seconds=min_seconds)  # every check, no mixdown
        return None, decoded
    except AudioError as err:
        return err.reason, decoded
    except Exception as err:  # noqa: BLE001 - anything a reader raises is a reason, not a crash
        return f"unreadable ({type(err).__name__}: {err})", decoded


def _label_problem(clips: ClipSet, row: pd.Series) -> str | None:
    labels = row["labels"]
    if isinstance(labels, str) or not isinstance(labels, (tuple, list)):
        return f"labels must be a tuple of class names, got {type(labels).__name__} {labels!r}"
    known = set(clips.classes)
    unknown = [label for label in labels if label not in known]
    if unknown:
        where = "the taxonomy" if clips.taxonomy is not None else "the class list"
        return f"label(s) {unknown} not in {where} of {clips.name} ({len(clips.classes)} classes)"
    coarse = row.get("coarse_labels") if "coarse_labels" in row.index else None
    if clips.taxonomy is not None and isinstance(coarse, (tuple, list)):
        unknown = [label for label in coarse if label not in clips.taxonomy.coarse]
        if unknown:
            return f"coarse label(s) {unknown} not in the coarse taxonomy of {clips.name}"
    return None


def _check_generated(clips: ClipSet, i: int, min_seconds: float) -> str | None:
    try:
        waveform, sr = clips.load(i)
    except AudioError as err:
        return err.reason
    except Exception as err:  # noqa: BLE001
        return f"the loader failed ({type(err).__name__}: {err})"
    if not isinstance(waveform, torch.Tensor) or waveform.dim() != 1:
        return f"the loader returned {type(waveform).__name__} of shape {tuple(getattr(waveform, 'shape', ()))}, not [time]"
    if waveform.numel() == 0:
        return "contains 0 samples"
    if not bool(torch.isfinite(waveform).all()):
        return f"contains {int((~torch.isfinite(waveform)).sum())} non-finite samples (NaN or infinity)"
    if waveform.numel() / sr < min_seconds:
        return f"is {waveform.numel() / sr:.3f} s long, shorter than the {min_seconds:g} s required"
    return None


def _needs_decode(path, decode: str) -> bool:
    if decode != "auto":
        return decode == "all"
    meta = sf.info(str(path))
    return not (meta.format in _HEADER_ONLY_FORMATS and meta.subtype.startswith("PCM_"))


# --- helpers --------------------------------------------------------------------------------------
def _is_empty(path) -> bool:
    return path is None or (isinstance(path, float) and math.isnan(path)) or str(path) == ""


def _entry(row: pd.Series, reason: str) -> dict:
    path = row.get("path")
    return {"clip_id": str(row["clip_id"]), "path": None if _is_empty(path) else str(path), "reason": reason}


def _describe(entry: dict) -> str:
    return f"{entry.get('path') or entry.get('clip_id')}: {entry['reason']}"


def _duplicate_ids(ids: pd.Series) -> list[tuple[int, int]]:
    first: dict[str, int] = {}
    out = []
    for i, clip_id in enumerate(ids.astype(str)):
        if clip_id in first:
            out.append((i, first[clip_id]))
        else:
            first[clip_id] = i
    return out


def unusable_message(name: str, found: list[dict], total: int) -> str:
    """One line naming how many of ``total`` clips of ``name`` are unusable, and the first few with their reasons."""
    text = f"{name}: {len(found)} of {total} clips are unusable; first: {_describe(found[0])}"
    if len(found) > 1:
        text += "; others: " + "; ".join(_describe(u) for u in found[1:4]) + (" ..." if len(found) > 4 else "")
    return text + ". Fix or remove them, or pass on_error='report' to go on with the usable clips (listed in meta.json)"
