"""Log-mel front ends as pure tensor functions: batched, on the waveform's device, no NumPy.

Every function takes ``[..., time]`` waveforms (any leading batch shape) and keeps the data on
its device (CPU, CUDA, or ``meta`` for shape inference). The pipeline of :func:`log_mel`:

1. resample to ``config.sample_rate`` when needed (torchaudio's windowed-sinc resampler with its
   default filter, kernel built in float64 and cached);
2. frame (``unfold``, a view), window, ``rfft`` to ``n_fft`` points, ``|X| ** power``;
3. one matmul against the mel filterbank, restricted to the FFT bins where it is non-zero;
4. ``log(mel + offset)`` or decibels, optional per-example min-max scaling.

On CPU, when no gradient is needed, steps 2-3 run over tiles of about ``CPU_TILE_FRAMES`` frames
into reused buffers, so the windowed frames and their spectra stay in cache instead of making
several passes over memory, and the magnitude is ``sqrt(re^2 + im^2)`` of the used bins only
(2.5x less CPU time than one whole-batch pass, measured single-threaded; see
``benchmarks/frontend.py``). Elsewhere (CUDA, ``meta``, autograd) the batch goes in one pass.
Filterbanks, windows and resampling kernels are built once per (config, device, dtype) and
cached.

>>> import torch
>>> from audiolib.features import vggish_examples
>>> vggish_examples(torch.zeros(2, 10 * 16000), 16000).shape
torch.Size([2, 10, 96, 64])
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import torch
from torch import Tensor

from ..audio import resample
from .config import LogMelConfig, PRESETS, get_config

#: Frames per tile of the CPU STFT loop (all clips of the batch together): small enough for the
#: windowed frames (``n_fft`` floats each) and their spectra to stay in L2 cache.
CPU_TILE_FRAMES = 1024

# -- windows and mel scales -------------------------------------------------------------------


def periodic_hann(n: int, device: torch.device | str | None = None,
                  dtype: torch.dtype | None = None) -> Tensor:
    """Periodic Hann window ``0.5 - 0.5 cos(2 pi k / n)``, ``k = 0..n-1`` (VGGish's ``periodic_hann``).

    Computed in float64 and cast to ``dtype`` (default float32). Shape ``[n]``.

    >>> periodic_hann(4).tolist()
    [0.0, 0.5, 1.0, 0.5]
    """
    _check_int("n", n)
    k = torch.arange(n, dtype=torch.float64)
    window = 0.5 - 0.5 * torch.cos(2.0 * math.pi * k / n)
    return window.to(device=device, dtype=dtype or torch.float32)


def symmetric_hann(n: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None) -> Tensor:
    """Symmetric Hann window ``0.5 - 0.5 cos(2 pi k / (n - 1))`` (``[1.]`` when ``n == 1``)."""
    _check_int("n", n)
    if n == 1:
        return torch.ones(1, device=device, dtype=dtype or torch.float32)
    k = torch.arange(n, dtype=torch.float64)
    window = 0.5 - 0.5 * torch.cos(2.0 * math.pi * k / (n - 1))
    return window.to(device=device, dtype=dtype or torch.float32)


_WINDOWS = {"hann_periodic": periodic_hann, "hann_symmetric": symmetric_hann}

# Slaney (Auditory Toolbox / librosa default) scale: linear below 1 kHz, logarithmic above.
_SLANEY_F_SP = 200.0 / 3.0
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP  # 15
_SLANEY_LOGSTEP = math.log(6.4) / 27.0
# HTK scale as VGGish writes it: 1127 ln(1 + f / 700).
_HTK_Q = 1127.0
_HTK_BREAK_HZ = 700.0


def hz_to_mel(frequencies: Tensor | float, scale: str = "htk") -> Tensor:
    """Hz to mel: ``"htk"`` ``1127 ln(1 + f / 700)``; ``"slaney"`` ``3f / 200`` below 1 kHz,
    ``15 + 27 ln(f / 1000) / ln 6.4`` above.

    >>> round(float(hz_to_mel(1000.0)), 2), round(float(hz_to_mel(1000.0, "slaney")), 2)
    (999.99, 15.0)
    """
    f = torch.as_tensor(frequencies, dtype=torch.float64) if not isinstance(frequencies, Tensor) else frequencies
    if scale == "htk":
        return _HTK_Q * torch.log1p(f / _HTK_BREAK_HZ)
    if scale == "slaney":
        linear = f / _SLANEY_F_SP
        log_part = _SLANEY_MIN_LOG_MEL + torch.log(f.clamp_min(_SLANEY_MIN_LOG_HZ) / _SLANEY_MIN_LOG_HZ) / _SLANEY_LOGSTEP
        return torch.where(f >= _SLANEY_MIN_LOG_HZ, log_part, linear)
    raise ValueError(f"scale must be 'htk' or 'slaney', got {scale!r}")


def mel_to_hz(mels: Tensor | float, scale: str = "htk") -> Tensor:
    """Inverse of :func:`hz_to_mel`.

    >>> round(float(mel_to_hz(hz_to_mel(440.0))), 6)
    440.0
    """
    m = torch.as_tensor(mels, dtype=torch.float64) if not isinstance(mels, Tensor) else mels
    if scale == "htk":
        return _HTK_BREAK_HZ * torch.expm1(m / _HTK_Q)
    if scale == "slaney":
        linear = m * _SLANEY_F_SP
        log_part = _SLANEY_MIN_LOG_HZ * torch.exp(_SLANEY_LOGSTEP * (m.clamp_min(_SLANEY_MIN_LOG_MEL) - _SLANEY_MIN_LOG_MEL))
        return torch.where(m >= _SLANEY_MIN_LOG_MEL, log_part, linear)
    raise ValueError(f"scale must be 'htk' or 'slaney', got {scale!r}")


def mel_filterbank(n_freqs: int, n_mels: int, sample_rate: int, f_min: float, f_max: float,
                   scale: str = "htk", norm: str | None = None, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None, *, triangles: str | None = None,
                   n_fft: int | None = None) -> Tensor:
    """Mel filterbank ``[n_freqs, n_mels]``: ``spectrogram[..., n_freqs] @ fb`` gives mel bands.

    Band edges are ``n_mels + 2`` points equally spaced in mel between ``f_min`` and ``f_max``;
    FFT bin ``k`` sits at ``k * sample_rate / n_fft`` Hz (``n_fft`` defaults to ``2 (n_freqs - 1)``).

    Args:
        scale: ``"htk"`` or ``"slaney"`` (see :func:`hz_to_mel`).
        norm: ``None`` (triangles peak at 1) or ``"slaney"`` (each band divided by half its
            width in Hz, as librosa's ``norm="slaney"``).
        triangles: ``"mel"``: linear in mel, evaluated on each bin's mel value, DC bin zeroed,
            exactly as VGGish's ``mel_features.spectrogram_to_mel_matrix``; ``"hz"``: linear in
            Hz between the mel-spaced edges, as ``librosa.filters.mel`` and torchaudio's
            ``melscale_fbanks``. ``None``: ``"mel"`` for ``"htk"``, ``"hz"`` for ``"slaney"``.
        device, dtype: of the result (default CPU, float32). Built in float64 on the CPU first,
            so every device gets the same values.

    >>> fb = mel_filterbank(257, 64, 16000, 125.0, 7500.0)
    >>> fb.shape, float(fb[0].abs().sum())
    (torch.Size([257, 64]), 0.0)
    """
    _check_int("n_freqs", n_freqs)
    _check_int("n_mels", n_mels)
    _check_int("sample_rate", sample_rate)
    if n_fft is None:
        n_fft = 2 * (n_freqs - 1)
    elif n_fft // 2 + 1 != n_freqs:
        raise ValueError(f"n_fft={n_fft} gives {n_fft // 2 + 1} frequency bins, not n_freqs={n_freqs}")
    if n_fft < 1:
        raise ValueError(f"n_freqs must be >= 2 (n_fft >= 2), got n_freqs={n_freqs}")
    if not 0.0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(f"need 0 <= f_min < f_max <= sample_rate / 2 = {sample_rate / 2} Hz, "
                         f"got f_min={f_min}, f_max={f_max}")
    if scale not in ("htk", "slaney"):
        raise ValueError(f"scale must be 'htk' or 'slaney', got {scale!r}")
    if norm not in (None, "slaney"):
        raise ValueError(f"norm must be None or 'slaney', got {norm!r}")
    triangles = triangles or ("mel" if scale == "htk" else "hz")
    if triangles not in ("mel", "hz"):
        raise ValueError(f"triangles must be 'mel', 'hz' or None, got {triangles!r}")

    bins_hz = torch.arange(n_freqs, dtype=torch.float64) * (sample_rate / n_fft)  # [n_freqs]
    edges_mel = torch.linspace(float(hz_to_mel(float(f_min), scale)), float(hz_to_mel(float(f_max), scale)),
                               n_mels + 2, dtype=torch.float64)
    edges_hz = mel_to_hz(edges_mel, scale)
    if triangles == "mel":
        position, edges = hz_to_mel(bins_hz, scale), edges_mel
    else:
        position, edges = bins_hz, edges_hz
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]  # [n_mels] each
    rising = (position[:, None] - lower) / (center - lower)
    falling = (upper - position[:, None]) / (upper - center)
    fb = torch.clamp(torch.minimum(rising, falling), min=0.0)  # [n_freqs, n_mels]
    if triangles == "mel":
        fb[0, :] = 0.0  # VGGish zeroes the DC bin
    if norm == "slaney":
        fb = fb * (2.0 / (edges_hz[2:] - edges_hz[:-2]))
    return fb.to(device=device, dtype=dtype or torch.float32)


# -- framing and STFT -------------------------------------------------------------------------


def _check_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _as_waveform(waveform, name: str = "waveform") -> Tensor:
    """Validate a ``[..., time]`` floating waveform; half precision is computed in float32."""
    if not isinstance(waveform, Tensor):
        try:
            waveform = torch.as_tensor(waveform)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{name} must be a torch.Tensor [..., time], got {type(waveform).__name__}") from err
    if not waveform.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor (float32 or float64, values in [-1, 1]), "
                         f"got dtype {waveform.dtype}; convert integer PCM first, e.g. x.float() / 32768")
    if waveform.dim() < 1:
        raise ValueError(f"{name} must have a time axis ([..., time]), got a 0-d tensor")
    if waveform.dtype in (torch.float16, torch.bfloat16):
        waveform = waveform.float()
    return waveform


def _check_sample_rate(sample_rate, name: str = "sample_rate") -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, float)) \
            or not math.isfinite(sample_rate) or sample_rate <= 0 or int(sample_rate) != sample_rate:
        raise ValueError(f"{name} must be a positive whole number of Hz, got {sample_rate!r}")
    return int(sample_rate)


def _num_frames(num_samples: int, n_fft: int, hop_length: int, win_length: int, center: bool) -> int:
    if center:
        return 1 + (num_samples + 2 * (n_fft // 2) - n_fft) // hop_length
    return 0 if num_samples < win_length else 1 + (num_samples - win_length) // hop_length


def _frames(signal: Tensor, n_fft: int, hop_length: int, win_length: int, center: bool,
            pad_mode: str) -> Tensor:
    """``[N, time]`` -> frames ``[N, F, win_length]`` (a view of the possibly padded signal).

    ``center=False`` (VGGish): frame ``t`` is ``signal[t * hop : t * hop + win_length]``.
    ``center=True`` (librosa / torch.stft): pad ``n_fft // 2`` on both sides, then frame ``t`` is
    the ``win_length`` samples centred in ``padded[t * hop : t * hop + n_fft]``. A window shorter
    than ``n_fft`` is zero-padded to ``n_fft`` by the FFT; where it sits in the ``n_fft`` frame
    changes only the phase, never the magnitude.
    """
    n_signals, num_samples = signal.shape
    n_frames = _num_frames(num_samples, n_fft, hop_length, win_length, center)
    offset = 0
    if center:
        pad = n_fft // 2
        if pad_mode == "reflect" and num_samples <= pad:
            raise ValueError(f"waveform of {num_samples} samples is too short for reflect padding of "
                             f"{pad} samples (center=True); use pad_mode='constant' or longer input")
        if pad_mode == "reflect":
            signal = torch.nn.functional.pad(signal[:, None], (pad, pad), mode="reflect")[:, 0]
        else:
            signal = torch.nn.functional.pad(signal, (pad, pad))
        offset = (n_fft - win_length) // 2
    if n_frames == 0:
        return signal.new_zeros(n_signals, 0, win_length)
    span = (n_frames - 1) * hop_length + win_length
    return signal[:, offset:offset + span].unfold(-1, win_length, hop_length)


def _magnitude(spectrum: Tensor, power: float) -> Tensor:
    """``|spectrum| ** power``, differentiable (``abs`` has a zero gradient at 0)."""
    if power == 2.0:
        return torch.view_as_real(spectrum).square().sum(-1)
    magnitude = spectrum.abs()
    return magnitude if power == 1.0 else magnitude.pow(power)


def _spectra_simple(frames: Tensor, window: Tensor, n_fft: int, power: float, lo: int, hi: int,
                    filterbank: Tensor | None) -> Tensor:
    """One pass over the whole batch; differentiable; used off the CPU and under autograd."""
    magnitude = _magnitude(torch.fft.rfft(frames * window, n=n_fft)[..., lo:hi], power)
    return magnitude if filterbank is None else magnitude @ filterbank


def _tiles(n_signals: int, n_frames: int, tile: int):
    """``(clip slice, frame slice)`` pairs covering ``[n_signals, n_frames]`` with about ``tile``
    frames each, every one a contiguous block of a ``[n_signals, n_frames, ...]`` tensor: whole
    clips several at a time, or (clips longer than a tile) one clip in pieces."""
    if n_frames >= tile:
        for i in range(n_signals):
            for f in range(0, n_frames, tile):
                yield slice(i, i + 1), slice(f, min(f + tile, n_frames))
    else:
        clips = max(1, tile // max(1, n_frames))
        for i in range(0, n_signals, clips):
            yield slice(i, min(i + clips, n_signals)), slice(0, n_frames)


def _spectra_tiled(frames: Tensor, window: Tensor, n_fft: int, power: float, lo: int, hi: int,
                   filterbank: Tensor | None, tile: int) -> Tensor:
    """Same numbers as :func:`_spectra_simple`, tile by tile into reused buffers (no autograd).

    Per tile: window into a zero-padded ``n_fft`` buffer (no padding copy), ``rfft`` into a
    reused complex buffer, ``sqrt(re^2 + im^2)`` (about twice as fast as complex ``abs``) of
    the bins ``lo:hi`` only, then one matmul per tile.
    """
    n_signals, n_frames, win_length = frames.shape
    width = hi - lo if filterbank is None else filterbank.shape[-1]
    out = frames.new_empty(n_signals, n_frames, width)
    if n_signals == 0 or n_frames == 0:
        return out
    rows = min(n_signals, max(1, tile // n_frames)) if n_frames < tile else 1
    cols = min(n_frames, tile)
    padded = frames.new_zeros(rows, cols, n_fft)  # columns win_length: stay zero
    power_buf = frames.new_empty(rows, cols, hi - lo)
    for clips, frame_slice in _tiles(n_signals, n_frames, tile):
        r, c = clips.stop - clips.start, frame_slice.stop - frame_slice.start
        block = padded[:r, :c]
        torch.mul(frames[clips, frame_slice], window, out=block[..., :win_length])
        parts = torch.view_as_real(torch.fft.rfft(block)[..., lo:hi])  # rfft(out=...) is slower
        target = power_buf[:r, :c] if filterbank is not None else out[clips, frame_slice]
        torch.mul(parts[..., 0], parts[..., 0], out=target)
        target.addcmul_(parts[..., 1], parts[..., 1])
        if power == 1.0:
            target.sqrt_()
        elif power != 2.0:
            target.pow_(power / 2.0)
        if filterbank is not None:
            out[clips, frame_slice] = target @ filterbank  # faster than matmul(out=...)
    return out


def _spectra(frames: Tensor, window: Tensor, n_fft: int, power: float, lo: int, hi: int,
             filterbank: Tensor | None) -> Tensor:
    """``|rfft(frames * window, n_fft)[..., lo:hi]| ** power`` (then ``@ filterbank``).

    ``frames`` ``[N, F, win]`` -> ``[N, F, hi - lo]`` or ``[N, F, n_mels]``. Tiled on CPU when
    no gradient is needed; one pass otherwise.
    """
    tile = _tile_frames(frames.device)
    needs_grad = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (frames, window, filterbank))
    if tile is None or needs_grad:
        return _spectra_simple(frames, window, n_fft, power, lo, hi, filterbank)
    return _spectra_tiled(frames, window, n_fft, power, lo, hi, filterbank, tile)


def _tile_frames(device: torch.device) -> int | None:
    return CPU_TILE_FRAMES if device.type == "cpu" else None


def stft_magnitude(waveform: Tensor, n_fft: int, hop_length: int, win_length: int | None = None,
                   window: Tensor | None = None, center: bool = False, pad_mode: str = "reflect") -> Tensor:
    """``|STFT|`` of ``waveform [..., time]`` -> ``[..., frames, n_fft // 2 + 1]``.

    Framing as in :func:`_frames` (``center=False`` is VGGish's ``stft_magnitude``: frames of
    ``win_length`` samples every ``hop_length``, no padding, the remainder dropped). ``window``
    is a ``[win_length]`` tensor (default periodic Hann).

    >>> import torch
    >>> stft_magnitude(torch.randn(2, 16000), 512, 160, 400).shape
    torch.Size([2, 98, 257])
    """
    waveform = _as_waveform(waveform)
    _check_int("n_fft", n_fft)
    _check_int("hop_length", hop_length)
    win_length = n_fft if win_length is None else win_length
    _check_int("win_length", win_length)
    if win_length > n_fft:
        raise ValueError(f"win_length ({win_length}) must be <= n_fft ({n_fft})")
    if pad_mode not in ("reflect", "constant"):
        raise ValueError(f"pad_mode must be 'reflect' or 'constant', got {pad_mode!r}")
    if window is None:
        window = periodic_hann(win_length, waveform.device, waveform.dtype)
    elif window.shape != (win_length,):
        raise ValueError(f"window must have shape [{win_length}] (win_length), got {list(window.shape)}")
    lead, num_samples = waveform.shape[:-1], waveform.shape[-1]
    frames = _frames(waveform.reshape(-1, num_samples), n_fft, hop_length, win_length, center, pad_mode)
    spec = _spectra(frames, window.to(waveform), n_fft, 1.0, 0, n_fft // 2 + 1, None)
    return spec.reshape(*lead, spec.shape[-2], spec.shape[-1])


def frame_patches(spec: Tensor, patch_frames: int, hop: int | None = None) -> Tensor:
    """Cut ``spec [..., frames, mels]`` into patches ``[..., n, patch_frames, mels]``.

    ``n = 1 + (frames - patch_frames) // hop`` (0 when shorter than one patch); the remainder
    is dropped, as VGGish's ``mel_features.frame`` does. ``hop`` defaults to ``patch_frames``
    (non-overlapping). Returns a new contiguous tensor.

    >>> import torch
    >>> frame_patches(torch.zeros(3, 998, 64), 96).shape
    torch.Size([3, 10, 96, 64])
    """
    _check_int("patch_frames", patch_frames)
    hop = patch_frames if hop is None else hop
    _check_int("hop", hop)
    if not isinstance(spec, Tensor) or spec.dim() < 2:
        raise ValueError(f"spec must be a tensor [..., frames, mels], got "
                         f"{tuple(spec.shape) if isinstance(spec, Tensor) else type(spec).__name__}")
    *lead, n_frames, n_mels = spec.shape
    if n_frames < patch_frames:
        return spec.new_zeros(*lead, 0, patch_frames, n_mels)
    return spec.unfold(-2, patch_frames, hop).transpose(-1, -2).contiguous()


def min_max_normalize(spec: Tensor) -> Tensor:
    """Scale each example of ``spec [..., frames, mels]`` to [0, 1] over its frames and mels.

    A constant example becomes all zeros (no division by zero).

    >>> import torch
    >>> min_max_normalize(torch.tensor([[[1.0, 3.0], [2.0, 5.0]]])).tolist()
    [[[0.0, 0.5], [0.25, 1.0]]]
    """
    if spec.dim() < 2:
        raise ValueError(f"spec must be [..., frames, mels], got shape {tuple(spec.shape)}")
    if spec.shape[-2] == 0 or spec.shape[-1] == 0:
        return spec.clone()
    low = spec.amin(dim=(-2, -1), keepdim=True)
    span = spec.amax(dim=(-2, -1), keepdim=True) - low
    scaled = (spec - low) / torch.where(span > 0, span, torch.ones_like(span))
    return torch.where(span > 0, scaled, torch.zeros_like(scaled))


# -- log-mel ----------------------------------------------------------------------------------


class _Parts(NamedTuple):
    """Window ``[win_length]``, filterbank rows ``lo:hi`` (the non-zero ones) ``[hi - lo, n_mels]``."""

    window: Tensor
    filterbank: Tensor
    lo: int
    hi: int


def build_parts(config: LogMelConfig, device: torch.device | str | None = None,
                dtype: torch.dtype | None = None) -> _Parts:
    """Window and band-limited filterbank of ``config`` (uncached; see :func:`cached_parts`)."""
    fb = mel_filterbank(config.n_freqs, config.n_mels, config.sample_rate, config.f_min, config.f_max,
                        config.mel_scale, config.mel_norm, dtype=torch.float64, triangles=config.triangles,
                        n_fft=config.n_fft)
    used = torch.nonzero(fb.abs().sum(dim=1) > 0).flatten()
    lo, hi = (int(used[0]), int(used[-1]) + 1) if len(used) else (0, 0)
    # Widen the band to a multiple of 8 bins (zero rows): aligned rows vectorise better.
    width = -(-(hi - lo) // 8) * 8
    hi = min(config.n_freqs, lo + width)
    lo = max(0, hi - width)
    window = _WINDOWS[config.window](config.win_length, dtype=torch.float64)
    dtype = dtype or torch.float32
    return _Parts(window.to(device=device, dtype=dtype), fb[lo:hi].to(device=device, dtype=dtype), lo, hi)


@functools.lru_cache(maxsize=64)
def cached_parts(config: LogMelConfig, device: torch.device, dtype: torch.dtype) -> _Parts:
    """:func:`build_parts`, cached per (config, device, dtype). Do not modify the tensors."""
    with torch.inference_mode(False), torch.no_grad():  # usable later with autograd too
        return build_parts(config, device, dtype)


def _resample(waveform: Tensor, sample_rate, config: LogMelConfig) -> Tensor:
    return resample(waveform, _check_sample_rate(sample_rate), config.sample_rate)


def _log_mel(waveform: Tensor, config: LogMelConfig, parts: _Parts) -> Tensor:
    """Log-mel of a validated waveform already at ``config.sample_rate``, with given parts."""
    lead, num_samples = waveform.shape[:-1], waveform.shape[-1]
    signal = waveform.reshape(-1, num_samples)
    frames = _frames(signal, config.n_fft, config.hop_length, config.win_length, config.center, config.pad_mode)
    window = parts.window.to(device=signal.device, dtype=signal.dtype)
    filterbank = parts.filterbank.to(device=signal.device, dtype=signal.dtype)
    mel = _spectra(frames, window, config.n_fft, config.power, parts.lo, parts.hi, filterbank)
    if config.log == "log_offset":
        mel = torch.log(mel + config.log_offset)
    elif config.log == "db":
        # 10 log10(power) = (20 / p) log10(|X| ** p); the floor amin is in power units.
        mel = (20.0 / config.power) * torch.log10(mel.clamp_min(config.amin ** (config.power / 2.0)))
        if config.top_db is not None and mel.shape[-2] > 0:
            mel = torch.maximum(mel, mel.amax(dim=(-2, -1), keepdim=True) - config.top_db)
    if config.normalize == "minmax":
        mel = min_max_normalize(mel)
    return mel.reshape(*lead, mel.shape[-2], mel.shape[-1])


def log_mel(waveform: Tensor, sample_rate: int, config: LogMelConfig | str | None = None) -> Tensor:
    """Log-mel spectrogram of ``waveform [..., time]`` at ``sample_rate`` -> ``[..., frames, n_mels]``.

    Args:
        waveform: float32/float64 tensor (half precision is computed in float32), any device;
            the result has its device and dtype.
        sample_rate: rate of ``waveform``; resampled to ``config.sample_rate`` when different
            (:func:`audiolib.audio.resample`: ``torchaudio.functional.resample``'s filter, float64 kernel).
        config: a :class:`LogMelConfig`, a preset name, or ``None`` for ``"vggish"``.

    Frames: ``config.num_frames(time)`` (0 when shorter than one window with ``center=False``).

    >>> import torch
    >>> log_mel(torch.zeros(44100), 44100, "vggish").shape
    torch.Size([98, 64])
    """
    config = get_config(config)
    waveform = _resample(_as_waveform(waveform), sample_rate, config)
    return _log_mel(waveform, config, cached_parts(config, waveform.device, waveform.dtype))


def log_mel_patches(waveform: Tensor, sample_rate: int, config: LogMelConfig | str | None = None) -> Tensor:
    """:func:`log_mel` cut into ``config.patch_frames``-frame patches -> ``[..., n, patch_frames, n_mels]``."""
    config = get_config(config)
    return frame_patches(log_mel(waveform, sample_rate, config), config.patch_frames, config.patch_step)


def vggish_examples(waveform: Tensor, sample_rate: int) -> Tensor:
    """The published VGGish input: ``waveform [time]`` or ``[batch, time]`` -> ``[..., n, 96, 64]``.

    Resample to 16 kHz; 400-sample (25 ms) periodic Hann frames every 160 samples (10 ms), no
    padding; ``|rfft|`` with 512 points (magnitude, not power); 64 HTK-mel bands 125-7500 Hz,
    triangles linear in mel, DC bin zeroed; ``log(mel + 0.01)``; non-overlapping 96-frame
    patches, the remainder dropped. ``n = (1 + (T - 400) // 160) // 96`` for ``T`` samples at
    16 kHz, so one patch needs 15600 samples (0.975 s), and 10 s give 10 patches. Multichannel
    audio must be mixed to mono first (VGGish averages the channels).

    >>> import torch
    >>> vggish_examples(torch.zeros(160000), 16000).shape
    torch.Size([10, 96, 64])
    """
    return log_mel_patches(waveform, sample_rate, PRESETS["vggish"])
