"""SONYC-UST recipe: the task's ground truth on the real annotations and on hand-made files."""

from __future__ import annotations

import shutil
import tarfile
import warnings

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from audiolib.data import load_dataset
from audiolib.data.sonyc_ust import (
    N_COARSE,
    N_FINE,
    N_TRAIN,
    N_VALIDATE,
    download_sonyc_ust,
    load_sonyc_ust,
    load_taxonomy,
    read_annotations,
    sonyc_ust_ground_truth,
    taxonomy_columns,
)
from audiolib.metrics import sonyc_columns, sonyc_ground_truth

# Positive-class weights negatives / positives of the 2,351 training files, as published in the
# authors' code (github.com/microsoft/dcase-2019, load_dataset.py TRAIN_WEIGHTS), coarse 1..8 then
# fine in taxonomy order, computed from majority-vote (> 50 %) labels. positives = 2351 / (1 + w).
AUTHORS_TRAIN_WEIGHTS = [
    3.29014598540146, 6.733552631578948, 46.97959183673469, 20.76851851851852, 6.633116883116883,
    51.24444444444445, 3.817622950819672, 21.17924528301887, 122.73684210526316, 20.568807339449542,
    11.988950276243093, 155.73333333333332, 234.1, 35.734375, 179.84615384615384, 390.8333333333333,
    101.21739130434783, 46.97959183673469, 96.95833333333333, 260.22222222222223, 292.875, 782.6666666666666,
    17.511811023622048, 586.75, 28.759493670886076, 28.02469135802469, 260.22222222222223, 137.2941176470588,
    0, 0, 292.875, 4.6650602409638555, 137.2941176470588, 1174.5, 0, 586.75, 21.17924528301887,
]


@pytest.fixture(scope="module")
def sonyc(shared_data):
    root = shared_data / "sonyc-ust"
    if not (root / "annotations.csv").is_file():
        pytest.skip("SONYC-UST annotations absent from the shared data")
    return root


def test_real_annotations_counts_and_taxonomy(sonyc):
    taxonomy = load_taxonomy(sonyc)
    assert (len(taxonomy.coarse), len(taxonomy.fine)) == (N_COARSE, N_FINE) == (8, 29)
    assert taxonomy.parent["5-3"] == "5" and taxonomy.fine["5-3"] == "siren" and taxonomy.coarse["8"] == "dog"
    assert [c for c in taxonomy.fine if c.endswith("-X")] == ["1-X", "2-X", "4-X", "5-X", "6-X", "7-X"]
    train = sonyc_ust_ground_truth(sonyc, split="train")
    validate = sonyc_ust_ground_truth(sonyc, split="validate")
    assert (len(train), len(validate)) == (N_TRAIN, N_VALIDATE) == (2351, 443)
    assert list(train.columns[2:]) == sonyc_columns(taxonomy, "fine") + sonyc_columns(taxonomy, "coarse")


def test_labels_only_lists_every_annotated_file_without_audio(sonyc):
    clips = load_sonyc_ust(sonyc, audio=False)
    assert len(clips) == N_TRAIN + N_VALIDATE and clips.unusable == []
    assert clips.manifest["path"].isna().all()
    validate = sonyc_ust_ground_truth(sonyc, split="validate").set_index("audio_filename")
    fine = taxonomy_columns(load_taxonomy(sonyc), "fine")
    rows = clips.manifest[clips.manifest["split"] == "validate"].set_index("clip_id")
    for name in validate.index[:50]:
        assert rows.loc[name, "labels"] == tuple(c.split("_")[0] for c in fine if validate.loc[name, c] > 0)
    with pytest.raises(FileNotFoundError, match="labels only"):
        clips.load(0)


def test_train_majority_labels_match_the_authors_published_weights(sonyc):
    taxonomy = load_taxonomy(sonyc)
    train = sonyc_ust_ground_truth(sonyc, split="train", threshold=0.5)
    order = taxonomy_columns(taxonomy, "coarse") + taxonomy_columns(taxonomy, "fine")
    positives = train[order].sum().to_numpy()
    expected = [round(N_TRAIN / (1 + w)) if w > 0 else 0 for w in AUTHORS_TRAIN_WEIGHTS]
    assert positives.astype(int).tolist() == expected
    # and the weights themselves, to the last digit
    with np.errstate(divide="ignore"):
        weights = np.where(positives > 0, (N_TRAIN - positives) / positives, 0.0)
    np.testing.assert_allclose(weights, AUTHORS_TRAIN_WEIGHTS, rtol=1e-12)


