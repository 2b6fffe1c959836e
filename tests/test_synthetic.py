"""The synthetic default corpus: determinism, label structure, long tail, levels, taxonomy."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import yaml

from audiolib import paths
from audiolib.data import synthetic as syn
from audiolib.data.synthetic import SyntheticSpec, load_synthetic, long_recording, render_clip


@pytest.fixture(scope="module")
def corpus2000():
    return load_synthetic(n_clips=2000, seed=0)


def test_same_seed_same_audio_and_clip_independent_of_n_clips():
    small, large = load_synthetic(n_clips=12, seed=3), load_synthetic(n_clips=300, seed=3)
    assert small.manifest.equals(large.manifest.iloc[:12].reset_index(drop=True))
    for i in (0, 7, 11):
        a, sr_a = small.load(i)
        b, sr_b = large.load(i)
        assert sr_a == sr_b == 16000 and torch.equal(a, b)
    assert torch.equal(render_clip(SyntheticSpec(seed=3), 250), large.load(250)[0])


def test_different_seed_or_index_gives_different_audio():
    spec = SyntheticSpec(seed=0)
    assert not torch.equal(render_clip(spec, 0), render_clip(spec, 1))
    assert not torch.equal(render_clip(spec, 0), render_clip(SyntheticSpec(seed=1), 0))


def test_clip_format():
    clips = load_synthetic(n_clips=6, seed=0)
    for i in range(len(clips)):
        x, sr = clips.load(i)
        assert x.dtype == torch.float32 and x.shape == (160000,) and sr == 16000
        assert torch.isfinite(x).all() and float(x.abs().max()) <= 0.99 + 1e-6
        assert float(x.std()) > 1e-4  # not silent
    x = render_clip(SyntheticSpec(sample_rate=22050, clip_seconds=4.0), 0)
    assert x.shape == (88200,)


def test_manifest_columns_labels_and_splits(corpus2000):
    m = corpus2000.manifest
    assert list(m.columns) == ["clip_id", "path", "labels", "coarse_labels", "split", "n_events", "clip_index"]
    assert m["clip_id"].is_unique and m["path"].isna().all()
    assert (m["labels"].map(len) >= 1).all()
    assert (m["labels"].map(len) <= m["n_events"]).all() and m["n_events"].between(1, 4).all()
    parent = corpus2000.taxonomy.parent
    for labels, coarse in zip(m["labels"], m["coarse_labels"]):
        assert set(coarse) == {parent[f] for f in labels}
    fractions = m["split"].value_counts(normalize=True)
    assert set(fractions.index) == {"train", "validate", "test"}
    assert fractions["train"] == pytest.approx(0.70, abs=0.04)
    assert fractions["validate"] == pytest.approx(0.15, abs=0.03)
    assert fractions["test"] == pytest.approx(0.15, abs=0.03)


def test_all_29_classes_appear_and_prior_is_long_tailed(corpus2000):
    counts = corpus2000.label_counts()
    assert len(counts) == 29 and (counts > 0).all()
    assert counts.max() / counts.min() > 5  # long tail: event prior ratio is 29 at exponent 1
    prior = syn.class_prior(SyntheticSpec())
    rank_corr = np.corrcoef(np.argsort(np.argsort(prior)), np.argsort(np.argsort(counts.values)))[0, 1]
    assert rank_corr > 0.9  # clip frequencies follow the Zipf prior
    flat = load_synthetic(n_clips=2000, seed=0, zipf_exponent=0.0).label_counts()
    assert flat.max() / flat.min() < 2.0  # exponent 0: (nearly) uniform


def test_taxonomy_structure_and_custom_label_sets():
    tax = syn.synthetic_taxonomy()
    assert len(tax.coarse) == 8 and len(tax.fine) == 29
    assert [len(tax.fine_of(c)) for c in tax.coarse] == list(syn.DEFAULT_FINE_PER_COARSE)
    assert all(code == f"{tax.parent[code]}-{code.split('-')[1]}" for code in tax.fine)
    big = load_synthetic(n_clips=50, seed=0, fine_per_coarse=(8,) * 8)
    assert len(big.classes) == 64 and big.classes[-1] == "8-8" and big.taxonomy.fine["8-8"].endswith("8of8")
    big.taxonomy.validate_labels({l for ls in big.manifest["labels"] for l in ls}, level="fine", where="test")
    with pytest.raises(ValueError, match="fine_per_coarse"):
        SyntheticSpec(fine_per_coarse=(3,) * 9)
    with pytest.raises(ValueError, match="zipf_exponent"):
        SyntheticSpec(zipf_exponent=-1)


def test_structure_matches_the_sonyc_ust_taxonomy_file():
    shared = paths.shared_data_root()
    yaml_path = shared / "sonyc-ust" / "dcase-ust-taxonomy.yaml" if shared else None
    if yaml_path is None or not yaml_path.is_file():
        pytest.skip("SONYC-UST taxonomy file not found under audiolib.paths.shared_data_root()")
    official = yaml.safe_load(yaml_path.read_text())
    coarse = {str(k): v for k, v in official["coarse"].items()}
    fine = {f"{c}-{f}": name for c, classes in official["fine"].items() for f, name in classes.items()}
    per_coarse = tuple(len(official["fine"][int(c)]) for c in sorted(coarse, key=int))
    assert per_coarse == syn.DEFAULT_FINE_PER_COARSE and len(fine) == 29
    assert syn.SONYC_COARSE == coarse and syn.SONYC_FINE == fine
    tax = syn.synthetic_taxonomy()
    assert {syn.SONYC_CODES[c] for c in tax.fine} == set(fine)  # one-to-one onto SONYC's codes
    assert all(syn.SONYC_CODES[c] == c for c in tax.fine if c in fine)  # same code where SONYC has it
    assert syn.SONYC_NAMES["1-4"] == "engine-of-uncertain-size" and syn.SONYC_NAMES["8"] == "dog"


def test_event_level_matches_requested_snr():
    spec = SyntheticSpec(background_db=(-40.0, -40.0))
    n = 3 * spec.sample_rate
    for class_index in range(29):
        event = syn.Event(class_index, onset=1.0, duration=1.5, snr_db=6.0, u=0.5)
        background = syn._render(spec, [], n, np.random.default_rng(5))
        mixed = syn._render(spec, [event], n, np.random.default_rng(5))
        span = slice(spec.sample_rate, spec.sample_rate + int(1.5 * spec.sample_rate))
        difference = mixed - background
        ratio_db = 20 * np.log10(np.sqrt(np.mean(difference[span].astype(np.float64) ** 2))
                                 / np.sqrt(np.mean(background.astype(np.float64) ** 2)))
        assert ratio_db == pytest.approx(6.0, abs=0.05), class_index
        assert np.abs(difference[: spec.sample_rate - 1]).max() == 0.0  # nothing before the onset


def _centroid(x, sr):
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / sr)
    return float((spectrum * freqs).sum() / spectrum.sum())


@pytest.mark.parametrize("family", [0, 2, 3, 5, 6, 7])
def test_fine_classes_move_along_the_family_parameter(family):
    """Within a family, a higher fine class has a higher spectral centroid (averaged over draws)."""
    sr, n = 16000, 16000
    render = syn.SOUND_FAMILIES[family].render
    centroids = []
    for u in (0.1, 0.5, 0.9):
        draws = [_centroid(render(np.random.default_rng(s), u, n, sr), sr) for s in range(6)]
        centroids.append(np.mean(draws))
    assert centroids[0] < centroids[1] < centroids[2], centroids


def test_click_train_rate_follows_the_parameter():
    sr, n = 16000, 4 * 16000
    counts = []
    for u in (0.1, 0.5, 0.9):
        clicks = syn._click_train(np.random.default_rng(0), u, n, sr)
        smooth = np.convolve(np.abs(clicks), np.ones(64) / 64, mode="same")  # 4 ms envelope
        envelope = smooth > 0.25 * smooth.max()
        counts.append(int(np.sum(envelope[1:] & ~envelope[:-1])))
    expected = [4 * syn._logmap(u, 1.5, 30.0) for u in (0.1, 0.5, 0.9)]
    assert counts[0] < counts[1] < counts[2]
    for got, want in zip(counts, expected):
        assert got == pytest.approx(want, rel=0.35)


def test_long_recording_timeline():
    waveform, sr, events = long_recording(seconds=30, seed=2)
    assert waveform.shape == (30 * sr,) and torch.isfinite(waveform).all()
    assert len(events) == 12 and events["onset"].is_monotonic_increasing
    assert (events["onset"] >= 0).all() and (events["offset"] <= 30 + 1e-9).all()
    tax = syn.synthetic_taxonomy()
    assert set(events["label"]) <= set(tax.fine)
    assert all(tax.parent[l] == c for l, c in zip(events["label"], events["coarse"]))
    again, _, events_again = long_recording(seconds=30, seed=2)
    assert torch.equal(waveform, again) and events.equals(events_again)


def test_loader_is_picklable_and_description_names_the_data():
    clips = load_synthetic(n_clips=3, seed=0)
    loader = pickle.loads(pickle.dumps(clips.loader))
    assert torch.equal(loader(clips.manifest.iloc[1])[0], clips.load(1)[0])
    assert "synthetic" in clips.description and "3 clips" in clips.description
    assert clips.fingerprint() == load_synthetic(n_clips=3, seed=0).fingerprint()
    assert clips.fingerprint() != load_synthetic(n_clips=3, seed=1).fingerprint()
