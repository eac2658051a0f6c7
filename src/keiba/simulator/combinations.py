"""Every combination of a field of n starters, as index tables, and their canonical text.

A race's starters are positions 0..n−1. For each field size the tables list the unordered
pairs, ordered pairs, unordered triples and ordered triples, and map any tuple of positions
back to its combination's index (in any order for the unordered bets). Bracket quinella
combinations are the 36 frame pairs a ≤ b. Text comes from `format_combination`, looked up
by horse (or frame) numbers, so the tables are built once and indexing stays vectorised.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache

import numpy as np

from keiba.common.bet_types import BetType, format_combination
from keiba.simulator.population import BoolArray, IntArray

__all__ = ["Combos", "bracket_index", "combination_text", "combos"]


@dataclass(frozen=True)
class Combos:
    pairs: IntArray
    ordered_pairs: IntArray
    triples: IntArray
    ordered_triples: IntArray
    pair_index: IntArray
    ordered_pair_index: IntArray
    triple_index: IntArray
    ordered_triple_index: IntArray
    distinct3: BoolArray
    """(n, n, n) mask of position triples with three different runners."""

    def members(self, bet: BetType) -> IntArray:
        """Positions of each combination of `bet` (rows in combination-index order)."""
        return {
            BetType.QUINELLA: self.pairs,
            BetType.QUINELLA_PLACE: self.pairs,
            BetType.EXACTA: self.ordered_pairs,
            BetType.TRIO: self.triples,
            BetType.TRIFECTA: self.ordered_triples,
        }[bet]


def _array(rows: list[tuple[int, ...]], width: int) -> IntArray:
    return np.array(rows, dtype=np.int64).reshape(-1, width)


@cache
def combos(n: int) -> Combos:
    """The combination tables of a field of `n` starters."""
    positions = range(n)
    pairs = _array(list(itertools.combinations(positions, 2)), 2)
    ordered_pairs = _array(list(itertools.permutations(positions, 2)), 2)
    triples = _array(list(itertools.combinations(positions, 3)), 3)
    ordered_triples = _array(list(itertools.permutations(positions, 3)), 3)
    pair_index = np.full((n, n), -1, dtype=np.int64)
    pair_index[pairs[:, 0], pairs[:, 1]] = np.arange(len(pairs))
    pair_index[pairs[:, 1], pairs[:, 0]] = np.arange(len(pairs))
    ordered_pair_index = np.full((n, n), -1, dtype=np.int64)
    ordered_pair_index[ordered_pairs[:, 0], ordered_pairs[:, 1]] = np.arange(len(ordered_pairs))
    triple_index = np.full((n, n, n), -1, dtype=np.int64)
    for a, b, c in itertools.permutations(range(3)):
        triple_index[triples[:, a], triples[:, b], triples[:, c]] = np.arange(len(triples))
    ordered_triple_index = np.full((n, n, n), -1, dtype=np.int64)
    ordered_triple_index[ordered_triples[:, 0], ordered_triples[:, 1], ordered_triples[:, 2]] = (
        np.arange(len(ordered_triples))
    )
    i, j, k = np.indices((n, n, n))
    return Combos(
        pairs,
        ordered_pairs,
        triples,
        ordered_triples,
        pair_index,
        ordered_pair_index,
        triple_index,
        ordered_triple_index,
        (i != j) & (i != k) & (j != k),
    )


@cache
def bracket_index() -> IntArray:
    """(8, 8) table from 0-based frames to the index of the bracket combination a ≤ b."""
    a, b = np.triu_indices(8)
    table = np.full((8, 8), -1, dtype=np.int64)
    table[a, b] = np.arange(a.size)
    table[b, a] = np.arange(a.size)
    return table


@cache
def _texts(bet: BetType) -> np.ndarray:
    """Canonical text for any numbers 1–18 (frames 1–8), indexed by those numbers."""
    size = 9 if bet is BetType.BRACKET_QUINELLA else 19
    table = np.full((size,) * bet.arity, "", dtype=object)
    for numbers in itertools.product(range(1, size), repeat=bet.arity):
        if len(set(numbers)) < len(numbers) and bet is not BetType.BRACKET_QUINELLA:
            continue
        table[numbers] = format_combination(bet, numbers)
    return table


def combination_text(
    bet: BetType, index: IntArray, horse_no: IntArray, tables: Combos
) -> np.ndarray:
    """Text of combinations `index` (races × k) given each race's horse numbers by position;
    for win and place `index` holds positions, for bracket quinella frame-pair indices."""
    rows = np.arange(index.shape[0])[:, None]
    if bet in (BetType.WIN, BetType.PLACE):
        return np.asarray(_texts(bet)[horse_no[rows, index]])
    if bet is BetType.BRACKET_QUINELLA:
        a, b = np.triu_indices(8)
        return np.asarray(_texts(bet)[a[index] + 1, b[index] + 1])
    members = tables.members(bet)[index]
    numbers = tuple(horse_no[rows, members[..., m]] for m in range(bet.arity))
    return np.asarray(_texts(bet)[numbers])
