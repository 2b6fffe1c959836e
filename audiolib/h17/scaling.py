"""H17's scaling experiments: label-set size (Table 3) and training-set size (Table 4).

Table 3: the same network trained on the most frequent ``n`` labels for a large ``n``, about a
tenth of it and about 1.3 % of it (the paper: 30,871, 3,087 and 400 labels), each with and
without a 128-unit bottleneck before the output layer, all evaluated on the smallest label set.

Table 4: the same network trained for the same number of steps on nested training sets whose
sizes form a geometric series (the paper: 23K, 70K, 700K, 7M and 70M videos).
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from . import paper
from .data import H17Data, label_subset_sizes, most_frequent_classes, nested_subsets, training_sizes
from .training import Trained, train_and_evaluate


def label_subsets(data: H17Data, fractions: Sequence[float]) -> pd.DataFrame:
    """The label sets of Table 3: one row per (set, class) with the class's training count.

    Columns: ``n_labels, fraction, rank, class, name, train_clips``. Sets are prefixes of the
    classes sorted by training frequency, so each contains the smaller ones.
    """
    y = data.train.clip_targets.numpy()
    counts = y.sum(axis=0)
    names = data.class_names
    rows = []
    for fraction, n in zip(fractions, label_subset_sizes(len(data.classes), fractions)):
        for rank, k in enumerate(most_frequent_classes(y, n)):
            rows.append({"n_labels": n, "fraction": float(fraction), "rank": rank + 1, "class": data.classes[k],
                         "name": names[k], "train_clips": int(counts[k])})
    return pd.DataFrame(rows)


def label_set_experiment(data: H17Data, fractions: Sequence[float], *, model: str, steps: int, batch_size: int,
                         lr: float, width: float, bottleneck_units: int = 128,
                         bottlenecks: Sequence[bool] = (False, True), device="auto", seed: int = 0,
                         progress: bool = False) -> tuple[pd.DataFrame, list[Trained]]:
    """Train ``model`` on each label subset, with and without the bottleneck; evaluate on the smallest.

    Returns ``(tidy table, trained runs)``. Table columns: ``model, n_labels, bottleneck,
    n_eval_labels, metric, value, source``; the paper's Table 3 rows follow ours.
    """
    subsets = label_subsets(data, fractions)
    smallest = subsets[subsets["n_labels"] == subsets["n_labels"].min()]["class"].tolist()
    rows, runs = [], []
    for n in dict.fromkeys(subsets["n_labels"]):
        classes = subsets[subsets["n_labels"] == n]["class"].tolist()
        idx = [data.classes.index(c) for c in classes]
        for with_bottleneck in bottlenecks:
            trained = train_and_evaluate(model, data.train.select_classes(idx), data.eval, steps=steps,
                                         batch_size=batch_size, lr=lr, width=width,
                                         bottleneck=bottleneck_units if with_bottleneck else None,
                                         eval_classes=smallest, device=device, seed=seed, progress=progress)
            runs.append(trained)
            rows += trained.rows(n_labels=int(n), bottleneck=bool(with_bottleneck), n_eval_labels=len(smallest),
                                 width=width, seed=seed)
    ours = pd.DataFrame(rows).assign(source="this run", dataset=data.describe())
    return pd.concat([ours, paper.table3()], ignore_index=True), runs


def training_size_experiment(data: H17Data, *, n_sizes: int, ratio: float, model: str, steps: int,
                             batch_size: int, lr: float, width: float, device="auto", seed: int = 0,
                             progress: bool = False) -> tuple[pd.DataFrame, list[Trained]]:
    """Train ``model`` for ``steps`` on nested training sets of geometrically growing size.

    Sizes are ``n_train / ratio**k`` training clips (:func:`training_sizes`), drawn as nested
    random subsets of the training clips. Returns ``(tidy table, trained runs)``; table columns
    ``model, train_clips, train_patches, metric, value, source`` with the paper's Table 4 after ours.
    """
    n_train = data.train.n_clips
    sizes = training_sizes(n_train, n_sizes, ratio)
    rows, runs = [], []
    for size, subset in zip(sizes, nested_subsets(n_train, sizes, seed)):
        train_set = data.train.subset_clips(subset)
        trained = train_and_evaluate(model, train_set, data.eval, steps=steps, batch_size=batch_size, lr=lr,
                                     width=width, device=device, seed=seed, progress=progress)
        runs.append(trained)
        rows += trained.rows(train_clips=int(size), train_patches=len(train_set), width=width, seed=seed)
    ours = pd.DataFrame(rows).assign(source="this run", dataset=data.describe())
    return pd.concat([ours, paper.table4()], ignore_index=True), runs
