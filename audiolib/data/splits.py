"""Which datasets are here, and how their clips are split and capped: one place for every notebook.

A dataset that is absent is not an error where a notebook runs "what is present": :func:`load_available`
loads those that are and says why the others are not. Splits are row indices: by official
fold (each fold in turn the test fold), by a split column, or last folds held out; caps keep a
subset per fold (classes in turn, or at random) or a share of every fold; a balanced evaluation
set (about k positives of every class) and nested subsets (each containing the smaller ones).

>>> folds = np.array([1, 1, 2, 2, 3, 3])
>>> [(f, tr.tolist(), te.tolist()) for f, tr, te in fold_splits(folds, [2])]
[(2, [0, 1, 4, 5], [2, 3])]
>>> cap_per_fold(np.array([0, 1, 0, 1, 0, 1]), folds, 1, seed=0).size
3
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["ABSENT", "load_available", "fold_splits", "column_split", "held_out_folds", "cap_per_fold",
           "sample_per_fold", "share_of_groups", "balanced_rows", "nested_subsets"]

#: What "not available here" raises: absent files (FileNotFoundError is an OSError) and optional
#: readers that are not installed. Anything else is a real error and propagates.
ABSENT = (OSError, ImportError)


def load_available(names: Sequence[str], load: Callable[..., Any] | None = None, *, quiet: bool = True,
                   **kwargs) -> tuple[dict[str, Any], dict[str, str]]:
    """Load every named dataset that is present; the others are listed with the reason.

    Args:
        names: dataset names.
        load: ``load(name, **kwargs) -> data`` (default :func:`audiolib.data.load_dataset`).
        quiet: silence the loaders' warnings about unusable files (they stay on the ClipSet).
        kwargs: passed to every ``load``; a dict-valued ``per_name={name: {...}}`` adds per-name ones.

    Returns:
        ``(loaded {name: data}, skipped {name: reason})``, both in the order of ``names``; each
        reason is also printed, so a notebook shows what it left out.
    """
    if load is None:
        from audiolib.data import load_dataset as load
    per_name = kwargs.pop("per_name", {}) or {}
    loaded, skipped = {}, {}
    for name in names:
        try:
            with warnings.catch_warnings():
                if quiet:
                    warnings.simplefilter("ignore")
                loaded[name] = load(name, **kwargs, **per_name.get(name, {}))
        except ABSENT as exc:
            skipped[name] = f"not available: {exc}"
            print(f"{name}: {skipped[name]}")
    return loaded, skipped


def fold_splits(folds, test_folds: Sequence[int] | None = None) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """``(fold, train_rows, test_rows)`` with each of ``test_folds`` (default: every fold present) held out.

    Raises:
        ValueError: a requested test fold has no rows, or fewer than 2 folds are present.
    """
    folds = np.asarray(folds)
    present = sorted(set(folds.tolist()))
    if len(present) < 2:
        raise ValueError(f"fold_splits: need at least 2 folds, found {present}")
    chosen = present if test_folds is None else list(test_folds)
    absent = [f for f in chosen if f not in present]
    if absent:
        raise ValueError(f"fold_splits: test folds {absent} have no rows; folds present: {present}")
    return [(f, np.flatnonzero(folds != f), np.flatnonzero(folds == f)) for f in chosen]


def column_split(values, *, train: str = "train", val: str = "validate", test: str = "test",
                 name: str = "data") -> dict[str, np.ndarray]:
    """``{"train", "val", "test"}`` rows whose ``values`` (a split column) equal the given names.

    >>> {k: v.tolist() for k, v in column_split(["train", "test", "validate", "train"]).items()}
    {'train': [0, 3], 'val': [2], 'test': [1]}
    """
    values = np.asarray(values)
    out = {}
    for role, value in (("train", train), ("val", val), ("test", test)):
        rows = np.flatnonzero(values == value)
        if len(rows) == 0:
            raise ValueError(f"{name}: no clip in split {value!r} (splits: {sorted(set(values.tolist()))})")
        out[role] = rows
    return out


def held_out_folds(folds, *, name: str = "data") -> tuple[dict[str, np.ndarray], list]:
    """Last fold -> test, the one before -> validation, the others -> training.

    Folds are ordered as numbers written out (``"2" < "10"``). Returns ``(rows by role, folds in order)``.

    >>> rows, order = held_out_folds(["1", "2", "3", "3"])
    >>> {k: v.tolist() for k, v in rows.items()}, order
    ({'train': [0], 'val': [1], 'test': [2, 3]}, ['1', '2', '3'])
    """
    folds = np.asarray(folds)
    order = sorted(set(folds.tolist()), key=lambda f: (len(str(f)), str(f)))
    if len(order) < 3:
        raise ValueError(f"{name}: need at least 3 folds for train/validation/test, found {order}")
    test_fold, val_fold = order[-1], order[-2]
    return {"train": np.flatnonzero(~np.isin(folds, [test_fold, val_fold])),
            "val": np.flatnonzero(folds == val_fold), "test": np.flatnonzero(folds == test_fold)}, order


def cap_per_fold(labels, folds, cap: int, seed: int) -> np.ndarray:
    """Rows of at most ``cap`` clips per fold, classes taken in turn (stratified), in original order.

    Each class's clips of a fold are shuffled by ``seed``; classes then give one clip each in turn.
    """
    labels, folds = np.asarray(labels), np.asarray(folds)
    rng = np.random.default_rng(seed)
    keep = []
    for fold in np.unique(folds):
        per_class = [list(rng.permutation(np.flatnonzero((folds == fold) & (labels == c))))
                     for c in np.unique(labels[folds == fold])]
        chosen = []
        while len(chosen) < cap and any(per_class):
            for queue in per_class:
                if queue and len(chosen) < cap:
                    chosen.append(queue.pop(0))
        keep += chosen
    return np.sort(np.array(keep, dtype=int))


def sample_per_fold(folds, cap: int, seed: int = 0) -> np.ndarray:
    """Rows of at most ``cap`` clips per fold, drawn at random (``seed``), in original order.

    >>> sample_per_fold(np.array([1, 1, 1, 2]), 2, seed=0).size
    3
    """
    folds = np.asarray(folds)
    rng = np.random.default_rng(seed)
    return np.sort(np.concatenate([rng.permutation(np.flatnonzero(folds == f))[:cap]
                                   for f in sorted(set(folds.tolist()))]))


def share_of_groups(groups: dict[Any, np.ndarray], total: int, max_rows: int, seed: int = 0) -> np.ndarray:
    """At most about ``max_rows`` of ``total`` rows, the same share from every group (at least 1 each).

    ``groups`` maps a fold (or split) to its rows; they are visited in sorted order and drawn
    without replacement by ``seed``.
    """
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for _, rows in sorted(groups.items()):
        take = max(1, int(round(max_rows * len(rows) / total)))
        keep += sorted(rng.choice(rows, size=min(take, len(rows)), replace=False).tolist())
    return np.array(sorted(keep), dtype=int)


def balanced_rows(targets: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    """Rows of a balanced evaluation set: about ``per_class`` positives of every class.

    Greedy, rarest class first: for each class (in increasing order of available positives),
    add randomly chosen clips carrying it until it has ``per_class`` positives among the chosen
    clips or none are left. Co-occurring labels make frequent classes exceed ``per_class``; a
    class with fewer than ``per_class`` clips gets all of them ("where the data allows").

    Args:
        targets: ``[n_clips, C]`` multi-hot labels of the candidate clips.
        per_class: target positives per class.
        seed: seeds the random choice.

    Returns:
        Sorted candidate row indices.

    >>> y = np.array([[1, 0], [1, 0], [1, 0], [0, 1], [1, 1]])
    >>> rows = balanced_rows(y, 1, seed=0)
    >>> bool((y[rows].sum(axis=0) >= 1).all()), len(rows) <= 2
    (True, True)
    """
    y = np.asarray(targets) > 0.5
    rng = np.random.default_rng(seed)
    chosen = np.zeros(len(y), dtype=bool)
    available = y.sum(axis=0)
    for c in np.argsort(available, kind="stable"):
        have = int(y[chosen, c].sum())
        if have >= per_class:
            continue
        candidates = np.flatnonzero(y[:, c] & ~chosen)
        take = rng.permutation(candidates)[:per_class - have]
        chosen[take] = True
    return np.flatnonzero(chosen)


def nested_subsets(n: int, sizes, seed: int = 0) -> list[np.ndarray]:
    """Nested random subsets of ``range(n)`` (each contains the smaller ones), one per size."""
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(order[:s]) for s in sizes]
