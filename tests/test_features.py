"""Log-mel front ends against independent references.

References and tolerances (max abs difference unless said otherwise):

* VGGish front end vs ``reference_vggish_numpy`` (NumPy float64, written from the published
  algorithm): float64 input < 1e-9; float32 input < 2e-3 on full-scale synthetic signals and
  < 1e-3 on the real clips. The float32 bound is what float32 FFTs allow: an FFT rounding
  error of about 1e-7 of the frame's energy reaches ``log(mel + 0.01)`` multiplied by up to
  1 / 0.01 in bands that are nearly empty (measured: about 1e-3 on a full-scale chirp, a few
  1e-6 on white noise, 1e-4 to 1e-3 on real clips).
* Mel filterbanks: HTK triangles-in-mel vs the NumPy VGGish matrix < 1e-12 (float64); Slaney
  and HTK triangles-in-Hz vs ``librosa.filters.mel`` < 1e-6 relative to the largest weight
  (librosa builds in float32).
* Full librosa pipelines (centred frames, power, dB, min-max) < 1e-6 dB in float64,
  < 1e-3 dB in float32.
* Resampling: 44.1 kHz input gives the reference on torchaudio-resampled audio within the
  float32 bound; against SciPy's ``resample_poly`` (a different filter) < 0.02 in the bands
  below 5.5 kHz.
"""

from __future__ import annotations

import dataclasses
import glob
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchaudio.functional as AF

from audiolib.features import (
    PRESETS,
    LogMel,
    LogMelConfig,
    LogMelPatches,
    VGGishFrontEnd,
    frame_patches,
    get_config,
    hz_to_mel,
    log_mel,
    log_mel_patches,
    mel_filterbank,
    mel_to_hz,
    min_max_normalize,
    periodic_hann,
    stft_magnitude,
    vggish_examples,
)
from audiolib.audio import resample
from audiolib.features import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference_vggish_numpy as ref  # noqa: E402

SR = 16000
TOL_F64 = 1e-9
TOL_F32_SYNTHETIC = 2e-3
TOL_F32_REAL = 1e-3


def _max_diff(ours: torch.Tensor, expected: np.ndarray) -> float:
    assert tuple(ours.shape) == expected.shape, (tuple(ours.shape), expected.shape)
    return float(np.abs(ours.detach().cpu().double().numpy() - expected).max()) if expected.size else 0.0


