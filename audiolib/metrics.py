"""Evaluation metrics of the workbook: ranking metrics (AUC, d', AP/mAP), accuracy, and the
official SONYC-UST (DCASE 2019 Task 5) evaluation.

Conventions
-----------
* Inputs may be NumPy arrays, torch tensors (any device; copied to host) or lists; they are
  converted to ``float64``. ``y_true`` is binary (0/1 or bool); scores are any finite reals.
* Ranking metrics follow scikit-learn exactly: :func:`roc_auc` is the area under the ROC curve
  with tied scores counted half (Mann-Whitney U / (n_pos * n_neg)); :func:`average_precision`
  is ``sum_k (R_k - R_{k-1}) P_k`` over the distinct score thresholds (step-wise, no
  interpolation), as ``sklearn.metrics.average_precision_score``.
* ``d' = sqrt(2) * Phi^-1(AUC)`` (H17, sec. 4): the separation, in standard deviations, of two
  unit-variance Gaussians whose ROC has that AUC. An AUC of exactly 1 (0) gives ``+inf``
  (``-inf``): a perfectly separated class has no finite d'. :func:`dprime` returns that value;
  callers report it (``inf`` in a table is honest). :func:`balanced_metrics` never returns NaN.
* Macro averages skip classes that have no positive or no negative example (their AUC is
  undefined); how many were skipped is part of the result.

The SONYC-UST part (:func:`sonyc_ust_metrics`) reimplements the official evaluation of the
DCASE 2019 Task 5 baseline (``metrics.py`` of github.com/sonyc-project/urban-sound-tagging-baseline:
``evaluate``, ``confusion_matrix_fine``, ``confusion_matrix_coarse``, ``micro_averaged_auprc``,
``macro_averaged_auprc``), vectorised over thresholds; see its docstring for the rules.

>>> import numpy as np
>>> y = np.array([0, 0, 1, 1]); s = np.array([0.1, 0.4, 0.35, 0.8])
>>> round(roc_auc(y, s), 4), round(average_precision(y, s), 4)
(0.75, 0.8333)
>>> round(float(dprime(0.963)), 3)
2.527
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.special import ndtri

__all__ = [
    "roc_auc",
    "average_precision",
    "micro_average_precision",
    "dprime",
    "accuracy",
    "top_k_accuracy",
    "per_class_metrics",
    "balanced_metrics",
    "sonyc_columns",
    "sonyc_ground_truth",
    "coarse_from_fine",
    "write_submission_csv",
    "sonyc_ust_metrics",
]

# Largest number of score entries sorted at once by the vectorised ranking code (bounds memory:
# a few float64/int64 work arrays of this size, ~17 MB each).
_CHUNK_ELEMENTS = 1 << 21


# --- input handling -----------------------------------------------------------------------------
def _to_numpy(x: Any, name: str) -> np.ndarray:
    """``x`` (ndarray, torch tensor, DataFrame, list) as a float64 ndarray."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch tensor, without importing torch
        x = x.detach().cpu()
        x = (x.double() if x.dtype.is_floating_point else x).numpy()  # also bfloat16/float16
    elif isinstance(x, (pd.DataFrame, pd.Series)):
        x = x.to_numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"parameter {name}: cannot be read as numbers ({exc})") from None


def _binary(y: Any, name: str = "y_true") -> np.ndarray:
    """``y`` as a bool array; raises if a value is not 0/1."""
    arr = _to_numpy(y, name)
    bad = ~((arr == 0) | (arr == 1))
    if bad.any():
        example = arr[bad].ravel()[:5].tolist()
        raise ValueError(f"parameter {name}: values must be 0 or 1 (binary labels), found {example}")
    return arr == 1


def _finite(s: Any, name: str = "y_score") -> np.ndarray:
    arr = _to_numpy(s, name)
    if not np.isfinite(arr).all():
        raise ValueError(f"parameter {name}: contains {int((~np.isfinite(arr)).sum())} NaN or infinite value(s)")
    return arr


