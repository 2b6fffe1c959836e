"""H17's scaling experiments: label-set size (Table 3) and training-set size (Table 4).

Table 3: the same network trained on the most frequent ``n`` labels for a large ``n``, about a
tenth of it and about 1.3 % of it (the paper: 30,871, 3,087 and 400 labels), each with and
without a 128-unit bottleneck before the output layer, all evaluated on the smallest label set.

Table 4: the same network trained for the same number of steps on nested training sets whose
sizes form a geometric series (the paper: 23K, 70K, 700K, 7M and 70M videos).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..trials import Trial, over_seeds, tidy
from ..data.splits import balanced_rows, nested_subsets
from .data import H17Data, label_subset_sizes, training_sizes
from .training import train_and_evaluate


def label_subsets(data: H17Data, fractions: Sequence[float]) -> pd.DataFrame:
    """The label sets of Table 3: one row per (set, class) with the class's training count.

    Columns: ``n_labels, fraction, rank, class, name, train_clips``. Sets are prefixes of the
    classes sorted by training frequency, so each contains the smaller ones.
    """
    counts = data.train.clip_targets.numpy().sum(axis=0)
    by_count = np.argsort(-counts, kind="stable")   # ties: lower class index first
    names = data.class_names
    rows = []
    for fraction, n in zip(fractions, label_subset_sizes(len(data.classes), fractions)):
        for rank, k in enumerate(by_count[:n]):
            rows.append({"n_labels": n, "fraction": float(fraction), "rank": rank + 1, "class": data.classes[k],
                         "name": names[k], "train_clips": int(counts[k])})
    return pd.DataFrame(rows)


def label_eval_set(data: H17Data, classes: Sequence[str], seed: int = 0):
    """A balanced evaluation set for ``classes`` only (H17 sec. 3.2: "12K videos for the 400 most
    frequent labels", about 33 per class): the held-out clips chosen so that each of ``classes``
    has about ``data.eval_per_class`` positives. Returns a PatchSet."""
    held = np.setdiff1d(np.arange(len(data.clips)), data.train_rows)
    cols = [data.classes.index(c) for c in classes]
    y = data.patches.clip_targets.numpy()[held][:, cols]
    return data.patches.subset_clips(held[balanced_rows(y, data.eval_per_class, seed)])


def label_set_experiment(data: H17Data, fractions: Sequence[float], *, model: str, steps: int, batch_size: int,
                         lr: float, width: float, bottleneck_units: int, seeds: Sequence[int], device="auto",
                         seed: int = 0, profile: str = "quick") -> tuple[pd.DataFrame, list[Trial]]:
    """Train ``model`` on each label subset, with and without the bottleneck; evaluate on the smallest.

    The evaluation set is balanced for the evaluated (smallest) label set (:func:`label_eval_set`,
    drawn with ``seed``), as the paper's 400-label evaluation set is. Every arm runs with every
    seed of ``seeds``, so arms are paired by seed.

    Returns ``(tidy table, trials)``. Table columns: ``model, n_labels, bottleneck, n_eval_labels,
    bottleneck_units, eval_clips, width, seed, metric, value, dataset``.
    """
    subsets = label_subsets(data, fractions)
    smallest = subsets[subsets["n_labels"] == subsets["n_labels"].min()]["class"].tolist()
    eval_set = label_eval_set(data, smallest, seed)

    def one_seed(s: int) -> list[Trial]:
        trials = []
        for n in dict.fromkeys(subsets["n_labels"]):
            idx = [data.classes.index(c) for c in subsets[subsets["n_labels"] == n]["class"]]
            for with_bottleneck in (False, True):
                units = int(bottleneck_units) if with_bottleneck else 0
                trials.append(train_and_evaluate(
                    model, data.train.select_classes(idx), eval_set, steps=steps, batch_size=batch_size, lr=lr,
                    width=width, bottleneck=units or None, eval_classes=smallest, device=device, seed=s,
                    profile=profile,
                    ids={"n_labels": int(n), "bottleneck": bool(with_bottleneck), "n_eval_labels": len(smallest),
                         "bottleneck_units": units, "eval_clips": eval_set.n_clips, "width": width}))
        return trials

    trials = over_seeds(seeds, one_seed)
    return tidy(trials).assign(dataset=data.describe()), trials


def training_size_experiment(data: H17Data, *, n_sizes: int, ratio: float, model: str, steps: int,
                             batch_size: int, lr: float, width: float, seeds: Sequence[int], device="auto",
                             profile: str = "quick") -> tuple[pd.DataFrame, list[Trial]]:
    """Train ``model`` for ``steps`` on nested training sets of geometrically growing size.

    Sizes are ``n_train / ratio**k`` training clips (:func:`training_sizes`), drawn as nested
    random subsets of the training clips; each seed of ``seeds`` draws its own
    nested subsets and initialises its own networks, so the sizes are compared within a seed.
    Returns ``(tidy table, trials)``; table columns ``model, train_clips, train_patches, width,
    seed, metric, value, dataset``.
    """
    n_train = data.train.n_clips
    sizes = training_sizes(n_train, n_sizes, ratio)

    def one_seed(s: int) -> list[Trial]:
        trials = []
        for size, subset in zip(sizes, nested_subsets(n_train, sizes, s)):
            train_set = data.train.subset_clips(subset)
            trials.append(train_and_evaluate(
                model, train_set, data.eval, steps=steps, batch_size=batch_size, lr=lr, width=width, device=device,
                seed=s, profile=profile,
                ids={"train_clips": int(size), "train_patches": len(train_set), "width": width}))
        return trials

    trials = over_seeds(seeds, one_seed)
    return tidy(trials).assign(dataset=data.describe()), trials
