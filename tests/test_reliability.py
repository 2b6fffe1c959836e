"""Bad input, bad parameters, interruptions: the failure behaviour as a tested feature, end to end.

A corpus of broken files is generated here (in ``tmp_path``), listed in a manifest like a dataset's
metadata, and pushed through every stage a notebook uses: ``load_audio``, the scan, the patch
builder, a run folder and a few training steps. Each input must either work correctly (resampled,
mixed down, padded where the method says so, with the values checked) or give one clear error
naming the file and the reason; the scan lists exactly the unusable ones and nothing is dropped
silently. Then the other bad inputs of the workbook: labels outside the taxonomy, a corrupt
TFRecord record, damaged HDF5 files, a checkpoint of another architecture (or one that would
run code), bad notebook parameters, and runs killed with SIGKILL.
"""

from __future__ import annotations

import hashlib
import json
import re
import signal
import struct
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from audiolib import experiments, params, results, run
from audiolib.audio import AudioError, load_audio
from audiolib.data import audioset
from audiolib.data import patches as patches_module
from audiolib.data._recipes import FileLoader
from audiolib.data.base import ClipSet, Taxonomy
from audiolib.data.patches import build_patchset
from audiolib.data.scan import UnusableDataError, scan_clips
from audiolib.models import create_model
from audiolib.checkpoints import load_checkpoint, save_checkpoint
from audiolib.train import TrainConfig, fit

SR = 16000  # the rate the corpus is loaded at (the VGGish front end's)


