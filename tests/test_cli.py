"""The ``audiolib`` command: ``tag`` and ``embed`` with a tagger checkpoint."""

from __future__ import annotations

import tomllib

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from audiolib import cli, paths, tagging
from audiolib.models import create_model


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, one_torch_thread):
    torch.manual_seed(0)
    kwargs = {"width": 0.05, "bottleneck": 128}
    model = create_model("alexnet_audio", 3, **kwargs)
    return tagging.save_tagger(tmp_path_factory.mktemp("ckpt") / "tagger.pt", model, model_name="alexnet_audio",
                               model_kwargs=kwargs, classes=["a", "b", "c"], class_names=["alpha", "beta", "gamma"])


@pytest.fixture(scope="module")
def wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("audio") / "street.wav"
    rng = np.random.default_rng(0)
    sf.write(path, (0.1 * rng.standard_normal(22050 * 5)).astype(np.float32), 22050)  # 5 s at 22.05 kHz
    return path


def test_entry_point_is_declared():
    project = tomllib.loads((paths.project_root() / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["audiolib"] == "audiolib.cli:main"


def test_tag_writes_scores_and_plot(checkpoint, wav, tmp_path):
    assert cli.main(["tag", str(wav), "--checkpoint", str(checkpoint), "--out", str(tmp_path), "--top-k", "2",
                     "--device", "cpu"]) == 0
    scores = pd.read_csv(tmp_path / "street.scores.csv")
    assert list(scores.columns) == ["start_s", "end_s", "a", "b", "c"]
    assert len(scores) == 5                                          # 5 s -> five 0.96 s patches
    np.testing.assert_allclose(scores["start_s"], np.arange(5) * 0.96)
    assert scores[["a", "b", "c"]].to_numpy().min() >= 0 and scores[["a", "b", "c"]].to_numpy().max() <= 1
    assert (tmp_path / "street.framewise.png").stat().st_size > 1000
    # The scores are the model's, on the file resampled to 16 kHz.
    model, info = tagging.load_tagger(checkpoint)
    from audiolib.audio import load_audio

    waveform, sr = load_audio(wav)
    direct = tagging.framewise_scores(model, waveform, sr, classes=info["classes"], device="cpu")
    np.testing.assert_allclose(scores[["a", "b", "c"]].to_numpy(), direct.scores, rtol=1e-4, atol=1e-6)


def test_tag_hop_and_no_plot(checkpoint, wav, tmp_path):
    assert cli.main(["tag", str(wav), "--checkpoint", str(checkpoint), "--out", str(tmp_path), "--no-plot",
                     "--hop-seconds", "0.48"]) == 0
    scores = pd.read_csv(tmp_path / "street.scores.csv")
    assert len(scores) == 9 and not (tmp_path / "street.framewise.png").exists()


def test_embed_npz_and_csv(checkpoint, wav, tmp_path):
    assert cli.main(["embed", str(wav), "--checkpoint", str(checkpoint), "--out", str(tmp_path)]) == 0
    with np.load(tmp_path / "street.embeddings.npz") as f:
        emb, start = f["embeddings"], f["start_s"]
    assert emb.shape == (5, 128) and start.tolist() == pytest.approx([0, 0.96, 1.92, 2.88, 3.84])
    model, _ = tagging.load_tagger(checkpoint)
    from audiolib.audio import load_audio
    from audiolib.features import vggish_examples

    x = vggish_examples(load_audio(wav)[0], 22050).unsqueeze(1)
    with torch.no_grad():
        np.testing.assert_allclose(emb, model.embedding(x).numpy(), rtol=1e-4, atol=1e-5)
    assert cli.main(["embed", str(wav), "--checkpoint", str(checkpoint), "--out", str(tmp_path),
                     "--format", "csv"]) == 0
    table = pd.read_csv(tmp_path / "street.embeddings.csv")
    assert table.shape == (5, 2 + 128)


def test_embed_plugin_formats(checkpoint, wav, tmp_path):
    embeddings = pytest.importorskip("audiolib.embeddings")
    if "hdf5" not in getattr(embeddings, "WRITERS", {}):
        pytest.skip("audiolib.embeddings offers no hdf5 writer")
    assert "hdf5" in cli._plugin_writers()
    assert cli.main(["embed", str(wav), "--checkpoint", str(checkpoint), "--out", str(tmp_path),
                     "--format", "hdf5"]) == 0
    assert any(p.suffix == ".h5" for p in tmp_path.iterdir())


def test_bad_inputs_give_one_clear_error(checkpoint, wav, tmp_path, capsys):
    assert cli.main(["tag", str(tmp_path / "missing.wav"), "--checkpoint", str(checkpoint)]) == 2
    assert "missing.wav" in capsys.readouterr().err
    assert cli.main(["tag", str(wav), "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert "none.pt" in capsys.readouterr().err
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....not audio")
    assert cli.main(["embed", str(broken), "--checkpoint", str(checkpoint), "--out", str(tmp_path)]) == 2
    assert "broken.wav" in capsys.readouterr().err
    other = tmp_path / "x"
    other.mkdir()
    twin = other / "street.wav"
    twin.write_bytes(wav.read_bytes())
    assert cli.main(["embed", str(wav), str(twin), "--checkpoint", str(checkpoint), "--out", str(tmp_path)]) == 2
    assert "share the name" in capsys.readouterr().err
    assert cli.main(["tag", str(wav), "--checkpoint", str(checkpoint), "--hop-seconds", "0"]) == 2
    assert "--hop-seconds" in capsys.readouterr().err
