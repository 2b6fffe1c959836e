"""Claims, paired estimates with 95 % intervals, and one verdict rule.

A reproducibility workbook answers one question per claim of a paper: does it hold here, and how
sure are we? Each paper declares its claims once, as data (:class:`Claim`: a stable id, the
paper's sentence quoted exactly, where it stands, the paper's own numbers, and the direction of
the effect it asserts). A notebook measures, per replicate (a seed, or a seed x fold), the effect
the claim is about (a paired difference, a slope, a rank correlation); :func:`estimate` turns
those replicate values into a mean with a 95 % interval, and :func:`verdict` applies the one rule:

==================  ==========================================================================
direction           verdict
==================  ==========================================================================
``greater``         **reproduced** when the interval lies above ``margin`` (the paper's side),
                    **contradicted** when it lies below ``margin``, **inconclusive** when it
                    straddles ``margin`` (``margin`` is 0 unless the claim says otherwise)
``less``            the mirror image: reproduced when the interval lies below ``margin``,
                    contradicted when it lies above it, inconclusive when it straddles it
``equivalent``      a "no effect" claim: reproduced when the interval lies inside
                    ``(-margin, margin)``, contradicted when it lies wholly outside
                    ``[-margin, margin]``, inconclusive otherwise
==================  ==========================================================================

A claim this machine cannot test (no data, no weights) is **not testable here**, with the reason
(declared on the claim as ``untestable``, or measured as ``None`` with a note saying what is
absent); one measured on a single replicate has no interval, and one a run did not measure (an arm
left out of a profile) has no estimate: both are **inconclusive**.

The interval is Student's t over replicates: the effect is computed within each replicate, so
arms that share seeds and folds are compared paired (:func:`paired_differences`); arms that do
not are compared with Welch's interval (:func:`welch_estimate`).

>>> e = estimate([0.05, 0.07, 0.06])
>>> (round(e.value, 3), round(e.low, 3), round(e.high, 3), e.n)
(0.06, 0.035, 0.085, 3)
>>> verdict(e, "greater")
'reproduced'
>>> verdict(estimate([0.05, -0.07, 0.06]), "greater")
'inconclusive'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

VERDICTS = ("reproduced", "contradicted", "inconclusive", "not testable here")
DIRECTIONS = ("greater", "less", "equivalent")
CONFIDENCE = 0.95

#: The findings table's columns (besides the ``experiment`` column the run adds).
FINDINGS_COLUMNS = ("claim_id", "paper", "where", "quote", "paper_numbers", "metric", "value", "ci_low",
                    "ci_high", "n", "replicates", "direction", "margin", "scale", "verdict", "note")


@dataclass(frozen=True)
class Estimate:
    """A mean effect over ``n`` replicates with its 95 % interval ``[low, high]`` (NaN when n < 2)."""

    value: float
    low: float
    high: float
    n: int
    method: str = "paired t"

    @property
    def has_interval(self) -> bool:
        return self.n >= 2 and math.isfinite(self.low) and math.isfinite(self.high)


@dataclass(frozen=True)
class Claim:
    """One claim of a paper, declared once.

    Attributes:
        id: stable id, ``<PAPER>-<where>-<short name>``, e.g. ``"H17-T2-cnns-beat-fc"``.
        paper: ``"H17"``, ``"T19"``, ``"X18"`` or ``"C19"``.
        quote: the paper's sentence, exactly as in ``../shared/papers``.
        where: section / table / figure, e.g. ``"sec. 4.1, Table 2"``.
        paper_numbers: the paper's own numbers behind the claim, quoted (``""`` when it gives none).
        metric: what our estimate measures, e.g. ``"min over CNNs of AUC(CNN) - AUC(FC)"``.
        direction: ``greater`` (effect > margin), ``less`` (effect < margin) or ``equivalent``
            (|effect| < margin).
        margin: the threshold of ``direction`` (0 by default; required > 0 for ``equivalent``).
        scale_needed: what scale would settle the claim when this machine's run cannot, e.g.
            ``"full profile, about 40 GPU-hours"``; shown beside an inconclusive verdict.
        untestable: the reason the claim is not testable here (``""`` when it is testable).
    """

    id: str
    paper: str
    quote: str
    where: str
    paper_numbers: str
    metric: str
    direction: str = "greater"
    margin: float = 0.0
    scale_needed: str = ""
    untestable: str = ""

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"claim {self.id}: direction {self.direction!r} not in {DIRECTIONS}")
        if self.direction == "equivalent" and not self.margin > 0:
            raise ValueError(f"claim {self.id}: an 'equivalent' claim needs a margin > 0")


# -- estimates ---------------------------------------------------------------------------------
def estimate(values: Iterable[float], method: str = "paired t") -> Estimate:
    """Mean of per-replicate ``values`` with a Student-t 95 % interval.

    Args:
        values: one effect per replicate (seed, or seed x fold), e.g. paired differences.
            NaN values are an error: a replicate that produced no number must be named, not dropped.
    """
    x = np.asarray(list(values), dtype=float)
    if x.size == 0:
        raise ValueError("estimate needs at least one replicate value")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"estimate got non-finite replicate values: {x.tolist()}")
    mean = float(x.mean())
    if x.size < 2:
        return Estimate(mean, math.nan, math.nan, int(x.size), method)
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, df=x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return Estimate(mean, mean - half, mean + half, int(x.size), method)


def welch_estimate(a: Sequence[float], b: Sequence[float]) -> Estimate:
    """Unpaired difference ``mean(a) - mean(b)`` with Welch's 95 % interval (n = len(a) + len(b)).

    Use it only when the two arms share no seeds or folds; paired replicates give tighter and
    fairer intervals (:func:`paired_differences`).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2:
        return Estimate(diff, math.nan, math.nan, int(a.size + b.size), "Welch t")
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    if se == 0:
        return Estimate(diff, diff, diff, int(a.size + b.size), "Welch t")
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, df=df) * se)
    return Estimate(diff, diff - half, diff + half, int(a.size + b.size), "Welch t")


