"""VGGish post-processing (PCA whitening, clipping, quantisation), clip embedding and the writers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiolib import embeddings as E
from audiolib.data.audioset import PAD_BYTE, load_embeddings


def _reference_postprocess(emb, eigen_vectors, means):
    """VGGish's vggish_postprocess.Postprocessor.postprocess, re-written from the release's algorithm."""
    pca_applied = np.dot(eigen_vectors, (emb.T - means)).T
    clipped = np.clip(pca_applied, -2.0, 2.0)
    quantized = (clipped - (-2.0)) * (255.0 / (2.0 - (-2.0)))
    return quantized.astype(np.uint8)  # truncation, as the release casts


def _correlated(n=600, d=128, seed=0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) * np.linspace(3.0, 0.1, d)[None, :]
    return rng.normal(size=(n, d)) @ mix.T + rng.normal(size=d) * 5


def test_postprocess_matches_vggish_reference():
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(50, 128)) * 3
    vectors, means = rng.normal(size=(128, 128)) * 0.1, rng.normal(size=(128, 1))
    ours = E.postprocess(emb, E.PCAParams(vectors, means))
    np.testing.assert_array_equal(ours, _reference_postprocess(emb, vectors, means))


def test_quantize_hand_values():
    # (x + 2) * 63.75 truncated: 0, 63.75, 127.5, 191.25, 255
    assert E.quantize(np.array([-2.0, -1.0, 0.0, 1.0, 2.0])).tolist() == [0, 63, 127, 191, 255]
    assert E.quantize(np.array([-100.0, 100.0])).tolist() == [0, 255]
    q = E.quantize(np.linspace(-2, 2, 1001))
    # dequantising to about the bin centre errs by at most 4/255 - 4/512 (0.0079)
    np.testing.assert_allclose(E.dequantize(q), np.linspace(-2, 2, 1001), rtol=0, atol=4 / 255 - 4 / 512 + 1e-6)


def test_fit_pca_whitens_like_sklearn():
    from sklearn.decomposition import PCA

    x = _correlated()
    pca = E.fit_pca(x)
    y = pca.apply(x)
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-8)
    np.testing.assert_allclose(np.cov(y, rowvar=False), np.eye(128), atol=1e-6)
    ref = PCA(n_components=128, whiten=True, svd_solver="full").fit(x).transform(x)
    # same components up to the sign of each one
    signs = np.sign((ref * y).sum(0))
    np.testing.assert_allclose(y, ref * signs, atol=1e-5)


def test_fit_pca_reduces_and_validates():
    x = _correlated(d=200)
    pca = E.fit_pca(x, n_components=128)
    assert pca.eigen_vectors.shape == (128, 200) and pca.output_dim == 128
    with pytest.raises(ValueError, match="fewer than n_components=128"):
        E.fit_pca(np.zeros((10, 64)))
    with pytest.raises(ValueError, match="NaN"):
        E.fit_pca(np.full((10, 128), np.nan))
    # a dimension without variance stays 0 instead of being blown up
    x = _correlated()
    x[:, 5] = 1.0
    assert np.isfinite(E.fit_pca(x).apply(x)).all()


def test_pca_file_uses_vggish_keys(tmp_path):
    pca = E.fit_pca(_correlated(n=300))
    path = pca.save(tmp_path / "vggish_pca_params.npz")
    with np.load(path) as f:
        assert set(f.files) == {"pca_eigen_vectors", "pca_means"} and f["pca_means"].shape == (128, 1)
    back = E.PCAParams.load(path)
    np.testing.assert_array_equal(back.eigen_vectors, pca.eigen_vectors)


def test_frames_per_clip_pads_crops_and_keeps_order():
    values = np.arange(14, dtype=np.uint8)[:, None].repeat(2, axis=1)
    clip_index = np.array([1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1])  # clip 0: rows 1, 3; clip 1: 12 rows
    grouped, counts = E.frames_per_clip(values, clip_index, 2, frames=10)
    assert counts.tolist() == [2, 12]
    assert grouped[0, :2, 0].tolist() == [1, 3] and (grouped[0, 2:] == PAD_BYTE).all()
    assert grouped[1, :, 0].tolist() == [0, 2, 4, 5, 6, 7, 8, 9, 10, 11]
    with pytest.raises(ValueError, match="1 clip"):
        E.frames_per_clip(values, clip_index, 3)


@pytest.fixture(scope="module")
def tiny_model_and_clips():
    from audiolib.data import load_dataset
    from audiolib.models import create_model

    torch.manual_seed(0)
    clips = load_dataset("synthetic", n_clips=6, seed=0, clip_seconds=3.0)
    model = create_model("fc_audio", len(clips.classes), layers=1, units=32, bottleneck=128)
    return model, clips


def test_embed_clipset_and_writers_round_trip(tiny_model_and_clips, tmp_path):
    model, clips = tiny_model_and_clips
    data, pca = E.embed_clipset(model, clips, frames=10, device="cpu", fit_rows=[0, 1, 2, 3])
    assert data.x.shape == (6, 10, 128) and data.x.dtype == np.uint8
    assert data.n_frames.tolist() == [3] * 6  # 3 s clips: three 0.96 s patches, then padding
    assert (data.x[:, 3:] == PAD_BYTE).all()
    np.testing.assert_array_equal(data.y, clips.targets() > 0.5)
    assert data.class_ids == list(clips.classes) and list(data.folds) == list(clips.manifest["split"])
    # the quantised frames are the post-processed model embeddings
    from audiolib.data.patches import build_patchset

    patches = build_patchset(clips, "vggish", progress=False)
    raw = E.embed_patches(model, patches, device="cpu")
    np.testing.assert_array_equal(data.x[0, :3], E.postprocess(raw[:3], pca))

    by_id = {c: i for i, c in enumerate(data.clip_ids)}
    for fmt in ("tfrecord", "hdf5"):
        files = E.WRITERS[fmt](data, tmp_path / fmt)
        assert files[0].name == "class_labels_indices.csv"
        back = load_embeddings(tmp_path / fmt) if fmt == "tfrecord" else None
        if fmt == "hdf5":
            from audiolib.data.audioset import read_hdf5_embeddings

            parts = [read_hdf5_embeddings(f) for f in files[1:]]
            back_x = np.concatenate([p.x for p in parts])
            back_ids = sum((p.clip_ids for p in parts), [])
            back_y = np.concatenate([p.y for p in parts])
        else:
            back_x, back_ids, back_y = back.x, back.clip_ids, back.y
            assert back.classes == data.classes and sorted(back.folds) == sorted(data.folds)
        rows = [by_id[c] for c in back_ids]
        assert sorted(rows) == list(range(6))
        np.testing.assert_array_equal(back_x, data.x[rows])
        np.testing.assert_array_equal(back_y, data.y[rows])


def test_cli_writes_readable_files(tiny_model_and_clips, tmp_path, capsys):
    model, clips = tiny_model_and_clips
    ckpt = E.save_embedding_model(tmp_path / "embed.pt", model, model_name="fc_audio",
                                  model_kwargs={"layers": 1, "units": 32, "bottleneck": 128},
                                  num_classes=len(clips.classes))
    rc = E.main(["--dataset", "synthetic", "--dataset-arg", "n_clips=3", "--dataset-arg", "clip_seconds=2.0",
                 "--checkpoint", str(ckpt), "--format", "hdf5", "--out", str(tmp_path / "out"), "--device", "cpu"])
    assert rc == 0, capsys.readouterr().err
    data = load_embeddings(tmp_path / "out" / "train.h5") if (tmp_path / "out" / "train.h5").exists() else None
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "class_labels_indices.csv" in written and "pca_params.npz" in written
    assert any(name.endswith(".h5") for name in written)
    if data is not None:
        assert data.x.shape[1:] == (10, 128)
    rc = E.main(["--dataset", "nope", "--checkpoint", str(ckpt), "--out", str(tmp_path / "x")])
    assert rc == 2 and "unknown dataset 'nope'" in capsys.readouterr().err


def test_load_embedding_model_needs_model_name(tmp_path):
    from audiolib.checkpoints import save_checkpoint

    path = save_checkpoint(tmp_path / "plain.pt", torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="plain.pt does not say which model"):
        E.load_embedding_model(path)
