"""Hostile but realistic inputs: damaged caches, hand-edited result files, lying file headers,
absurd parameters and archives built to escape. Each test builds the bad input the way a person
or a broken disk would, then checks the answer is an error naming the file (or parameter) and
the way out, or a correct result; never a silent wrong one, a crash in unrelated code or a
blown memory.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import struct
import tarfile
import tracemalloc
import warnings
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from audiolib import cache, params, results, run
from audiolib.data import audioset, download, sonyc_ust
from audiolib.data.patches import build_patchset

from test_cache import tone_clips


# --- feature cache -------------------------------------------------------------------------------
@pytest.fixture
def entry(tmp_path):
    """A two-shard cache entry of 6 tone clips."""
    return cache.build_cache(tone_clips(6), "vggish", root=tmp_path / "features", shard_clips=3, progress=False)


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


def test_bit_flip_in_a_shard_is_never_read_as_features(tmp_path):
    clips = tone_clips(40)  # shards of 1.2 MB: larger than the 16 sampled blocks of 64 KiB
    entry = cache.build_cache(clips, "vggish", root=tmp_path / "features", shard_clips=20, progress=False)
    shard = entry / "shard-00001.npy"
    size = shard.stat().st_size
    unsampled = [o + cache._SAMPLE_BLOCK_BYTES for o in cache._sample_offsets(size)]
    middle = next(o + 100 for o in unsampled if not any(s <= o + 100 < s + cache._SAMPLE_BLOCK_BYTES
                                                          for s in cache._sample_offsets(size)))
    _flip(shard, middle)  # a byte the sampled hash does not read
    # the notebooks' path (in memory) hashes every byte: an error naming the file and the way out
    with pytest.raises(cache.CacheIntegrityError, match=rf"{shard}.*checksum.*remove_cache"):
        cache.cached_patchset(clips, "vggish", root=entry.parent, shard_clips=20, progress=False)
    cache.open_cache(entry).get_batch([0])  # the cheap default check at open does not read that byte ...
    with pytest.raises(cache.CacheIntegrityError, match="shard-00001.npy"):  # ... the full one, one call away
        cache.open_cache(entry, verify="full")
    with pytest.raises(cache.CacheIntegrityError, match="shard-00001.npy"):
        cache.verify_cache(entry)
    with pytest.raises(cache.CacheIntegrityError, match="shard-00001.npy"):
        cache.open_cache(entry).to_patchset()
    # a flip where the sample reads is found when the entry is opened, before any read
    _flip(shard, middle)
    _flip(shard, size - 10)
    with pytest.raises(cache.CacheIntegrityError, match="shard-00001.npy"):
        cache.open_cache(entry)
    # the way out works: remove, and the next call rebuilds an entry equal to the reference
    cache.remove_cache(entry)
    again = cache.cached_patchset(clips, "vggish", root=entry.parent, shard_clips=20, progress=False)
    assert torch.equal(again.patches, build_patchset(clips, "vggish", progress=False).patches)


def test_truncated_shard_names_the_file(entry):
    shard = entry / "shard-00000.npy"
    shard.write_bytes(shard.read_bytes()[:-1000])
    with pytest.raises(cache.CacheIntegrityError, match=rf"{shard} has \d+ bytes, \d+ were written.*remove_cache"):
        cache.open_cache(entry)
    shard.unlink()
    with pytest.raises(cache.CacheIntegrityError, match=rf"{shard} is missing"):
        cache.open_cache(entry)


def test_entry_without_meta_is_removed_or_rebuilt(entry):
    (entry / "meta.json").unlink()
    assert "no meta.json" in cache.list_caches(entry.parent).set_index("folder").loc[entry.name, "problem"]
    with pytest.warns(UserWarning, match="no meta.json"):  # the next call rebuilds it
        path = cache.build_cache(tone_clips(6), "vggish", root=entry.parent, shard_clips=3, progress=False)
    assert path == entry and cache.open_cache(path, verify="full").n_clips == 6
    (entry / "meta.json").unlink()
    cache.remove_cache(entry)  # and remove_cache accepts it
    assert not entry.exists()


@pytest.mark.parametrize("edit", [
    lambda m: [m],
    lambda m: {**m, "n_patches": "many"},
    lambda m: {**m, "shards": [{**m["shards"][0], "file": "../../elsewhere.npy"}, *m["shards"][1:]]},
    lambda m: {**m, "n_patches": m["n_patches"] + 1},
    lambda m: {**m, "patch_shape": [96, 32]},
], ids=["list", "type", "path", "count", "shape"])
def test_hand_edited_cache_meta_names_the_file(entry, edit):
    meta_file = entry / "meta.json"
    meta_file.write_text(json.dumps(edit(json.loads(meta_file.read_text()))))
    with pytest.raises(cache.CacheIntegrityError, match=rf"{meta_file}|{entry}"):
        cache.open_cache(entry).to_patchset()


# --- results folders -----------------------------------------------------------------------------
def _finished_run(root, experiment="demo"):
    run = results.start_run(experiment, {"SEED": 0}, root=root, profile="smoke")
    run.save_table("scores", pd.DataFrame({"metric": ["AUC"], "value": [0.5]}), describes="x", data="y")
    return run.finish()


@pytest.mark.parametrize("content", [
    "[1, 2, 3]",
    '{"experiment": "demo", "status": "complete", "git": "abc"}',
    '{"experiment": "demo", "status": ["complete"]}',
    '{"experiment": "demo", "tables": "scores"}',
    '"complete"',
    "{not json",
], ids=["list", "git-string", "status-list", "tables-string", "string", "not-json"])
def test_one_bad_meta_json_is_listed_and_later_runs_go_on(tmp_path, content):
    root = tmp_path / "results"
    bad = _finished_run(root) / "meta.json"
    bad.write_text(content)  # a hand edit gone wrong
    later = _finished_run(root)  # used to fail with AttributeError in the index update
    runs = results.list_runs(root).set_index("folder")
    row = runs.loc[str(bad.parent.relative_to(root))]
    assert row["status"] == "unreadable" and str(bad) in row["problem"]
    assert runs.loc[str(later.relative_to(root)), "status"] == "complete"
    assert len(pd.read_csv(root / "index.csv")) == 2
    # the runner marks a failed notebook whose meta.json is broken without crashing, keeping the file
    run._mark(bad.parent, "failed", error="boom")
    assert json.loads(bad.read_text())["status"] == "failed"
    assert (bad.parent / "meta.unreadable.json").read_text() == content


def test_edited_index_is_kept_aside_not_lost(tmp_path):
    root = tmp_path / "results"
    _finished_run(root)
    index = pd.read_csv(root / "index.csv")
    index["notes"] = ["the good one"]  # a person's column
    index.to_csv(root / "index.csv", index=False)
    with pytest.warns(UserWarning, match=r"column\(s\) \['notes'\].*kept as .*index.edited-"):
        _finished_run(root)
    (kept,) = root.glob("index.edited-*.csv")
    assert pd.read_csv(kept)["notes"].tolist() == ["the good one"]
    assert len(pd.read_csv(root / "index.csv")) == 2 and "notes" not in pd.read_csv(root / "index.csv")
    (root / "index.csv").write_text("experiment,folder\nx,y,z,more\n")  # malformed by hand
    with pytest.warns(UserWarning, match="kept as"):
        results.update_index(root)
    assert len(list(root.glob("index.edited-*.csv"))) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results.update_index(root)  # the derived index itself is not moved aside


def test_result_files_follow_the_umask(tmp_path):
    previous = os.umask(0o002)
    try:
        root = tmp_path / "results"
        folder = _finished_run(root)
        run = results.Run("demo", folder, json.loads((folder / "meta.json").read_text()))
        from audiolib.checkpoints import save_checkpoint
        from audiolib.models import create_model

        save_checkpoint(run.path("best_model.pt"), create_model("fc_audio", 2, layers=1, units=4))
        files = [root / "index.csv", folder / "meta.json", folder / "scores.csv", folder / "best_model.pt"]
        for f in files:
            assert f.stat().st_mode & 0o777 == 0o664, f"{f}: {oct(f.stat().st_mode & 0o777)}"
        os.umask(0o022)
        results.update_index(root)
        assert (root / "index.csv").stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(previous)


def test_read_only_results_folder_is_a_clear_error(tmp_path, monkeypatch, capsys):
    root = tmp_path / "results"
    root.mkdir()
    real_mkdir, real_open = Path.mkdir, os.open

    def read_only(path):
        if str(path).startswith(str(root)):
            raise OSError(errno.EROFS, "Read-only file system", str(path))

    def mkdir(self, *a, **kw):
        read_only(self)
        return real_mkdir(self, *a, **kw)

    def open_(path, *a, **kw):
        read_only(path)
        return real_open(path, *a, **kw)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    monkeypatch.setattr(os, "open", open_)
    with pytest.raises(results.ResultsNotWritableError, match=rf"results folder {root}.* is not writable.*--results"):
        results.start_run("demo", {}, root=root)
    assert run.main(["--profile", "smoke", "--only", "00", "--results", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: results folder {root} is not writable") and "Traceback" not in err


# --- parameters ----------------------------------------------------------------------------------
CELL = '''N_CLIPS: int = 60  # > 0
STEPS: int = 3  # > 0
BATCH_SIZE: int = 8  # > 0
SEED: int = 0  # >= 0
LR: float = 0.001  # > 0
WIDTH: float = 0.25  # > 0
MODELS: list = ["fc_audio"]  # {"fc_audio", "alexnet_audio"}
SETS: list = []  # {"esc10", "urbansound8k"} or []
EPOCHS: list = [3, 3, 3]  # 3 items, each >= 1
DROPOUTS: list = [0.0, 0.5]  # each in 0..0.95 (one run each)
EXTRA: dict = {}  # free text: only finiteness applies
'''


@pytest.mark.parametrize("name, value, expected", [
    ("LR", float("1e999"), "numbers must be finite"),
    ("WIDTH", float("1e999"), "numbers must be finite"),
    ("LR", float("nan"), "numbers must be finite"),
    ("EXTRA", {"scale": [float("inf")]}, "numbers must be finite"),
    ("N_CLIPS", 10**9, "above its cap 1e+06"),
    ("BATCH_SIZE", 10**9, "above its cap 65536"),
    ("SEED", 10**30, "above its cap 4.29497e+09"),
    ("STEPS", 10**12, "above its cap 1e+07"),
    ("WIDTH", 100.0, "above its cap 16"),
    ("LR", 50.0, "above its cap 10"),
    ("MODELS", [], "the list is empty"),
    ("MODELS", ["fc_audio", "no_such"], "'no_such' is not one of them"),
    ("EPOCHS", [-1, 0, 10**9], "item 0: -1"),
    ("EPOCHS", [3, 3], "2 items, 3 needed"),
    ("EPOCHS", [1, 1, 10**9], "above its cap 10000"),
    ("EPOCHS", [1, True, 1], "item 1: True"),
    ("DROPOUTS", [5.0], "item 0: 5.0"),
    ("DROPOUTS", [], "the list is empty"),
    ("DROPOUTS", ["0.5"], "item 0: '0.5'"),
])
def test_every_declared_rule_and_cap_is_enforced(name, value, expected):
    declared = params.parse_parameters(CELL)
    with pytest.raises(params.ParameterError, match=re.escape(expected)) as info:
        declared[name].check(value, where="nb.ipynb")
    assert str(info.value).startswith(f"nb.ipynb: parameter {name}")


def test_allowed_values_and_lifted_caps_pass(monkeypatch):
    declared = params.parse_parameters(CELL)
    declared["SETS"].check([], where="nb")  # "or []": the empty list is allowed
    declared["SETS"].check(["esc10"], where="nb")
    declared["EPOCHS"].check([1, 20, 10_000], where="nb")
    declared["DROPOUTS"].check([0, 0.95], where="nb")
    with pytest.raises(params.ParameterError, match=r"lift the cap: AUDIOLIB_LIFT_CAPS=N_CLIPS.*lift_caps=\['N_CLIPS'\]"):
        declared["N_CLIPS"].check(2_000_000, where="nb")
    declared["N_CLIPS"].check(2_000_000, where="nb", lift_caps=["N_CLIPS"])
    monkeypatch.setenv("AUDIOLIB_LIFT_CAPS", "SEED, N_CLIPS")
    declared["N_CLIPS"].check(2_000_000, where="nb")
    declared["SEED"].check(2**40, where="nb")
    with pytest.raises(params.ParameterError, match="cap"):
        declared["STEPS"].check(10**12, where="nb")
    monkeypatch.setenv("AUDIOLIB_LIFT_CAPS", "all")
    declared["STEPS"].check(10**12, where="nb")
    with pytest.raises(params.ParameterError, match="finite"):  # finiteness is never lifted
        declared["LR"].check(float("inf"), where="nb")


@pytest.mark.parametrize("override, expected", [
    ("LR=1e999", "parameter LR=inf holds inf; numbers must be finite"),
    ("WIDTH=1e999", "parameter WIDTH=inf holds inf; numbers must be finite"),
    ("N_CLIPS=10**9", "parameter N_CLIPS must be int"),  # not a literal: kept as text, refused
    ("N_CLIPS=1000000000", "parameter N_CLIPS=1000000000 is above its cap"),
    ("BATCH_SIZE=1000000000", "parameter BATCH_SIZE=1000000000 is above its cap"),
    ("SEED=1000000000000000000000000000000", "parameter SEED=1000000000000000000000000000000 is above its cap"),
    ("MODELS=[]", "parameter MODELS=[] is not allowed (the list is empty"),
])
def test_runner_refuses_the_issue_values_before_any_work(tmp_path, capsys, override, expected):
    root = tmp_path / "results"
    assert run.main(["--profile", "smoke", "--only", "01_arch", "--set", override, "--results", str(root)]) == 2
    assert expected in capsys.readouterr().err
    assert not root.exists()


# --- readers that trust declared sizes -----------------------------------------------------------
def _embedding_set(n=4, classes=("a", "b", "c")):
    rng = np.random.default_rng(0)
    return audioset.EmbeddingSet(rng.integers(0, 255, (n, 10, 128), dtype=np.uint8),
                                 rng.integers(0, 2, (n, len(classes))).astype(bool), [f"v{i}" for i in range(n)],
                                 list(classes), folds=np.array(["train"] * n))


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
    except Exception:
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_tfrecord_length_beyond_the_file_is_refused_before_reading(tmp_path):
    good = audioset.write_tfrecord_embeddings(tmp_path / "good.tfrecord", _embedding_set().to_records())
    length = struct.pack("<Q", 2**40)
    path = tmp_path / "lying.tfrecord"
    path.write_bytes(good.read_bytes() + length + struct.pack("<I", audioset.masked_crc32c(length)) + b"x" * 100)
    with pytest.raises(audioset.AudioSetFormatError,
                       match=rf"{path}: record 4 .*declares {2**40} bytes but only 96 remain"):
        audioset.read_tfrecord_embeddings(path)
    assert _peak_bytes(lambda: audioset.read_tfrecord_embeddings(path)) < 2**24


def test_hdf5_header_declaring_a_huge_x_is_refused_before_reading(tmp_path):
    for dtype, expected in (("float32", "x must be uint8"), ("uint8", "stores only")):
        path = tmp_path / f"huge-{dtype}.h5"
        with h5py.File(path, "w") as hf:  # a few KB on disk, 2.6 or 0.6 GB declared, never written
            hf.create_dataset("x", shape=(500_000, 10, 128), dtype=dtype, chunks=(1, 10, 128))
            hf.create_dataset("y", shape=(500_000, 3), dtype=bool, chunks=(1, 3))
            hf.create_dataset("video_id_list", shape=(500_000,), dtype="S11", chunks=(1,))
            hf.attrs["class_names"] = json.dumps(["a", "b", "c"])
        assert path.stat().st_size < 100_000
        with pytest.raises(audioset.AudioSetFormatError, match=rf"{path}: .*{expected}"):
            audioset.read_hdf5_embeddings(path)
        assert _peak_bytes(lambda: audioset.read_hdf5_embeddings(path)) < 2**24


def _edited_hdf5(tmp_path, edit, name="edited.h5"):
    path = audioset.write_hdf5_embeddings(tmp_path / name, _embedding_set())
    with h5py.File(path, "r+") as hf:
        edit(hf)
    return path


def _replace(key, values):
    def edit(hf):
        del hf[key]
        hf.create_dataset(key, data=values)
    return edit


@pytest.mark.parametrize("value", [0.5, -7.0, 2.0, float("nan")])
def test_labels_must_be_zero_or_one_unless_declared_soft(tmp_path, value):
    y = np.zeros((4, 3))
    y[2, 1] = value
    path = _edited_hdf5(tmp_path, _replace("y", y))
    with pytest.raises(audioset.AudioSetFormatError, match=r"dataset 'y': labels must be 0 or 1, found .* at \(2, 1\)"):
        audioset.read_hdf5_embeddings(path)
    if value == 0.5:  # declared soft: thresholded, as asked
        data = audioset.read_hdf5_embeddings(path, soft_threshold=0.5)
        assert data.y[2, 1] and data.y.sum() == 1
    y[2, 1] = 1.0
    assert audioset.read_hdf5_embeddings(_edited_hdf5(tmp_path, _replace("y", y), "ok.h5")).y.sum() == 1


def test_text_labels_are_refused(tmp_path):
    path = _edited_hdf5(tmp_path, _replace("y", np.array([[b"no"] * 3] * 4)))
    with pytest.raises(audioset.AudioSetFormatError, match=rf"{path}: dataset 'y'"):
        audioset.read_hdf5_embeddings(path)
    with pytest.raises(audioset.AudioSetFormatError, match="EmbeddingSet demo: y: labels must be 0 or 1, found 0.5"):
        audioset.EmbeddingSet(np.zeros((1, 10, 128), np.uint8), [[0.5]], ["v"], ["a"], name="demo")


@pytest.mark.parametrize("edit, field", [
    (_replace("folds", np.arange(4)), "'folds'"),
    (_replace("n_frames", np.array([b"ten"] * 4)), "'n_frames'"),
    (_replace("n_frames", np.arange(3)), "'n_frames'"),
    (_replace("video_id_list", np.arange(4)), "'video_id_list'"),
    (lambda hf: hf.attrs.__setitem__("class_names", "not json"), "'class_names'"),
    (lambda hf: hf.attrs.__setitem__("class_names", json.dumps({"a": 1})), "'class_names'"),
    (lambda hf: hf.attrs.__setitem__("class_ids", json.dumps(["a"])), "'class_ids'"),
], ids=["folds-int", "n_frames-text", "n_frames-short", "ids-int", "names-text", "names-dict", "ids-short"])
def test_bad_hdf5_fields_name_file_and_field(tmp_path, edit, field):
    path = _edited_hdf5(tmp_path, edit)
    with pytest.raises(audioset.AudioSetFormatError, match=rf"{path}: .*{field}"):
        audioset.read_hdf5_embeddings(path)


@pytest.mark.parametrize("entries, expected", [
    ({"id": "/m/a"}, "expected a list"),
    (["/m/a"], "entry 0: expected an object"),
    ([{"id": 3, "name": "a"}], "entry 0: field 'id' must be a string"),
    ([{"id": "/m/a", "name": "a", "child_ids": "/m/b"}], "field 'child_ids' must be a list of strings"),
    ([{"id": "/m/a", "name": "a", "child_ids": ["/m/b"]}, {"id": "/m/b", "name": "b", "child_ids": ["/m/c"]},
      {"id": "/m/c", "name": "c", "child_ids": ["/m/a"]}], "cycle /m/a -> /m/b -> /m/c -> /m/a"),
    ([{"id": "/m/a", "name": "a", "child_ids": ["/m/a"]}], "cycle /m/a -> /m/a"),
], ids=["dict", "string-entry", "int-id", "string-children", "cycle", "self"])
def test_ontology_wrong_types_and_cycles_name_the_file(tmp_path, entries, expected):
    path = tmp_path / "ontology.json"
    path.write_text(json.dumps(entries))
    with pytest.raises(audioset.AudioSetFormatError, match=rf"{path}: .*{re.escape(expected)}"):
        audioset.load_ontology(path)


def test_real_ontology_still_loads(shared_data):
    ontology = audioset.load_ontology(shared_data / "audioset" / "ontology.json")
    assert len(ontology) == 632


@pytest.mark.parametrize("text, field", [
    ("coarse: {1: engine}\nfine: {1: [small, large]}\n", "fine.1"),
    ("coarse: {1: [engine]}\nfine: {1: {1: small}}\n", "coarse.1"),
    ("coarse: {1: engine}\nfine: {1: {1: {name: small}}}\n", "fine.1.1"),
    ("coarse: {1: engine}\nfine: {1: {null: small}}\n", "fine.1.None"),
], ids=["tags-list", "coarse-list", "tag-dict", "tag-code-null"])
def test_taxonomy_wrong_types_name_file_and_field(tmp_path, text, field):
    path = tmp_path / "dcase-ust-taxonomy.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"{path}: .*field {re.escape(field)}"):
        sonyc_ust.load_taxonomy(path)


# --- archives ------------------------------------------------------------------------------------
def _tar(path, members, data=None):
    data = data or {}
    with tarfile.open(path, "w") as tf:
        for name, link in members:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tf.addfile(info)
            else:
                payload = data.get(name, b"x")
                info.size = len(payload)
                tf.addfile(info, io.BytesIO(payload))
    return path


@pytest.mark.parametrize("members", [
    [("d", "."), ("d2", "d/.."), ("d2/escaped.txt", None)],
    [("d", "."), ("d2", "d/..")],
    [("a", "b"), ("b", "c/../.."), ("c", None)],
    [("loop", "loop2"), ("loop2", "loop")],
    [("sub/d", ".."), ("sub/d/e", "..")],
], ids=["chain-and-write", "chain", "chain-via-other", "loop", "nested-chain"])
@pytest.mark.parametrize("data_filter", [True, False], ids=["with-data-filter", "python-without-it"])
def test_chained_symlinks_are_refused_before_anything_is_extracted(tmp_path, monkeypatch, members, data_filter):
    if not data_filter:  # as on Python 3.10.0 to 3.10.11, which the project declares it supports
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    archive = _tar(tmp_path / "evil.tar", members)
    dest = tmp_path / "box" / "dest"
    with pytest.raises(download.UnsafeArchiveError, match=rf"{archive}: member .*(outside|loops)"):
        download.extract_archive(archive, dest)
    assert list(dest.iterdir()) == [], "something was extracted before the refusal"
    assert list((tmp_path / "box").iterdir()) == [dest]


def test_safe_links_still_extract_without_the_data_filter(tmp_path, monkeypatch):
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    archive = _tar(tmp_path / "ok.tar", [("top/a.txt", None), ("top/b", "a.txt"), ("top/sub/c", "../a.txt")],
                   {"top/a.txt": b"hi"})
    out = download.extract_archive(archive, tmp_path / "out")
    assert (out / "top" / "sub" / "c").read_bytes() == b"hi"


def test_unpack_into_does_not_move_a_link_out_of_its_tree(tmp_path):
    archive = _tar(tmp_path / "a.tar", [("top/meta.csv", None), ("top/up", "..")])
    dest = tmp_path / "dest"
    # inside the staging folder top/up -> .. is harmless; moved to dest/up it would point at dest's parent
    with pytest.raises(download.UnsafeArchiveError, match=r"up links to '\.\.', outside"):
        download.unpack_into(archive, dest)
    assert not (dest / "up").is_symlink() and not (dest / ".extracting").exists()
    ok = _tar(tmp_path / "b.tar", [("top/meta.csv", None), ("top/alias.csv", "meta.csv")])
    download.unpack_into(ok, tmp_path / "dest2")
    assert (tmp_path / "dest2" / "alias.csv").read_bytes() == b"x"


# --- checkpoints declaring absurd sizes ----------------------------------------------------------
@pytest.mark.parametrize("change, field", [
    ({"num_classes": 10**12}, "extra.num_classes=1000000000000"),
    ({"num_classes": -1}, "extra.num_classes=-1"),
    ({"model_kwargs": {"layers": 1, "units": 2**40}}, "extra.model_kwargs.units"),
    ({"feature_config": {"n_fft": 2**28, "sample_rate": 16000}}, "extra.feature_config.n_fft=268435456"),
    ({"feature_config": {"n_fft": float("inf")}}, "extra.feature_config.n_fft=inf"),
    ({"model_name": "no_such_model"}, "extra.model_name='no_such_model' is not a registered model"),
    ({"classes": ["a"]}, "extra.classes must be a list of 2 strings"),
], ids=["classes-huge", "classes-negative", "units", "n_fft", "n_fft-inf", "name", "class-list"])
def test_checkpoint_declaring_absurd_sizes_is_refused_before_allocation(tmp_path, monkeypatch, change, field):
    from audiolib import embeddings, models
    from audiolib.tagging import load_tagger
    from audiolib.checkpoints import save_checkpoint

    extra = {"model_name": "fc_audio", "model_kwargs": {"layers": 1, "units": 4}, "num_classes": 2,
             "feature_config": "vggish", **change}
    path = save_checkpoint(tmp_path / "best_model.pt", models.create_model("fc_audio", 2, layers=1, units=4),
                           extra=extra)

    def never(*a, **kw):
        raise AssertionError("the model was built from absurd sizes")

    monkeypatch.setattr(models, "create_model", never)
    for load in (load_tagger, embeddings.load_embedding_model):
        with pytest.raises(ValueError, match=rf"checkpoint {path}: {re.escape(field)}"):
            load(path)
