"""C19: pre-processing against librosa and NumPy references, the images through the shared feature
cache, mixup, staged training as trials, cross-validation bookkeeping and the tables.

References and tolerances:
- silence trimming: ``librosa.effects.trim(top_db=60)`` and a NumPy implementation of the same
  rule, exact sample intervals;
- mel images: ``librosa.feature.melspectrogram`` + ``power_to_db`` (reflect padding, Slaney
  mel, ref 1, top_db 80) then crop and min-max in NumPy, max abs difference 2e-3 on [0, 1];
- bilinear resize: a NumPy half-pixel bilinear interpolation in float64, 5e-5 (torch computes the
  sampling coordinates in float32).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from audiolib import c19
from audiolib.c19.preprocess import RESOLUTIONS, SAMPLE_RATE, clip_image, fit_duration, prepare_waveform, \
    resize_images, trim_silence
from audiolib.c19.training import C19Config, ImageSet, MixupSet, cross_validate, stage_images, stage_plan
from audiolib.data.base import ClipSet
from audiolib.trials import tidy

librosa = pytest.importorskip("librosa")


# --- silence trimming ---------------------------------------------------------------------------
def _padded_tone(lead: int, tone: int, trail: int, floor: float = 1e-5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(tone) / SAMPLE_RATE
    body = 0.5 * np.sin(2 * np.pi * 440 * t) * np.hanning(tone)
    y = np.concatenate([np.zeros(lead), body, np.zeros(trail)])
    return (y + floor * rng.standard_normal(len(y))).astype(np.float32)


def _numpy_trim(y: np.ndarray, top_db=60.0, frame=2048, hop=512) -> tuple[int, int]:
    """The rule written out directly: RMS of centred zero-padded frames, dB re the loudest frame."""
    padded = np.pad(y.astype(np.float64), (frame // 2, frame // 2))
    n = 1 + (len(padded) - frame) // hop
    rms = np.array([np.sqrt(np.mean(padded[i * hop:i * hop + frame] ** 2)) for i in range(n)])
    db = 20 * np.log10(np.maximum(rms, 1e-5)) - 20 * np.log10(max(rms.max(), 1e-5))
    loud = np.flatnonzero(db > -top_db)
    return int(loud[0] * hop), int(min(len(y), (loud[-1] + 1) * hop))


@pytest.mark.parametrize("lead,tone,trail,floor", [(20000, 30000, 15000, 1e-5), (0, 22050, 40000, 1e-4),
                                                   (33333, 11025, 0, 0.0), (5000, 3000, 7001, 3e-6)])
def test_trim_matches_librosa_and_numpy(lead, tone, trail, floor):
    y = _padded_tone(lead, tone, trail, floor)
    _, (ref_start, ref_end) = librosa.effects.trim(y, top_db=60, frame_length=2048, hop_length=512)
    trimmed, (start, end) = trim_silence(torch.from_numpy(y))
    assert (start, end) == (int(ref_start), int(ref_end))
    assert (start, end) == _numpy_trim(y)
    assert torch.equal(trimmed, torch.from_numpy(y[start:end]))
    assert start <= lead + 2048 and end >= lead + tone - 2048  # the tone itself is kept


def test_trim_keeps_an_all_silent_clip_whole_like_librosa():
    y = np.zeros(10000, dtype=np.float32)
    _, ref = librosa.effects.trim(y, top_db=60)
    assert trim_silence(torch.from_numpy(y))[1] == tuple(int(v) for v in ref) == (0, 10000)


def test_trim_bad_input():
    with pytest.raises(ValueError, match=r"\[time\]"):
        trim_silence(torch.zeros(2, 100))
    with pytest.raises(ValueError, match="0 samples"):
        trim_silence(torch.zeros(0))


# --- fixed length and images --------------------------------------------------------------------
def test_fit_duration_crops_from_start_and_tiles():
    y = torch.arange(10.0)
    assert fit_duration(y, 4).tolist() == [0, 1, 2, 3]
    assert fit_duration(y, 25).tolist() == list(range(10)) * 2 + [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="empty waveform"):
        fit_duration(torch.zeros(0), 4)


def _librosa_image(prepared: np.ndarray, n_mels: int, seconds: float, frames: int) -> np.ndarray:
    n = int(round(seconds * SAMPLE_RATE))
    y = np.resize(prepared, n) if len(prepared) < n else prepared[:n]  # np.resize tiles
    mel = librosa.feature.melspectrogram(y=y.astype(np.float64), sr=SAMPLE_RATE, n_fft=1024, hop_length=256,
                                         win_length=1024, n_mels=n_mels, center=True, pad_mode="reflect", power=2.0,
                                         htk=False, norm="slaney", fmin=0.0, fmax=SAMPLE_RATE / 2)
    db = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=80.0)[:, :frames]
    return (db - db.min()) / (db.max() - db.min())


@pytest.mark.parametrize("name", ["R1", "R2", "R3"])
@pytest.mark.parametrize("length", [3 * SAMPLE_RATE + 17, 20000])  # cropped, tiled
def test_mel_images_match_librosa(name, length):
    rng = np.random.default_rng(1)
    t = np.arange(length) / SAMPLE_RATE
    y = (0.3 * np.sin(2 * np.pi * (300 + 400 * t) * t) + 0.05 * rng.standard_normal(length)).astype(np.float32)
    res = RESOLUTIONS[name]
    ours = clip_image(torch.from_numpy(y), SAMPLE_RATE, res, top_db=None).numpy()  # already prepared
    ref = _librosa_image(y, res.shape[0], res.seconds, res.shape[1])
    assert ours.shape == res.shape == ref.shape
    assert ours.min() == 0.0 and ours.max() == 1.0
    assert np.abs(ours - ref).max() < 2e-3


def test_prepare_resamples_trims_and_tiles():
    sr = 44100
    y = torch.cat([torch.zeros(sr), torch.sin(2 * np.pi * 500 * torch.arange(sr) / sr), torch.zeros(sr)])
    out = prepare_waveform(y, sr, RESOLUTIONS["R3"])
    assert len(out) == round(3.5 * SAMPLE_RATE)
    # the 1 s tone, its silence trimmed, tiled: loud from the start and again after about 1 s
    assert out[:2048].abs().max() > 0.5 and out[SAMPLE_RATE + 4096:SAMPLE_RATE + 6144].abs().max() > 0.5
    with pytest.raises(ValueError, match=r"\[time\]"):
        prepare_waveform(torch.zeros(2, 100), sr, RESOLUTIONS["R1"])


def _numpy_bilinear(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    h, w = img.shape

    def coords(n_out, n_in):
        x = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
        x = np.clip(x, 0, n_in - 1)
        lo = np.floor(x).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, x - lo

    r0, r1, fr = coords(out_h, h)
    c0, c1, fc = coords(out_w, w)
    top = img[r0][:, c0] * (1 - fc) + img[r0][:, c1] * fc
    bottom = img[r1][:, c0] * (1 - fc) + img[r1][:, c1] * fc
    return top * (1 - fr[:, None]) + bottom * fr[:, None]


@pytest.mark.parametrize("name", ["R1", "R2"])
def test_bilinear_resize_matches_numpy(name):
    images = torch.rand(3, 128, 300, generator=torch.Generator().manual_seed(0))
    res = RESOLUTIONS[name]
    ours = resize_images(images, res).numpy()
    for k in range(3):
        np.testing.assert_allclose(ours[k], _numpy_bilinear(images[k].numpy(), *res.shape), atol=5e-5)  # float32 coordinates
    assert 0.0 <= ours.min() and ours.max() <= 1.0


# --- datasets and the cache ---------------------------------------------------------------------
def _tone_data(n_per_class=4, classes=2, folds=2, seconds=1.0, calls=None) -> ClipSet:
    """A tiny single-label dataset: class c is a tone at 300 * (c + 1) Hz; audio made on demand."""
    rows = [{"clip_id": f"c{c}-{i}", "path": None, "labels": (f"class{c}",), "fold": 1 + i % folds}
            for c in range(classes) for i in range(n_per_class)]

    def loader(row):
        if calls is not None:
            calls.append(row["clip_id"])
        c = int(row["clip_id"][1])
        i = int(row["clip_id"].split("-")[1])
        t = torch.arange(int(seconds * 16000)) / 16000
        return (0.5 * torch.sin(2 * np.pi * 300 * (c + 1) * t) + 0.01 * (i + 1) * torch.randn(len(t),
                generator=torch.Generator().manual_seed(i))).float(), 16000

    return ClipSet("tones", pd.DataFrame(rows), [f"class{c}" for c in range(classes)], loader,
                   description="test tones")


def test_images_are_the_clip_chain_and_come_back_from_the_cache_without_decoding(tmp_path):
    calls = []
    data = _tone_data(calls=calls)
    first = c19.dataset_images(data, root=tmp_path)
    assert len(calls) == 3 * len(data)  # one entry per resolution
    assert {k: tuple(v.shape) for k, v in first.items()} == {"R1": (8, 64, 128), "R2": (8, 96, 214),
                                                            "R3": (8, 128, 300)}
    again = c19.dataset_images(data, root=tmp_path)
    assert len(calls) == 3 * len(data)  # nothing decoded again
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert len(list(tmp_path.glob("tones-*"))) == 3
    # another clip set is another entry, never a stale read
    c19.dataset_images(data.subset([0, 1]), ("R1",), root=tmp_path)
    assert len(calls) == 3 * len(data) + 2 and len(list(tmp_path.glob("tones-*"))) == 4
    for name, res in RESOLUTIONS.items():
        assert torch.equal(first[name][3], clip_image(*data.load(3), res))


def test_cache_key_covers_c19s_preparation():
    from audiolib.cache import key_parts
    from audiolib.c19.preprocess import PreparedClip

    data = _tone_data()
    prepared = ClipSet("tones", data.manifest, data.classes, PreparedClip(data.loader, RESOLUTIONS["R2"]))
    parts = key_parts(prepared, RESOLUTIONS["R2"].front_end)
    assert parts["loader"].startswith("audiolib.c19.preprocess.PreparedClip:")
    assert parts["frontend"]["n_mels"] == 96 and parts["frontend"]["patch_frames"] == 214
    assert parts["frontend"]["normalize"] is None  # min-max after the cut, on reading


def test_damaged_cache_is_an_error_naming_the_way_out(tmp_path):
    from audiolib.cache import CacheIntegrityError

    data = _tone_data(n_per_class=1)
    c19.dataset_images(data, ("R1",), root=tmp_path)
    (shard,) = tmp_path.glob("tones-*/shard-00000.npy")
    raw = bytearray(shard.read_bytes())
    raw[-1] ^= 0xFF
    shard.write_bytes(bytes(raw))
    with pytest.raises(CacheIntegrityError, match="remove_cache"):
        c19.dataset_images(data, ("R1",), root=tmp_path)


def test_cache_with_worker_processes_gives_the_same_images(tmp_path):
    data = _tone_data(n_per_class=2)
    serial = c19.dataset_images(data, ("R1",), root=tmp_path / "a")
    parallel = c19.dataset_images(data, ("R1",), root=tmp_path / "b", num_workers=2)
    assert torch.equal(serial["R1"], parallel["R1"])


def test_synthetic_stand_in_is_single_label_with_five_folds_and_capped_per_fold():
    data = c19.load_c19_dataset("synthetic", synthetic_clips=40)
    assert len(data) == 40 and len(data.classes) == 8
    assert sorted(set(c19.folds_of(data))) == [1, 2, 3, 4, 5]
    assert set(c19.labels_of(data)) <= set(range(8))
    assert all(len(labels) == 1 for labels in data.manifest["labels"])
    capped = c19.load_c19_dataset("synthetic", synthetic_clips=40, clips_per_fold=3)
    assert np.bincount(c19.folds_of(capped)).tolist() == [0, 3, 3, 3, 3, 3]
    assert capped.description.endswith("at most 3 clips per fold (classes in turn): 15 clips")


def test_dataset_names_come_from_the_registry():
    with pytest.raises(ValueError, match="esc20.*known.*esc50"):
        c19.select_datasets(["esc20"])


def test_real_esc10_subset(shared_data):
    data = c19.load_c19_dataset("esc10", clips_per_fold=2)
    assert len(data) == 10 and sorted(set(c19.folds_of(data))) == [1, 2, 3, 4, 5]
    assert len(data.classes) == 10


# --- training pieces ----------------------------------------------------------------------------
def test_imageset_and_three_identical_channels():
    s = ImageSet(torch.rand(5, 8, 10), np.array([0, 1, 2, 1, 0]), 3, in_chans=3)
    x, y = s.get_batch(torch.tensor([1, 3]))
    assert x.shape == (2, 3, 8, 10)
    assert torch.equal(x[:, 0], x[:, 2])
    assert y.tolist() == [[0, 1, 0], [0, 1, 0]]
    with pytest.raises(ValueError, match="labels"):
        ImageSet(torch.rand(5, 8, 10), np.array([0, 1]), 3)


def test_mixup_is_a_convex_pairwise_combination():
    base = ImageSet(torch.rand(16, 4, 6), np.arange(16) % 4, 4)
    x0, y0 = base.get_batch(torch.arange(16))
    x, y = MixupSet(base, 0.4, seed=3).get_batch(torch.arange(16))
    torch.testing.assert_close(y.sum(1), torch.ones(16))
    assert ((y > 0).sum(1) <= 2).all()
    # the same weight and partner mix images and targets: solve for them from x and check y
    rng = np.random.default_rng(3)
    lam = rng.beta(0.4, 0.4)
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(x, lam * x0 + (1 - lam) * x0[perm])
    torch.testing.assert_close(y, lam * y0 + (1 - lam) * y0[perm])


def test_stage_plan_reads_table1():
    cfg = C19Config(epoch_scale=0.1)
    base = stage_plan("baseline", cfg)
    assert [(s.tag, s.epochs, s.body_lr_factor) for _, s in base] == [("R3", 2, 1.0), ("R3", 5, pytest.approx(1 / 3)),
                                                                      ("R3", 12, pytest.approx(1 / 3))]
    prog = stage_plan("mel", cfg)
    assert [(s.tag, s.epochs) for _, s in prog] == [("R1", 2), ("R1", 2), ("R2", 2), ("R2", 2), ("R3", 2), ("R3", 7)]
    assert [s.body_lr_factor for _, s in prog] == pytest.approx([1.0, 1 / 3] * 3)
    with pytest.raises(ValueError, match="unknown"):
        stage_plan("progressive", cfg)


def test_stage_images_per_method():
    images = {"R1": torch.rand(3, 64, 128), "R2": torch.rand(3, 96, 214), "R3": torch.rand(3, 128, 300)}
    assert stage_images(images, "mel", "R1")[0] is images["R1"]
    assert stage_images(images, "resize", "R2")[0].shape == (3, 96, 214)
    assert len(stage_images(images, "mel+resize", "R1")) == 2
    assert stage_images(images, "mel+resize", "R3")[0] is images["R3"]


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="width=1.0"):
        C19Config(pretrained="resnet34.pth", width=0.5)
    with pytest.raises(ValueError, match="range_test"):
        C19Config(range_test="twice")
    with pytest.raises(ValueError, match="lr_policy"):
        C19Config(lr_policy="cosine")
    with pytest.raises(ValueError, match="mixup_alpha"):
        C19Config(mixup_alpha=0.0)


def _synthetic_images(data, seed=0):
    """Images that carry the label plainly (a bright band whose height depends on the class)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, res in RESOLUTIONS.items():
        imgs = 0.1 * torch.rand(len(data), *res.shape, generator=g)
        for i, c in enumerate(c19.labels_of(data)):
            band = res.shape[0] // 4
            imgs[i, c * band:(c + 1) * band] += 0.8
        out[name] = imgs.clamp(0, 1)
    return out