def _synthetic(kind: str, seconds: float = 3.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(0)
    if kind.startswith("sine"):
        return 0.9 * np.sin(2 * np.pi * float(kind[4:]) * t + 0.3)
    if kind == "noise":
        return 0.3 * rng.standard_normal(t.size)
    if kind == "chirp":  # 50 Hz -> 7.9 kHz linear sweep, full scale
        return np.sin(2 * np.pi * (50 * t + 0.5 * (7850 / seconds) * t ** 2))
    if kind == "quiet_chirp":
        return 1e-3 * np.sin(2 * np.pi * (200 * t + 0.5 * (3000 / seconds) * t ** 2))
    raise ValueError(kind)


SIGNALS = ["sine60", "sine440", "sine1000", "sine3333.3", "sine7400", "noise", "chirp", "quiet_chirp"]


# -- the VGGish front end against the NumPy reference -----------------------------------------

@pytest.mark.parametrize("kind", SIGNALS)
def test_vggish_matches_numpy_reference(kind):
    signal = _synthetic(kind)
    expected = ref.waveform_to_examples(signal)
    assert expected.shape == (3, 96, 64)
    assert _max_diff(vggish_examples(torch.tensor(signal), SR), expected) < TOL_F64
    assert _max_diff(vggish_examples(torch.tensor(signal, dtype=torch.float32), SR), expected) < TOL_F32_SYNTHETIC


def test_log_mel_frames_match_reference_including_remainder():
    signal = _synthetic("noise", seconds=1.234)  # 19744 samples: 121 frames, 1 patch + 25 frames
    expected = ref.log_mel_spectrogram(signal)
    ours = log_mel(torch.tensor(signal), SR, "vggish")
    assert ours.shape == (121, 64)
    assert _max_diff(ours, expected) < TOL_F64


def test_float32_and_float64_agree():
    signal = torch.tensor(_synthetic("chirp"))
    high = vggish_examples(signal, SR)
    low = vggish_examples(signal.float(), SR)
    assert high.dtype == torch.float64 and low.dtype == torch.float32
    assert (high - low.double()).abs().max() < TOL_F32_SYNTHETIC


def test_stft_magnitude_matches_numpy():
    signal = _synthetic("noise", seconds=0.5)
    expected = ref.stft_magnitude(signal, 512, 160, 400)
    assert _max_diff(stft_magnitude(torch.tensor(signal), 512, 160, 400), expected) < 1e-9


def test_periodic_hann_and_mel_scales():
    assert torch.allclose(periodic_hann(400, dtype=torch.float64), torch.tensor(ref.periodic_hann(400)), atol=1e-15)
    freqs = torch.tensor([0.0, 125.0, 700.0, 1000.0, 4000.0, 7500.0], dtype=torch.float64)
    np.testing.assert_allclose(hz_to_mel(freqs).numpy(), ref.hertz_to_mel(freqs.numpy()), rtol=1e-14)
    import librosa

    np.testing.assert_allclose(hz_to_mel(freqs, "slaney").numpy(), librosa.hz_to_mel(freqs.numpy()), rtol=1e-12)
    for scale in ("htk", "slaney"):
        np.testing.assert_allclose(mel_to_hz(hz_to_mel(freqs, scale), scale).numpy(), freqs.numpy(), atol=1e-9)


# -- filterbanks -------------------------------------------------------------------------------

def test_htk_filterbank_matches_vggish_matrix():
    ours = mel_filterbank(257, 64, SR, 125.0, 7500.0, dtype=torch.float64)
    expected = ref.mel_matrix()
    assert _max_diff(ours, expected) < 1e-12
    assert float(ours[0].abs().sum()) == 0.0  # DC row zeroed
    other = mel_filterbank(129, 20, 8000, 125.0, 3800.0, dtype=torch.float64)  # VGGish's own defaults
    assert _max_diff(other, ref.mel_matrix(20, 129, 8000, 125.0, 3800.0)) < 1e-12


@pytest.mark.parametrize("sr,n_fft,n_mels,f_min,f_max", [(44100, 2048, 128, 0.0, 22050.0),
                                                         (22050, 1024, 96, 0.0, 11025.0),
                                                         (16000, 512, 64, 125.0, 7500.0)])
def test_filterbanks_match_librosa(sr, n_fft, n_mels, f_min, f_max):
    import librosa

    n_freqs = n_fft // 2 + 1
    for htk, norm in ((False, "slaney"), (False, None), (True, None), (True, "slaney")):
        expected = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max, htk=htk,
                                       norm=norm, dtype=np.float64).T
        ours = mel_filterbank(n_freqs, n_mels, sr, f_min, f_max, scale="htk" if htk else "slaney", norm=norm,
                              triangles="hz", dtype=torch.float64)
        assert _max_diff(ours, expected) < 1e-6 * np.abs(expected).max(), (htk, norm)


def test_filterbank_matches_torchaudio_for_hz_triangles():
    expected = AF.melscale_fbanks(257, 125.0, 7500.0, 64, SR, norm=None, mel_scale="htk")
    ours = mel_filterbank(257, 64, SR, 125.0, 7500.0, scale="htk", triangles="hz")
    assert (ours - expected).abs().max() < 1e-5


# -- other presets against librosa pipelines --------------------------------------------------

def _librosa_db(signal, sr, n_fft, hop, n_mels, minmax):
    import librosa

    spec = librosa.feature.melspectrogram(y=signal, sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels,
                                          center=True, pad_mode="reflect", power=2.0)
    out = librosa.power_to_db(spec, ref=1.0, amin=1e-10, top_db=80.0).T
    return (out - out.min()) / (out.max() - out.min()) if minmax else out


@pytest.mark.parametrize("preset,sr,n_fft,hop,n_mels,minmax", [("t19_cnn", 44100, 2048, 512, 128, False),
                                                              ("c19_r3", 22050, 1024, 256, 128, True),
                                                              ("c19_r1_mel", 22050, 1024, 256, 64, True)])
def test_librosa_style_presets_match_librosa(preset, sr, n_fft, hop, n_mels, minmax):
    rng = np.random.default_rng(1)
    t = np.arange(int(1.5 * sr)) / sr
    signal = 0.5 * np.sin(2 * np.pi * 880 * t) + 0.05 * rng.standard_normal(t.size)
    expected = _librosa_db(signal, sr, n_fft, hop, n_mels, minmax)
    config = get_config(preset)
    assert _max_diff(log_mel(torch.tensor(signal), sr, config), expected) < 1e-6
    scale = 1.0 if minmax else 100.0  # dB values span ~80; [0, 1] after min-max
    assert _max_diff(log_mel(torch.tensor(signal, dtype=torch.float32), sr, config), expected) < 1e-5 * scale


