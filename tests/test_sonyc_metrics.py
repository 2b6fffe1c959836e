"""SONYC-UST (DCASE 2019 Task 5) evaluation: hand-computed cases for every rule of the "X"
(unknown fine tag) handling, a hand-computed AUPRC, and agreement with a transcription of the
official evaluation code on random predictions (tolerance 1e-12; counts exact).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import auc as sk_auc

from audiolib import metrics as M
from audiolib.data.base import Taxonomy
from audiolib.paths import shared_data_root

TOL = 1e-12

# The DCASE 2019 Task 5 taxonomy (dcase-ust-taxonomy.yaml, SONYC-UST v1), as yaml.safe_load gives it.
UST_TAXONOMY = {
    "fine": {
        1: {1: "small-sounding-engine", 2: "medium-sounding-engine", 3: "large-sounding-engine",
            "X": "engine-of-uncertain-size"},
        2: {1: "rock-drill", 2: "jackhammer", 3: "hoe-ram", 4: "pile-driver", "X": "other-unknown-impact-machinery"},
        3: {1: "non-machinery-impact"},
        4: {1: "chainsaw", 2: "small-medium-rotating-saw", 3: "large-rotating-saw", "X": "other-unknown-powered-saw"},
        5: {1: "car-horn", 2: "car-alarm", 3: "siren", 4: "reverse-beeper", "X": "other-unknown-alert-signal"},
        6: {1: "stationary-music", 2: "mobile-music", 3: "ice-cream-truck", "X": "music-from-uncertain-source"},
        7: {1: "person-or-small-group-talking", 2: "person-or-small-group-shouting", 3: "large-crowd",
            4: "amplified-speech", "X": "other-unknown-human-voice"},
        8: {1: "dog-barking-whining"},
    },
    "coarse": {1: "engine", 2: "machinery-impact", 3: "non-machinery-impact", 4: "powered-saw",
               5: "alert-signal", 6: "music", 7: "human-voice", 8: "dog"},
}

# A two-category taxonomy for hand-computed cases: engine (two complete tags + X) and dog (no X).
TINY = {"fine": {1: {1: "small", 2: "large", "X": "unknown"}, 2: {1: "bark"}},
        "coarse": {1: "engine", 2: "dog"}}
TINY_FINE = ["1-1_small", "1-2_large", "1-X_unknown", "2-1_bark"]
TINY_COARSE = ["1_engine", "2_dog"]


def _ust_dir():
    root = shared_data_root()
    path = None if root is None else root / "sonyc-ust"
    return path if path is not None and (path / "annotations.csv").is_file() else None


# ------------------------------------------------------------------------------------------------
# Reference: transcription of the official evaluation, `metrics.py` of the DCASE 2019 Task 5
# baseline, https://github.com/sonyc-project/urban-sound-tagging-baseline (MIT licence, (c) 2019
# SONYC), read from the challenge-time copy at
# https://github.com/sainathadapa/dcase2019-task5-urban-sound-tagging/blob/master/baseline_code/metrics.py
# Kept loop by loop (one confusion matrix per threshold, pandas row look-ups) so that it shares
# nothing with the vectorised implementation under test. Changes: DataFrames instead of CSV/yaml
# paths (the parse_* functions reduced to renaming columns to codes), labels coerced to bool, and,
# for speed only, sklearn's confusion_matrix replaced by the three equivalent Boolean counts and
# the micro-average's pandas row filter by the same filter on NumPy arrays.
# ------------------------------------------------------------------------------------------------
def official_confusion_matrix_fine(Y_true, Y_pred, is_true_incomplete, is_pred_incomplete):
    Y_true_complete = np.tile(np.logical_not(is_true_incomplete)[:, np.newaxis], (1, Y_pred.shape[1]))
    is_TP_complete = np.logical_and.reduce((Y_true, Y_pred))
    is_FP_complete = np.logical_and.reduce((np.logical_not(Y_true), Y_pred, Y_true_complete))
    is_FN_complete = np.logical_and(Y_true, np.logical_not(Y_pred))
    y_pred_coarsened = np.logical_or(np.logical_or.reduce(Y_pred, axis=1), is_pred_incomplete)
    y_true_coarsened = np.logical_and(np.logical_and.reduce(np.logical_not(Y_true), axis=1), is_true_incomplete)
    is_TP_incomplete = np.logical_and.reduce((
        is_true_incomplete, y_pred_coarsened,
        np.logical_and.reduce(np.logical_not(is_TP_complete), axis=1)))
    is_FP_incomplete = np.logical_and.reduce((
        np.logical_not(is_true_incomplete),
        np.logical_not(np.logical_or.reduce(Y_true, axis=1)),
        is_pred_incomplete,
        np.logical_not(np.logical_and.reduce(Y_pred, axis=1))))
    is_FN_incomplete = np.logical_and(y_true_coarsened, np.logical_not(y_pred_coarsened))
    TP = np.sum(is_TP_complete) + np.sum(is_TP_incomplete)
    FP = np.sum(is_FP_complete) + np.sum(is_FP_incomplete)
    FN = np.sum(is_FN_complete) + np.sum(is_FN_incomplete)
    return TP, FP, FN


def official_confusion_matrix_coarse(y_true, y_pred):
    # confusion_matrix(y_true, y_pred): TP = cm[1, 1], FP = cm[0, 1], FN = cm[1, 0]
    return np.sum(y_true & y_pred), np.sum(~y_true & y_pred), np.sum(y_true & ~y_pred)


def _to_codes(df, yaml_dict, level, fill_x):
    """The official parse_* step: columns renamed to codes ("1-1", "1"), zero X columns added."""
    renaming = {}
    for c, name in yaml_dict["coarse"].items():
        renaming[f"{c}_{name}"] = str(c)
        renaming[f"{c}_{name}_presence"] = str(c)
    for c, tags in yaml_dict["fine"].items():
        for f, name in tags.items():
            renaming[f"{c}-{f}_{name}"] = f"{c}-{f}"
            renaming[f"{c}-{f}_{name}_presence"] = f"{c}-{f}"
    out = df.rename(columns=renaming)
    if fill_x:
        for c in yaml_dict["coarse"]:
            if f"{c}-X" not in out.columns:
                out[f"{c}-X"] = 0
    return out.sort_values("audio_filename").reset_index(drop=True)


def official_evaluate(pred_df, gt_df, yaml_dict, mode):
    min_threshold = 0.01
    gt_df = _to_codes(gt_df, yaml_dict, mode, fill_x=True)
    pred_df = _to_codes(pred_df, yaml_dict, mode, fill_x=(mode == "fine"))
    df_dict = {}
    for coarse_id in yaml_dict["coarse"]:
        if mode == "coarse":
            columns = [str(coarse_id)]
        else:
            columns = [column for column in pred_df.columns
                       if str(column).startswith(str(coarse_id)) and "-" in str(column)
                       and not str(column).endswith("X")]
        columns.sort()
        restricted_pred_df = pred_df[columns]
        restricted_gt_df = gt_df[columns]
        thresholds = np.ravel(np.copy(restricted_pred_df.values))
        thresholds.sort()
        thresholds = thresholds[np.searchsorted(thresholds, min_threshold):]
        thresholds = np.append(thresholds, 1.0)
        thresholds = np.unique(thresholds)[::-1]
        n_thresholds = len(thresholds)
        TPs = np.zeros((n_thresholds,)).astype("int")
        FPs = np.zeros((n_thresholds,)).astype("int")
        FNs = np.zeros((n_thresholds,)).astype("int")
        if mode == "fine":
            incomplete_tag = str(coarse_id) + "-X"
            Y_true = restricted_gt_df.values.astype(bool)
            is_true_incomplete = gt_df[incomplete_tag].values.astype(bool)
            for i, threshold in enumerate(thresholds):
                Y_pred = restricted_pred_df.values >= threshold
                is_pred_incomplete = pred_df[incomplete_tag].values >= threshold
                TPs[i], FPs[i], FNs[i] = official_confusion_matrix_fine(
                    Y_true, Y_pred, is_true_incomplete, is_pred_incomplete)
        else:
            Y_true = restricted_gt_df.values.astype(bool)
            for i, threshold in enumerate(thresholds):
                Y_pred = restricted_pred_df.values >= threshold
                TPs[i], FPs[i], FNs[i] = official_confusion_matrix_coarse(Y_true.ravel(), Y_pred.ravel())
        eval_df = pd.DataFrame({"threshold": thresholds, "TP": TPs, "FP": FPs, "FN": FNs})
        mu = 0.5
        eval_df["P"] = TPs / np.maximum(TPs + FPs, mu)
        eval_df["R"] = TPs / np.maximum(TPs + FNs, mu)
        with np.errstate(divide="ignore"):
            eval_df["F"] = 2 / (1 / eval_df["P"] + 1 / eval_df["R"])
        df_dict[coarse_id] = eval_df
    return df_dict


def official_micro_averaged_auprc(df_dict):
    thresholds = np.unique(np.hstack([x["threshold"] for x in df_dict.values()]))
    n_thresholds = len(thresholds)
    TPs = np.zeros((n_thresholds,)).astype("int")
    FPs = np.zeros((n_thresholds,)).astype("int")
    FNs = np.zeros((n_thresholds,)).astype("int")
    columns = {c: (d["threshold"].to_numpy(), d[["TP", "FP", "FN"]].to_numpy()) for c, d in df_dict.items()}
    for i, threshold in enumerate(thresholds):
        global_TP, global_FP, global_FN = 0, 0, 0
        for coarse_id in df_dict.keys():
            # last row whose threshold is >= threshold
            coarse_thresholds, counts = columns[coarse_id]
            row = counts[coarse_thresholds >= threshold][-1]
            global_TP += row[0]
            global_FP += row[1]
            global_FN += row[2]
        TPs[i], FPs[i], FNs[i] = global_TP, global_FP, global_FN
    eval_df = pd.DataFrame({"threshold": thresholds, "TP": TPs, "FP": FPs, "FN": FNs})
    mu = 0.5
    eval_df["P"] = TPs / np.maximum(TPs + FPs, mu)
    eval_df["R"] = TPs / np.maximum(TPs + FNs, mu)
    sorting_indices = np.argsort(list(eval_df["R"]))
    recalls = np.array([0.0] + list(eval_df["R"][sorting_indices]) + [1.0])
    precisions = np.array([1.0] + list(eval_df["P"][sorting_indices]) + [0.0])
    auprc = sk_auc(recalls, precisions)
    with np.errstate(divide="ignore"):
        eval_df["F"] = 2 / (1 / eval_df["P"] + 1 / eval_df["R"])
    return auprc, eval_df


def official_macro_averaged_auprc(df_dict):
    auprcs = []
    for coarse_id in df_dict.keys():
        sorting_indices = df_dict[coarse_id]["R"].argsort()
        recalls = np.array([0.0] + list(df_dict[coarse_id]["R"][sorting_indices]) + [1.0])
        precisions = np.array([1.0] + list(df_dict[coarse_id]["P"][sorting_indices]) + [0.0])
        auprcs.append(sk_auc(recalls, precisions))
    return np.mean(auprcs), {str(c): a for c, a in zip(df_dict.keys(), auprcs)}


def official_report(pred_df, gt_df, yaml_dict, mode):
    """What evaluate_predictions.py prints: micro AUPRC, micro F1 (@0.5), macro AUPRC, class AUPRC."""
    df_dict = official_evaluate(pred_df, gt_df, yaml_dict, mode)
    micro_auprc, eval_df = official_micro_averaged_auprc(df_dict)
    macro_auprc, class_auprc = official_macro_averaged_auprc(df_dict)
    thresh_0pt5_idx = np.nonzero((eval_df["threshold"] >= 0.5).to_numpy())[0][0]
    return {"micro_auprc": micro_auprc, "micro_f1": eval_df["F"][thresh_0pt5_idx], "macro_auprc": macro_auprc,
            "class_auprc": class_auprc, "df_dict": df_dict, "micro_df": eval_df}


# --- helpers for hand-built cases ---------------------------------------------------------------
def _frame(rows, columns):
    """DataFrame with audio_filename f0, f1, ... and the given 0/1 or score rows."""
    return pd.DataFrame([[f"f{i}.wav", *r] for i, r in enumerate(rows)], columns=["audio_filename", *columns])


def _tiny_fine_case(true_tags, pred_tags):
    """One clip: truth and (binary) prediction given as sets of tiny fine codes."""
    codes = ["1-1", "1-2", "1-X", "2-1"]
    gt = _frame([[int(c in true_tags) for c in codes]], TINY_FINE)
    pred = _frame([[float(c in pred_tags) for c in codes] + [0.0, 0.0]], TINY_FINE + TINY_COARSE)
    return gt, pred


# Every X-tag situation of official confusion_matrix_fine, counts (TP, FP, FN) of category 1
# worked out by hand from its rules.
X_CASES = [
    # truth fine only
    ({"1-1"}, {"1-1"}, (1, 0, 0)),                     # complete hit
    ({"1-1"}, {"1-2"}, (0, 1, 1)),                     # wrong complete tag
    ({"1-1", "1-2"}, {"1-1"}, (1, 0, 1)),              # one of two missed
    ({"1-1"}, {"1-X"}, (0, 0, 1)),                     # prediction only X while truth is fine: miss, no FP
    ({"1-1"}, {"1-1", "1-X"}, (1, 0, 0)),              # extra X on a clip with a true complete tag: not an FP
    # truth X only
    ({"1-X"}, {"1-1"}, (1, 0, 0)),                     # any fine tag predicted counts as TP
    ({"1-X"}, {"1-1", "1-2"}, (1, 0, 0)),              # several fine tags: still one TP, no FP
    ({"1-X"}, {"1-X"}, (1, 0, 0)),                     # X predicted: TP
    ({"1-X"}, set(), (0, 0, 1)),                       # nothing predicted: one FN
    # truth fine + X
    ({"1-1", "1-X"}, {"1-1"}, (1, 0, 0)),              # complete TP, the X adds nothing
    ({"1-1", "1-X"}, {"1-2"}, (1, 0, 1)),              # complete FN, X-part TP, wrong tag not an FP
    ({"1-1", "1-X"}, set(), (0, 0, 1)),                # only the complete FN
    # truth nothing
    (set(), {"1-X"}, (0, 1, 0)),                       # X false alarm: one FP
    (set(), {"1-1", "1-X"}, (0, 2, 0)),                # complete FP + X FP
    (set(), {"1-1", "1-2", "1-X"}, (0, 2, 0)),         # every complete tag predicted: the X FP is not added
    (set(), set(), (0, 0, 0)),
]


@pytest.mark.parametrize("true_tags,pred_tags,expected", X_CASES)
def test_fine_level_x_tag_rules(true_tags, pred_tags, expected):
    gt, pred = _tiny_fine_case(true_tags, pred_tags)
    result = M.sonyc_ust_metrics(gt, pred, TINY, "fine")
    assert tuple(result["class_counts"].loc["1"]) == expected
    assert tuple(result["class_counts"].loc["2"]) == (0, 0, 0)
    assert (result["TP"], result["FP"], result["FN"]) == expected
    # and the transcription of the official code agrees
    df_dict = official_evaluate(pred, gt, TINY, "fine")
    row = df_dict[1][df_dict[1]["threshold"] >= 0.5].iloc[-1]
    assert (row["TP"], row["FP"], row["FN"]) == expected


def test_fine_level_all_cases_together_micro_f1_from_counts():
    codes = ["1-1", "1-2", "1-X", "2-1"]
    gt = _frame([[int(c in t) for c in codes] for t, _, _ in X_CASES] + [[0, 0, 0, 1], [0, 0, 0, 1]], TINY_FINE)
    pred = _frame([[float(c in p) for c in codes] + [0.0, 0.0] for _, p, _ in X_CASES]
                  + [[0, 0, 0, 1.0, 0, 0], [0, 0, 0, 0.0, 0, 0]], TINY_FINE + TINY_COARSE)
    result = M.sonyc_ust_metrics(gt, pred, TINY, "fine")
    tp, fp, fn = np.sum([e for _, _, e in X_CASES], axis=0)
    assert tuple(result["class_counts"].loc["1"]) == (tp, fp, fn)
    assert tuple(result["class_counts"].loc["2"]) == (1, 0, 1)  # dog: one hit, one miss
    tp, fn = tp + 1, fn + 1
    assert (result["TP"], result["FP"], result["FN"]) == (tp, fp, fn)
    assert result["micro_f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn), abs=TOL)
    assert result["micro_precision"] == pytest.approx(tp / (tp + fp), abs=TOL)
    assert result["micro_recall"] == pytest.approx(tp / (tp + fn), abs=TOL)
    assert result["micro_f1"] == pytest.approx(official_report(pred, gt, TINY, "fine")["micro_f1"], abs=TOL)


def test_x_score_between_candidate_thresholds_follows_official_quirk():
    # Fine level: candidate thresholds come from the complete tags only. With complete scores 0.7 and
    # 0.2 the F1 threshold is 0.7 (the smallest candidate >= 0.5), so an X score of 0.6 is NOT
    # predicted at the reported F1 although it is above 0.5 - exactly as the official script does.
    gt = _frame([[0, 0, 1, 0], [1, 0, 0, 0]], TINY_FINE)
    pred = _frame([[0.2, 0.0, 0.6, 0.0, 0, 0], [0.7, 0.0, 0.0, 0.0, 0, 0]], TINY_FINE + TINY_COARSE)
    result = M.sonyc_ust_metrics(gt, pred, TINY, "fine")
    assert result["f1_threshold"] == 0.7
    assert tuple(result["class_counts"].loc["1"]) == (1, 0, 1)
    official = official_report(pred, gt, TINY, "fine")
    assert result["micro_f1"] == pytest.approx(official["micro_f1"], abs=TOL)


ONE_CATEGORY = {"fine": {1: {1: "small", "X": "unknown"}}, "coarse": {1: "engine"}}


def _one_category_case(truth, scores):
    gt = _frame([[v] for v in truth], ["1_engine"])
    pred = _frame([[0, 0, s] for s in scores], ["1-1_small", "1-X_unknown", "1_engine"])
    return gt, pred


def test_coarse_level_hand_computed_auprc_without_ties():
    # Truth [1, 0, 1, 0], scores [0.9, 0.005, 0.3, 0.0]: scores below 0.01 are not candidate
    # thresholds, so the thresholds are 1.0, 0.9, 0.3 with (TP, FP, FN) (0,0,2) (1,0,1) (2,0,0),
    # i.e. (R, P) = (0, 0) (.5, 1) (1, 1): no tied recall. With (0, 1) prepended and (1, 0) appended:
    # 0 + .5 * (0 + 1) / 2 + .5 * (1 + 1) / 2 + 0 = 3/4 (the point of threshold 1.0 costs 1/4).
    gt, pred = _one_category_case([1, 0, 1, 0], [0.9, 0.005, 0.3, 0.0])
    result = M.sonyc_ust_metrics(gt, pred, ONE_CATEGORY, "coarse")
    assert result["class_curves"]["1"][["TP", "FP", "FN"]].to_numpy().tolist() == [[0, 0, 2], [1, 0, 1], [2, 0, 0]]
    for key in ("micro_auprc", "macro_auprc"):
        assert result[key] == pytest.approx(3 / 4, abs=TOL)
    assert result["class_auprc"]["1"] == pytest.approx(3 / 4, abs=TOL)
    # F1 at 0.9, the smallest candidate >= 0.5: TP 1, FP 0, FN 1 -> 2/3
    assert result["f1_threshold"] == 0.9 and result["micro_f1"] == pytest.approx(2 / 3, abs=TOL)


def test_coarse_level_hand_computed_auprc_with_tied_recalls():
    # Truth [1, 0, 1, 0], scores [0.9, 0.8, 0.3, 0.2]: thresholds 1.0, 0.9, 0.8, 0.3, 0.2 give
    # (TP, FP, FN) (0,0,2) (1,0,1) (1,1,1) (2,1,0) (2,2,0), i.e. (R, P) = (0, 0) (.5, 1) (.5, .5)
    # (1, 2/3) (1, .5). Recall is tied, and the official code orders tied points with NumPy's
    # default (unstable) argsort, so the area depends on that order: in threshold-sweep order
    # .5 * (0 + 1)/2 + .5 * (.5 + 2/3)/2 = 13/24, in the reverse order .5 * (0 + .5)/2 +
    # .5 * (1 + .5)/2 = 1/2. Whichever NumPy gives, the result must equal the official code's.
    gt, pred = _one_category_case([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.2])
    result = M.sonyc_ust_metrics(gt, pred, ONE_CATEGORY, "coarse")
    assert result["class_curves"]["1"][["TP", "FP", "FN"]].to_numpy().tolist() == [
        [0, 0, 2], [1, 0, 1], [1, 1, 1], [2, 1, 0], [2, 2, 0]]
    official = official_report(pred, gt, ONE_CATEGORY, "coarse")
    for key in ("micro_auprc", "macro_auprc"):
        assert min(abs(result[key] - 13 / 24), abs(result[key] - 1 / 2)) < TOL
        assert abs(result[key] - official[key]) < TOL
    # F1 at 0.8, the smallest candidate >= 0.5: TP 1, FP 1, FN 1 -> 1/2
    assert result["f1_threshold"] == 0.8 and result["micro_f1"] == pytest.approx(0.5, abs=TOL)


def test_coarse_level_ignores_fine_columns_and_x_tags():
    # Truth with only an X fine tag is a plain positive of the category at coarse level.
    gt = _frame([[0, 0, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0]], TINY_FINE + TINY_COARSE)
    pred = _frame([[0, 0, 0, 0, 0.9, 0.0], [0.9, 0.9, 0.9, 0, 0.2, 0.0]], TINY_FINE + TINY_COARSE)
    result = M.sonyc_ust_metrics(gt, pred, TINY, "coarse")
    assert tuple(result["class_counts"].loc["1"]) == (1, 0, 0)
    assert tuple(result["class_counts"].loc["2"]) == (0, 0, 0)
    assert result["micro_f1"] == 1.0


def test_scores_below_min_threshold_are_never_predicted():
    # Official: candidate thresholds below 0.01 are dropped, so a score of 0.005 is never positive.
    gt = _frame([[1, 0, 0, 0]], TINY_FINE)
    pred = _frame([[0.005, 0, 0, 0, 0, 0]], TINY_FINE + TINY_COARSE)
    result = M.sonyc_ust_metrics(gt, pred, TINY, "fine")
    assert result["class_curves"]["1"]["threshold"].tolist() == [1.0]
    assert result["class_curves"]["1"]["TP"].max() == 0


# --- agreement with the official transcription on random data ----------------------------------------
def _random_submission(filenames, seed, decimals):
    rng = np.random.default_rng(seed)
    n = len(filenames)
    fine_cols = M.sonyc_columns(UST_TAXONOMY, "fine")
    fine = rng.beta(0.5, 1.5, (n, len(fine_cols)))
    fine = np.round(fine, decimals) if decimals is not None else fine
    fine[rng.random(fine.shape) < 0.05] = 1.0
    fine[rng.random(fine.shape) < 0.05] = 0.0
    coarse = M.coarse_from_fine(fine, UST_TAXONOMY)
    coarse = np.clip(coarse + rng.normal(0, 0.1, coarse.shape), 0, 1)
    coarse = np.round(coarse, decimals) if decimals is not None else coarse
    return pd.concat([pd.DataFrame({"audio_filename": filenames}),
                      pd.DataFrame(np.hstack([fine, coarse]), columns=M.sonyc_columns(UST_TAXONOMY, "all"))], axis=1)


def _random_truth(n, seed):
    """Random verified-style truth: fine tags incl. X, coarse = any fine of the category."""
    rng = np.random.default_rng(seed)
    fine_cols = M.sonyc_columns(UST_TAXONOMY, "fine")
    fine = (rng.random((n, len(fine_cols))) < 0.12).astype(int)
    coarse = M.coarse_from_fine(fine, UST_TAXONOMY).astype(int)
    gt = pd.concat([pd.DataFrame({"audio_filename": [f"{i:05d}.wav" for i in range(n)]}),
                    pd.DataFrame(np.hstack([fine, coarse]), columns=M.sonyc_columns(UST_TAXONOMY, "all"))], axis=1)
    return gt.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # row order must not matter


def _compare(result, official):
    assert abs(result["micro_auprc"] - official["micro_auprc"]) < TOL
    assert abs(result["macro_auprc"] - official["macro_auprc"]) < TOL
    assert abs(result["micro_f1"] - official["micro_f1"]) < TOL
    for code, value in official["class_auprc"].items():
        assert abs(result["class_auprc"][code] - value) < TOL
    for coarse_id, curve in official["df_dict"].items():
        mine = result["class_curves"][str(coarse_id)]
        np.testing.assert_array_equal(mine["threshold"].to_numpy(), curve["threshold"].to_numpy())
        np.testing.assert_array_equal(mine[["TP", "FP", "FN"]].to_numpy(), curve[["TP", "FP", "FN"]].to_numpy())
    np.testing.assert_array_equal(result["micro_curve"][["TP", "FP", "FN"]].to_numpy(),
                                  official["micro_df"][["TP", "FP", "FN"]].to_numpy())
    return max(abs(result[k] - official[k]) for k in ("micro_auprc", "macro_auprc", "micro_f1"))


@pytest.mark.parametrize("level", ["fine", "coarse"])
@pytest.mark.parametrize("seed,decimals", [(0, 2), (1, 2), (2, 1), (3, None)])
def test_matches_official_transcription_on_random_data(level, seed, decimals):
    n = 80 if decimals is None else 150
    gt = _random_truth(n, seed)
    pred = _random_submission(sorted(gt["audio_filename"]), seed + 100, decimals)
    result = M.sonyc_ust_metrics(gt, pred, UST_TAXONOMY, level)
    _compare(result, official_report(pred, gt, UST_TAXONOMY, level))
    assert len(result["class_auprc"]) == 8 and result["macro_auprc"] == pytest.approx(
        np.mean(list(result["class_auprc"].values())), abs=TOL)


@pytest.mark.skipif(_ust_dir() is None, reason="SONYC-UST annotations not found under shared data (../shared/data/sonyc-ust)")
@pytest.mark.parametrize("level", ["fine", "coarse"])
@pytest.mark.parametrize("decimals", [2, None])
def test_matches_official_transcription_on_real_ground_truth(level, decimals):
    gt = M.sonyc_ground_truth(_ust_dir() / "annotations.csv", split="validate")
    assert len(gt) == 443
    pred = _random_submission(list(gt["audio_filename"]), 7, decimals)
    result = M.sonyc_ust_metrics(gt, pred, _ust_dir() / "dcase-ust-taxonomy.yaml", level)
    _compare(result, official_report(pred, gt, UST_TAXONOMY, level))


# --- taxonomy, columns, submission files --------------------------------------------------------------
def _taxonomy_object():
    coarse = {str(c): n for c, n in UST_TAXONOMY["coarse"].items()}
    fine = {f"{c}-{f}": n for c, tags in UST_TAXONOMY["fine"].items() for f, n in tags.items()}
    return Taxonomy(coarse=coarse, fine=fine, parent={f: f.split("-")[0] for f in fine})


def _official_columns(yaml_dict):
    # as the baseline's generate_output_file builds the header
    fine = [f"{c}-{f}_{name}" for c, tags in yaml_dict["fine"].items() for f, name in tags.items()]
    coarse = ["_".join([str(k), v]) for k, v in yaml_dict["coarse"].items()]
    return fine, coarse


def test_sonyc_columns_from_every_taxonomy_form():
    fine, coarse = _official_columns(UST_TAXONOMY)
    assert len(fine) == 29 and len(coarse) == 8 and "1-X_engine-of-uncertain-size" in fine
    for tax in (UST_TAXONOMY, _taxonomy_object()):
        assert M.sonyc_columns(tax, "fine") == fine
        assert M.sonyc_columns(tax, "coarse") == coarse
        assert M.sonyc_columns(tax, "all") == fine + coarse
    if _ust_dir() is not None:
        assert M.sonyc_columns(_ust_dir() / "dcase-ust-taxonomy.yaml", "all") == fine + coarse
    with pytest.raises(ValueError, match="level"):
        M.sonyc_columns(UST_TAXONOMY, "medium")


def test_coarse_from_fine_is_max_over_category_incl_x():
    rng = np.random.default_rng(0)
    fine = rng.random((10, 29))
    got = M.coarse_from_fine(fine, _taxonomy_object())
    columns = M.sonyc_columns(UST_TAXONOMY, "fine")
    for k, c in enumerate(UST_TAXONOMY["coarse"]):
        idx = [i for i, col in enumerate(columns) if col.split("-")[0] == str(c)]
        np.testing.assert_array_equal(got[:, k], fine[:, idx].max(axis=1))
    frame = pd.DataFrame(fine, columns=columns).assign(audio_filename=[f"{i}.wav" for i in range(10)])
    out = M.coarse_from_fine(frame, UST_TAXONOMY)
    assert list(out.columns) == ["audio_filename"] + M.sonyc_columns(UST_TAXONOMY, "coarse")
    np.testing.assert_array_equal(out.iloc[:, 1:].to_numpy(), got)


def test_write_submission_csv_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    names = [f"00_{i:06d}.wav" for i in range(12)]
    fine_scores, coarse_scores = rng.random((12, 29)), rng.random((12, 8))
    path = M.write_submission_csv(tmp_path / "sub" / "output.csv", names, fine_scores, coarse_scores, UST_TAXONOMY)
    table = pd.read_csv(path)
    fine, coarse = _official_columns(UST_TAXONOMY)
    assert list(table.columns) == ["audio_filename"] + fine + coarse
    assert table["audio_filename"].tolist() == names
    np.testing.assert_array_equal(table[fine].to_numpy(), fine_scores)  # exact float round trip
    np.testing.assert_array_equal(table[coarse].to_numpy(), coarse_scores)
    # coarse_scores=None -> max over each category's fine tags
    path2 = M.write_submission_csv(tmp_path / "output2.csv", names, fine_scores, None, _taxonomy_object())
    np.testing.assert_array_equal(pd.read_csv(path2)[coarse].to_numpy(), M.coarse_from_fine(fine_scores, UST_TAXONOMY))
    # the written file is accepted by the evaluation
    gt = _random_truth(12, 0).assign(audio_filename=lambda d: sorted(names))
    assert 0 <= M.sonyc_ust_metrics(gt, table, UST_TAXONOMY, "fine")["micro_auprc"] <= 1


@pytest.mark.skipif(_ust_dir() is None, reason="SONYC-UST annotations not found under shared data (../shared/data/sonyc-ust)")
def test_sonyc_ground_truth_from_annotations():
    gt = M.sonyc_ground_truth(_ust_dir() / "annotations.csv")
    fine, coarse = _official_columns(UST_TAXONOMY)
    assert list(gt.columns) == ["audio_filename"] + fine + coarse
    assert gt["audio_filename"].is_unique and len(gt) == 443
    assert set(np.unique(gt[fine + coarse].to_numpy())) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="annotator_id == 0"):
        M.sonyc_ground_truth(_ust_dir() / "annotations.csv", split="train")


# --- bad input ----------------------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors():
    gt, pred = _tiny_fine_case({"1-1"}, {"1-1"})
    with pytest.raises(ValueError, match="predictions.*missing.*1-2_large"):
        M.sonyc_ust_metrics(gt, pred.drop(columns=["1-2_large"]), TINY, "fine")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        M.sonyc_ust_metrics(gt, pred.assign(**{"1-1_small": 1.5}), TINY, "fine")
    with pytest.raises(ValueError, match="File mismatch"):
        M.sonyc_ust_metrics(gt, pred.assign(audio_filename="other.wav"), TINY, "fine")
    with pytest.raises(ValueError, match="ground_truth.*0 or 1"):
        M.sonyc_ust_metrics(gt.assign(**{"1-1_small": 0.5}), pred, TINY, "fine")
    with pytest.raises(ValueError, match="sonyc_ground_truth"):
        M.sonyc_ust_metrics(gt.assign(annotator_id=0), pred, TINY, "fine")
    with pytest.raises(ValueError, match="level"):
        M.sonyc_ust_metrics(gt, pred, TINY, "middle")
    with pytest.raises(ValueError, match="fine code"):
        M.sonyc_columns(Taxonomy(coarse={"a": "x"}, fine={"dog": "dog"}, parent={"dog": "a"}))
    with pytest.raises(ValueError, match="more than once"):
        M.sonyc_ust_metrics(pd.concat([gt, gt]), pred, TINY, "fine")
