"""`decide`: win bets from probabilities, odds and a bankroll, with every rejection explained.

The policy (EV threshold, Kelly fraction, caps, units) is a `ThemisConfig`. The steps:

1. validate the inputs (probabilities in [0, 1] summing to 1, odds above 1.0 for known
   runners, a non-negative bankroll) — a bad input raises `DecisionError` naming the field;
2. for each runner, expected return er = p·o; below the threshold → rejected;
3. stake fraction = Kelly × kelly_fraction, capped per ticket;
4. if the race total exceeds the race cap, all stakes are scaled down together;
5. each stake is rounded *down* to the unit (100 yen) and checked in integer yen against the
   ticket and race caps, so no cap is ever exceeded; a stake below the minimum is rejected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from keiba.common.bet_types import BetType
from keiba.common.config import ThemisConfig
from keiba.common.errors import KeibaError
from keiba.common.money import Yen, round_down_to_unit
from keiba.themis.sizing import expected_return, kelly_fraction

__all__ = ["Bet", "Decision", "DecisionError", "Rejection", "decide"]

PROBABILITY_TOLERANCE = 1e-6


class DecisionError(KeibaError, ValueError):
    """An input to `decide` is invalid; names the field and the value."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        super().__init__(f"{field} = {value!r}: {reason}")


@dataclass(frozen=True)
class Bet:
    bet_type: BetType
    combination: str
    stake: Yen
    probability: float
    odds: float
    expected_return: float
    rule: str


@dataclass(frozen=True)
class Rejection:
    bet_type: BetType
    combination: str
    reason: str
    probability: float
    odds: float


@dataclass(frozen=True)
class Decision:
    bets: tuple[Bet, ...]
    rejections: tuple[Rejection, ...]
    bankroll: Yen

    @property
    def total_stake(self) -> Yen:
        return Yen(sum(b.stake for b in self.bets))


def _validate(probabilities: Mapping[int, float], odds: Mapping[int, float], bankroll: int) -> None:
    if isinstance(bankroll, bool) or not isinstance(bankroll, int):
        raise DecisionError("bankroll", bankroll, "must be a whole number of yen")
    if bankroll < 0:
        raise DecisionError("bankroll", bankroll, "must not be negative")
    if not probabilities:
        raise DecisionError("probabilities", {}, "no runners")
    for runner, p in probabilities.items():
        if not isinstance(p, float | int) or math.isnan(p) or not 0.0 <= p <= 1.0:
            raise DecisionError(f"probabilities[{runner}]", p, "must be within [0, 1]")
    total = math.fsum(probabilities.values())
    if abs(total - 1.0) > PROBABILITY_TOLERANCE:
        raise DecisionError("probabilities", f"sum {total:.9f}", "must sum to 1")
    for runner, o in odds.items():
        if runner not in probabilities:
            raise DecisionError(f"odds[{runner}]", o, "unknown runner (no probability)")
        if not isinstance(o, float | int) or math.isnan(o) or o <= 1.0:
            raise DecisionError(f"odds[{runner}]", o, "must be above 1.0")


def decide(
    probabilities: Mapping[int, float],
    odds: Mapping[int, float],
    bankroll: int,
    policy: ThemisConfig,
) -> Decision:
    """Win bets for one race. Runners without odds are not offered and so not bet."""
    _validate(probabilities, odds, bankroll)
    rejections: list[Rejection] = []
    candidates: list[tuple[int, float, float, float]] = []
    for runner in sorted(odds):
        p, o = float(probabilities[runner]), float(odds[runner])
        er = expected_return(p, o)
        combo = str(runner)
        if p < policy.min_probability:
            rejections.append(Rejection(BetType.WIN, combo, "probability below minimum", p, o))
        elif er < policy.ev_threshold:
            rejections.append(
                Rejection(BetType.WIN, combo, f"EV {er:.3f} below {policy.ev_threshold}", p, o)
            )
        else:
            fraction = min(kelly_fraction(p, o) * policy.kelly_fraction, policy.max_ticket_fraction)
            candidates.append((runner, p, o, fraction))
    if bankroll <= 0 and candidates:
        for runner, p, o, _ in candidates:
            rejections.append(Rejection(BetType.WIN, str(runner), "bankroll is zero", p, o))
        candidates = []
    total_fraction = math.fsum(c[3] for c in candidates)
    scale = min(1.0, policy.max_race_fraction / total_fraction) if total_fraction > 0 else 1.0
    race_cap = round_down_to_unit(math.floor(bankroll * policy.max_race_fraction), policy.unit_yen)
    ticket_cap = round_down_to_unit(
        math.floor(bankroll * policy.max_ticket_fraction), policy.unit_yen
    )
    bets: list[Bet] = []
    committed = 0
    for runner, p, o, fraction in sorted(candidates, key=lambda c: -c[3]):
        stake = round_down_to_unit(math.floor(bankroll * fraction * scale), policy.unit_yen)
        stake = Yen(min(stake, ticket_cap, race_cap - committed))
        rule = "ev-threshold+fractional-kelly" + ("+race-cap" if scale < 1.0 else "")
        if stake < policy.min_stake_yen:
            reason = f"stake rounds below {policy.min_stake_yen} yen"
            rejections.append(Rejection(BetType.WIN, str(runner), reason, p, o))
            continue
        committed += stake
        bets.append(Bet(BetType.WIN, str(runner), stake, p, o, expected_return(p, o), rule))
    bets.sort(key=lambda b: int(b.combination))
    return Decision(tuple(bets), tuple(rejections), Yen(bankroll))