def test_t19_preset_gives_862_frames_for_10_seconds():
    assert log_mel(torch.zeros(2, 441000), 44100, "t19_cnn").shape == (2, 862, 128)


# -- shapes ------------------------------------------------------------------------------------

def test_vggish_shapes():
    assert vggish_examples(torch.zeros(10 * SR), SR).shape == (10, 96, 64)
    assert vggish_examples(torch.zeros(3, 10 * SR), SR).shape == (3, 10, 96, 64)
    # One patch needs 96 frames = 400 + 95 * 160 = 15600 samples (0.975 s). A clip of exactly
    # 0.96 s (15360 samples) gives 94 frames and therefore no patch, as in the published code.
    assert vggish_examples(torch.zeros(15600), SR).shape == (1, 96, 64)
    assert vggish_examples(torch.zeros(15599), SR).shape == (0, 96, 64)
    assert vggish_examples(torch.zeros(15360), SR).shape == (0, 96, 64)
    assert log_mel(torch.zeros(15360), SR).shape == (94, 64)
    assert vggish_examples(torch.zeros(2, 100), SR).shape == (2, 0, 96, 64)  # shorter than a window
    assert log_mel(torch.zeros(399), SR).shape == (0, 64)
    assert log_mel(torch.zeros(400), SR).shape == (1, 64)
    assert ref.waveform_to_examples(np.zeros(15600)).shape == (1, 96, 64)
    assert ref.waveform_to_examples(np.zeros(15360)).shape == (0, 96, 64)


def test_config_num_frames_agrees_with_output():
    for name, config in PRESETS.items():
        for seconds in (0.5, 1.0, 2.3):
            n = int(seconds * config.sample_rate)
            out = log_mel(torch.zeros(n), config.sample_rate, config)
            assert out.shape == (config.num_frames(n), config.n_mels), name


def test_frame_patches_matches_numpy_framing():
    spec = torch.randn(2, 250, 8, dtype=torch.float64)
    for hop in (None, 96, 50, 1):
        ours = frame_patches(spec, 96, hop)
        expected = np.stack([ref.frame(s.numpy(), 96, hop or 96) for s in spec])
        assert _max_diff(ours, expected) == 0.0
    assert frame_patches(spec, 251).shape == (2, 0, 251, 8)


def test_min_max_normalize():
    spec = torch.tensor([[[1.0, 3.0], [2.0, 5.0]], [[4.0, 4.0], [4.0, 4.0]]])
    out = min_max_normalize(spec)
    assert out[0].tolist() == [[0.0, 0.5], [0.25, 1.0]]
    assert out[1].abs().sum() == 0  # constant example: zeros, not NaN


# -- batching, caching, devices, modules -------------------------------------------------------

def test_batched_equals_per_clip():
    rng = np.random.default_rng(3)
    batch = torch.tensor(rng.standard_normal((5, 3 * SR)) * 0.2, dtype=torch.float32)
    together = vggish_examples(batch, SR)
    for i in range(len(batch)):
        assert (together[i] - vggish_examples(batch[i], SR)).abs().max() < 1e-5
    nested = vggish_examples(batch.reshape(5, 1, -1), SR)
    assert nested.shape == (5, 1, 3, 96, 64)
    assert (nested[:, 0] - together).abs().max() < 1e-5