# --- the corpus -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One file of the corpus: how to make it and what it must give.

    ``error`` is ``None`` for a file that must load (then ``seconds`` is its duration and
    ``check`` names the property of the samples to verify), else a text the AudioError's reason
    must contain.
    """

    name: str
    relpath: str
    error: str | None
    seconds: float = 1.0
    check: str = "tone"


def _tone(seconds: float, sr: int, freq: float = 440.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _riff(fmt: bytes, data: bytes) -> bytes:
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


CASES = [
    Case("tone", "tone.wav", None),
    Case("tone_flac", "tone.flac", None),
    Case("silence", "silence.wav", None, check="zeros"),
    Case("six_channels", "six_channels.wav", None, check="channel_mean"),
    Case("rate_8k", "rate_8k.wav", None),
    Case("rate_96k", "rate_96k.wav", None),
    Case("short", "short_0.5s.wav", None, seconds=0.5),
    Case("odd_path", "dir with spaces/clip ä é 音 (1).wav", None),
    Case("truncated_wav", "truncated.wav", "truncated"),
    Case("truncated_flac", "truncated.flac", "truncated or corrupt"),
    Case("zero_bytes", "zero_bytes.wav", "empty file (0 bytes)"),
    Case("text_file", "readme.wav", "not a readable audio file"),
    Case("nan", "nan.wav", "non-finite samples"),
    Case("inf", "inf.wav", "non-finite samples"),
    Case("zero_channels", "zero_channels.wav", "0 channels"),
    Case("no_samples", "no_samples.wav", "0 samples"),
    Case("missing", "missing/never_written.wav", "file not found"),
]
GOOD = [c for c in CASES if c.error is None]
BAD = [c for c in CASES if c.error is not None]


def make_corpus(root: Path) -> dict[str, Path]:
    """Write every file of :data:`CASES` under ``root``; return ``name -> path``."""
    root.mkdir(parents=True, exist_ok=True)
    paths = {c.name: root / c.relpath for c in CASES}
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(paths["tone"], _tone(1.0, SR), SR, subtype="PCM_16")
    sf.write(paths["tone_flac"], _tone(1.0, SR), SR)
    sf.write(paths["silence"], np.zeros(SR, np.float32), SR, subtype="PCM_16")
    six = np.stack([_tone(1.0, SR, 200.0 * (k + 1), 0.1) for k in range(6)], axis=1)
    sf.write(paths["six_channels"], six, SR, subtype="FLOAT")
    sf.write(paths["rate_8k"], _tone(1.0, 8000), 8000, subtype="PCM_16")
    sf.write(paths["rate_96k"], _tone(1.0, 96000), 96000, subtype="PCM_24")
    sf.write(paths["short"], _tone(0.5, SR), SR, subtype="PCM_16")
    sf.write(paths["odd_path"], _tone(1.0, SR), SR, subtype="PCM_16")
    for name, source in (("truncated_wav", "tone"), ("truncated_flac", "tone_flac")):
        data = paths[source].read_bytes()
        paths[name].write_bytes(data[: len(data) // 2])
    paths["zero_bytes"].write_bytes(b"")
    paths["text_file"].write_text("This is a README, not audio.\n" * 20, encoding="utf-8")
    for name, value in (("nan", np.nan), ("inf", np.inf)):
        x = _tone(1.0, SR)
        x[SR // 2] = value
        sf.write(paths[name], x, SR, subtype="FLOAT")
    # a header declaring 0 channels (libsndfile cannot write one): PCM, 0 ch, 16 kHz, 16 bit
    paths["zero_channels"].write_bytes(_riff(struct.pack("<HHIIHH", 1, 0, SR, 0, 0, 16), b"\x00" * 64))
    sf.write(paths["no_samples"], np.zeros(0, np.float32), SR, subtype="PCM_16")
    return paths  # "missing" is listed but never written


def corpus_clipset(paths: dict[str, Path], loader=None, extra_rows: list[dict] | None = None) -> ClipSet:
    """The corpus as a dataset: one manifest row per case (and a row with a label not in the classes)."""
    rows = [{"clip_id": c.name, "path": str(paths[c.name]), "labels": ("tone",) if k % 2 else ("other",),
             "fold": 1 + k % 2} for k, c in enumerate(CASES)]
    rows += extra_rows or []
    return ClipSet("corpus", pd.DataFrame(rows), ["other", "tone"], loader or FileLoader(SR), sample_rate=SR,
                   description="generated bad-input corpus")


BAD_LABEL_ROW = {"clip_id": "bad_label", "path": None, "labels": ("tone", "not-a-class"), "fold": 1}


@pytest.fixture()
def corpus(tmp_path) -> dict[str, Path]:
    return make_corpus(tmp_path / "corpus")


# --- each file alone: works correctly or one error naming the file and the reason ----------------
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_file_loads_correctly_or_names_file_and_reason(corpus, case):
    path = corpus[case.name]
    if case.error is not None:
        with pytest.raises(AudioError) as info:
            load_audio(path, SR)
        assert str(path) in str(info.value), "the error must name the file"
        assert case.error in info.value.reason, info.value.reason
        return
    waveform, sr = load_audio(path, SR)
    assert sr == SR and waveform.dtype == torch.float32 and waveform.dim() == 1, "mono float32 at 16 kHz"
    assert waveform.shape[0] == int(round(case.seconds * SR))
    assert torch.isfinite(waveform).all()
    if case.check == "zeros":
        assert torch.count_nonzero(waveform) == 0
    elif case.check == "channel_mean":  # mixed down by averaging the 6 channels
        expected = np.mean([_tone(1.0, SR, 200.0 * (k + 1), 0.1) for k in range(6)], axis=0)
        np.testing.assert_allclose(waveform.numpy(), expected, atol=1e-6)
    else:  # a 440 Hz tone of amplitude 0.3, whatever the file's rate: its spectrum peaks at 440 Hz
        spectrum = np.abs(np.fft.rfft(waveform.numpy()))
        assert abs(np.argmax(spectrum) * SR / len(waveform) - 440.0) <= 1.0
        interior = waveform[SR // 10: -SR // 10] if len(waveform) > SR // 4 else waveform
        assert abs(float(interior.abs().max()) - 0.3) < 0.02  # 16-bit rounding, resampling ripple


# --- the scan ----------------------------------------------------------------------------------
def test_scan_lists_exactly_the_unusable_clips_with_reasons(corpus):
    clips = corpus_clipset(corpus, extra_rows=[BAD_LABEL_ROW])
    clips.unusable = [{"clip_id": "listed-earlier", "path": "elsewhere.wav", "reason": "audio file not found"}]
    report = scan_clips(clips)

    assert report.clips.manifest["clip_id"].tolist() == [c.name for c in GOOD]
    found = {u["clip_id"]: u for u in report.unusable}
    assert set(found) == {c.name for c in BAD} | {"bad_label"}
    for case in BAD:
        assert case.error in found[case.name]["reason"], found[case.name]
        assert found[case.name]["path"] == str(corpus[case.name])
    assert "not-a-class" in found["bad_label"]["reason"]
    # the loader's earlier entries are kept, then the scan's, in manifest order
    assert report.clips.unusable[0]["clip_id"] == "listed-earlier"
    assert [u["clip_id"] for u in report.clips.unusable[1:]] == [u["clip_id"] for u in report.unusable]
    assert report.checked == len(CASES) + 1
    assert f"{len(GOOD)} usable, {len(BAD) + 1} unusable" in report.summary()


def test_auto_decode_finds_what_a_full_decode_finds_while_decoding_fewer_files(corpus):
    clips = corpus_clipset(corpus)
    auto, full = scan_clips(clips), scan_clips(clips, decode="all")
    assert auto.unusable == full.unusable
    # decoded in "auto": FLAC (good and truncated) and float WAV (nan, inf, six channels); the
    # integer-PCM WAVs are proven whole by their header and size. Files failing the header are
    # never decoded (a full scan decodes the good ones and truncated_flac, nan, inf).
    assert auto.decoded == 5 and full.decoded == len(GOOD) + 3
    # a header-only scan cannot see NaN samples or a truncated FLAC stream: that is why it is not the default
    headers = {u["clip_id"] for u in scan_clips(clips, decode="headers").unusable}
    assert {"nan", "inf", "truncated_flac"}.isdisjoint(headers)


def test_scan_threads_give_the_same_answer(corpus):
    clips = corpus_clipset(corpus, extra_rows=[BAD_LABEL_ROW])
    assert scan_clips(clips, num_workers=2).unusable == scan_clips(clips).unusable


def test_scan_policy_error_names_the_first_unusable_file(corpus):
    clips = corpus_clipset(corpus)
    with pytest.raises(UnusableDataError) as info:
        scan_clips(clips, on_error="error")
    first = BAD[0]
    message = str(info.value)
    assert message.startswith(f"corpus: {len(BAD)} of {len(CASES)} clips are unusable; first: {corpus[first.name]}: ")
    assert first.error in message and "on_error='report'" in message
    assert [u["clip_id"] for u in info.value.unusable] == [c.name for c in BAD]
    with pytest.raises(ValueError, match="on_error must be one of"):
        scan_clips(clips, on_error="ignore")


def test_duplicate_clip_ids_and_generated_audio():
    from audiolib.data.synthetic import load_synthetic

    clips = load_synthetic(n_clips=4, seed=0)
    report = scan_clips(clips)  # generated audio: labels checked, nothing rendered
    assert report.unusable == [] and report.decoded == 0 and len(report.clips) == 4
    assert scan_clips(clips, decode="all").decoded == 4
    doubled = clips.subset([0, 1, 2, 0])
    (entry,) = scan_clips(doubled).unusable
    assert entry["clip_id"] == doubled.manifest["clip_id"][3] and "duplicate clip_id (also in manifest row 0)" == entry["reason"]


# --- the patch builder: scan first, then features on the usable clips ---------------------------
def test_build_patchset_report_trains_on_usable_clips_and_records_the_rest(corpus, tmp_path, capsys):
    clips = corpus_clipset(corpus, extra_rows=[BAD_LABEL_ROW])
    data = build_patchset(clips, "vggish", progress=False)

    good = [c.name for c in GOOD]
    assert data.clip_ids == good and data.n_clips == len(GOOD)
    assert data.clipset.manifest["clip_id"].tolist() == good, "the clipset's rows are the PatchSet's clip rows"
    assert {u["clip_id"] for u in data.unusable} == {c.name for c in BAD} | {"bad_label"}
    assert f"{len(BAD) + 1} unusable" in capsys.readouterr().out, "the count is printed"
    per_clip = torch.bincount(data.clip_index, minlength=data.n_clips)
    assert per_clip.tolist() == [1] * len(GOOD), "1 s clips give one 0.96 s patch; the 0.5 s clip is padded to one"
    assert torch.isfinite(data.patches).all(), "silence and every rate give finite log-mel patches"
    np.testing.assert_array_equal(data.clip_targets.numpy(), data.clipset.targets())
    silence = data.patches[good.index("silence")]
    np.testing.assert_allclose(silence.numpy(), np.log(0.01), atol=1e-6)  # log(0 + 0.01)

    # recorded in the run's meta.json, each with its reason
    run_ = results.start_run("reliability", {"SEED": 0}, root=tmp_path / "results", profile="smoke")
    run_.record_data("corpus", data.clipset.fingerprint(), description=clips.description, unusable=data.unusable)
    run_.finish()
    meta = json.loads((run_.folder / "meta.json").read_text())
    listed = {u["clip_id"]: u["reason"] for u in meta["data"]["corpus"]["unusable"]}
    assert set(listed) == {c.name for c in BAD} | {"bad_label"} and all(listed.values())

    # and it trains
    torch.manual_seed(0)
    model = create_model("fc_audio", len(data.classes), layers=1, units=16)
    result = fit(model, data, TrainConfig(steps=3, batch_size=4, device="cpu", progress=False))
    assert np.isfinite(result.history["loss"]).all()
    # subsets keep the record and the alignment
    part = data.subset_clips([0, 2])
    assert part.clipset.manifest["clip_id"].tolist() == [good[0], good[2]] and part.unusable == data.unusable


def test_build_patchset_error_raises_before_any_feature_work(corpus, monkeypatch):
    calls = {"loader": 0, "log_mel": 0}

    def counting_loader(row):
        calls["loader"] += 1
        return FileLoader(SR)(row)

    def counting_log_mel(*args, **kwargs):
        calls["log_mel"] += 1
        raise AssertionError("a feature was computed before the scan finished")

    monkeypatch.setattr(patches_module, "log_mel", counting_log_mel)
    clips = corpus_clipset(corpus, loader=counting_loader)
    with pytest.raises(ValueError) as info:
        build_patchset(clips, "vggish", progress=False, on_error="error")
    assert f"first: {corpus[BAD[0].name]}: " in str(info.value)
    assert calls == {"loader": 0, "log_mel": 0}


def test_feature_cache_scans_before_featurising(corpus, tmp_path):
    from audiolib import cache

    clips = corpus_clipset(corpus)
    root = tmp_path / "features"
    with pytest.raises(UnusableDataError, match=rf"first: {corpus[BAD[0].name]}: .*{BAD[0].error}"):
        cache.cached_patchset(clips, "vggish", root=root, progress=False)
    assert not root.exists() or not any(root.iterdir()), "features were computed before the scan"
    usable = scan_clips(clips).clips  # the documented way on: cache the usable clips
    cached = cache.cached_patchset(usable, "vggish", root=root, progress=False)
    direct = build_patchset(clips, "vggish", progress=False)
    assert cached.clip_ids == direct.clip_ids and torch.equal(cached.patches, direct.patches)


def test_pad_short_false_reports_the_short_clip(corpus):
    clips = corpus_clipset(corpus)
    data = build_patchset(clips.subset([c.name in ("tone", "short") for c in CASES]), "vggish", progress=False,
                          pad_short=False)
    assert data.clip_ids == ["tone"]
    (entry,) = data.unusable
    assert entry["clip_id"] == "short" and "shorter than the 0.975 s required" in entry["reason"]


def test_no_usable_clip_is_an_error_naming_them(corpus):
    clips = corpus_clipset(corpus)
    only_bad = clips.subset([c.error is not None for c in CASES])
    with pytest.raises(ValueError, match=rf"corpus: no usable clip .*{len(BAD)} unusable: .*truncated"):
        build_patchset(only_bad, "vggish", progress=False)


def test_real_esc10_clips_scan_clean(shared_data):
    from audiolib.data import load_dataset

    clips = load_dataset("esc10", root=shared_data / "esc50")
    report = scan_clips(clips.subset(range(0, len(clips), 20)))  # 20 Ogg Vorbis clips, all decoded
    assert report.unusable == [] and report.decoded == 20


# --- labels outside the taxonomy ----------------------------------------------------------------
TAXONOMY = Taxonomy(coarse={"1": "engine", "2": "dog"}, fine={"1-1": "small-engine", "1-2": "large-engine",
                                                                  "2-1": "barking"},
                    parent={"1-1": "1", "1-2": "1", "2-1": "2"})


def test_label_not_in_taxonomy_is_named():
    with pytest.raises(ValueError, match=r"annotations.csv: labels not in the fine taxonomy: \['3-1'\]"):
        TAXONOMY.validate_labels(["1-1", "3-1"], level="fine", where="annotations.csv")
    clips = ClipSet("t", pd.DataFrame([{"clip_id": "a", "path": "a.wav", "labels": ("1-1", "9-9")}]),
                    list(TAXONOMY.fine), FileLoader(), taxonomy=TAXONOMY)
    with pytest.raises(ValueError, match=r"clip a \(a.wav\) has label '9-9'"):
        clips.targets()
    (entry,) = scan_clips(clips, decode="headers").unusable
    assert "['9-9'] not in the taxonomy" in entry["reason"]


def _sonyc_files(root: Path, extra_column: str | None) -> Path:
    import yaml

    root.mkdir(parents=True, exist_ok=True)
    (root / "dcase-ust-taxonomy.yaml").write_text(yaml.safe_dump(
        {"coarse": {1: "engine", 2: "dog"}, "fine": {1: {1: "small-engine", 2: "large-engine"}, 2: {1: "barking"}}}))
    columns = ["1-1_small-engine", "1-2_large-engine", "1-X_engine-of-uncertain-size", "2-1_barking",
               "1_engine", "2_dog"] + ([extra_column] if extra_column else [])
    rows = [{"split": "validate", "sensor_id": 1, "audio_filename": f"{i}.wav", "annotator_id": 0,
             **{f"{c}_presence": int(i % 2) for c in columns}} for i in range(3)]
    pd.DataFrame(rows).to_csv(root / "annotations.csv", index=False)
    return root / "annotations.csv"


def test_sonyc_annotations_naming_a_label_outside_the_taxonomy(tmp_path):
    from audiolib.data.sonyc_ust import read_annotations

    good = read_annotations(_sonyc_files(tmp_path / "good", None))  # the X tags are part of the format
    assert len(good) == 3
    csv = _sonyc_files(tmp_path / "bad", "9-1_unknown-thing")
    with pytest.raises(ValueError, match=r"annotations.csv: presence column\(s\) \['9-1_unknown-thing_presence'\] "
                                         r"name labels not in the taxonomy"):
        read_annotations(csv)


def test_synthetic_labels_are_always_in_its_taxonomy():
    from audiolib.data.synthetic import load_synthetic

    clips = load_synthetic(n_clips=200, seed=3)
    clips.taxonomy.validate_labels({l for ls in clips.manifest["labels"] for l in ls}, level="fine", where="synthetic")
    clips.taxonomy.validate_labels({l for ls in clips.manifest["coarse_labels"] for l in ls}, level="coarse",
                                   where="synthetic")
    assert scan_clips(clips).unusable == []


# --- AudioSet formats ---------------------------------------------------------------------------
def _records(n: int = 4) -> list[audioset.EmbeddingRecord]:
    rng = np.random.default_rng(0)
    return [audioset.EmbeddingRecord(f"vid{i:02d}", 0.0, 10.0, (i % 3,), rng.integers(0, 256, (10, 128), dtype=np.uint8))
            for i in range(n)]


def test_corrupt_tfrecord_names_file_and_record(tmp_path):
    path = audioset.write_tfrecord_embeddings(tmp_path / "bal_train00.tfrecord", _records())
    good = path.read_bytes()
    record = len(good) // 4  # each record has the same size
    rng = np.random.default_rng(1)
    for offset in sorted(rng.choice(len(good), size=24, replace=False)):
        damaged = bytearray(good)
        damaged[offset] ^= 0x5A
        path.write_bytes(bytes(damaged))
        with pytest.raises(audioset.AudioSetFormatError) as info:
            audioset.read_tfrecord_embeddings(path)
        assert f"{path}: record {offset // record} (counting from 0)" in str(info.value), (offset, str(info.value))
    path.write_bytes(good[: len(good) - 10])
    with pytest.raises(audioset.AudioSetFormatError, match=r"record 3 \(counting from 0\).*truncated record"):
        audioset.read_tfrecord_embeddings(path)


def test_truncated_or_damaged_hdf5_names_the_file(tmp_path):
    source = tmp_path / "bal_train.h5"
    audioset.write_hdf5_embeddings(source, audioset.EmbeddingSet.from_records(_records(), ["a", "b", "c"]))
    good = source.read_bytes()
    target = tmp_path / "damaged.h5"
    for fraction in (0.1, 0.5, 0.9, 0.999):
        target.write_bytes(good[: int(len(good) * fraction)])
        with pytest.raises(audioset.AudioSetFormatError, match=rf"{target}: not a readable HDF5 file .*truncated"):
            audioset.load_embeddings(target)
    # damage anywhere in the file: either the file still reads (raw data bytes; HDF5 keeps no
    # checksum of them) or one AudioSetFormatError names it, never a bare h5py error
    errors = 0
    for offset in range(0, len(good), 61):
        damaged = bytearray(good)
        damaged[offset: offset + 8] = b"\xff" * 8
        target.write_bytes(bytes(damaged))
        try:
            audioset.read_hdf5_embeddings(target)
        except audioset.AudioSetFormatError as err:
            assert str(err).startswith(f"{target}: "), str(err)
            errors += 1
    assert errors >= 5


# --- checkpoints ----------------------------------------------------------------------------------
class _Payload:
    """Unpickling this would create ``marker``: a checkpoint that runs code when loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_checkpoint_of_another_architecture_or_unsafe_content_names_the_file(tmp_path):
    torch.manual_seed(0)
    saved = create_model("fc_audio", 10, layers=2, units=32)
    path = save_checkpoint(tmp_path / "fc 2x32 é.pt", saved, step=7)
    other = create_model("fc_audio", 10, layers=3, units=64)
    before = {k: v.clone() for k, v in other.state_dict().items()}
    with pytest.raises(ValueError, match=rf"checkpoint {path} does not fit AudioClassifier .*mismatched"):
        load_checkpoint(path, other)
    assert all(torch.equal(before[k], v) for k, v in other.state_dict().items()), "weights changed on failure"
    assert load_checkpoint(path, create_model("fc_audio", 10, layers=2, units=32))["step"] == 7

    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match=rf"checkpoint {truncated} is unreadable"):
        load_checkpoint(truncated)

    marker, unsafe = tmp_path / "code-ran", tmp_path / "unsafe.pt"
    torch.save({"model": saved.state_dict(), "extra": _Payload(marker)}, unsafe)
    with pytest.raises(ValueError, match=rf"checkpoint {unsafe} is unreadable"):
        load_checkpoint(unsafe)
    assert not marker.exists(), "weights_only=True must refuse to run code from a checkpoint"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "absent.pt")


