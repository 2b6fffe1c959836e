"""The T19 experiment end to end: corpora, inputs, every variant, submission files, official scores.

>>> rows = run_variants(inputs, ["fusion_37", "hierarchical"], T19Config(epochs=2), "out/")  # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from audiolib.data.base import ClipSet
from audiolib.metrics import sonyc_ust_metrics, write_submission_csv
from audiolib.t19.baseline import BASELINES, train_baseline
from audiolib.t19.hierarchical import branch_scores, combine_hierarchical, train_branches
from audiolib.t19.inputs import T19Inputs
from audiolib.t19.labels import truth_frame
from audiolib.t19.variants import T19Config, checkpoint_scores, train_model

__all__ = ["CORPORA", "VARIANTS", "WEIGHT_ROOTS", "load_corpus", "evaluate_submission", "run_variants", "METRICS"]

#: corpus key -> name used in every table.
CORPORA = {
    "synthetic": "synthetic default corpus (generated, SONYC-UST-shaped taxonomy)",
    "urban_mixtures": "urban mixtures (UrbanSound8K stand-in, not SONYC-UST)",
    "sonyc_ust": "SONYC-UST v1",
}
#: variant -> (model kind, outputs, description).
VARIANTS = {
    "cnn": ("cnn", "all", "CNN of Table 1 alone (no pretrained embedding), 37 outputs"),
    "fusion_37": ("fusion", "all", "CNN+VGGish (Table 2), 37 outputs: fine + coarse, tenth-root class weights"),
    "fusion_37_unweighted": ("fusion", "all", "CNN+VGGish, 37 outputs, no class weights"),
    "fusion_37_full_weights": ("fusion", "all", "CNN+VGGish, 37 outputs, full class weights (negatives / positives)"),
    "fusion_29": ("fusion", "fine", "CNN+VGGish, 29 outputs: fine (coarse = max of its fine tags)"),
    "fusion_8": ("fusion", "coarse", "CNN+VGGish, 8 outputs: coarse (fine tags copy their category)"),
    "hierarchical": ("fusion", "all", "hierarchical: 37-output CNN+VGGish coarse model (best-coarse checkpoint) + fine "
                                      "models trained on their category's clips"),
    "hierarchical_all_data": ("fusion", "all", "hierarchical, fine models trained on all clips with a "
                                               "'not this category' output (the report's proposed improvement)"),
    "baseline_fine": ("baseline", "fine", BASELINES["baseline_fine"][1]),
    "baseline_coarse": ("baseline", "coarse", BASELINES["baseline_coarse"][1]),
}
#: class-weight root of the weighting variants (``None``: unweighted; 1: full negatives / positives).
WEIGHT_ROOTS = {"fusion_37_unweighted": None, "fusion_37_full_weights": 1.0}
METRICS = ("micro_auprc", "micro_f1", "macro_auprc")


def load_corpus(name: str, *, n_clips: int, seed: int = 0, threshold: float = 0.5) -> ClipSet:
    """``synthetic`` (``n_clips`` clips), ``urban_mixtures`` (``n_clips`` mixtures) or ``sonyc_ust``
    (needs the audio: ``audiolib.data.sonyc_ust.download_sonyc_ust``; ``threshold`` labels train)."""
    if name == "synthetic":
        from audiolib.data import load_dataset

        return load_dataset("synthetic", n_clips=n_clips, seed=seed)
    if name == "urban_mixtures":
        from audiolib.data.urban_mixtures import load_urban_mixtures

        return load_urban_mixtures(n_clips, seed=seed)
    if name == "sonyc_ust":
        from audiolib.data.sonyc_ust import load_sonyc_ust

        clips = load_sonyc_ust(threshold=threshold, on_missing="report")
        if len(clips) == 0:
            raise FileNotFoundError("SONYC-UST audio is absent (only the annotations are here): download it with "
                                    "audiolib.data.sonyc_ust.download_sonyc_ust() or drop 'sonyc_ust' from DATASETS")
        return clips
    raise ValueError(f"unknown corpus {name!r}; allowed: {list(CORPORA)}")


def evaluate_submission(path, truth: pd.DataFrame, taxonomy) -> dict[str, dict]:
    """Official DCASE 2019 Task 5 metrics of a submission CSV against ``truth``, per level."""
    predictions = pd.read_csv(path)
    return {level: sonyc_ust_metrics(truth, predictions, taxonomy, level) for level in ("fine", "coarse")}


def _train_and_score(variant: str, inputs: T19Inputs, config: T19Config, rows, trained: dict) -> tuple[dict, str, float, int]:
    """``({checkpoint: (fine, coarse)}, description, seconds, training rows)`` of one variant."""
    kind, outputs, description = VARIANTS[variant]
    if kind == "baseline":
        fine, coarse, info = train_baseline(inputs, outputs, rows=rows, seed=config.seed)
        return {"best val loss": (fine, coarse)}, description, info["train_seconds"], info["n_train"]
    if variant.startswith("hierarchical"):
        top = trained["fusion_37"]
        branches, skipped = train_branches(inputs, config, all_data=variant.endswith("all_data"), kind=kind)
        name, (fallback, coarse) = next(iter(checkpoint_scores(top, inputs, rows, config.device,
                                                                only=("best coarse", "final")).items()))
        fine = combine_hierarchical(coarse, fallback, branch_scores(branches, inputs, rows, config.device),
                                    inputs.taxonomy, config.threshold)
        if skipped:
            description += f"; no fine model for {', '.join(f'{c} ({r})' for c, r in skipped.items())}"
        seconds = sum(b.train_seconds for b in branches.values())
        return {name: (fine, coarse)}, description, seconds, int(sum(b.n_train for b in branches.values()))
    cfg = replace(config, weight_root=WEIGHT_ROOTS[variant]) if variant in WEIGHT_ROOTS else config
    model = train_model(inputs, kind, outputs, cfg)
    trained[variant] = model
    return checkpoint_scores(model, inputs, rows, config.device), description, model.train_seconds, model.n_train


def run_variants(inputs: T19Inputs, variants, config: T19Config, out_dir, *, embedding: str = "",
                 trained_on: str = "", log=print) -> pd.DataFrame:
    """Train, score and evaluate ``variants`` on ``inputs`` with seed ``config.seed``; write one
    submission CSV per variant and checkpoint.

    Models are selected on the ``validate`` split; scores are reported on ``test`` when the
    corpus has one, else on ``validate`` (SONYC-UST, as the report did). A single model keeps
    two checkpoints (best coarse and best fine validation micro AUPRC: the report's
    CNN+VGGish1 and CNN+VGGish2), each scored at BOTH levels. The hierarchical variants reuse the
    ``fusion_37`` model's best-coarse checkpoint as their top-level model (it is trained and
    reported when only a hierarchical variant is asked for).

    Returns:
        Tidy rows: ``dataset, corpus, variant, checkpoint, description, level, metric, value, seed,
        split, n_eval_clips, n_train_rows, embedding, embedding_trained_on, submission,
        train_seconds, source``.
    """
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise ValueError(f"parameter VARIANTS: unknown {unknown}; allowed: {list(VARIANTS)}")
    order = list(dict.fromkeys((["fusion_37"] if any(v.startswith("hierarchical") for v in variants) else [])
                               + list(variants)))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    split = "test" if "test" in inputs.splits() else "validate"
    rows = inputs.rows(split, originals_only=True)
    ids = [inputs.clip_ids[i] for i in rows]
    truth = truth_frame(ids, inputs.fine[rows], inputs.coarse[rows], inputs.taxonomy)
    trained, records = {}, []
    for variant in order:
        start = time.perf_counter()
        by_checkpoint, description, seconds, n_train = _train_and_score(variant, inputs, config, rows, trained)
        levels = ("coarse",) if variant == "baseline_coarse" else ("fine", "coarse")
        for checkpoint, (fine, coarse) in by_checkpoint.items():
            tag = checkpoint.replace(" ", "_")
            path = write_submission_csv(out_dir / f"{inputs.name}_seed{config.seed}_{variant}_{tag}.csv", ids,
                                        np.clip(fine, 0, 1), np.clip(coarse, 0, 1), inputs.taxonomy)
            scores = evaluate_submission(path, truth, inputs.taxonomy)
            for level in levels:
                for metric in METRICS:
                    records.append({"dataset": CORPORA.get(inputs.name, inputs.name), "corpus": inputs.name,
                                    "variant": variant, "checkpoint": checkpoint, "description": description,
                                    "level": level, "metric": metric, "value": float(scores[level][metric]),
                                    "seed": config.seed, "split": split, "n_eval_clips": len(rows),
                                    "n_train_rows": n_train, "embedding": embedding,
                                    "embedding_trained_on": trained_on, "submission": path.name,
                                    "train_seconds": round(seconds, 2), "source": "this run"})
        log(f"[{inputs.name} seed {config.seed}] {variant}: " + ", ".join(
            f"{r['checkpoint']} {r['level']} micro AUPRC {r['value']:.3f}" for r in records[-len(by_checkpoint) * len(levels) * len(METRICS):]
            if r["metric"] == "micro_auprc") + f" ({time.perf_counter() - start:.0f} s)")
    return pd.DataFrame(records)


def resolve_embedding(network: str, fusion: str) -> tuple[str, str]:
    """``(network, fusion)`` from the notebook's ``EMBEDDING_NETWORK`` and ``FUSION`` (``"auto"`` allowed).

    ``network="auto"``: YAMNet when its port and release file are here, else VGGish.
    ``fusion="auto"``: Table 2's bilinear layer for VGGish's 10 x 128 values; sec. 4.1's
    concatenation for YAMNet's 10 x 1024 (a bilinear layer would hold 256 x 10240 x 512 weights).
    """
    from audiolib.t19.vggish_stage import NETWORKS, yamnet_available

    if network == "auto":
        network = "yamnet" if yamnet_available() else "vggish"
    if network not in NETWORKS:
        raise ValueError(f"parameter EMBEDDING_NETWORK: must be 'auto' or one of {NETWORKS}, got {network!r}")
    if fusion == "auto":
        fusion = "concat" if network == "yamnet" else "bilinear"
    if fusion not in ("bilinear", "concat"):
        raise ValueError(f"parameter FUSION: must be 'auto', 'bilinear' or 'concat', got {fusion!r}")
    return network, fusion


def run_seeds(inputs: dict[str, T19Inputs], variants, config: T19Config, seeds, out_dir, *, embedding: str = "",
              trained_on: str = "", log=print) -> pd.DataFrame:
    """:func:`run_variants` for every corpus of ``inputs`` and every seed of ``seeds`` (arms share
    corpus, splits and embeddings; the seed sets initialisation, batch order and dropout)."""
    if not seeds:
        raise ValueError("parameter SEEDS: name at least one seed")
    frames = [run_variants(item, variants, replace(config, seed=int(seed)), out_dir, embedding=embedding,
                           trained_on=trained_on, log=log)
              for item in inputs.values() for seed in seeds]
    return pd.concat(frames, ignore_index=True)


def scale_text(profile: str, inputs: T19Inputs, config: T19Config, network: str) -> str:
    """The scale a findings table ran at, in words."""
    n_train = len(inputs.rows("train"))
    return (f"{profile}: {inputs.name}, {n_train} training rows, width {config.width:g}, {config.epochs} epochs "
            f"(fine models {config.fine_epochs}), {network} embeddings, {config.fusion} fusion")
