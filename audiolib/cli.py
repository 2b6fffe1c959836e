"""The ``audiolib`` command: tag audio files and export embeddings with a trained checkpoint.

::

    audiolib tag FILE (--checkpoint CKPT | --model yamnet) [--out DIR] [--top-k 16] [--hop-seconds S]
        writes DIR/<stem>.scores.csv (one row per 0.96 s patch: start_s, end_s, one column per
        class), DIR/<stem>.top_classes.csv (the classes of highest mean score over the file, as
        H17 scores a clip) and DIR/<stem>.framewise.png (H17 Fig. 2: the spectrogram with the
        outputs of the top-k classes); prints the top classes. The file is read in chunks, so
        an hour-long recording tags in bounded memory. ``--model yamnet``: the released YAMNet
        (AudioSet's 521 classes, patches every 0.48 s; :mod:`audiolib.models.yamnet`).

    audiolib embed FILE [FILE ...] (--checkpoint CKPT | --model yamnet) [--out DIR] [--format npz|csv|...]
        writes one embedding per 0.96 s patch of every file: DIR/<stem>.embeddings.npz
        (``embeddings [n, D]``, ``start_s``, ``end_s``) or DIR/<stem>.embeddings.csv. The formats
        of :data:`audiolib.embeddings.WRITERS` (AudioSet-style TFRecord / HDF5 with VGGish
        post-processing) are offered too when that module is installed; with ``--model yamnet``
        they hold one 1024-d embedding per 0.96 s, PCA'd to 128, clipped and quantised to 8 bits
        with a PCA fitted on the files given (saved as pca_params.npz).

Checkpoints are those of :func:`audiolib.tagging.save_tagger` (notebook 01 writes ``best_model.pt``
into its run folder) or :func:`audiolib.embeddings.save_embedding_model`.

>>> main(["tag", "street.wav", "--checkpoint", "results/01_architectures/<run>/best_model.pt"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

BUILTIN_FORMATS = ("npz", "csv")


def _plugin_writers() -> dict[str, Callable]:
    """Extra embedding formats from :mod:`audiolib.embeddings` (``WRITERS``)."""
    from . import embeddings

    writers = getattr(embeddings, "WRITERS", None)
    if not isinstance(writers, dict):
        return {}
    return {name: fn for name, fn in writers.items() if name not in BUILTIN_FORMATS and callable(fn)}


def _check_files(files: Sequence[str]) -> list[Path]:
    paths = [Path(f) for f in files]
    for p in paths:
        if p.is_dir():
            raise ValueError(f"{p} is a directory; give audio files (e.g. {p}/*.wav)")
        if not p.is_file():
            raise FileNotFoundError(f"audio file {p} does not exist")
    stems: dict[str, Path] = {}
    for p in paths:
        if p.stem in stems:
            raise ValueError(f"audio files {stems[p.stem]} and {p} share the name {p.stem!r}; their outputs "
                             f"would overwrite each other: write them to different --out folders")
        stems[p.stem] = p
    return paths


def _hop_frames(hop_seconds: float | None, config) -> int | None:
    if hop_seconds is None:
        return None
    if hop_seconds <= 0:
        raise ValueError(f"--hop-seconds must be > 0, got {hop_seconds}")
    return max(1, int(round(hop_seconds * config.sample_rate / config.hop_length)))


MODELS = ("yamnet",)


def _load(checkpoint: str | None, model_name: str | None, device: str):
    """``(model, info)`` from a checkpoint or a released network (``info`` as :func:`load_tagger` gives)."""
    from .tagging import load_tagger

    if (checkpoint is None) == (model_name is None):
        raise ValueError("give either --checkpoint CKPT or --model yamnet")
    if checkpoint is not None:
        return load_tagger(checkpoint, device=device)
    if model_name not in MODELS:
        raise ValueError(f"--model {model_name!r} unknown; available: {', '.join(MODELS)}")
    from .models import yamnet as _yamnet
    from .runtime import resolve_device

    model = _yamnet.load_yamnet(device=resolve_device(device))
    names = _yamnet.class_names()
    return model, {"model_name": "yamnet", "classes": names, "class_names": names, "feature_config": "yamnet",
                   "description": "YAMNet, released TensorFlow Lite weights (trained on AudioSet)"}


def tag(file: str, checkpoint: str | None = None, *, model: str | None = None, out: str | None = None,
        top_k: int = 16, hop_seconds: float | None = None, device: str = "auto", plot: bool = True,
        chunk_seconds: float = 60.0, report=None) -> list[Path]:
    """Score every 0.96 s patch of ``file``; write the scores, the top classes and the Fig. 2 plot.

    ``report(line)`` (e.g. ``print``) receives one line per top class. Returns the files written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from .features import get_config
    from .tagging import plot_framewise, stream_framewise

    if top_k < 1:
        raise ValueError(f"--top-k must be >= 1, got {top_k}")
    (path,) = _check_files([file])
    net, info = _load(checkpoint, model, device)
    config = get_config(info["feature_config"])
    result = stream_framewise(net, path, classes=info["classes"], class_names=info["class_names"], config=config,
                              hop_frames=_hop_frames(hop_seconds, config), device=device, chunk_seconds=chunk_seconds,
                              batch_size=32)  # small batches: a deep network's activations stay small
    out_dir = Path(out) if out else path.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / f"{path.stem}.scores.csv"]
    result.to_frame().to_csv(written[0], index=False, float_format="%.6g")
    mean, peak = result.scores.mean(axis=0), result.scores.max(axis=0)
    top = np.argsort(-mean, kind="stable")[:top_k]
    table = pd.DataFrame({"rank": np.arange(1, len(top) + 1), "class": [result.classes[i] for i in top],
                          "name": [result.class_names[i] for i in top], "mean_score": mean[top], "peak_score": peak[top]})
    written.append(out_dir / f"{path.stem}.top_classes.csv")
    table.to_csv(written[-1], index=False, float_format="%.6g")
    if report is not None:
        for row in table.itertuples(index=False):
            report(f"{row.rank:3d}  {row.mean_score:.3f} (peak {row.peak_score:.3f})  {row.name}")
    if plot:
        fig = plot_framewise(result, top_k=top_k,
                             title=f"{path.name}: frame-wise outputs of the {min(top_k, len(result.classes))}"
                                   f" classes with the highest peak ({info['model_name']})")
        written.append(out_dir / f"{path.stem}.framewise.png")
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)
    return written


