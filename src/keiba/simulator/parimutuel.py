"""JRA's parimutuel rules: what a winning ticket pays, and which combinations win.

A pool of P yen with takeout t has a net pool N = (1 − t)·P. With k winning combinations
(dead heats add winners; place pays 3, or 2 with 7 or fewer starters; wide always 3) holding
M yen in total, each winner's ticket pays back its stake plus an equal share of the profit
(N − M) divided by the money on that winner:

    payout per 100 yen = 100 + 100·(N − M) / (k · m_w),   rounded down to 10 yen,

and never less than 100 yen (元返し; JRA makes up the difference). All arithmetic is exact in
integers (takeouts are `Fraction`s), so breakage is the same as JRA's.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from keiba.common.bet_types import BetType
from keiba.simulator.population import IntArray

__all__ = [
    "MIN_PAYOUT",
    "payouts_per_100",
    "payouts_per_100_array",
    "place_slots",
    "winning_combinations",
]

MIN_PAYOUT = 100


def place_slots(starters: int) -> int:
    """How many places 複勝 pays: 0 (not sold) with 4 or fewer starters, 2 up to 7, else 3."""
    if starters <= 4:
        return 0
    return 2 if starters <= 7 else 3


def payouts_per_100(pool_yen: int, takeout: Fraction, winning_money: Sequence[int]) -> list[int]:
    """Payout per 100 yen of each winning combination, given the money on each of them."""
    if pool_yen < 0:
        raise ValueError(f"pool must not be negative, was {pool_yen}")
    if not winning_money:
        return []
    if any(m <= 0 for m in winning_money):
        raise ValueError(f"every winning combination needs money on it, was {list(winning_money)}")
    total = sum(winning_money)
    if total > pool_yen:
        raise ValueError(f"money on the winners ({total}) exceeds the pool ({pool_yen})")
    keep, denominator = (1 - takeout).numerator, (1 - takeout).denominator
    k = len(winning_money)
    profit = pool_yen * keep - total * denominator  # (N − M) · denominator
    out = []
    for m in winning_money:
        share = 100 * profit // (10 * k * m * denominator) * 10
        out.append(max(MIN_PAYOUT, 100 + share))
    return out


def payouts_per_100_array(
    pool_yen: IntArray,
    takeout: Fraction,
    total_winning: IntArray,
    winners: IntArray,
    money: IntArray,
) -> IntArray:
    """`payouts_per_100` for arrays that broadcast: the pool, the money on all winners and
    their count (per race), and the money on the combination being paid."""
    keep, denominator = (1 - takeout).numerator, (1 - takeout).denominator
    profit = pool_yen.astype(np.int64) * keep - total_winning.astype(np.int64) * denominator
    share = (100 * profit) // (10 * winners.astype(np.int64) * money * denominator) * 10
    return np.asarray(np.maximum(MIN_PAYOUT, 100 + share), dtype=np.int64)


def _strict_orders(finishers: Sequence[tuple[int, int]]) -> list[tuple[int, ...]]:
    """The distinct top-3 crossing orders consistent with official positions (ties in any
    order)."""
    groups: dict[int, list[int]] = {}
    for runner, position in finishers:
        groups.setdefault(position, []).append(runner)
    ordered: list[list[int]] = []
    covered = 0
    for position in sorted(groups):
        if covered >= 3:
            break
        ordered.append(groups[position])
        covered += len(groups[position])
    tops: set[tuple[int, ...]] = set()
    for arrangement in itertools.product(*(itertools.permutations(g) for g in ordered)):
        flat = tuple(runner for group in arrangement for runner in group)
        tops.add(flat[:3])
    return sorted(tops)


def winning_combinations(
    finishers: Sequence[tuple[int, int]], starters: int
) -> dict[BetType, list[tuple[int, ...]]]:
    """Winning combinations per bet type from (runner, official position) of the finishers.

    Runners are any integers (horse numbers, or indices); unordered combinations come back
    sorted, ordered ones in finishing order. Bracket quinella is left to the caller (it needs
    frames). Dead heats add every combination some order of the tied runners would make."""
    orders = _strict_orders(finishers)
    slots = place_slots(starters)
    result: dict[BetType, list[tuple[int, ...]]] = {
        BetType.WIN: sorted((runner,) for runner, position in finishers if position == 1),
        BetType.PLACE: sorted((runner,) for runner, position in finishers if position <= slots)
        if slots
        else [],
    }
    quinella: set[tuple[int, ...]] = set()
    exacta: set[tuple[int, ...]] = set()
    wide: set[tuple[int, ...]] = set()
    trio: set[tuple[int, ...]] = set()
    trifecta: set[tuple[int, ...]] = set()
    for top in orders:
        if len(top) >= 2:
            quinella.add(tuple(sorted(top[:2])))
            exacta.add(top[:2])
        if len(top) >= 3:
            trio.add(tuple(sorted(top)))
            trifecta.add(top)
            wide.update(tuple(sorted(pair)) for pair in itertools.combinations(top, 2))
    result[BetType.QUINELLA] = sorted(quinella)
    result[BetType.QUINELLA_PLACE] = sorted(wide)
    result[BetType.EXACTA] = sorted(exacta)
    result[BetType.TRIO] = sorted(trio)
    result[BetType.TRIFECTA] = sorted(trifecta)
    return result
