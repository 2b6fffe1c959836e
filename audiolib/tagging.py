"""Frame-wise tagging of recordings: scores of every 0.96 s patch, the figure, tagger checkpoints.

A recording is turned into its log-mel spectrogram, cut into 96-frame (0.96 s) patches every
``hop`` frames (non-overlapping by default), and every patch is scored by the model: the
"instantaneous" outputs H17's Fig. 2 overlays on the spectrogram for the 16 classes with the
highest peak (:func:`plot_framewise`). :func:`stream_framewise` does the same for a file of any
length in bounded memory (the ``audiolib tag`` command).

The tagger checkpoint is :func:`audiolib.checkpoints.save_model` with everything needed to
rebuild the model in ``extra``: ``model_name``, ``model_kwargs``, ``num_classes``,
``feature_config`` (the same keys :mod:`audiolib.embeddings` uses, so either module reads the
other's checkpoints), plus ``classes`` and ``class_names``.

>>> save_tagger("best.pt", model, model_name="fc_audio", model_kwargs={}, classes=codes)  # doctest: +SKIP
>>> model, info = load_tagger("best.pt")                                                  # doctest: +SKIP
>>> result = framewise_scores(model, waveform, sr, classes=info["classes"])              # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import train as _train
from .checkpoints import load_model, save_model
from .features import LogMelConfig, frame_patches, get_config, log_mel

__all__ = ["Framewise", "recording_patches", "framewise_scores", "stream_framewise", "plot_framewise",
           "save_tagger", "load_tagger"]


@dataclass
class Framewise:
    """Frame-wise scores of one recording.

    Attributes:
        start: ``[n]`` start time (s) of each scored patch.
        end: ``[n]`` end time (s): start + 0.96 s for the VGGish front end.
        scores: ``[n, C]`` sigmoid outputs.
        classes: ``C`` class codes; ``class_names``: their readable names.
        spectrogram: ``[frames, mels]`` log-mel of the whole recording.
        frame_seconds: hop between spectrogram frames (s).
    """

    start: np.ndarray
    end: np.ndarray
    scores: np.ndarray
    classes: list[str]
    class_names: list[str]
    spectrogram: np.ndarray
    frame_seconds: float

    def top_classes(self, k: int = 16) -> list[int]:
        """Indices of the ``k`` classes with the highest peak score, highest first."""
        peaks = self.scores.max(axis=0) if len(self.scores) else np.zeros(len(self.classes))
        return np.argsort(-peaks, kind="stable")[:k].tolist()

    def to_frame(self) -> pd.DataFrame:
        """One row per scored patch: ``start_s, end_s`` then one column per class code."""
        table = pd.DataFrame(self.scores, columns=self.classes)
        table.insert(0, "end_s", np.round(self.end, 4))
        table.insert(0, "start_s", np.round(self.start, 4))
        return table


def recording_patches(waveform: torch.Tensor, sample_rate: int, config: LogMelConfig | str | dict = "vggish",
                      hop_frames: int | None = None) -> tuple[torch.Tensor, torch.Tensor, LogMelConfig]:
    """``(spectrogram [frames, mels], patches [n, patch_frames, mels], config)`` of a recording."""
    config = get_config(config)
    if waveform.dim() != 1:
        raise ValueError(f"recording_patches: expected a mono waveform [time], got shape {tuple(waveform.shape)}")
    spec = log_mel(waveform.float(), sample_rate, config)
    hop = hop_frames or config.patch_step
    if hop < 1:
        raise ValueError(f"recording_patches: hop_frames must be >= 1, got {hop}")
    patches = frame_patches(spec, config.patch_frames, hop)
    if patches.shape[0] == 0:
        seconds = waveform.shape[-1] / sample_rate
        raise ValueError(f"the recording is {seconds:.2f} s long, shorter than one "
                         f"{config.patch_frames * config.hop_length / config.sample_rate:.2f} s patch")
    return spec, patches, config


def framewise_scores(model: nn.Module, waveform: torch.Tensor, sample_rate: int, *, classes: Sequence[str],
                     class_names: Sequence[str] | None = None, config: LogMelConfig | str | dict = "vggish",
                     hop_frames: int | None = None, device="auto", batch_size: int = 256) -> Framewise:
    """Score every 0.96 s patch of a recording (every ``hop_frames`` frames; default non-overlapping).

    Args:
        model: a trained classifier for ``[B, 1, patch_frames, mels]`` patches.
        waveform: ``[time]`` mono, at ``sample_rate`` (resampled to the front end's rate).
        classes: the model's ``C`` output classes, in order; ``class_names``: their readable names.
        config: the front end the model was trained with.

    Returns:
        :class:`Framewise`: ``scores [n, C]`` of the ``n`` patches, their times, the spectrogram.
    """
    spec, patches, config = recording_patches(waveform, sample_rate, config, hop_frames)
    scores = _train.predict(model, patches.unsqueeze(1), batch_size=batch_size, device=device)
    if scores.shape[1] != len(classes):
        raise ValueError(f"the model has {scores.shape[1]} outputs but {len(classes)} classes were given")
    frame_s = config.hop_length / config.sample_rate
    hop = hop_frames or config.patch_step
    start = np.arange(len(scores)) * hop * frame_s
    return Framewise(start, start + config.patch_frames * frame_s, scores, list(classes),
                     list(class_names or classes), spec.numpy(), frame_s)


# --- checkpoints that can tag -----------------------------------------------------------------------
def save_tagger(path: str | Path, model: nn.Module, *, model_name: str, model_kwargs: dict[str, Any],
                classes: Sequence[str], class_names: Sequence[str] | None = None,
                feature_config: LogMelConfig | str = "vggish", description: str = "", step: int = 0) -> Path:
    """Save a trained classifier with what :func:`load_tagger` needs to rebuild and use it.

    Args:
        model: the trained module; ``model_name`` / ``model_kwargs``: how :func:`audiolib.models.create_model`
            rebuilds it (``num_classes`` is ``len(classes)``).
        classes: the codes of its ``C`` outputs, in order; ``class_names``: their readable names.
        feature_config: the front end it was trained on.
        step: the training step it was saved at.
    """
    config = feature_config if isinstance(feature_config, str) else feature_config.to_dict()
    return save_model(path, model, model_name=model_name, model_kwargs=model_kwargs, num_classes=len(classes),
                      step=step, feature_config=config, classes=list(classes),
                      class_names=list(class_names or classes), description=description)


def load_tagger(path: str | Path, *, device="cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model saved by :func:`save_tagger` (or :func:`audiolib.embeddings.save_embedding_model`).

    Returns ``(model in eval mode on device, extra)``; ``extra["classes"]`` falls back to
    ``"0".."C-1"`` for checkpoints that do not name their classes.

    Raises:
        FileNotFoundError / ValueError naming ``path`` when it is missing, unreadable, or does not
        say which model it holds.
    """
    model, extra = load_model(path, device=device)
    extra.setdefault("classes", [str(k) for k in range(int(extra["num_classes"]))])
    extra.setdefault("class_names", list(extra["classes"]))
    extra.setdefault("feature_config", "vggish")
    return model, extra


# --- long recordings, streamed ------------------------------------------------------------------
def stream_framewise(model: nn.Module, path: str | Path, *, classes: Sequence[str],
                     class_names: Sequence[str] | None = None, config: LogMelConfig | str | dict = "vggish",
                     hop_frames: int | None = None, device="auto", batch_size: int = 256,
                     chunk_seconds: float = 60.0, max_plot_frames: int = 4000) -> Framewise:
    """:func:`framewise_scores` of an audio file read in chunks: memory does not grow with its length.

    The file is decoded ``chunk_seconds`` at a time (plus one patch of overlap), each chunk is
    resampled to the front end's rate, cut into the patches that start in it and scored. At the
    front end's own rate the scores equal those of the whole recording at once; at another rate
    they differ only by the resampler's edge effects at chunk boundaries. The spectrogram kept
    for the plot is averaged over time to at most ``max_plot_frames`` frames
    (``Framewise.frame_seconds`` says the pooled hop): an hour at 16 kHz keeps 4000 x 64 values.

    Raises:
        AudioError naming the file when it is not readable audio; ValueError when it is shorter
        than one patch.

    >>> result = stream_framewise(model, "hour.wav", classes=names)            # doctest: +SKIP
    """
    import soundfile as sf

    from .audio import info, resample

    config = get_config(config)
    head = info(path)
    sr, rate = head.sample_rate, config.sample_rate
    hop = hop_frames or config.patch_step
    if hop < 1:
        raise ValueError(f"stream_framewise: hop_frames must be >= 1, got {hop}")
    n_target = int(round(head.frames * rate / sr))
    n_frames = config.num_frames(n_target)
    if n_frames < config.patch_frames:
        raise ValueError(f"{path}: {head.duration:.2f} s long, shorter than one "
                         f"{config.patch_frames * config.hop_length / rate:.2f} s patch")
    n_patches = 1 + (n_frames - config.patch_frames) // hop
    step = hop * config.hop_length                                   # target samples between patches
    span = config.win_length + (config.patch_frames - 1) * config.hop_length
    per_chunk = max(1, int(chunk_seconds * rate) // step)
    pool = max(1, -(-n_frames // max_plot_frames))
    margin = 0 if sr == rate else int(np.ceil(64 * sr / rate))      # resampler context on each side
    scores, pooled, carry = [], [], None
    with sf.SoundFile(str(path)) as fh:
        for p0 in range(0, n_patches, per_chunk):
            p1 = min(n_patches, p0 + per_chunk)
            a, b = p0 * step, (p1 - 1) * step + span                  # target samples of these patches
            last = p1 == n_patches
            if last:
                b = max(b, n_target)
            src_a = max(0, int(np.floor(a * sr / rate)) - margin)
            src_b = min(head.frames, int(np.ceil(b * sr / rate)) + margin)
            fh.seek(src_a)
            block = torch.from_numpy(fh.read(src_b - src_a, dtype="float32", always_2d=True).T.copy()).mean(0)
            if sr != rate:
                block = resample(block, sr, rate)
                offset = int(round(a - src_a * rate / sr))
                block = block[offset:offset + (b - a)]
            spec = log_mel(block, rate, config)
            patches = frame_patches(spec, config.patch_frames, hop)[: p1 - p0]
            scores.append(_train.predict(model, patches.unsqueeze(1), batch_size=batch_size, device=device))
            own = spec if last else spec[: (p1 - p0) * hop]           # each spectrogram frame once
            carry = own if carry is None else torch.cat([carry, own])
            whole = (carry.shape[0] // pool) * pool
            pooled.append(carry[:whole].reshape(-1, pool, carry.shape[1]).mean(1))
            carry = carry[whole:]
    if carry is not None and carry.shape[0]:
        pooled.append(carry.mean(0, keepdim=True))
    scores = np.concatenate(scores)
    if scores.shape[1] != len(classes):
        raise ValueError(f"the model has {scores.shape[1]} outputs but {len(classes)} classes were given")
    frame_s = config.hop_length / rate
    start = np.arange(len(scores)) * hop * frame_s
    return Framewise(start, start + config.patch_frames * frame_s, scores, list(classes),
                     list(class_names or classes), torch.cat(pooled).numpy(), frame_s * pool)


# --- the figure -------------------------------------------------------------------------------------
def plot_framewise(frames: Framewise, *, top_k: int = 16, events: pd.DataFrame | None = None, title: str = ""):
    """H17 Fig. 2: a recording's log-mel spectrogram with the frame-wise outputs of the top classes.

    Args:
        frames: :class:`Framewise` scores of the recording (``scores [n, C]``, ``spectrogram [frames, mels]``).
        top_k: draw the classes with the ``top_k`` highest peaks (H17: 16), highest first.
        events: optional ground truth (columns ``onset, offset, name``) drawn as a timeline.

    Returns:
        A :class:`matplotlib.figure.Figure` (not shown).
    """
    import matplotlib.pyplot as plt

    spectrogram, scores = np.asarray(frames.spectrogram), np.asarray(frames.scores)
    top = frames.top_classes(top_k)
    rows = 3 if events is not None else 2
    fig, axes = plt.subplots(rows, 1, figsize=(12, 2.4 * rows + 1), sharex=True,
                             gridspec_kw={"height_ratios": [1.2, 1.6, 0.8][:rows]})
    duration = spectrogram.shape[0] * frames.frame_seconds
    axes[0].imshow(spectrogram.T, origin="lower", aspect="auto", cmap="magma",
                   extent=(0, duration, 0, spectrogram.shape[1]))
    axes[0].set_ylabel("mel band")
    centre = (np.asarray(frames.start) + np.asarray(frames.end)) / 2
    colors = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(top), 1)))
    for j, c in enumerate(top):
        axes[1].plot(centre, scores[:, c], color=colors[j], lw=1.2, label=str(frames.class_names[c]))
        # the same outputs overlaid on the spectrogram, scaled to its height
        axes[0].plot(centre, scores[:, c] * spectrogram.shape[1], color=colors[j], lw=0.9, alpha=0.9)
    axes[1].set_ylim(0, 1)
    axes[1].set_ylabel("output")
    axes[1].legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes[1].grid(alpha=0.3)
    if events is not None:
        names = list(dict.fromkeys(events["name"]))
        for _, e in events.iterrows():
            axes[2].broken_barh([(e["onset"], e["offset"] - e["onset"])], (names.index(e["name"]) - 0.4, 0.8))
        axes[2].set_yticks(range(len(names)))
        axes[2].set_yticklabels(names, fontsize=6)
        axes[2].set_ylabel("events")
    axes[-1].set_xlabel("time (s)")
    axes[0].set_title(title or f"frame-wise outputs of the {len(top)} classes with the highest peak", fontsize=10)
    fig.tight_layout()
    return fig
