"""H17 experiment helpers: evaluation sets, subsets, trials and their tables, transfer, the Fig. 2 recording."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy.stats import norm
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import nn

from audiolib import h17, paths, reference
from audiolib.h17.training import METRICS, evaluate_clips, train_and_evaluate
from audiolib.data import splits
from audiolib.trials import TIME_METRICS
from audiolib.data.patches import PatchSet


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _zipf_labels(n: int, c: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, c + 1)
    return (rng.random((n, c)) < 0.6 * p / p.max()).astype(np.float32)


def _separable_patches(n_clips: int, classes: int, seed: int, patches_per_clip: int = 3) -> PatchSet:
    """Clips whose label k adds a bump in mel band block k: learnable by any model."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n_clips, classes)) < 0.35).astype(np.float32)
    x = rng.normal(0, 1, (n_clips, patches_per_clip, 96, 64)).astype(np.float32)
    band = 64 // classes
    for k in range(classes):
        x[:, :, :, k * band:(k + 1) * band] += 2.5 * y[:, k, None, None, None]
    clip_index = torch.arange(n_clips).repeat_interleave(patches_per_clip)
    yt = torch.from_numpy(y)
    return PatchSet(torch.from_numpy(x.reshape(-1, 96, 64)), yt[clip_index], clip_index, yt,
                    [f"c{i}" for i in range(n_clips)], [f"k{k}" for k in range(classes)])


# --- balanced evaluation sets --------------------------------------------------------------------
def test_balanced_eval_rows_meets_the_target_where_the_data_allows():
    y = _zipf_labels(600, 12, seed=1)
    per_class = 15
    rows = splits.balanced_rows(y, per_class, seed=3)
    assert np.all(np.diff(rows) > 0)                       # sorted, no row twice
    got = y[rows].sum(axis=0)
    wanted = np.minimum(per_class, y.sum(axis=0))
    assert np.all(got >= wanted)
    # Balanced: the rarest classes are not swamped; far fewer clips than the whole set.
    assert len(rows) < 0.5 * len(y)
    # The rare classes have all they can have, the chosen set is the same for the same seed.
    assert np.array_equal(rows, splits.balanced_rows(y, per_class, seed=3))
    assert not np.array_equal(rows, splits.balanced_rows(y, per_class, seed=4))


def test_balanced_eval_rows_takes_every_clip_of_a_rare_class():
    y = np.zeros((50, 3))
    y[:40, 0] = 1
    y[40:43, 1] = 1  # only three clips of class 1
    y[43:, 2] = 1
    rows = splits.balanced_rows(y, 5, seed=0)
    assert set(range(40, 43)) <= set(rows.tolist())
    assert y[rows].sum(axis=0).tolist() == [5, 3, 5]


# --- subsets ---------------------------------------------------------------------------------------
def test_label_subset_sizes_follow_the_paper():
    # The paper: 30,871 labels, 3,087 (10 %) and 400 (1.3 %).
    assert h17.data.label_subset_sizes(30871, [1.0, 0.1, 0.013]) == [30871, 3087, 401]
    assert h17.data.label_subset_sizes(64, [1.0, 0.1, 0.013]) == [64, 6, 1]


def test_label_subsets_are_the_most_frequent_classes_nested():
    y = torch.tensor([[1, 1, 0, 1], [0, 1, 0, 1], [0, 1, 1, 0]], dtype=torch.float32)
    data = SimpleNamespace(train=SimpleNamespace(clip_targets=y), classes=list("abcd"), class_names=list("ABCD"))
    subsets = h17.label_subsets(data, [1.0, 0.5])
    # counts 1, 3, 1, 2; ties: lower index first
    assert subsets[subsets["n_labels"] == 4]["class"].tolist() == ["b", "d", "a", "c"]
    assert subsets[subsets["n_labels"] == 2]["class"].tolist() == ["b", "d"]
    assert subsets[subsets["n_labels"] == 2]["train_clips"].tolist() == [3, 2]


def test_training_sizes_and_nested_subsets():
    assert h17.data.training_sizes(700, 3, 10.0) == [7, 70, 700]
    sizes = h17.data.training_sizes(1000, 4, 4.0)
    assert sizes == [15, 62, 250, 1000]
    subsets = splits.nested_subsets(1000, sizes, seed=0)
    assert [len(s) for s in subsets] == sizes
    for small, large in zip(subsets, subsets[1:]):
        assert set(small) <= set(large)
    with pytest.raises(ValueError, match="fewer than one clip"):
        h17.data.training_sizes(10, 5, 10.0)


