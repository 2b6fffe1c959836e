"""T19: models against functional re-implementations, VGGish weight loading, targets, class
weights, the warm-restart schedule, the hierarchical combination, the urban mixtures, and the
end-to-end path to official submission files."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F

from audiolib.data import load_dataset
from audiolib.data.base import ClipSet, Taxonomy
from audiolib.metrics import sonyc_columns
from audiolib.models import create_model
from audiolib.models.t19 import (
    CNN_BLOCKS,
    Bilinear,
    StridedConv2d,
    T19Fusion,
    feature_map_sizes,
    pack_inputs,
    unpack_inputs,
)
from audiolib.models.vggish import (
    OFFICIAL_SHAPES,
    VGGish,
    load_vggish_pca,
    load_vggish_weights,
    vggish_postprocess,
)
from audiolib import t19


def sonyc_taxonomy() -> Taxonomy:
    from audiolib.data.urban_mixtures import sonyc_taxonomy as tax

    return tax()


# --- models -------------------------------------------------------------------------------------
def test_table1_geometry_ends_in_one_position_at_the_papers_input():
    sizes = feature_map_sizes(128, 862)
    assert sizes == [(128, 862), (128, 862), (8, 12), (3, 5), (1, 2), (1, 1)]
    assert [b[0] for b in CNN_BLOCKS] == [8, 16, 32, 64, 128, 256]
    model = create_model("t19_cnn", 37, width=0.25).eval()
    with torch.no_grad():
        assert model.cnn.blocks(torch.zeros(1, 1, 128, 862)).shape == (1, 64, 1, 1)
    with pytest.raises(ValueError, match="too small"):
        model(torch.zeros(1, 1, 128, 400))


def test_fusion_parameter_count_at_width_one_is_the_papers():
    with torch.device("meta"):
        model = T19Fusion(37)
    assert tuple(model.fc1.weight.shape) == (512, 256, 1280)  # 168 M weights in the bilinear layer
    convs = [m for m in model.cnn.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [tuple(c.weight.shape) for c in convs] == [(8, 1, 1, 1), (16, 8, 3, 3), (32, 16, 16, 128), (64, 32, 5, 5),
                                                      (128, 64, 5, 5), (256, 128, 3, 3)]
    assert [(c.stride, c.padding) for c in convs][2] == ((4, 16), (8, 16))
    assert model.tail["fc2"].weight.shape == (256, 512) and model.tail["out"].weight.shape == (37, 256)


def test_fast_bilinear_and_strided_conv_equal_the_torch_operators():
    g = torch.Generator().manual_seed(0)
    bil = Bilinear(6, 11, 5).double()
    x1 = torch.randn(4, 6, generator=g, dtype=torch.float64, requires_grad=True)
    x2 = torch.randn(4, 11, generator=g, dtype=torch.float64, requires_grad=True)
    ours, ref = bil(x1, x2), F.bilinear(x1, x2, bil.weight, bil.bias)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    grads = torch.autograd.grad(ours.sum(), (x1, x2, bil.weight))
    grads_ref = torch.autograd.grad(ref.sum(), (x1, x2, bil.weight))
    for a, b in zip(grads, grads_ref):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    for h, w in [(128, 862), (120, 700), (111, 529)]:
        conv = StridedConv2d(2, 3, (16, 128), (4, 16), (8, 16)).double()
        x = torch.randn(2, 2, h, w, generator=g, dtype=torch.float64, requires_grad=True)
        ours, ref = conv(x), F.conv2d(x, conv.weight, conv.bias, (4, 16), (8, 16))
        torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(torch.autograd.grad(ours.sum(), x)[0], torch.autograd.grad(ref.sum(), x)[0])


def _reference_fusion(model: T19Fusion, spec: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
    """Tables 1 and 2 written out with functional ops (eval mode: BN running stats, no dropout)."""
    x = spec
    for block, (_, _, stride, padding, pool) in zip(model.cnn.blocks, CNN_BLOCKS):
        conv, bn = block[0], block[1]
        x = F.conv2d(x, conv.weight, conv.bias, stride, padding)
        x = F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
        x = F.relu(x)
        if pool:
            x = F.max_pool2d(x, pool)
    x = x.flatten(1)  # 1 x 1 at 128 x 862
    h = F.bilinear(x, emb.reshape(len(emb), -1), model.fc1.weight, model.fc1.bias)
    t = model.tail
    h = F.relu(F.batch_norm(h, t["bn1"].running_mean, t["bn1"].running_var, t["bn1"].weight, t["bn1"].bias))
    h = F.linear(h, t["fc2"].weight, t["fc2"].bias)
    h = F.relu(F.batch_norm(h, t["bn2"].running_mean, t["bn2"].running_var, t["bn2"].weight, t["bn2"].bias))
    return F.linear(h, t["out"].weight, t["out"].bias)


def test_fusion_forward_equals_the_tables_written_out():
    torch.manual_seed(0)
    model = create_model("t19_fusion", 8, width=0.125).double()
    for m in model.modules():  # non-trivial running statistics
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    model.eval()
    spec = torch.randn(3, 1, 128, 862, dtype=torch.float64)
    emb = torch.randn(3, 10, 128, dtype=torch.float64)
    x = pack_inputs(spec, emb)
    assert x.shape == (3, 1, 128, 872)
    back_spec, back_emb = unpack_inputs(x)
    assert torch.equal(back_spec, spec) and torch.equal(back_emb, emb)
    with torch.no_grad():
        torch.testing.assert_close(model(x), _reference_fusion(model, spec, emb), rtol=1e-9, atol=1e-9)
        other = model(pack_inputs(spec, emb + 1.0))
    assert not torch.allclose(other, model(x))  # the VGGish input matters
    with pytest.raises(ValueError, match="expected spec"):
        pack_inputs(torch.zeros(1, 128, 862), torch.zeros(2, 10, 128))  # batch sizes differ


# --- VGGish -------------------------------------------------------------------------------------
def test_vggish_has_the_official_layout():
    with torch.device("meta"):
        model = VGGish(num_classes=3)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items() if not k.startswith("head.")}
    assert shapes == OFFICIAL_SHAPES


def _reference_vggish(model: VGGish, x: torch.Tensor) -> torch.Tensor:
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    pools_after = {0, 1, 3, 5}  # 64 M 128 M 256 256 M 512 512 M
    for i, conv in enumerate(convs):
        x = F.relu(F.conv2d(x, conv.weight, conv.bias, padding=1))
        if i in pools_after:
            x = F.max_pool2d(x, 2)
    x = x.permute(0, 2, 3, 1).reshape(len(x), -1)  # TensorFlow's NHWC flatten
    for k in (0, 2, 4):
        lin = model.embeddings[k]
        x = F.relu(F.linear(x, lin.weight, lin.bias))
    return x


def test_vggish_embedding_equals_the_published_network_written_out(tmp_path):
    torch.manual_seed(0)
    model = VGGish(num_classes=4, width=0.25).double().eval()
    x = torch.randn(3, 1, 96, 64, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(model.embedding(x), _reference_vggish(model, x), rtol=1e-10, atol=1e-10)
    # weights saved in the torchvggish layout (no head) load into a fresh model
    path = tmp_path / "vggish-like.pth"
    torch.save({k: v for k, v in model.state_dict().items() if not k.startswith("head.")}, path)
    other = load_vggish_weights(VGGish(num_classes=7, width=0.25).double(), path).eval()
    with torch.no_grad():
        torch.testing.assert_close(other.embedding(x), model.embedding(x))
    with pytest.raises(ValueError, match=r"vggish-like.pth does not fit VGGish of width 0.5"):
        load_vggish_weights(VGGish(num_classes=2, width=0.5), path)
    with pytest.raises(FileNotFoundError, match="absent.pth not found"):
        load_vggish_weights(model, tmp_path / "absent.pth")
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="garbage.pth is unreadable"):
        load_vggish_weights(model, tmp_path / "garbage.pth")
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match="partial.pth does not fit.* missing"):
        load_vggish_weights(model, tmp_path / "partial.pth")


def test_vggish_postprocess_matches_the_published_algorithm(tmp_path):
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(5, 128)) * 3
    vectors, means = rng.normal(size=(128, 128)) / 8, rng.normal(size=128)
    # vggish_postprocess.Postprocessor.postprocess, NumPy, as published
    pca = np.dot(vectors, (emb.T - means.reshape(-1, 1))).T
    expected = ((np.clip(pca, -2.0, 2.0) + 2.0) * (255.0 / 4.0)).astype(np.uint8)
    np.savez(tmp_path / "pca.npz", pca_eigen_vectors=vectors, pca_means=means.reshape(-1, 1))
    got = vggish_postprocess(torch.from_numpy(emb), *load_vggish_pca(tmp_path / "pca.npz"))
    np.testing.assert_array_equal(got.numpy(), expected.astype(np.float32))


# --- labels, weights, schedule, hierarchy ----------------------------------------------------------
def test_class_weights_are_the_tenth_root_of_negatives_over_positives():
    y = np.zeros((100, 3))
    y[:10, 0] = 1
    y[:50, 1] = 1
    w = t19.class_weights(y)
    np.testing.assert_allclose(w, [9 ** 0.1, 1.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(t19.class_weights(y, root=1), [9.0, 1.0, 0.0], rtol=1e-6)
    assert t19.class_weights(y, root=None).tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="root"):
        t19.class_weights(y, root=0)


def test_output_layouts_and_their_fine_and_coarse_scores():
    tax = sonyc_taxonomy()
    rng = np.random.default_rng(0)
    fine = rng.random((4, 29))
    coarse = rng.random((4, 8))
    got_fine, got_coarse = t19.split_outputs(np.hstack([fine, coarse]), "all", tax)
    assert np.array_equal(got_fine, fine) and np.array_equal(got_coarse, coarse)
    _, derived = t19.split_outputs(fine, "fine", tax)
    assert derived[:, 4] == pytest.approx(fine[:, 14:19].max(axis=1))  # alert signal: 5-1 .. 5-X
    copied, same = t19.split_outputs(coarse, "coarse", tax)
    assert np.array_equal(same, coarse) and np.array_equal(copied[:, 14:19], np.repeat(coarse[:, [4]], 5, axis=1))
    assert t19.output_targets(fine, coarse, "all").shape == (4, 37)
    with pytest.raises(ValueError, match=r"expected \[n, 8\]"):
        t19.split_outputs(fine, "coarse", tax)


def test_clip_targets_use_the_coarse_answers_when_present():
    clips = load_dataset("synthetic", n_clips=12, seed=0)
    fine, coarse = t19.clip_targets(clips)
    assert fine.shape == (12, 29) and coarse.shape == (12, 8)
    parents = [list(clips.taxonomy.coarse).index(clips.taxonomy.parent[f]) for f in clips.taxonomy.fine]
    derived = np.zeros_like(coarse)
    for j, p in enumerate(parents):
        derived[:, p] = np.maximum(derived[:, p], fine[:, j])
    assert np.array_equal(coarse, derived)
    # a corpus whose coarse answers disagree with its fine ones (as SONYC-UST train)
    manifest = clips.manifest.copy()
    manifest.loc[0, "coarse_labels"] = ("8",)
    odd = ClipSet("odd", manifest, clips.classes, clips.loader, taxonomy=clips.taxonomy)
    assert t19.clip_targets(odd)[1][0].tolist() == [0.0] * 7 + [1.0]
    # a label that is not in the taxonomy is an error naming the clip, never dropped
    manifest.loc[0, "coarse_labels"] = ("9",)
    with pytest.raises(ValueError, match=rf"clip {manifest.loc[0, 'clip_id']} has coarse labels \['9'\]"):
        t19.clip_targets(ClipSet("odd", manifest, clips.classes, clips.loader, taxonomy=clips.taxonomy))
    manifest = clips.manifest.copy()
    manifest.loc[0, "labels"] = ("nope",)
    with pytest.raises(ValueError, match="has label 'nope'"):
        t19.clip_targets(ClipSet("odd", manifest, clips.classes, clips.loader, taxonomy=clips.taxonomy))


def test_warm_restarts_reduce_then_restart_more_mildly_and_keep_both_bests():
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.ones(1, 2)).sum().backward()
    opt.step()
    assert opt.state
    hook = t19.WarmRestartPlateau(model, ("coarse", "fine"), lr=0.01, patience=0, min_lr=1e-3)
    hook(1, {"coarse": 0.5, "fine": 0.1}, opt)
    with torch.no_grad():
        model.weight.add_(1.0)
    hook(2, {"coarse": 0.4, "fine": 0.2}, opt)  # fine improves: its best weights are these
    hook(3, {"coarse": 0.4, "fine": 0.2}, opt)  # stalled: 0.01 -> 0.001 (= min_lr)
    hook(4, {"coarse": 0.4, "fine": 0.2}, opt)  # stalled at min_lr: restart at 0.01, factor 0.2
    hook(5, {"coarse": 0.4, "fine": 0.2}, opt)  # 0.01 -> 0.002
    assert [(e["event"], round(e["lr"], 6), round(e["factor"], 2)) for e in hook.events] == [
        ("reduce", 0.001, 0.1), ("restart", 0.01, 0.2), ("reduce", 0.002, 0.2)]
    assert opt.param_groups[0]["lr"] == pytest.approx(0.002) and not opt.state  # fresh Adam, as the authors
    assert hook.best_steps == {"coarse": 1, "fine": 2}
    assert torch.equal(hook.best_states["fine"]["weight"], hook.best_states["coarse"]["weight"] + 1.0)


def test_hierarchical_combination_follows_the_authors_rules():
    tax = sonyc_taxonomy()
    n = 3
    coarse = np.full((n, 8), 0.1)
    coarse[0, 0] = 0.3            # clip 0: nothing above 0.5, arg-max engine (1)
    coarse[1, [4, 6]] = 0.9       # clip 1: alert signal (5) and human voice (7)
    coarse[2, 7] = 0.8            # clip 2: dog (8, single fine tag)
    fallback = np.full((n, 29), 0.05)
    branches = {"1": np.full((n, 4), 0.7), "5": np.full((n, 5), 0.6)}  # no fine model for 7
    fine = t19.combine_hierarchical(coarse, fallback, branches, tax)
    cols = {code: [list(tax.fine).index(f) for f in tax.fine_of(code)] for code in tax.coarse}
    assert fine[0, cols["1"]].tolist() == [0.7] * 4 and fine[0, cols["5"]].tolist() == [0.05] * 5
    assert fine[1, cols["5"]].tolist() == [0.6] * 5 and fine[1, cols["7"]].tolist() == [0.05] * 5
    assert fine[1, cols["1"]].tolist() == [0.05] * 4
    assert fine[2, cols["8"]].tolist() == [0.8] and fine[1, cols["8"]].tolist() == [0.05]
    assert fine[0, cols["3"]].tolist() == [0.05]  # single tag, not selected: fallback stays


def test_branch_targets_positives_only_and_all_data():
    inputs = _tiny_inputs_no_audio()
    rows = np.arange(len(inputs))
    used, y = t19.branch_targets(inputs, rows, "5", all_data=False)
    assert (inputs.coarse[used, 4] == 1).all() and y.shape == (len(used), 5)
    used_all, y_all = t19.branch_targets(inputs, rows, "5", all_data=True)
    assert len(used_all) == len(rows) and y_all.shape == (len(rows), 6)
    assert np.array_equal(y_all[:, -1], 1 - inputs.coarse[:, 4])


def _tiny_inputs_no_audio(n: int = 6) -> t19.T19Inputs:
    tax = sonyc_taxonomy()
    rng = np.random.default_rng(1)
    fine = (rng.random((n, 29)) < 0.2).astype(np.float32)
    fine[:3, 14] = 1  # car horn
    coarse = np.zeros((n, 8), dtype=np.float32)
    for j, f in enumerate(tax.fine):
        coarse[:, list(tax.coarse).index(tax.parent[f])] = np.maximum(coarse[:, list(tax.coarse).index(tax.parent[f])],
                                                                    fine[:, j])
    return t19.T19Inputs("tiny", tax, [f"c{i}" for i in range(n)], np.array(["train"] * n), np.zeros(n, int),
                         torch.zeros(n, 128, 862, dtype=torch.float16), torch.zeros(n, 10, 96, 64, dtype=torch.float16),
                         fine, coarse, fine, coarse)


# --- urban mixtures -------------------------------------------------------------------------------
def test_mixture_loader_levels_and_onsets(tmp_path):
    from audiolib.data.urban_mixtures import MixtureLoader

    sr = 8000
    t = np.arange(4 * sr) / sr
    sf.write(tmp_path / "bed.wav", (0.5 * np.sin(2 * np.pi * 100 * t)).astype("float32"), sr)
    sf.write(tmp_path / "event.wav", (0.5 * np.sin(2 * np.pi * 1000 * t[:sr])).astype("float32"), sr)
    loader = MixtureLoader(sr, 10 * sr)
    row = {"background_paths": (str(tmp_path / "bed.wav"),) * 4, "background_db": -30.0,
           "events": ((str(tmp_path / "event.wav"), -10.0, 0.5),)}
    wave, rate = loader(pd.Series(row))
    assert rate == sr and wave.shape == (10 * sr,)
    onset = int(0.5 * (10 * sr - sr))
    x = wave.double().numpy()
    before = x[: onset - 100]
    assert 20 * math.log10(np.sqrt(np.mean(before ** 2))) == pytest.approx(-30.0, abs=0.1)
    event = x[onset:onset + sr] - x[onset - sr:onset]  # the bed is periodic (100 Hz), so this cancels it
    assert 20 * math.log10(np.sqrt(np.mean(event ** 2))) == pytest.approx(-10.0, abs=0.1)


def test_urban_mixtures_from_the_real_clips(shared_data):
    from audiolib.data.urban_mixtures import CLASS_MAP, NAME, load_urban_mixtures

    if not (shared_data / "urbansound8k" / "metadata" / "UrbanSound8K.csv").is_file():
        pytest.skip("UrbanSound8K absent from the shared data")
    clips = load_urban_mixtures(15, seed=3)
    again = load_urban_mixtures(15, seed=3)
    m = clips.manifest
    assert m.drop(columns=["events"]).equals(again.manifest.drop(columns=["events"]))
    assert m["split"].value_counts().to_dict() == {"train": 9, "validate": 3, "test": 3}
    assert NAME in clips.description and "not SONYC-UST" in clips.description
    assert clips.classes == list(clips.taxonomy.fine) and len(clips.classes) == 29
    for labels, coarse, classes in zip(m["labels"], m["coarse_labels"], m["event_classes"]):
        assert set(labels) == {CLASS_MAP[c] for c in classes} and 1 <= len(classes) <= 3
        assert set(coarse) == {clips.taxonomy.parent[f] for f in labels}
    meta = pd.read_csv(shared_data / "urbansound8k" / "metadata" / "UrbanSound8K.csv")
    meta["clip_id"] = meta["slice_file_name"].str.replace(".wav", "", regex=False)
    meta = meta.set_index("clip_id")
    folds = {s: {int(meta.loc[c, "fold"]) for ids in m[m.split == s]["event_clips"] for c in ids} for s in ("train", "validate", "test")}
    assert folds["train"] <= {1, 3} and folds["validate"] <= {2} and folds["test"] <= {2}
    fs = {s: {meta.loc[c, "fsID"] for ids in m[m.split == s]["event_clips"] for c in ids} for s in ("validate", "test")}
    assert not fs["validate"] & fs["test"]
    wave, sr = clips.load(0)
    assert sr == 22050 and wave.shape == (220500,) and torch.isfinite(wave).all() and float(wave.abs().max()) <= 0.99 + 1e-6
    with pytest.raises(ValueError, match="max_events"):
        load_urban_mixtures(10, max_events=0)


# --- end to end -----------------------------------------------------------------------------------
def test_inputs_come_from_the_feature_cache_with_augmented_copies(tmp_path, monkeypatch):
    from audiolib.augment import AugmentPolicy, augment, augment_seed
    from audiolib.cache import list_caches
    from audiolib.features import get_config, log_mel

    monkeypatch.setenv("AUDIOLIB_DATA", str(tmp_path))
    clips = load_dataset("synthetic", n_clips=4, seed=0)
    clips.manifest["split"] = ["train", "train", "validate", "test"]
    inputs = t19.extract_inputs(clips, augment_copies=2, seed=5)
    assert inputs.copy.tolist() == [0, 1, 2, 0, 1, 2, 0, 0] and inputs.clip_ids[:3] == [clips.manifest["clip_id"][0]] * 3
    assert inputs.spec.dtype == torch.float16 and inputs.spec.shape == (8, 128, 862)
    assert inputs.examples.dtype == torch.float16 and inputs.examples.shape == (8, 10, 96, 64)
    # row 2, clip 0's second copy: its augmented audio's log-mel, dB re its own maximum, float16
    wave, sr = clips.load(0)
    wave, _ = augment(wave.float(), sr, AugmentPolicy(), torch.Generator().manual_seed(augment_seed(5, 0, 2)))
    spec = log_mel(wave, sr, get_config("t19_cnn"))
    assert torch.equal(inputs.spec[2], (spec - spec.max()).T.to(torch.float16))
    assert inputs.spec[2].max() == 0 and not torch.equal(inputs.spec[1], inputs.spec[2])
    entries = list_caches()
    assert set(entries["dataset"]) == {"synthetic-t19"} and sorted(entries["patch_shape"]) == ["862x128", "96x64"]
    assert entries["clips"].tolist() == [8, 8] and sorted(entries["patches"]) == [8, 80]
    again = t19.extract_inputs(clips, augment_copies=2, seed=5)  # read back, not recomputed
    assert torch.equal(again.spec, inputs.spec) and torch.equal(again.examples, inputs.examples)
    assert list_caches()["created"].tolist() == entries["created"].tolist()
    t19.extract_inputs(clips, augment_copies=2, seed=6)  # another seed: other copies, other entries
    assert len(list_caches()) == 4


def test_end_to_end_writes_official_submissions_and_scores_them(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIOLIB_DATA", str(tmp_path / "data"))
    torch.manual_seed(0)
    clips = load_dataset("synthetic", n_clips=12, seed=0)
    inputs = t19.extract_inputs(clips, augment_copies=1)
    n_train = int((clips.manifest["split"] == "train").sum())
    assert len(inputs) == len(clips) + n_train and inputs.spec.shape[1:] == (128, 862)
    assert set(inputs.split[inputs.copy > 0]) == {"train"}
    branch = t19.embedding_branch("vggish", inputs, width=0.125, steps=2, batch_size=8, device="cpu")
    assert "trained in this workbook" in branch.description and branch.trial.metrics["steps"] == 2
    t19.add_embeddings(inputs, branch.embed)
    train = inputs.rows("train")
    emb = inputs.embeddings[torch.as_tensor(train)].reshape(-1, 128)
    torch.testing.assert_close(emb.mean(0), torch.zeros(128), atol=1e-4, rtol=0)
    config = t19.T19Config(width=0.125, epochs=1, fine_epochs=1, batch_size=8, patience=0, device="cpu")
    trials = t19.run_variants(inputs, ["hierarchical"], config, tmp_path, log=lambda *_: None)
    assert [t.ids["variant"] for t in trials] == ["fusion_37", "hierarchical"]  # the coarse model is reported too
    assert set(trials[0].extra["states"]) == {"micro_auprc_coarse", "micro_auprc_fine"}
    assert set(trials[1].extra["stages"]) | set(trials[1].extra["skipped"]) == set(t19.hierarchical.branch_categories(
        inputs.taxonomy))
    results = t19.results_table(trials)
    times = results[results["metric"].isin(t19.TIMES)]
    assert len(times) == 2 * 2 and times["checkpoint"].isna().all() and (times["value"] > 0).all()
    results = results[results["level"].notna()]
    # two real checkpoints of the single model, each scored at both levels; the hierarchical uses the best-coarse one
    assert set(results[results.variant == "fusion_37"]["checkpoint"]) == {"best coarse", "best fine"}
    assert set(results[results.variant == "hierarchical"]["checkpoint"]) == {"best coarse"}
    assert (results.groupby(["variant", "checkpoint"])["level"].nunique() == 2).all()
    assert set(results["seed"]) == {0}
    assert set(results["metric"]) == {"micro_auprc", "micro_f1", "macro_auprc"} and results["value"].between(0, 1).all()
    test_rows = inputs.rows("test", originals_only=True)
    for name in results["submission"].unique():
        table = pd.read_csv(tmp_path / name)
        assert list(table.columns) == ["audio_filename"] + sonyc_columns(inputs.taxonomy, "fine") + sonyc_columns(
            inputs.taxonomy, "coarse")
        assert table["audio_filename"].tolist() == [inputs.clip_ids[i] for i in test_rows]
        values = table.drop(columns="audio_filename").to_numpy()
        assert ((values >= 0) & (values <= 1)).all()
    # the file path and the in-memory path give the same official numbers
    sub = pd.read_csv(tmp_path / "synthetic_seed0_fusion_37_best_coarse.csv")
    fine_cols, coarse_cols = sonyc_columns(inputs.taxonomy, "fine"), sonyc_columns(inputs.taxonomy, "coarse")
    direct = t19.official_metrics(sub[fine_cols].to_numpy(), sub[coarse_cols].to_numpy(), inputs, test_rows)
    mine = results[(results.variant == "fusion_37") & (results.checkpoint == "best coarse")].set_index(
        ["level", "metric"])["value"]
    for level in ("fine", "coarse"):
        for metric in ("micro_auprc", "micro_f1", "macro_auprc"):
            assert mine[(level, metric)] == pytest.approx(direct[f"{metric}_{level}"], abs=1e-12)
    # the hierarchical submission keeps the coarse model's coarse scores
    hier = pd.read_csv(tmp_path / "synthetic_seed0_hierarchical_best_coarse.csv")
    assert np.array_equal(hier[coarse_cols].to_numpy(), sub[coarse_cols].to_numpy())
    wide = t19.tables_3_4(t19.results_table(trials))
    assert ("fine", "micro_auprc") in wide.columns and len(wide) == 3  # fusion_37: 2 checkpoints; hierarchical: 1
    with pytest.raises(ValueError, match="VARIANTS: unknown"):
        t19.run_variants(inputs, ["fusion_99"], config, tmp_path)


@pytest.mark.parametrize("field, value", [("precision", "bf17"), ("threshold", 1.0)])
def test_config_refuses_a_choice_nothing_else_checks(field, value):
    with pytest.raises(ValueError, match=f"T19Config.{field}"):
        t19.T19Config(**{field: value})