def embed(files: Sequence[str], checkpoint: str | None = None, *, model: str | None = None, out: str = ".",
          fmt: str = "npz", hop_seconds: float | None = None, device: str = "auto") -> list[Path]:
    """Write per-patch embeddings of every file in format ``fmt``. Returns the files written."""
    from . import train as _train
    from .audio import load_audio
    from .features import get_config
    from .tagging import recording_patches

    plugins = _plugin_writers()
    if fmt not in BUILTIN_FORMATS and fmt not in plugins:
        raise ValueError(f"--format {fmt!r} unknown; available: {', '.join([*BUILTIN_FORMATS, *sorted(plugins)])}")
    paths = _check_files(files)
    net, info = _load(checkpoint, model, device)
    if not hasattr(net, "embedding"):
        raise ValueError(f"checkpoint {checkpoint}: model {info['model_name']} has no .embedding()")
    config = get_config(info["feature_config"])
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if fmt in plugins:  # the AudioSet release's form: one embedding per 0.96 s
        return _embed_with_writer(plugins[fmt], paths, net, info, config.with_(patch_hop=None), out_dir, device)
    written = []
    hop = _hop_frames(hop_seconds, config)
    for path in paths:
        waveform, sr = load_audio(path)
        _, patches, _ = recording_patches(waveform, sr, config, hop)
        emb = _train.predict(net, patches.unsqueeze(1), embeddings=True, device=device)
        step = (hop or config.patch_step) * config.hop_length / config.sample_rate
        start = np.arange(len(emb)) * step
        end = start + config.patch_frames * config.hop_length / config.sample_rate
        if fmt == "npz":
            target = out_dir / f"{path.stem}.embeddings.npz"
            np.savez(target, embeddings=emb.astype(np.float32), start_s=start, end_s=end)
        else:
            import pandas as pd

            table = pd.DataFrame(emb, columns=[f"e{k}" for k in range(emb.shape[1])])
            table.insert(0, "end_s", np.round(end, 4))
            table.insert(0, "start_s", np.round(start, 4))
            target = out_dir / f"{path.stem}.embeddings.csv"
            table.to_csv(target, index=False, float_format="%.6g")
        written.append(target)
    return written


