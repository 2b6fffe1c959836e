"""Audio input: read WAV / FLAC / Ogg with soundfile, mix down to mono, resample.

Every failure is one :class:`AudioError` whose message names the file and the reason, so a
bad clip in a dataset of thousands can be found and reported rather than crashing a run or,
worse, being silently replaced by silence.

>>> import numpy as np, soundfile as sf, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "tone.wav")
>>> sf.write(path, np.zeros((8000, 2), dtype="float32"), 8000)
>>> waveform, sr = load_audio(path, sample_rate=16000)
>>> tuple(waveform.shape), sr
((16000,), 16000)
"""

from __future__ import annotations

import functools
import os
import struct
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf
import torch
import torchaudio

__all__ = ["AudioError", "AudioInfo", "load_audio", "resample", "info", "AUDIO_EXTENSIONS"]

#: File extensions the dataset recipes accept for a clip stem (soundfile reads all of them).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga")


class AudioError(ValueError):
    """An audio file that cannot be used: the message names the file and the reason."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class AudioInfo(NamedTuple):
    """Header facts of an audio file (nothing decoded): ``(sample_rate, frames, channels, duration)``."""

    sample_rate: int
    frames: int
    channels: int
    duration: float  # seconds


def info(path) -> AudioInfo:
    """Sample rate, frame count, channels and duration of ``path`` from its header.

    Raises :class:`AudioError` for a missing file, a file that is not audio, or a WAV header
    declaring 0 channels. Truncation is only detected by :func:`load_audio` (it needs decoding),
    except for WAV files, where the header is compared with the file size.

    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.flac")
    >>> sf.write(path, np.zeros(4410, dtype="float32"), 44100)
    >>> info(path).duration
    0.1
    """
    path = _check_exists(path)
    riff = _riff_facts(path)
    if riff is not None and riff.channels == 0:
        raise AudioError(path, "the WAV header declares 0 channels")
    try:
        meta = sf.info(str(path))
    except (sf.SoundFileError, RuntimeError) as err:
        raise AudioError(path, f"not a readable audio file ({_clean(err, path)})") from None
    if meta.channels <= 0:
        raise AudioError(path, "the file declares 0 channels")
    frames = int(meta.frames)
    if riff is not None and riff.declared_frames is not None and riff.declared_frames > frames:
        raise AudioError(
            path,
            f"truncated: the WAV header declares {riff.declared_frames} frames "
            f"but the file holds only {frames}",
        )
    return AudioInfo(
        sample_rate=int(meta.samplerate),
        frames=frames,
        channels=int(meta.channels),
        duration=frames / meta.samplerate if meta.samplerate else 0.0,
    )


def load_audio(
    path,
    sample_rate: int | None = None,
    *,
    mono: bool = True,
    min_seconds: float = 0.0,
) -> tuple[torch.Tensor, int]:
    """Decode an audio file to a float32 tensor.

    Args:
        path: a WAV, FLAC or Ogg (Vorbis/Opus) file; ``str`` or ``Path``, any characters.
        sample_rate: resample to this rate (Hz) with :func:`resample`; ``None`` keeps the
            file's own rate.
        mono: average the channels (``Tensor[time]``); ``False`` keeps ``Tensor[channels, time]``.
        min_seconds: raise :class:`AudioError` if the file is shorter than this (checked on the
            file's own duration, before resampling).

    Returns:
        ``(waveform, sr)``: ``waveform`` is float32 on the CPU, ``[time]`` when ``mono`` else
        ``[channels, time]``, in ``[-1, 1]`` for integer formats; ``sr`` is the rate of
        ``waveform``. All-zero (silent) audio is valid and returned as is.

    Raises:
        AudioError: missing file, not audio, truncated, 0 samples, 0 channels, NaN or
            infinite samples, shorter than ``min_seconds``; the message names the file.

    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "stereo tone é.ogg")
    >>> sf.write(path, np.zeros((22050, 2), dtype="float32"), 22050)
    >>> waveform, sr = load_audio(path)
    >>> waveform.shape, waveform.dtype, sr
    (torch.Size([22050]), torch.float32, 22050)
    """
    header = info(path)
    path = Path(path)
    if header.frames == 0:
        raise AudioError(path, "contains 0 samples (empty, or truncated before the first block)")
    try:
        with sf.SoundFile(str(path)) as handle:
            data = handle.read(dtype="float32", always_2d=True)  # [time, channels]
    except (sf.SoundFileError, RuntimeError) as err:
        raise AudioError(path, f"truncated or corrupt, decoding failed ({_clean(err, path)})") from None
    if data.shape[0] < header.frames:
        raise AudioError(
            path, f"truncated: the header declares {header.frames} frames but only {data.shape[0]} decode"
        )
    if data.shape[0] == 0:
        raise AudioError(path, "contains 0 samples")
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).sum())
        raise AudioError(path, f"contains {bad} non-finite samples (NaN or infinity)")
    duration = data.shape[0] / header.sample_rate
    if duration < min_seconds:
        raise AudioError(path, f"is {duration:.3f} s long, shorter than min_seconds={min_seconds}")

    waveform = torch.from_numpy(np.ascontiguousarray(data.T))  # [channels, time]
    if mono:
        waveform = waveform.mean(dim=0)
    sr = header.sample_rate
    if sample_rate is not None and int(sample_rate) != sr:
        waveform = resample(waveform, sr, int(sample_rate))
        sr = int(sample_rate)
    return waveform.contiguous(), sr


@functools.lru_cache(maxsize=32)
def _resampler(orig: int, new: int, device: torch.device, dtype: torch.dtype) -> torchaudio.transforms.Resample:
    # The kernel is built in float64 and then cast: torchaudio builds it in the input's dtype,
    # and a float32-built kernel alone costs ~1e-5 relative error (float64-built: ~2e-7).
    with torch.inference_mode(False), torch.no_grad():
        return torchaudio.transforms.Resample(orig, new, dtype=torch.float64).to(device=device, dtype=dtype)


def resample(waveform: torch.Tensor, orig_sr: int, new_sr: int) -> torch.Tensor:
    """Band-limited resampling along the last axis: the one resampler of the library.

    ``torchaudio.functional.resample``'s windowed-sinc filter (its defaults), with the kernel
    built in float64 and cached per (rates, device, dtype).

    Args:
        waveform: ``Tensor[..., time]`` (or a NumPy array), float, on any device.
        orig_sr, new_sr: rates in Hz, positive integers.

    Returns:
        ``Tensor[..., ceil(time * new_sr / orig_sr)]``, same device and dtype (float32 for
        integer input); the input itself when the rates are equal.

    >>> resample(torch.zeros(2, 8000), 8000, 16000).shape
    torch.Size([2, 16000])
    """
    for name, value in (("orig_sr", orig_sr), ("new_sr", new_sr)):
        if isinstance(value, bool) or int(value) != value or int(value) <= 0:
            raise ValueError(f"resample: {name} must be a positive integer, got {value!r}")
    if not isinstance(waveform, torch.Tensor):
        waveform = torch.as_tensor(np.asarray(waveform))
    if not waveform.is_floating_point():
        waveform = waveform.float()
    if int(orig_sr) == int(new_sr):
        return waveform
    return _resampler(int(orig_sr), int(new_sr), waveform.device, waveform.dtype)(waveform)


# --------------------------------------------------------------------------------------------
# helpers


def _check_exists(path) -> Path:
    path = Path(os.fspath(path))
    if not path.exists():
        raise AudioError(path, "file not found")
    if not path.is_file():
        raise AudioError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise AudioError(path, "is an empty file (0 bytes)")
    return path


def _clean(err: Exception, path: Path) -> str:
    """libsndfile's message without the repeated file name."""
    text = str(err).replace(f"Error opening {str(path)!r}: ", "").replace(f"Error opening '{path}': ", "")
    return text.strip() or type(err).__name__


