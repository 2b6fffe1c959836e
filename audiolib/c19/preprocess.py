"""C19 pre-processing: silence trimming, fixed-length extraction and the three image resolutions.

The chain for one clip, as Colangelo et al. describe it:

1. resample to 22.05 kHz;
2. crop leading and trailing silence (:func:`trim_silence`: frames more than ``top_db`` = 60 dB
   below the loudest frame's RMS at either end are dropped, the rule of
   ``librosa.effects.trim(top_db=60)``; the tests compare against librosa sample for sample);
3. extract ``t`` seconds (:func:`fit_duration`: a longer clip is cropped from its start, a
   shorter one tiled);
4. mel spectrogram, 1024-sample window and FFT, 256-sample hop, in dB
   (:data:`audiolib.features.PRESETS` ``c19_r3``, ``c19_r2_mel``, ``c19_r1_mel``), cut to the
   paper's width (``t`` seconds give ``1 + t * 22050 // 256`` centred frames: 130, 216, 302;
   the first 128, 214, 300 are kept);
5. min-max normalisation of each image to [0, 1] (after the cut, so every image spans [0, 1]).

Images are ``[n_mels, frames]`` (height = mel, low frequencies first; width = time), as the
paper writes them: R1 64x128 (t = 1.5 s), R2 96x214 (t = 2.5 s), R3 128x300 (t = 3.5 s).

For a dataset, steps 1-3 are the clip loader :class:`PreparedClip` and step 4 the feature
configuration :attr:`Resolution.front_end`, so the shared feature cache computes and keeps the images
(:func:`audiolib.c19.data.dataset_images`); :func:`clip_image` is the same chain for one clip.

Two ways to R1 and R2 (:func:`audiolib.c19.training.stage_images`): ``"mel"`` computes them from the audio with fewer
mel filters and a shorter extract; ``"resize"`` interpolates the R3 image bilinearly
(``torch.nn.functional.interpolate``, ``align_corners=False``, no anti-aliasing filter), so a
resized R1 image still spans 3.5 s.

>>> import torch
>>> img = clip_image(torch.randn(5 * 44100), 44100, RESOLUTIONS["R1"])
>>> tuple(img.shape), float(img.min()), float(img.max())
((64, 128), 0.0, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from audiolib.audio import resample
from audiolib.features import LogMelConfig, get_config, log_mel, min_max_normalize

__all__ = ["SAMPLE_RATE", "Resolution", "RESOLUTIONS", "trim_silence", "fit_duration", "prepare_waveform",
           "PreparedClip", "to_images", "clip_image", "resize_images", "TRIM_TOP_DB"]

SAMPLE_RATE = 22050
TRIM_TOP_DB = 60.0
TRIM_FRAME = 2048
TRIM_HOP = 512


@dataclass(frozen=True)
class Resolution:
    """One of the paper's input resolutions: ``seconds`` of audio through the front end of ``preset``.

    Attributes:
        name: ``"R1"``, ``"R2"`` or ``"R3"``.
        seconds: length ``t`` of the audio extract.
        preset: the :mod:`audiolib.features` preset (22.05 kHz, hop 256) whose ``n_mels`` is the
            image height and ``patch_frames`` the image width.
    """

    name: str
    seconds: float
    preset: str

    @property
    def front_end(self) -> LogMelConfig:
        """Step 4's configuration: the preset without normalisation (min-max comes after the cut,
        :func:`to_images`), so the shared feature cache cuts exactly one image ``[frames, n_mels]``
        from an extract of ``seconds``."""
        return get_config(self.preset).with_(normalize=None)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_mels, frames)``."""
        return (self.front_end.n_mels, self.front_end.patch_frames)

    @property
    def n_mels(self) -> int:
        return self.shape[0]

    @property
    def frames(self) -> int:
        return self.shape[1]


RESOLUTIONS: dict[str, Resolution] = {r.name: r for r in (
    Resolution("R1", 1.5, "c19_r1_mel"), Resolution("R2", 2.5, "c19_r2_mel"), Resolution("R3", 3.5, "c19_r3"))}


def _frame_rms(y: torch.Tensor, frame_length: int, hop_length: int) -> torch.Tensor:
    """RMS of centred frames (zero padding of ``frame_length // 2`` each side) ``-> [frames]``."""
    pad = frame_length // 2
    padded = F.pad(y[None, None], (pad, pad)).flatten()
    frames = padded.unfold(0, frame_length, hop_length)
    return frames.pow(2).mean(dim=1).sqrt()


