"""The T19 experiment end to end: corpora, inputs, every variant, submission files, official scores.

>>> rows = run_variants(inputs, ["fusion_37", "hierarchical"], T19Config(epochs=2), "out/")  # doctest: +SKIP
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from audiolib.data.base import ClipSet
from audiolib.metrics import sonyc_ust_metrics, write_submission_csv
from audiolib.t19.hierarchical import branch_scores, combine_hierarchical, train_branches
from audiolib.t19.inputs import T19Inputs
from audiolib.t19.labels import truth_frame
from audiolib.t19.variants import T19Config, train_model, variant_scores

__all__ = ["CORPORA", "VARIANTS", "load_corpus", "evaluate_submission", "run_variants", "METRICS"]

#: corpus key -> name used in every table.
CORPORA = {
    "synthetic": "synthetic default corpus (generated, SONYC-UST-shaped taxonomy)",
    "urban_mixtures": "urban mixtures (UrbanSound8K stand-in, not SONYC-UST)",
    "sonyc_ust": "SONYC-UST v1",
}
#: variant -> (model kind, outputs, description).
VARIANTS = {
    "cnn": ("cnn", "all", "CNN of Table 1 alone (no VGGish), 37 outputs"),
    "fusion_37": ("fusion", "all", "CNN+VGGish (Table 2), 37 outputs: fine + coarse"),
    "fusion_29": ("fusion", "fine", "CNN+VGGish, 29 outputs: fine (coarse = max of its fine tags)"),
    "fusion_8": ("fusion", "coarse", "CNN+VGGish, 8 outputs: coarse (fine tags copy their category)"),
    "hierarchical": ("fusion", "all", "hierarchical: 37-output CNN+VGGish coarse model + fine models "
                                      "trained on their category's clips"),
    "hierarchical_all_data": ("fusion", "all", "hierarchical, fine models trained on all clips with a "
                                               "'not this category' output (the report's proposed improvement)"),
}
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


def run_variants(inputs: T19Inputs, variants, config: T19Config, out_dir, *, vggish: str = "",
                 log=print) -> pd.DataFrame:
    """Train, score and evaluate ``variants`` on ``inputs``; write one submission CSV per variant.

    Models are selected on the ``validate`` split; scores are reported on ``test`` when the
    corpus has one, else on ``validate`` (SONYC-UST, as the report did). The hierarchical
    variants reuse the ``fusion_37`` model as their coarse model (it is trained and reported
    when only a hierarchical variant is asked for).

    Returns:
        Tidy rows: ``dataset, corpus, variant, description, level, metric, value, split,
        n_eval_clips, n_train_rows, vggish, submission, train_seconds, source``.
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
        kind, outputs, description = VARIANTS[variant]
        start = time.perf_counter()
        if variant.startswith("hierarchical"):
            top = trained["fusion_37"]
            branches, skipped = train_branches(inputs, config, all_data=variant.endswith("all_data"), kind=kind)
            fallback, coarse = variant_scores(top, inputs, rows, device=config.device)
            fine = combine_hierarchical(coarse, fallback, branch_scores(branches, inputs, rows, config.device),
                                        inputs.taxonomy, config.threshold)
            seconds = sum(b.train_seconds for b in branches.values())
            n_train = int(sum(b.n_train for b in branches.values()))
            if skipped:
                description += f"; no fine model for {', '.join(f'{c} ({r})' for c, r in skipped.items())}"
        else:
            model = train_model(inputs, kind, outputs, config)
            trained[variant] = model
            fine, coarse = variant_scores(model, inputs, rows, device=config.device)
            seconds, n_train = model.train_seconds, model.n_train
        path = write_submission_csv(out_dir / f"{inputs.name}_{variant}.csv", ids, np.clip(fine, 0, 1),
                                    np.clip(coarse, 0, 1), inputs.taxonomy)
        scores = evaluate_submission(path, truth, inputs.taxonomy)
        for level, m in scores.items():
            for metric in METRICS:
                records.append({"dataset": CORPORA.get(inputs.name, inputs.name), "corpus": inputs.name,
                                "variant": variant, "description": description, "level": level, "metric": metric,
                                "value": float(m[metric]), "split": split, "n_eval_clips": len(rows),
                                "n_train_rows": n_train, "vggish": vggish, "submission": path.name,
                                "train_seconds": round(seconds, 2), "source": "this run"})
        log(f"[{inputs.name}] {variant}: coarse micro AUPRC {scores['coarse']['micro_auprc']:.3f}, "
            f"fine {scores['fine']['micro_auprc']:.3f} ({time.perf_counter() - start:.0f} s)")
    return pd.DataFrame(records)
