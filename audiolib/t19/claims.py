"""T19's claims, declared once, and the per-replicate effects that test them.

Each claim quotes the report exactly (checked against its text by ``tests/test_t19_findings.py``);
:func:`findings` turns the run's tidy table (:func:`audiolib.t19.run_seeds`: one row per
``variant, checkpoint, level, metric, seed``) into one effect per seed and calls
:func:`audiolib.findings.judge`. Every arm shares the seed, the corpus, its splits and the
embeddings, so differences are paired by seed.

"Micro AUPRC" of an arm below (``primary``) is the mean of its fine micro AUPRC at its best-fine
checkpoint and its coarse micro AUPRC at its best-coarse checkpoint: each level scored at the
checkpoint selected for it on the validation split (the report kept both checkpoints).

Effects:

- ``T19-s4.1-fusion-beats-cnn``: primary(fusion_37) - primary(cnn).
- ``T19-s4.1-cnn-below-baseline``: primary(cnn) - primary(baseline_fine) (< 0).
- ``T19-s6-single-beats-hierarchical``: mean over fine micro AUPRC and fine macro AUPRC of
  CNN+VGGish1 (best-coarse checkpoint) - hierarchical (its coarse scores are CNN+VGGish1's, by
  construction, as in Table 3, so only the fine level can differ).
- ``T19-s6-hierarchical-fine-f1``: fine micro F1 of hierarchical - CNN+VGGish1.
- ``T19-s5-root-beats-none`` / ``T19-s5-root-beats-full``: primary(fusion_37, tenth-root class
  weights) - primary(fusion_37 unweighted / with full weights negatives/positives).
- ``T19-s3.2-agreement-threshold``: not testable here (SONYC-UST audio).
- ``T19-T3T4-beats-baseline-coarse``: coarse micro AUPRC of CNN+VGGish1 - coarse-level baseline.
- ``T19-T3T4-not-baseline-fine``: fine micro AUPRC of CNN+VGGish2 (best fine) - fine-level
  baseline (< 0).
- ``T19-s6-all-data-fix``: fine micro AUPRC of hierarchical_all_data - hierarchical.
"""

from __future__ import annotations

from typing import Mapping

import pandas as pd

from .. import findings as F

__all__ = ["CLAIMS", "NEEDS", "arm_table", "primary", "effects", "findings"]

CLAIMS = F.ClaimSet("T19")

_SCALE = ("SONYC-UST audio (2351 train / 443 validate clips) and the full profile (width 1, 100 epochs, "
          "3 seeds): about 3 GPU-hours")
CLAIMS.add(
    id="T19-s4.1-fusion-beats-cnn", where="sec. 4.1",
    quote="Adding the VGGish embeddings improved our training results and allowed us to surpass the baseline "
          "results for some metrics.",
    paper_numbers="no CNN-alone numbers printed; CNN+VGGish1 micro AUPRC fine 0.646, coarse 0.787 (Table 3)",
    metric="micro AUPRC (mean of fine at best-fine and coarse at best-coarse checkpoint): fusion_37 - cnn, "
           "paired by seed", scale_needed=_SCALE)
CLAIMS.add(
    id="T19-s4.1-cnn-below-baseline", where="sec. 4.1",
    quote="The results of our CNN model were unable to surpass the baseline results",
    paper_numbers="no CNN-alone numbers printed; fine-level baseline micro AUPRC fine 0.671, coarse 0.742 (Table 4)",
    metric="micro AUPRC (mean of levels): cnn - fine-level baseline, paired by seed", direction="less",
    scale_needed=_SCALE)
CLAIMS.add(
    id="T19-s6-single-beats-hierarchical", where="sec. 6, Table 3",
    quote="The Hierarchical model was worse than the single model trained to jointly output fine and coarse labels "
          "(CNN+VGGish1), except for one metric: Micro F1 for the fine-level eval.",
    paper_numbers="fine micro AUPRC 0.646 vs 0.643, fine macro AUPRC 0.425 vs 0.414; coarse equal (0.787, 0.609, "
                  "0.579)",
    metric="mean of fine micro AUPRC and fine macro AUPRC: CNN+VGGish1 (fusion_37, best coarse) - hierarchical",
    scale_needed=_SCALE)
CLAIMS.add(
    id="T19-s6-hierarchical-fine-f1", where="sec. 6, Table 3",
    quote="except for one metric: Micro F1 for the fine-level eval",
    paper_numbers="fine micro F1 0.490 (hierarchical) vs 0.483 (CNN+VGGish1)",
    metric="fine micro F1: hierarchical - CNN+VGGish1 (fusion_37, best coarse), paired by seed",
    scale_needed=_SCALE)
