"""Frame-wise tagging: patch times and scores of a recording, the Fig. 2 figure, tagger checkpoints."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from audiolib import tagging  # noqa: E402
from audiolib.models import create_model  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_framewise_scores_times_and_top_classes():
    torch.manual_seed(0)
    model = create_model("fc_audio", 5, width=0.05)
    waveform = torch.randn(16000 * 5) * 0.1
    fw = tagging.framewise_scores(model, waveform, 16000, classes=list("abcde"), device="cpu")
    assert fw.spectrogram.shape == (498, 64)                # 5 s at a 10 ms hop, 64 mel bands
    assert fw.scores.shape == (5, 5)                        # five non-overlapping 0.96 s patches
    np.testing.assert_allclose(fw.start, [0.0, 0.96, 1.92, 2.88, 3.84])
    np.testing.assert_allclose(fw.end - fw.start, 0.96)
    assert fw.top_classes(2) == np.argsort(-fw.scores.max(0), kind="stable")[:2].tolist()
    assert list(fw.to_frame().columns) == ["start_s", "end_s", *"abcde"]
    half = tagging.framewise_scores(model, waveform, 16000, classes=list("abcde"), hop_frames=48, device="cpu")
    assert len(half.start) == 9                             # 1 + (498 - 96) // 48
    with pytest.raises(ValueError, match="shorter than one"):
        tagging.framewise_scores(model, torch.zeros(4000), 16000, classes=list("abcde"))
    with pytest.raises(ValueError, match="5 outputs"):
        tagging.framewise_scores(model, waveform, 16000, classes=list("abc"))


def test_tagger_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    kwargs = {"width": 0.05, "bottleneck": 128}
    trained = create_model("alexnet_audio", 3, **kwargs).eval()
    path = tagging.save_tagger(tmp_path / "tagger.pt", trained, model_name="alexnet_audio", model_kwargs=kwargs,
                               classes=["k0", "k1", "k2"], class_names=["x", "y", "z"], step=2)
    model, info = tagging.load_tagger(path)
    assert info["model_name"] == "alexnet_audio" and info["classes"] == ["k0", "k1", "k2"]
    assert info["class_names"] == ["x", "y", "z"] and info["model_kwargs"] == kwargs and info["num_classes"] == 3
    x = torch.randn(2, 1, 96, 64)
    torch.testing.assert_close(model(x), trained(x))
    # A checkpoint that does not say which model it holds is refused, naming the file.
    from audiolib.checkpoints import save_checkpoint

    bare = save_checkpoint(tmp_path / "bare.pt", trained)
    with pytest.raises(ValueError, match="bare.pt.*which model"):
        tagging.load_tagger(bare)


def test_plot_framewise_draws_the_top_k_classes():
    rng = np.random.default_rng(0)
    scores = rng.random((10, 20)) * 0.5
    scores[:, 7] += 0.5
    start = np.arange(10) * 0.96
    frames = tagging.Framewise(start, start + 0.96, scores, [f"c{k}" for k in range(20)],
                               [f"class{k}" for k in range(20)], rng.random((1000, 64)), 0.01)
    events = pd.DataFrame({"onset": [1.0, 4.0], "offset": [2.0, 6.0], "name": ["x", "y"]})
    fig = tagging.plot_framewise(frames, top_k=16, events=events)
    lines = fig.get_axes()[1].get_lines()
    assert len(lines) == 16 and lines[0].get_label() == "class7"
    assert len(fig.get_axes()) == 3                        # spectrogram, outputs, event timeline
    assert len(fig.get_axes()[0].get_lines()) == 16        # the outputs overlaid on the spectrogram too
    assert [t.get_text() for t in fig.get_axes()[2].get_yticklabels()] == ["x", "y"]
    plt.close(fig)
