"""Targets of the T19 models and the files of the official evaluation.

Output layouts (``outputs``), as Tompkins & Nichols' three variants:

* ``"all"`` (37 for SONYC-UST): the fine tags then the coarse categories, in taxonomy order;
* ``"fine"`` (29): the fine tags; coarse scores are derived as the maximum of a category's
  fine scores (:func:`audiolib.metrics.coarse_from_fine`);
* ``"coarse"`` (8): the coarse categories; each fine tag is given its category's score (so a
  submission file can be written; its fine-level metrics are those of this copy).

>>> from audiolib.data.urban_mixtures import sonyc_taxonomy
>>> import numpy as np
>>> fine, coarse = split_outputs(np.full((1, 37), 0.5), "all", sonyc_taxonomy())
>>> fine.shape, coarse.shape
((1, 29), (1, 8))
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from audiolib.data.base import ClipSet, Taxonomy
from audiolib.metrics import coarse_from_fine, sonyc_columns


def clip_targets(clips: ClipSet, *, soft: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(fine [n, n_fine], coarse [n, n_coarse])`` float32 targets in taxonomy order.

    Coarse: the ``coarse_labels`` column when present (SONYC-UST's annotators answered the coarse
    question separately: on train these are not the OR of the fine answers), else the fine labels'
    categories. ``soft=True``: the ``*_agreement`` columns' fractions where the manifest has them.
    """
    taxonomy = clips.taxonomy
    fine_codes, coarse_codes = list(taxonomy.fine), list(taxonomy.coarse)
    unknown = sorted(set(clips.classes) - set(fine_codes))
    if unknown:
        raise ValueError(f"dataset {clips.name!r}: classes {unknown[:5]} are not fine codes of its taxonomy")
    m = clips.manifest
    if soft and "fine_agreement" in m and "coarse_agreement" in m:
        return (np.asarray(m["fine_agreement"].tolist(), dtype=np.float32).reshape(len(m), len(fine_codes)),
                np.asarray(m["coarse_agreement"].tolist(), dtype=np.float32).reshape(len(m), len(coarse_codes)))
    fine = np.zeros((len(m), len(fine_codes)), dtype=np.float32)
    fine[:, [fine_codes.index(c) for c in clips.classes]] = clips.targets()  # a label outside the classes raises
    coarse_lists = m["coarse_labels"] if "coarse_labels" in m else [{taxonomy.parent[c] for c in labels}
                                                                     for labels in m["labels"]]
    coarse = np.zeros((len(m), len(coarse_codes)), dtype=np.float32)
    for row, labels in enumerate(coarse_lists):
        unknown = sorted({str(c) for c in labels} - set(coarse_codes))
        if unknown:
            raise ValueError(f"dataset {clips.name!r}: clip {m['clip_id'].iloc[row]} has coarse labels {unknown} "
                             "that are not in its taxonomy")
        coarse[row, [coarse_codes.index(str(c)) for c in labels]] = 1.0
    return fine, coarse


def output_targets(fine: np.ndarray, coarse: np.ndarray, outputs: str) -> np.ndarray:
    """The training targets of an output layout: ``[fine | coarse]``, ``fine`` or ``coarse``."""
    return {"all": lambda: np.hstack([fine, coarse]), "fine": lambda: fine, "coarse": lambda: coarse}[outputs]()


def split_outputs(scores: np.ndarray, outputs: str, taxonomy: Taxonomy) -> tuple[np.ndarray, np.ndarray]:
    """Model probabilities ``[n, n_outputs]`` -> ``(fine [n, n_fine], coarse [n, n_coarse])`` (see module doc)."""
    scores = np.asarray(scores, dtype=np.float64)
    n_fine, n_coarse = len(taxonomy.fine), len(taxonomy.coarse)
    width = {"all": n_fine + n_coarse, "fine": n_fine, "coarse": n_coarse}[outputs]
    if scores.ndim != 2 or scores.shape[1] != width:
        raise ValueError(f"parameter scores: expected [n, {width}] for outputs={outputs!r}, got {scores.shape}")
    if outputs == "all":
        return scores[:, :n_fine], scores[:, n_fine:]
    if outputs == "fine":
        return scores, coarse_from_fine(scores, taxonomy)
    position = {c: k for k, c in enumerate(taxonomy.coarse)}
    return scores[:, [position[taxonomy.parent[f]] for f in taxonomy.fine]], scores


def class_weights(targets: np.ndarray, root: float | None = 10.0) -> np.ndarray:
    """Positive-class weights ``(negatives / positives) ** (1 / root)`` per column, 0 without positives.

    The authors' ``Get Weighted Classes`` with ``train.py``'s ``WEIGHT_SMOOTHING = 0.1`` (the tenth
    root); ``root=None``: all ones. Soft targets count their sum as positives.

    >>> class_weights(np.array([[1, 0], [0, 0], [0, 0], [0, 0]]), root=1.0).tolist()
    [3.0, 0.0]
    """
    y = np.asarray(targets, dtype=np.float64)
    if root is None:
        return np.ones(y.shape[1], dtype=np.float32)
    if root <= 0:
        raise ValueError(f"parameter root: must be > 0 (10 = tenth root), got {root!r}")
    pos = y.sum(axis=0)
    neg = len(y) - pos
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(pos > 0, neg / pos, 0.0)
    return (ratio ** (1.0 / root) * (pos > 0)).astype(np.float32)


def submission_frame(clip_ids, fine: np.ndarray, coarse: np.ndarray, taxonomy: Taxonomy, *,
                     truth: bool = False) -> pd.DataFrame:
    """Scores in the official files' layout: ``audio_filename``, the fine tags, the coarse categories.

    ``truth=True``: the ground truth of the official evaluation, 0/1 integers (checked).
    """
    values = np.hstack([fine, coarse]).astype(np.float64)
    if truth and not np.isin(values, (0.0, 1.0)).all():
        raise ValueError("ground truth must be 0/1 (hard labels)")
    table = pd.DataFrame(values.astype(np.int64) if truth else values,
                         columns=sonyc_columns(taxonomy, "fine") + sonyc_columns(taxonomy, "coarse"))
    table.insert(0, "audio_filename", [str(c) for c in clip_ids])
    return table