def _pair(y_true: Any, y_score: Any, ndim: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    y = _binary(y_true, "y_true")
    s = _finite(y_score, "y_score")
    if y.shape != s.shape:
        raise ValueError(f"parameters y_true {y.shape} and y_score {s.shape} must have the same shape")
    if y.ndim not in ndim:
        raise ValueError(f"parameter y_true: expected {' or '.join(f'{d}-D' for d in ndim)} input, got shape {y.shape}")
    if y.shape[0] == 0:
        raise ValueError("parameter y_true: no example (first dimension is 0)")
    return y, s


# --- vectorised ranking core --------------------------------------------------------------------
def _ranking_stats(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-column AUC, AP and number of positives of ``y [n, C]`` (bool) and ``s [n, C]``.

    One ascending sort per column; then only the positives are visited. With the tie group
    ``[start, end]`` (sorted positions of equal scores) of each positive:
    AUC = (sum of the positives' average ranks - P(P+1)/2) / (P N), and
    AP = (1/P) sum over positives of the precision at the positive's score taken as threshold
    (everything from ``start`` upward predicted positive). Undefined values are NaN (AUC
    without positives or negatives, AP without positives).
    """
    n, n_classes = s.shape
    auc = np.full(n_classes, np.nan)
    ap = np.full(n_classes, np.nan)
    n_pos = y.sum(axis=0).astype(np.int64)
    step = max(1, _CHUNK_ELEMENTS // max(n, 1))
    for lo in range(0, n_classes, step):
        cols = slice(lo, min(lo + step, n_classes))
        scores = np.ascontiguousarray(s[:, cols].T)  # [c, n]: sort along the contiguous axis
        order = np.argsort(scores, axis=1)
        scores = np.take_along_axis(scores, order, axis=1)
        labels = np.take_along_axis(np.ascontiguousarray(y[:, cols].T), order, axis=1)
        del order
        c = scores.shape[0]
        # Flat positions where a new score value (tie group) starts; every row starts one.
        new_value = np.empty(scores.shape, dtype=bool)
        new_value[:, 0] = True
        np.not_equal(scores[:, 1:], scores[:, :-1], out=new_value[:, 1:])
        starts = np.flatnonzero(new_value)
        ends = np.append(starts[1:], c * n) - 1
        del new_value, scores
        positives = np.flatnonzero(labels)
        row = positives // n
        group = np.searchsorted(starts, positives, side="right") - 1
        first = starts[group] - row * n  # column position of the group's start / end
        last = ends[group] - row * n
        rank_sum = np.bincount(row, weights=(first + last) * 0.5 + 1.0, minlength=c)
        # positives of the same row sorted before the group start
        below = np.searchsorted(positives, starts[group]) - np.searchsorted(positives, row * n)
        p = n_pos[cols].astype(np.float64)
        precision = (p[row] - below) / (n - first)
        with np.errstate(divide="ignore", invalid="ignore"):
            auc_chunk = (rank_sum - p * (p + 1) * 0.5) / (p * (n - p))
            ap_chunk = np.bincount(row, weights=precision, minlength=c) / p
        auc[cols] = np.where((p > 0) & (p < n), auc_chunk, np.nan)
        ap[cols] = np.where(p > 0, ap_chunk, np.nan)
    return auc, ap, n_pos


def _single_or_columns(values: np.ndarray, y: np.ndarray, metric: str):
    """Return a float for 1-D input (raising if undefined) or the per-column array for 2-D."""
    if y.ndim == 2:
        return values
    value = float(values[0])
    if math.isnan(value):
        n_pos = int(y.sum())
        what = "no positive example" if n_pos == 0 else "no negative example"
        raise ValueError(f"{metric}: y_true has {what} (n_pos={n_pos}, n={y.size}); {metric} is undefined")
    return value


# --- basic metrics ------------------------------------------------------------------------------
def roc_auc(y_true: Any, y_score: Any):
    """Area under the ROC curve (ties count half), as ``sklearn.metrics.roc_auc_score``.

    Args:
        y_true: ``[n]`` binary labels, or ``[n, C]`` for one AUC per column.
        y_score: same shape, finite scores (higher = more likely positive).

    Returns:
        A float for 1-D input (``ValueError`` when only one class is present); for 2-D input a
        ``[C]`` float64 array with NaN for columns lacking positives or negatives.

    >>> roc_auc([0, 1, 0, 1], [0.2, 0.9, 0.2, 0.2])
    0.75
    """
    y, s = _pair(y_true, y_score, (1, 2))
    auc, _, _ = _ranking_stats(y.reshape(len(y), -1), s.reshape(len(s), -1))
    return _single_or_columns(auc, y, "roc_auc")


def average_precision(y_true: Any, y_score: Any):
    """Average precision, step-wise without interpolation (``sklearn.metrics.average_precision_score``).

    ``AP = sum_k (R_k - R_{k-1}) P_k`` over the distinct score thresholds in decreasing order.

    Args:
        y_true: ``[n]`` binary labels, or ``[n, C]`` for one AP per column.
        y_score: same shape, finite scores.

    Returns:
        A float for 1-D input (``ValueError`` without positives); for 2-D input a ``[C]`` array
        with NaN for columns without positives (a column without negatives has AP 1).

    >>> round(average_precision([0, 1, 1, 0], [0.1, 0.8, 0.4, 0.5]), 4)
    0.8333
    """
    y, s = _pair(y_true, y_score, (1, 2))
    _, ap, _ = _ranking_stats(y.reshape(len(y), -1), s.reshape(len(s), -1))
    return _single_or_columns(ap, y, "average_precision")


def micro_average_precision(y_true: Any, y_score: Any) -> float:
    """AP of all ``[n, C]`` (example, class) pairs pooled, as sklearn's ``average="micro"``.

    >>> micro_average_precision([[1, 0], [0, 1]], [[0.9, 0.2], [0.3, 0.8]])
    1.0
    """
    y, s = _pair(y_true, y_score, (2,))
    return average_precision(y.ravel(), s.ravel())


def dprime(auc: Any):
    """Sensitivity index from AUC: ``d' = sqrt(2) * Phi^-1(AUC)`` (H17 sec. 4).

    Args:
        auc: a float or an array of AUCs in [0, 1] (NaN passes through as NaN).

    Returns:
        A float for scalar input, else a float64 array of the same shape. AUC = 1 gives
        ``+inf`` and AUC = 0 gives ``-inf`` (no finite d' describes perfect separation).

    >>> round(float(dprime(0.5)), 6), float(dprime(1.0))
    (0.0, inf)
    """
    a = _to_numpy(auc, "auc")
    if ((a < 0) | (a > 1)).any():
        raise ValueError(f"parameter auc: values must lie in [0, 1], got {a[(a < 0) | (a > 1)].ravel()[:5].tolist()}")
    d = math.sqrt(2.0) * ndtri(a)
    return float(d) if d.ndim == 0 else d


def accuracy(y_true_labels: Any, y_pred_labels: Any) -> float:
    """Fraction of examples whose predicted label equals the true label.

    Args:
        y_true_labels: ``[n]`` labels (ints or strings).
        y_pred_labels: ``[n]`` predicted labels, or ``[n, C]`` scores whose arg-max (column
            index) is the prediction, in which case ``y_true_labels`` are column indices.

    >>> accuracy([0, 1, 2, 2], [0, 2, 2, 2])
    0.75
    """
    true = _labels(y_true_labels, "y_true_labels")
    pred = y_pred_labels
    if hasattr(pred, "detach"):
        pred = pred.detach().cpu().numpy()
    pred = np.asarray(pred)
    if pred.ndim == 2:
        pred = _finite(pred, "y_pred_labels").argmax(axis=1)
    if pred.ndim != 1 or len(pred) != len(true):
        raise ValueError(f"parameters y_true_labels {true.shape} and y_pred_labels {pred.shape}: expected [n] and [n] (or [n, C] scores)")
    if len(true) == 0:
        raise ValueError("parameter y_true_labels: no example")
    return float(np.mean(true == pred))


def top_k_accuracy(y_true_labels: Any, y_score: Any, k: int = 5) -> float:
    """Fraction of examples whose true class is among the ``k`` highest scores.

    Ties are broken as ``sklearn.metrics.top_k_accuracy_score`` does (a stable ascending sort
    reversed: among equal scores the higher column index ranks first).

    Args:
        y_true_labels: ``[n]`` integer class indices in ``[0, C)``.
        y_score: ``[n, C]`` finite scores.
        k: number of top classes that count as a hit (``k >= 1``).

    >>> top_k_accuracy([0, 1], [[0.5, 0.3, 0.2], [0.6, 0.1, 0.3]], k=2)
    0.5
    """
    s = _finite(y_score, "y_score")
    true = _labels(y_true_labels, "y_true_labels")
    if s.ndim != 2 or len(true) != s.shape[0]:
        raise ValueError(f"parameters y_true_labels {true.shape} and y_score {s.shape}: expected [n] and [n, C]")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"parameter k: must be an integer >= 1, got {k!r}")
    if not np.issubdtype(true.dtype, np.integer) or (true < 0).any() or (true >= s.shape[1]).any():
        raise ValueError(f"parameter y_true_labels: must be integer class indices in [0, {s.shape[1]})")
    if len(true) == 0:
        raise ValueError("parameter y_true_labels: no example")
    true_score = s[np.arange(len(true)), true][:, None]
    columns = np.arange(s.shape[1])[None, :]
    rank = (s > true_score).sum(axis=1) + ((s == true_score) & (columns > true[:, None])).sum(axis=1)
    return float(np.mean(rank < k))


def _labels(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"parameter {name}: expected a 1-D array of labels, got shape {arr.shape}")
    return arr


# --- multi-label summaries ----------------------------------------------------------------------
def per_class_metrics(y_true: Any, y_score: Any, classes: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per class: ``class, n_pos, prior, AUC, AP, dprime, evaluated``.

    Args:
        y_true: ``[n, C]`` binary targets.
        y_score: ``[n, C]`` finite scores.
        classes: ``C`` class names (default ``"0" .. "C-1"``).

    ``evaluated`` is True when the class has at least one positive and one negative example;
    only those enter macro averages. AUC and d' are NaN for the others; AP is NaN without
    positives (and 1 without negatives). d' may be +-inf (AUC of exactly 1 or 0).

    >>> table = per_class_metrics([[1, 0], [0, 0]], [[0.9, 0.1], [0.2, 0.3]], ["a", "b"])
    >>> table["AUC"].tolist(), table["evaluated"].tolist()
    ([1.0, nan], [True, False])
    """
    y, s = _pair(y_true, y_score, (2,))
    return _per_class(y, s, classes)


def _per_class(y: np.ndarray, s: np.ndarray, classes: Sequence[str] | None) -> pd.DataFrame:
    n, n_classes = y.shape
    names = [str(c) for c in range(n_classes)] if classes is None else [str(c) for c in classes]
    if len(names) != n_classes:
        raise ValueError(f"parameter classes: {len(names)} names for {n_classes} columns of y_score")
    auc, ap, n_pos = _ranking_stats(y, s)
    return pd.DataFrame({
        "class": names,
        "n_pos": n_pos,
        "prior": n_pos / n,
        "AUC": auc,
        "AP": ap,
        "dprime": math.sqrt(2.0) * ndtri(auc),
        "evaluated": (n_pos > 0) & (n_pos < n),
    })


def balanced_metrics(y_true: Any, y_score: Any) -> dict[str, float | int]:
    """Macro (class-balanced) ranking metrics of a multi-label problem, as H17 reports them.

    Args:
        y_true: ``[n, C]`` binary targets.
        y_score: ``[n, C]`` finite scores.

    Returns:
        ``{"mAP", "AUC", "dprime_of_mean_auc", "mean_dprime", "n_classes", "n_classes_evaluated",
        "n_classes_skipped", "n_classes_perfect"}``: macro means over the evaluated classes
        (those with at least one positive and one negative); ``dprime_of_mean_auc`` is
        ``dprime(AUC)`` (H17's d'), ``mean_dprime`` the mean of per-class d'. The per-class
        values are :func:`per_class_metrics`.

    Never NaN. With no evaluable class at all the macro values are 0 for mAP and 0.5 for AUC
    (chance level) with ``n_classes_evaluated == 0``; do not report those. Infinite values:
    a class with AUC exactly 1 (``n_classes_perfect`` counts AUCs of 0 or 1) has d' = +inf, so
    ``mean_dprime`` is then +inf (and ``dprime_of_mean_auc`` is +inf when every class has
    AUC 1). Only when classes with AUC 1 and AUC 0 both occur would the mean be inf - inf; then
    each such class's AUC is moved half an AUC step, ``1 / (2 n_pos n_neg)``, inside (0, 1) so
    the mean stays defined.

    >>> m = balanced_metrics([[1, 0], [0, 1], [1, 1]], [[0.9, 0.2], [0.1, 0.7], [0.6, 0.4]])
    >>> m["mAP"], m["AUC"], m["n_classes_evaluated"], m["n_classes_perfect"], m["mean_dprime"]
    (1.0, 1.0, 2, 2, inf)
    """
    y, s = _pair(y_true, y_score, (2,))
    table = _per_class(y, s, None)
    used = table[table["evaluated"]]
    n_eval = len(used)
    mean_auc = float(used["AUC"].mean()) if n_eval else 0.5
    dp = used["dprime"].to_numpy()
    if n_eval == 0:
        mean_dp = 0.0
    elif np.isposinf(dp).any() and np.isneginf(dp).any():
        n_pos = used["n_pos"].to_numpy(dtype=np.float64)
        half_step = 0.5 / (n_pos * (len(y) - n_pos))
        mean_dp = float(np.mean(dprime(np.clip(used["AUC"].to_numpy(), half_step, 1.0 - half_step))))
    else:
        mean_dp = float(np.mean(dp))
    return {
        "mAP": float(used["AP"].mean()) if n_eval else 0.0,
        "AUC": mean_auc,
        "dprime_of_mean_auc": float(dprime(mean_auc)),
        "mean_dprime": mean_dp,
        "n_classes": int(len(table)),
        "n_classes_evaluated": int(n_eval),
        "n_classes_skipped": int(len(table) - n_eval),
        "n_classes_perfect": int(((used["AUC"] == 1.0) | (used["AUC"] == 0.0)).sum()),
    }


# --- SONYC-UST: taxonomy, columns, submission files -----------------------------------------------
def _sonyc_taxonomy(taxonomy: Any) -> tuple[dict[str, str], dict[str, str]]:
    """``(coarse {code: name}, fine {code "c-f": name})`` in taxonomy order, from a
    :class:`audiolib.data.base.Taxonomy`, the parsed DCASE yaml dict, or a path to that yaml."""
    if isinstance(taxonomy, (str, os.PathLike)):
        import yaml

        path = Path(taxonomy)
        if not path.is_file():
            raise ValueError(f"parameter taxonomy: file not found: {path}")
        with open(path) as f:
            taxonomy = yaml.safe_load(f)
    if isinstance(taxonomy, Mapping):
        if "coarse" not in taxonomy or "fine" not in taxonomy:
            raise ValueError("parameter taxonomy: the yaml dict must have 'coarse' and 'fine' entries")
        coarse = {str(k): str(v) for k, v in taxonomy["coarse"].items()}
        fine = {}
        for c, tags in taxonomy["fine"].items():
            for f, name in tags.items():
                fine[f"{c}-{f}"] = str(name)
    elif hasattr(taxonomy, "coarse") and hasattr(taxonomy, "fine"):
        coarse = {str(k): str(v) for k, v in taxonomy.coarse.items()}
        fine = {str(k): str(v) for k, v in taxonomy.fine.items()}
    else:
        raise ValueError(f"parameter taxonomy: expected a Taxonomy, the parsed yaml dict or its path, got {type(taxonomy).__name__}")
    for code in fine:
        parts = code.split("-")
        if len(parts) != 2 or parts[0] not in coarse:
            raise ValueError(f"parameter taxonomy: fine code {code!r} is not of the form '<coarse code>-<fine id>' "
                             f"with a coarse code among {list(coarse)}")
    for code in coarse:
        if not any(f.split("-")[0] == code for f in fine):
            raise ValueError(f"parameter taxonomy: coarse category {code!r} has no fine tag")
    return coarse, fine


def _fine_of(fine: Mapping[str, str], coarse_code: str) -> list[str]:
    return [f for f in fine if f.split("-")[0] == coarse_code]


def sonyc_columns(taxonomy: Any, level: str = "fine") -> list[str]:
    """Column names ``"<code>_<name>"`` of the official SONYC-UST files, in taxonomy order.

    Args:
        taxonomy: :class:`~audiolib.data.base.Taxonomy`, the parsed ``dcase-ust-taxonomy.yaml``
            dict, or its path.
        level: ``"fine"`` (all fine tags including the ``X`` ones, e.g.
            ``"1-X_engine-of-uncertain-size"``), ``"coarse"`` (``"1_engine"``), or ``"all"``
            (fine then coarse: the submission order after ``audio_filename``).

    >>> tax = {"coarse": {1: "engine"}, "fine": {1: {1: "small-sounding-engine", "X": "engine-of-uncertain-size"}}}
    >>> sonyc_columns(tax, "all")
    ['1-1_small-sounding-engine', '1-X_engine-of-uncertain-size', '1_engine']
    """
    coarse, fine = _sonyc_taxonomy(taxonomy)
    fine_cols = [f"{k}_{v}" for k, v in fine.items()]
    coarse_cols = [f"{k}_{v}" for k, v in coarse.items()]
    if level == "fine":
        return fine_cols
    if level == "coarse":
        return coarse_cols
    if level == "all":
        return fine_cols + coarse_cols
    raise ValueError(f"parameter level: must be 'fine', 'coarse' or 'all', got {level!r}")


def sonyc_ground_truth(annotations: Any, split: str = "validate") -> pd.DataFrame:
    """The official ground truth: the verified (``annotator_id == 0``) rows of ``split``.

    Args:
        annotations: the SONYC-UST ``annotations.csv`` as a DataFrame or a path.
        split: ``"validate"`` (DCASE 2019 evaluation) or another split that has annotator-0 rows.

    Returns:
        One row per ``audio_filename`` (sorted) with the presence columns renamed from
        ``"<code>_<name>_presence"`` to ``"<code>_<name>"``.
    """
    if isinstance(annotations, (str, os.PathLike)):
        annotations = pd.read_csv(annotations, low_memory=False)
    for col in ("annotator_id", "split", "audio_filename"):
        if col not in annotations.columns:
            raise ValueError(f"parameter annotations: column {col!r} missing (expected SONYC-UST annotations.csv)")
    gt = annotations[(annotations["annotator_id"] == 0) & (annotations["split"] == split)]
    if gt.empty:
        raise ValueError(f"parameter annotations: no verified (annotator_id == 0) row in split {split!r}")
    if gt["audio_filename"].duplicated().any():
        raise ValueError(f"parameter annotations: several annotator-0 rows for {gt['audio_filename'][gt['audio_filename'].duplicated()].iloc[0]!r}")
    presence = [c for c in gt.columns if c.endswith("_presence")]
    gt = gt[["audio_filename"] + presence].rename(columns={c: c[: -len("_presence")] for c in presence})
    return gt.sort_values("audio_filename").reset_index(drop=True)


def coarse_from_fine(fine_scores: Any, taxonomy: Any):
    """Coarse scores as the maximum over each category's fine tags (including its ``X`` tag).

    Args:
        fine_scores: ``[n, n_fine]`` array/tensor in ``sonyc_columns(taxonomy, "fine")`` order,
            or a DataFrame holding those columns (other columns such as ``audio_filename``
            are carried over).
        taxonomy: see :func:`sonyc_columns`.

    Returns:
        ``[n, n_coarse]`` float64 array, or a DataFrame with the coarse columns for DataFrame input.

    >>> tax = {"coarse": {1: "engine"}, "fine": {1: {1: "small", "X": "other"}}}
    >>> coarse_from_fine([[0.2, 0.7], [0.4, 0.1]], tax)
    array([[0.7],
           [0.4]])
    """
    coarse, fine = _sonyc_taxonomy(taxonomy)
    fine_cols = [f"{k}_{v}" for k, v in fine.items()]
    coarse_cols = [f"{k}_{v}" for k, v in coarse.items()]
    if isinstance(fine_scores, pd.DataFrame):
        missing = [c for c in fine_cols if c not in fine_scores.columns]
        if missing:
            raise ValueError(f"parameter fine_scores: fine columns missing: {missing[:5]}")
        values = coarse_from_fine(fine_scores[fine_cols].to_numpy(), taxonomy)
        others = fine_scores[[c for c in fine_scores.columns if c not in fine_cols and c not in coarse_cols]]
        return pd.concat([others.reset_index(drop=True), pd.DataFrame(values, columns=coarse_cols)], axis=1)
    s = _finite(fine_scores, "fine_scores")
    if s.ndim != 2 or s.shape[1] != len(fine):
        raise ValueError(f"parameter fine_scores: expected [n, {len(fine)}] (the fine tags incl. X), got {s.shape}")
    positions = {code: i for i, code in enumerate(fine)}
    return np.stack([s[:, [positions[f] for f in _fine_of(fine, c)]].max(axis=1) for c in coarse], axis=1)


def write_submission_csv(path: str | os.PathLike, filenames: Sequence[str], fine_scores: Any,
                         coarse_scores: Any, taxonomy: Any) -> Path:
    """Write predictions in the official DCASE 2019 Task 5 submission format.

    Columns: ``audio_filename``, every fine tag including the ``X`` tags (taxonomy order),
    then every coarse category, as the baseline's ``generate_output_file`` writes them.

    Args:
        path: output CSV file (written atomically; parent folders are created).
        filenames: ``n`` audio file names (e.g. ``"00_000066.wav"``), unique.
        fine_scores: ``[n, n_fine]`` scores in ``sonyc_columns(taxonomy, "fine")`` order.
        coarse_scores: ``[n, n_coarse]`` scores, or ``None`` for :func:`coarse_from_fine`.
        taxonomy: see :func:`sonyc_columns`.

    Returns:
        The path written.
    """
    fine_cols = sonyc_columns(taxonomy, "fine")
    coarse_cols = sonyc_columns(taxonomy, "coarse")
    names = [str(f) for f in filenames]
    if len(set(names)) != len(names):
        raise ValueError("parameter filenames: file names must be unique")
    fine = _finite(fine_scores, "fine_scores")
    if fine.shape != (len(names), len(fine_cols)):
        raise ValueError(f"parameter fine_scores: expected shape ({len(names)}, {len(fine_cols)}), got {fine.shape}")
    coarse = coarse_from_fine(fine, taxonomy) if coarse_scores is None else _finite(coarse_scores, "coarse_scores")
    if coarse.shape != (len(names), len(coarse_cols)):
        raise ValueError(f"parameter coarse_scores: expected shape ({len(names)}, {len(coarse_cols)}), got {coarse.shape}")
    table = pd.concat([pd.DataFrame({"audio_filename": names}),
                       pd.DataFrame(np.hstack([fine, coarse]), columns=fine_cols + coarse_cols)], axis=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            table.to_csv(f, index=False)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


# --- SONYC-UST: official evaluation -------------------------------------------------------------
# The official script skips scores below this threshold when listing candidate thresholds.
_SONYC_MIN_THRESHOLD = 0.01


def _count_at_least(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """For each threshold t, how many of ``values`` are >= t."""
    ordered = np.sort(values.ravel())
    return len(ordered) - np.searchsorted(ordered, thresholds, side="left")


def _sonyc_curve(thresholds: np.ndarray, tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> pd.DataFrame:
    """Threshold table with precision, recall and F1 computed as the official script does."""
    mu = 0.5  # the official guard against 0/0; any 0 < mu < 1 gives the same values
    precision = tp / np.maximum(tp + fp, mu)
    recall = tp / np.maximum(tp + fn, mu)
    with np.errstate(divide="ignore"):
        f1 = 2.0 / (1.0 / precision + 1.0 / recall)
    return pd.DataFrame({"threshold": thresholds, "TP": tp, "FP": fp, "FN": fn,
                         "P": precision, "R": recall, "F": f1})


def _sonyc_auprc(curve: pd.DataFrame) -> float:
    """Trapezoidal area of the P-R points sorted by recall, with (R=0, P=1) prepended and
    (R=1, P=0) appended, as the official ``macro_averaged_auprc``/``micro_averaged_auprc``.

    Points with equal recall (a threshold step that only adds false positives) are ordered by
    NumPy's default ``argsort``, which is not stable, exactly as the official code does: the
    area then depends on the order NumPy's sort gives those ties (it differs between NumPy
    builds/CPUs; the effect is typically below 1e-3). Using the same call reproduces the
    official script's value bit for bit on the same NumPy."""
    recall = curve["R"].to_numpy()
    order = np.argsort(recall)
    r = np.concatenate([[0.0], recall[order], [1.0]])
    p = np.concatenate([[1.0], curve["P"].to_numpy()[order], [0.0]])
    trapezoid = getattr(np, "trapezoid", None) or np.trapz
    return float(trapezoid(p, r))


def _sonyc_counts_fine(s: np.ndarray, y: np.ndarray, x_score: np.ndarray, x_true: np.ndarray,
                       thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TP, FP, FN of one coarse category at fine level for every threshold (official
    ``confusion_matrix_fine`` with predictions ``score >= threshold``), without a threshold loop.

    s, y: ``[n, K]`` complete-tag scores and truth; x_score, x_true: ``[n]`` the X tag's.
    """
    # Part I: samples whose truth has no X tag, tag by tag.
    tp_complete = _count_at_least(s[y], thresholds)
    fp_complete = _count_at_least(s[~y & ~x_true[:, None]], thresholds)
    fn_complete = int(y.sum()) - tp_complete
    # Part II: the "coarsened" prediction (any complete tag or X predicted) is >= t iff its max is.
    any_true = y.any(axis=1)
    coarsened = np.maximum(s.max(axis=1), x_score)
    best_true = np.where(y, s, -np.inf).max(axis=1)  # >= t iff a complete true tag is a TP
    # TP: X in truth, coarsened prediction positive, no complete TP (best_true <= coarsened).
    tp_incomplete = _count_at_least(coarsened[x_true], thresholds) - _count_at_least(best_true[x_true], thresholds)
    # FP: no X and no complete tag in truth, X predicted, not every complete tag predicted.
    quiet = ~x_true & ~any_true
    fp_incomplete = (_count_at_least(x_score[quiet], thresholds)
                     - _count_at_least(np.minimum(x_score, s.min(axis=1))[quiet], thresholds))
    # FN: only X in truth and nothing of the category predicted.
    only_x = x_true & ~any_true
    fn_incomplete = int(only_x.sum()) - _count_at_least(coarsened[only_x], thresholds)
    return (tp_complete + tp_incomplete, fp_complete + fp_incomplete, fn_complete + fn_incomplete)


def _sonyc_counts_coarse(s: np.ndarray, y: np.ndarray, thresholds: np.ndarray):
    tp = _count_at_least(s[y], thresholds)
    fp = _count_at_least(s[~y], thresholds)
    return tp, fp, int(y.sum()) - tp


def _sonyc_table(df: pd.DataFrame, columns: list[str], name: str, allow_presence_suffix: bool) -> np.ndarray:
    """The ``[n, len(columns)]`` values of ``df`` (columns may carry a ``_presence`` suffix)."""
    found, missing = [], []
    for col in columns:
        if col in df.columns:
            found.append(col)
        elif allow_presence_suffix and f"{col}_presence" in df.columns:
            found.append(f"{col}_presence")
        else:
            missing.append(col)
    if missing:
        raise ValueError(f"parameter {name}: {len(missing)} column(s) of the taxonomy missing, e.g. {missing[:5]}")
    return df[found].to_numpy()


def sonyc_ust_metrics(ground_truth: pd.DataFrame, predictions: pd.DataFrame, taxonomy: Any,
                      level: str = "fine", *, f1_threshold: float = 0.5) -> dict[str, Any]:
    """The official SONYC-UST (DCASE 2019 Task 5) evaluation at fine or coarse level.

    Reimplements ``evaluate`` + ``micro_averaged_auprc`` + ``macro_averaged_auprc`` of the
    task's baseline ``metrics.py`` (github.com/sonyc-project/urban-sound-tagging-baseline):

    * For each coarse category, candidate thresholds are the distinct predicted scores of its
      complete fine tags (fine level; the X tag's scores are not candidates) or of the category
      (coarse level), those below 0.01 dropped, plus 1.0. A tag is predicted when
      ``score >= threshold``.
    * Counts per coarse category (official ``confusion_matrix_fine``): for clips whose truth
      has no X tag, TP/FP/FN tag by tag on the complete tags. For the X ("unknown") tag:
      a clip whose truth has the X tag and whose prediction has any tag of the category
      (complete or X) scores one TP, unless a complete tag already matched; a clip whose truth
      has only the X tag and nothing of the category predicted scores one FN; a clip whose
      truth has nothing of the category but whose prediction has the X tag (and not every
      complete tag) scores one extra FP. Complete tags predicted on a clip whose truth has the
      X tag are not false positives. Complete tags in the truth still count TP/FN when the truth
      also has the X tag. Coarse level: plain TP/FP/FN of the category.
    * ``P = TP / max(TP + FP, 0.5)``, ``R = TP / max(TP + FN, 0.5)``, ``F = 2 / (1/P + 1/R)``.
    * Class-wise AUPRC: points sorted by recall (NumPy's default, unstable, argsort, as the
      official code; see :func:`_sonyc_auprc` about tied recalls), (0, 1) prepended and (1, 0)
      appended, trapezoidal area. Macro AUPRC: the plain mean over all coarse categories.
    * Micro: at every threshold of the union, each category contributes the counts of its
      smallest own threshold >= it; summed counts give P and R and the AUPRC as above. Micro
      F1 is F at the smallest threshold >= ``f1_threshold`` (0.5).

    Args:
        ground_truth: one row per ``audio_filename`` with 0/1 columns named as
            :func:`sonyc_columns` (``"1-1_small-sounding-engine"``; a ``_presence`` suffix as in
            ``annotations.csv`` is accepted): fine tags incl. X for ``level="fine"``, coarse
            for ``"coarse"``. Build it from annotations with :func:`sonyc_ground_truth`.
        predictions: one row per ``audio_filename`` with score columns in [0, 1] named as in the
            submission format (:func:`write_submission_csv`); the same set of files.
        taxonomy: :class:`~audiolib.data.base.Taxonomy`, the parsed yaml dict or its path.
        level: ``"fine"`` or ``"coarse"``.
        f1_threshold: decision threshold of the reported F1 (official: 0.5).

    Returns:
        ``{"level", "micro_auprc", "macro_auprc", "micro_f1", "micro_precision", "micro_recall",
        "f1_threshold" (the threshold actually used), "TP", "FP", "FN" (micro counts there),
        "class_auprc" {coarse code: AUPRC}, "class_counts" (DataFrame: coarse code -> TP, FP,
        FN at that threshold), "micro_curve" and "class_curves" (the threshold tables)}``.

    Differences from the official script, all on inputs it would mishandle: a missing
    prediction column is an error (the script warns and uses zeros), and scores outside [0, 1]
    are an error (the script can fail on them).
    """
    if level not in ("fine", "coarse"):
        raise ValueError(f"parameter level: must be 'fine' or 'coarse', got {level!r}")
    coarse, fine = _sonyc_taxonomy(taxonomy)
    if "annotator_id" in ground_truth.columns:
        raise ValueError("parameter ground_truth: has per-annotator rows; reduce it with "
                         "sonyc_ground_truth(annotations, split='validate') first")
    for name, df in (("ground_truth", ground_truth), ("predictions", predictions)):
        if "audio_filename" not in df.columns:
            raise ValueError(f"parameter {name}: column 'audio_filename' missing")
        dup = df["audio_filename"][df["audio_filename"].duplicated()]
        if len(dup):
            raise ValueError(f"parameter {name}: audio_filename {dup.iloc[0]!r} appears more than once")
    true_files, pred_files = set(ground_truth["audio_filename"]), set(predictions["audio_filename"])
    if true_files != pred_files:
        raise ValueError("File mismatch between ground truth and predictions: "
                         f"missing from predictions {sorted(true_files - pred_files)[:5]}, "
                         f"not in ground truth {sorted(pred_files - true_files)[:5]}")
    predictions = predictions.set_index("audio_filename").loc[ground_truth["audio_filename"]].reset_index()

    def scores(columns: list[str]) -> np.ndarray:
        values = _finite(_sonyc_table(predictions, columns, "predictions", False), "predictions")
        if ((values < 0) | (values > 1)).any():
            raise ValueError("parameter predictions: scores must lie in [0, 1] (probabilities), as the official evaluation expects")
        return values

    def truth(columns: list[str]) -> np.ndarray:
        return _binary(_sonyc_table(ground_truth, columns, "ground_truth", True), "ground_truth")

    n = len(ground_truth)
    curves: dict[str, pd.DataFrame] = {}
    for c, c_name in coarse.items():
        if level == "coarse":
            s, y = scores([f"{c}_{c_name}"]), truth([f"{c}_{c_name}"])
        else:
            complete = [f for f in _fine_of(fine, c) if not f.endswith("-X")]
            cols = [f"{f}_{fine[f]}" for f in complete]
            s, y = scores(cols), truth(cols)
            x_code = f"{c}-X"
            if x_code in fine:
                x_col = f"{x_code}_{fine[x_code]}"
                x_score, x_true = scores([x_col])[:, 0], truth([x_col])[:, 0]
            else:  # the official parser adds an all-zero X column for categories without one
                x_score, x_true = np.zeros(n), np.zeros(n, dtype=bool)
        candidates = np.sort(s.ravel())
        candidates = candidates[np.searchsorted(candidates, _SONYC_MIN_THRESHOLD):]
        thresholds = np.unique(np.append(candidates, 1.0))[::-1]
        if level == "coarse":
            tp, fp, fn = _sonyc_counts_coarse(s, y, thresholds)
        else:
            tp, fp, fn = _sonyc_counts_fine(s, y, x_score, x_true, thresholds)
        curves[c] = _sonyc_curve(thresholds, tp, fp, fn)

    class_auprc = {c: _sonyc_auprc(curve) for c, curve in curves.items()}

    # Micro: union of thresholds (ascending); per category, its smallest threshold >= t.
    union = np.unique(np.hstack([curve["threshold"].to_numpy() for curve in curves.values()]))
    totals = np.zeros((3, len(union)), dtype=np.int64)
    rows_at: dict[str, np.ndarray] = {}
    for c, curve in curves.items():
        descending = curve["threshold"].to_numpy()
        rows = len(descending) - 1 - np.searchsorted(descending[::-1], union, side="left")
        rows_at[c] = rows
        totals += curve[["TP", "FP", "FN"]].to_numpy().T[:, rows]
    micro = _sonyc_curve(union, totals[0], totals[1], totals[2])
    at = int(np.searchsorted(union, f1_threshold, side="left"))
    if at == len(union):
        raise ValueError(f"parameter f1_threshold: {f1_threshold} is above every candidate threshold (max 1.0)")
    class_counts = pd.DataFrame(
        {c: curves[c][["TP", "FP", "FN"]].iloc[rows_at[c][at]] for c in curves}).T.astype(int)
    class_counts.index.name = "coarse"
    return {
        "level": level,
        "micro_auprc": _sonyc_auprc(micro),
        "macro_auprc": float(np.mean(list(class_auprc.values()))),
        "micro_f1": float(micro["F"].iloc[at]),
        "micro_precision": float(micro["P"].iloc[at]),
        "micro_recall": float(micro["R"].iloc[at]),
        "f1_threshold": float(union[at]),
        "TP": int(micro["TP"].iloc[at]),
        "FP": int(micro["FP"].iloc[at]),
        "FN": int(micro["FN"].iloc[at]),
        "class_auprc": class_auprc,
        "class_counts": class_counts,
        "micro_curve": micro,
        "class_curves": curves,
    }