def verdict(e: Estimate | None, direction: str, margin: float = 0.0) -> str:
    """The one verdict rule (see the module docstring). ``None`` means not testable here."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction {direction!r} not in {DIRECTIONS}")
    if e is None:
        return "not testable here"
    if not e.has_interval:
        return "inconclusive"
    if direction == "greater":
        return "reproduced" if e.low > margin else "contradicted" if e.high < margin else "inconclusive"
    if direction == "less":
        return "reproduced" if e.high < margin else "contradicted" if e.low > margin else "inconclusive"
    if -margin < e.low and e.high < margin:
        return "reproduced"
    return "contradicted" if (e.low > margin or e.high < -margin) else "inconclusive"


# -- per-replicate effects from tidy tables ------------------------------------------------------
REPLICATE_KEYS = ("seed", "fold")


def replicate_keys(table: pd.DataFrame) -> list[str]:
    """The replicate columns present in ``table`` (``seed``, ``fold``)."""
    return [k for k in REPLICATE_KEYS if k in table.columns]


def arm_values(table: pd.DataFrame, metric: str, arm_column: str, arm) -> pd.Series:
    """``metric`` of one arm indexed by replicate (seed[, fold]); an arm measured twice is an error."""
    rows = table[(table["metric"] == metric) & (table[arm_column] == arm)]
    if rows.empty:
        raise KeyError(f"no rows with metric {metric!r} and {arm_column} == {arm!r}")
    keys = replicate_keys(rows) or ["_single"]
    rows = rows.assign(_single=0) if keys == ["_single"] else rows
    if rows.duplicated(keys).any():
        raise ValueError(f"{arm_column} == {arm!r}: metric {metric!r} appears more than once per replicate {keys}; "
                         "select the rows first")
    return rows.set_index(keys)["value"].astype(float)


def paired_differences(table: pd.DataFrame, metric: str, arm_column: str, a, b) -> pd.Series:
    """``metric(a) - metric(b)`` per shared replicate (seed, fold): the paired effect.

    Replicates present in only one arm are an error, never silently dropped.
    """
    va, vb = arm_values(table, metric, arm_column, a), arm_values(table, metric, arm_column, b)
    return paired(va, vb, what=f"{a!r} and {b!r}").rename(f"{metric}({a}) - {metric}({b})")


def paired(a: pd.Series, b: pd.Series, *, what: str = "the arms", unit: str = "replicates") -> pd.Series:
    """``a - b`` aligned on their replicate index; replicates present in only one are an error, never dropped."""
    only = a.index.symmetric_difference(b.index)
    if len(only):
        raise ValueError(f"{what} do not share {unit} {list(only)}: cannot pair them")
    return a - b.loc[a.index]


def per_replicate(table: pd.DataFrame, statistic: Callable[[pd.DataFrame], float]) -> pd.Series:
    """``statistic`` of each replicate's rows (e.g. a slope or a rank correlation within one seed)."""
    keys = replicate_keys(table)
    if not keys:
        return pd.Series([float(statistic(table))])
    return table.groupby(keys).apply(lambda rows: float(statistic(rows)))


def slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of ``y`` on ``x``."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return float(np.polyfit(x, y, 1)[0])


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (0 when either side is constant)."""
    if np.ptp(np.asarray(x, dtype=float)) == 0 or np.ptp(np.asarray(y, dtype=float)) == 0:
        return 0.0
    rho = stats.spearmanr(x, y).statistic
    return 0.0 if not np.isfinite(rho) else float(rho)


# -- the findings table --------------------------------------------------------------------------
@dataclass
class Finding:
    """One claim's outcome on this run: the claim, its estimate (or why none), the scale it ran at."""

    claim: Claim
    estimate: Estimate | None
    scale: str
    note: str = ""
    replicates: str = ""

    run: bool = True

    @property
    def verdict(self) -> str:
        if not self.run:
            return "inconclusive"
        if self.claim.untestable or self.estimate is None:
            return "not testable here"
        return verdict(self.estimate, self.claim.direction, self.claim.margin)

    def row(self) -> dict:
        e, c = self.estimate, self.claim
        note = self.note or (c.untestable if self.verdict == "not testable here" else "")
        if not self.run:
            note = "; ".join(filter(None, ["not measured in this run", note]))
        if self.verdict == "inconclusive" and c.scale_needed:
            note = "; ".join(filter(None, [note, f"needs {c.scale_needed}"]))
        if e is not None and e.n < 2:
            note = "; ".join(filter(None, [note, "one replicate: no interval (run more SEEDS)"]))
        return {"claim_id": c.id, "paper": c.paper, "where": c.where, "quote": c.quote,
                "paper_numbers": c.paper_numbers, "metric": c.metric,
                "value": e.value if e else math.nan, "ci_low": e.low if e else math.nan,
                "ci_high": e.high if e else math.nan, "n": e.n if e else 0, "replicates": self.replicates,
                "direction": c.direction, "margin": c.margin, "scale": self.scale, "verdict": self.verdict,
                "note": note}


def judge(claims: Mapping[str, Claim] | Sequence[Claim], measured: Mapping[str, Sequence[float] | Estimate | None],
          *, scale: str, replicates: str = "", notes: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The findings table: one tidy row per claim, with estimate, 95 % interval, n and verdict.

    Args:
        claims: the claims this notebook tests (a paper's ``CLAIMS`` or a selection of them).
        measured: per claim id, the per-replicate effect values, a ready :class:`Estimate`, or
            ``None`` when this machine cannot measure it (data or weights absent: not testable
            here; say what is absent in ``notes``). A claim missing from ``measured`` was not run
            (e.g. its arm is left out of the profile): inconclusive, "not measured in this run".
            A claim declared ``untestable`` is not testable here, whatever is measured.
        scale: the scale the run measured at, e.g. ``"quick: synthetic 1000 clips, width 1/16"``.
        replicates: what a replicate is, e.g. ``"3 seeds"`` or ``"3 seeds x 2 folds"``.
        notes: optional per-claim notes (why not measured, what differs from the paper).

    Returns:
        DataFrame with :data:`FINDINGS_COLUMNS`: ``metric`` names the effect, ``value`` its mean.
    """
    claims = list(claims.values()) if isinstance(claims, Mapping) else list(claims)
    notes = dict(notes or {})
    unknown = set(measured) - {c.id for c in claims}
    if unknown:
        raise KeyError(f"measured effects for unknown claim ids: {sorted(unknown)}")
    rows = []
    for claim in claims:
        value = measured.get(claim.id)
        e = value if isinstance(value, Estimate) or value is None else estimate(value)
        if claim.untestable:
            e = None
        was_run = claim.id in measured or bool(claim.untestable)
        rows.append(Finding(claim, e, scale, notes.get(claim.id, ""), replicates, run=was_run).row())
    return pd.DataFrame(rows, columns=list(FINDINGS_COLUMNS))


def format_effect(value: float, low: float, high: float) -> str:
    """``+0.060 [+0.035, +0.085]``; ``-`` when not measured, no interval when n < 2.

    >>> format_effect(0.06, 0.035, 0.085), format_effect(0.3, math.nan, math.nan), format_effect(math.nan, 0, 0)
    ('+0.060 [+0.035, +0.085]', '+0.300', '-')
    """
    if not math.isfinite(float(value)):
        return "-"
    ci = f" [{low:+.3f}, {high:+.3f}]" if math.isfinite(float(low)) else ""
    return f"{value:+.3f}{ci}"


def summary(findings: pd.DataFrame) -> pd.DataFrame:
    """A compact view for display: claim, ours [95 % CI], n, verdict."""
    return pd.DataFrame({"claim": findings["claim_id"], "where": findings["where"], "effect": findings["metric"],
                         "ours [95% CI]": [format_effect(v, lo, hi) for v, lo, hi in
                                           zip(findings["value"], findings["ci_low"], findings["ci_high"])], "n": findings["n"],
                         "paper": findings["paper_numbers"], "verdict": findings["verdict"]})


def check_quotes(claims: Iterable[Claim], paper_text: str) -> list[str]:
    """Claims whose quote is not in ``paper_text`` verbatim (white space folded)."""
    folded = " ".join(paper_text.split())
    return [c.id for c in claims if " ".join(c.quote.split()) not in folded]


@dataclass
class ClaimSet:
    """A paper's claims, declared once, looked up by id."""

    paper: str
    claims: list[Claim] = field(default_factory=list)

    def add(self, **kw) -> Claim:
        claim = Claim(paper=self.paper, **kw)
        if claim.id in self.by_id():
            raise ValueError(f"claim {claim.id} declared twice")
        self.claims.append(claim)
        return claim

    def by_id(self) -> dict[str, Claim]:
        return {c.id: c for c in self.claims}

    def select(self, *ids: str) -> list[Claim]:
        table = self.by_id()
        missing = [i for i in ids if i not in table]
        if missing:
            raise KeyError(f"{self.paper}: no claims {missing}; declared: {sorted(table)}")
        return [table[i] for i in ids]
