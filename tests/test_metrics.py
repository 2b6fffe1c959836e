"""Ranking metrics, d' and accuracy, against scikit-learn and hand-computed values.

Tolerances: 1e-12 absolute against scikit-learn (both compute the same sums in float64, in a
different order); d' against the H17 figures within 0.006 (the paper rounds AUC to 3 digits).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score, top_k_accuracy_score

from audiolib import metrics as M

TOL = 1e-12


def _random_case(seed: int, n: int = 300, n_classes: int = 7, decimals: int = 1):
    """Multi-label targets with varied priors and scores rounded to create many ties."""
    rng = np.random.default_rng(seed)
    prior = rng.uniform(0.02, 0.6, n_classes)
    y = (rng.random((n, n_classes)) < prior).astype(int)
    y[0], y[1] = 1, 0  # every class has at least one positive and one negative
    score = np.round(rng.random((n, n_classes)) + 0.3 * y, decimals)
    return y, score


# --- AUC and AP against scikit-learn --------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("decimals", [1, 2, 8])
def test_roc_auc_and_ap_match_sklearn_1d(seed, decimals):
    y, s = _random_case(seed, decimals=decimals)
    for c in range(y.shape[1]):
        assert abs(M.roc_auc(y[:, c], s[:, c]) - roc_auc_score(y[:, c], s[:, c])) < TOL
        assert abs(M.average_precision(y[:, c], s[:, c]) - average_precision_score(y[:, c], s[:, c])) < TOL


@pytest.mark.parametrize("seed", range(4))
def test_columnwise_and_micro_match_sklearn(seed):
    y, s = _random_case(seed, n=500, n_classes=12, decimals=2)
    auc = M.roc_auc(y, s)
    ap = M.average_precision(y, s)
    assert auc.shape == ap.shape == (12,)
    np.testing.assert_allclose(auc, [roc_auc_score(y[:, c], s[:, c]) for c in range(12)], rtol=0, atol=TOL)
    np.testing.assert_allclose(ap, [average_precision_score(y[:, c], s[:, c]) for c in range(12)], rtol=0, atol=TOL)
    assert abs(M.micro_average_precision(y, s) - average_precision_score(y, s, average="micro")) < TOL


def test_all_tied_scores_and_extreme_ties():
    y = np.array([0, 1, 0, 1, 1])
    s = np.full(5, 0.3)
    assert M.roc_auc(y, s) == pytest.approx(0.5, abs=TOL)
    assert M.average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=TOL)  # 3/5


def test_hand_computed_auc_and_ap():
    # positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of 4 pairs ordered -> AUC 0.75.
    # Descending: 0.8 (+) P=1 R=1/2, 0.4 (-), 0.35 (+) P=2/3 R=1 -> AP = 1/2 * 1 + 1/2 * 2/3.
    y, s = [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]
    assert M.roc_auc(y, s) == pytest.approx(0.75, abs=TOL)
    assert M.average_precision(y, s) == pytest.approx(0.5 + 1 / 3, abs=TOL)


def test_accepts_torch_tensors():
    torch = pytest.importorskip("torch")
    y, s = _random_case(0, n=100, n_classes=3)
    expected = M.balanced_metrics(y, s)
    got = M.balanced_metrics(torch.tensor(y), torch.tensor(s, dtype=torch.float32))
    # float32 rounding of the scores can only merge ties that rounding to 1 decimal already made
    assert got == expected
    assert M.roc_auc(torch.tensor(y[:, 0]), torch.tensor(s[:, 0])) == pytest.approx(roc_auc_score(y[:, 0], s[:, 0]), abs=TOL)


# --- d' -----------------------------------------------------------------------------------------
def test_dprime_matches_inverse_normal_cdf():
    for auc in (0.01, 0.3, 0.5, 0.75, 0.9, 0.963, 0.999):
        assert M.dprime(auc) == pytest.approx(math.sqrt(2) * NormalDist().inv_cdf(auc), abs=1e-12)
    arr = M.dprime(np.array([[0.5, 0.75], [1.0, 0.0]]))
    assert arr.shape == (2, 2) and arr[0, 0] == 0.0
    assert arr[1, 0] == math.inf and arr[1, 1] == -math.inf
    assert math.isnan(M.dprime(float("nan")))


def test_dprime_reproduces_h17_figures():
    # H17 sec. 4.4: AUC 0.963 -> d' 2.522 and AUC 0.859 -> d' 1.524. The paper's AUCs are rounded to
    # three digits (0.963 gives 2.527 exactly), hence the tolerance of 0.006.
    assert M.dprime(0.963) == pytest.approx(2.522, abs=0.006)
    assert M.dprime(0.859) == pytest.approx(1.524, abs=0.006)


def test_dprime_rejects_out_of_range():
    with pytest.raises(ValueError, match="auc"):
        M.dprime(1.2)


def test_both_dprime_aggregations_on_hand_built_case():
    # class A: AUC 0.75, AP 5/6 (see test_hand_computed_auc_and_ap); class B: all scores tied, AUC 0.5,
    # AP = 2/4 (one threshold: precision 1/2 at recall 1).
    y = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    s = np.array([[0.1, 0.2], [0.4, 0.2], [0.35, 0.2], [0.8, 0.2]])
    m = M.balanced_metrics(y, s)
    inv = NormalDist().inv_cdf
    assert m["AUC"] == pytest.approx(0.625, abs=TOL)
    assert m["mAP"] == pytest.approx((5 / 6 + 0.5) / 2, abs=TOL)
    assert m["dprime_of_mean_auc"] == pytest.approx(math.sqrt(2) * inv(0.625), abs=1e-12)
    assert m["mean_dprime"] == pytest.approx((math.sqrt(2) * inv(0.75) + 0.0) / 2, abs=1e-12)
    assert m["dprime_of_mean_auc"] != pytest.approx(m["mean_dprime"], abs=1e-3)  # they differ
    assert (m["n_classes"], m["n_classes_evaluated"], m["n_classes_skipped"]) == (2, 2, 0)


# --- macro averages: skipped classes, no NaN ----------------------------------------------------------
def test_classes_without_positives_or_negatives_are_skipped_and_counted():
    y, s = _random_case(3, n=200, n_classes=5)
    y_ext = np.hstack([y, np.zeros((200, 1), int), np.ones((200, 1), int)])
    s_ext = np.hstack([s, np.random.default_rng(0).random((200, 2))])
    m = M.balanced_metrics(y_ext, s_ext)
    ref = M.balanced_metrics(y, s)
    assert (m["n_classes"], m["n_classes_evaluated"], m["n_classes_skipped"]) == (7, 5, 2)
    for key in ("mAP", "AUC", "dprime_of_mean_auc", "mean_dprime"):
        assert m[key] == ref[key]
        assert not math.isnan(m[key])
    table = M.per_class_metrics(y_ext, s_ext, classes=[f"c{i}" for i in range(7)])
    assert list(table.columns) == ["class", "n_pos", "prior", "AUC", "AP", "dprime", "evaluated"]
    assert table["evaluated"].tolist() == [True] * 5 + [False, False]
    assert table.loc[5, "n_pos"] == 0 and math.isnan(table.loc[5, "AUC"]) and math.isnan(table.loc[5, "AP"])
    assert table.loc[6, "AP"] == 1.0 and math.isnan(table.loc[6, "AUC"])
    assert table.loc[6, "prior"] == 1.0


def test_no_evaluable_class_gives_no_nan():
    m = M.balanced_metrics(np.zeros((4, 3)), np.random.default_rng(0).random((4, 3)))
    assert m["n_classes_evaluated"] == 0 and m["n_classes_skipped"] == 3
    assert not any(isinstance(v, float) and math.isnan(v) for v in m.values())


def test_perfect_classes_give_inf_never_nan():
    y = np.array([[1, 0], [1, 1], [0, 0], [0, 1]])
    s = np.array([[0.9, 0.1], [0.8, 0.9], [0.2, 0.3], [0.1, 0.6]])
    m = M.balanced_metrics(y, s)  # class 0 AUC 1, class 1 AUC 1
    assert m["n_classes_perfect"] == 2 and m["mean_dprime"] == math.inf and m["dprime_of_mean_auc"] == math.inf
    s2 = s.copy()
    s2[:, 1] = [0.9, 0.1, 0.8, 0.2]  # class 1 now perfectly inverted: AUC 0
    m2 = M.balanced_metrics(y, s2)
    assert M.roc_auc(y[:, 1], s2[:, 1]) == 0.0
    assert m2["AUC"] == 0.5 and m2["dprime_of_mean_auc"] == 0.0
    # +inf and -inf together: AUCs moved half a step (1 / (2 * 2 * 2)) inside -> symmetric, mean 0
    assert m2["mean_dprime"] == pytest.approx(0.0, abs=1e-12)
    assert not any(isinstance(v, float) and math.isnan(v) for v in m2.values())


@pytest.mark.parametrize("seed", range(3))
def test_balanced_metrics_match_a_loop_over_sklearn(seed):
    y, s = _random_case(seed, n=400, n_classes=20, decimals=2)
    y[:, 3] = 0  # one skipped class
    used = [c for c in range(20) if 0 < y[:, c].sum() < len(y)]
    aucs = np.array([roc_auc_score(y[:, c], s[:, c]) for c in used])
    aps = np.array([average_precision_score(y[:, c], s[:, c]) for c in used])
    inv = NormalDist().inv_cdf
    m = M.balanced_metrics(y, s)
    assert abs(m["AUC"] - aucs.mean()) < TOL
    assert abs(m["mAP"] - aps.mean()) < TOL
    assert abs(m["dprime_of_mean_auc"] - math.sqrt(2) * inv(aucs.mean())) < 1e-10
    assert abs(m["mean_dprime"] - np.mean([math.sqrt(2) * inv(a) for a in aucs])) < 1e-10
    assert m["n_classes_skipped"] == 1


def test_large_input_is_chunked_consistently(monkeypatch):
    y, s = _random_case(7, n=300, n_classes=9, decimals=2)
    whole = M.per_class_metrics(y, s)
    monkeypatch.setattr(M, "_CHUNK_ELEMENTS", 600)  # two columns per chunk
    chunked = M.per_class_metrics(y, s)
    assert whole.equals(chunked)


# --- accuracy -----------------------------------------------------------------------------------
def test_accuracy():
    assert M.accuracy([0, 1, 2, 2], [0, 2, 2, 2]) == 0.75
    assert M.accuracy(["dog", "rain"], ["dog", "dog"]) == 0.5
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert M.accuracy([1, 0, 0], scores) == pytest.approx(2 / 3)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_accuracy_matches_sklearn_with_ties(seed, k):
    rng = np.random.default_rng(seed)
    scores = np.round(rng.random((200, 6)), 1)  # many ties
    labels = rng.integers(0, 6, 200)
    labels[:6] = np.arange(6)
    assert M.top_k_accuracy(labels, scores, k=k) == pytest.approx(
        top_k_accuracy_score(labels, scores, k=k, labels=np.arange(6)), abs=TOL)


# --- bad input ----------------------------------------------------------------------------------
def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="y_score.*NaN"):
        M.roc_auc([0, 1], [0.1, float("nan")])
    with pytest.raises(ValueError, match="y_true.*0 or 1"):
        M.average_precision([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="same shape"):
        M.balanced_metrics(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="no negative example"):
        M.roc_auc([1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="no positive example"):
        M.average_precision([0, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="2-D"):
        M.balanced_metrics([0, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="parameter k"):
        M.top_k_accuracy([0], [[0.1, 0.2]], k=0)
    with pytest.raises(ValueError, match="classes"):
        M.per_class_metrics(np.zeros((2, 2)), np.zeros((2, 2)), classes=["a"])


def test_accepts_low_precision_torch_tensors():
    torch = pytest.importorskip("torch")
    y = torch.tensor([0, 1, 0, 1], dtype=torch.bool)
    s = torch.tensor([0.25, 0.75, 0.5, 0.5], dtype=torch.bfloat16)
    assert M.roc_auc(y, s) == pytest.approx(roc_auc_score([0, 1, 0, 1], [0.25, 0.75, 0.5, 0.5]), abs=TOL)