def test_tiling_does_not_change_results(monkeypatch):
    batch = torch.randn(3, SR // 2, dtype=torch.float64)
    tiled = log_mel(batch, SR)
    monkeypatch.setattr(F, "CPU_TILE_FRAMES", 10 ** 9)
    assert (log_mel(batch, SR) - tiled).abs().max() < 1e-12
    monkeypatch.setattr(F, "CPU_TILE_FRAMES", 1)
    assert (log_mel(batch, SR) - tiled).abs().max() < 1e-12


@pytest.mark.parametrize("power", [1.0, 2.0, 1.5])
@pytest.mark.parametrize("with_filterbank", [True, False])
def test_tiled_cpu_path_equals_one_pass(power, with_filterbank):
    signal = torch.randn(3, 5000, dtype=torch.float64)
    frames = F._frames(signal, 512, 160, 400, False, "reflect")
    window = periodic_hann(400, dtype=torch.float64)
    fb = mel_filterbank(257, 64, SR, 125.0, 7500.0, dtype=torch.float64)[5:245] if with_filterbank else None
    one_pass = F._spectra_simple(frames, window, 512, power, 5, 245, fb)
    for tile in (1, 7, 30, 31, 64, 10 ** 6):  # one clip in pieces, whole clips, all at once
        assert (F._spectra_tiled(frames, window, 512, power, 5, 245, fb, tile) - one_pass).abs().max() < 1e-10


def test_filterbank_is_cached():
    config = get_config("vggish").with_(n_mels=40)
    waveform = torch.randn(SR)
    log_mel(waveform, SR, config)
    hits = F.cached_parts.cache_info().hits
    log_mel(waveform, SR, config)
    assert F.cached_parts.cache_info().hits == hits + 1


def test_gradients_flow_and_inference_mode_is_safe():
    with torch.inference_mode():  # builds the cache inside inference mode first
        log_mel(torch.randn(SR), SR, get_config("vggish").with_(n_mels=32))
    waveform = torch.randn(2, SR, requires_grad=True)
    log_mel(waveform, SR, get_config("vggish").with_(n_mels=32)).sum().backward()
    assert waveform.grad is not None and torch.isfinite(waveform.grad).all()


def test_meta_device_gives_shapes():
    waveform = torch.empty(4, 10 * SR, device="meta")
    out = vggish_examples(waveform, SR)
    assert out.device.type == "meta" and out.shape == (4, 10, 96, 64)
    assert log_mel(torch.empty(2, 44100, device="meta"), 44100, "c19_r3").shape == (2, 87, 128)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    batch = torch.randn(4, 3 * SR) * 0.1
    on_gpu = vggish_examples(batch.cuda(), SR)
    assert on_gpu.is_cuda
    assert (on_gpu.cpu() - vggish_examples(batch, SR)).abs().max() < 1e-3
    assert (LogMel("t19_cnn").cuda()(torch.randn(2, 44100).cuda()).cpu()).shape == (2, 87, 128)


def test_modules_match_functional():
    batch = torch.randn(2, 2 * SR) * 0.1
    assert torch.equal(VGGishFrontEnd()(batch, SR), vggish_examples(batch, SR))
    assert torch.equal(LogMel("c19_r3")(batch, SR), log_mel(batch, SR, "c19_r3"))
    assert torch.equal(LogMelPatches("c19_r1_mel")(batch, SR), log_mel_patches(batch, SR, "c19_r1_mel"))
    module = LogMel("vggish").to(torch.float64)
    assert module(batch.double()).dtype == torch.float64
    assert "window" not in module.state_dict()  # rebuilt from the config, not saved
    with pytest.raises(ValueError, match="meta"):
        LogMel().to("meta")(batch)


# -- resampling --------------------------------------------------------------------------------

def test_resampling_matches_torchaudio_then_reference():
    rng = np.random.default_rng(4)
    t = np.arange(3 * 44100) / 44100
    signal = 0.4 * np.sin(2 * np.pi * 1234 * t) + 0.05 * rng.standard_normal(t.size)
    at_16k = AF.resample(torch.tensor(signal), 44100, SR).numpy()
    expected = ref.waveform_to_examples(at_16k)
    assert _max_diff(vggish_examples(torch.tensor(signal), 44100), expected) < TOL_F64
    assert _max_diff(vggish_examples(torch.tensor(signal, dtype=torch.float32), 44100), expected) < TOL_F32_SYNTHETIC


def test_resample_is_torchaudio_resample_with_a_float64_kernel():
    signal = torch.randn(2, 44100, dtype=torch.float64) * 0.3
    expected = AF.resample(signal, 44100, SR)
    assert (resample(signal, 44100, SR) - expected).abs().max() < 1e-12
    assert (resample(signal.float(), 44100, SR).double() - expected).abs().max() < 1e-6


def test_resampling_agrees_with_scipy_below_5500_hz():
    from scipy.signal import resample_poly

    rng = np.random.default_rng(5)
    t = np.arange(3 * 44100) / 44100
    signal = 0.3 * np.sin(2 * np.pi * (100 * t + 0.5 * 3000 * t ** 2 / 3)) + 0.01 * rng.standard_normal(t.size)
    expected = ref.waveform_to_examples(resample_poly(signal, 160, 441))
    ours = vggish_examples(torch.tensor(signal), 44100).numpy()
    edges_hz = mel_to_hz(torch.linspace(float(hz_to_mel(125.0)), float(hz_to_mel(7500.0)), 66)).numpy()
    low_bands = int(np.sum(edges_hz[2:] <= 5500.0))  # bands entirely below 5.5 kHz
    assert low_bands >= 50
    assert np.abs(ours[..., :low_bands] - expected[..., :low_bands]).max() < 0.02


# -- real clips --------------------------------------------------------------------------------

def _real_clips(shared_data, pattern, count):
    files = sorted(glob.glob(str(shared_data / pattern)))[:count]
    if not files:
        pytest.skip(f"no files match {pattern} under {shared_data}")
    import soundfile as sf

    clips = []
    for path in files:
        data, sr = sf.read(path, dtype="float64", always_2d=True)
        clips.append((Path(path).name, data.mean(axis=1), sr))
    return clips


@pytest.mark.parametrize("pattern", ["esc50/audio/*.ogg", "urbansound8k/audio/fold1/*.ogg"])
def test_real_clips_match_reference(shared_data, pattern):
    for name, signal, sr in _real_clips(shared_data, pattern, 4):
        at_16k = AF.resample(torch.tensor(signal), sr, SR)
        expected = ref.waveform_to_examples(at_16k.numpy())
        assert expected.shape[0] >= 4, name
        assert _max_diff(vggish_examples(torch.tensor(signal), sr), expected) < TOL_F64, name
        assert _max_diff(vggish_examples(at_16k.float(), SR), expected) < TOL_F32_REAL, name
        assert _max_diff(vggish_examples(torch.tensor(signal, dtype=torch.float32), sr), expected) < TOL_F32_REAL, name


# -- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("changes,field", [
    ({"win_length": 600}, "win_length"),
    ({"f_max": 9000.0}, "f_max"),
    ({"f_min": -1.0}, "f_min"),
    ({"f_min": 8000.0, "f_max": 7000.0}, "f_min"),
    ({"n_mels": 0}, "n_mels"),
    ({"n_fft": 256.0}, "n_fft"),
    ({"hop_length": True}, "hop_length"),
    ({"sample_rate": -16000}, "sample_rate"),
    ({"mel_scale": "bark"}, "mel_scale"),
    ({"mel_norm": "area"}, "mel_norm"),
    ({"log": "log10"}, "log"),
    ({"log_offset": 0.0}, "log_offset"),
    ({"power": 0.0}, "power"),
    ({"window": "hamming"}, "window"),
    ({"normalize": "zscore"}, "normalize"),
    ({"patch_frames": 0}, "patch_frames"),
    ({"patch_hop": -1}, "patch_hop"),
    ({"top_db": -80.0}, "top_db"),
    ({"f_max": math.nan}, "f_max"),
])
def test_bad_config_names_the_field(changes, field):
    with pytest.raises(ValueError, match=rf"LogMelConfig\.{field}\b"):
        LogMelConfig(**changes)
    with pytest.raises(ValueError, match=rf"LogMelConfig\.{field}\b"):
        get_config("vggish").with_(**changes)


