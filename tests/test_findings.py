"""The verdict rule and the estimates behind it, on constructed tables with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from audiolib import findings
from audiolib.findings import Claim, estimate, judge, paired_differences, verdict, welch_estimate


def arms(a: list[float], b: list[float]) -> pd.DataFrame:
    """A tidy table of two arms measured on the same seeds."""
    seeds = list(range(len(a)))
    return pd.DataFrame({"model": ["a"] * len(a) + ["b"] * len(b), "seed": seeds + seeds, "metric": "AUC",
                         "value": a + b})


def test_estimate_hand_computed():
    # mean 0.06, sd 0.01, n 3: half width t(0.975, 2) * 0.01 / sqrt(3) = 4.302653 * 0.0057735 = 0.0248414
    e = estimate([0.05, 0.06, 0.07])
    assert e.value == pytest.approx(0.06, abs=1e-12)
    assert e.high - e.value == pytest.approx(0.0248414, abs=1e-6)
    assert e.n == 3


def test_single_replicate_has_no_interval_and_is_inconclusive():
    e = estimate([0.3])
    assert math.isnan(e.low) and not e.has_interval
    assert verdict(e, "greater") == "inconclusive"


def test_non_finite_replicates_are_refused():
    with pytest.raises(ValueError, match="non-finite"):
        estimate([0.1, float("nan")])


@pytest.mark.parametrize("a, b, direction, expected", [
    ([0.70, 0.72, 0.71], [0.60, 0.61, 0.62], "greater", "reproduced"),     # clearly above
    ([0.60, 0.61, 0.62], [0.70, 0.72, 0.71], "greater", "contradicted"),   # clearly below
    ([0.70, 0.60, 0.66], [0.65, 0.66, 0.64], "greater", "inconclusive"),   # straddles 0
    ([0.60, 0.61, 0.62], [0.70, 0.72, 0.71], "less", "reproduced"),
    ([0.70, 0.72, 0.71], [0.60, 0.61, 0.62], "less", "contradicted"),
])
def test_verdict_on_paired_arms(a, b, direction, expected):
    diff = paired_differences(arms(a, b), "AUC", "model", "a", "b")
    assert verdict(estimate(diff), direction) == expected


def test_pairing_removes_shared_seed_variance():
    # Each seed shifts both arms alike; a is always 0.01 above b. Paired: clearly positive.
    # Unpaired (Welch): the seed spread swamps the 0.01 and the interval straddles 0.
    shift = [0.0, 0.10, -0.10, 0.05]
    a = [0.71 + s for s in shift]
    b = [0.70 + s for s in shift]
    paired = estimate(paired_differences(arms(a, b), "AUC", "model", "a", "b"))
    unpaired = welch_estimate(a, b)
    assert verdict(paired, "greater") == "reproduced"
    assert verdict(unpaired, "greater") == "inconclusive"
    assert paired.value == pytest.approx(unpaired.value)


def test_welch_hand_computed():
    # a: mean 2, var 1 (n 3); b: mean 0, var 1 (n 3): se sqrt(2/3), df 4, t(0.975, 4) = 2.776445
    e = welch_estimate([1.0, 2.0, 3.0], [-1.0, 0.0, 1.0])
    assert e.value == pytest.approx(2.0)
    assert e.high - e.value == pytest.approx(2.776445 * math.sqrt(2 / 3), rel=1e-6)


@pytest.mark.parametrize("values, expected", [
    ([0.001, -0.002, 0.0005, 0.001], "reproduced"),     # inside (-0.01, 0.01)
    ([0.05, 0.06, 0.055], "contradicted"),              # wholly above the margin
    ([0.0, 0.02, 0.01, -0.005], "inconclusive"),        # crosses the margin
])
def test_equivalence_claims(values, expected):
    assert verdict(estimate(values), "equivalent", margin=0.01) == expected


def test_margin_shifts_the_threshold():
    e = estimate([0.03, 0.031, 0.032])
    assert verdict(e, "greater", margin=0.0) == "reproduced"
    assert verdict(e, "greater", margin=0.05) == "contradicted"


def test_unpaired_replicates_are_an_error_not_dropped():
    table = arms([0.7, 0.71, 0.72], [0.6, 0.61, 0.62])
    table = table[~((table["model"] == "b") & (table["seed"] == 2))]
    with pytest.raises(ValueError, match="share replicates"):
        paired_differences(table, "AUC", "model", "a", "b")


def test_a_measurement_twice_per_replicate_is_an_error():
    table = pd.concat([arms([0.7], [0.6])] * 2)
    with pytest.raises(ValueError, match="more than once"):
        paired_differences(table, "AUC", "model", "a", "b")


def test_per_replicate_slope_and_rank_correlation():
    rows = []
    for seed, gain in enumerate([0.1, 0.2, 0.15]):
        for size in (10, 100, 1000):
            rows.append({"seed": seed, "size": size, "metric": "AUC", "value": 0.5 + gain * math.log10(size)})
    table = pd.DataFrame(rows)
    slopes = findings.per_replicate(table, lambda r: findings.slope(np.log10(r["size"]), r["value"]))
    assert slopes.tolist() == pytest.approx([0.1, 0.2, 0.15])
    rho = findings.per_replicate(table, lambda r: findings.spearman(r["size"], r["value"]))
    assert rho.tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert findings.spearman([1, 2, 3], [5, 5, 5]) == 0.0


def test_judge_builds_one_row_per_claim():
    claims = findings.ClaimSet("H17")
    claims.add(id="H17-T2-x", quote="All CNNs beat the fully-connected baseline.", where="sec. 4.1",
               paper_numbers="AUC 0.851 vs 0.894", metric="AUC(CNN) - AUC(FC)")
    claims.add(id="H17-T3-y", quote="q", where="Table 3", paper_numbers="", metric="m", untestable="no data here")
    claims.add(id="H17-T4-z", quote="q", where="Table 4", paper_numbers="", metric="m", direction="equivalent",
               margin=0.01, scale_needed="full profile, about 10 GPU-hours")
    table = judge(claims.claims, {"H17-T2-x": [0.1, 0.12, 0.11], "H17-T4-z": [0.0, 0.03, -0.02]},
                  scale="quick", replicates="3 seeds")
    assert list(table.columns) == list(findings.FINDINGS_COLUMNS)
    by_id = table.set_index("claim_id")
    assert by_id.loc["H17-T2-x", "verdict"] == "reproduced" and by_id.loc["H17-T2-x", "n"] == 3
    assert by_id.loc["H17-T3-y", "verdict"] == "not testable here"
    assert by_id.loc["H17-T3-y", "note"] == "no data here"
    assert by_id.loc["H17-T4-z", "verdict"] == "inconclusive"
    assert "10 GPU-hours" in by_id.loc["H17-T4-z", "note"]
    unmeasured = judge(claims.claims[:1], {}, scale="quick").iloc[0]
    assert unmeasured["verdict"] == "inconclusive" and unmeasured["note"].startswith("not measured in this run")
    with pytest.raises(KeyError, match="unknown claim"):
        judge(claims.claims, {"H17-nope": [1.0]}, scale="quick")


def test_claims_are_checked_when_declared():
    with pytest.raises(ValueError, match="margin"):
        Claim(id="x", paper="H17", quote="q", where="w", paper_numbers="", metric="m", direction="equivalent")
    with pytest.raises(ValueError, match="direction"):
        Claim(id="x", paper="H17", quote="q", where="w", paper_numbers="", metric="m", direction="bigger")
    claims = findings.ClaimSet("H17")
    claims.add(id="a", quote="q", where="w", paper_numbers="", metric="m")
    with pytest.raises(ValueError, match="twice"):
        claims.add(id="a", quote="q", where="w", paper_numbers="", metric="m")


def test_check_quotes_folds_white_space():
    text = "All CNNs beat the\nfully-connected   baseline. Inception and ResNet"
    claims = [Claim(id="ok", paper="H17", quote="All CNNs beat the fully-connected baseline.", where="w",
                    paper_numbers="", metric="m"),
              Claim(id="bad", paper="H17", quote="All CNNs beat FC.", where="w", paper_numbers="", metric="m")]
    assert findings.check_quotes(claims, text) == ["bad"]
