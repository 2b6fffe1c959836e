"""The command line with the released YAMNet, streaming tag in bounded memory, and clear errors."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from audiolib import cli
from audiolib.embeddings import save_embedding_model
from audiolib.tagging import framewise_scores, stream_framewise
from audiolib.models import create_model


def _tone(path, seconds: float, sr: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * 440 * t) * (t % 3 < 1.5) + 0.05 * rng.standard_normal(len(t))
    sf.write(path, x.astype(np.float32), sr, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A small tagger checkpoint (untrained fully-connected net): cheap to run over long files."""
    torch.manual_seed(0)
    kwargs = {"layers": 1, "units": 16}
    model = create_model("fc_audio", 3, **kwargs)
    return save_embedding_model(tmp_path_factory.mktemp("ckpt") / "tiny.pt", model, model_name="fc_audio",
                                model_kwargs=kwargs, num_classes=3)


@pytest.mark.parametrize("sr, tol", [(16000, 1e-6), (22050, 1e-2)])
def test_streaming_equals_whole_recording(tmp_path, sr, tol, one_torch_thread):
    from audiolib.audio import load_audio

    path = _tone(tmp_path / "x.wav", 31.3, sr)
    model = create_model("fc_audio", 3, layers=1, units=16).eval()
    whole = framewise_scores(model, load_audio(path)[0], sr, classes=list("abc"), hop_frames=48, device="cpu")
    streamed = stream_framewise(model, path, classes=list("abc"), hop_frames=48, device="cpu", chunk_seconds=4.0,
                                max_plot_frames=500)
    assert streamed.scores.shape == whole.scores.shape
    np.testing.assert_allclose(streamed.start, whole.start)
    assert np.abs(streamed.scores - whole.scores).max() <= tol
    pool = -(-whole.spectrogram.shape[0] // 500)
    assert streamed.spectrogram.shape == (-(-whole.spectrogram.shape[0] // pool), 64)
    assert streamed.frame_seconds == pytest.approx(0.01 * pool)
    n = (whole.spectrogram.shape[0] // pool) * pool
    expected = whole.spectrogram[:n].reshape(-1, pool, 64).mean(1)
    np.testing.assert_allclose(streamed.spectrogram[: len(expected)], expected, atol=0.5 if sr != 16000 else 1e-5)


def test_tag_directory_and_hostile_checkpoint_are_named(tmp_path, tiny, capsys):
    assert cli.main(["tag", str(tmp_path), "--checkpoint", str(tiny)]) == 2
    assert f"{tmp_path} is a directory" in capsys.readouterr().err
    wav = _tone(tmp_path / "a.wav", 1.0, 16000)
    assert cli.main(["tag", str(wav)]) == 2  # neither --checkpoint nor --model
    assert "--model yamnet" in capsys.readouterr().err

    import pickle

    class Hostile:
        def __reduce__(self):
            return (os.system, ("echo should-never-run",))

    bad = tmp_path / "hostile.pt"
    bad.write_bytes(pickle.dumps({"extra": Hostile()}))
    (tmp_path / "foreign.pt").write_bytes(b"PK\x03\x04 not a checkpoint")
    from audiolib import embeddings

    for ckpt in (bad, tmp_path / "foreign.pt"):
        assert embeddings.main(["--dataset", "synthetic", "--checkpoint", str(ckpt), "--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert f"checkpoint {ckpt} is unreadable" in err and "Traceback" not in err


def _peak_rss_mib(args: list[str]) -> float:
    """Peak resident memory (MiB) of ``python -m audiolib.cli ARGS`` in its own process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.Popen([sys.executable, "-m", "audiolib.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    assert os.waitstatus_to_exitcode(status) == 0, err
    return usage.ru_maxrss / 1024  # KiB on Linux


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB is Linux's")
def test_tag_memory_does_not_grow_with_duration(tmp_path, tiny):
    """Peak memory (measured, not timed) of ``tag`` on 1 and 10 minutes of 16 kHz audio.

    Streaming keeps one 60 s chunk, the scores and a pooled spectrogram, so ten times the audio
    may add only the scores and the CSV (a few MiB); reading it whole would add about 200 MiB
    (38 MiB of samples, and their float copies and spectrogram). The absolute peak is not
    asserted: it is mostly the libraries (``import torch`` with its CUDA libraries is 0.8 to 1.7
    GiB depending on the machine and the page cache), not the recording.
    """
    short = _tone(tmp_path / "short.wav", 60, 16000)
    long = _tone(tmp_path / "long.wav", 600, 16000)
    args = ["--checkpoint", str(tiny), "--out", str(tmp_path / "out"), "--device", "cpu"]
    base = _peak_rss_mib(["tag", str(short), *args])
    peak = _peak_rss_mib(["tag", str(long), *args])
    assert peak - base < 48, f"1 min: {base:.0f} MiB, 10 min: {peak:.0f} MiB"
    scores = pd.read_csv(tmp_path / "out" / "long.scores.csv")
    print(f"tag peak RSS: 1 min {base:.0f} MiB, 10 min {peak:.0f} MiB")
    assert len(scores) == 624 and (tmp_path / "out" / "long.framewise.png").is_file()


# --- with the released YAMNet -------------------------------------------------------------------
@pytest.fixture(scope="module")
def yamnet_present():
    from audiolib.models.yamnet import yamnet_files

    try:
        return yamnet_files()
    except FileNotFoundError as exc:
        pytest.skip(f"YAMNet release absent ({exc})")


def test_tag_with_yamnet(yamnet_present, tmp_path, capsys, one_torch_thread):
    path = _tone(tmp_path / "tone.wav", 3.0, 16000)
    assert cli.main(["tag", str(path), "--model", "yamnet", "--out", str(tmp_path), "--top-k", "4",
                     "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    scores = pd.read_csv(tmp_path / "tone.scores.csv")
    assert scores.shape == (5, 2 + 521)  # 3 s: patches every 0.48 s
    np.testing.assert_allclose(scores["start_s"], np.arange(5) * 0.48)
    top = pd.read_csv(tmp_path / "tone.top_classes.csv")
    assert len(top) == 4 and top["mean_score"].is_monotonic_decreasing
    assert top["name"].iloc[0] in printed and (tmp_path / "tone.framewise.png").stat().st_size > 1000


def test_embed_with_yamnet_all_formats(yamnet_present, tmp_path, one_torch_thread):
    a = _tone(tmp_path / "a.wav", 4.0, 16000, seed=1)
    b = _tone(tmp_path / "b.wav", 5.0, 22050, seed=2)
    assert cli.main(["embed", str(a), str(b), "--model", "yamnet", "--out", str(tmp_path / "npz"), "--device", "cpu"]) == 0
    with np.load(tmp_path / "npz" / "a.embeddings.npz") as f:
        assert f["embeddings"].shape == (7, 1024) and f["start_s"][1] == pytest.approx(0.48)
    assert cli.main(["embed", str(a), "--model", "yamnet", "--out", str(tmp_path / "csv"), "--format", "csv"]) == 0
    assert pd.read_csv(tmp_path / "csv" / "a.embeddings.csv").shape == (7, 2 + 1024)
    from audiolib.data.audioset import load_embeddings

    for fmt in ("hdf5", "tfrecord"):
        out = tmp_path / fmt
        assert cli.main(["embed", str(a), str(b), "--model", "yamnet", "--out", str(out), "--format", fmt]) == 0
        data = load_embeddings(out)
        assert data.x.shape == (2, 10, 128) and data.x.dtype == np.uint8
        assert sorted(data.n_frames.tolist()) == [4, 5]  # one per 0.96 s, as the release
        assert (out / "pca_params.npz").is_file()
