"""C19's own numbers, in one place, quoted exactly from the paper's text (``../shared/papers``).

- Table 1: the peak learning rate lambda_max of every stage, per dataset, and its epochs. The
  rates are printed as powers of ten (``"5×10^{-3}"``); :func:`parse_rate` reads them.
- Table 2: per-split accuracy (%) on **UrbanSound8K** (10 splits), with the mean and standard
  deviation the paper prints as ``"74.59±5.47"`` (kept as two quoted numbers).
- Table 3: the same on **ESC-50** (5 splits).

The paper numbers its splits 0..9 (0..4); the datasets' official folds are 1..10 (1..5). We read
split ``k`` as official fold ``k + 1`` (the paper says it used "the splits defined by the
datasets' creators" and gives no other mapping).

Two quirks of the text itself, kept visible rather than silently resolved:

- sec. 3 says "all the methods use the same number of epochs", but the stages listed add up to
  20 + 50 + 120 = 190 epochs for the baseline and 20 + 20 + 20 + 20 + 20 + 70 = 170 for the
  progressive methods (:data:`EPOCHS_BASELINE`, :data:`EPOCHS_PROGRESSIVE`);
- the stage list prints "train the network with lambda_max lambda_2R1 and the other layers with
  lambda_2R1 / 3"; we read the second stage of each resolution as the baseline's second and third
  stages are written: the last layer at lambda, the other layers at lambda / 3.

>>> TABLE1_RATES["urbansound8k"]["lambda_2"]
5e-06
>>> EPOCHS_BASELINE, EPOCHS_PROGRESSIVE
(190, 170)
"""

from __future__ import annotations

import re

import pandas as pd

from audiolib.reference import paper_rows

__all__ = ["TABLE1", "TABLE1_RATES", "TABLE1_EPOCHS", "TABLE2", "TABLE3", "TABLES_2_3", "EPOCHS_BASELINE",
           "EPOCHS_PROGRESSIVE", "parse_rate", "rate_column", "RATE_NAMES"]

#: Table 1 as printed: (name, UrbanSound8k, ESC-50, epochs)
_TABLE1_PRINTED = [
    ("lambda_1", "10^{-2}", "5×10^{-3}", "20"),
    ("lambda_2", "5×10^{-6}", "10^{-4}", "50"),
    ("lambda_3", "10^{-6}", "10^{-6}", "120"),
    ("lambda_1R1", "10^{-2}", "5×10^{-3}", "20"),
    ("lambda_2R1", "10^{-3}", "5×10^{-4}", "20"),
    ("lambda_1R2", "5×10^{-3}", "5×10^{-3}", "20"),
    ("lambda_2R2", "5×10^{-6}", "5×10^{-6}", "20"),
    ("lambda_1R3", "5×10^{-3}", "5×10^{-3}", "20"),
    ("lambda_2R3", "5×10^{-6}", "5×10^{-6}", "70"),
]
#: the printed row names, e.g. ``"λ_{1R1}"`` (for the test against the text)
PRINTED_NAMES = {"lambda_1": "λ_1", "lambda_2": "λ_2", "lambda_3": "λ_3"} | {
    f"lambda_{k}R{r}": f"λ_{{{k}R{r}}}" for k in (1, 2) for r in (1, 2, 3)}
RATE_NAMES = tuple(r[0] for r in _TABLE1_PRINTED)


def parse_rate(text: str) -> float:
    """A rate as Table 1 prints it: ``"10^{-2}"`` -> 0.01, ``"5×10^{-3}"`` -> 0.005.

    >>> parse_rate("5×10^{-6}")
    5e-06
    """
    m = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)\s*×\s*)?10\^\{(-?\d+)\}\s*", text)
    if not m:
        raise ValueError(f"not a rate as Table 1 prints it: {text!r}")
    return float(f"{m.group(1) or '1'}e{m.group(2)}")


TABLE1 = pd.DataFrame(
    [{"stage": name, "dataset": ds, "metric": "lambda_max", "value": parse_rate(q), "quoted": q,
      "epochs": int(ep), "epochs_quoted": ep, "paper": "C19", "where": "Table 1"}
     for name, us, esc, ep in _TABLE1_PRINTED for ds, q in (("urbansound8k", us), ("esc50", esc))])
TABLE1_RATES = {ds: {r.stage: r.value for r in TABLE1[TABLE1["dataset"] == ds].itertuples()}
                for ds in ("urbansound8k", "esc50")}
TABLE1_EPOCHS = {name: int(ep) for name, _, _, ep in _TABLE1_PRINTED}
EPOCHS_BASELINE = sum(TABLE1_EPOCHS[k] for k in ("lambda_1", "lambda_2", "lambda_3"))
EPOCHS_PROGRESSIVE = sum(v for k, v in TABLE1_EPOCHS.items() if "R" in k)


def rate_column(dataset: str) -> str:
    """Which Table 1 column a dataset of ours takes its rates from.

    UrbanSound8K its own; ESC-50 its own, and ESC-10 and the synthetic corpus (which stand in for
    ESC-50 here) ESC-50's.
    """
    return "urbansound8k" if dataset == "urbansound8k" else "esc50"


def _accuracy_rows(dataset: str, printed: list[tuple[str, str, str, str]], average: tuple[str, str, str]):
    rows = [{"dataset": dataset, "fold": str(int(split) + 1), "split": split, "baseline": b, "mel": m, "resize": r}
            for split, b, m, r in printed]
    for stat, k in (("mean", 0), ("std", 1)):
        rows.append({"dataset": dataset, "fold": stat, "split": "Average",
                     **{meth: average[i].split("±")[k] for i, meth in enumerate(("baseline", "mel", "resize"))}})
    return rows


#: Table 2 as printed (UrbanSound8K): split, baseline, mel, resize (%)
_TABLE2_PRINTED = [("0", "79.68", "81", "84.22"), ("1", "79.41", "83.57", "79.41"), ("2", "71.09", "71.46", "79.15"),
                   ("3", "76.98", "81.98", "75.29"), ("4", "73.26", "79.7", "78.73"), ("5", "84.61", "85.57", "86.43"),
                   ("6", "72.52", "78.48", "75.65"), ("7", "66.16", "63.45", "68.97"), ("8", "70.6", "73.19", "74.88"),
                   ("9", "71.59", "74.79", "71.59")]
_TABLE2_AVERAGE = ("74.59±5.47", "77.31±6.66", "77.43±5.32")
#: Table 3 as printed (ESC-50)
_TABLE3_PRINTED = [("0", "68.5", "74.5", "71.74"), ("1", "81.25", "83.5", "83.24"), ("2", "74", "80.25", "73.25"),
                   ("3", "68.25", "73.5", "77.49"), ("4", "70", "72.25", "74.25")]
_TABLE3_AVERAGE = ("72.4±5.45", "76.8±4.83", "75.99±4.56")


def _long(where: str, rows: list[dict]) -> pd.DataFrame:
    wide = paper_rows("C19", where, rows, metrics=("baseline", "mel", "resize"))
    return wide.rename(columns={"metric": "method"}).assign(metric="accuracy (%)")


TABLE2 = _long("Table 2", _accuracy_rows("urbansound8k", _TABLE2_PRINTED, _TABLE2_AVERAGE))
TABLE3 = _long("Table 3", _accuracy_rows("esc50", _TABLE3_PRINTED, _TABLE3_AVERAGE))
#: Tables 2 and 3 in one tidy frame: dataset, fold ("1".. or "mean"/"std"), split, method, metric, value, quoted
TABLES_2_3 = pd.concat([TABLE2, TABLE3], ignore_index=True)
