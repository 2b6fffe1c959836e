"""AudioSet-style embeddings of any dataset: VGGish post-processing and the embedding writers.

AudioSet's released features are a VGGish model's 128-d embedding of every 0.96 s second of a
10 s clip, post-processed as the VGGish release does (``vggish_postprocess.py``):

1. PCA: ``pca = E @ (e - mean)`` with the eigenvectors ``E`` [128, 128] (rows, scaled for
   whitening) and the means [128, 1] of ``vggish_pca_params.npz``;
2. clipping to [-2, 2];
3. 8-bit quantisation: ``(x + 2) * 255 / 4`` truncated to uint8.

This module fits that PCA on one's own embeddings (:func:`fit_pca`), applies the three steps
(:func:`postprocess`), embeds a :class:`~audiolib.data.base.ClipSet` with a trained model
(:func:`embed_clipset`) into an :class:`~audiolib.data.audioset.EmbeddingSet`, and writes it
in the release's formats through :data:`WRITERS` (``"tfrecord"``, ``"hdf5"``), which
:func:`audiolib.data.audioset.load_embeddings` reads back.

Clips are ``frames`` (10) embeddings long: a clip with fewer 0.96 s patches is padded with byte
128 (about 0.0 after dequantisation) and a longer one cropped to its first ``frames`` patches;
``EmbeddingSet.n_frames`` keeps the real count.

Command line (the ``audiolib embed`` CLI picks up the same writers)::

    python -m audiolib.embeddings --dataset esc10 --checkpoint ckpt.pt --format hdf5 --out out/

>>> pca = fit_pca(np.random.randn(500, 128))                        # doctest: +SKIP
>>> data, pca = embed_clipset(model, clips, pca=pca)                # doctest: +SKIP
>>> WRITERS["tfrecord"](data, "out/")                               # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from audiolib.data.audioset import (
    EMBEDDING_DIM,
    PAD_BYTE,
    QUANTIZE_MAX,
    QUANTIZE_MIN,
    EmbeddingSet,
    dequantize,
    write_class_labels,
    write_hdf5_embeddings,
    write_tfrecord_embeddings,
)
from audiolib.params import parse_assignments

__all__ = ["PCAParams", "fit_pca", "quantize", "dequantize", "postprocess", "frames_per_clip", "embed_patches",
           "embed_clipset", "write_tfrecord_dir", "write_hdf5_dir", "WRITERS", "save_embedding_model",
           "load_embedding_model", "main"]


# --- PCA whitening ----------------------------------------------------------------------------
@dataclass
class PCAParams:
    """VGGish's PCA parameters: ``eigen_vectors`` [k, D] (rows; whitening-scaled) and ``means`` [D, 1].

    :meth:`save`/:meth:`load` use the keys of ``vggish_pca_params.npz`` (``pca_eigen_vectors``,
    ``pca_means``), so the released file loads too.
    """

    eigen_vectors: np.ndarray
    means: np.ndarray

    def __post_init__(self):
        self.eigen_vectors = np.asarray(self.eigen_vectors, dtype=np.float64)
        self.means = np.asarray(self.means, dtype=np.float64).reshape(-1, 1)
        if self.eigen_vectors.ndim != 2 or self.eigen_vectors.shape[1] != self.means.shape[0]:
            raise ValueError(f"PCA eigen_vectors {self.eigen_vectors.shape} do not match means {self.means.shape}")

    @property
    def input_dim(self) -> int:
        return self.means.shape[0]

    @property
    def output_dim(self) -> int:
        return self.eigen_vectors.shape[0]

    def apply(self, embeddings: np.ndarray) -> np.ndarray:
        """``[N, D]`` -> ``[N, k]``: ``(E @ (e.T - means)).T`` as in VGGish's post-processor."""
        embeddings = np.asarray(embeddings, dtype=np.float64)
        if embeddings.ndim != 2 or embeddings.shape[1] != self.input_dim:
            raise ValueError(f"PCA expects embeddings [N, {self.input_dim}], got {tuple(embeddings.shape)}")
        return (self.eigen_vectors @ (embeddings.T - self.means)).T

    def save(self, path: str | Path) -> Path:
        from audiolib.results import atomic_path

        path = Path(path)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, pca_eigen_vectors=self.eigen_vectors, pca_means=self.means)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "PCAParams":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"PCA parameter file {path} does not exist")
        with np.load(path) as f:
            missing = [k for k in ("pca_eigen_vectors", "pca_means") if k not in f]
            if missing:
                raise ValueError(f"{path}: missing {missing}; expected VGGish's pca_eigen_vectors and pca_means")
            return cls(f["pca_eigen_vectors"], f["pca_means"])

    def to_dict(self) -> dict[str, Any]:
        return {"eigen_vectors": torch.from_numpy(self.eigen_vectors), "means": torch.from_numpy(self.means)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PCAParams":
        return cls(np.asarray(d["eigen_vectors"]), np.asarray(d["means"]))


def fit_pca(embeddings: np.ndarray, *, n_components: int = EMBEDDING_DIM, whiten: bool = True,
            eps: float = 1e-8) -> PCAParams:
    """Fit VGGish-style PCA parameters on ``embeddings`` [N, D] (D >= ``n_components``).

    The rows of ``eigen_vectors`` are the principal directions (eigenvectors of the covariance,
    largest variance first, sign fixed so that each row's largest-magnitude entry is positive),
    each divided by ``sqrt(eigenvalue)`` when ``whiten``: the output then has zero mean,
    identity covariance on the fitting data, and clipping to [-2, 2] cuts about 5 % of values.
    Directions whose variance is below ``eps`` times the largest give 0 rather than being
    amplified.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"fit_pca expects [N, D] embeddings, got shape {tuple(x.shape)}")
    n, d = x.shape
    if d < n_components:
        raise ValueError(f"fit_pca: embeddings have {d} dimensions, fewer than n_components={n_components}")
    if n < 2:
        raise ValueError(f"fit_pca needs at least 2 embeddings, got {n}")
    if not np.isfinite(x).all():
        raise ValueError("fit_pca: embeddings contain NaN or inf")
    mean = x.mean(axis=0)
    cov = np.cov(x - mean, rowvar=False)
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1][:n_components]
    values, vectors = np.clip(values[order], 0.0, None), vectors[:, order].T
    signs = np.sign(vectors[np.arange(len(vectors)), np.abs(vectors).argmax(axis=1)])
    vectors *= np.where(signs == 0, 1.0, signs)[:, None]
    if whiten:
        usable = values > eps * max(float(values.max()), np.finfo(np.float64).tiny)
        scale = np.where(usable, 1.0 / np.sqrt(np.where(usable, values, 1.0)), 0.0)
        vectors = vectors * scale[:, None]
    return PCAParams(vectors, mean[:, None])


def quantize(x: np.ndarray, low: float = QUANTIZE_MIN, high: float = QUANTIZE_MAX) -> np.ndarray:
    """Clip to ``[low, high]``, map linearly to [0, 255] and truncate to uint8, as VGGish's
    post-processor does (``astype(np.uint8)``, no rounding: 0.0 becomes 127, only ``high`` 255).

    >>> quantize(np.array([-3.0, -2.0, 0.0, 1.99, 2.0, 9.0])).tolist()
    [0, 0, 127, 254, 255, 255]
    """
    clipped = np.clip(np.asarray(x, dtype=np.float64), low, high)
    return ((clipped - low) * (255.0 / (high - low))).astype(np.uint8)


def postprocess(embeddings: np.ndarray, pca: PCAParams) -> np.ndarray:
    """VGGish post-processing: PCA(-whitening), clipping to [-2, 2], 8-bit quantisation -> uint8 [N, k]."""
    return quantize(pca.apply(embeddings))


# --- embedding a dataset ----------------------------------------------------------------------
def frames_per_clip(values: np.ndarray, clip_index: np.ndarray, n_clips: int, frames: int = 10,
                    pad_value: int = PAD_BYTE) -> tuple[np.ndarray, np.ndarray]:
    """Group per-patch rows ``[N, D]`` into ``[n_clips, frames, D]`` in patch order.

    Rows of a clip keep their order; a clip with fewer than ``frames`` rows is padded with
    ``pad_value`` at the end, one with more is cropped to its first ``frames``.

    Returns:
        ``(grouped, n_frames)`` where ``n_frames[c]`` is the clip's row count before padding.
    """
    clip_index = np.asarray(clip_index, dtype=np.int64)
    out = np.full((n_clips, frames, values.shape[1]), pad_value, dtype=values.dtype)
    counts = np.bincount(clip_index, minlength=n_clips)
    if (counts == 0).any():
        raise ValueError(f"{int((counts == 0).sum())} clip(s) have no patch to embed")
    order = np.argsort(clip_index, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.arange(len(order)) - starts[clip_index[order]]
    keep = position < frames
    out[clip_index[order][keep], position[keep]] = values[order][keep]
    return out, counts.astype(np.int64)


def embed_patches(model: nn.Module, patches, *, batch_size: int = 256,
                  device: str | torch.device | None = "auto") -> np.ndarray:
    """Raw (float) embeddings ``[N, embedding_dim]`` of every patch, from ``model.embedding``."""
    from audiolib.train import predict

    if not hasattr(model, "embedding"):
        raise TypeError(f"{type(model).__name__} has no .embedding(x); use a registered model")
    return predict(model, patches, batch_size=batch_size, device=device, embeddings=True)


def embed_clipset(model: nn.Module, clips, *, frames: int = 10, pca: PCAParams | None = None,
                  fit_rows: Sequence[int] | np.ndarray | None = None, feature_config: Any = "vggish",
                  patches=None, batch_size: int = 256, device: str | torch.device | None = "auto",
                  progress: bool = False) -> tuple[EmbeddingSet, PCAParams]:
    """AudioSet-style embeddings of every clip: ``[n_clips, frames, 128]`` uint8 plus labels.

    Args:
        model: a trained model with ``.embedding(x)`` giving ``[B, D]`` (D >= 128) from
            ``[B, 1, 96, 64]`` log-mel patches (e.g. ``create_model(name, C, bottleneck=128)``).
        clips: any :class:`~audiolib.data.base.ClipSet`.
        frames: embeddings per clip (10, as AudioSet); pad/crop as in the module docstring.
        pca: post-processing parameters; ``None`` fits them (:func:`fit_pca`) on the patches of
            the clips at ``fit_rows`` (all clips when ``None``): fit on training clips only to
            keep test data out of it.
        feature_config: log-mel front end for the patches (default the VGGish one).
        patches: a precomputed :class:`~audiolib.data.patches.PatchSet` of ``clips``.
        device: where the model runs (default CUDA when present).

    Returns:
        ``(EmbeddingSet, PCAParams)``; the set's ``folds`` are the manifest's ``fold`` or
        ``split`` column, its ``classes`` the display names and ``class_ids`` the codes.
    """
    from audiolib.data.patches import build_patchset

    if patches is None:  # rows must stay aligned with clips.manifest: a bad clip is an error here
        patches = build_patchset(clips, feature_config, progress=progress, on_error="error")
    raw = embed_patches(model, patches, batch_size=batch_size, device=device)
    clip_index = patches.clip_index.numpy()
    if pca is None:
        if fit_rows is None:
            fit = raw
        else:
            mask = np.zeros(patches.n_clips, bool)
            mask[np.asarray(fit_rows)] = True
            fit = raw[mask[clip_index]]
        pca = fit_pca(fit)
    quantised = postprocess(raw, pca)
    x, n_frames = frames_per_clip(quantised, clip_index, patches.n_clips, frames)
    codes, names = [str(c) for c in clips.classes], clips.class_names()
    manifest = clips.manifest
    folds = manifest["fold"].to_numpy() if "fold" in manifest else (
        manifest["split"].to_numpy() if "split" in manifest else None)
    from audiolib.features import get_config

    config = get_config(feature_config) if isinstance(feature_config, str) else feature_config
    hop = config.patch_step * config.hop_length / config.sample_rate
    data = EmbeddingSet(x, clips.targets() > 0.5, manifest["clip_id"].astype(str).tolist(), names, codes,
                        n_frames, np.zeros(len(manifest)), n_frames * hop, folds, name=clips.name,
                        description=f"128-d embeddings ({type(model).__name__}, VGGish post-processing) of "
                                    f"{clips.description or clips.name}")
    return data, pca


# --- writers ------------------------------------------------------------------------------------
def _groups(data: EmbeddingSet) -> dict[str, np.ndarray]:
    if data.folds is None:
        return {"all": np.arange(len(data))}
    folds = data.folds.astype(str)
    return {f: np.flatnonzero(folds == f) for f in dict.fromkeys(folds.tolist())}


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(name)) or "all"


def write_tfrecord_dir(data: EmbeddingSet, out: str | Path, *, records_per_file: int = 1000) -> list[Path]:
    """Write ``data`` as the release lays it out: ``<out>/<split>/<name>-NNNN.tfrecord`` (one
    folder per fold/split value, ``all`` without folds) and ``<out>/class_labels_indices.csv``.

    Returns the files written (the class list first).
    """
    out = Path(out)
    if records_per_file < 1:
        raise ValueError(f"records_per_file must be >= 1, got {records_per_file}")
    written = [write_class_labels(out / "class_labels_indices.csv", data.class_ids, data.classes)]
    for fold, rows in _groups(data).items():
        part = data.subset(rows)
        records = part.to_records()
        for shard, start in enumerate(range(0, len(records), records_per_file)):
            path = out / _safe(fold) / f"{_safe(data.name)}-{shard:04d}.tfrecord"
            written.append(write_tfrecord_embeddings(path, records[start:start + records_per_file]))
    return written


def write_hdf5_dir(data: EmbeddingSet, out: str | Path) -> list[Path]:
    """Write ``data`` as packed HDF5, one file per fold/split: ``<out>/<split>.h5`` (as
    ``bal_train.h5``/``eval.h5``; ``all.h5`` without folds), plus ``class_labels_indices.csv``."""
    out = Path(out)
    written = [write_class_labels(out / "class_labels_indices.csv", data.class_ids, data.classes)]
    for fold, rows in _groups(data).items():
        written.append(write_hdf5_embeddings(out / f"{_safe(fold)}.h5", data.subset(rows)))
    return written


#: format name -> ``writer(EmbeddingSet, out_dir) -> list of files``; the ``audiolib embed`` CLI uses these.
WRITERS: dict[str, Callable[[EmbeddingSet, str | Path], list[Path]]] = {
    "tfrecord": write_tfrecord_dir,
    "hdf5": write_hdf5_dir,
}


# --- checkpoints of embedding models ----------------------------------------------------------
def save_embedding_model(path: str | Path, model: nn.Module, *, model_name: str, model_kwargs: dict[str, Any],
                         num_classes: int, pca: PCAParams | None = None, feature_config: str = "vggish") -> Path:
    """Save a trained embedding model with what is needed to rebuild it (and its PCA)."""
    from audiolib.checkpoints import save_model

    return save_model(path, model, model_name=model_name, model_kwargs=model_kwargs, num_classes=num_classes,
                      feature_config=feature_config, **({"pca": pca.to_dict()} if pca is not None else {}))


def load_embedding_model(path: str | Path, *, device: str | torch.device | None = "cpu"
                         ) -> tuple[nn.Module, PCAParams | None, dict[str, Any]]:
    """Rebuild a model saved by :func:`save_embedding_model`: ``(model, pca or None, extra)``."""
    from audiolib.checkpoints import load_model

    model, extra = load_model(path, device=device)
    pca = PCAParams.from_dict(extra["pca"]) if "pca" in extra else None
    return model, pca, extra


# --- command line -------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m audiolib.embeddings``: embed a dataset with a trained model and write it."""
    parser = argparse.ArgumentParser(prog="python -m audiolib.embeddings",
                                     description="Write AudioSet-format embeddings of a dataset.")
    parser.add_argument("--dataset", required=True, help="a name from audiolib.data.list_datasets()")
    parser.add_argument("--dataset-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="keyword argument of the dataset loader, e.g. n_clips=200")
    parser.add_argument("--checkpoint", required=True, help="a checkpoint written by save_embedding_model")
    parser.add_argument("--format", choices=sorted(WRITERS), default="tfrecord")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--frames", type=int, default=10, help="embeddings per clip (pad/crop)")
    parser.add_argument("--pca", default=None, help="PCA parameters (.npz, VGGish keys); default: the "
                                                    "checkpoint's, else fitted on the dataset's clips")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    from audiolib.data import load_dataset

    try:
        model, pca, extra = load_embedding_model(args.checkpoint, device=args.device)
        if args.pca:
            pca = PCAParams.load(args.pca)
        clips = load_dataset(args.dataset, **parse_assignments(args.dataset_arg, option="--dataset-arg"))
        data, pca = embed_clipset(model, clips, frames=args.frames, pca=pca,
                                  feature_config=extra.get("feature_config", "vggish"), device=args.device,
                                  progress=True)
        files = WRITERS[args.format](data, args.out)
        pca.save(Path(args.out) / "pca_params.npz")
    except (ValueError, FileNotFoundError, ImportError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(data)} clips of {args.dataset} -> {len(files)} file(s) under {args.out} ({args.format})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