CLAIMS.add(
    id="T19-s5-root-beats-none", where="sec. 5",
    quote="smoothing the weights—such taking the tenth root of each value—helped under-represented classes perform "
          "better and made a slight overall improvement to the micro AUPRC scores.",
    paper_numbers="no numbers printed (\"a slight overall improvement\")",
    metric="micro AUPRC (mean of levels): fusion_37 with tenth-root class weights - fusion_37 unweighted",
    scale_needed=_SCALE)
CLAIMS.add(
    id="T19-s5-root-beats-full", where="sec. 5",
    quote="While fully weighting classes to offset the dataset imbalance decreased the micro AUPRC scores",
    paper_numbers="no numbers printed",
    metric="micro AUPRC (mean of levels): fusion_37 with tenth-root weights - fusion_37 with full weights "
           "(negatives / positives)", scale_needed=_SCALE)
CLAIMS.add(
    id="T19-s3.2-agreement-threshold", where="sec. 3.2",
    quote="We achieved the best results when we restricted positive labels to only classes that had over 50 percent "
          "agreement from people who voted on that particular class.",
    paper_numbers="thresholds tried: 25 to 75 percent; no numbers printed",
    metric="micro AUPRC at agreement > 0.5 - at the best other threshold",
    untestable="needs SONYC-UST audio: the agreement threshold acts on SONYC-UST's crowd-sourced training labels; "
               "the annotations are here but not the audio, and the stand-in corpora have one exact label set per "
               "clip, so there is no agreement to threshold")
CLAIMS.add(
    id="T19-T3T4-beats-baseline-coarse", where="sec. 6, Tables 3 and 4",
    quote="Our method was able to surpass the Micro AUPRC and Macro AUPRC baseline scores in the coarse-level "
          "evaluation.",
    paper_numbers="coarse micro AUPRC 0.787 (CNN+VGGish1) vs 0.762 (coarse-level baseline), 0.742 (fine-level)",
    metric="coarse micro AUPRC: CNN+VGGish1 (fusion_37, best coarse) - coarse-level baseline, paired by seed",
    scale_needed=_SCALE)
CLAIMS.add(
    id="T19-T3T4-not-baseline-fine", where="sec. 6, Tables 3 and 4",
    quote="However, our method was unable to beat the baseline in fine-level evaluation.",
    paper_numbers="fine micro AUPRC 0.656 (CNN+VGGish2) and 0.646 (CNN+VGGish1) vs 0.671 (fine-level baseline)",
    metric="fine micro AUPRC: CNN+VGGish2 (fusion_37, best fine) - fine-level baseline, paired by seed",
    direction="less", scale_needed=_SCALE)
CLAIMS.add(
    id="T19-s6-all-data-fix", where="sec. 6 (proposed, not run in the report)",
    quote="An improvement might be to use the entire dataset, but to assign a new dummy output label in the ground "
          "truth for all examples where the coarse label",
    paper_numbers="not run in the report",
    metric="fine micro AUPRC: hierarchical_all_data - hierarchical, paired by seed", scale_needed=_SCALE)

#: The variants each testable claim needs (a claim whose variants were not run is reported as such).
NEEDS = {
    "T19-s4.1-fusion-beats-cnn": ("fusion_37", "cnn"),
    "T19-s4.1-cnn-below-baseline": ("cnn", "baseline_fine"),
    "T19-s6-single-beats-hierarchical": ("fusion_37", "hierarchical"),
    "T19-s6-hierarchical-fine-f1": ("fusion_37", "hierarchical"),
    "T19-s5-root-beats-none": ("fusion_37", "fusion_37_unweighted"),
    "T19-s5-root-beats-full": ("fusion_37", "fusion_37_full_weights"),
    "T19-T3T4-beats-baseline-coarse": ("fusion_37", "baseline_coarse"),
    "T19-T3T4-not-baseline-fine": ("fusion_37", "baseline_fine"),
    "T19-s6-all-data-fix": ("hierarchical", "hierarchical_all_data"),
}

BEST = {"fine": "best fine", "coarse": "best coarse"}


def arm_table(table: pd.DataFrame) -> pd.DataFrame:
    """Wide per (seed, variant): one column ``"<level> <metric> @ <checkpoint>"`` per scored number.

    ``table``: tidy rows with ``seed, variant, checkpoint, level, metric, value`` (other columns
    ignored; rows without a level, the times, are dropped). A number present twice is an error.
    """
    rows = table[table["level"].notna()]
    rows = rows if "seed" in rows else rows.assign(seed=0)
    rows = rows.assign(column=rows["level"] + " " + rows["metric"] + " @ " + rows["checkpoint"])
    if rows.duplicated(["seed", "variant", "column"]).any():
        raise ValueError("arm_table: a (seed, variant, level, metric, checkpoint) appears twice; select one corpus")
    return rows.pivot(index=["seed", "variant"], columns="column", values="value")


