"""audiolib.audio: reading, mono mixdown, resampling and one clear error per bad file."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import soundfile as sf
import torch

from audiolib.audio import AudioError, info, load_audio, resample


def _sine(freq, sr, seconds, channels=1, amp=0.5):
    t = np.arange(int(sr * seconds)) / sr
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def _peak_hz(x: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[np.argmax(spectrum)])


@pytest.mark.parametrize("ext,subtype,tol", [("wav", "PCM_16", 1e-4), ("flac", "PCM_16", 1e-4),
                                             ("ogg", "VORBIS", 0.05)])
def test_roundtrip_formats(tmp_path, ext, subtype, tol):
    x = _sine(440, 16000, 0.5)
    path = tmp_path / f"tone.{ext}"
    sf.write(path, x, 16000, subtype=subtype)
    y, sr = load_audio(path)
    assert sr == 16000 and y.dtype == torch.float32 and y.shape == (8000,)
    # PCM_16 quantisation step is 2**-15 ~ 3e-5; Vorbis is lossy: compare within a loose bound
    assert float(torch.max(torch.abs(y - torch.from_numpy(x)))) < tol
    sr_, frames, channels, duration = info(path)
    assert (sr_, frames, channels) == (16000, 8000, 1) and duration == pytest.approx(0.5)


@pytest.mark.parametrize("channels", [2, 6])
def test_mono_mixdown_is_channel_mean(tmp_path, channels):
    rng = np.random.default_rng(0)
    x = (0.2 * rng.standard_normal((4000, channels))).astype(np.float32)
    path = tmp_path / f"multi{channels}.wav"
    sf.write(path, x, 8000, subtype="FLOAT")
    y, sr = load_audio(path)
    assert y.shape == (4000,)
    np.testing.assert_allclose(y.numpy(), x.mean(axis=1), atol=1e-7)
    stacked, _ = load_audio(path, mono=False)
    assert stacked.shape == (channels, 4000)


@pytest.mark.parametrize("orig_sr", [8000, 96000])
def test_resample_to_16k_keeps_length_and_frequency(tmp_path, orig_sr):
    x = _sine(1000, orig_sr, 1.0)
    path = tmp_path / f"tone_{orig_sr}.wav"
    sf.write(path, x, orig_sr, subtype="FLOAT")
    y, sr = load_audio(path, sample_rate=16000)
    assert sr == 16000 and y.shape == (16000,)
    # 1 s of signal: FFT bin spacing 1 Hz; the peak stays at 1000 Hz
    assert abs(_peak_hz(y.numpy(), 16000) - 1000.0) <= 1.0
    # amplitude preserved away from the edges (filter transients)
    assert float(y[2000:-2000].abs().max()) == pytest.approx(0.5, abs=0.01)


def test_resample_function_shapes_and_identity():
    x = torch.randn(3, 44100)
    assert resample(x, 44100, 16000).shape == (3, 16000)
    assert resample(x, 16000, 16000) is x
    with pytest.raises(ValueError, match="new_sr"):
        resample(x, 16000, 0)


def test_silence_is_valid(tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(1600, dtype=np.float32), 16000)
    y, _ = load_audio(path)
    assert y.shape == (1600,) and float(y.abs().max()) == 0.0


def test_path_with_spaces_and_non_ascii(tmp_path):
    folder = tmp_path / "dossier été" / "日本 語"
    folder.mkdir(parents=True)
    path = folder / "bruit de fond ñ.flac"
    sf.write(path, _sine(300, 22050, 0.2), 22050)
    y, sr = load_audio(str(path))
    assert sr == 22050 and y.shape == (4410,)
    assert info(path).frames == 4410


def _expect_error(path, match, **kw):
    with pytest.raises(AudioError, match=match) as caught:
        load_audio(path, **kw)
    assert str(path) in str(caught.value)  # the message names the file
    return caught.value


def test_missing_file(tmp_path):
    _expect_error(tmp_path / "nope.wav", "not found")


def test_text_file_named_wav(tmp_path):
    path = tmp_path / "not audio.wav"
    path.write_text("this is not audio\n" * 10)
    _expect_error(path, "not a readable audio file")


def test_zero_byte_file(tmp_path):
    path = tmp_path / "zero.wav"
    path.write_bytes(b"")
    _expect_error(path, "empty")


def test_zero_samples(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros((0, 1), dtype=np.float32), 16000)
    _expect_error(path, "0 samples")


def test_truncated_wav(tmp_path):
    path = tmp_path / "truncated.wav"
    sf.write(path, _sine(440, 16000, 1.0), 16000, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _expect_error(path, "truncated")


def test_truncated_flac(tmp_path):
    path = tmp_path / "truncated.flac"
    rng = np.random.default_rng(1)
    sf.write(path, (0.3 * rng.standard_normal(32000)).astype(np.float32), 16000)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _expect_error(path, "truncated")


def test_zero_channel_wav_written_by_hand(tmp_path):
    path = tmp_path / "zero_channels.wav"
    data = b"\x00" * 64
    fmt = struct.pack("<HHIIHH", 1, 0, 16000, 0, 0, 16)  # PCM, 0 channels
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    _expect_error(path, "0 channels")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_samples(tmp_path, bad):
    x = np.zeros(1000, dtype=np.float32)
    x[500] = bad
    path = tmp_path / "nonfinite.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    _expect_error(path, "non-finite")


def test_shorter_than_min_seconds(tmp_path):
    path = tmp_path / "short.wav"
    sf.write(path, np.zeros(800, dtype=np.float32), 16000)
    _expect_error(path, "shorter than min_seconds", min_seconds=0.1)
    y, _ = load_audio(path, min_seconds=0.05)
    assert y.shape == (800,)


def test_directory_is_not_a_file(tmp_path):
    _expect_error(tmp_path, "not a regular file")


def test_audio_error_is_value_error():
    assert issubclass(AudioError, ValueError)