@pytest.fixture(scope="module")
def small_cv(one_torch_thread):
    data = _tone_data(n_per_class=8, classes=2, folds=2)
    images = _synthetic_images(data)
    cfg = C19Config(epoch_scale=0.01, lr_policy="fixed", lr=3e-3, width=0.0625, batch_size=8, device="cpu")
    return data, images, cross_validate(data, images, cfg, methods=("baseline", "mel", "resize", "mel+resize"),
                                        mixup_methods=("mel",), test_folds=[1, 2], seeds=[0, 1], progress=False)


def test_cross_validation_bookkeeping(small_cv):
    data, _, trials = small_cv
    assert len(trials) == 2 * 2 * 5  # seeds x folds x (4 methods + 1 mixup run)
    assert [(t.ids["seed"], t.ids["fold"]) for t in trials[::5]] == [(0, 1), (0, 2), (1, 1), (1, 2)]
    t = tidy(trials)
    assert list(t.columns) == ["dataset", "seed", "fold", "method", "mixup", "n_train", "n_test", "train_folds",
                               "metric", "value"]
    assert set(t["metric"]) == {"accuracy", "accuracy_last_epoch", "train_seconds", "wall_seconds"}
    acc = t[t["metric"] == "accuracy"]
    assert not acc.duplicated(["seed", "fold", "method", "mixup"]).any()
    assert acc["value"].between(0, 1).all()
    assert set(t[t["fold"] == 1]["train_folds"]) == {"2"}
    assert (t["n_train"] == 8).all() and (t["n_test"] == 8).all()
    # the schedule each run followed: baseline three R3 stages, progressive two per resolution, one epoch each
    s = c19.schedules(trials)
    s = s[(s["fold"] == 1) & (s["seed"] == 0) & ~s["mixup"]]
    assert s[s["method"] == "baseline"][["rate", "resolution", "epochs"]].values.tolist() == [
        ["lambda_1", "R3", 1], ["lambda_2", "R3", 1], ["lambda_3", "R3", 1]]
    assert s[s["method"] == "mel"]["resolution"].tolist() == ["R1", "R1", "R2", "R2", "R3", "R3"]
    prog = s[s["method"] == "resize"]
    np.testing.assert_allclose(prog["lr_other_layers"] / prog["lr_last_layer"], [1, 1 / 3] * 3)
    assert (prog["lr_last_layer"] == 3e-3).all()
    # every stage ended on its best epoch: accuracy >= last epoch's accuracy
    wide = t.pivot_table(index=["seed", "fold", "method", "mixup"], columns="metric", values="value")
    assert (wide["accuracy"] >= wide["accuracy_last_epoch"] - 1e-12).all()
    # steps: 8 training clips, batch 8 -> 1 step per epoch, 6 epochs in all, the held-out fold scored each
    (mel,) = [tr for tr in trials if tr.ids == {"dataset": "tones", "seed": 0, "fold": 1, "method": "mel",
                                                "mixup": False, "n_train": 8, "n_test": 8, "train_folds": "2"}]
    assert mel.history["global_step"].tolist() == [1, 2, 3, 4, 5, 6]
    assert mel.history["tag"].tolist() == ["R1", "R1", "R2", "R2", "R3", "R3"]
    assert mel.history["val_accuracy"].notna().all()
    assert mel.metrics["accuracy_last_epoch"] == mel.history["val_accuracy"].iloc[-1]
    assert mel.extra["steps_per_epoch"] == 1 and mel.extra["range_tests"] == []