def _get(wide: pd.DataFrame, variant: str, column: str) -> pd.Series:
    try:
        part = wide.xs(variant, level="variant")
    except KeyError:
        raise KeyError(f"variant {variant!r} was not run") from None
    if column not in part or part[column].isna().any():
        # baselines and single-checkpoint arms: the same number serves every level's selection
        alt = [c for c in part.columns if c.startswith(column.split(" @ ")[0] + " @ ") and part[c].notna().all()]
        if len(alt) != 1:
            raise KeyError(f"variant {variant!r} has no {column!r}")
        column = alt[0]
    return part[column].astype(float)


def primary(wide: pd.DataFrame, variant: str) -> pd.Series:
    """Per seed: mean of fine micro AUPRC (best-fine checkpoint) and coarse micro AUPRC (best-coarse)."""
    return (_get(wide, variant, "fine micro_auprc @ best fine") + _get(wide, variant, "coarse micro_auprc @ best coarse")) / 2


def _pair(a: pd.Series, b: pd.Series) -> pd.Series:
    return F.paired(a, b, what="arms", unit="seeds")


def effects(table: pd.DataFrame) -> tuple[dict[str, pd.Series], dict[str, str]]:
    """``({claim id: effect per seed}, {claim id: why not measured})`` from the run's tidy rows of ONE corpus."""
    wide = arm_table(table)
    variants = set(wide.index.get_level_values("variant"))
    one = "fusion_37"

    def fine(v, metric, ckpt="best coarse"):
        return _get(wide, v, f"fine {metric} @ {ckpt}")

    compute = {
        "T19-s4.1-fusion-beats-cnn": lambda: _pair(primary(wide, "fusion_37"), primary(wide, "cnn")),
        "T19-s4.1-cnn-below-baseline": lambda: _pair(primary(wide, "cnn"), primary(wide, "baseline_fine")),
        "T19-s6-single-beats-hierarchical": lambda: _pair(
            (fine(one, "micro_auprc") + fine(one, "macro_auprc")) / 2,
            (fine("hierarchical", "micro_auprc") + fine("hierarchical", "macro_auprc")) / 2),
        "T19-s6-hierarchical-fine-f1": lambda: _pair(fine("hierarchical", "micro_f1"), fine(one, "micro_f1")),
        "T19-s5-root-beats-none": lambda: _pair(primary(wide, one), primary(wide, "fusion_37_unweighted")),
        "T19-s5-root-beats-full": lambda: _pair(primary(wide, one), primary(wide, "fusion_37_full_weights")),
        "T19-T3T4-beats-baseline-coarse": lambda: _pair(_get(wide, one, "coarse micro_auprc @ best coarse"),
                                                          _get(wide, "baseline_coarse", "coarse micro_auprc @ best val loss")),
        "T19-T3T4-not-baseline-fine": lambda: _pair(fine(one, "micro_auprc", "best fine"),
                                                      _get(wide, "baseline_fine", "fine micro_auprc @ best val loss")),
        "T19-s6-all-data-fix": lambda: _pair(fine("hierarchical_all_data", "micro_auprc"),
                                               fine("hierarchical", "micro_auprc")),
    }
    measured, notes = {}, {}
    for claim_id, fn in compute.items():
        missing = [v for v in NEEDS[claim_id] if v not in variants]
        if missing:
            notes[claim_id] = (f"not run in this profile: VARIANTS lacks {', '.join(missing)} (add them to VARIANTS; "
                               "each costs about one fusion_37 training, hierarchical_all_data about five)")
            continue
        measured[claim_id] = fn()
    return measured, notes


def findings(table: pd.DataFrame, *, scale: str, replicates: str = "",
             notes: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The findings table of a run (one corpus's rows of ``run_seeds``, the baselines included).

    Claims whose variants were not run get ``n = 0`` and the verdict "inconclusive" with a note
    naming the missing variants (they are testable, just not measured by this profile).
    """
    measured, why = effects(table)
    values: dict = {k: v.to_numpy(dtype=float) for k, v in measured.items()}
    all_notes = {**why, **dict(notes or {})}
    return F.judge(CLAIMS.claims, values, scale=scale, replicates=replicates, notes=all_notes)
