"""C19: the paper's numbers equal its text, the claims quote it, the per-replicate effects on
constructed tables with known answers, Table 1 as written, and the range-test reading."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from audiolib import findings as F
from audiolib import paths
from audiolib.c19 import claims, paper
from audiolib.c19.training import C19Config, largest_stable_lr, scaled_epochs, stage_plan, stage_rates
from audiolib.reference import PAPER_FILES, parse_quoted


@pytest.fixture(scope="module")
def text():
    root = paths.papers_root()
    path = None if root is None else root / PAPER_FILES["C19"].split("/")[-1]
    if path is None or not path.is_file():
        pytest.skip(f"the paper's text is not here ({path or '../shared/papers absent'})")
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def lines(text):
    return [line.split("\t") for line in text.splitlines()]


# --- the paper's numbers ------------------------------------------------------------------------
def test_table1_rows_are_the_printed_rows(lines):
    printed = {row[0]: row[1:] for row in lines if row and row[0].startswith("λ_")}
    assert len(printed) == 9
    for name, us, esc, epochs in paper._TABLE1_PRINTED:
        assert printed[paper.PRINTED_NAMES[name]] == [us, esc, epochs]
    assert paper.TABLE1_RATES["urbansound8k"]["lambda_2R1"] == 1e-3
    assert paper.TABLE1_RATES["esc50"]["lambda_2"] == 1e-4
    for row in paper.TABLE1.itertuples():
        assert paper.parse_rate(row.quoted) == row.value


def test_parse_rate():
    assert paper.parse_rate("10^{-2}") == 0.01
    assert paper.parse_rate("5×10^{-6}") == 5e-6
    with pytest.raises(ValueError, match="Table 1"):
        paper.parse_rate("0.01")


def test_epoch_counts_190_and_170_as_the_text_lists_them(text):
    assert (paper.EPOCHS_BASELINE, paper.EPOCHS_PROGRESSIVE) == (190, 170)
    assert "all the methods use the same number of epochs" in text  # the text's own inconsistency


@pytest.mark.parametrize("where,table,n", [("Table 2", paper.TABLE2, 10), ("Table 3", paper.TABLE3, 5)])
def test_tables_2_3_are_the_printed_rows(lines, text, where, table, n):
    caption = {"Table 2": "Table 2. Accuracy results for the Urbansound8K dataset",
               "Table 3": "Table 3. Accuracy results for the ESC-50 dataset"}[where]
    assert caption in text
    end = next(i for i, row in enumerate(lines) if row[0].startswith(caption))
    start = max(i for i, row in enumerate(lines[:end]) if row[0] == "Split")
    body = [row for row in lines[start + 1:end] if len(row) == 4]
    assert len(body) == n + 1 and body[-1][0] == "Average"
    for split, *values in body[:-1]:
        for method, printed in zip(("baseline", "mel", "resize"), values):
            row = table[(table["split"] == split) & (table["method"] == method)]
            assert row["quoted"].tolist() == [printed] and row["fold"].tolist() == [str(int(split) + 1)]
            assert row["value"].iloc[0] == parse_quoted(printed)
    for method, printed in zip(("baseline", "mel", "resize"), body[-1][1:]):
        mean, std = printed.split("±")
        got = table[(table["method"] == method) & (table["split"] == "Average")].set_index("fold")["quoted"]
        assert (got["mean"], got["std"]) == (mean, std)


def test_every_quoted_number_is_in_the_text(text):
    for frame in (paper.TABLE1, paper.TABLES_2_3):
        for q in frame["quoted"]:
            assert q in text, q


def test_table_numbers_and_datasets_are_not_swapped():
    assert set(paper.TABLE2["dataset"]) == {"urbansound8k"} and set(paper.TABLE3["dataset"]) == {"esc50"}
    assert paper.TABLE2["fold"].nunique() == 12 and paper.TABLE3["fold"].nunique() == 7


# --- claims -------------------------------------------------------------------------------------
def test_claim_quotes_are_verbatim(text):
    assert F.check_quotes(claims.CLAIMS.claims, text) == []


def test_claim_paper_numbers_are_in_the_text(text):
    for c in claims.CLAIMS.claims:
        for number in re.findall(r"\d+\.\d+", c.paper_numbers):
            assert number in text, (c.id, number)


def test_claim_ids_and_the_untestable_one():
    ids = set(claims.CLAIMS.by_id())
    assert {"C19-T2-mel-beats-baseline", "C19-T2-resize-beats-baseline", "C19-T3-mel-beats-baseline",
            "C19-T3-resize-beats-baseline", "C19-s3.1-mel-ahead-of-resize", "C19-s3.1-combined-beats-both",
            "C19-s3.1-mixup-flat-gain", "C19-s3.1-mixup-no-interaction", "C19-s3-imagenet-speeds-convergence"} == ids
    assert claims.CLAIMS.by_id()["C19-s3-imagenet-speeds-convergence"].untestable


# --- per-replicate effects on constructed tables -------------------------------------------------
def _table(acc: dict, seeds=(0, 1, 2), folds=(1,), datasets=("esc10", "urbansound8k"), noise=0.0, seed=0):
    """Tidy rows with accuracy = acc[(method, mixup)] (+ optional per-row noise)."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in datasets:
        for s in seeds:
            for f in folds:
                for (method, mixup), value in acc.items():
                    v = value(d) if callable(value) else value
                    rows.append({"dataset": d, "seed": s, "fold": f, "method": method, "mixup": mixup,
                                 "metric": "accuracy", "value": v + noise * rng.standard_normal()})
    return pd.DataFrame(rows)


