"""The papers' numbers schema and the side-by-side view."""

from __future__ import annotations

import pandas as pd
import pytest

from audiolib import paths, reference


@pytest.mark.parametrize("printed, value", [("0.851", 0.851), ("5M", 5e6), ("35h", 35.0), ("70K", 70e3),
                                            ("0,5", 0.5), ("81.2%", 81.2), ("-1", -1.0)])
def test_parse_quoted(printed, value):
    assert reference.parse_quoted(printed) == pytest.approx(value)


def test_parse_quoted_refuses_words():
    with pytest.raises(ValueError, match="not a printed number"):
        reference.parse_quoted("about 5")


def test_paper_rows_skip_missing_cells():
    rows = reference.paper_rows("H17", "Table 3", [{"labels": "30K", "AUC": "—"}, {"labels": "3K", "AUC": "0.930"}],
                                metrics=["AUC"])
    assert rows[["labels", "value", "quoted"]].values.tolist() == [["3K", 0.930, "0.930"]]
    with pytest.raises(ValueError, match="unknown paper"):
        reference.paper_rows("Z99", "Table 1", [], metrics=[])


def test_beside_means_intervals_and_paper():
    ours = pd.DataFrame({"model": ["fc"] * 3 + ["cnn"] * 3, "seed": [0, 1, 2] * 2, "metric": "AUC",
                         "value": [0.60, 0.62, 0.61, 0.70, 0.70, 0.70]})
    paper = reference.paper_rows("H17", "Table 2", [{"model": "fc", "AUC": "0.851"}], metrics=["AUC"])
    wide = reference.beside(ours, paper, ["model"]).set_index("model")
    assert wide.loc["fc", "value"] == pytest.approx(0.61)
    assert wide.loc["fc", "n"] == 3 and wide.loc["fc", "paper"] == "0.851"
    assert wide.loc["fc", "ours [95% CI]"].startswith("0.610 [0.585, 0.635]")
    assert pd.isna(wide.loc["cnn", "paper"])
    assert wide.loc["cnn", "ci_low"] == pytest.approx(0.70)


def test_beside_counts_non_finite_values_it_leaves_out():
    ours = pd.DataFrame({"model": ["m"] * 3 + ["all-inf"] * 2, "metric": "dprime",
                         "value": [1.0, float("inf"), 3.0, float("inf"), float("-inf")]})
    wide = reference.beside(ours, None, ["model"]).set_index("model")
    assert wide.loc["m", "value"] == 2.0 and wide.loc["m", "n"] == 2 and wide.loc["m", "left_out"] == 1
    assert wide.loc["all-inf", "n"] == 0 and wide.loc["all-inf", "left_out"] == 2
    assert pd.isna(wide.loc["all-inf", "value"])


def test_paper_texts_are_read_and_numbers_checked():
    if paths.papers_root() is None:
        pytest.skip("the papers' text is absent (../shared/papers)")
    for paper in reference.PAPER_FILES:
        assert len(reference.paper_text(paper)) > 5000, paper
    rows = reference.paper_rows("H17", "Table 2", [{"model": "fc", "AUC": "0.851"}, {"model": "x", "AUC": "0.8519"}],
                                metrics=["AUC"])
    assert reference.check_numbers(rows, "H17") == ["0.8519"]
