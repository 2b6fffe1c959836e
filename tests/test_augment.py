"""Augmentation: each operation against an independent reference or a measured property."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import torch

from audiolib.augment import (
    AugmentPolicy,
    add_noise,
    augment,
    augment_seed,
    change_volume,
    fft_resample,
    pitch_shift,
    power_law_noise,
)


def _tone(freqs, sr=16000, seconds=2.0):
    t = torch.arange(int(sr * seconds), dtype=torch.float64) / sr
    return sum(torch.sin(2 * math.pi * f * t) for f in freqs).float() / len(freqs)


def _peaks(x, sr, k=1):
    """Frequencies (Hz) of the k largest spectral peaks of a Hann-windowed signal."""
    x = x.double().numpy()
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / sr)
    idx, _ = scipy.signal.find_peaks(spectrum)
    top = idx[np.argsort(spectrum[idx])[::-1][:k]]
    return sorted(freqs[top])


def test_change_volume_gain_and_peak_limit():
    x = torch.tensor([0.25, -0.5, 0.1])
    # +6.0206 dB doubles the amplitude (exact to float precision).
    torch.testing.assert_close(change_volume(x, 20 * math.log10(2)), x * 2)
    torch.testing.assert_close(change_volume(x, -20.0), x * 0.1)
    # +12 dB would push the peak to 1.99: limited to a peak of exactly 1.
    y = change_volume(x, 12.0)
    assert float(y.abs().max()) == pytest.approx(1.0, abs=1e-6)
    assert float(change_volume(x, 12.0, limit_peak=False).abs().max()) == pytest.approx(0.5 * 10 ** 0.6, rel=1e-6)
    with pytest.raises(ValueError, match="gain_db"):
        change_volume(x, float("nan"))


@pytest.mark.parametrize("exponent", [0.0, 1.0, 2.0])
def test_power_law_noise_has_the_requested_spectral_slope(exponent):
    g = torch.Generator().manual_seed(3)
    noise = power_law_noise(2 ** 17, exponent, generator=g, batch_shape=(8,), dtype=torch.float64)
    assert noise.shape == (8, 2 ** 17)
    torch.testing.assert_close(noise.std(dim=-1), torch.ones(8, dtype=torch.float64), rtol=1e-6, atol=1e-6)
    assert float(noise.mean(dim=-1).abs().max()) < 1e-8
    # Welch PSD averaged over the 8 signals, least-squares slope of log PSD vs log f
    # between 1/1000 and 1/4 of the sampling rate: should be -exponent (tolerance 0.1).
    f, psd = scipy.signal.welch(noise.numpy(), fs=1.0, nperseg=4096, axis=-1)
    psd = psd.mean(axis=0)
    band = (f > 1e-3) & (f < 0.25)
    slope = np.polyfit(np.log(f[band]), np.log(psd[band]), 1)[0]
    assert slope == pytest.approx(-exponent, abs=0.1)


def test_power_law_noise_is_reproducible_from_the_generator():
    a = power_law_noise(1000, 1.0, generator=torch.Generator().manual_seed(7))
    b = power_law_noise(1000, 1.0, generator=torch.Generator().manual_seed(7))
    c = power_law_noise(1000, 1.0, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError, match="exponent"):
        power_law_noise(1000, -1.0)


@pytest.mark.parametrize("snr", [-5.0, 0.0, 17.5])
def test_add_noise_hits_the_snr_per_signal(snr):
    x = torch.stack([_tone([300.0]), 0.1 * _tone([1200.0, 2500.0])])
    y = add_noise(x, snr, "pink", generator=torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.dtype == x.dtype
    noise = (y - x).double()
    measured = 10 * torch.log10(x.double().pow(2).mean(-1) / noise.pow(2).mean(-1))
    torch.testing.assert_close(measured, torch.full((2,), snr, dtype=torch.float64), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="color"):
        add_noise(x, 10.0, "purple")


@pytest.mark.parametrize("n,m", [(100, 150), (100, 64), (101, 64), (64, 101), (99, 100), (1000, 843)])
def test_fft_resample_matches_scipy(n, m):
    x = torch.randn(3, n, dtype=torch.float64, generator=torch.Generator().manual_seed(n + m))
    np.testing.assert_allclose(fft_resample(x, m).numpy(), scipy.signal.resample(x.numpy(), m, axis=-1), atol=1e-10)


@pytest.mark.parametrize("semitones", [3.0, -3.0, 7.0])
def test_pitch_shift_moves_every_partial_by_the_ratio(semitones):
    sr = 16000
    x = _tone([440.0, 1000.0], sr)
    y = pitch_shift(x, sr, semitones)
    assert y.shape == x.shape and y.dtype == x.dtype
    ratio = 2 ** (semitones / 12)
    # 2 s signal: 0.5 Hz bins; the phase vocoder is accurate to about one bin here.
    for found, expected in zip(_peaks(y, sr, 2), [440 * ratio, 1000 * ratio]):
        assert found == pytest.approx(expected, abs=2.0)
    # The level is about kept: a plain phase vocoder loses some energy when it stretches
    # (about 18 % for upward shifts, librosa's too; compared with librosa below).
    assert 0.75 <= float(y.pow(2).mean() / x.pow(2).mean()) <= 1.05


def test_pitch_shift_agrees_with_librosa():
    librosa = pytest.importorskip("librosa")
    sr = 16000
    x = _tone([523.25], sr)
    ours = pitch_shift(x, sr, -3.0)
    theirs = torch.from_numpy(librosa.effects.pitch_shift(x.numpy(), sr=sr, n_steps=-3.0))
    assert _peaks(ours, sr) == pytest.approx(_peaks(theirs, sr), abs=1.0)
    up = pitch_shift(x, sr, 3.0)
    theirs_up = torch.from_numpy(librosa.effects.pitch_shift(x.numpy(), sr=sr, n_steps=3.0))
    assert float(up.pow(2).mean()) == pytest.approx(float(theirs_up.pow(2).mean()), rel=0.05)
    assert torch.equal(pitch_shift(x, sr, 0.0), x)
    with pytest.raises(ValueError, match="n_fft"):
        pitch_shift(torch.zeros(100), sr, 3.0)


def test_augment_is_a_pure_function_of_the_seed():
    x = _tone([440.0])
    policy = AugmentPolicy(p_pitch=1.0, p_noise=1.0)
    a, what_a = augment(x, 16000, policy, torch.Generator().manual_seed(augment_seed(0, 5, 1)))
    b, what_b = augment(x, 16000, policy, torch.Generator().manual_seed(augment_seed(0, 5, 1)))
    c, what_c = augment(x, 16000, policy, torch.Generator().manual_seed(augment_seed(0, 5, 2)))
    assert torch.equal(a, b) and what_a == what_b
    assert not torch.equal(a, c)
    assert what_a["semitones"] in (-3.0, 3.0)
    assert -4.0 <= what_a["gain_db"] <= 4.0 and float(what_a["gain_db"]).is_integer()
    assert 10.0 <= what_a["noise_snr_db"] <= 30.0
    assert len({augment_seed(0, c, k) for c in range(50) for k in range(10)}) == 500


def test_policy_and_inputs_are_checked():
    with pytest.raises(ValueError, match="p_pitch"):
        AugmentPolicy(p_pitch=1.5)
    with pytest.raises(ValueError, match="gain_db"):
        AugmentPolicy(gain_db=(3.0, -3.0))
    with pytest.raises(ValueError, match="waveform"):
        change_volume(torch.tensor([1, 2, 3]), 1.0)
