"""Expected against realised hit rate and return, with bands from the bets' own probabilities.

Every settled bet carries the probability the model gave it, the odds it was bought at, its
stake and what it paid. If the probabilities are right, the number of hits is a sum of
independent Bernoulli(p_i) (Poisson-binomial) with mean Σp and variance Σp(1−p), and the
return Σ payout has mean Σ stake·o·p and variance Σ stake²·o²·p(1−p). A realised value within
`band_z` standard deviations of its mean is luck; below it, beyond luck, the probabilities
were too high (suspect calibration); above it, the bettor did better than its own model says.

Hits and return are judged separately (seed 001: 的中率/回収率の分離監視): hits test the
probabilities alone; return also weighs each bet by its payout, so a return below expectation
with hits within luck points at the long shots (or at payouts below the odds bought at).
The bands use a normal approximation, so they are judged only from `min_bets` bets on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["BetOutcome", "MetricBand", "PerformanceBands", "Verdict", "performance_bands"]


class Verdict(StrEnum):
    WITHIN_LUCK = "within_luck"
    BELOW = "below_expectation"
    """Below expectation beyond luck: suspect calibration."""
    ABOVE = "above_expectation"
    INSUFFICIENT = "insufficient_data"


@dataclass(frozen=True)
class BetOutcome:
    """One settled bet. `payout_yen` is 0 for a loss; leave refunded bets (返還) out."""

    probability: float
    odds: float
    stake_yen: int
    payout_yen: int

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability <= 1.0 or math.isnan(self.probability):
            raise ValueError(f"probability must be in [0, 1], was {self.probability}")
        if not self.odds >= 1.0:
            raise ValueError(f"odds must be at least 1.0, was {self.odds}")
        if self.stake_yen <= 0 or self.payout_yen < 0:
            raise ValueError(f"stake must be positive and payout not negative: {self}")


@dataclass(frozen=True)
class MetricBand:
    """Expected and realised values of one metric, with its standard deviation and verdict."""

    expected: float
    realised: float
    sd: float
    z: float | None
    """(realised − expected) / sd; None when sd is 0 (every bet certain)."""
    verdict: Verdict
    band_z: float

    @property
    def low(self) -> float:
        """The lower edge of the luck band: expected − band_z·sd."""
        return self.expected - self.band_z * self.sd

    @property
    def high(self) -> float:
        """The upper edge of the luck band: expected + band_z·sd."""
        return self.expected + self.band_z * self.sd


@dataclass(frozen=True)
class PerformanceBands:
    """Hits and return of a set of settled bets, each against its own band."""

    bets: int
    staked_yen: int
    hits: MetricBand
    return_yen: MetricBand
    band_z: float

    @property
    def hit_rate(self) -> float:
        return self.hits.realised / self.bets if self.bets else 0.0

    @property
    def expected_hit_rate(self) -> float:
        return self.hits.expected / self.bets if self.bets else 0.0

    @property
    def return_rate(self) -> float:
        """回収率: realised return per yen staked."""
        return self.return_yen.realised / self.staked_yen if self.staked_yen else 0.0

    @property
    def expected_return_rate(self) -> float:
        return self.return_yen.expected / self.staked_yen if self.staked_yen else 0.0

    @property
    def verdict(self) -> Verdict:
        """Below if either metric is below; above if either is above and none below."""
        verdicts = {self.hits.verdict, self.return_yen.verdict}
        for v in (Verdict.INSUFFICIENT, Verdict.BELOW, Verdict.ABOVE):
            if v in verdicts:
                return v
        return Verdict.WITHIN_LUCK


def _band(
    expected: float, realised: float, variance: float, band_z: float, enough: bool
) -> MetricBand:
    sd = math.sqrt(max(variance, 0.0))
    if sd == 0.0:
        z = None
        off = realised - expected
        verdict = Verdict.BELOW if off < -1e-9 else Verdict.ABOVE if off > 1e-9 else None
    else:
        z = (realised - expected) / sd
        verdict = Verdict.BELOW if z < -band_z else Verdict.ABOVE if z > band_z else None
    if not enough:
        verdict = Verdict.INSUFFICIENT
    return MetricBand(expected, realised, sd, z, verdict or Verdict.WITHIN_LUCK, band_z)


def performance_bands(
    bets: Iterable[BetOutcome | tuple[float, float, int, int]],
    *,
    band_z: float = 1.96,
    min_bets: int = 30,
) -> PerformanceBands:
    """Expected and realised hits and return, with z-scores and a verdict for each.

    `bets` are `BetOutcome`s or `(probability, odds, stake_yen, payout_yen)` tuples. A bet is
    a hit when it paid anything. With fewer than `min_bets` bets every verdict is
    `insufficient_data` (the numbers are still computed).
    """
    n = staked = hits = 0
    returned = 0
    e_hits = v_hits = e_ret = v_ret = 0.0
    for raw in bets:
        bet = raw if isinstance(raw, BetOutcome) else BetOutcome(*raw)
        p, gross = bet.probability, bet.stake_yen * bet.odds
        n += 1
        staked += bet.stake_yen
        hits += bet.payout_yen > 0
        returned += bet.payout_yen
        e_hits += p
        v_hits += p * (1.0 - p)
        e_ret += gross * p
        v_ret += gross * gross * p * (1.0 - p)
    enough = n >= min_bets
    return PerformanceBands(
        bets=n,
        staked_yen=staked,
        hits=_band(e_hits, float(hits), v_hits, band_z, enough),
        return_yen=_band(e_ret, float(returned), v_ret, band_z, enough),
        band_z=band_z,
    )