def test_methods_of_a_replicate_start_from_the_same_weights():
    from audiolib.c19.training import init_model

    cfg = C19Config(width=0.0625)
    a, b = init_model(3, cfg, 1001), init_model(3, cfg, 1001)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_the_plain_task_is_learned(one_torch_thread):
    data = _tone_data(n_per_class=16, classes=2, folds=2)
    images = _synthetic_images(data, seed=1)
    cfg = C19Config(epoch_scale=0.05, lr_policy="fixed", lr=1e-2, width=0.0625, batch_size=8, device="cpu")
    table = tidy(cross_validate(data, images, cfg, methods=("baseline", "mel"), test_folds=[1], progress=False))
    acc = table[table["metric"] == "accuracy"].set_index("method")["value"]
    assert (acc > 0.75).all(), acc.to_dict()  # chance is 0.5; the class is a bright band


def test_tables_and_figures(small_cv, tmp_path):
    _, _, trials = small_cv
    table = tidy(trials)
    wide = c19.accuracy_wide(table)["tones"]
    assert list(wide.index) == ["fold 1", "fold 2", "mean", "std"]
    assert list(wide.columns) == ["baseline", "mel", "resize", "mel+resize"]
    summary = c19.with_summary(table)
    assert set(summary["fold"]) >= {"1", "2", "mean", "std"}
    mix = c19.mixup_wide(table)
    assert list(mix.index.get_level_values("mixup")) == ["off", "on"]
    c19.plot_boxplots(table).savefig(tmp_path / "box.png")
    sched = c19.schedule_table(c19.schedules(trials))
    assert len(sched) == 3 + 6 * 3 and set(sched["lr_last_layer"]) == {3e-3}  # one row per method and stage
    c19.plot_schedule(c19.schedules(trials), "tones", C19Config().cycle).savefig(tmp_path / "sched.png")