# --- bad parameters: fail before any work, naming the parameter and the allowed values -------------
@pytest.mark.parametrize("override, expected", [
    ("N_CLIPS='many'", "parameter N_CLIPS must be int, got str 'many'; allowed: > 0"),
    ("N_CLIPS=0", "parameter N_CLIPS=0 is not allowed; allowed: > 0"),
    ("N_CLIPZ=3", "--set: no selected notebook declares ['N_CLIPZ']"),
    ("SEED=-1", "parameter SEED=-1 is not allowed; allowed: >= 0"),
    ("SEED=1.5", "parameter SEED must be int, got float 1.5"),
    ("DEVICE='tpu'", """parameter DEVICE='tpu' is not allowed; allowed: {"auto", "cpu", "cuda"}"""),
    ("N_EXAMPLES=13", "parameter N_EXAMPLES=13 is not allowed; allowed: 1..12"),
    ("N_CLIPS", "--set 'N_CLIPS': expected NAME=VALUE"),
])
def test_runner_rejects_bad_parameters_before_any_work(tmp_path, capsys, override, expected):
    root = tmp_path / "results"
    assert run.main(["--profile", "smoke", "--only", "00", "--set", override, "--results", str(root)]) == 2
    assert expected in capsys.readouterr().err
    assert not root.exists(), "a run folder was created although a parameter was wrong"


