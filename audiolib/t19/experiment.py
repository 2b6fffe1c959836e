"""The T19 experiment end to end: corpora, every variant as a trial, submission files, official scores.

>>> table = run_seeds({"synthetic": inputs}, ["fusion_37", "hierarchical"], T19Config(epochs=2), [0, 1], "out/")  # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from audiolib.data import load_dataset
from audiolib.data.base import ClipSet
from audiolib.metrics import sonyc_columns, write_submission_csv
from audiolib.t19.baseline import train_baseline
from audiolib.t19.hierarchical import branch_scores, combine_hierarchical, train_branches
from audiolib.t19.inputs import T19Inputs
from audiolib.t19.labels import split_outputs
from audiolib.t19.variants import METRICS, T19Config, checkpoint_scores, official_metrics, train_model
from audiolib.trials import Trial, over_seeds

#: How the tables name a corpus (another dataset of :func:`audiolib.data.list_datasets` is named by its name).
LABELS = {
    "synthetic": "synthetic default corpus (generated, SONYC-UST-shaped taxonomy)",
    "urban_mixtures": "urban mixtures (UrbanSound8K stand-in, not SONYC-UST)",
    "sonyc_ust": "SONYC-UST v1",
}
#: variant -> (registered model, or ``"baseline"``; outputs; description).
VARIANTS = {
    "cnn": ("t19_cnn", "all", "CNN of Table 1 alone (no pretrained embedding), 37 outputs"),
    "fusion_37": ("t19_fusion", "all", "CNN+VGGish (Table 2), 37 outputs: fine + coarse, tenth-root class weights"),
    "fusion_37_unweighted": ("t19_fusion", "all", "CNN+VGGish, 37 outputs, no class weights"),
    "fusion_37_full_weights": ("t19_fusion", "all", "CNN+VGGish, 37 outputs, full class weights (negatives / positives)"),
    "fusion_29": ("t19_fusion", "fine", "CNN+VGGish, 29 outputs: fine (coarse = max of its fine tags)"),
    "fusion_8": ("t19_fusion", "coarse", "CNN+VGGish, 8 outputs: coarse (fine tags copy their category)"),
    "hierarchical": ("t19_fusion", "all", "hierarchical: 37-output CNN+VGGish coarse model (best-coarse checkpoint) + "
                                          "fine models trained on their category's clips"),
    "hierarchical_all_data": ("t19_fusion", "all", "hierarchical, fine models trained on all clips with a "
                                                   "'not this category' output (the report's proposed improvement)"),
    "baseline_fine": ("baseline", "fine", "task baseline, fine-level: frame-wise logistic regression on standardised "
                                          "embedding frames (L2 1e-5), coarse = max of fine"),
    "baseline_coarse": ("baseline", "coarse", "task baseline, coarse-level: frame-wise logistic regression on "
                                              "standardised embedding frames (L2 1e-5)"),
}
#: class-weight root of the weighting variants (``None``: unweighted; 1: full negatives / positives).
WEIGHT_ROOTS = {"fusion_37_unweighted": None, "fusion_37_full_weights": 1.0}
#: Times of each variant, metric rows of :func:`results_table`: training (the fine models summed for
#: a hierarchical variant), and the whole variant (training, scoring, submission files).
TIMES = ("train_seconds", "wall_seconds")


def load_corpus(name: str, **kwargs) -> ClipSet:
    """Dataset ``name`` checked for what T19 needs: a coarse / fine taxonomy and a ``split`` column;
    FileNotFoundError (listed as absent by :func:`audiolib.data.splits.load_available`) without audio."""
    clips = load_dataset(name, **kwargs)
    if len(clips) == 0:
        raise FileNotFoundError(f"{name}: no audio here (only the annotations); for SONYC-UST, download it with "
                                "audiolib.data.sonyc_ust.download_sonyc_ust()")
    if clips.taxonomy is None or "split" not in clips.manifest:
        raise ValueError(f"parameter DATASETS: {name!r} has no coarse / fine taxonomy or no split column; T19 needs both")
    return clips


def _train(variant: str, inputs: T19Inputs, config: T19Config, rows, trained: dict[str, dict]) -> tuple[Trial, dict, str]:
    """``(trial, {checkpoint: (fine, coarse)} scores of rows, description)`` of one variant
    (``trained``: the checkpoint scores of the single models trained so far)."""
    model, outputs, description = VARIANTS[variant]
    if model == "baseline":
        trial = train_baseline(inputs, outputs, rows=rows, seed=config.seed)
        return trial, {"best val loss": split_outputs(trial.scores, outputs, inputs.taxonomy)}, description
    if variant.startswith("hierarchical"):
        trial = train_branches(inputs, config, all_data=variant.endswith("all_data"), model=model)
        name = "best coarse" if "best coarse" in trained["fusion_37"] else "final"
        fallback, coarse = trained["fusion_37"][name]
        fine = combine_hierarchical(coarse, fallback, branch_scores(trial, inputs, rows, config.device),
                                    inputs.taxonomy, config.threshold)
        if trial.extra["skipped"]:
            description += f"; no fine model for {', '.join(f'{c} ({r})' for c, r in trial.extra['skipped'].items())}"
        return trial, {name: (fine, coarse)}, description
    trial = train_model(inputs, model, outputs,
                        replace(config, weight_root=WEIGHT_ROOTS[variant]) if variant in WEIGHT_ROOTS else config)
    trained[variant] = checkpoint_scores(trial, inputs, rows, config.device)
    return trial, trained[variant], description


def run_variants(inputs: T19Inputs, variants, config: T19Config, out_dir, *, embedding: str = "",
                 trained_on: str = "", log=print) -> list[Trial]:
    """Train, score and evaluate ``variants`` on ``inputs`` with seed ``config.seed``; write one
    submission CSV per variant and checkpoint, scored as read back.

    Models are selected on ``validate``; scores are reported on ``test`` when the corpus has one, else
    on ``validate`` (SONYC-UST, as the report did). The hierarchical variants reuse ``fusion_37``'s
    best-coarse checkpoint as their top-level model (trained and reported when not asked for).
    One trial per variant; ``extra["scored"]``: ``{checkpoint, level, metric, value, submission}`` rows.
    """
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise ValueError(f"parameter VARIANTS: unknown {unknown}; allowed: {list(VARIANTS)}")
    order = list(dict.fromkeys((["fusion_37"] if any(v.startswith("hierarchical") for v in variants) else [])
                               + list(variants)))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    split = "test" if (inputs.split == "test").any() else "validate"
    rows = inputs.rows(split, originals_only=True)
    ids = [inputs.clip_ids[i] for i in rows]
    columns = [sonyc_columns(inputs.taxonomy, level) for level in ("fine", "coarse")]
    trained, trials = {}, []
    for variant in order:
        start = time.perf_counter()
        trial, by_checkpoint, description = _train(variant, inputs, config, rows, trained)
        levels = ("coarse",) if variant == "baseline_coarse" else ("fine", "coarse")
        scored = []
        for checkpoint, (fine, coarse) in by_checkpoint.items():
            name = f"{inputs.name}_seed{config.seed}_{variant}_{checkpoint.replace(' ', '_')}.csv"
            path = write_submission_csv(out_dir / name, ids, np.clip(fine, 0, 1), np.clip(coarse, 0, 1), inputs.taxonomy)
            back = pd.read_csv(path)  # scored as read back from the file
            official = official_metrics(*(back[cols].to_numpy() for cols in columns), inputs, rows)
            scored += [{"checkpoint": checkpoint, "level": level, "metric": metric,
                        "value": official[f"{metric}_{level}"], "submission": name} for level in levels for metric in METRICS]
        trial.ids = {"dataset": LABELS.get(inputs.name, inputs.name), "corpus": inputs.name, "variant": variant,
                     "description": description, "seed": config.seed, "split": split, "n_eval_clips": len(rows),
                     "n_train_rows": trial.extra["n_train"], "embedding": embedding, "embedding_trained_on": trained_on}
        trial.metrics["wall_seconds"] = time.perf_counter() - start
        trial.extra["scored"] = scored
        trials.append(trial)
        log(f"[{inputs.name} seed {config.seed}] {variant}: " + ", ".join(
            f"{r['checkpoint']} {r['level']} micro AUPRC {r['value']:.3f}" for r in scored if r["metric"] == "micro_auprc")
            + f" ({trial.metrics['wall_seconds']:.0f} s)")
    return trials


def results_table(trials) -> pd.DataFrame:
    """Tidy rows of :func:`run_variants`' trials: the official scores (one row per variant, checkpoint,
    level and metric) and the :data:`TIMES` (one row per variant and time; no checkpoint or level)."""
    rows = [{**t.ids, **row} for t in trials for row in t.extra["scored"]]
    return pd.DataFrame(rows + [row for t in trials for row in t.rows() if row["metric"] in TIMES])


def run_seeds(inputs: dict[str, T19Inputs], variants, config: T19Config, seeds, out_dir, **kwargs) -> pd.DataFrame:
    """:func:`results_table` of :func:`run_variants` (``kwargs``: its keywords) for every corpus and seed
    (arms share corpus, splits and embeddings; the seed sets initialisation, batch order and dropout)."""
    return results_table([t for item in inputs.values() for t in over_seeds(
        seeds, lambda seed, item=item: run_variants(item, variants, replace(config, seed=seed), out_dir, **kwargs))])


def scale_text(profile: str, inputs: T19Inputs, config: T19Config, network: str) -> str:
    """The scale a findings table ran at, in words."""
    n_train = len(inputs.rows("train"))
    return (f"{profile}: {inputs.name}, {n_train} training rows, width {config.width:g}, {config.epochs} epochs "
            f"(fine models {config.fine_epochs}), {network} embeddings, {config.fusion} fusion")