def test_summary_rows_and_the_wide_layout_by_hand():
    table = pd.DataFrame({"dataset": "d", "seed": 0, "fold": [1, 2, 3], "method": "mel", "mixup": False,
                          "metric": "accuracy", "value": [0.5, 0.7, 0.9]})
    out = c19.with_summary(table).set_index("fold")["value"]
    assert out["mean"] == pytest.approx(0.7) and out["std"] == pytest.approx(0.2)
    # the wide layout averages seeds within a fold first: fold 1 (0.5 + 0.7) / 2, fold 2 0.9
    two_seeds = table.assign(seed=[0, 1, 0], fold=[1, 1, 2])
    wide = c19.accuracy_wide(two_seeds)["d"]["mel"]
    assert wide.to_dict() == {"fold 1": 60.0, "fold 2": 90.0, "mean": 75.0, "std": pytest.approx(21.21, abs=0.005)}


def test_range_test_once_picks_a_rate_per_resolution_and_split(one_torch_thread):
    from audiolib.c19.training import choose_lrs, train_method

    data = _tone_data(n_per_class=8, classes=2, folds=2)
    images = _synthetic_images(data)
    cfg = C19Config(epoch_scale=0.01, lr_policy="range_test", width=0.0625, batch_size=8, range_test_steps=10,
                    device="cpu")
    train_idx = np.flatnonzero(c19.folds_of(data) != 1)
    lrs, tests = choose_lrs(data, images, train_idx, ["baseline", "mel"], cfg, fold=1)
    assert [(t["tag"], round(t["body_lr_factor"], 3)) for t in tests] == [("R3", 1.0), ("R3", 0.333), ("R1", 1.0),
                                                                          ("R1", 0.333), ("R2", 1.0), ("R2", 0.333)]
    rate = {(t["tag"], t["body_lr_factor"]): t["test"].suggestion for t in tests}
    assert lrs["lambda_2"] == lrs["lambda_3"] == lrs["lambda_2R3"] == rate[("R3", 1 / 3)]
    assert lrs["lambda_1"] == lrs["lambda_1R3"] == rate[("R3", 1.0)] and lrs["lambda_2R1"] == rate[("R1", 1 / 3)]
    assert sorted(lrs) == sorted(c19.paper.RATE_NAMES)
    for t in tests:
        assert cfg.range_test_bounds[0] <= t["test"].suggestion <= cfg.range_test_bounds[1]
    assert all((t["dataset"], t["fold"], t["method"]) == ("tones", 1, "any") for t in tests)
    table = c19.range_test_table(tests)
    assert {"loss", "smoothed_loss", "suggested_lr"} <= set(table["metric"])
    trial = train_method(data, images, train_idx, np.flatnonzero(c19.folds_of(data) == 1), "mel", cfg, fold=1, lrs=lrs)
    stages = trial.extra["stages"]
    assert [s.max_lr for _, s in stages] == [rate[(s.tag, s.body_lr_factor)] for _, s in stages]
    assert [s.max_lr for _, s in stages][:2] == [rate[("R1", 1.0)], rate[("R1", 1 / 3)]]
    c19.plot_range_tests(tests)