def test_runner_rejects_unknown_profile_and_notebook(tmp_path, capsys):
    root = tmp_path / "results"
    with pytest.raises(SystemExit) as info:
        run.main(["--profile", "fast", "--results", str(root)])
    assert info.value.code == 2 and "invalid choice: 'fast'" in capsys.readouterr().err
    assert run.main(["--profile", "smoke", "--only", "99_nothing", "--results", str(root)]) == 2
    assert "--only '99_nothing' matches no experiment; experiments: 00_data_tour" in capsys.readouterr().err
    assert not root.exists()


def test_notebook_parameter_check_names_the_notebook(tmp_path):
    exp = experiments.EXPERIMENTS["00_data_tour"]
    with pytest.raises(params.ParameterError, match=r"00_data_tour.ipynb: unknown parameter\(s\) \['STEPS'\]; "
                                                    r"declared parameters: N_CLIPS"):
        params.validate(exp.notebook, {"STEPS": 3})


def _existing_notebooks() -> list[str]:
    return [name for name, exp in sorted(experiments.EXPERIMENTS.items()) if exp.notebook.exists()]


def _bad_values(param: params.Parameter) -> list[object]:
    """Values outside a parameter's declared set or range (none for a free-text comment)."""
    rule = param.allowed
    if rule.startswith("{") and "}" in rule:
        bad = "no_such_name" if param.type_name in ("str", "list") else 987654321
        return [[bad] if param.type_name == "list" else bad]
    number = r"(-?[\d.]+(?:[eE][-+]?\d+)?)"
    if m := re.match(rf"(>=|>)\s*{number}(?![\w.])", rule):
        return [float(m.group(2)) - 1 if param.type_name == "float" else int(float(m.group(2))) - 1]
    if m := re.match(rf"{number}\s*\.\.\s*{number}(?![\w.])", rule):
        low, high = float(m.group(1)), float(m.group(2))
        return [low - 1, high + 1] if param.type_name == "float" else [int(low) - 1, int(high) + 1]
    return []


