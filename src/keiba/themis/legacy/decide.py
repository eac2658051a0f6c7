"""`decide`: what to buy and how much, from probabilities, odds and a bankroll only.

A pure function of frozen inputs (no I/O, no clock, no names). The steps:

1. validate everything (`keiba.themis.inputs`); a bad input raises `DecisionError`;
2. probabilities of every finishing order of the first three, by discounted Harville with the
   policy's γ and δ, and from them the probability of every quoted combination;
3. screen each quote: no scratched runner named, bet type enabled and sold for this number of
   starters, probability at least the
   minimum, expected return p·o at least the threshold (unless `ev_screen` is off) — else a
   rejection with the reason;
4. stop the account-level cases: zero bankroll, bankroll below the floor, stake multiplier 0,
   daily ticket limit already reached — every candidate rejected with the reason;
5. size the candidates in fractions of the bankroll (`policy.sizing`): `independent` (Kelly of
   each ticket alone), `per_pool` (exact simultaneous Kelly within each pool), or `joint` (one
   expected-log maximisation over the finishing orders across all pools; the exact
   Smoczynski–Tomkins result when only one exclusive pool has candidates); then × the Kelly
   fraction × the stake multiplier;
6. with the トリガミ guard on, drop tickets whose hit would return less than the race's total
   stake and size the rest again (repeated until none is left);
7. yen: caps, 100-yen units, minimum stake, own impact, ticket limit (`keiba.themis.rules`).

Place and wide are decided at the low end of their odds range.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from keiba.common.bet_types import BetType
from keiba.common.config import ThemisConfig
from keiba.common.money import Yen
from keiba.themis import exotics
from keiba.themis.legacy.inputs import Bankroll, DecisionError, Offer, Quote, Race, validate
from keiba.themis.legacy.rules import Allocation, Reason, allocate
from keiba.themis.legacy.sizing import (
    expected_return,
    isaacs_stake,
    joint_kelly,
    kelly_fraction,
    simultaneous_kelly,
)

__all__ = ["Bet", "Decision", "DecisionError", "Rejection", "decide"]

EXCLUSIVE = frozenset(BetType) - {BetType.PLACE, BetType.QUINELLA_PLACE}
"""Bet types whose combinations are mutually exclusive (exactly one wins)."""


@dataclass(frozen=True)
class Bet:
    """A ticket to buy: what, how much (integer yen), and why."""

    bet_type: BetType
    combination: str
    stake: Yen
    probability: float
    odds: float
    expected_return: float
    rule: str


@dataclass(frozen=True)
class Rejection:
    """A quote not bought, with the reason in words and as a code."""

    bet_type: BetType
    combination: str
    reason: str
    probability: float
    odds: float
    code: Reason = Reason.EV_BELOW_THRESHOLD


@dataclass(frozen=True)
class Decision:
    bets: tuple[Bet, ...]
    rejections: tuple[Rejection, ...]
    bankroll: Yen
    notes: tuple[str, ...] = ()

    @property
    def total_stake(self) -> Yen:
        return Yen(sum(b.stake for b in self.bets))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (bet types and reasons as their string values)."""
        return {
            "bankroll_yen": int(self.bankroll),
            "total_stake_yen": int(self.total_stake),
            "bets": [
                {
                    "bet_type": b.bet_type.value,
                    "combination": b.combination,
                    "stake_yen": int(b.stake),
                    "probability": b.probability,
                    "odds": b.odds,
                    "expected_return": b.expected_return,
                    "rule": b.rule,
                }
                for b in self.bets
            ],
            "rejections": [
                {
                    "bet_type": r.bet_type.value,
                    "combination": r.combination,
                    "code": r.code.value,
                    "reason": r.reason,
                    "probability": r.probability,
                    "odds": r.odds,
                }
                for r in self.rejections
            ],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class _Candidate:
    offer: Offer
    probability: float


def _payoff(
    orders: exotics.FinishOrders, candidates: list[_Candidate], frames: dict[int, int] | None
) -> sparse.csr_matrix:
    """Gross return of one yen on each candidate in each finishing order (orders × tickets)."""
    rows: list[NDArray[np.intp]] = []
    cols: list[NDArray[np.intp]] = []
    vals: list[NDArray[np.float64]] = []
    by_type: dict[BetType, list[int]] = {}
    for j, c in enumerate(candidates):
        by_type.setdefault(c.offer.bet_type, []).append(j)
    for bet_type, members in by_type.items():
        keys = exotics.ticket_keys(orders, bet_type, frames)
        lookup = np.full(exotics.KEY_SPACE + 1, -1, dtype=np.intp)
        odds = np.zeros(len(candidates))
        for j in members:
            lookup[exotics.combination_key(bet_type, candidates[j].offer.combination)] = j
            odds[j] = candidates[j].offer.odds
        col = lookup[keys]  # a key of −1 reads the sentinel at the end: −1
        row, which = np.nonzero(col >= 0)
        rows.append(row)
        cols.append(col[row, which])
        vals.append(odds[col[row, which]])
    shape = (orders.probabilities.size, len(candidates))
    if not rows:
        return sparse.csr_matrix(shape)
    return sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape
    )


