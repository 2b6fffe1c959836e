"""H17's claims, declared once, and the per-replicate effects that test them.

Each claim quotes the paper's sentence exactly (checked against the text by
``tests/test_h17_findings.py``); :func:`findings` turns a notebook's tidy tables into one effect
per replicate (seed, or seed x fold) and calls :func:`audiolib.findings.judge`.

Effects (all paired within a replicate: the arms share seed, data and splits):

- ``H17-T2-cnns-beat-fc``: min over the CNNs of AUC(CNN) - AUC(FC).
- ``H17-T2-inception-resnet-best``: min(AUC Inception, AUC ResNet) - max(AUC of the others).
- ``H17-T2-longer-training``: AUC of ResNet-50 after 3x the steps - AUC of the same run at 1x.
- ``H17-F1-dprime-centred``: Spearman rank correlation of per-class d' with the log prior (|rho| < 0.3).
- ``H17-F1-dprime-spread-rare``: Spearman correlation of |d' - median d'| with the log prior (< 0).
- ``H17-T3-labels-help-bottleneck``: with the bottleneck, AUC(most labels) - AUC(fewest labels).
- ``H17-T3-no-bottleneck-better``: mean over label sets of AUC(no bottleneck) - AUC(bottleneck).
- ``H17-T4-more-data-helps``: slope of AUC over log10(training clips), over all the sizes.
- ``H17-T4-saturates``: that slope minus the slope between the two largest sets.
- ``H17-S44-embedding-beats-logmel`` (and ``-yamnet-esc10``, ``-yamnet-us8k``): mAP(classifier on
  embeddings) - mAP(classifier on 64x20 log-mel patches).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from .. import findings as F

CLAIMS = F.ClaimSet("H17")

_T2 = "full profile (20K clips, width 1.0, 20K steps, 3 seeds): about 15 GPU-hours"
CLAIMS.add(
    id="H17-T2-cnns-beat-fc", where="sec. 4.1, Table 2",
    quote="All CNNs beat the fully-connected baseline.",
    paper_numbers="AUC: FC 0.851; AlexNet 0.894, VGG 0.911, Inception V3 0.918, ResNet-50 0.916",
    metric="min over CNNs of AUC(CNN) - AUC(FC), paired by seed", direction="greater", scale_needed=_T2)
CLAIMS.add(
    id="H17-T2-inception-resnet-best", where="sec. 4.1, Table 2",
    quote="Inception and ResNet achieve the best performance;",
    paper_numbers="AUC: Inception V3 0.918, ResNet-50 0.916 vs VGG 0.911, AlexNet 0.894, FC 0.851",
    metric="min(AUC Inception-V3, AUC ResNet-50) - max(AUC FC, AlexNet, VGG), paired by seed",
    direction="greater", scale_needed=_T2)
CLAIMS.add(
    id="H17-T2-longer-training", where="sec. 4.1, Table 2",
    quote="We include numbers for ResNet after training for 17 million mini-batches (405 hours) to show that "
          "performance continues to improve.",
    paper_numbers="ResNet-50 5M steps: AUC 0.916, mAP 0.182; 17M steps: AUC 0.926, mAP 0.212 (Table 2 says 356h, "
                  "sec. 4.1 405 hours)",
    metric="AUC(ResNet-50 after 3N steps) - AUC(the same run after N steps), paired by seed",
    direction="greater", scale_needed=_T2)
CLAIMS.add(
    id="H17-F1-dprime-centred", where="sec. 4.1, Fig. 1",
    quote="d-prime seems to stay centered around 2.0 across label prior",
    paper_numbers="Fig. 1 (scatter; no numbers printed)",
    metric="Spearman rho(per-class d' of ResNet-50, log10 prior), per seed; equivalent to 0 within 0.3",
    direction="equivalent", margin=0.3,
    scale_needed="many classes with a wide range of priors (the paper: 20 % of 30K classes); full profile of "
                 "notebook 02's 512-class corpus, about 5 GPU-hours")
CLAIMS.add(
    id="H17-F1-dprime-spread-rare", where="sec. 4.1, Fig. 1",
    quote="although the variance of d-prime increases for less-common classes.",
    paper_numbers="Fig. 1 (scatter; no numbers printed)",
    metric="Spearman rho(|d' - median d'|, log10 prior) per seed (< 0: rarer classes spread more)",
    direction="less",
    scale_needed="many classes with a wide range of priors; full profile, about 5 GPU-hours")
_T3 = "full profile (128+ classes, width 1.0, 20K steps, 3 seeds): about 20 GPU-hours"
CLAIMS.add(
    id="H17-T3-labels-help-bottleneck", where="sec. 4.2, Table 3",
    quote="When comparing models with the bottleneck, we see that performance does indeed improve slightly as we "
          "increase the number of labels we trained on,",
    paper_numbers="with bottleneck, AUC on 400 labels: 30K 0.925, 3K 0.919, 400 0.924",
    metric="with the bottleneck: AUC(most training labels) - AUC(fewest), on the fewest labels' balanced set, "
           "paired by seed", direction="greater", scale_needed=_T3)
CLAIMS.add(
    id="H17-T3-no-bottleneck-better", where="sec. 4.2, Table 3",
    quote="although networks without the bottleneck have higher performance overall.",
    paper_numbers="AUC without / with bottleneck: 3K 0.930 / 0.919, 400 0.928 / 0.924",
    metric="mean over label sets of AUC(no bottleneck) - AUC(bottleneck), paired by seed",
    direction="greater", scale_needed=_T3)
_T4 = "full profile (20K clips, 5 sizes, width 1.0, 20K steps, 3 seeds): about 20 GPU-hours"
CLAIMS.add(
    id="H17-T4-more-data-helps", where="sec. 4.3, Table 4, sec. 5",
    quote="In Section 4.3 we saw that increasing the number of videos up to 7M improves performance for the "
          "best-performing ResNet-50 architecture.",
    paper_numbers="AUC: 23K 0.868, 70K 0.909, 700K 0.921, 7M 0.922, 70M 0.923",
    metric="least-squares slope of AUC over log10(training clips), all sizes, per seed",
    direction="greater", scale_needed=_T4)
CLAIMS.add(
    id="H17-T4-saturates", where="sec. 4.3, Table 4",
    quote="The 700K, 7M, and 70M models are mostly very close in performance although the 700K model is slightly "
          "inferior.",
    paper_numbers="AUC: 700K 0.921, 7M 0.922, 70M 0.923 (23K 0.868, 70K 0.909)",
    metric="AUC slope over log10(training clips): two smallest sets minus two largest sets, per seed",
    direction="greater", scale_needed=_T4)
_S44_QUOTE = ("This jump in performance reflects the benefit of the larger YouTube-100M training set embodied in the "
              "ResNet classifier outputs.")
_S44_NUMBERS = "AudioSet mAP / AUC / d': embeddings 0.435 / 0.963 / 2.522, log-mel 64x20 0.105 / 0.859 / 1.524"
CLAIMS.add(
    id="H17-S44-embedding-beats-logmel", where="sec. 4.4",
    quote=_S44_QUOTE, paper_numbers=_S44_NUMBERS,
    metric="mAP(FC on the workbook-trained network's penultimate layer) - mAP(FC on 64x20 log-mel), small "
           "synthetic set, paired by seed", direction="greater",
    scale_needed="an embedding network trained on far more data than the small set (full profile, about 10 "
                 "GPU-hours)")
CLAIMS.add(
    id="H17-S44-yamnet-esc10", where="sec. 4.4",
    quote=_S44_QUOTE, paper_numbers=_S44_NUMBERS,
    metric="mAP(FC on YAMNet's 1024-d AudioSet embedding) - mAP(FC on 64x20 log-mel), ESC-10, paired by seed x "
           "official fold", direction="greater",
    untestable="")
CLAIMS.add(
    id="H17-S44-yamnet-us8k", where="sec. 4.4",
    quote=_S44_QUOTE, paper_numbers=_S44_NUMBERS,
    metric="mAP(FC on YAMNet's 1024-d AudioSet embedding) - mAP(FC on 64x20 log-mel), UrbanSound8K, paired by "
           "seed x official fold", direction="greater")

#: Which claims each notebook tests.
NOTEBOOK_CLAIMS = {
    "01": ("H17-T2-cnns-beat-fc", "H17-T2-inception-resnet-best", "H17-T2-longer-training", "H17-F1-dprime-centred",
           "H17-F1-dprime-spread-rare"),
    "02": ("H17-T3-labels-help-bottleneck", "H17-T3-no-bottleneck-better"),
    "03": ("H17-T4-more-data-helps", "H17-T4-saturates"),
    "04": ("H17-S44-embedding-beats-logmel", "H17-S44-yamnet-esc10", "H17-S44-yamnet-us8k"),
}

FC = "fc_audio"
INCEPTION_RESNET = ("inception_v3_audio", "resnet50_audio")
LONGER = "longer"   # the ``variant`` of the ResNet-50 rows after 3x the steps


# -- per-replicate effects ------------------------------------------------------------------------------
def _by_seed(table: pd.DataFrame, metric: str, column: str) -> pd.DataFrame:
    """``metric`` as a [replicate x arm] frame (arms are the values of ``column``)."""
    rows = table
    rows = rows[rows["metric"] == metric]
    keys = F.replicate_keys(rows)
    wide = rows.pivot_table(index=keys, columns=column, values="value", aggfunc="first")
    return wide


def cnns_beat_fc(table2: pd.DataFrame, metric: str = "AUC") -> pd.Series:
    """Per seed: min over the CNNs of metric(CNN) - metric(FC) (base-length runs only)."""
    base = table2
    base = base[base.get("variant", pd.Series("", index=base.index)).fillna("") == ""]
    wide = _by_seed(base, metric, "model")
    cnns = [m for m in wide.columns if m != FC]
    if FC not in wide.columns or not cnns:
        raise ValueError(f"cnns_beat_fc needs {FC} and at least one CNN; got {list(wide.columns)}")
    return wide[cnns].sub(wide[FC], axis=0).min(axis=1)


def inception_resnet_best(table2: pd.DataFrame, metric: str = "AUC") -> pd.Series:
    """Per seed: min(metric of Inception-V3, ResNet-50) - max(metric of the other models)."""
    base = table2
    base = base[base.get("variant", pd.Series("", index=base.index)).fillna("") == ""]
    wide = _by_seed(base, metric, "model")
    best = [m for m in INCEPTION_RESNET if m in wide.columns]
    others = [m for m in wide.columns if m not in INCEPTION_RESNET]
    if not best or not others:
        raise ValueError(f"inception_resnet_best needs one of {INCEPTION_RESNET} and another model; got "
                         f"{list(wide.columns)}")
    return wide[best].min(axis=1) - wide[others].max(axis=1)


def longer_training(table2: pd.DataFrame, metric: str = "AUC", model: str = "resnet50_audio") -> pd.Series:
    """Per seed: metric after the longer run - metric of the same run at the base number of steps."""
    rows = table2
    rows = rows[rows["model"] == model].assign(variant=lambda t: t["variant"].fillna(""))
    return F.paired_differences(rows, metric, "variant", LONGER, "")


def dprime_prior_rank(per_class: pd.DataFrame) -> pd.Series:
    """Per seed: Spearman rho of per-class d' with log10 prior (classes with finite values)."""
    wide = _per_class_wide(per_class)
    return wide.groupby(F.replicate_keys(wide)).apply(lambda t: F.spearman(t["log10_prior"], t["dprime"]))