def test_repatch_cuts_20_frame_patches_and_keeps_owners():
    ps = _separable_patches(4, 2, seed=0, patches_per_clip=2)
    short = h17.data.repatch(ps, 20)
    assert short.patches.shape == (8 * 4, 20, 64)
    torch.testing.assert_close(short.patches[1], ps.patches[0, 20:40])
    torch.testing.assert_close(short.patches[4], ps.patches[1, 0:20])
    assert short.clip_index.tolist() == ps.clip_index.repeat_interleave(4).tolist()
    assert torch.equal(short.targets[5], ps.targets[1])


def test_coarse_targets_follow_the_taxonomy():
    from audiolib.data import load_dataset

    clips = load_dataset("synthetic", n_clips=30, seed=0)
    coarse, codes = h17.data.coarse_targets(clips)
    assert codes == list(clips.taxonomy.coarse)
    for row, labels in enumerate(clips.manifest["labels"]):
        expected = {clips.taxonomy.parent[c] for c in labels}
        assert {codes[k] for k in np.flatnonzero(coarse[row])} == expected


# --- evaluation ----------------------------------------------------------------------------------
class _MeanLogit(nn.Module):
    """Logit of class k = mean of mel band block k of the patch (a fixed, known scorer)."""

    def __init__(self, classes: int):
        super().__init__()
        self.classes = classes
        self.num_classes = classes
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x):
        blocks = x.reshape(x.shape[0], -1, 64).mean(1).reshape(x.shape[0], self.classes, -1).mean(-1)
        return blocks * self.w


def test_evaluate_clips_averages_patch_scores_per_clip_against_sklearn():
    ps = _separable_patches(40, 4, seed=2)
    model = _MeanLogit(4)
    metrics, scores = evaluate_clips(model, ps.classes, ps, ["k1", "k3"], device="cpu")
    # Independent computation: sigmoid per patch, mean per clip, scikit-learn per class.
    with torch.no_grad():
        frame = torch.sigmoid(model(ps.patches.unsqueeze(1))).numpy()
    clip = np.stack([frame[ps.clip_index.numpy() == i].mean(0) for i in range(ps.n_clips)])[:, [1, 3]]
    np.testing.assert_allclose(scores, clip, rtol=1e-5)
    y = ps.clip_targets.numpy()[:, [1, 3]]
    aucs = [roc_auc_score(y[:, j], clip[:, j]) for j in range(2)]
    aps = [average_precision_score(y[:, j], clip[:, j]) for j in range(2)]
    assert metrics["AUC"] == pytest.approx(np.mean(aucs), abs=1e-9)
    assert metrics["mAP"] == pytest.approx(np.mean(aps), abs=1e-9)
    assert metrics["dprime"] == pytest.approx(math.sqrt(2) * norm.ppf(np.mean(aucs)), abs=1e-9)
    with pytest.raises(ValueError, match=r"eval_classes: \['nope'\] are not outputs of the model"):
        evaluate_clips(model, ps.classes, ps, ["nope"])


def test_train_and_evaluate_learns_a_separable_task():
    train = _separable_patches(60, 4, seed=0)
    test = _separable_patches(30, 4, seed=1)
    before = train_and_evaluate("fc_audio", train, test, steps=1, batch_size=16, lr=1e-3, device="cpu",
                                model_kwargs={"layers": 1, "units": 32})
    after = train_and_evaluate("fc_audio", train, test, steps=120, batch_size=16, lr=1e-3, device="cpu",
                               model_kwargs={"layers": 1, "units": 32})
    assert after.metrics["AUC"] > 0.95 and after.metrics["AUC"] > before.metrics["AUC"]
    assert after.fit.steps == 120 and after.extra["model_kwargs"] == {"layers": 1, "units": 32}
    assert after.ids == {"model": "fc_audio", "seed": 0} and after.extra["classes"] == ["k0", "k1", "k2", "k3"]
    assert after.scores.shape == (30, 4)
    rows = after.table()
    assert rows["metric"].tolist() == [*METRICS, *TIME_METRICS]
    assert rows.loc[rows["metric"] == "steps", "value"].tolist() == [120.0]
    assert rows.loc[rows["metric"] == "n_classes_evaluated", "value"].tolist() == [4.0]


def test_table2_and_the_paper_beside_it_and_paper_numbers_are_self_consistent():
    train = _separable_patches(20, 3, seed=0)
    runs = [train_and_evaluate(m, train, train, steps=2, batch_size=8, width=0.03125, device="cpu")
            for m in ("fc_audio", "alexnet_audio")]
    ours = h17.table2(runs, dataset="toy", width=0.03125)
    wide = reference.beside(ours, h17.paper.TABLE2, ["model", "variant"], metrics=["mAP"]).set_index("model")
    assert wide.loc["fc_audio", "paper"] == "0.058" and wide.loc["fc_audio", "n"] == 1
    vgg = h17.paper.TABLE2[(h17.paper.TABLE2["model"] == "vgg_audio") & (h17.paper.TABLE2["metric"] == "mAP")]
    assert vgg["value"].tolist() == [0.161]
    assert ours.groupby(["model", "variant"]).size().to_dict() == {("alexnet_audio", ""): 12, ("fc_audio", ""): 12}
    assert set(ours["metric"]) == {*METRICS, *TIME_METRICS, "weights", "multiplies"}
    # Every quoted d' is the d' of its quoted AUC (rounding to 3 decimals: within 0.006).
    for t in (h17.paper.TABLE2, h17.paper.TABLE3, h17.paper.TABLE4, h17.paper.SEC44):
        ids = [c for c in t.columns if c not in ("metric", "value", "quoted")]
        w = t.pivot_table(index=ids, columns="metric", values="value", aggfunc="first")
        np.testing.assert_allclose(w["dprime"], math.sqrt(2) * norm.ppf(w["AUC"]), atol=0.006)