def test_soft_targets_are_the_agreement(sonyc):
    taxonomy = load_taxonomy(sonyc)
    cols = taxonomy_columns(taxonomy, "all")
    soft = sonyc_ust_ground_truth(sonyc, split="train", soft=True)
    hard = sonyc_ust_ground_truth(sonyc, split="train", threshold=0.5)
    any_one = sonyc_ust_ground_truth(sonyc, split="train", threshold=0.0)
    assert ((soft[cols] >= 0) & (soft[cols] <= 1)).all().all()
    assert ((soft[cols] > 0.5).astype(float) == hard[cols]).all().all()
    assert ((soft[cols] > 0).astype(float) == any_one[cols]).all().all()
    assert (any_one[cols].sum() >= hard[cols].sum()).all()
    # recompute one file's agreement by hand from its volunteer rows
    raw = read_annotations(sonyc)
    name = soft["audio_filename"].iloc[7]
    votes = raw[(raw.audio_filename == name) & (raw.annotator_id > 0)]["1_engine_presence"]
    answered = votes[votes != -1]
    assert soft.loc[soft.audio_filename == name, "1_engine"].item() == pytest.approx((answered == 1).mean())


def test_validate_truth_is_the_verified_rows(sonyc):
    taxonomy = load_taxonomy(sonyc)
    ours = sonyc_ust_ground_truth(sonyc, split="validate")
    official = sonyc_ground_truth(sonyc / "annotations.csv", split="validate")
    cols = sonyc_columns(taxonomy, "fine") + sonyc_columns(taxonomy, "coarse")
    assert ours["audio_filename"].tolist() == official["audio_filename"].tolist()
    np.testing.assert_array_equal(ours[cols].to_numpy(float), official[cols].to_numpy(float))
    raw = read_annotations(sonyc)
    verified = raw[(raw.split == "validate") & (raw.annotator_id == 0)].sort_values("audio_filename")
    np.testing.assert_array_equal(ours[cols].to_numpy(float), verified[[f"{c}_presence" for c in cols]].to_numpy(float))


def test_clipset_without_audio_lists_every_file_as_unusable(sonyc):
    with pytest.warns(UserWarning, match="2794 of 2794"):
        clips = load_sonyc_ust(sonyc)
    assert len(clips) == 0 and len(clips.unusable) == N_TRAIN + N_VALIDATE
    assert {u["reason"] for u in clips.unusable} == {"audio folder absent"}
    assert "0 of 2794 annotated files" in clips.description
    with pytest.raises(FileNotFoundError, match="no usable audio"):
        load_sonyc_ust(sonyc, on_missing="error")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert load_dataset("sonyc-ust", root=sonyc).name == "sonyc_ust"


# --- hand-made files ---------------------------------------------------------------------------
TAXONOMY_YAML = """\
fine:
    1:
        1: small-engine
        X: engine-of-uncertain-size
    2:
        1: dog-barking
coarse:
    1: engine
    2: dog
"""
PRESENCE = ["1-1_small-engine_presence", "1-X_engine-of-uncertain-size_presence", "2-1_dog-barking_presence",
            "1_engine_presence", "2_dog_presence"]


def _write_dataset(root, rows, audio=()):
    root.mkdir(parents=True, exist_ok=True)
    (root / "dcase-ust-taxonomy.yaml").write_text(TAXONOMY_YAML)
    table = pd.DataFrame(rows, columns=["split", "sensor_id", "audio_filename", "annotator_id"] + PRESENCE)
    table.to_csv(root / "annotations.csv", index=False)
    for split, name in audio:
        (root / "audio" / split).mkdir(parents=True, exist_ok=True)
        sf.write(root / "audio" / split / name, np.zeros(4410, dtype="float32"), 44100)
    return root


ROWS = [
    # train a.wav: 3 volunteers; 1-1 marked by 2 of 3 -> 1; 1-X marked by 1 of 2 answers (-1 skipped) -> 0.5 -> 0
    ["train", 1, "a.wav", 11, 1, 1, 0, 1, 0],
    ["train", 1, "a.wav", 12, 1, 0, 0, 1, 0],
    ["train", 1, "a.wav", 13, 0, -1, 0, 0, 1],
    # train b.wav: one volunteer, dog only
    ["train", 2, "b.wav", 11, 0, 0, 1, 0, 1],
    # validate c.wav: a volunteer, an organiser, and the verified row (only the latter counts)
    ["validate", 3, "c.wav", 21, 1, 1, 1, 1, 1],
    ["validate", 3, "c.wav", -1, 0, 0, 1, 0, 1],
    ["validate", 3, "c.wav", 0, 0, 1, 0, 1, 0],
]


