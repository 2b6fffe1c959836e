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
configuration :attr:`Resolution.front_end`, so the shared feature cache keeps the images
(:func:`audiolib.c19.data.dataset_images`); :func:`clip_image` is the same chain for one clip.
``"resize"`` makes R1 and R2 by bilinear interpolation of the R3 image (:func:`resize_images`), so a
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

SAMPLE_RATE = 22050
TRIM_TOP_DB = 60.0
TRIM_FRAME = 2048
TRIM_HOP = 512


@dataclass(frozen=True)
class Resolution:
    """One of the paper's input resolutions: ``seconds`` of audio through the :mod:`audiolib.features`
    ``preset`` (22.05 kHz, hop 256) whose ``n_mels`` is the image height and ``patch_frames`` its width."""

    name: str
    seconds: float
    preset: str

    @property
    def front_end(self) -> LogMelConfig:
        """Step 4: the preset without normalisation (min-max comes after the cut, :func:`to_images`), so the
        feature cache cuts exactly one image ``[frames, n_mels]`` from an extract of ``seconds``."""
        return get_config(self.preset).with_(normalize=None)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_mels, frames)``."""
        return (self.front_end.n_mels, self.front_end.patch_frames)


RESOLUTIONS: dict[str, Resolution] = {r.name: r for r in (
    Resolution("R1", 1.5, "c19_r1_mel"), Resolution("R2", 2.5, "c19_r2_mel"), Resolution("R3", 3.5, "c19_r3"))}


def trim_silence(waveform: torch.Tensor, *, top_db: float = TRIM_TOP_DB, frame_length: int = TRIM_FRAME,
                 hop_length: int = TRIM_HOP) -> tuple[torch.Tensor, tuple[int, int]]:
    """Drop the leading and trailing frames quieter than ``top_db`` below the loudest frame.

    ``rms`` over centred, zero-padded frames; the kept interval runs from the first non-silent
    frame's start to the end of the last (clipped to the signal), exactly as ``librosa.effects.trim``.
    ``waveform [time]`` -> ``(waveform[start:end], (start, end))``; a silent clip is returned whole.

    >>> y = torch.cat([torch.zeros(4096), torch.ones(2048), torch.zeros(4096)])
    >>> trim_silence(y)[1]
    (3584, 7168)
    """
    if waveform.dim() != 1:
        raise ValueError(f"trim_silence: waveform must be [time], got shape {tuple(waveform.shape)}")
    if waveform.numel() == 0:
        raise ValueError("trim_silence: waveform has 0 samples")
    pad = frame_length // 2
    frames = F.pad(waveform.to(torch.float64)[None, None], (pad, pad)).flatten().unfold(0, frame_length, hop_length)
    rms = frames.pow(2).mean(dim=1).sqrt()
    amin = 1e-5
    db = 20.0 * torch.log10(rms.clamp_min(amin)) - 20.0 * torch.log10(rms.max().clamp_min(amin))
    loud = torch.nonzero(db > -top_db).flatten()
    if loud.numel() == 0:  # pragma: no cover - the loudest frame is always at 0 dB
        return waveform[:0], (0, 0)
    start = int(loud[0]) * hop_length
    end = min(waveform.numel(), (int(loud[-1]) + 1) * hop_length)
    return waveform[start:end], (start, end)


def fit_duration(waveform: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Exactly ``num_samples`` samples of ``[time]``: the start of a longer clip, or a shorter clip tiled.

    >>> fit_duration(torch.tensor([1., 2., 3.]), 7).tolist()
    [1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 1.0]
    """
    if len(waveform) == 0:
        raise ValueError("fit_duration: an empty waveform cannot be tiled to a duration")
    return waveform.repeat(-(-num_samples // len(waveform)))[:num_samples]


def prepare_waveform(waveform: torch.Tensor, sample_rate: int, resolution: Resolution, *,
                     top_db: float | None = TRIM_TOP_DB) -> torch.Tensor:
    """Steps 1-3: ``[time]`` at ``sample_rate`` -> ``resolution.seconds`` at 22.05 kHz, silence trimmed
    (``top_db=None``: not trimmed; a trim that would leave nothing keeps the clip whole)."""
    y = resample(waveform.float(), int(sample_rate), SAMPLE_RATE)
    if top_db is not None:
        trimmed, _ = trim_silence(y, top_db=top_db)
        if trimmed.numel() > 0:
            y = trimmed
    return fit_duration(y, int(round(resolution.seconds * SAMPLE_RATE)))


@dataclass(frozen=True)
class PreparedClip:
    """A clip loader giving steps 1 to 3 (:func:`prepare_waveform`), so that the shared feature cache
    (whose key digests this module's source as the loader's) computes C19's images. Picklable."""

    loader: Callable
    resolution: Resolution

    def __call__(self, row) -> tuple[torch.Tensor, int]:
        return prepare_waveform(*self.loader(row), self.resolution), SAMPLE_RATE


def to_images(spectra: torch.Tensor) -> torch.Tensor:
    """Step 5 and the paper's orientation: ``[N, frames, n_mels]`` log-mels -> images ``[N, n_mels, frames]`` in [0, 1]."""
    return min_max_normalize(spectra).transpose(-1, -2).contiguous()


def clip_image(waveform: torch.Tensor, sample_rate: int, resolution: Resolution, *,
               top_db: float | None = TRIM_TOP_DB) -> torch.Tensor:
    """The full chain for one clip: ``[time]`` at ``sample_rate`` -> image ``[n_mels, frames]`` in [0, 1]."""
    spec = log_mel(prepare_waveform(waveform, sample_rate, resolution, top_db=top_db), SAMPLE_RATE, resolution.front_end)
    return to_images(spec[None, : resolution.shape[1]])[0]


def resize_images(images: torch.Tensor, resolution: Resolution) -> torch.Tensor:
    """Bilinear resize of ``images [N, H, W]`` (R3) to ``resolution``'s shape ``[N, n_mels, frames]``.

    >>> resize_images(torch.rand(2, 128, 300), RESOLUTIONS["R1"]).shape
    torch.Size([2, 64, 128])
    """
    return F.interpolate(images[:, None].float(), size=resolution.shape, mode="bilinear",
                         align_corners=False, antialias=False)[:, 0]