def test_unknown_preset_and_field():
    with pytest.raises(ValueError, match="vggish"):
        get_config("vgish")
    with pytest.raises(ValueError, match="n_mel"):
        get_config("vggish").with_(n_mel=10)


def test_bad_waveform_and_sample_rate():
    with pytest.raises(ValueError, match="waveform"):
        vggish_examples(torch.zeros(16000, dtype=torch.int16), SR)
    with pytest.raises(ValueError, match="waveform"):
        vggish_examples(torch.tensor(0.0), SR)
    with pytest.raises(TypeError, match="waveform"):
        vggish_examples("clip.wav", SR)
    for bad in (0, -16000, 16000.5, None):
        with pytest.raises(ValueError, match="sample_rate"):
            vggish_examples(torch.zeros(16000), bad)
    with pytest.raises(ValueError, match="too short"):
        log_mel(torch.zeros(100), 44100, "t19_cnn")
    with pytest.raises(ValueError, match="patch_frames"):
        frame_patches(torch.zeros(100, 64), 0)
    with pytest.raises(ValueError, match="n_freqs"):
        mel_filterbank(257, 64, SR, 125.0, 7500.0, n_fft=1024)


def test_presets_are_frozen_and_documented():
    assert get_config("h17") == get_config("vggish")
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_config("vggish").n_mels = 10
    assert get_config("c19_r2_mel").n_mels == 96 and get_config("c19_r1_mel").n_mels == 64
    assert get_config("c19_r3").normalize == "minmax"