class _RiffFacts(NamedTuple):
    channels: int
    declared_frames: int | None  # None when the header does not say (streaming sizes)


def _riff_facts(path: Path) -> _RiffFacts | None:
    """Channels and declared frame count of a RIFF/WAVE file, or ``None`` if not RIFF/WAVE.

    libsndfile silently clamps a data chunk that runs past the end of the file, so truncation
    of a WAV is detected here by comparing the declared data size with what the file holds.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            channels, block_align = None, None
            while True:
                chunk = handle.read(8)
                if len(chunk) < 8:
                    break
                chunk_id, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if chunk_id == b"fmt ":
                    fmt = handle.read(min(size, 16))
                    if len(fmt) >= 14:
                        channels = struct.unpack("<H", fmt[2:4])[0]
                        block_align = struct.unpack("<H", fmt[12:14])[0]
                    handle.seek(size - len(fmt) + (size & 1), os.SEEK_CUR)
                elif chunk_id == b"data":
                    if channels is None:
                        return None
                    if not block_align or size in (0, 0xFFFFFFFF):
                        return _RiffFacts(channels, None)
                    return _RiffFacts(channels, size // block_align)
                else:
                    handle.seek(size + (size & 1), os.SEEK_CUR)
            return _RiffFacts(channels, None) if channels is not None else None
    except OSError:
        return None