def test_cross_validate_rejects_absent_folds_and_methods():
    data = _tone_data()
    images = _synthetic_images(data)
    cfg = C19Config(epoch_scale=0.01, lr_policy="fixed", lr=1e-3, width=0.0625, batch_size=4, device="cpu")
    with pytest.raises(ValueError, match=r"test folds \[7\]"):
        cross_validate(data, images, cfg, test_folds=[7], progress=False)
    with pytest.raises(ValueError, match="unknown"):
        cross_validate(data, images, cfg, methods=("zoom",), progress=False)


def test_absent_real_data_falls_back_to_the_synthetic_corpus_once(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIOLIB_SHARED_DATA", str(tmp_path / "no-shared-data"))
    monkeypatch.setenv("AUDIOLIB_DATA", str(tmp_path / "data"))
    datasets, notes = c19.select_datasets(["esc10", "urbansound8k"], synthetic_clips=20)
    assert [d.name for d in datasets] == ["synthetic"]
    assert len(notes) == 2 and "synthetic default corpus runs in its place" in notes[0]
    assert "skipped" in notes[1]


def test_batchnorm_recalibration_is_the_average_of_batch_statistics():
    from audiolib.c19.training import recalibrate_batchnorm

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.BatchNorm2d(3))
    model[1].running_mean.fill_(5.0)  # stale statistics
    model.eval()
    data = ImageSet(torch.rand(10, 6, 7) * 3 + 1, np.zeros(10, dtype=int), 2)
    recalibrate_batchnorm(model, data, batches=2, batch_size=4, device="cpu", seed=7)
    order = torch.randperm(10, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        outs = [model[0](data.get_batch(order[b * 4:(b + 1) * 4])[0]) for b in range(2)]
    means = torch.stack([o.mean(dim=(0, 2, 3)) for o in outs]).mean(0)
    variances = torch.stack([o.var(dim=(0, 2, 3), unbiased=True) for o in outs]).mean(0)
    torch.testing.assert_close(model[1].running_mean, means, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(model[1].running_var, variances, rtol=1e-5, atol=1e-6)
    assert model[1].momentum == 0.1 and not model.training


def test_range_test_every_stage_sets_each_stage_from_its_own_test(one_torch_thread):
    from audiolib.c19.training import train_method

    data = _tone_data(n_per_class=8, classes=2, folds=2)
    images = _synthetic_images(data)
    cfg = C19Config(epoch_scale=0.01, lr_policy="range_test", range_test="every_stage", width=0.0625, batch_size=8,
                    range_test_steps=10, device="cpu")
    folds = c19.folds_of(data)
    trial = train_method(data, images, np.flatnonzero(folds != 1), np.flatnonzero(folds == 1), "mel", cfg, fold=1,
                         lrs={})
    tests, stages = trial.extra["range_tests"], trial.extra["stages"]
    assert len(tests) == len(stages) == 6                     # R1, R2, R3 with two rate splits each
    assert [t["stage"] for t in tests] == list(range(6))
    assert [s.max_lr for _, s in stages] == [t["test"].suggestion for t in tests]
    assert [(t["tag"], round(t["body_lr_factor"], 3)) for t in tests][:2] == [("R1", 1.0), ("R1", 0.333)]
    assert all(cfg.range_test_bounds[0] <= t["test"].suggestion <= cfg.range_test_bounds[1] for t in tests)