@pytest.mark.parametrize("name", _existing_notebooks())
def test_declared_sets_and_ranges_are_checked_before_any_work(name):
    """Every parameter with a set or range (with or without a description after it) is checked by
    the runner's validation: an unknown model, dataset or method name, or a value out of range,
    is refused naming the notebook, the parameter and the allowed values."""
    exp = experiments.EXPERIMENTS[name]
    declared = params.notebook_parameters(exp.notebook)
    checked = 0
    for param in declared.values():
        for bad in _bad_values(param):
            with pytest.raises(params.ParameterError) as info:
                params.validate(exp.notebook, {**exp.parameters("smoke"), param.name: bad})
            message = str(info.value)
            assert message.startswith(f"{exp.notebook.name}: parameter {param.name}") and param.allowed in message
            checked += 1
    assert checked >= 4, f"{name}: only {checked} checked values"


# Names and combinations the parameter comments cannot express: the notebook's first cells check
# them (params.require, or the library call that uses the name checks it before any work).
NOTEBOOK_CHECKS = [
    ("00_data_tour", "REAL_DATASETS", lambda smoke: ["no_such_dataset"], "REAL_DATASETS"),
    ("02_label_set_size", "LABEL_FRACTIONS", lambda smoke: [1.0, 1.5], "LABEL_FRACTIONS"),
    ("04_embedding_transfer", "SMALL_CLIPS", lambda smoke: smoke.get("N_CLIPS", 1000), "SMALL_CLIPS"),
    ("06_embedding_classifiers", "PRIMARY", lambda smoke: "urbansound8k", "PRIMARY"),   # a dataset, not in DATASETS
]


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("name, parameter, make_value, expected", NOTEBOOK_CHECKS, ids=[c[0] for c in NOTEBOOK_CHECKS])
def test_notebooks_fail_fast_on_names_and_combinations(tmp_path, name, parameter, make_value, expected):
    """The run is marked failed with an error naming the parameter (or the bad name and the allowed
    ones), before any table or figure, within seconds of the parameters cell."""
    exp = experiments.EXPERIMENTS[name]
    if not exp.notebook.exists():
        pytest.skip(f"notebook {exp.notebook.name} not written yet")
    values = {**exp.parameters("smoke"), parameter: make_value(exp.parameters("smoke"))}
    params.validate(exp.notebook, values)  # passes the declared checks: the notebook must catch it
    folder, status = run.execute(exp, values, "smoke", tmp_path / "results")
    meta = json.loads((folder / "meta.json").read_text())
    assert status == "failed" and meta["status"] == "failed"
    assert expected in meta["error"], meta["error"]
    assert not meta.get("tables") and not meta.get("figures"), "work was done before the check"
    cells = [c for c in json.loads((folder / "notebook.ipynb").read_text())["cells"] if c["cell_type"] == "code"]
    injected = next(k for k, c in enumerate(cells) if "injected-parameters" in c["metadata"].get("tags", []))
    after = sum(c["metadata"].get("papermill", {}).get("duration") or 0.0 for c in cells[injected + 1:])
    assert after < 10.0, f"{name}: {after:.1f} s of work after the parameters cell before failing"


