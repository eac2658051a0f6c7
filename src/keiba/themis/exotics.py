"""Probabilities of every JRA bet type from win probabilities.

The model gives one win probability per runner. The probability of each finishing order of the
first three is then (discounted) Harville:

    P(i 1st, j 2nd, k 3rd) = p_i · s_j / (1 − s_i) · t_k / (1 − t_i − t_j),

with s ∝ p^γ and t ∝ p^δ each normalised over all runners (γ = δ = 1 is plain Harville; γ, δ
below 1 take credit away from favourites for the minor places, as measured on real races).
Every bet type is a sum over these orders: win, place (top 3, top 2 with 7 or fewer runners),
bracket quinella (the frames of the first two), quinella, quinella place (wide: both in the
top 3), exacta, trio and trifecta. Everything is vectorised over the n·(n−1)·(n−2) orders (4,896
for 18 runners).

A combination is identified by an integer key: its numbers (horse or frame numbers, sorted for
unordered bets) as digits in base 19. `ticket_keys` gives, for every order, the keys of the
combinations of a bet type that it makes win; the decision engine builds its payoff matrix from
them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from keiba.common.bet_types import BetType, format_combination, parse_combination

__all__ = [
    "DEPTH",
    "MIN_STARTERS",
    "FinishOrders",
    "combination_key",
    "combination_probabilities",
    "combination_text",
    "finish_orders",
    "key_probabilities",
    "places_paid",
    "sold",
    "ticket_keys",
]

BASE = 19
"""Digits of a combination key: horse numbers 1–18 and frame numbers 1–8 fit in base 19."""

KEY_SPACE = BASE**3


MIN_STARTERS: dict[BetType, int] = {
    BetType.WIN: 2,
    BetType.PLACE: 5,
    BetType.BRACKET_QUINELLA: 9,
    BetType.QUINELLA: 3,
    BetType.EXACTA: 3,
    BetType.QUINELLA_PLACE: 4,
    BetType.TRIO: 4,
    BetType.TRIFECTA: 4,
}
"""The fewest starters with which JRA sells each bet type (docs/themis.md, with sources): a
pool is sold only when more horses start than the places it pays on."""


DEPTH: dict[BetType, int] = {
    BetType.WIN: 1,
    BetType.PLACE: 3,
    BetType.BRACKET_QUINELLA: 2,
    BetType.QUINELLA: 2,
    BetType.EXACTA: 2,
    BetType.QUINELLA_PLACE: 3,
    BetType.TRIO: 3,
    BetType.TRIFECTA: 3,
}
"""The places a bet type's tickets look at: the finishing orders needed to price them."""


def places_paid(runners: int) -> int:
    """Places a place (複勝) ticket pays on: 3, or 2 when 7 or fewer runners start."""
    return 2 if runners <= 7 else 3


def sold(bet_type: BetType, runners: int) -> bool:
    """Whether JRA sells the bet type for a field of `runners` starters (no pool, no bet)."""
    return runners >= MIN_STARTERS[bet_type]


@dataclass(frozen=True)
class FinishOrders:
    """Every order of the first `depth` places and its probability.

    `runners` are the horse numbers in ascending order; `orders[r, q]` is the index (into
    `runners`) of the horse in place q+1 of order r.
    """

    runners: tuple[int, ...]
    orders: NDArray[np.intp]
    probabilities: NDArray[np.float64]

    @property
    def depth(self) -> int:
        return int(self.orders.shape[1])

    def numbers(self) -> NDArray[np.intp]:
        """`orders` as horse numbers instead of indices."""
        return np.asarray(self.runners, dtype=np.intp)[self.orders]


def _normalised_power(p: NDArray[np.float64], power: float) -> NDArray[np.float64]:
    weights = np.where(p > 0, np.power(p, power, where=p > 0, out=np.zeros_like(p)), 0.0)
    # summing sorted values makes the result independent of the runners' labels
    total = float(np.sum(np.sort(weights)))
    return weights / total


def _conditional(
    numerator: NDArray[np.float64], remaining: NDArray[np.float64], left: int
) -> NDArray[np.float64]:
    """numerator / remaining, or 1/left where nothing of the mass remains (a runner at p = 1)."""
    safe = remaining > 1e-15
    out = np.full(np.broadcast(numerator, remaining).shape, 1.0 / max(left, 1))
    np.divide(numerator, remaining, out=out, where=safe)
    return out


def finish_orders(
    win: Mapping[int, float], gamma: float = 1.0, delta: float = 1.0, places: int = 3
) -> FinishOrders:
    """Discounted-Harville probabilities of every order of the first min(`places`, n) places.

    `win` maps horse numbers to win probabilities summing to 1 (validated by the caller).
    `places` is how deep the bet types in question look (`DEPTH`): 1 for win alone.
    """
    runners = tuple(sorted(win))
    n = len(runners)
    p = np.array([float(win[r]) for r in runners], dtype=np.float64)
    depth = min(places, 3, n)
    s = _normalised_power(p, gamma)
    t = _normalised_power(p, delta)
    idx = np.arange(n)
    if depth == 1:
        return FinishOrders(runners, idx.reshape(-1, 1), p.copy())
    first, second = np.meshgrid(idx, idx, indexing="ij")
    pair = first != second
    i, j = first[pair], second[pair]
    p2 = p[i] * _conditional(s[j], 1.0 - s[i], n - 1)
    if depth == 2:
        return FinishOrders(runners, np.stack([i, j], axis=1), p2)
    i3 = np.repeat(i, n)
    j3 = np.repeat(j, n)
    k3 = np.tile(idx, i.size)
    keep = (k3 != i3) & (k3 != j3)
    i3, j3, k3 = i3[keep], j3[keep], k3[keep]
    p3 = np.repeat(p2, n)[keep] * _conditional(t[k3], (1.0 - t[i3]) - t[j3], n - 2)
    return FinishOrders(runners, np.stack([i3, j3, k3], axis=1), p3)


