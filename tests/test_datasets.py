"""ESC-50 / ESC-10 and UrbanSound8K recipes on the real shared subsets, plus the registry.

The real-data tests read ``audiolib.paths.shared_data_root()`` and skip with the reason when it
is absent; the layout tests build tiny fake releases in a temporary folder.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import soundfile as sf

from audiolib import paths
from audiolib.data import ClipSet, list_datasets, load_dataset
from audiolib.data.esc50 import load_esc50
from audiolib.data.urbansound8k import load_urbansound8k


def _shared(name: str) -> Path:
    root = paths.shared_data_root()
    if root is None or not (root / name).is_dir():
        pytest.skip(f"real data subset '{name}' not found (audiolib.paths.shared_data_root() = {root}); "
                    "these tests run where ../shared/data exists")
    return root / name


@pytest.fixture(scope="module")
def esc_root():
    return _shared("esc50")


@pytest.fixture(scope="module")
def us8k_root():
    return _shared("urbansound8k")


# ---- ESC-50 / ESC-10 on the shared subset


def test_esc50_reads_all_2000_rows_and_reports_absent_audio(esc_root):
    with pytest.warns(UserWarning, match="1600 of 2000"):
        clips = load_esc50(esc_root)
    assert len(clips) + len(clips.unusable) == 2000
    assert len(clips) == 400 and len(clips.classes) == 50
    absent = {u["clip_id"] for u in clips.unusable}
    assert absent.isdisjoint(clips.manifest["clip_id"])
    assert all("not found" in u["reason"] for u in clips.unusable)
    assert "400 of 2000" in clips.description and "shared subset" in clips.description


def test_esc10_is_complete_400_clips_10_classes_5_folds(esc_root):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing missing, so no warning
        clips = load_esc50(esc_root, esc10=True)
    assert isinstance(clips, ClipSet) and clips.name == "esc10"
    assert len(clips) == 400 and not clips.unusable
    assert len(clips.classes) == 10 and set(clips.manifest["category"]) == set(clips.classes)
    assert clips.manifest["fold"].value_counts().sort_index().to_dict() == {f: 80 for f in range(1, 6)}
    assert (clips.label_counts() == 40).all()
    assert clips.manifest["esc10"].all()
    assert clips.description == "ESC-10 (400 clips, 10 classes, folds 1-5, shared subset)"
    # the metadata names .wav, the shared copy holds .ogg: found by stem
    assert clips.manifest["filename"].str.endswith(".wav").all()
    assert clips.manifest["path"].str.endswith(".ogg").all()


def test_esc10_clip_loads_at_44k1(esc_root):
    clips = load_esc50(esc_root, esc10=True, folds=[2])
    assert len(clips) == 80 and set(clips.manifest["fold"]) == {2}
    waveform, sr = clips.load(0)
    assert sr == 44100 == clips.sample_rate
    assert waveform.ndim == 1 and 4.9 * sr <= waveform.shape[0] <= 5.1 * sr
    resampled = load_esc50(esc_root, esc10=True, folds=[2], sample_rate=16000)
    waveform16, sr16 = resampled.load(0)
    assert sr16 == 16000 and abs(waveform16.shape[0] - waveform.shape[0] * 16000 / 44100) <= 1


def test_esc50_on_missing_error_names_files(esc_root):
    with pytest.raises(FileNotFoundError, match=r"1600 of 2000 .*first: .*\.wav"):
        load_esc50(esc_root, on_missing="error")
    with pytest.raises(ValueError, match="on_missing"):
        load_esc50(esc_root, on_missing="ignore")
    with pytest.raises(ValueError, match="folds"):
        load_esc50(esc_root, folds=[6])


# ---- UrbanSound8K on the shared subset


@pytest.fixture(scope="module")
def us8k(us8k_root):
    with pytest.warns(UserWarning, match="fold 3: 538 missing"):
        return load_urbansound8k(us8k_root)


def test_us8k_reads_all_8732_rows(us8k):
    assert len(us8k) + len(us8k.unusable) == 8732
    assert us8k.classes == ["air_conditioner", "car_horn", "children_playing", "dog_bark", "drilling",
                            "engine_idling", "gun_shot", "jackhammer", "siren", "street_music"]
    assert list(us8k.manifest.columns) == ["clip_id", "path", "labels", "fold", "classID", "class",
                                           "salience", "start", "end", "fsID", "filename"]


def test_us8k_folds_1_2_complete_fold3_partial_rest_reported(us8k_root, us8k):
    meta = pd.read_csv(us8k_root / "metadata" / "UrbanSound8K.csv")
    listed = meta["fold"].value_counts().to_dict()
    present = us8k.manifest["fold"].value_counts().to_dict()
    assert present[1] == listed[1] == 873 and present[2] == listed[2] == 888
    assert present[3] == 387 and set(present) == {1, 2, 3}
    reasons = pd.Series([u["reason"] for u in us8k.unusable])
    assert reasons.str.contains("not found").sum() == listed[3] - 387
    assert reasons.str.contains("folder audio/fold").sum() == sum(listed[f] for f in range(4, 11))
    assert "folds 1,2 complete, fold 3 partial" in us8k.description


def test_us8k_metadata_row_naming_a_missing_file_is_reported_not_dropped(us8k_root, us8k):
    meta = pd.read_csv(us8k_root / "metadata" / "UrbanSound8K.csv")
    fold3 = meta[meta["fold"] == 3]
    on_disk = {p.stem for p in (us8k_root / "audio" / "fold3").iterdir()}
    missing_row = fold3[~fold3["slice_file_name"].map(lambda f: Path(f).stem).isin(on_disk)].iloc[0]
    stem = Path(missing_row["slice_file_name"]).stem
    entry = next(u for u in us8k.unusable if u["clip_id"] == stem)
    assert entry["path"].endswith(f"fold3/{missing_row['slice_file_name']}")
    assert stem not in set(us8k.manifest["clip_id"])


def test_us8k_stem_with_other_extension_is_found_and_loads(us8k):
    row = us8k.manifest.iloc[0]
    assert row["filename"].endswith(".wav") and row["path"].endswith(".ogg")
    waveform, sr = us8k.load(0)
    assert sr == 22050 and waveform.shape == (88200,)


def test_us8k_fold_selection_and_errors(us8k_root):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clips = load_urbansound8k(us8k_root, folds=[1, 2], verify=True)
    assert len(clips) == 873 + 888 and not clips.unusable and clips.sample_rate == 22050
    with pytest.raises(FileNotFoundError, match="fold3"):
        load_urbansound8k(us8k_root, folds=3, on_missing="error")
    with pytest.raises(ValueError, match="folds"):
        load_urbansound8k(us8k_root, folds=[0])


# ---- layout checks on fake releases (no shared data needed)


def _fake_esc50(root: Path, rows: int = 2000) -> Path:
    meta = pd.DataFrame({
        "filename": [f"{1 + i % 5}-{i}-A-{i % 50}.wav" for i in range(rows)],
        "fold": [1 + i % 5 for i in range(rows)],
        "target": [i % 50 for i in range(rows)],
        "category": [f"class{i % 50:02d}" for i in range(rows)],
        "esc10": [(i % 50) < 10 and (i // 50) < 40 for i in range(rows)],
        "src_file": [str(i) for i in range(rows)],
        "take": ["A"] * rows,
    })
    (root / "meta").mkdir(parents=True)
    (root / "audio").mkdir()
    meta.to_csv(root / "meta" / "esc50.csv", index=False)
    return root


def test_esc50_row_count_is_asserted(tmp_path):
    root = _fake_esc50(tmp_path / "esc50", rows=1999)
    with pytest.raises(ValueError, match="expected the 2000 rows.*found 1999"):
        load_esc50(root)


def test_esc50_missing_metadata_says_how_to_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="download_esc50"):
        load_esc50(tmp_path / "nowhere")


def test_esc50_extension_preference_and_empty_files(tmp_path):
    root = _fake_esc50(tmp_path / "esc50")
    tone = np.zeros(441, dtype=np.float32)
    sf.write(root / "audio" / "1-0-A-0.flac", tone, 44100)
    sf.write(root / "audio" / "1-0-A-0.wav", tone, 44100)  # WAV preferred over FLAC
    sf.write(root / "audio" / "2-1-A-1.ogg", tone, 44100)
    (root / "audio" / "3-2-A-2.wav").write_bytes(b"")  # empty: unusable, with the reason
    with pytest.warns(UserWarning, match="1998 of 2000"):
        clips = load_esc50(root)
    paths_by_id = dict(zip(clips.manifest["clip_id"], clips.manifest["path"]))
    assert paths_by_id["1-0-A-0"].endswith(".wav") and paths_by_id["2-1-A-1"].endswith(".ogg")
    assert {"clip_id": "3-2-A-2", "path": str(root / "audio" / "3-2-A-2.wav"),
            "reason": "empty file (0 bytes)"} in clips.unusable


def test_us8k_row_count_is_asserted(tmp_path, us8k_root):
    root = tmp_path / "us8k"
    (root / "metadata").mkdir(parents=True)
    meta = pd.read_csv(us8k_root / "metadata" / "UrbanSound8K.csv").iloc[:-1]
    meta.to_csv(root / "metadata" / "UrbanSound8K.csv", index=False)
    with pytest.raises(ValueError, match="expected the 8732 rows.*found 8731"):
        load_urbansound8k(root)


def test_unreadable_file_reported_with_verify(tmp_path, esc_root):
    root = tmp_path / "esc50"
    (root / "meta").mkdir(parents=True)
    shutil.copy(esc_root / "meta" / "esc50.csv", root / "meta" / "esc50.csv")
    (root / "audio").mkdir()
    meta = pd.read_csv(root / "meta" / "esc50.csv")
    first, second = meta[meta["esc10"]]["filename"].iloc[:2]
    shutil.copy(esc_root / "audio" / first.replace(".wav", ".ogg"), root / "audio" / first.replace(".wav", ".ogg"))
    (root / "audio" / second).write_text("not audio")
    with pytest.warns(UserWarning, match="399 of 400"):
        clips = load_esc50(root, esc10=True, verify=True)
    assert len(clips) == 1
    bad = next(u for u in clips.unusable if u["clip_id"] == Path(second).stem)
    assert bad["reason"].startswith("unreadable: not a readable audio file")


# ---- registry


def test_registry_names_and_dispatch():
    assert set(list_datasets()) >= {"synthetic", "esc50", "esc10", "urbansound8k", "sonyc_ust"}
    clips = load_dataset("synthetic", n_clips=4, seed=1)
    assert clips.name == "synthetic" and len(clips) == 4
    with pytest.raises(ValueError, match="unknown dataset 'nope'.*esc10.*synthetic"):
        load_dataset("nope")
    with pytest.raises(ValueError, match="fixes"):
        load_dataset("esc10", esc10=False)


def test_registry_esc10_alias(esc_root):
    clips = load_dataset("esc10", root=esc_root)
    assert clips.name == "esc10" and len(clips) == 400


# -- the contract every registered dataset keeps (as the model tests iterate list_models()) -------
@pytest.mark.parametrize("name", list_datasets())
def test_every_dataset_keeps_the_contract(name, shared_data):
    from audiolib.data import dataset_recipes

    module_name, function, _ = dataset_recipes()[name]
    import importlib
    import inspect

    loader = getattr(importlib.import_module(module_name), function)
    small = {"n_clips": 6} if "n_clips" in inspect.signature(loader).parameters else {}
    try:
        clips = load_dataset(name, **small)
    except FileNotFoundError as err:          # data absent here: the message must say where it looked
        assert "/" in str(err) or name in str(err), f"{name}: unhelpful error {err}"
        pytest.skip(f"{name}: no data here ({err})")
    assert isinstance(clips, ClipSet)
    if len(clips) == 0:                       # every clip's audio absent: each must be reported, none dropped
        assert clips.unusable, f"{name}: an empty ClipSet that reports no unusable clip"
        pytest.skip(f"{name}: no audio here ({len(clips.unusable)} clips reported unusable)")
    manifest = clips.manifest
    assert {"clip_id", "path", "labels"} <= set(manifest.columns), name
    assert manifest["clip_id"].is_unique, f"{name}: clip ids repeat"
    assert set(l for labels in manifest["labels"] for l in labels) <= set(clips.classes), f"{name}: unknown labels"
    assert clips.description, f"{name}: no description"
    assert "fold" in manifest.columns or "split" in manifest.columns, f"{name}: no folds or splits"
    wave, rate = clips.loader(manifest.iloc[0])
    assert wave.ndim == 1 and wave.dtype == torch.float32 and rate > 0 and torch.isfinite(wave).all(), name
