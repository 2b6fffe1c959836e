"""X18 experiment helpers: splits, format round trip in the pipeline, architectures, sweeps, back ends, over seeds."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from audiolib import x18
from audiolib.data.audioset import EmbeddingSet
from audiolib.metrics import balanced_metrics

TRAIN_KW = dict(steps=12, batch_size=16, eval_every=4, device="cpu")


def _embeddings(n=90, c=4, folds=None, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.random((n, c)) < 0.35
    y[np.arange(n), rng.integers(0, c, n)] = True
    x = rng.integers(90, 166, (n, 10, 128)).astype(np.uint8)
    x[:, :, :c] = np.where(y[:, None, :], 220, 40)  # learnable: class k lights up dimension k
    folds = folds if folds is not None else np.array(["train"] * (n - 30) + ["validate"] * 15 + ["test"] * 15)
    return EmbeddingSet(x, y, [f"c{i}" for i in range(n)], [f"k{j}" for j in range(c)], folds=folds, name="toy")


@pytest.fixture(scope="module")
def splits():
    return x18.split_by_column(_embeddings(), description="toy embeddings")


def test_split_by_folds_uses_last_two_folds():
    data = _embeddings(n=50, folds=np.repeat([str(f) for f in range(1, 6)], 10))
    s = x18.split_by_folds(data)
    assert (len(s.train), len(s.val), len(s.test)) == (30, 10, 10)
    assert set(s.test.folds) == {"5"} and set(s.val.folds) == {"4"}
    assert "test fold 5" in s.description
    ten = _embeddings(n=100, folds=np.repeat([str(f) for f in range(1, 11)], 10))
    assert set(x18.split_by_folds(ten).test.folds) == {"10"}  # numeric order, not "9" after "10"
    with pytest.raises(ValueError, match="at least 3 folds"):
        x18.split_by_folds(_embeddings(n=20, folds=np.repeat(["1", "2"], 10)))
    with pytest.raises(ValueError, match="no clip in split 'validate'"):
        x18.split_by_column(_embeddings(n=20, folds=np.array(["train"] * 10 + ["test"] * 10)))


def test_limit_clips_keeps_every_fold():
    from audiolib.data.base import ClipSet

    manifest = pd.DataFrame({"clip_id": [str(i) for i in range(100)], "path": None,
                             "labels": [("a",)] * 100, "fold": np.repeat([1, 2, 3, 4], 25)})
    clips = ClipSet("toy", manifest, ["a"], loader=lambda row: None, description="toy")
    small = x18.limit_clips(clips, 20, seed=0)
    assert len(small) == 20 and small.manifest["fold"].value_counts().to_dict() == {1: 5, 2: 5, 3: 5, 4: 5}
    assert "subset: 20 of 100" in small.description
    assert x18.limit_clips(clips, 500) is clips


def test_write_and_reload_checks_both_formats(tmp_path):
    data = _embeddings(n=30)
    back, files = x18.write_and_reload(data, tmp_path)
    for fmt in ("tfrecord", "hdf5"):
        np.testing.assert_array_equal(back[fmt].x, data.x)
        np.testing.assert_array_equal(back[fmt].y, data.y)
        assert back[fmt].clip_ids == data.clip_ids and list(back[fmt].folds) == list(data.folds)
    assert set(files["format"]) == {"tfrecord", "hdf5"} and (files["value"] > 0).all()
    assert {"metric", "value"} <= set(files.columns)


def test_train_description_history_and_learning(splits):
    d = x18.families(0.0625, 0.0, 3e-3)["fully_connected"]
    t = x18.train_description(d, splits, steps=40, batch_size=16, eval_every=10, seed=0, device="cpu")
    assert t.history["step"].tolist() == [10, 20, 30, 40]
    np.testing.assert_allclose(t.history["epoch"], t.history["step"] * 16 / len(splits.train))
    assert {"val_AUC", "val_AP", "loss"} <= set(t.history.columns)
    # test metrics are the library's balanced metrics of the returned scores
    ref = balanced_metrics(splits.test.y, t.test_scores)
    assert t.test_metrics["AUC"] == pytest.approx(ref["AUC"]) and t.test_metrics["AP"] == pytest.approx(ref["mAP"])
    assert t.test_metrics["AUC"] > 0.9


def test_compare_architectures_average_is_mean_of_probabilities(splits):
    descriptions = x18.families(0.0625, 0.1, 1e-3)
    table, curves, trained = x18.compare_architectures(splits, descriptions, seeds=[0, 1], **TRAIN_KW)
    assert list(dict.fromkeys(table["model"])) == ["fully_connected", "residual", "convolutional",
                                                   "average of the above"]
    assert sorted(set(table["seed"])) == [0, 1] and set(table["metric"]) == {"AUC", "AP"}
    for seed in (0, 1):
        mean = np.mean([trained[(name, seed)].test_scores for name in descriptions], axis=0)
        avg = table[(table["model"] == "average of the above") & (table["metric"] == "AP")
                    & (table["seed"] == seed)]["value"].item()
        assert avg == pytest.approx(balanced_metrics(splits.test.y, mean)["mAP"])
    assert set(curves["setting"]) == set(descriptions) and set(curves["factor"]) == {"model"}
    assert sorted(set(curves["seed"])) == [0, 1]


def test_sweeps_vary_one_factor(splits):
    base = x18.families(0.0625, 0.3, 1e-3)["fully_connected"]
    ds = x18.sweep_descriptions(base, "dropout", [0.0, 0.5])
    assert [layer["dropout"] for layer in ds[0.5].structure] == [0.5, 0.5]
    assert x18.sweep_descriptions(base, "l2", [0.01])[0.01].l2 == 0.01
    assert x18.sweep_descriptions(base, "init_scale", [0.1])[0.1].init_scale == 0.1
    with pytest.raises(ValueError, match="unknown sweep factor 'momentum'"):
        x18.sweep_descriptions(base, "momentum", [0.9])
    table, curves = x18.sweep(splits, base, "data_fraction", [0.5, 1.0], seeds=[0, 1], **TRAIN_KW)
    clips = table.groupby("setting")["train_clips"].first().to_dict()
    assert clips == {"0.5": 30, "1.0": 60}
    assert sorted(set(table["seed"])) == [0, 1] and sorted(set(curves["seed"])) == [0, 1]
    assert set(table["metric"]) == {"test_AUC", "test_AP"}
    assert set(curves["metric"]) == {"val_AUC", "val_AP", "val_loss", "loss"}


def test_run_sweeps_and_figures(splits):
    table, curves = x18.run_sweeps(splits, "fully_connected", {"width": [0.03125, 0.0625], "init_scale": [0.01],
                                                              "l2": []}, width=0.0625, dropout=0.0, lr=1e-3,
                                   seeds=[0], **TRAIN_KW)
    assert set(table["factor"]) == {"width", "init_scale"}
    for factor, (name, title) in x18.SWEEP_FIGURES.items():
        assert name.startswith("fig") and "X18" in title
    fig = x18.plot_curves(curves[curves["factor"] == "width"], "width")
    assert len(fig.axes[0].lines) == 2


def test_backends_table_beside_the_reports_table2(splits):
    fc = x18.families(0.0625, 0.0, 1e-3)["fully_connected"]
    table = x18.compare_backends(splits, fc, ["eager"], seeds=[0], **TRAIN_KW)
    assert set(table["metric"]) == {"AUC", "AP", "train_seconds", "wall_seconds", "examples_per_second"}
    assert (table[table["metric"] == "train_seconds"]["value"] > 0).all()
    with pytest.raises(ValueError, match="unknown back end 'jax'"):
        x18.compare_backends(splits, fc, ["jax"], seeds=[0], **TRAIN_KW)
    both = x18.table2_beside(table)
    paper = both[both["source"].str.startswith("the report")]
    assert set(paper["backend"]) == {"Tensorflow", "Pytorch", "Mxnet"}
    assert paper.set_index(["backend", "metric"]).loc[("Pytorch", "train_seconds"), "value"] == 133.0
    assert (both[both["source"].str.startswith("ours")]["backend"] == "eager").all()


def test_cpu_threads_restores():
    import torch

    before = torch.get_num_threads()
    with x18.cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_identical_runs_are_trained_once(splits):
    cache = {}
    d = x18.families(0.0625, 0.0, 1e-3)["fully_connected"]
    first = x18.train_description(d, splits, cache=cache, **TRAIN_KW)
    again = x18.train_description(d, splits, cache=cache, name="again", **TRAIN_KW)
    assert again.reused and not first.reused and again.name == "again"
    assert again.test_metrics == first.test_metrics and len(cache) == 1
    other = x18.train_description(d.replace(l2=0.01), splits, cache=cache, **TRAIN_KW)
    assert not other.reused and len(cache) == 2
    # deterministic on CPU: retraining without the cache gives the same scores
    fresh = x18.train_description(d, splits, **TRAIN_KW)
    np.testing.assert_allclose(fresh.test_scores, first.test_scores, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name, expected", [("fc_audio", {"bottleneck": 128, "width": 0.0625}),
                                            ("vggish", {"width": 0.0625})])
def test_embedding_model_gives_128_d(name, expected):
    import torch

    from audiolib.data.patches import PatchSet

    y = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]]).repeat(2, 1)
    patches = PatchSet(torch.randn(8, 96, 64), y, torch.arange(8), y, [str(i) for i in range(8)], ["a", "b", "c"])
    model, kwargs, _ = x18.train_embedding_model(patches, name, width=0.0625, steps=2, batch_size=4, device="cpu")
    assert kwargs == expected
    assert model.embedding(torch.randn(3, 1, 96, 64)).shape == (3, 128)
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        x18.train_embedding_model(patches, "nope", steps=1)


def test_embed_default_corpus_end_to_end(tmp_path):
    from audiolib.embeddings import load_embedding_model, main

    splits, model, pca, info, files = x18.embed_default_corpus(12, model_name="fc_audio", width=0.0625, steps=2,
                                                               batch_size=8, device="cpu", out_dir=tmp_path / "syn")
    assert len(splits.train) + len(splits.val) + len(splits.test) == 12
    assert splits.train.x.shape[1:] == (10, 128) and len(splits.train.classes) == 29
    assert set(files["format"]) == {"tfrecord", "hdf5"}
    _, saved_pca, extra = load_embedding_model(tmp_path / "syn" / "embedding_model.pt")
    np.testing.assert_array_equal(saved_pca.eigen_vectors, pca.eigen_vectors)
    assert extra["model_name"] == "fc_audio"
    assert main(["--dataset", "synthetic", "--dataset-arg", "n_clips=3", "--checkpoint",
                 str(tmp_path / "syn" / "embedding_model.pt"), "--format", "tfrecord", "--out", str(tmp_path / "cli"),
                 "--device", "cpu"]) == 0
    from audiolib.data.audioset import load_embeddings

    assert len(load_embeddings(tmp_path / "cli")) == 3


def test_fixed_network_embeddings_are_computed_once(tmp_path, monkeypatch):
    import torch
    from torch import nn

    from audiolib.data.patches import PatchSet
    from audiolib.x18.data import _raw_embeddings

    class Counting(nn.Module):
        calls = 0

        def embedding(self, x):
            Counting.calls += 1
            return x.flatten(1)[:, :4]

        def forward(self, x):
            return self.embedding(x)

    monkeypatch.setenv("AUDIOLIB_DATA", str(tmp_path))
    y = torch.eye(3).repeat(2, 1)
    patches = PatchSet(torch.randn(6, 96, 64), y, torch.arange(6), y, [str(i) for i in range(6)], ["a", "b", "c"])
    first = _raw_embeddings(Counting(), patches, key="toy", device="cpu")
    calls = Counting.calls
    again = _raw_embeddings(Counting(), patches, key="toy", device="cpu")
    assert Counting.calls == calls and (tmp_path / "embeddings" / "toy.npy").exists()
    np.testing.assert_array_equal(first, again)
    assert first.shape == (6, 4)


def test_prepare_datasets_names_the_embedder():
    from audiolib.x18.prepare import prepare_datasets

    with pytest.raises(ValueError, match="EMBEDDER 'vggish' unknown"):
        prepare_datasets(["synthetic"], embedder="vggish", n_clips=4, embed_model="fc_audio", embed_width=0.0625,
                         embed_steps=1, embed_batch=4, max_clips=4)
    datasets, primary, info, _ = prepare_datasets(["synthetic"], embedder="trained", n_clips=12, embed_model="fc_audio",
                                                  embed_width=0.0625, embed_steps=2, embed_batch=8, max_clips=4,
                                                  device="cpu")
    assert primary == "synthetic" and info["embedder"] == "trained"
    assert "fc_audio" in datasets["synthetic"].embedder and "synthetic" in datasets["synthetic"].embedder