def test_effects_known_answers():
    acc = {("baseline", False): 0.50, ("mel", False): 0.60, ("resize", False): 0.55, ("mel+resize", False): 0.65,
           ("baseline", True): 0.53, ("mel", True): 0.63}
    eff, notes = claims.effects(_table(acc))
    assert eff["C19-T2-mel-beats-baseline"].tolist() == pytest.approx([0.1] * 3)
    assert eff["C19-T3-resize-beats-baseline"].tolist() == pytest.approx([0.05] * 3)
    assert eff["C19-s3.1-mel-ahead-of-resize"].tolist() == pytest.approx([0.05] * 6)
    assert eff["C19-s3.1-combined-beats-both"].tolist() == pytest.approx([0.05] * 6)
    assert eff["C19-s3.1-mixup-flat-gain"].tolist() == pytest.approx([0.03] * 6)
    assert eff["C19-s3.1-mixup-no-interaction"].tolist() == pytest.approx([0.0] * 6, abs=1e-12)
    assert notes == {}


def test_combined_must_beat_the_better_of_the_two_per_replicate():
    # mel wins on esc10, resize on urbansound8k (complementary); mel+resize between them loses to the better one
    acc = {("baseline", False): 0.5, ("mel", False): lambda d: 0.7 if d == "esc10" else 0.5,
           ("resize", False): lambda d: 0.5 if d == "esc10" else 0.7, ("mel+resize", False): 0.65}
    eff, _ = claims.effects(_table(acc))
    assert eff["C19-s3.1-combined-beats-both"].tolist() == pytest.approx([-0.05] * 6)
    assert eff["C19-s3.1-mel-ahead-of-resize"].mean() == pytest.approx(0.0)


def test_verdicts_reproduced_contradicted_inconclusive():
    base = {("baseline", False): 0.5, ("resize", False): 0.5, ("mel+resize", False): 0.5}
    up = _table({**base, ("mel", False): 0.6}, noise=0.01)
    down = _table({**base, ("mel", False): 0.4}, noise=0.01)
    flat = _table({**base, ("mel", False): 0.5}, noise=0.05, seed=3)
    v = {}
    for name, t in (("up", up), ("down", down), ("flat", flat)):
        f = claims.findings(t, scale="test").set_index("claim_id")
        v[name] = f.loc["C19-T3-mel-beats-baseline", "verdict"]
        assert f.loc["C19-s3-imagenet-speeds-convergence", "verdict"] == "not testable here"
        assert f.loc["C19-s3.1-mixup-flat-gain", "verdict"] == "inconclusive"  # no mixup arms: not measured
        assert "not measured in this run" in f.loc["C19-s3.1-mixup-flat-gain", "note"]
    assert v == {"up": "reproduced", "down": "contradicted", "flat": "inconclusive"}


def test_no_interaction_is_an_equivalence_claim():
    acc = {("baseline", False): 0.5, ("mel", False): 0.6, ("baseline", True): 0.55, ("mel", True): 0.65}
    f = claims.findings(_table(acc, noise=0.002), scale="test").set_index("claim_id")
    assert f.loc["C19-s3.1-mixup-no-interaction", "verdict"] == "reproduced"
    acc[("mel", True)] = 0.75  # mixup helps progressive twice as much: an interaction of 5 points
    f = claims.findings(_table(acc, noise=0.002), scale="test").set_index("claim_id")
    assert f.loc["C19-s3.1-mixup-no-interaction", "verdict"] == "contradicted"
    assert f.loc["C19-s3.1-mixup-flat-gain", "verdict"] == "reproduced"