def dprime_spread_rank(per_class: pd.DataFrame) -> pd.Series:
    """Per seed: Spearman rho of |d' - median d'| with log10 prior (negative: rare classes spread more)."""
    wide = _per_class_wide(per_class)

    def rho(t):
        return F.spearman(t["log10_prior"], (t["dprime"] - t["dprime"].median()).abs())
    return wide.groupby(F.replicate_keys(wide)).apply(rho)


def _per_class_wide(per_class: pd.DataFrame) -> pd.DataFrame:
    """Tidy per-class rows -> one row per (seed, class) with ``dprime`` and ``log10_prior`` columns."""
    if "dprime" in per_class.columns:   # already wide (per_class_runs output)
        wide = per_class
    else:
        keys = F.replicate_keys(per_class) + ["class"]
        wide = per_class.pivot_table(index=keys, columns="metric", values="value", aggfunc="first").reset_index()
    if "seed" not in wide.columns:
        wide = wide.assign(seed=0)
    # an infinite d' (AUC of exactly 0 or 1) still has a rank; only classes without a value are left out
    ok = ~np.isnan(wide["dprime"].astype(float)) & np.isfinite(wide["log10_prior"].astype(float))
    if "evaluated" in wide.columns:
        ok &= wide["evaluated"].astype(bool)
    return wide[ok]


