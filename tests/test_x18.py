"""X18 experiment helpers: splits, format round trip in the pipeline, trials, architectures, sweeps, back ends, over seeds."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from audiolib import x18
from audiolib.data.audioset import EmbeddingSet
from audiolib.trials import Trial

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
    return x18.split_embeddings(_embeddings(), by="split", description="toy embeddings", embedder="toy net")


def test_split_embeddings_by_split_column_and_by_last_two_folds(splits):
    assert (len(splits.train), len(splits.val), len(splits.test)) == (60, 15, 15)
    assert (splits.train.name, splits.val.name, splits.embedder) == ("toy/train", "toy/validate", "toy net")
    data = _embeddings(n=50, folds=np.repeat([str(f) for f in range(1, 6)], 10))
    s = x18.split_embeddings(data, by="fold")
    assert (len(s.train), len(s.val), len(s.test)) == (30, 10, 10)
    assert set(s.test.folds) == {"5"} and set(s.val.folds) == {"4"} and s.test.name == "toy/fold5"
    assert s.description.endswith("train folds ['1', '2', '3'], validation fold 4, test fold 5")
    ten = _embeddings(n=100, folds=np.repeat([str(f) for f in range(1, 11)], 10))
    assert set(x18.split_embeddings(ten, by="fold").test.folds) == {"10"}  # numeric order, not "9" after "10"
    with pytest.raises(ValueError, match="at least 3 folds"):
        x18.split_embeddings(_embeddings(n=20, folds=np.repeat(["1", "2"], 10)), by="fold")
    with pytest.raises(ValueError, match="no clip in split 'validate'"):
        x18.split_embeddings(_embeddings(n=20, folds=np.array(["train"] * 10 + ["test"] * 10)), by="split")


def test_write_and_reload_checks_both_formats(tmp_path):
    data = _embeddings(n=30)
    back, files = x18.write_and_reload(data, tmp_path)
    for fmt in ("tfrecord", "hdf5"):
        np.testing.assert_array_equal(back[fmt].x, data.x)
        np.testing.assert_array_equal(back[fmt].y, data.y)
        assert back[fmt].clip_ids == data.clip_ids and list(back[fmt].folds) == list(data.folds)
    assert set(files["format"]) == {"tfrecord", "hdf5"} and (files["value"] > 0).all()
    assert {"metric", "value"} <= set(files.columns)


def test_score_is_macro_auc_and_ap_by_hand():
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    p = np.array([[0.9, 0.2], [0.3, 0.8], [0.4, 0.1], [0.2, 0.6]])
    # class 0: positives 0.9, 0.4 above both negatives 0.3, 0.2 -> AUC 1, AP 1.
    # class 1: positive 0.8 above both negatives; 0.1 below both -> AUC 2/4; AP (1 + 2/4) / 2 = 0.75.
    m = x18.score(y, p)
    assert m["AUC"] == pytest.approx((1 + 0.5) / 2) and m["AP"] == pytest.approx((1 + 0.75) / 2)


def test_train_is_a_trial_with_history_and_test_scores(splits):
    d = x18.families(0.0625, 0.0, 3e-3)["fully_connected"]
    t = x18.train(d, splits, steps=40, batch_size=16, eval_every=10, seed=0, device="cpu", ids={"model": "fc"})
    assert isinstance(t, Trial) and t.ids == {"model": "fc", "seed": 0} and t.extra["description"] == d
    assert t.history["step"].tolist() == [10, 20, 30, 40]
    assert t.history["epoch"].tolist() == [10 * 16 / 60, 20 * 16 / 60, 30 * 16 / 60, 40 * 16 / 60]
    assert {"val_AUC", "val_AP", "val_loss", "loss"} <= set(t.history.columns)
    assert t.scores.shape == (15, 4) and t.metrics["AUC"] == pytest.approx(x18.score(splits.test.y, t.scores)["AUC"])
    assert t.metrics["AUC"] > 0.9 and t.metrics["train_seconds"] > 0 and t.metrics["steps"] == 40
    # deterministic on CPU: the same seed gives the same scores
    again = x18.train(d, splits, steps=40, batch_size=16, eval_every=10, seed=0, device="cpu")
    np.testing.assert_array_equal(again.scores, t.scores)


def test_architecture_study_average_is_mean_of_probabilities(splits):
    descriptions = x18.families(0.0625, 0.1, 1e-3)
    table, curves, trials = x18.architecture_study({"toy": splits}, descriptions, seeds=[0, 1], **TRAIN_KW)
    assert list(dict.fromkeys(table["model"])) == ["fully_connected", "residual", "convolutional",
                                                   "average of the above"]
    assert sorted(set(table["seed"])) == [0, 1] and set(table["metric"]) == {"AUC", "AP", "train_seconds"}
    assert "train_seconds" not in table.columns  # a time is a metric row
    for seed in (0, 1):
        runs = [t for t in trials if t.seed == seed]
        assert [t.ids["model"] for t in runs] == list(descriptions)
        mean = np.mean([t.scores for t in runs], axis=0)
        rows = table[(table["model"] == "average of the above") & (table["seed"] == seed)].set_index("metric")["value"]
        assert rows["AP"] == pytest.approx(x18.score(splits.test.y, mean)["AP"])
        assert rows["train_seconds"] == pytest.approx(sum(t.metrics["train_seconds"] for t in runs))
    assert set(curves["setting"]) == set(descriptions) and set(curves["factor"]) == {"model"}
    assert sorted(set(curves["seed"])) == [0, 1] and set(curves["embedder"]) == {"toy net"}


def test_sweeps_vary_one_factor(splits):
    base = x18.families(0.0625, 0.3, 1e-3)["fully_connected"]
    ds = x18.sweep_variants(splits, base, "dropout", [0.0, 0.5])
    assert [layer["dropout"] for layer in ds[0.5][0].structure] == [0.5, 0.5] and ds[0.5][1] is splits
    assert x18.sweep_variants(splits, base, "l2", [0.01])[0.01][0].l2 == 0.01
    assert x18.sweep_variants(splits, base, "init_scale", [0.1])[0.1][0].init_scale == 0.1
    with pytest.raises(ValueError, match="unknown sweep factor 'momentum'"):
        x18.sweep_variants(splits, base, "momentum", [0.9])
    shares = x18.sweep_variants(splits, base, "data_fraction", [0.5, 1.0], seed=3)
    assert set(shares[0.5][1].train.clip_ids) < set(shares[1.0][1].train.clip_ids)  # nested
    assert shares[1.0][1].train.clip_ids == splits.train.clip_ids and shares[0.5][0] is base
    table, curves = x18.run_sweeps(splits, "fully_connected", {"data_fraction": [0.5, 1.0]}, width=0.0625,
                                   dropout=0.3, lr=1e-3, seeds=[0, 1], **TRAIN_KW)
    clips = table.groupby("setting")["train_clips"].first().to_dict()
    assert clips == {"0.5": 30, "1.0": 60}
    assert sorted(set(table["seed"])) == [0, 1] and sorted(set(curves["seed"])) == [0, 1]
    assert set(table["metric"]) == {"test_AUC", "test_AP"}
    assert set(curves["metric"]) == {"val_AUC", "val_AP", "val_loss", "loss"}


def test_run_sweeps_and_figures(splits):
    table, curves = x18.run_sweeps(splits, "fully_connected", {"width": [0.03125, 0.0625], "init_scale": [0.01],
                                                              "l2": []}, width=0.0625, dropout=0.0, lr=1e-3,
                                   seeds=[0], **TRAIN_KW)
    assert set(table["factor"]) == {"width", "init_scale"} and (table["note"] == "").all()
    for factor, (name, title) in x18.SWEEP_FIGURES.items():
        assert name.startswith("fig") and "X18" in title
    fig = x18.plot_curves(curves[curves["factor"] == "width"], "width")
    assert len(fig.axes[0].lines) == 2


def test_backends_table_beside_the_reports_table2(splits):
    fc = x18.families(0.0625, 0.0, 1e-3)["fully_connected"]
    table = x18.compare_backends(splits, fc, ["eager"], seeds=[0], **TRAIN_KW)
    assert set(table["metric"]) == {"AUC", "AP", "train_seconds", "examples_per_second", "eval_seconds",
                                    "wall_seconds"}
    assert (table[table["metric"] == "train_seconds"]["value"] > 0).all()
    with pytest.raises(ValueError, match="unknown back end 'jax'"):
        x18.compare_backends(splits, fc, ["jax"], seeds=[0], **TRAIN_KW)
    both = x18.table2_beside(table).set_index(["backend", "metric"])
    assert list(both.index) == [("eager", "AUC"), ("eager", "AP"), ("eager", "train_seconds")]
    assert both.loc[("eager", "AUC"), "paper"] == "0.941" and both.loc[("eager", "train_seconds"), "paper"] == "2m13s"
    assert set(both["framework"]) == {"Pytorch"} and set(both["paper_where"]) == {"Table 2"}


def test_sweeps_train_the_base_arm_once_per_seed_and_reuse_given_trials(splits, monkeypatch):
    from audiolib.x18 import studies

    values = {"dropout": [0.0, 0.5], "l2": [0.0, 0.01], "data_fraction": [0.5, 1.0], "width": [0.0625]}
    trained = []
    real = studies.train
    monkeypatch.setattr(studies, "train", lambda d, s, **kw: trained.append((d, len(s.train))) or real(d, s, **kw))
    table, _ = x18.run_sweeps(splits, "fully_connected", values, width=0.0625, dropout=0.0, lr=1e-3, seeds=[0],
                              **TRAIN_KW)
    # 7 settings, 4 of them the base arm (dropout 0, L2 0, all clips, width 0.0625): 4 trainings
    assert len(trained) == 4 and len(set(table["setting"] + table["factor"])) == 7
    base = table[table["setting"].isin(["0.0", "1.0", "0.0625"])].pivot_table(index="factor", columns="metric",
                                                                               values="value")
    assert base.nunique().max() == 1  # the same trial: the same numbers
    # the architecture study's trial of the base is the base arm: 3 trainings
    fc = x18.families(0.0625, 0.0, 1e-3)["fully_connected"]
    arm = real(fc, splits, seed=0, ids={"dataset": "toy", "embedder": "toy net", "model": "fully_connected"},
               **TRAIN_KW)
    trained.clear()
    again, _ = x18.run_sweeps(splits, "fully_connected", values, width=0.0625, dropout=0.0, lr=1e-3, seeds=[0],
                              reuse=[arm], **TRAIN_KW)
    assert len(trained) == 3
    pd.testing.assert_frame_equal(again, table)


@pytest.mark.parametrize("name, expected", [("fc_audio", {"bottleneck": 128, "width": 0.0625}),
                                            ("vggish", {"width": 0.0625})])
def test_embedding_model_gives_128_d(name, expected):
    import torch

    from audiolib.data.patches import PatchSet

    y = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]]).repeat(2, 1)
    patches = PatchSet(torch.randn(8, 96, 64), y, torch.arange(8), y, [str(i) for i in range(8)], ["a", "b", "c"])
    trial = x18.train_embedding_model(patches, name, width=0.0625, steps=2, batch_size=4, device="cpu")
    assert trial.extra["model_kwargs"] == expected and trial.metrics["steps"] == 2
    assert trial.model.embedding(torch.randn(3, 1, 96, 64)).shape == (3, 128)
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        x18.train_embedding_model(patches, "nope", steps=1, batch_size=4)


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


def test_prepare_datasets_names_the_embedder():
    from audiolib.x18 import prepare_datasets

    with pytest.raises(ValueError, match="EMBEDDER 'vggish' unknown"):
        prepare_datasets(["synthetic"], embedder="vggish", n_clips=4, embed_model="fc_audio", embed_width=0.0625,
                         embed_steps=1, embed_batch=4, max_clips=4)
    datasets, primary, info, _ = prepare_datasets(["synthetic"], embedder="trained", n_clips=12, embed_model="fc_audio",
                                                  embed_width=0.0625, embed_steps=2, embed_batch=8, max_clips=4,
                                                  device="cpu")
    assert primary == "synthetic" and info["embedder"] == "trained"
    assert "fc_audio" in datasets["synthetic"].embedder and "synthetic" in datasets["synthetic"].embedder


def test_prepare_datasets_takes_the_same_share_of_every_fold():
    datasets, primary, info, _ = x18.prepare_datasets(
        ["esc10", "synthetic"], embedder="trained", n_clips=12, embed_model="fc_audio", embed_width=0.0625,
        embed_steps=2, embed_batch=8, max_clips=20, device="cpu")
    if "esc10" in info["skipped"]:
        pytest.skip(info["skipped"]["esc10"])
    assert primary == "esc10" and info["clips"]["esc10"].manifest["fold"].value_counts().tolist() == [4] * 5
    assert "subset: 20 of 400 clips" in info["clips"]["esc10"].description
    assert (len(datasets["esc10"].train), len(datasets["esc10"].val), len(datasets["esc10"].test)) == (12, 4, 4)


def test_a_diverged_setting_is_a_row_not_a_crash(splits, monkeypatch):
    from audiolib.x18 import studies

    real = studies.train

    def diverging(d, s, **kw):
        if d.init_scale == 10.0:
            raise FloatingPointError("training loss became nan at step 3; lower the learning rate")
        return real(d, s, **kw)

    monkeypatch.setattr(studies, "train", diverging)
    table, curves = x18.run_sweeps(splits, "fully_connected", {"init_scale": [0.01, 10.0]}, width=0.0625,
                                   dropout=0.0, lr=1e-3, seeds=[0], **TRAIN_KW)
    bad = table[table["setting"] == "10.0"]
    assert bad[["metric", "value", "seed", "train_clips"]].values.tolist() == [["diverged", 1.0, 0, 60]]
    assert "nan at step 3" in bad["note"].item() and set(curves["setting"]) == {"0.01"}