def test_missing_dataset_and_unpaired_arms():
    acc = {("baseline", False): 0.5, ("mel", False): 0.6, ("resize", False): 0.55}
    f = claims.findings(_table(acc, datasets=("esc10",)), scale="test").set_index("claim_id")
    assert f.loc["C19-T2-mel-beats-baseline", "verdict"] == "inconclusive"  # UrbanSound8K not run
    assert "no dataset" in f.loc["C19-T2-mel-beats-baseline", "note"]
    assert f.loc["C19-T3-mel-beats-baseline", "verdict"] == "reproduced"
    t = _table(acc)
    t = t[~((t["method"] == "mel") & (t["seed"] == 2))]
    with pytest.raises(ValueError, match="share seeds and folds"):
        claims.effects(t)


def test_high_rate_epochs_of_table1():
    assert claims.high_rate_epochs("urbansound8k") == {"baseline": 20, "progressive": 80}
    assert claims.high_rate_epochs("esc10") == {"baseline": 70, "progressive": 80}


# --- Table 1 as written ------------------------------------------------------------------------
def test_stage_plan_is_table1_as_written():
    cfg = C19Config()
    base = stage_plan("baseline", cfg)
    assert [(n, s.tag, s.epochs, round(s.body_lr_factor, 4)) for n, s in base] == [
        ("lambda_1", "R3", 20, 1.0), ("lambda_2", "R3", 50, 0.3333), ("lambda_3", "R3", 120, 0.3333)]
    for method in ("mel", "resize", "mel+resize"):
        prog = stage_plan(method, cfg)
        assert [(n, s.tag, s.epochs, round(s.body_lr_factor, 4)) for n, s in prog] == [
            ("lambda_1R1", "R1", 20, 1.0), ("lambda_2R1", "R1", 20, 0.3333), ("lambda_1R2", "R2", 20, 1.0),
            ("lambda_2R2", "R2", 20, 0.3333), ("lambda_1R3", "R3", 20, 1.0), ("lambda_2R3", "R3", 70, 0.3333)]
    assert sum(s.epochs for _, s in base) == 190 and sum(s.epochs for _, s in stage_plan("mel", cfg)) == 170


def test_epoch_scale_keeps_every_stage():
    cfg = C19Config(epoch_scale=0.05)
    assert [s.epochs for _, s in stage_plan("baseline", cfg)] == [1, 3, 6]
    assert [s.epochs for _, s in stage_plan("mel", cfg)] == [1, 1, 1, 1, 1, 4]
    assert [s.epochs for _, s in stage_plan("mel", C19Config(epoch_scale=0.001))] == [1] * 6
    assert scaled_epochs(50, 0.01) == 1 and scaled_epochs(70, 0.5) == 35


def test_rates_default_to_table1_per_dataset():
    cfg = C19Config()
    assert stage_rates("urbansound8k", cfg)["lambda_2"] == 5e-6
    assert stage_rates("esc10", cfg) == paper.TABLE1_RATES["esc50"]
    assert stage_rates("esc10", C19Config(lr_policy="fixed", lr=1e-3))["lambda_2R3"] == 1e-3
    assert stage_rates("esc10", C19Config(lr_policy="range_test")) is None
    with pytest.raises(ValueError, match="lr_policy"):
        C19Config(lr_policy="table")


def test_largest_stable_lr_is_the_last_steadily_falling_rate():
    lrs = np.logspace(-6, 0, 61)
    loss = np.r_[np.linspace(2.0, 1.0, 41), np.linspace(1.1, 5.0, 20)]  # falls until 1e-2, then diverges
    assert largest_stable_lr(lrs, loss, window=3, skip_start=0) == pytest.approx(lrs[37])
    # a bump in the descent: the rate before the last steady run still counts, the bump's rates do not
    bumpy = loss.copy()
    bumpy[30] = bumpy[29] + 0.01
    assert largest_stable_lr(lrs, bumpy, window=3, skip_start=0) == pytest.approx(lrs[37])
    # never falling steadily: a tenth of the rate at the minimum
    noisy = np.tile([1.0, 1.2], 31)[:61]
    assert largest_stable_lr(lrs, noisy, window=3, skip_start=0) == pytest.approx(lrs[0] / 10)