def test_ground_truth_rules_on_a_hand_made_file(tmp_path):
    root = _write_dataset(tmp_path / "ust", ROWS)
    train = sonyc_ust_ground_truth(root, split="train").set_index("audio_filename")
    assert train.loc["a.wav", ["1-1_small-engine", "1-X_engine-of-uncertain-size", "2-1_dog-barking",
                               "1_engine", "2_dog"]].tolist() == [1.0, 0.0, 0.0, 1.0, 0.0]
    assert train.loc["b.wav", "2_dog"] == 1.0
    soft = sonyc_ust_ground_truth(root, split="train", soft=True).set_index("audio_filename")
    assert soft.loc["a.wav", "1-1_small-engine"] == pytest.approx(2 / 3)
    assert soft.loc["a.wav", "1-X_engine-of-uncertain-size"] == pytest.approx(1 / 2)
    assert soft.loc["a.wav", "2_dog"] == pytest.approx(1 / 3)
    loose = sonyc_ust_ground_truth(root, split="train", threshold=0.25).set_index("audio_filename")
    assert loose.loc["a.wav", "1-X_engine-of-uncertain-size"] == 1.0
    validate = sonyc_ust_ground_truth(root, split="validate").set_index("audio_filename")
    assert validate.loc["c.wav"].drop("split").tolist() == [0.0, 1.0, 0.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="threshold"):
        sonyc_ust_ground_truth(root, split="train", threshold=1.0)
    with pytest.raises(ValueError, match="no annotation row in split 'test'"):
        sonyc_ust_ground_truth(root, split="test")


def test_bad_annotation_files_are_named(tmp_path):
    root = _write_dataset(tmp_path / "bad", [ROWS[0][:3] + [11, 2, 0, 0, 1, 0]])
    with pytest.raises(ValueError, match=r"annotations.csv: presence values must be -1, 0 or 1; row 2 column '1-1_small"):
        read_annotations(root)
    table = pd.read_csv(root / "annotations.csv").drop(columns=["2_dog_presence"])
    table.to_csv(root / "annotations.csv", index=False)
    with pytest.raises(ValueError, match=r"annotations.csv: 1 presence column\(s\) of the taxonomy missing"):
        read_annotations(root)
    dup = _write_dataset(tmp_path / "dup", ROWS + [["validate", 3, "c.wav", 0, 0, 0, 0, 0, 0]])
    with pytest.raises(ValueError, match="several verified rows for 'c.wav'"):
        sonyc_ust_ground_truth(dup, split="validate")
    unverified = _write_dataset(tmp_path / "unv", ROWS[:-1])
    with pytest.raises(ValueError, match="no verified"):
        sonyc_ust_ground_truth(unverified, split="validate")
    with pytest.raises(FileNotFoundError, match="taxonomy"):
        load_taxonomy(tmp_path / "nowhere")


def test_clipset_with_audio(tmp_path):
    root = _write_dataset(tmp_path / "ust", ROWS, audio=[("train", "a.wav"), ("validate", "c.wav")])
    with pytest.raises(ValueError, match="split 'train' has 2 files, the SONYC-UST v1 release has 2351"):
        load_sonyc_ust(root)
    with pytest.warns(UserWarning, match="1 of 3 clips"):
        clips = load_sonyc_ust(root, check_counts=False)
    assert clips.classes == ["1-1", "1-X", "2-1"] and clips.taxonomy.parent["2-1"] == "2"
    m = clips.manifest.set_index("clip_id")
    assert m.loc["a.wav", "labels"] == ("1-1",) and m.loc["a.wav", "coarse_labels"] == ("1",)
    assert m.loc["a.wav", "fine_agreement"] == pytest.approx((2 / 3, 1 / 2, 0.0))
    assert m.loc["c.wav", "labels"] == ("1-X",) and m.loc["c.wav", "coarse_labels"] == ("1",)
    assert [u["clip_id"] for u in clips.unusable] == ["b.wav"]
    wave, sr = clips.load(0)
    assert sr == 44100 and wave.shape == (4410,)


def test_download_from_a_local_mirror(tmp_path):
    mirror = _write_dataset(tmp_path / "mirror", ROWS, audio=[("train", "a.wav"), ("train", "b.wav"),
                                                              ("validate", "c.wav")])
    with tarfile.open(mirror / "audio.tar.gz", "w:gz") as tar:
        tar.add(mirror / "audio", arcname="audio")
    shutil.rmtree(mirror / "audio")
    root = download_sonyc_ust(tmp_path / "cache", url=mirror.as_uri(), progress=False)
    assert (root / ".complete").is_file() and (root / "audio" / "validate" / "c.wav").is_file()
    assert not (root / "audio.tar.gz").exists()
    assert download_sonyc_ust(root, url="http://127.0.0.1:9/unreachable") == root  # complete: no network
    (mirror / "annotations.csv").write_text((mirror / "annotations.csv").read_text()
                                            + "train,2,d.wav,11,0,0,1,0,1\n")
    with pytest.raises(RuntimeError, match="1 annotated files are absent"):
        download_sonyc_ust(tmp_path / "cache2", url=mirror.as_uri(), progress=False)
