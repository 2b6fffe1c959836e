"""The papers' numbers, in one schema, and one wide view that sets ours beside them.

Every number shown as "the paper's" is a :func:`paper_rows` row: the paper, where in it (``Table
2``, ``sec. 4.4``), the keys that identify the row (model, labels, fold...), the metric, the value,
and ``quoted``, the number exactly as the paper prints it. ``tests/test_reference.py`` checks every
``quoted`` string against the paper's text in ``../shared/papers``, so a number cannot drift from
its source.

Tidy tables of ours and the paper's share the columns ``metric`` and ``value``; ours carry
replicate columns (``seed``, ``fold``), the paper's carry ``paper`` / ``where`` / ``quoted``.
:func:`beside` joins them for display: our mean with its 95 % interval and n, then the paper's.

>>> ref = paper_rows("H17", "Table 2", [{"model": "fc", "AUC": "0.851"}], metrics=("AUC",))
>>> ref[["model", "metric", "value", "quoted"]].to_dict("records")
[{'model': 'fc', 'metric': 'AUC', 'value': 0.851, 'quoted': '0.851'}]
"""

from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np
import pandas as pd

from . import paths
from .findings import estimate

#: Each paper's text, in :func:`audiolib.paths.papers_root` (``../shared/papers``).
PAPER_FILES = {
    "H17": "000_8fe8465d0db846fb.txt",
    "T19": "002_c875c80a09dbccc4.txt",
    "X18": "003_c5cb12065bbc1cfe.txt",
    "C19": "004_0a0c0688a56f23af.txt",
}

PAPER_TITLES = {
    "H17": "Hershey et al., CNN architectures for large-scale audio classification (ICASSP 2017)",
    "T19": "Tompkins & Nichols, DCASE 2019 Task 5: CNN+VGGish (technical report)",
    "X18": "Xu, Audio Event Recognition (classifiers on AudioSet embeddings)",
    "C19": "Colangelo, Battisti & Neri, Progressive training of CNNs for acoustic events classification",
}

def paper_text(paper: str) -> str:
    """The plain text of ``paper`` (``"H17"``, ...); a clear error when the papers are absent."""
    root = paths.papers_root()
    if paper not in PAPER_FILES:
        raise ValueError(f"unknown paper {paper!r}; known: {sorted(PAPER_FILES)}")
    if root is None:
        raise FileNotFoundError("the papers' text is not here: ../shared/papers is absent and AUDIOLIB_PAPERS "
                                "is unset")
    return (root / PAPER_FILES[paper]).read_text(encoding="utf-8")


def check_numbers(rows: pd.DataFrame, paper: str) -> list[str]:
    """The ``quoted`` numbers of ``rows`` that do not appear in ``paper``'s text, or whose value differs."""
    text = paper_text(paper)
    bad = [q for q in rows["quoted"] if str(q) not in text]
    bad += [f"{q} != {v}" for q, v in zip(rows["quoted"], rows["value"]) if abs(parse_quoted(q) - v) > 1e-12]
    return bad


_SUFFIX = {"K": 1e3, "M": 1e6, "B": 1e9, "h": 1.0, "%": 1.0}


def parse_quoted(text: str) -> float:
    """The value of a number as printed: ``"0.851"``, ``"5M"``, ``"35h"``, ``"70K"``, ``"81.2%"``.

    >>> parse_quoted("5M"), parse_quoted("35h"), parse_quoted("0.5")
    (5000000.0, 35.0, 0.5)
    """
    match = re.fullmatch(r"\s*([-+]?\d+(?:[.,]\d+)?)\s*([KMBh%]?)\s*", str(text))
    if not match:
        raise ValueError(f"not a printed number: {text!r}")
    return float(match.group(1).replace(",", ".")) * _SUFFIX.get(match.group(2), 1.0)