def bottleneck_more_labels(table3: pd.DataFrame, metric: str = "AUC") -> pd.Series:
    """Per seed, with the bottleneck: metric(most training labels) - metric(fewest)."""
    rows = table3
    rows = rows[rows["bottleneck"].astype(bool)]
    sizes = sorted(set(rows["n_labels"].astype(int)))
    if len(sizes) < 2:
        raise ValueError("bottleneck_more_labels needs at least two label-set sizes with the bottleneck")
    return F.paired_differences(rows.assign(n_labels=rows["n_labels"].astype(int)), metric, "n_labels",
                                sizes[-1], sizes[0])


def no_bottleneck_better(table3: pd.DataFrame, metric: str = "AUC") -> pd.Series:
    """Per seed: mean over the label sets run both ways of metric(no bottleneck) - metric(bottleneck)."""
    rows = table3.assign(arm=lambda t: t["bottleneck"].astype(bool))
    diffs = []
    for n, group in rows.groupby(rows["n_labels"].astype(int)):
        if group["arm"].nunique() == 2:
            diffs.append(F.paired_differences(group, metric, "arm", False, True))
    if not diffs:
        raise ValueError("no_bottleneck_better: no label set was run both with and without the bottleneck")
    return pd.concat(diffs, axis=1).mean(axis=1)


