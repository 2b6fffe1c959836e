"""An independent NumPy implementation of the published VGGish front end (test helper).

Written from the algorithm of Hershey et al. (tensorflow/models, research/audioset/vggish,
``vggish_input.waveform_to_examples`` + ``mel_features``), in float64, one clip at a time, with
nothing taken from ``audiolib``:

1. input already at 16 kHz (resampling is tested separately);
2. frames of 400 samples (25 ms) every 160 samples (10 ms), no padding, remainder dropped;
3. periodic Hann window ``0.5 - 0.5 cos(2 pi n / 400)``;
4. ``|rfft(frame, 512)|`` (magnitude, not power);
5. mel matrix: 64 bands, edges equally spaced in HTK mel (``1127 ln(1 + f / 700)``) between
   125 and 7500 Hz, triangles linear in mel evaluated at the mel value of each FFT bin
   (``linspace(0, 8000, 257)`` Hz), row 0 (DC) zeroed;
6. ``log(mel + 0.01)``;
7. non-overlapping 96-frame examples, remainder dropped.

Also: a Slaney-scale mel helper is NOT here on purpose; Slaney filterbanks are checked against
``librosa.filters.mel``.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000
WINDOW_SAMPLES = 400
HOP_SAMPLES = 160
FFT_LENGTH = 512
NUM_MEL_BINS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96


def frame(data: np.ndarray, window_length: int, hop_length: int) -> np.ndarray:
    """Rows ``data[i * hop : i * hop + window]`` along axis 0 -> ``[n, window, ...]``; n may be 0."""
    num_samples = data.shape[0]
    if num_samples < window_length:
        return np.zeros((0, window_length) + data.shape[1:], dtype=data.dtype)
    num_frames = 1 + (num_samples - window_length) // hop_length
    windows = np.lib.stride_tricks.sliding_window_view(data, window_length, axis=0)  # [..., window] last
    return np.moveaxis(windows[:num_frames * hop_length:hop_length], -1, 1)


def periodic_hann(window_length: int) -> np.ndarray:
    n = np.arange(window_length, dtype=np.float64)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / window_length)


def stft_magnitude(signal: np.ndarray, fft_length: int, hop_length: int, window_length: int) -> np.ndarray:
    """``[frames, fft_length // 2 + 1]`` magnitudes of periodic-Hann windowed frames."""
    frames = frame(signal, window_length, hop_length)
    return np.abs(np.fft.rfft(frames * periodic_hann(window_length), n=fft_length, axis=-1))


def hertz_to_mel(frequencies_hertz):
    return 1127.0 * np.log(1.0 + np.asarray(frequencies_hertz, dtype=np.float64) / 700.0)


def mel_matrix(num_mel_bins: int = NUM_MEL_BINS, num_spectrogram_bins: int = FFT_LENGTH // 2 + 1,
               sample_rate: int = SAMPLE_RATE, lower_edge_hertz: float = MEL_MIN_HZ,
               upper_edge_hertz: float = MEL_MAX_HZ) -> np.ndarray:
    """``[num_spectrogram_bins, num_mel_bins]``: triangles linear in mel, DC row zeroed."""
    nyquist = sample_rate / 2.0
    bins_mel = hertz_to_mel(np.linspace(0.0, nyquist, num_spectrogram_bins))
    edges = np.linspace(hertz_to_mel(lower_edge_hertz), hertz_to_mel(upper_edge_hertz), num_mel_bins + 2)
    weights = np.empty((num_spectrogram_bins, num_mel_bins))
    for i in range(num_mel_bins):
        lower, center, upper = edges[i:i + 3]
        rising = (bins_mel - lower) / (center - lower)
        falling = (upper - bins_mel) / (upper - center)
        weights[:, i] = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0
    return weights


def log_mel_spectrogram(signal: np.ndarray) -> np.ndarray:
    """VGGish log-mel of a 1-D 16 kHz signal -> ``[frames, 64]`` float64."""
    spectrogram = stft_magnitude(np.asarray(signal, dtype=np.float64), FFT_LENGTH, HOP_SAMPLES, WINDOW_SAMPLES)
    mel = spectrogram @ mel_matrix(num_spectrogram_bins=spectrogram.shape[1])
    return np.log(mel + LOG_OFFSET)


def waveform_to_examples(signal: np.ndarray) -> np.ndarray:
    """VGGish examples of a 1-D 16 kHz signal -> ``[n, 96, 64]`` float64."""
    if signal.ndim != 1:
        raise ValueError("reference takes one mono 16 kHz clip [time]")
    return frame(log_mel_spectrogram(signal), EXAMPLE_FRAMES, EXAMPLE_FRAMES).reshape(-1, EXAMPLE_FRAMES, NUM_MEL_BINS)