# --- interruptions: SIGKILL mid-write, incomplete runs, re-runs -------------------------------------
_KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    import pandas as pd
    from audiolib import results

    run = results.start_run("killed", {"SEED": 0}, root=sys.argv[1], profile="smoke")
    table = pd.DataFrame({"metric": ["AUC"] * 1000, "value": range(1000)})
    run.save_table("first", table, describes="test", data="test")
    real_to_csv = pd.DataFrame.to_csv

    def dies_halfway(self, path, **kw):
        with open(path, "w") as f:
            f.write("metric,value\\nAUC,0.5\\n")  # half a table ...
            f.flush()
        os.kill(os.getpid(), signal.SIGKILL)  # ... and the process is killed

    pd.DataFrame.to_csv = dies_halfway
    run.save_table("second", table, describes="test", data="test")
""")


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_run_killed_while_writing_leaves_no_half_table_and_is_marked_incomplete(tmp_path):
    root = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-c", _KILLED_RUN, str(root)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    (folder,) = (root / "killed").iterdir()
    visible = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    assert visible == ["first.csv", "meta.json"], "a half-written table is visible under its name"
    assert len(pd.read_csv(folder / "first.csv")) == 1000
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["status"] == "running" and list(meta["tables"]) == ["first"]
    index = pd.read_csv(root / "index.csv")
    assert index["status"].tolist() == ["incomplete"]

    # a re-run gets a new folder; the interrupted one is left exactly as it was
    before = _digest(folder)
    again = results.start_run("killed", {"SEED": 0}, root=root, profile="smoke")
    again.save_table("first", pd.DataFrame({"metric": ["AUC"], "value": [1.0]}), describes="test", data="test")
    again.finish()
    assert again.folder != folder and _digest(folder) == before
    runs = results.list_runs(root).set_index("folder")["status"].to_dict()
    assert sorted(runs.values()) == ["complete", "incomplete"]
    with pytest.raises(FileExistsError, match="already holds a run"):
        results.start_run("killed", {}, run_dir=again.folder)