def _size(
    candidates: list[_Candidate],
    pi: NDArray[np.float64],
    payoff: sparse.csr_matrix,
    sizing: str,
) -> tuple[list[float], list[str]]:
    """Full-Kelly fractions of the candidates and the sizer that chose each."""
    k = len(candidates)
    if sizing == "independent":
        return [kelly_fraction(c.probability, c.offer.odds) for c in candidates], [
            "single-kelly"
        ] * k
    pools: dict[BetType, list[int]] = {}
    for j, c in enumerate(candidates):
        pools.setdefault(c.offer.bet_type, []).append(j)
    joint = sizing == "joint" and (len(pools) > 1 or not pools.keys() <= EXCLUSIVE)
    fractions, sizers = [0.0] * k, [""] * k
    for bet_type, members in pools.items():
        if bet_type in EXCLUSIVE:
            sized = simultaneous_kelly(
                [candidates[j].probability for j in members],
                [candidates[j].offer.odds for j in members],
            )
            name = "simultaneous-kelly"
        elif joint:  # a starting guess only: every place/wide candidate
            sized = [1.0] * len(members)
            name = ""
        else:
            sized = [float(f) for f in joint_kelly(pi, payoff[:, members])]
            name = "pool-kelly"
        for j, f in zip(members, sized, strict=True):
            fractions[j], sizers[j] = f, name
    if joint:
        start = [f > 0 for f in fractions]
        return [float(f) for f in joint_kelly(pi, payoff, start=start)], ["joint-kelly"] * k
    return fractions, sizers


def _torigami(payoff: sparse.csr_matrix, stakes: NDArray[np.float64]) -> set[int]:
    """Tickets that win in an outcome whose total return is below the total stake."""
    total = float(np.sum(stakes))
    returns = payoff @ stakes
    short = np.flatnonzero((returns > 0) & (returns < total * (1 - 1e-12)))
    if short.size == 0:
        return set()
    hits = payoff[short].multiply(stakes[None, :] > 0).tocoo()
    return {int(c) for c in hits.col}


def _reject(c: _Candidate, code: Reason, reason: str) -> Rejection:
    return Rejection(
        c.offer.bet_type, c.offer.combination, reason, c.probability, c.offer.odds, code
    )


def _screen(
    race: Race, orders: exotics.FinishOrders, policy: ThemisConfig
) -> tuple[list[_Candidate], list[Rejection]]:
    n = len(race.win)
    enabled = set(policy.bet_types)
    probabilities: dict[BetType, NDArray[np.float64]] = {}
    candidates: list[_Candidate] = []
    rejections: list[Rejection] = []
    for offer in race.offers:
        bet = offer.bet_type
        out = race.names_scratched(offer)
        if out is not None:
            bracket = bet is BetType.BRACKET_QUINELLA
            why = f"frame {out} has no starter" if bracket else f"runner {out} is scratched"
            rejections.append(_reject(_Candidate(offer, 0.0), Reason.SCRATCHED, why))
            continue
        if bet not in enabled or not exotics.sold(bet, n):
            code = Reason.NOT_ENABLED if bet not in enabled else Reason.NOT_SOLD
            why = (
                "bet type not enabled by the policy"
                if code is Reason.NOT_ENABLED
                else (f"{bet.value} is not sold with {n} starters")
            )
            rejections.append(_reject(_Candidate(offer, 0.0), code, why))
            continue
        if bet not in probabilities:
            probabilities[bet] = exotics.key_probabilities(orders, bet, race.frames)
        p = float(probabilities[bet][exotics.combination_key(bet, offer.combination)])
        candidate = _Candidate(offer, p)
        er = expected_return(p, offer.odds)
        if p < policy.min_probability:
            rejections.append(
                _reject(candidate, Reason.PROBABILITY_BELOW_MINIMUM, "probability below minimum")
            )
        elif policy.ev_screen and er < policy.ev_threshold:
            why = f"EV {er:.3f} below {policy.ev_threshold}"
            rejections.append(_reject(candidate, Reason.EV_BELOW_THRESHOLD, why))
        else:
            candidates.append(candidate)
    return candidates, rejections