def test_complexity_table_meets_sec33_and_shows_the_other_inception_reading():
    table = h17.complexity_table(variants={"inception_v3_audio": {"stem": "3b"}})
    ratios = table.set_index(["variant", "metric"])["ratio"]
    off = ratios[(ratios - 1).abs() > 0.05]
    assert list(off.index) == [("inception_v3_audio (stem=3b)", "multiplies")]
    assert (table["paper"] > 0).all()


def test_per_class_table_uses_the_training_prior():
    train = _separable_patches(30, 4, seed=0)
    test = _separable_patches(20, 4, seed=1)
    run = train_and_evaluate("fc_audio", train, test, steps=3, batch_size=8, device="cpu",
                             model_kwargs={"layers": 1, "units": 16})
    prior = train.clip_targets.numpy().mean(0)
    data = SimpleNamespace(train=train, eval=test, classes=test.classes, class_names=["a", "b", "c", "d"])
    table = h17.per_class_runs([run], data, model="fc_audio")
    np.testing.assert_allclose(table["prior"], prior)
    np.testing.assert_allclose(table["log10_prior"], np.log10(prior))
    assert table["name"].tolist() == ["a", "b", "c", "d"]
    tidy = h17.tidy_per_class(table, model="fc_audio")
    assert {"metric", "value", "model"} <= set(tidy.columns)


# --- scaling experiments and transfer (tiny, end to end) ------------------------------------------
@pytest.fixture(scope="module")
def tiny_corpus():
    return h17.prepare_corpus(60, 0, eval_per_class=2, fine_per_coarse=(2,) * 8)


def test_label_set_experiment_evaluates_every_run_on_the_smallest_set(tiny_corpus):
    table, runs = h17.label_set_experiment(tiny_corpus, [1.0, 0.25, 0.07], model="fc_audio", steps=2, batch_size=8,
                                           lr=1e-3, width=0.05, bottleneck_units=128, seeds=[0], device="cpu")
    ours = table
    assert sorted(set(ours["n_labels"])) == [1, 4, 16]
    assert len(runs) == 6 and all(r.extra["eval_classes"] == runs[0].extra["eval_classes"] for r in runs)
    assert len(runs[0].extra["eval_classes"]) == 1
    assert {r.model.embedding_dim for r in runs[1::2]} == {128}   # the bottleneck runs
    assert set(ours["bottleneck"]) == {False, True}


def test_label_set_experiment_pairs_seeds_on_a_set_balanced_for_the_evaluated_labels(tiny_corpus):
    table, runs = h17.label_set_experiment(tiny_corpus, [1.0, 0.25], model="fc_audio", steps=1, batch_size=8,
                                           lr=1e-3, width=0.05, bottleneck_units=8, device="cpu", seeds=[0, 1])
    ours = table
    assert sorted(set(ours["seed"])) == [0, 1] and len(runs) == 8
    evaluated = runs[0].extra["eval_classes"]
    ev = h17.scaling.label_eval_set(tiny_corpus, evaluated)
    cols = [ev.classes.index(c) for c in evaluated]
    y = ev.clip_targets.numpy()[:, cols]
    assert (y.sum(axis=1) > 0).all()                    # every chosen clip carries an evaluated label
    assert set(ev.clip_ids).isdisjoint(tiny_corpus.train.clip_ids)
    assert set(ours["eval_clips"]) == {ev.n_clips}


def test_also_at_evaluates_the_same_run_earlier_and_table2_labels_it():
    train = _separable_patches(20, 3, seed=0)
    run = train_and_evaluate("fc_audio", train, train, steps=4, batch_size=8, device="cpu", also_at=(2,),
                             lr_drop_at=0.75, seed=3, model_kwargs={"layers": 1, "units": 8})
    assert set(run.extra["at"]) == {2} and run.seed == 3
    ours = h17.table2([run], dataset="toy", width=1.0)
    assert set(ours["variant"]) == {"", "longer"} and set(ours["seed"]) == {3}
    steps = ours[ours["metric"] == "steps"].set_index("variant")["value"]
    assert steps[""] == 2 and steps["longer"] == 4


