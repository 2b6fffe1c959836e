"""Waveform augmentation: pitch shift, volume change and added background noise, seeded.

Tompkins & Nichols (DCASE 2019 Task 5) enlarged their training set offline with pitch-shifted
(+-3 semitones), louder / quieter (1 dB steps up to +-4 dB, peak kept <= 1) and pink-noise
versions of every clip. The functions here are the three operations; :class:`AugmentPolicy`
and :func:`augment` draw one combination per copy from a seeded generator, so the augmented
set is a pure function of ``(seed, clip, copy)``.

* :func:`pitch_shift`: phase-vocoder time stretch by ``2 ** (-s / 12)`` then band-limited
  (FFT) resampling back to the original length, as ``librosa.effects.pitch_shift`` does. (We do
  not call ``torchaudio.functional.pitch_shift``: its polyphase resampler builds a kernel for
  the unreduced rate ratio and takes tens of seconds per clip.)
* :func:`change_volume`: gain in dB, optionally limited so the peak stays within [-1, 1].
* :func:`power_law_noise` / :func:`add_noise`: Gaussian noise with power spectral density
  proportional to ``1 / f ** exponent`` (0 white, 1 pink, 2 brown), generated as Timmer and
  Koenig (1995) do (random Gaussian real and imaginary parts scaled by ``f ** (-exponent / 2)``),
  added at a given signal-to-noise ratio (RMS).

All functions take ``[time]`` or ``[..., time]`` float tensors on any device and return the same
shape, dtype and device.

>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> x = torch.sin(2 * torch.pi * 440 * torch.arange(16000) / 16000)
>>> y, what = augment(x, 16000, AugmentPolicy(), g)
>>> y.shape == x.shape, sorted(what)
(True, ['gain_db', 'noise_snr_db', 'semitones'])
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torchaudio.functional as AF
from torch import Tensor

__all__ = [
    "NOISE_EXPONENTS",
    "AugmentPolicy",
    "add_noise",
    "augment",
    "augment_seed",
    "change_volume",
    "fft_resample",
    "pitch_shift",
    "power_law_noise",
]

#: Spectral exponents of the noise colours: PSD proportional to 1 / f ** exponent.
NOISE_EXPONENTS = {"white": 0.0, "pink": 1.0, "brown": 2.0}


def _check_waveform(waveform, name: str = "waveform") -> Tensor:
    if not isinstance(waveform, Tensor) or not waveform.is_floating_point() or waveform.dim() < 1:
        raise ValueError(f"parameter {name}: expected a float tensor [..., time], got "
                         f"{type(waveform).__name__}{'' if not isinstance(waveform, Tensor) else ' ' + str(waveform.dtype)}")
    if waveform.shape[-1] == 0:
        raise ValueError(f"parameter {name}: has no samples")
    return waveform


def change_volume(waveform: Tensor, gain_db: float, *, limit_peak: bool = True) -> Tensor:
    """Multiply by ``10 ** (gain_db / 20)``; with ``limit_peak`` the gain is lowered so the peak stays <= 1.

    >>> change_volume(torch.tensor([0.5, -0.25]), 20 * math.log10(2), limit_peak=False)
    tensor([ 1.0000, -0.5000])
    """
    waveform = _check_waveform(waveform)
    if not math.isfinite(gain_db):
        raise ValueError(f"parameter gain_db: must be finite, got {gain_db!r}")
    gain = 10.0 ** (gain_db / 20.0)
    if limit_peak:
        peak = float(waveform.abs().max())
        if peak > 0 and peak * gain > 1.0:
            gain = 1.0 / peak
    return waveform * gain


def power_law_noise(num_samples: int, exponent: float = 1.0, *, generator: torch.Generator | None = None,
                    batch_shape: tuple[int, ...] = (), device=None, dtype=torch.float32) -> Tensor:
    """Gaussian noise with PSD proportional to ``1 / f ** exponent``, unit variance.

    Timmer & Koenig (1995): draw real and imaginary parts of each positive-frequency bin from
    N(0, 1), scale them by ``f ** (-exponent / 2)`` (the lowest non-zero frequency's scale is
    used for the DC bin, whose value is then discarded by zeroing the mean), inverse real FFT.

    Args:
        num_samples: length (>= 2).
        exponent: 0 white, 1 pink, 2 brown (any real >= 0).
        generator: for reproducibility (CPU generator; the noise is moved to ``device``).
        batch_shape: leading dimensions.

    Returns:
        ``[*batch_shape, num_samples]``, zero mean and unit standard deviation per signal.

    >>> n = power_law_noise(48000, 1.0, generator=torch.Generator().manual_seed(0))
    >>> round(float(n.std()), 3), abs(float(n.mean())) < 1e-6
    (1.0, True)
    """
    if num_samples < 2:
        raise ValueError(f"parameter num_samples: must be >= 2, got {num_samples}")
    if not math.isfinite(exponent) or exponent < 0:
        raise ValueError(f"parameter exponent: must be a finite number >= 0, got {exponent!r}")
    n_bins = num_samples // 2 + 1
    freqs = torch.fft.rfftfreq(num_samples, dtype=torch.float64)
    freqs[0] = freqs[1]
    scale = freqs ** (-exponent / 2.0)
    shape = (*batch_shape, n_bins)
    real = torch.randn(shape, generator=generator, dtype=torch.float64) * scale
    imag = torch.randn(shape, generator=generator, dtype=torch.float64) * scale
    imag[..., 0] = 0.0
    if num_samples % 2 == 0:
        imag[..., -1] = 0.0
    spectrum = torch.complex(real, imag)
    spectrum[..., 0] = 0.0
    noise = torch.fft.irfft(spectrum, n=num_samples)
    noise = noise / noise.std(dim=-1, keepdim=True).clamp_min(1e-12)
    return noise.to(device=device, dtype=dtype)


def add_noise(waveform: Tensor, snr_db: float, color: str | float = "pink", *,
              generator: torch.Generator | None = None) -> Tensor:
    """Add power-law noise at ``snr_db`` = 10 log10(mean(x^2) / mean(noise^2)), per signal.

    A silent signal is returned unchanged (its SNR is undefined).

    >>> x = torch.ones(1000)
    >>> y = add_noise(x, 20.0, "white", generator=torch.Generator().manual_seed(0))
    >>> round(float(10 * torch.log10(x.pow(2).mean() / (y - x).pow(2).mean())), 6)
    20.0
    """
    waveform = _check_waveform(waveform)
    exponent = NOISE_EXPONENTS.get(color) if isinstance(color, str) else float(color)
    if exponent is None:
        raise ValueError(f"parameter color: must be one of {list(NOISE_EXPONENTS)} or an exponent, got {color!r}")
    if not math.isfinite(snr_db):
        raise ValueError(f"parameter snr_db: must be finite, got {snr_db!r}")
    noise = power_law_noise(waveform.shape[-1], exponent, generator=generator, batch_shape=tuple(waveform.shape[:-1]),
                            device=waveform.device, dtype=torch.float64)
    signal_power = waveform.double().pow(2).mean(dim=-1, keepdim=True)
    noise_power = noise.pow(2).mean(dim=-1, keepdim=True)
    gain = torch.sqrt(signal_power / (noise_power * 10.0 ** (snr_db / 10.0)))
    return (waveform.double() + gain * noise).to(waveform.dtype)


def fft_resample(waveform: Tensor, num_samples: int) -> Tensor:
    """Band-limited resampling to ``num_samples`` by truncating / zero-padding the spectrum.

    Exact for signals periodic in the frame (the ideal sinc interpolator of a periodic signal);
    used for the arbitrary ratios of a pitch shift. Same result as ``scipy.signal.resample``
    (including its handling of the Nyquist bin of the shorter length).

    >>> t = torch.arange(100) / 100
    >>> y = fft_resample(torch.sin(2 * math.pi * 3 * t), 150)
    >>> bool(torch.allclose(y, torch.sin(2 * math.pi * 3 * torch.arange(150) / 150), atol=1e-5))
    True
    """
    waveform = _check_waveform(waveform)
    n = waveform.shape[-1]
    if num_samples < 1:
        raise ValueError(f"parameter num_samples: must be >= 1, got {num_samples}")
    if num_samples == n:
        return waveform.clone()
    spectrum = torch.fft.rfft(waveform.double(), dim=-1)
    out = torch.zeros((*spectrum.shape[:-1], num_samples // 2 + 1), dtype=spectrum.dtype, device=spectrum.device)
    shorter = min(num_samples, n)
    keep = shorter // 2 + 1
    out[..., :keep] = spectrum[..., :keep]
    if shorter % 2 == 0:  # the Nyquist bin of the shorter length, as scipy.signal.resample
        out[..., shorter // 2] *= 2.0 if num_samples < n else 0.5
    y = torch.fft.irfft(out, n=num_samples, dim=-1) * (num_samples / n)
    return y.to(waveform.dtype)


def pitch_shift(waveform: Tensor, sample_rate: int, semitones: float, *, n_fft: int = 2048,
                hop_length: int | None = None) -> Tensor:
    """Shift the pitch by ``semitones`` keeping the duration (phase vocoder + resampling).

    As ``librosa.effects.pitch_shift``: time-stretch by ``rate = 2 ** (-semitones / 12)`` with a
    phase vocoder (STFT of ``n_fft`` points, periodic Hann window, hop ``n_fft // 4``), then
    resample the stretched signal back to the input length, which scales every frequency by
    ``1 / rate``.

    Args:
        waveform: ``[..., time]`` float tensor (time >= ``n_fft``).
        sample_rate: Hz (only checked; the shift is relative).
        semitones: any real; 0 returns a copy.

    >>> x = torch.sin(2 * torch.pi * 440 * torch.arange(16000) / 16000)
    >>> y = pitch_shift(x, 16000, 12.0, n_fft=1024)
    >>> int(torch.fft.rfft(y).abs().argmax())  # 880 Hz on the 1 Hz grid of a 1 s signal
    880
    """
    waveform = _check_waveform(waveform)
    if int(sample_rate) != sample_rate or sample_rate <= 0:
        raise ValueError(f"parameter sample_rate: must be a positive integer, got {sample_rate!r}")
    if not math.isfinite(semitones):
        raise ValueError(f"parameter semitones: must be finite, got {semitones!r}")
    n = waveform.shape[-1]
    if n < n_fft:
        raise ValueError(f"parameter waveform: {n} samples, fewer than n_fft={n_fft}; use a smaller n_fft")
    if semitones == 0:
        return waveform.clone()
    hop = hop_length or n_fft // 4
    rate = 2.0 ** (-semitones / 12.0)
    lead = waveform.shape[:-1]
    flat = waveform.reshape(-1, n).double()
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64, device=waveform.device)
    # zero padding, as librosa: reflect padding gives the first frame (whose phases seed the
    # vocoder) inconsistent phases across bins, and a stretched tone then loses most of its energy.
    spec = torch.stft(flat, n_fft, hop, window=window, center=True, pad_mode="constant", return_complex=True)
    advance = torch.linspace(0, math.pi * hop, spec.shape[-2], dtype=torch.float64, device=waveform.device)[..., None]
    stretched = AF.phase_vocoder(spec, rate, advance)
    long = int(round(n / rate))
    y = torch.istft(stretched, n_fft, hop, window=window, center=True, length=long)
    return fft_resample(y, n).reshape(*lead, n).to(waveform.dtype)


@dataclass(frozen=True)
class AugmentPolicy:
    """How one augmented copy is drawn (defaults follow Tompkins & Nichols' offline augmentation).

    Attributes:
        semitones: pitch shifts to choose from (their +-3 semitones); applied with ``p_pitch``.
        gain_db: (low, high) volume change in dB, drawn uniformly and rounded to ``gain_step_db``
            (their 1 dB steps up to +-4 dB); the peak is kept <= 1.
        noise_snr_db: (low, high) SNR of the added noise, uniform; applied with ``p_noise``.
        noise_color: ``"white"``, ``"pink"`` (theirs) or ``"brown"``.
    """

    semitones: tuple[float, ...] = (-3.0, 3.0)
    p_pitch: float = 0.5
    gain_db: tuple[float, float] = (-4.0, 4.0)
    gain_step_db: float = 1.0
    noise_snr_db: tuple[float, float] = (10.0, 30.0)
    p_noise: float = 0.5
    noise_color: str = "pink"

    def __post_init__(self):
        for name in ("p_pitch", "p_noise"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"AugmentPolicy.{name} must lie in [0, 1], got {getattr(self, name)!r}")
        for name in ("gain_db", "noise_snr_db"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"AugmentPolicy.{name} must be (low, high) with low <= high, got {(low, high)}")
        if self.noise_color not in NOISE_EXPONENTS:
            raise ValueError(f"AugmentPolicy.noise_color must be one of {list(NOISE_EXPONENTS)}, got {self.noise_color!r}")

    def describe(self) -> dict:
        return asdict(self)


def augment_seed(seed: int, clip: int, copy: int) -> int:
    """The generator seed of copy ``copy`` of clip ``clip``: a pure function of the three."""
    return (int(seed) * 1_000_003 + int(clip)) * 1_009 + int(copy)


def augment(waveform: Tensor, sample_rate: int, policy: AugmentPolicy,
            generator: torch.Generator) -> tuple[Tensor, dict]:
    """One augmented copy: pitch shift (with ``p_pitch``), then volume change, then noise (``p_noise``).

    Returns:
        ``(waveform, {"semitones", "gain_db", "noise_snr_db"})``; unused operations are 0 / None.
    """
    draws = torch.rand(4, generator=generator, dtype=torch.float64).tolist()
    semitones = 0.0
    if policy.semitones and draws[0] < policy.p_pitch:
        pick = int(torch.randint(len(policy.semitones), (1,), generator=generator))
        semitones = float(policy.semitones[pick])
    low, high = policy.gain_db
    gain = low + (high - low) * draws[1]
    if policy.gain_step_db:
        gain = round(gain / policy.gain_step_db) * policy.gain_step_db
    snr = None
    if draws[2] < policy.p_noise:
        low, high = policy.noise_snr_db
        snr = low + (high - low) * draws[3]
    out = pitch_shift(waveform, sample_rate, semitones, n_fft=min(2048, _pow2_below(waveform.shape[-1])))
    out = change_volume(out, gain)
    if snr is not None and float(out.abs().max()) > 0:
        out = add_noise(out, snr, policy.noise_color, generator=generator)
    return out, {"semitones": semitones, "gain_db": float(gain), "noise_snr_db": snr}


def _pow2_below(n: int) -> int:
    return 1 << max(4, int(math.floor(math.log2(max(n, 16)))))
