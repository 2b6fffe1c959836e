"""The numbers Xu's report ("Audio Event Recognition") prints, as tidy tables to set beside ours.

Everything here is quoted from the report's text (``../shared/papers/003_c5cb12065bbc1cfe.txt``);
nothing is computed. The report trained on AudioSet's released features, "features of 128
dimensions, extracted from a bottleneck layer of ResNet" (sec. 1.2), ten per clip (an input of
``N x 1280``, 527 classes), and scored AUC and AP. Its tables, numbered as the report numbers them:

- **Table 2** (sec. 3.2): TensorFlow vs PyTorch vs MXNet, the ResNet model in each framework.
  Ours is an analogue only: one description run eagerly and through ``torch.compile`` in PyTorch,
  set beside the report's PyTorch column.
- **Table 3** (sec. 3.3): fully-connected, residual, convolution and their average ("ensemble"),
  on the small data ("about 20K" clips).
- **Table 4** (sec. 3.4): fully-connected and residual on the big data ("≈ 2M" clips).

The report gives no layer widths, dropout rates, learning rates or numbers of steps: those of
the workbook are its own choices (:mod:`audiolib.models.describe`, notebook 06's parameters).
It publishes no numbers for Figures 2-6 (learning curves); the claims about them are sentences.
"""

from __future__ import annotations

import re

import pandas as pd

from audiolib.reference import paper_rows

from .studies import AVERAGE

__all__ = ["PAPER", "FEATURES", "SMALL_DATA", "BIG_DATA", "TABLE2", "TABLE2_SPEED", "TABLE3", "TABLE4",
           "paper_numbers", "speed_seconds"]

PAPER = "X18"

#: The report's input, in its own words (sec. 1.2).
FEATURES = "features of 128 dimensions, extracted from a bottleneck layer of ResNet"
#: The two training-set sizes, as printed (sec. 3.4; the text writes the big one in LaTeX).
SMALL_DATA = "about 20K"
BIG_DATA = r"$\approx 2M$"

#: Table 2: framework -> (AUC, AP) as printed, the ResNet model.
TABLE2 = paper_rows("X18", "Table 2", [
    {"framework": "Tensorflow", "AUC": "0.939", "AP": "0.198"},
    {"framework": "Pytorch", "AUC": "0.941", "AP": "0.203"},
    {"framework": "Mxnet", "AUC": "0.938", "AP": "0.198"},
], metrics=("AUC", "AP"))


#: Table 3: architecture (our model names; the report's column in ``printed``), small data.
TABLE3 = paper_rows("X18", "Table 3", [
    {"model": "fully_connected", "printed": "fully-connected", "data": SMALL_DATA, "AUC": "0.942", "AP": "0.220"},
    {"model": "residual", "printed": "residual", "data": SMALL_DATA, "AUC": "0.941", "AP": "0.203"},
    {"model": "convolutional", "printed": "convolution", "data": SMALL_DATA, "AUC": "0.926", "AP": "0.207"},
    {"model": AVERAGE, "printed": "ensemble", "data": SMALL_DATA, "AUC": "0.949", "AP": "0.258"},
], metrics=("AUC", "AP"))

#: Table 4: big data.
TABLE4 = paper_rows("X18", "Table 4", [
    {"model": "fully_connected", "printed": "fully-connected", "data": BIG_DATA, "AUC": "0.944", "AP": "0.232"},
    {"model": "residual", "printed": "residual", "data": BIG_DATA, "AUC": "0.942", "AP": "0.210"},
], metrics=("AUC", "AP"))


def speed_seconds(printed: str) -> float:
    """``"2m33s"`` -> 153.0.

    >>> speed_seconds("2m13s")
    133.0
    """
    match = re.fullmatch(r"(\d+)m(\d+)s", printed.strip())
    if not match:
        raise ValueError(f"not a printed duration: {printed!r}")
    return 60.0 * int(match.group(1)) + int(match.group(2))


#: Table 2's "Speed" row as ``train_seconds`` rows in the schema of :func:`paper_rows` (its numbers
#: are minutes and seconds, ``2m33s``, which :func:`audiolib.reference.parse_quoted` does not read).
TABLE2_SPEED = pd.DataFrame([{"framework": framework, "metric": "train_seconds", "value": speed_seconds(printed),
                              "quoted": printed, "paper": PAPER, "where": "Table 2"}
                             for framework, printed in (("Tensorflow", "2m33s"), ("Pytorch", "2m13s"),
                                                        ("Mxnet", "2m14s"))])


def paper_numbers() -> pd.DataFrame:
    """Tables 2, 3 and 4 in one tidy frame (``where`` says which; Table 2's speed row is :data:`TABLE2_SPEED`)."""
    return pd.concat([TABLE2, TABLE3, TABLE4], ignore_index=True)
