"""Odds at decision time, where the data only hold the final odds.

Final odds include the money bet in the last minutes, which nobody deciding before the close
could see: deciding at them flatters any strategy that agrees with late money. Where a backtest
has no odds snapshot from before its decision time, it prices the decision with
`decision_odds(final odds, race, drift)`: each runner's implied probability π = 1/odds is
multiplied by exp(σZ − σ²/2) (Z standard normal, so the mean factor is 1), the race's overround
Σπ is kept, and the odds are rounded down to JRA's 0.1 steps (at least 1.1, JRA's smallest
quoted win odds above 元返し). The draw is seeded by (seed, race id), so the same race gets the
same prices whatever period is replayed. Payouts are never touched: tickets are paid the real
final payouts, as pari-mutuel tickets are.

σ is an assumption, not a fit: the 2018 data hold no pre-race odds. 0.10 moves a typical
runner's price by about ±10%.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import numpy as np

from keiba.common.config import OddsDriftConfig

__all__ = ["MIN_ODDS", "decision_odds"]

MIN_ODDS = 1.1


def _race_seed(seed: int, race_id: str) -> list[int]:
    digest = hashlib.sha256(race_id.encode("utf-8")).digest()
    return [seed & 0xFFFFFFFF, int.from_bytes(digest[:8], "little")]


def decision_odds(final_odds: Sequence[float], race_id: str, drift: OddsDriftConfig) -> list[float]:
    """The odds a bettor saw before the close, drawn from the race's final win odds."""
    odds = np.asarray(final_odds, dtype=np.float64)
    if odds.size == 0:
        return []
    if not np.all(np.isfinite(odds)) or np.any(odds <= 1.0):
        bad = next(o for o in odds.tolist() if not (math.isfinite(o) and o > 1.0))
        raise ValueError(f"race {race_id}: final odds must be finite and above 1.0, saw {bad}")
    if drift.model == "none" or drift.sigma == 0.0:
        return [float(o) for o in odds]
    rng = np.random.default_rng(_race_seed(drift.seed, race_id))
    implied = 1.0 / odds
    sigma = drift.sigma
    moved = implied * np.exp(sigma * rng.standard_normal(odds.size) - sigma * sigma / 2.0)
    moved *= implied.sum() / moved.sum()
    # round down to 0.1 like JRA's quotes (1e-9 guards 1/0.25 = 3.9999999…)
    quoted = np.floor(10.0 / moved + 1e-9) / 10.0
    return [float(o) for o in np.maximum(quoted, MIN_ODDS)]