def trim_silence(waveform: torch.Tensor, *, top_db: float = TRIM_TOP_DB, frame_length: int = TRIM_FRAME,
                 hop_length: int = TRIM_HOP) -> tuple[torch.Tensor, tuple[int, int]]:
    """Drop the leading and trailing frames quieter than ``top_db`` below the loudest frame.

    A frame is non-silent when ``20 log10(max(rms, 1e-5)) - 20 log10(max(max_rms, 1e-5)) >
    -top_db``, with ``rms`` over centred, zero-padded frames of ``frame_length`` every
    ``hop_length`` samples; the kept interval runs from the first non-silent frame's start
    ``k0 * hop`` to the end ``(k1 + 1) * hop`` of the last (clipped to the signal), exactly as
    ``librosa.effects.trim`` (librosa 0.10/0.11 defaults: 60 dB, 2048, 512).

    Args:
        waveform: ``[time]`` float tensor (any device).

    Returns:
        ``(trimmed, (start, end))`` with ``trimmed = waveform[start:end]``. A silent (all-zero)
        clip is returned whole, as librosa does.

    >>> y = torch.cat([torch.zeros(4096), torch.ones(2048), torch.zeros(4096)])
    >>> trim_silence(y)[1]
    (3584, 7168)
    """
    if waveform.dim() != 1:
        raise ValueError(f"trim_silence: waveform must be [time], got shape {tuple(waveform.shape)}")
    if waveform.numel() == 0:
        raise ValueError("trim_silence: waveform has 0 samples")
    if top_db <= 0:
        raise ValueError(f"trim_silence: top_db must be > 0, got {top_db}")
    y = waveform.to(torch.float64)
    rms = _frame_rms(y, frame_length, hop_length)
    amin = 1e-5
    db = 20.0 * torch.log10(rms.clamp_min(amin)) - 20.0 * torch.log10(rms.max().clamp_min(amin))
    loud = torch.nonzero(db > -top_db).flatten()
    if loud.numel() == 0:  # pragma: no cover - the loudest frame is always at 0 dB
        return waveform[:0], (0, 0)
    start = int(loud[0]) * hop_length
    end = min(waveform.numel(), (int(loud[-1]) + 1) * hop_length)
    return waveform[start:end], (start, end)


def fit_duration(waveform: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Exactly ``num_samples`` samples: the start of a longer clip, or a shorter clip tiled.

    >>> fit_duration(torch.tensor([1., 2., 3.]), 7).tolist()
    [1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0]
    """
    n = waveform.shape[-1]
    if n == 0:
        raise ValueError("fit_duration: waveform has 0 samples")
    if num_samples < 1:
        raise ValueError(f"fit_duration: num_samples must be >= 1, got {num_samples}")
    if n >= num_samples:
        return waveform[..., :num_samples]
    reps = -(-num_samples // n)
    return waveform.repeat(*([1] * (waveform.dim() - 1)), reps)[..., :num_samples]


def prepare_waveform(waveform: torch.Tensor, sample_rate: int, *, top_db: float | None = TRIM_TOP_DB) -> torch.Tensor:
    """Steps 1 and 2: resample to 22.05 kHz and trim silence (``top_db=None``: no trimming).

    A trim that would leave nothing (possible only when the loudest frame is the padded last
    one) keeps the clip untrimmed.
    """
    if waveform.dim() != 1:
        raise ValueError(f"prepare_waveform: waveform must be [time] (mono), got shape {tuple(waveform.shape)}")
    y = resample(waveform.float(), int(sample_rate), SAMPLE_RATE)
    if top_db is not None:
        trimmed, _ = trim_silence(y, top_db=top_db)
        if trimmed.numel() > 0:
            y = trimmed
    return y


@dataclass(frozen=True)
class PreparedClip:
    """A clip loader giving steps 1 to 3: ``row -> (t seconds at 22.05 kHz, silence trimmed, 22050)``.

    Wraps a :class:`~audiolib.data.ClipSet` loader so that the shared feature cache
    (:mod:`audiolib.cache`, whose key digests this module's source as the loader's) computes
    C19's images with :attr:`Resolution.front_end`. Picklable, for feature worker processes.
    """

    loader: Callable
    resolution: Resolution

    def __call__(self, row) -> tuple[torch.Tensor, int]:
        waveform, sr = self.loader(row)
        samples = int(round(self.resolution.seconds * SAMPLE_RATE))
        return fit_duration(prepare_waveform(waveform, sr), samples), SAMPLE_RATE


def to_images(spectra: torch.Tensor) -> torch.Tensor:
    """Step 5 and the paper's orientation: ``[N, frames, n_mels]`` log-mels -> images ``[N, n_mels, frames]`` in [0, 1]."""
    return min_max_normalize(spectra).transpose(-1, -2).contiguous()


def clip_image(waveform: torch.Tensor, sample_rate: int, resolution: Resolution, *,
               top_db: float | None = TRIM_TOP_DB) -> torch.Tensor:
    """The full chain for one clip: ``[time]`` at ``sample_rate`` -> image ``[n_mels, frames]`` in [0, 1]."""
    y = fit_duration(prepare_waveform(waveform, sample_rate, top_db=top_db), int(round(resolution.seconds * SAMPLE_RATE)))
    spec = log_mel(y, SAMPLE_RATE, resolution.front_end)
    if spec.shape[0] < resolution.frames:
        raise ValueError(f"{resolution.name}: {y.numel()} samples gave {spec.shape[0]} frames, fewer than "
                         f"{resolution.frames}")
    return to_images(spec[None, : resolution.frames])[0]


def resize_images(images: torch.Tensor, resolution: Resolution) -> torch.Tensor:
    """Bilinear resize of ``images [N, H, W]`` (R3) to ``resolution``'s shape ``[N, n_mels, frames]``.

    >>> resize_images(torch.rand(2, 128, 300), RESOLUTIONS["R1"]).shape
    torch.Size([2, 64, 128])
    """
    if images.dim() != 3:
        raise ValueError(f"resize_images: images must be [N, H, W], got shape {tuple(images.shape)}")
    if tuple(images.shape[1:]) == resolution.shape:
        return images.clone()
    return F.interpolate(images[:, None].float(), size=resolution.shape, mode="bilinear",
                         align_corners=False, antialias=False)[:, 0]

