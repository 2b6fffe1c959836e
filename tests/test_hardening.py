"""Hostile but realistic inputs: damaged caches, hand-edited result files, lying file headers,
absurd parameters and archives built to escape. Each test builds the bad input the way a person
or a broken disk would, then checks the answer is an error naming the file (or parameter) and
the way out, or a correct result; never a silent wrong one, a crash in unrelated code or a
blown memory.
"""

from __future__ import annotations

import json
import os
import tarfile
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from audiolib import cache
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