def _account_stop(account: Bankroll, policy: ThemisConfig) -> tuple[Reason, str] | None:
    if account.balance_yen == 0:
        return Reason.ZERO_BANKROLL, "bankroll is zero"
    if account.balance_yen < policy.bankroll_floor_yen:
        return Reason.BANKROLL_FLOOR, (
            f"bankroll {account.balance_yen:,} yen is below the floor of "
            f"{policy.bankroll_floor_yen:,} yen"
        )
    if policy.stake_multiplier == 0:
        return Reason.STAKE_MULTIPLIER_ZERO, "stake multiplier is 0 (betting paused)"
    if account.tickets_today >= policy.max_tickets_per_day:
        return Reason.TICKET_LIMIT, f"daily ticket limit of {policy.max_tickets_per_day:,} reached"
    return None


def _own_impact(c: _Candidate, policy: ThemisConfig) -> float | None:
    pool = c.offer.pool_yen
    if not policy.own_impact or pool is None or c.offer.bet_type not in EXCLUSIVE:
        return None
    takeout = float(c.offer.bet_type.takeout)
    on_outcome = (1.0 - takeout) * pool / c.offer.odds
    return isaacs_stake(c.probability, takeout, pool, on_outcome)


def decide(
    probabilities: Mapping[int, float],
    odds: Mapping[int, float] | Mapping[BetType, Mapping[str, float | Quote]],
    bankroll: int | Bankroll,
    policy: ThemisConfig,
    *,
    frames: Mapping[int, int] | None = None,
    scratched: Collection[int] = (),
) -> Decision:
    """Bets for one race from win probabilities, the odds on offer and the bankroll.

    `odds` is `{horse: win odds}` or `{bet type: {combination: odds or Quote}}`; quotes not
    offered are not bought. `bankroll` is the balance in yen, or a `Bankroll` with what today
    has already staked and bought (for the daily caps). `frames` (horse → frame) is needed
    only for bracket quinella. `scratched` are the horse numbers declared but not starting: each
    has no probability or p = 0, is left out of the field size and the places paid, and every
    quote naming one is rejected `scratched`.
    """
    race = validate(probabilities, odds, bankroll, policy, frames, scratched)
    account = race.bankroll
    orders = exotics.finish_orders(race.win, policy.exotic_gamma, policy.exotic_delta)
    candidates, rejections = _screen(race, orders, policy)
    notes: list[str] = []
    if any(o.bet_type in (BetType.PLACE, BetType.QUINELLA_PLACE) for o in race.offers):
        notes.append("place and wide are decided at the low end of their odds range")
    stop = _account_stop(account, policy) if candidates else None
    if stop is not None:
        rejections += [_reject(c, *stop) for c in candidates]
        return Decision((), tuple(rejections), Yen(account.balance_yen), tuple(notes))
    scale = policy.kelly_fraction * policy.stake_multiplier
    while True:
        payoff = _payoff(orders, candidates, race.frames)
        full, sizers = _size(candidates, orders.probabilities, payoff, policy.sizing)
        fractions = np.array([f * scale for f in full])
        dropped = _torigami(payoff, fractions) if policy.torigami_guard else set()
        if not dropped:
            break
        for j in sorted(dropped):
            why = "トリガミ: a hit would return less than the race's total stake"
            rejections.append(_reject(candidates[j], Reason.TORIGAMI, why))
        candidates = [c for j, c in enumerate(candidates) if j not in dropped]
    allocations = allocate(
        [float(f) for f in fractions], [_own_impact(c, policy) for c in candidates], account, policy
    )
    if policy.torigami_guard:
        stakes = np.array([float(a.stake) for a in allocations])
        for j in _torigami(payoff, stakes):
            why = "トリガミ after rounding: a hit would return less than the race's total stake"
            allocations[j] = Allocation(Yen(0), (), Reason.TORIGAMI, why)
    bets: list[Bet] = []
    for c, a, full_f, sizer in zip(candidates, allocations, full, sizers, strict=True):
        if a.reason is not None or a.stake <= 0:
            if full_f <= 0:
                code, why = Reason.NO_KELLY_STAKE, "no Kelly stake beside the other tickets"
            else:
                code, why = a.reason or Reason.ROUNDS_TO_ZERO, a.message
            rejections.append(_reject(c, code, why))
            continue
        screen = f"ev>={policy.ev_threshold:g}" if policy.ev_screen else "no-ev-screen"
        rule = f"{screen}+{sizer}*{scale:g}"
        rule += "".join(f"+{b}" for b in a.binding)
        er = expected_return(c.probability, c.offer.odds)
        bets.append(
            Bet(
                c.offer.bet_type,
                c.offer.combination,
                a.stake,
                c.probability,
                c.offer.odds,
                er,
                rule,
            )
        )
    return Decision(tuple(bets), tuple(rejections), Yen(account.balance_yen), tuple(notes))
