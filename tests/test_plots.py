"""Figures (the shared bars and lines, H17's Fig. 1): each returns a Figure and draws what it is given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from audiolib import plots  # noqa: E402
from audiolib.h17 import plots as h17_plots  # noqa: E402


def _tidy():
    rows = []
    for model, auc in (("fc_audio", 0.7), ("resnet50_audio", 0.9)):
        for bn in (False, True):
            rows += [{"model": model, "bottleneck": bn, "metric": "AUC", "value": auc - 0.05 * bn},
                     {"model": model, "bottleneck": bn, "metric": "mAP", "value": auc / 3},
                     {"model": model, "bottleneck": bn, "metric": "train_clips", "value": 0.0}]
    return pd.DataFrame(rows)


def test_metric_bars_one_panel_per_metric_and_bars_per_hue():
    fig = plots.metric_bars(_tidy(), x="model", metrics=("AUC", "mAP", "dprime"), hue="bottleneck")
    assert isinstance(fig, Figure)
    axes = fig.get_axes()
    assert len(axes) == 2                                  # dprime is absent from the table
    heights = sorted(round(p.get_height(), 3) for p in axes[0].patches)
    assert heights == [0.65, 0.7, 0.85, 0.9]
    plt.close(fig)
    with pytest.raises(ValueError, match="none of the metrics"):
        plots.metric_bars(_tidy(), x="model", metrics=("dprime",))


def test_metric_lines_plots_values_against_x():
    table = pd.DataFrame({"train_clips": [10, 100, 1000] * 2, "metric": ["AUC"] * 3 + ["mAP"] * 3,
                          "value": [0.6, 0.7, 0.8, 0.1, 0.2, 0.3]})
    fig = plots.metric_lines(table, x="train_clips")
    line = fig.get_axes()[0].get_lines()[0]
    assert line.get_xdata().tolist() == [10, 100, 1000] and line.get_ydata().tolist() == [0.6, 0.7, 0.8]
    assert fig.get_axes()[0].get_xscale() == "log"
    plt.close(fig)


def test_dprime_vs_prior_one_point_per_evaluable_class():
    table = pd.DataFrame({"class": list("abcde"), "log10_prior": [-1, -2, -3, -0.5, -1.5],
                          "dprime": [1.0, 2.0, np.inf, 0.5, np.nan], "AP": [0.2, 0.5, 1.0, 0.9, np.nan],
                          "evaluated": [True, True, True, True, False]})
    fig = h17_plots.dprime_vs_prior(table)
    main = fig.get_axes()[0]
    points = main.collections[0].get_offsets()
    assert len(points) == 4                                # class e is not evaluable
    assert np.isfinite(np.asarray(points)).all()           # the infinite d' is drawn at the edge
    assert len(main.collections) == 2                      # and marked separately
    assert any("not evaluable" in t.get_text() for t in main.texts)
    plt.close(fig)
