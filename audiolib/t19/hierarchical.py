"""The hierarchical model: a coarse (top-level) model, then one fine model per coarse category.

As the authors' ``Make DCASE Submission Hierarchical`` notebook: the top-level model is the
37-output CNN+VGGish (its coarse scores are the submission's, its fine scores stay where no fine
model runs); one fine model per category with several fine tags, trained on that category's clips;
at inference the arg-max category and every category above 0.5 take their fine model's scores
(a single-tag category copies its coarse probability). The report's proposed improvement
(``all_data=True``): fine models see all clips, with an extra "not this category" output.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from torch import nn

from audiolib.data.base import Taxonomy
from audiolib.metrics import micro_average_precision
from audiolib.models import accepts
from audiolib.t19.inputs import T19Inputs
from audiolib.t19.variants import PackedSet, T19Config, train_model
from audiolib.train import predict
from audiolib.trials import Trial


def branch_categories(taxonomy: Taxonomy) -> list[str]:
    """Coarse codes with more than one fine tag (SONYC-UST: 1, 2, 4, 5, 6, 7)."""
    return [c for c in taxonomy.coarse if len(taxonomy.fine_of(c)) > 1]


def _columns(taxonomy: Taxonomy, code: str) -> tuple[list[int], int]:
    fine = list(taxonomy.fine)
    return [fine.index(f) for f in taxonomy.fine_of(code)], list(taxonomy.coarse).index(code)


def branch_targets(inputs: T19Inputs, rows, code: str, *, all_data: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(rows used, targets)`` of the fine model of category ``code``.

    ``all_data=False``: the rows whose coarse label is ``code``; targets its fine tags.
    ``all_data=True``: every row; targets its fine tags plus "not this category" (last column).
    """
    rows = np.asarray(rows, dtype=np.int64)
    fine_cols, coarse_col = _columns(inputs.taxonomy, code)
    if all_data:
        used = rows
        targets = np.hstack([inputs.fine[used][:, fine_cols], 1.0 - inputs.coarse[used][:, [coarse_col]]])
    else:
        used = rows[inputs.coarse[rows, coarse_col] > 0]
        targets = inputs.fine[used][:, fine_cols]
    return used, targets.astype(np.float32)


def train_branches(inputs: T19Inputs, config: T19Config, *, all_data: bool, model: str = "t19_fusion") -> Trial:
    """Fine models for every category of :func:`branch_categories` that has training positives, each
    kept at its best validation loss (as the authors selected theirs). One trial: ``extra["stages"]``
    ``{code: Trial}``, ``extra["skipped"]`` ``{code: reason}``; ``train_seconds`` summed."""
    trials, skipped = {}, {}
    train_all, val_all = inputs.rows("train"), inputs.rows("validate", originals_only=True)
    for k, code in enumerate(branch_categories(inputs.taxonomy)):
        rows, targets = branch_targets(inputs, train_all, code, all_data=all_data)
        fine_cols, coarse_col = _columns(inputs.taxonomy, code)
        if not (inputs.coarse[train_all, coarse_col] > 0).any():
            skipped[code] = "no training clip of this category"
            continue
        val_rows, val_targets = branch_targets(inputs, val_all, code, all_data=all_data)

        def evaluate(scores: np.ndarray, y=val_targets, n=len(fine_cols)) -> dict:
            p = np.clip(scores, 1e-7, 1 - 1e-7)
            loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
            out = {"neg_val_loss": -loss}
            if y[:, :n].any() and not y[:, :n].all():
                out["micro_ap_fine"] = micro_average_precision(y[:, :n], scores[:, :n])
            return out

        branch_config = replace(config, epochs=config.fine_epochs, seed=config.seed + 101 + k)
        trials[code] = train_model(inputs, model, "fine", branch_config, train_rows=rows, val_rows=val_rows,
                                   targets=targets, val_targets=val_targets, monitors=("neg_val_loss",),
                                   evaluate=evaluate)
    return Trial({}, nn.ModuleDict({code: t.model for code, t in trials.items()}),
                 {"train_seconds": sum(t.metrics["train_seconds"] for t in trials.values())},
                 extra={"stages": trials, "skipped": skipped, "n_train": int(sum(t.extra["n_train"] for t in trials.values()))})


def branch_scores(hierarchy: Trial, inputs: T19Inputs, rows, device="auto") -> dict[str, np.ndarray]:
    """Fine scores ``{code: [n, k]}`` of each fine model of :func:`train_branches` on ``rows``; each
    model is left at its best validation-loss weights."""
    out = {}
    for code, trial in hierarchy.extra["stages"].items():
        trial.model.load_state_dict(trial.extra["states"].get("neg_val_loss") or trial.model.state_dict())
        data = PackedSet(inputs, rows, fusion=accepts(trial.extra["model"], "embedding_dim"))
        out[code] = predict(trial.model, data, batch_size=64, device=device)[:, :len(inputs.taxonomy.fine_of(code))]
    return out


def combine_hierarchical(coarse: np.ndarray, fallback_fine: np.ndarray, branches: dict[str, np.ndarray],
                         taxonomy: Taxonomy, threshold: float = 0.5) -> np.ndarray:
    """Fine scores ``[n, n_fine]`` of the hierarchical model from the top-level ``coarse [n, n_coarse]``
    and ``fallback_fine [n, n_fine]`` and the fine models' ``branches`` ``{code: [n, k]}``: in each
    selected category (above ``threshold``, or the arg-max) a single fine tag gets the coarse
    probability, a category with a fine model its scores; elsewhere the fallback stays.

    >>> from audiolib.data.base import Taxonomy
    >>> tax = Taxonomy({"1": "a", "2": "b"}, {"1-1": "x", "1-2": "y", "2-1": "z"}, {"1-1": "1", "1-2": "1", "2-1": "2"})
    >>> combine_hierarchical(np.array([[0.9, 0.2]]), np.array([[0.1, 0.1, 0.1]]),
    ...                      {"1": np.array([[0.8, 0.3]])}, tax).tolist()
    [[0.8, 0.3, 0.1]]
    """
    coarse, fine = np.asarray(coarse, dtype=np.float64), np.array(fallback_fine, dtype=np.float64)
    codes, fine_codes = list(taxonomy.coarse), list(taxonomy.fine)
    selected = coarse > threshold
    selected[np.arange(len(coarse)), coarse.argmax(axis=1)] = True
    for j, code in enumerate(codes):
        cols = [fine_codes.index(f) for f in taxonomy.fine_of(code)]
        rows = selected[:, j]
        if len(cols) == 1:
            fine[rows, cols[0]] = coarse[rows, j]
        elif code in branches:
            fine[np.ix_(rows, cols)] = np.asarray(branches[code], dtype=np.float64)[rows]
    return fine
