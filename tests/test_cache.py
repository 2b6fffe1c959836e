"""audiolib.cache: features computed once per (dataset, front end), memory-mapped, sharded.

Reference: ``build_patchset`` (the in-memory path); a float32 cache must equal it exactly, a
float16 cache within the half-precision rounding (relative 2**-11, plus 1e-3 absolute near 0).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from audiolib import cache, distributed, paths
from audiolib.data._recipes import FileLoader
from audiolib.data.base import ClipSet
from audiolib.data.patches import build_patchset
from audiolib.features import get_config
from audiolib.train import TrainConfig, fit


class ToneLoader:
    """Clip ``clip_index`` -> 2 to 3 s (2 or 3 patches) of a tone plus noise, deterministic."""

    def __init__(self, calls: list | None = None):
        self.calls = calls

    def __call__(self, row):
        if self.calls is not None:
            self.calls.append(row["clip_id"])
        i = int(row["clip_index"])
        sr = 16000
        t = torch.arange(int(sr * (2.0 + 0.5 * (i % 3)))) / sr
        g = torch.Generator().manual_seed(i)
        return 0.1 * torch.sin(2 * torch.pi * (200 + 50 * i) * t) + 0.01 * torch.randn(t.shape, generator=g), sr


def tone_clips(n: int = 10, **loader_kw) -> ClipSet:
    rows = [{"clip_id": f"t{i}", "path": None, "labels": (("low",) if i % 2 else ("high",)), "clip_index": i}
            for i in range(n)]
    return ClipSet("tones", pd.DataFrame(rows), ["high", "low"], ToneLoader(**loader_kw), sample_rate=16000,
                   description=f"{n} tones")


@pytest.fixture
def root(tmp_path):
    return tmp_path / "features"


def test_cache_equals_build_patchset_and_is_sharded(root):
    clips = tone_clips(10)
    reference = build_patchset(clips, "vggish", progress=False)
    path = cache.build_cache(clips, "vggish", root=root, shard_clips=3, num_workers=2, progress=False)
    data = cache.open_cache(path)
    assert data.n_shards == 4 and [s["clips"] for s in data.meta["shards"]] == [[0, 3], [3, 6], [6, 9], [9, 10]]
    assert len(data) == len(reference) and data.example_shape == (1, 96, 64) and data.n_clips == 10
    assert torch.equal(data.clip_index, reference.clip_index)
    assert torch.equal(data.clip_targets, reference.clip_targets)
    assert data.clip_ids == reference.clip_ids and data.classes == reference.classes
    loaded = data.to_patchset()
    assert torch.equal(loaded.patches, reference.patches) and torch.equal(loaded.targets, reference.targets)
    idx = torch.tensor([len(data) - 1, 0, 7, 3, 7])  # across shards, unsorted, repeated
    x, y = data.get_batch(idx)
    assert torch.equal(x, reference.get_batch(idx)[0]) and torch.equal(y, reference.get_batch(idx)[1])
    x0, y0 = data[5]
    assert torch.equal(x0, reference[5][0]) and torch.equal(y0, reference[5][1])
    with pytest.raises(IndexError, match="out of range"):
        data.get_batch(torch.tensor([len(data)]))
    # the shards are memory maps, not arrays in memory
    assert isinstance(data._array(0), np.memmap)
    # no staging folder or lock left behind but the lock file
    assert sorted(p.name for p in root.iterdir() if not p.name.endswith(".lock")) == [path.name]


def test_views_match_the_in_memory_patchset(root):
    clips = tone_clips(8)
    reference = build_patchset(clips, "vggish", progress=False)
    data = cache.open_cache(cache.build_cache(clips, "vggish", root=root, shard_clips=3, progress=False))
    for view, ref in ((data.subset_clips([6, 1, 3]), reference.subset_clips([6, 1, 3])),
                      (data.select_classes([1]), reference.select_classes([1])),
                      (data.subset_clips([7, 2]).select_classes([1, 0]), reference.subset_clips([7, 2]).select_classes([1, 0]))):
        mem = view.to_patchset()
        assert torch.equal(mem.patches, ref.patches) and torch.equal(mem.targets, ref.targets)
        assert torch.equal(view.clip_index, ref.clip_index) and view.clip_ids == ref.clip_ids
        assert view.classes == ref.classes and torch.equal(view.clip_targets, ref.clip_targets)


def test_second_call_reads_without_recomputing(root):
    calls: list = []
    clips = tone_clips(6, calls=calls)
    first = cache.cached_patchset(clips, "vggish", root=root, progress=False)
    assert len(calls) == 6
    second = cache.cached_patchset(clips, "vggish", root=root, progress=False)
    assert len(calls) == 6  # nothing decoded or featurised again
    assert torch.equal(first.patches, second.patches)
    assert isinstance(cache.cached_patchset(clips, "vggish", root=root, in_memory=False), cache.CachedPatchSet)
    listing = cache.list_caches(root)
    assert listing[["dataset", "clips", "shards"]].values.tolist() == [["tones", 6, 1]]


def test_key_changes_with_config_and_dataset(tmp_path, root):
    clips = tone_clips(6)
    config = get_config("vggish")
    key = cache.feature_key(clips, config)
    assert key == cache.feature_key(tone_clips(6), get_config("vggish"))  # stable
    assert key == cache.feature_key(clips, "vggish")
    changed = {
        "config": cache.feature_key(clips, config.with_(n_mels=32)),
        "preset": cache.feature_key(clips, "t19_cnn"),
        "pad_short": cache.feature_key(clips, config, pad_short=False),
        "dtype": cache.feature_key(clips, config, dtype="float16"),
        "fewer clips": cache.feature_key(clips.subset(range(5)), config),
        "labels": cache.feature_key(clips.subset(range(6), classes=["low"]), config),
    }
    assert len(set(changed.values()) | {key}) == len(changed) + 1, changed
    # a recording replaced on disk (same path) is a new key too
    path = tmp_path / "a.wav"
    sf.write(path, np.zeros(16000, dtype=np.float32), 16000)
    files = ClipSet("wavs", pd.DataFrame([{"clip_id": "a", "path": str(path), "labels": ("x",)}]), ["x"], FileLoader())
    before = cache.feature_key(files, config)
    time.sleep(0.01)
    sf.write(path, 0.5 * np.ones(16000, dtype=np.float32), 16000)
    os.utime(path, ns=(time.time_ns(), time.time_ns()))
    assert cache.feature_key(files, config) != before
    # and a different config gives a new entry, never the old one
    a = cache.build_cache(clips, config, root=root, progress=False)
    b = cache.build_cache(clips, config.with_(n_mels=32), root=root, progress=False)
    assert a != b and cache.open_cache(b).example_shape == (1, 96, 32)


def test_interrupted_build_resumes_with_the_next_shard(tmp_path, root):
    flag = tmp_path / "repaired"
    calls: list = []
    clips = tone_clips(9, calls=calls)
    reference = build_patchset(tone_clips(9), "vggish", progress=False)

    class FailOnClip:  # clip t5 (in the second shard) fails
        def __init__(self, inner):
            self.inner = inner

        def __call__(self, row):
            if row["clip_id"] == "t5" and not flag.exists():
                raise OSError("disk error on t5")
            return self.inner(row)

    clips.loader = FailOnClip(clips.loader)
    with pytest.raises(Exception, match="clip t5: disk error on t5"):
        cache.build_cache(clips, "vggish", root=root, shard_clips=4, progress=False)
    partial = [p for p in root.iterdir() if p.name.endswith(".partial")]
    assert len(partial) == 1 and (partial[0] / "shard-00000.json").exists()
    flag.touch()
    calls.clear()
    path = cache.build_cache(clips, "vggish", root=root, shard_clips=4, progress=False)
    assert calls == [f"t{i}" for i in range(4, 9)]  # shard 0 was not computed again
    assert torch.equal(cache.open_cache(path).to_patchset().patches, reference.patches)
    assert not partial[0].exists()


def test_float16_cache_is_close(root):
    clips = tone_clips(4)
    reference = build_patchset(clips, "vggish", progress=False)
    half = cache.open_cache(cache.build_cache(clips, "vggish", root=root, dtype="float16", progress=False))
    torch.testing.assert_close(half.to_patchset().patches, reference.patches, rtol=2 ** -11, atol=1e-3)
    with pytest.raises(ValueError, match="dtype"):
        cache.build_cache(clips, "vggish", root=root, dtype="int8")


def test_streaming_gives_each_rank_its_own_shards(root):
    clips = tone_clips(12)
    stream = cache.open_cache(cache.build_cache(clips, "vggish", root=root, shard_clips=2, progress=False)).stream()
    shard_of = np.searchsorted(stream._offsets, np.arange(len(stream)), side="right") - 1
    B, W, seed = 8, 2, 5
    steps = [stream.steps_in_epoch(e, B, seed, W) for e in range(3)]
    cum = np.cumsum([0] + steps)
    for epoch in range(2):
        seen = {r: [] for r in range(W)}
        for step in range(cum[epoch], cum[epoch + 1]):
            shares = [stream.local_batch_indices(step, B, seed, r, W) for r in range(W)]
            assert all(len(s) == B // W for s in shares)
            assert not set(shares[0].tolist()) & set(shares[1].tolist())
            for r in range(W):
                seen[r] += shares[r].tolist()
        for r in range(W):
            own = set(stream.shards_of_rank(epoch, seed, r, W))
            assert set(shard_of[seen[r]]) <= own  # a rank reads only its own shards
            assert len(seen[r]) == len(set(seen[r]))  # no repeat within an epoch
        assert not set(stream.shards_of_rank(epoch, seed, 0, W)) & set(stream.shards_of_rank(epoch, seed, 1, W))
    assert stream.shards_of_rank(0, seed, 0, W) != stream.shards_of_rank(1, seed, 0, W) or \
        stream.shards_of_rank(0, seed, 1, W) != stream.shards_of_rank(1, seed, 1, W)  # re-dealt each epoch
    again = cache.open_cache(stream.path).stream()
    assert all(torch.equal(again.local_batch_indices(s, B, seed, 1, W), stream.local_batch_indices(s, B, seed, 1, W))
               for s in (7, 0, 3))  # a pure function of the step, in any order
    with pytest.raises(ValueError, match="smaller shard_clips"):
        stream.local_batch_indices(0, 400, seed, 0, 2)


def test_fit_reads_the_cache_like_the_in_memory_set(root):
    clips = tone_clips(8)
    data = cache.open_cache(cache.build_cache(clips, "vggish", root=root, shard_clips=3, progress=False))
    memory = data.to_patchset()
    weights = []
    for train_set, workers in ((memory, 0), (data, 0), (data, 2)):
        torch.manual_seed(0)
        from audiolib.models import create_model

        model = create_model("fc_audio", 2, layers=1, units=8)
        fit(model, train_set, TrainConfig(steps=4, batch_size=8, progress=False, num_workers=workers))
        weights.append(model.state_dict())
    for w in weights[1:]:
        assert all(torch.equal(w[k], weights[0][k]) for k in w)
    torch.manual_seed(0)
    from audiolib.models import create_model

    model = create_model("fc_audio", 2, layers=1, units=8)
    result = fit(model, data.stream(), TrainConfig(steps=3, batch_size=8, progress=False))
    assert len(result.history) == 3


def float_wav_clips(folder, n: int = 6, nan_clip: int | None = None) -> ClipSet:
    """Float WAV files (their samples can only be checked by decoding); ``nan_clip`` holds a NaN."""
    rows = []
    for i in range(n):
        wave = (0.1 * np.sin(np.arange(20000) * (0.01 + 0.001 * i))).astype(np.float32)
        if i == nan_clip:
            wave[1234] = np.nan
        path = folder / f"f{i}.wav"
        sf.write(path, wave, 16000, subtype="FLOAT")
        rows.append({"clip_id": f"f{i}", "path": str(path), "labels": ("x",)})
    return ClipSet("floats", pd.DataFrame(rows), ["x"], FileLoader())


def _distributed_build(root: str, bad_folder: str) -> tuple[str, str]:
    """Under 2 ranks: a set with a NaN in rank 1's shard must fail on both ranks before any
    feature is computed; then a good set is built by both ranks together."""
    from audiolib.data.scan import UnusableDataError

    bad = float_wav_clips(Path(bad_folder), nan_clip=5)
    bad = bad.subset([0, 1, 5, 2, 3, 4])  # shards of 2 clips: f5 (row 2) is in shard 1, read by rank 1 only
    try:
        cache.build_cache(bad, "vggish", root=root + "-bad", shard_clips=2, progress=False)
        error = ""
    except UnusableDataError as exc:
        error = str(exc)
    return str(cache.build_cache(tone_clips(10), "vggish", root=root, shard_clips=2, progress=False)), error


def test_ranks_build_shards_together(tmp_path):
    single = cache.build_cache(tone_clips(10), "vggish", root=tmp_path / "one", shard_clips=2, progress=False)
    (tmp_path / "bad").mkdir()
    out = distributed.launch(_distributed_build, 2, args=(str(tmp_path / "two"), str(tmp_path / "bad")),
                             device="cpu", timeout_s=180)
    (path0, error0), (path1, error1) = out
    assert path0 == path1
    a, b = cache.open_cache(single), cache.open_cache(path0)
    assert torch.equal(a.to_patchset().patches, b.to_patchset().patches)
    assert json.loads((b.path / "meta.json").read_text())["n_patches"] == len(a)
    # the clip only rank 1 decoded makes both ranks raise the same error, before any feature work
    assert error0 == error1 and "1 of 6 clips are unusable" in error0 and "f5.wav" in error0
    assert not (tmp_path / "two-bad").exists() or not any((tmp_path / "two-bad").iterdir())


def test_bad_inputs(tmp_path, root):
    with pytest.raises(FileNotFoundError, match="no meta.json"):
        cache.open_cache(tmp_path)
    with pytest.raises(ValueError, match="not a feature-cache entry"):
        cache.remove_cache(tmp_path)
    with pytest.raises(ValueError, match="shard_clips"):
        cache.build_cache(tone_clips(2), "vggish", root=root, shard_clips=0)
    with pytest.raises(ValueError, match="no clips"):
        cache.build_cache(tone_clips(0), "vggish", root=root)
    path = cache.build_cache(tone_clips(2), "vggish", root=root, progress=False)
    cache.remove_cache(path)
    assert not path.exists()
    assert cache.cache_root() == paths.data_root() / "features"


def test_a_wrapping_loader_keys_the_inner_loader_too():
    from audiolib.cache import _loader_digest

    class Wrapper:
        def __init__(self, loader):
            self.loader = loader

        def __call__(self, row):
            return self.loader(row)

    def read_a(row):
        return row

    def read_b(row):
        return row

    assert _loader_digest(Wrapper(read_a)) != _loader_digest(Wrapper(read_b))
    assert _loader_digest(Wrapper(read_a)).split("|inner:")[0] == _loader_digest(Wrapper(read_b)).split("|inner:")[0]
    assert "|inner:" not in _loader_digest(read_a)        # a plain loader's key is as before

    class ClipsWrapper:                                   # wraps a whole ClipSet (its .loader)
        def __init__(self, loader):
            self.clips = type("Clips", (), {"loader": loader})()

    assert _loader_digest(ClipsWrapper(read_a)) != _loader_digest(ClipsWrapper(read_b))


class _Counting(torch.nn.Module):
    """A fixed "network" whose embedding is the first 4 values of a patch; counts its batches."""

    calls = 0

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(scale))

    def embedding(self, x):
        _Counting.calls += 1
        return x.flatten(1)[:, :4] * self.scale

    def forward(self, x):
        return self.embedding(x)


def test_fixed_network_embeddings_are_kept_keyed_and_verified(tmp_path, monkeypatch):
    from audiolib.cache import CacheIntegrityError, cached_embeddings
    from audiolib.data import load_dataset
    from audiolib.data.patches import PatchSet

    monkeypatch.setenv("AUDIOLIB_DATA", str(tmp_path))
    clips = load_dataset("synthetic", n_clips=3, seed=0)
    y = torch.eye(3).repeat(2, 1)
    patches = PatchSet(torch.randn(6, 96, 64), y, torch.arange(6) // 2, y, clips.manifest["clip_id"].tolist(),
                       ["a", "b", "c"])
    first = cached_embeddings(_Counting(), patches, clips, "vggish", device="cpu")
    calls = _Counting.calls
    again = cached_embeddings(_Counting(), patches, clips, "vggish", device="cpu")
    assert _Counting.calls == calls and first.shape == (6, 4)
    np.testing.assert_array_equal(first, again)
    (kept,) = (tmp_path / "embeddings").glob("synthetic-*.npy")
    assert kept.with_suffix(".json").exists()
    # other weights are another key: computed, not read
    other = cached_embeddings(_Counting(2.0), patches, clips, "vggish", device="cpu")
    assert _Counting.calls > calls and np.allclose(other, 2 * first)
    # a damaged file is an error naming it
    raw = bytearray(kept.read_bytes())
    raw[-1] ^= 0xFF
    kept.write_bytes(bytes(raw))
    with pytest.raises(CacheIntegrityError, match=kept.name):
        cached_embeddings(_Counting(), patches, clips, "vggish", device="cpu")