def _size_slope(table4: pd.DataFrame, metric: str, end: str) -> pd.Series:
    rows = table4
    rows = rows[rows["metric"] == metric]
    sizes = sorted(set(rows["train_clips"].astype(int)))
    if len(sizes) < 2:
        raise ValueError("training-set size effects need at least two sizes")
    pick = {"small": sizes[:2], "large": sizes[-2:], "all": sizes}[end]
    part = rows[rows["train_clips"].astype(int).isin(pick)]
    return F.per_replicate(part, lambda t: F.slope(np.log10(t["train_clips"].astype(float)), t["value"]))


def small_end_slope(table4: pd.DataFrame, metric: str = "AUC") -> pd.Series:
    """Per seed: slope of metric over log10(training clips) between the two smallest sets."""
    return _size_slope(table4, metric, "small")


def size_slope(table4: pd.DataFrame, metric: str = "AUC") -> pd.Series:
    """Per seed: least-squares slope of metric over log10(training clips), all sizes."""
    return _size_slope(table4, metric, "all")


def saturation(table4: pd.DataFrame, metric: str = "AUC") -> pd.Series:
    """Per seed: small-end slope minus the slope between the two largest sets (> 0: it saturates)."""
    return _size_slope(table4, metric, "small") - _size_slope(table4, metric, "large")


def transfer_gain(transfer: pd.DataFrame, small_set: str, *, embedding: str, baseline: str = "log-mel 64x20",
                  metric: str = "mAP") -> pd.Series:
    """Per replicate (seed[, fold]) on ``small_set``: metric(embedding features) - metric(baseline)."""
    rows = transfer
    rows = rows[rows["small_set"] == small_set]
    return F.paired_differences(rows, metric, "features", embedding, baseline)


# -- the findings table ---------------------------------------------------------------------------------
def findings(notebook: str, tables: Mapping[str, pd.DataFrame], *, scale: str, replicates: str,
             notes: Mapping[str, str] | None = None, yamnet_features: str = "YAMNet (AudioSet)",
             workbook_features: str = "embedding") -> pd.DataFrame:
    """The findings table of one H17 notebook (``"01"`` ... ``"04"``) from its tidy tables.

    ``tables`` holds, per notebook: 01 ``table2`` and ``per_class`` (ResNet-50's per-class rows with
    a seed column); 02 ``table3``; 03 ``table4``; 04 ``transfer``. A claim whose arms are absent
    because this machine lacks their data or weights (a note saying "not available here", e.g.
    from :func:`~audiolib.h17.transfer.transfer_notes`) is not testable here; one whose arms the
    run left out (a profile's choice) is inconclusive, "not measured in this run".
    """
    if notebook not in NOTEBOOK_CLAIMS:
        raise ValueError(f"H17 findings: notebook must be one of {sorted(NOTEBOOK_CLAIMS)}, got {notebook!r}")
    claims = CLAIMS.select(*NOTEBOOK_CLAIMS[notebook])
    notes = dict(notes or {})
    measured: dict[str, object] = {}

    def attempt(claim_id: str, fn, *args, **kw):
        try:
            measured[claim_id] = fn(*args, **kw).to_numpy(dtype=float)
        except (KeyError, ValueError) as exc:
            # an arm this run left out: inconclusive ("not measured in this run"); data or weights
            # absent from this machine (a note saying "not available here"): not testable here
            if "not available here" in notes.get(claim_id, ""):
                measured[claim_id] = None
            else:
                notes.setdefault(claim_id, str(exc))

    if notebook == "01":
        t2 = tables["table2"]
        attempt("H17-T2-cnns-beat-fc", cnns_beat_fc, t2)
        attempt("H17-T2-inception-resnet-best", inception_resnet_best, t2)
        attempt("H17-T2-longer-training", longer_training, t2)
        attempt("H17-F1-dprime-centred", dprime_prior_rank, tables["per_class"])
        attempt("H17-F1-dprime-spread-rare", dprime_spread_rank, tables["per_class"])
    elif notebook == "02":
        attempt("H17-T3-labels-help-bottleneck", bottleneck_more_labels, tables["table3"])
        attempt("H17-T3-no-bottleneck-better", no_bottleneck_better, tables["table3"])
    elif notebook == "03":
        attempt("H17-T4-more-data-helps", size_slope, tables["table4"])
        attempt("H17-T4-saturates", saturation, tables["table4"])
    else:
        t = tables["transfer"]
        attempt("H17-S44-embedding-beats-logmel", transfer_gain, t, "synthetic-small", embedding=workbook_features)
        attempt("H17-S44-yamnet-esc10", transfer_gain, t, "esc10", embedding=yamnet_features)
        attempt("H17-S44-yamnet-us8k", transfer_gain, t, "urbansound8k", embedding=yamnet_features)
    return F.judge(claims, measured, scale=scale, replicates=replicates, notes=notes)