def _embed_with_writer(writer: Callable, paths: list[Path], model, info: dict, config, out_dir: Path,
                       device: str) -> list[Path]:
    """Embed the files as an unlabelled ClipSet with :func:`audiolib.embeddings.embed_clipset` and write them."""
    import pandas as pd

    from .audio import load_audio
    from .data.base import ClipSet
    from .embeddings import PCAParams, embed_clipset

    manifest = pd.DataFrame({"clip_id": [p.stem for p in paths], "path": [str(p) for p in paths],
                             "labels": [() for _ in paths]})
    clips = ClipSet("files", manifest, list(info["classes"]), lambda row: load_audio(row["path"]),
                    description=f"{len(paths)} audio file(s) given on the command line")
    pca = PCAParams.from_dict(info["pca"]) if "pca" in info else None
    data, pca = embed_clipset(model, clips, pca=pca, feature_config=config, device=device)
    written = list(writer(data, out_dir))
    written.append(pca.save(out_dir / "pca_params.npz"))
    return written


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audiolib", description="Tag audio files and export embeddings with a "
                                                                  "trained audiolib checkpoint.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("tag", help="frame-wise class scores (CSV) and the H17 Fig. 2 plot of one audio file")
    p.add_argument("file", help="an audio file (WAV, FLAC, Ogg)")
    p.add_argument("--checkpoint", default=None, help="a checkpoint written by audiolib.tagging.save_tagger")
    p.add_argument("--model", choices=MODELS, default=None, help="a released network instead of a checkpoint: "
                   "yamnet (AudioSet's 521 classes)")
    p.add_argument("--out", default=None, help="output folder (default: the file's folder)")
    p.add_argument("--top-k", type=int, default=16, help="classes drawn in the plot (highest peaks; default 16)")
    p.add_argument("--hop-seconds", type=float, default=None, help="hop between scored patches (default: the front end's, 0.96; yamnet 0.48)")
    p.add_argument("--no-plot", action="store_true", help="write only the CSV")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")

    formats = [*BUILTIN_FORMATS, *sorted(_plugin_writers())]
    p = sub.add_parser("embed", help="per-0.96 s embeddings of audio files")
    p.add_argument("files", nargs="+", help="audio files")
    p.add_argument("--checkpoint", default=None, help="a checkpoint written by audiolib.tagging.save_tagger")
    p.add_argument("--model", choices=MODELS, default=None, help="a released network instead of a checkpoint: "
                   "yamnet (1024-d embeddings)")
    p.add_argument("--out", default=".", help="output folder (default: the current folder)")
    p.add_argument("--format", choices=formats, default="npz", help="npz or csv: one file per input, float "
                   "embeddings; other formats: AudioSet-style files from audiolib.embeddings")
    p.add_argument("--hop-seconds", type=float, default=None, help="hop between patches (npz/csv; default: the front end's, 0.96; yamnet 0.48)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``audiolib`` command; returns the exit status (2 on a bad input)."""
    args = build_parser().parse_args(argv)
    from .audio import AudioError

    try:
        if args.command == "tag":
            written = tag(args.file, args.checkpoint, model=args.model, out=args.out, top_k=args.top_k,
                          hop_seconds=args.hop_seconds, device=args.device, plot=not args.no_plot, report=print)
        else:
            written = embed(args.files, args.checkpoint, model=args.model, out=args.out, fmt=args.format,
                            hop_seconds=args.hop_seconds, device=args.device)
    except (AudioError, FileNotFoundError, ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