def paper_rows(paper: str, where: str, rows: Sequence[dict], metrics: Sequence[str]) -> pd.DataFrame:
    """Tidy rows of a paper's table: the metric columns of ``rows`` hold numbers as printed.

    Args:
        paper: ``"H17"``, ``"T19"``, ``"X18"`` or ``"C19"``.
        where: the table or section, e.g. ``"Table 2"``.
        rows: one dict per printed row: key columns, and each metric as the printed string
            (``None`` or ``"—"`` where the paper prints no number: the row is left out).
        metrics: which keys of ``rows`` are metrics.

    Returns:
        DataFrame with the key columns, ``metric``, ``value`` (float), ``quoted``, ``paper``, ``where``.
    """
    if paper not in PAPER_FILES:
        raise ValueError(f"unknown paper {paper!r}; known: {sorted(PAPER_FILES)}")
    out = []
    for row in rows:
        keys = {k: v for k, v in row.items() if k not in metrics}
        for metric in metrics:
            printed = row.get(metric)
            if printed is None or str(printed).strip() in ("", "—", "-"):
                continue
            out.append({**keys, "metric": metric, "value": parse_quoted(printed), "quoted": str(printed),
                        "paper": paper, "where": where})
    return pd.DataFrame(out)


def _ci(values: pd.Series) -> tuple[float, float, float, int]:
    e = estimate(values.astype(float))
    return e.value, e.low, e.high, e.n


def beside(ours: pd.DataFrame, paper: pd.DataFrame | None, keys: Sequence[str], *,
           metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """One wide view: per key and metric, our mean [95 % CI] over replicates, n, and the paper's value.

    The result is itself a tidy table (``metric``, ``value`` = our mean), so a run can save it; the
    report shows every saved table that has a ``paper`` column as "ours beside the paper's".

    Args:
        ours: tidy rows of this run (``metric``, ``value`` and replicate columns such as ``seed``).
        paper: :func:`paper_rows` output (or ``None``); joined on ``keys`` + ``metric`` where the
            key values match (``keys`` absent from the paper's rows are ignored for the join).
        keys: columns identifying a row, e.g. ``["model"]``.
        metrics: the metrics to show (default: all of ours, in order of appearance).

    Non-finite values of ours (an infinite d' of an AUC of exactly 0 or 1) are left out of the
    mean and counted in ``left_out``, so that the rest still show.
    """
    metrics = list(metrics or dict.fromkeys(ours["metric"]))
    rows = ours[ours["metric"].isin(metrics)]
    out = []
    for key, group in rows.groupby(list(keys) + ["metric"], sort=False):
        values = group["value"].astype(float)
        finite = values[np.isfinite(values)]
        mean, low, high, n = _ci(finite) if len(finite) else (math.nan, math.nan, math.nan, 0)
        shown = f"{mean:.3f}" + (f" [{low:.3f}, {high:.3f}]" if math.isfinite(low) else "")
        out.append({**dict(zip(list(keys) + ["metric"], key)), "ours [95% CI]": shown, "n": n,
                    "left_out": int(len(values) - len(finite)), "value": mean, "ci_low": low, "ci_high": high})
    wide = pd.DataFrame(out)
    wide["paper"], wide["paper_where"] = np.nan, np.nan
    if paper is not None and not paper.empty and not wide.empty:
        join = [k for k in keys if k in paper.columns] + ["metric"]
        ref = paper[join + ["quoted", "where"]].drop_duplicates(join).astype({k: object for k in join})
        lookup = {tuple(r[k] for k in join): (r["quoted"], r["where"]) for _, r in ref.iterrows()}
        found = [lookup.get(tuple(r[k] for k in join), (np.nan, np.nan)) for _, r in wide.iterrows()]
        wide["paper"] = [f[0] for f in found]
        wide["paper_where"] = [f[1] for f in found]
    order = {m: i for i, m in enumerate(metrics)}
    wide = wide.sort_values("metric", key=lambda s: s.map(order), kind="stable") if len(keys) == 0 else wide
    return wide[list(keys) + ["metric", "ours [95% CI]", "n", "left_out", "paper", "paper_where", "value", "ci_low",
                              "ci_high"]].reset_index(drop=True)