def _encode(numbers: NDArray[np.intp]) -> NDArray[np.intp]:
    key = np.zeros(numbers.shape[:-1], dtype=np.intp)
    for q in range(numbers.shape[-1]):
        key = key * BASE + numbers[..., q]
    return key


def _unordered(numbers: NDArray[np.intp]) -> NDArray[np.intp]:
    """The key of each row's numbers sorted ascending (two or three columns): the smallest, the
    middle one (the sum less the other two) and the largest as digits, without a sort."""
    columns = [numbers[:, q] for q in range(numbers.shape[1])]
    low, high = columns[0], columns[0]
    for column in columns[1:]:
        low, high = np.minimum(low, column), np.maximum(high, column)
    if len(columns) == 2:
        return low * BASE + high
    middle = columns[0] + columns[1] + columns[2] - low - high
    return (low * BASE + middle) * BASE + high


def ticket_keys(
    orders: FinishOrders, bet_type: BetType, frames: Mapping[int, int] | None = None
) -> NDArray[np.intp]:
    """Keys of the combinations of `bet_type` that each order makes win: shape (orders, w).

    A column of −1 means "no combination" (e.g. trio when fewer than three places exist).
    """
    numbers = orders.numbers()
    m = orders.depth
    missing = np.full((numbers.shape[0], 1), -1, dtype=np.intp)
    if bet_type is BetType.WIN:
        return numbers[:, :1].copy()
    if bet_type is BetType.PLACE:
        return numbers[:, : min(m, places_paid(len(orders.runners)))].copy()
    if bet_type is BetType.TRIFECTA or bet_type is BetType.EXACTA:
        if m < bet_type.arity:
            return missing
        return _encode(numbers[:, : bet_type.arity]).reshape(-1, 1)
    if bet_type is BetType.TRIO or bet_type is BetType.QUINELLA:
        if m < bet_type.arity:
            return missing
        return _unordered(numbers[:, : bet_type.arity]).reshape(-1, 1)
    if bet_type is BetType.QUINELLA_PLACE:
        if m < 2:
            return missing
        pairs = [(0, 1), (0, 2), (1, 2)] if m >= 3 else [(0, 1)]
        return np.stack([_unordered(numbers[:, [a, b]]) for a, b in pairs], axis=1)
    if bet_type is BetType.BRACKET_QUINELLA:
        if frames is None:
            raise ValueError("bracket quinella needs the runners' frame numbers")
        if m < 2:
            return missing
        lookup = np.zeros(BASE, dtype=np.intp)
        for horse, frame in frames.items():
            lookup[horse] = frame
        return _unordered(lookup[numbers[:, :2]]).reshape(-1, 1)
    raise ValueError(f"unknown bet type {bet_type!r}")


def combination_key(bet_type: BetType, combination: str) -> int:
    """The integer key of a canonical combination (`7>3>1` → ((7·19)+3)·19+1)."""
    key = 0
    for number in parse_combination(bet_type, combination):
        key = key * BASE + number
    return key


def combination_text(bet_type: BetType, key: int) -> str:
    """The canonical text of a combination key (inverse of `combination_key`)."""
    digits: list[int] = []
    for _ in range(bet_type.arity):
        key, digit = divmod(key, BASE)
        digits.append(digit)
    return format_combination(bet_type, digits[::-1])


def key_probabilities(
    orders: FinishOrders, bet_type: BetType, frames: Mapping[int, int] | None = None
) -> NDArray[np.float64]:
    """Probability of every combination key of `bet_type` (an array of length 19³)."""
    keys = ticket_keys(orders, bet_type, frames)
    weights = orders.probabilities
    if keys.shape[1] > 1:
        weights = np.repeat(weights, keys.shape[1])
    flat = keys.reshape(-1)
    valid = flat >= 0
    if not valid.all():  # the orders that make no ticket of the bet type win
        flat, weights = flat[valid], weights[valid]
    counts = np.bincount(flat, weights=weights, minlength=KEY_SPACE)
    return np.asarray(counts, dtype=np.float64)


def combination_probabilities(
    orders: FinishOrders, bet_type: BetType, frames: Mapping[int, int] | None = None
) -> dict[str, float]:
    """Probability of every combination of `bet_type` that can win, by canonical text.

    Exclusive bet types sum to 1; place sums to the places paid and wide to 3 (or 1 with two
    runners), since several of their tickets win at once.
    """
    probabilities = key_probabilities(orders, bet_type, frames)
    present = np.flatnonzero(probabilities > 0)
    return {combination_text(bet_type, int(k)): float(probabilities[k]) for k in present}