def test_cpu_speed_switches_and_wrapper():
    from audiolib.models import create_model
    from audiolib.runtime import CpuSpeed
    from audiolib.train import speed_switches

    assert speed_switches("quick", "cpu", width=0.03125) == {"amp": False, "channels_last": False, "compile": False}
    assert speed_switches("quick", "cpu", width=0.25)["compile"] is False
    torch.manual_seed(0)
    model = create_model("alexnet_audio", 3, width=0.05).eval()
    x = torch.randn(2, 1, 96, 64)
    ref = model(x)
    fast = CpuSpeed(model, amp=True, channels_last=True)
    out = fast(x)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    torch.testing.assert_close(out, ref, atol=0.1, rtol=0.1)


def test_training_size_experiment_uses_nested_sizes(tiny_corpus):
    table, runs = h17.training_size_experiment(tiny_corpus, n_sizes=2, ratio=3.0, model="fc_audio", steps=2,
                                               batch_size=8, lr=1e-3, width=0.05, seeds=[0], device="cpu")
    ours = table
    n = tiny_corpus.train.n_clips
    assert sorted(set(ours["train_clips"])) == [int(n / 3), n]


def test_embedding_transfer_trains_both_classifiers(tiny_corpus):
    large, small = h17.transfer_corpus(60, 20, seed=0, eval_per_class=2, small_labels="coarse")
    assert set(large.train_rows).isdisjoint(range(40, 60)) and len(small.patches.classes) == 8
    embed = train_and_evaluate("alexnet_audio", large.train, large.eval, steps=2, batch_size=8, width=0.05,
                               bottleneck=128, device="cpu")
    table, runs = h17.transfer.embedding_transfer(small, embed.model, embed_network="alexnet", embed_data="large part",
                                                  steps=3, batch_size=8, units=16, device="cpu")
    assert set(table["features"]) == {"embedding", "log-mel 64x20"}
    assert sorted(r.extra["model_kwargs"]["input_shape"] for r in runs) == [(1, 1, 128), (1, 20, 64)]
    assert set(table["seed"]) == {0} and set(table["fold"]) == {0}
    assert table["small_set"].unique().tolist() == ["synthetic-small"]


@pytest.mark.slow
def test_real_small_set_esc10_splits_by_fold():
    if paths.shared_data_root() is None or not (paths.shared_data_root() / "esc50").is_dir():
        pytest.skip("../shared/data/esc50 is absent")
    loaded, skipped = splits.load_available(["esc10"])
    small = h17.real_small_set(loaded["esc10"])
    assert small.name == "esc10" and small.patches.n_clips == 400 and not skipped
    folds = small.clips.manifest["fold"].to_numpy()
    by_fold = small.splits
    assert [f for f, _, _ in by_fold] == [1, 2, 3, 4, 5]
    assert all(len(te) == 80 and len(tr) == 320 for _, tr, te in by_fold)
    assert all(set(folds[te]) == {f} and f not in set(folds[tr]) for f, tr, te in by_fold)


@pytest.mark.slow
def test_yamnet_input_on_esc10_folds_names_its_network():
    if paths.shared_data_root() is None or not (paths.shared_data_root() / "esc50").is_dir():
        pytest.skip("../shared/data/esc50 is absent")
    small = h17.real_small_set(splits.load_available(["esc10"])[0]["esc10"], max_clips_per_fold=2)
    emb = h17.transfer.yamnet_patchset(small, device="cpu")
    if emb is None:
        pytest.skip("the YAMNet port or its release file is absent")
    assert emb.patches.shape[1:] == (1, 1024) and emb.n_clips == small.patches.n_clips == 10
    two_folds = dataclasses.replace(small, splits=small.splits[:2])
    table, _ = h17.transfer.embedding_transfer(two_folds, None, yamnet=emb, steps=2, batch_size=4, units=8,
                                               device="cpu")
    assert set(table["fold"]) == {1, 2} and set(table["features"]) == {"log-mel 64x20", "YAMNet (AudioSet)"}
    yam = table[table["features"] == "YAMNet (AudioSet)"]
    assert yam["network"].str.contains("YAMNet").all() and yam["trained_on"].str.contains("AudioSet").all()


# --- the Fig. 2 recording -------------------------------------------------------------------------
def test_recording_is_synthetic_with_events_or_a_file(tmp_path):
    waveform, sr, events, text = h17.recording("", seconds=61.0, seed=0)
    assert waveform.shape[0] == 61 * sr and len(events) > 0 and "61 s" in text
    import soundfile as sf

    path = tmp_path / "r.wav"
    sf.write(path, np.zeros(8000, dtype=np.float32), 8000)
    w, sr2, ev, text = h17.recording(str(path))
    assert ev is None and sr2 == 8000 and "r.wav" in text
