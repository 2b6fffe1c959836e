"""audiolib.loaders: decoding, resampling and features in DataLoader workers; training batches.

References: every batch is compared with the same clip loaded and processed directly in this
process (``audio.load_audio`` / ``audio.resample`` / ``data.patches.clip_patches``), exactly
(float32 ``torch.equal``): the workers run the same code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from audiolib import loaders
from audiolib.audio import load_audio, resample
from audiolib.data._recipes import FileLoader
from audiolib.data.base import ClipSet
from audiolib.data.patches import PatchSet, clip_patches
from audiolib.features import get_config


def wav_clips(tmp_path, rates=(16000, 16000, 8000, 22050, 16000), seconds=(1.0, 0.5, 1.2, 0.3, 2.0)) -> ClipSet:
    rng = np.random.default_rng(0)
    rows = []
    for i, (sr, sec) in enumerate(zip(rates, seconds)):
        path = tmp_path / f"clip {i}.wav"
        sf.write(path, (0.1 * rng.standard_normal(int(sr * sec))).astype(np.float32), sr)
        rows.append({"clip_id": f"c{i}", "path": str(path), "labels": (("a",) if i % 2 else ("b",)), "fold": 1 + i % 2})
    return ClipSet("wavs", pd.DataFrame(rows), ["a", "b"], FileLoader())


@pytest.mark.parametrize("workers", [0, 2])
def test_clip_loader_decodes_and_resamples_in_workers(tmp_path, workers):
    clips = wav_clips(tmp_path)
    batches = list(loaders.clip_loader(clips, sample_rate=16000, batch_size=2, num_workers=workers, device="cpu"))
    assert [b[3].tolist() for b in batches] == [[0, 1], [2, 3], [4]]
    targets = torch.from_numpy(clips.targets())
    for waves, lengths, y, rows in batches:
        assert not waves.is_pinned()  # CPU: no pinned memory
        for k, row in enumerate(rows.tolist()):
            wave, sr = load_audio(clips.manifest.path[row])
            expected = resample(wave, sr, 16000)
            assert lengths[k] == expected.shape[0]
            assert torch.equal(waves[k, : lengths[k]], expected)
            assert torch.all(waves[k, lengths[k]:] == 0)
            assert torch.equal(y[k], targets[row])


def test_clip_loader_shuffles_by_seed_without_touching_the_global_generator(tmp_path):
    clips = wav_clips(tmp_path)
    state = torch.get_rng_state()
    order = [torch.cat([b[3] for b in loaders.clip_loader(clips, sample_rate=8000, shuffle=True, seed=s)]).tolist()
             for s in (1, 1, 2)]
    assert torch.equal(torch.get_rng_state(), state)
    assert order[0] == order[1] and sorted(order[0]) == list(range(5))
    assert order[0] != order[2]


def test_clip_loader_errors_name_the_file(tmp_path):
    clips = wav_clips(tmp_path)
    with pytest.raises(ValueError, match="mixes sample rates"):
        list(loaders.clip_loader(clips, batch_size=5))
    (tmp_path / "clip 2.wav").write_bytes(b"RIFF....WAVEnot really")
    for workers in (0, 2):
        with pytest.raises(loaders.ClipLoadError, match=r"clip c2 \(.*clip 2\.wav\)"):
            list(loaders.clip_loader(clips, sample_rate=16000, batch_size=2, num_workers=workers))
    with pytest.raises(ValueError, match="batch_size"):
        loaders.clip_loader(clips, batch_size=0)
    with pytest.raises(ValueError, match="sample_rate"):
        loaders.clip_loader(clips, sample_rate=-5)


def test_clip_loader_crops_to_max_seconds(tmp_path):
    clips = wav_clips(tmp_path)
    waves, lengths, _, _ = next(iter(loaders.clip_loader(clips, sample_rate=16000, batch_size=5, max_seconds=0.4)))
    assert lengths.tolist() == [6400, 6400, 6400, 4800, 6400]


@pytest.mark.parametrize("workers", [0, 2])
def test_feature_loader_equals_clip_patches_in_order(tmp_path, workers):
    clips = wav_clips(tmp_path)
    config = get_config("vggish")
    out = list(loaders.feature_loader(clips, config, rows=[4, 0, 3], num_workers=workers))
    assert [row for row, _ in out] == [4, 0, 3]
    for row, patches in out:
        wave, sr = load_audio(clips.manifest.path[row])
        assert torch.equal(patches, clip_patches(wave, sr, config).float())
    # clip 3 (0.3 s) is shorter than one 0.96 s patch: padded to one by default, an error without
    assert out[2][1].shape == (1, 96, 64)
    with pytest.raises(loaders.ClipLoadError, match="clip c3.*shorter than one 96-frame patch"):
        list(loaders.feature_loader(clips, config, rows=[3], pad_short=False))


def test_step_batches_are_the_same_with_and_without_workers():
    g = torch.Generator().manual_seed(0)
    data = PatchSet(torch.randn(40, 4, 3, generator=g), torch.rand(40, 2, generator=g), torch.arange(40),
                    torch.rand(40, 2, generator=g), [str(i) for i in range(40)], ["x", "y"])
    index = loaders.GlobalBatchIndex(len(data), 8, seed=3, rank=1, world_size=2)
    direct = [data.get_batch(index(s)) for s in range(2, 9)]
    for workers in (0, 2):
        got = list(loaders.step_batches(data, index, range(2, 9), num_workers=workers))
        assert len(got) == len(direct)
        for (x, y), (dx, dy) in zip(got, direct):
            assert x.shape == (4, 1, 4, 3)  # this rank's half of a global batch of 8
            assert torch.equal(x, dx) and torch.equal(y, dy)
    # a plain map-style dataset of (x, y) items is collated
    items = [(torch.full((2,), float(i)), torch.tensor([i % 2], dtype=torch.float32)) for i in range(10)]
    x, y = next(loaders.step_batches(items, lambda s: torch.tensor([3, 1]), [0]))
    assert x.tolist() == [[3.0, 3.0], [1.0, 1.0]] and y.tolist() == [[1.0], [1.0]]
