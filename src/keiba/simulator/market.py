"""The betting public and its pools: money on every combination, odds and payouts.

The public's belief in a starter is b ∝ p_true**beta · exp(sigma·ε): beta < 1 flattens it
(favourite–longshot bias) and ε is its error. Win money follows b; the place pool follows
the public's Harville top-3 (top-2) probabilities raised to `place_power`; every other pool
the public's plain Harville probabilities from b (too much credit to favourites for 2nd and
3rd: a realistic inefficiency) raised to `exotic_power`, with log-normal noise per
combination. In every pool a `lottery_share` of the money is spread almost evenly
(∝ probability**LOTTERY_POWER): tickets bought on numbers and names, which makes deep
longshots the worst bets and keeps every combination backed. Money is in whole 100-yen
tickets, at least one on every combination. Pool sizes scale with the race.

Races with the same number of starters are priced together as (races × n) matrices, in
chunks small enough for the n³ trifecta arrays; only the rare races with a dead heat in the
first three places go through the general per-race rules of `parimutuel`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from keiba.common.bet_types import BetType
from keiba.simulator.combinations import Combos, bracket_index, combination_text, combos
from keiba.simulator.parimutuel import (
    payouts_per_100,
    payouts_per_100_array,
    place_slots,
    winning_combinations,
)
from keiba.simulator.population import BoolArray, FloatArray, IntArray

__all__ = [
    "BET_ORDER",
    "MIN_WIN_PAYOUT",
    "MarketInput",
    "MarketOutput",
    "MarketParameters",
    "Rows",
    "price_races",
    "public_belief",
]

BET_ORDER: tuple[BetType, ...] = tuple(BetType)
_CODE = {bet: code for code, bet in enumerate(BET_ORDER)}
_POOL_RATIO = {
    BetType.PLACE: 1.1,
    BetType.BRACKET_QUINELLA: 0.3,
    BetType.QUINELLA: 1.4,
    BetType.QUINELLA_PLACE: 1.1,
    BetType.EXACTA: 1.1,
    BetType.TRIO: 2.5,
    BetType.TRIFECTA: 6.5,
}
MIN_WIN_PAYOUT = 110
"""Simulated win odds are never 1.0: a sole winner's win payout is at least 110 yen."""
LOTTERY_POWER = 0.1
"""Lottery money follows the public's probabilities only weakly (0 would be uniform)."""
_CELLS_PER_CHUNK = 3_000_000


@dataclass(frozen=True)
class MarketParameters:
    beta: float
    noise: float
    lottery_share: float
    place_power: float
    exotic_power: float
    combination_noise: float
    include_exotic_odds: bool


@dataclass(frozen=True)
class MarketInput:
    """Starters of every race, race after race (`offsets[r]` is race r's first starter)."""

    starters: IntArray
    offsets: IntArray
    p_true: FloatArray
    horse_no: IntArray
    frame: IntArray
    finish_pos: IntArray
    win_pool_yen: FloatArray


class Rows:
    """Named columns appended chunk by chunk (payout rows, odds rows)."""

    def __init__(self, **dtypes: type) -> None:
        self._dtypes = dtypes
        self._parts: dict[str, list[np.ndarray]] = {name: [] for name in dtypes}

    def add(self, **columns: np.ndarray) -> None:
        for name, values in columns.items():
            self._parts[name].append(np.asarray(values, dtype=self._dtypes[name]).ravel())

    def column(self, name: str) -> np.ndarray:
        parts = self._parts[name]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=self._dtypes[name])


def _payout_rows() -> Rows:
    return Rows(race=np.int64, bet=np.int64, combination=object, payout=np.int64, rank=np.int64)


def _odds_rows() -> Rows:
    return Rows(
        race=np.int64, bet=np.int64, combination=object, odds=float, high=float, pool=np.int64
    )


@dataclass
class MarketOutput:
    """Per starter (aligned with `MarketInput`), and rows of payouts and exotic odds."""

    win_money: IntArray
    win_payout: IntArray
    """Payout per 100 yen if this starter wins alone (the final win odds × 100)."""
    popularity: IntArray
    place_money: IntArray
    place_low: IntArray
    """Published place payout range per 100 yen (0 where place is not sold)."""
    place_high: IntArray
    payouts: Rows
    exotic_odds: Rows


def public_belief(
    p: FloatArray, parameters: MarketParameters, rng: np.random.Generator
) -> FloatArray:
    """b ∝ p**beta · exp(noise·ε) per row."""
    belief = np.power(p, parameters.beta) * np.exp(parameters.noise * rng.standard_normal(p.shape))
    return np.asarray(belief / belief.sum(axis=1, keepdims=True), dtype=np.float64)


def _stake(
    pool_yen: FloatArray,
    probability: npt.NDArray[np.floating],
    valid: BoolArray | None,
    power: float,
    lottery: float,
    noise: float,
    rng: np.random.Generator,
) -> IntArray:
    """Money per combination (single precision: these are the big trifecta arrays)."""
    chance = np.maximum(probability.astype(np.float32), np.float32(1e-30))
    if valid is not None:
        chance = np.where(valid, chance, np.float32(0.0))
    weight = chance if power == 1.0 else np.power(chance, np.float32(power))
    share = weight / weight.sum(axis=1, keepdims=True)
    if lottery > 0.0:
        flat = np.power(chance, np.float32(LOTTERY_POWER))
        share = (1.0 - lottery) * share + lottery * (flat / flat.sum(axis=1, keepdims=True))
    if noise > 0.0:
        share = share * np.exp(noise * rng.standard_normal(share.shape, dtype=np.float32))
    per_share = (pool_yen / 100.0).astype(np.float32)[:, None] / share.sum(axis=1, keepdims=True)
    tickets = np.maximum(np.rint(share * per_share), np.float32(1.0)).astype(np.int64)
    money = tickets * 100
    return money if valid is None else np.where(valid, money, 0)


def _harville(
    belief: FloatArray, tables: Combos
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """The public's exacta matrix E[i, j] and trifecta tensor T[i, j, k] from beliefs b."""
    b = belief.astype(np.float32)
    exacta = b[:, :, None] * b[:, None, :] / (1.0 - b)[:, :, None]
    n = b.shape[1]
    exacta[:, np.arange(n), np.arange(n)] = 0.0
    remaining = 1.0 - b[:, :, None] - b[:, None, :]
    remaining = np.where(remaining > 1e-12, remaining, np.float32(1.0))
    trifecta = exacta[:, :, :, None] * b[:, None, None, :] / remaining[:, :, :, None]
    return exacta, np.where(tables.distinct3, trifecta, np.float32(0.0))


def _pools(
    belief: FloatArray,
    frame: IntArray,
    win_money: IntArray,
    win_target: FloatArray,
    parameters: MarketParameters,
    tables: Combos,
    rng: np.random.Generator,
) -> dict[BetType, IntArray]:
    """Money on every combination of every pool sold for these races."""
    n = belief.shape[1]
    exacta, trifecta = _harville(belief, tables)
    symmetric = sum(
        (trifecta.transpose(0, *axes) for axes in itertools.permutations((1, 2, 3))),
        start=np.zeros_like(trifecta),
    )
    quinella = exacta + exacta.transpose(0, 2, 1)
    i, j = tables.pairs[:, 0], tables.pairs[:, 1]
    oi, oj = tables.ordered_pairs[:, 0], tables.ordered_pairs[:, 1]
    t, ot = tables.triples, tables.ordered_triples
    chances: dict[BetType, npt.NDArray[np.floating]] = {
        BetType.QUINELLA: quinella[:, i, j],
        BetType.QUINELLA_PLACE: symmetric.sum(axis=3)[:, i, j],
        BetType.EXACTA: exacta[:, oi, oj],
        BetType.TRIO: symmetric[:, t[:, 0], t[:, 1], t[:, 2]],
        BetType.TRIFECTA: trifecta[:, ot[:, 0], ot[:, 1], ot[:, 2]],
    }
    slots = place_slots(n)
    if slots:
        top = symmetric.sum(axis=(2, 3)) / 2.0 if slots == 3 else exacta.sum(1) + exacta.sum(2)
        chances[BetType.PLACE] = top
    if n >= 9:
        onehot = (frame[:, :, None] == np.arange(1, 9)[None, None, :]).astype(np.float32)
        by_frame = onehot.transpose(0, 2, 1) @ quinella @ onehot
        by_frame[:, np.arange(8), np.arange(8)] /= 2.0
        a, b = np.triu_indices(8)
        chances[BetType.BRACKET_QUINELLA] = by_frame[:, a, b]
    money = {BetType.WIN: win_money}
    for bet in BET_ORDER[1:]:
        if bet not in chances:
            continue
        size = win_target * _POOL_RATIO[bet] * np.exp(0.15 * rng.standard_normal(win_target.size))
        power = parameters.place_power if bet is BetType.PLACE else parameters.exotic_power
        chance = chances[bet]
        valid = chance > 0 if bet is BetType.BRACKET_QUINELLA else None
        money[bet] = _stake(
            size, chance, valid, power, parameters.lottery_share, parameters.combination_noise, rng
        )
    return money


def _place_range(pool: IntArray, money: IntArray, slots: int) -> tuple[IntArray, IntArray]:
    """Published place payouts: with the most-backed others placing (low) and the least."""
    order = np.argsort(-money, axis=1, kind="stable")
    rank = np.argsort(order, axis=1)
    descending = np.take_along_axis(money, order, axis=1)
    ascending = descending[:, ::-1]
    others = slots - 1
    most = np.where(
        rank < others,
        descending[:, :slots].sum(1, keepdims=True) - money,
        descending[:, :others].sum(1, keepdims=True),
    )
    rank_up = money.shape[1] - 1 - rank
    least = np.where(
        rank_up < others,
        ascending[:, :slots].sum(1, keepdims=True) - money,
        ascending[:, :others].sum(1, keepdims=True),
    )
    takeout, k = BetType.PLACE.takeout, np.array(slots)
    low = payouts_per_100_array(pool[:, None], takeout, money + most, k, money)
    high = payouts_per_100_array(pool[:, None], takeout, money + least, k, money)
    return low, high


def _popularity(money: IntArray, paid: IntArray) -> IntArray:
    """Rank of each paid combination's money in its pool (1 = most money)."""
    return np.asarray(1 + (money[:, None, :] > paid[:, :, None]).sum(axis=2), dtype=np.int64)


@dataclass(frozen=True)
class _Chunk:
    races: IntArray
    tables: Combos
    horse_no: IntArray
    frame: IntArray
    finish: IntArray
    money: dict[BetType, IntArray]
    pools: dict[BetType, IntArray]
    popularity: IntArray


def price_races(
    market: MarketInput, parameters: MarketParameters, rng: np.random.Generator
) -> MarketOutput:
    """Bet, price and settle every race."""
    total = market.p_true.size
    out = MarketOutput(
        win_money=np.zeros(total, dtype=np.int64),
        win_payout=np.zeros(total, dtype=np.int64),
        popularity=np.zeros(total, dtype=np.int64),
        place_money=np.zeros(total, dtype=np.int64),
        place_low=np.zeros(total, dtype=np.int64),
        place_high=np.zeros(total, dtype=np.int64),
        payouts=_payout_rows(),
        exotic_odds=_odds_rows(),
    )
    for n in np.unique(market.starters):
        races = np.flatnonzero(market.starters == n)
        size = max(1, _CELLS_PER_CHUNK // int(n) ** 3)
        for start in range(0, races.size, size):
            _price_chunk(market, races[start : start + size], int(n), parameters, rng, out)
    return out


def _price_chunk(
    market: MarketInput,
    races: IntArray,
    n: int,
    parameters: MarketParameters,
    rng: np.random.Generator,
    out: MarketOutput,
) -> None:
    cells = market.offsets[races][:, None] + np.arange(n)[None, :]
    horse_no, frame = market.horse_no[cells], market.frame[cells]
    win_target = market.win_pool_yen[races]
    belief = public_belief(market.p_true[cells], parameters, rng)
    win_money = _stake(win_target, belief, None, 1.0, parameters.lottery_share, 0.0, rng)
    win_pool = win_money.sum(axis=1)
    win_payout = np.maximum(
        MIN_WIN_PAYOUT,
        payouts_per_100_array(
            win_pool[:, None], BetType.WIN.takeout, win_money, np.array(1), win_money
        ),
    )
    popularity = np.argsort(np.lexsort((horse_no, -win_money), axis=-1), axis=1) + 1
    out.win_money[cells] = win_money
    out.win_payout[cells] = win_payout
    out.popularity[cells] = popularity

    tables = combos(n)
    money = _pools(belief, frame, win_money, win_target, parameters, tables, rng)
    pools = {bet: m.sum(axis=1) for bet, m in money.items()}
    if BetType.PLACE in money:
        low, high = _place_range(pools[BetType.PLACE], money[BetType.PLACE], place_slots(n))
        out.place_money[cells] = money[BetType.PLACE]
        out.place_low[cells] = low
        out.place_high[cells] = high

    chunk = _Chunk(
        races, tables, horse_no, frame, market.finish_pos[cells], money, pools, popularity
    )
    finish = chunk.finish
    clean = ((finish == 1).sum(1) == 1) & ((finish == 2).sum(1) == 1) & ((finish == 3).sum(1) == 1)
    _pay_clean(chunk, np.flatnonzero(clean), out.payouts)
    for r in np.flatnonzero(~clean):
        _pay_dead_heat(chunk, int(r), out.payouts)
    if parameters.include_exotic_odds:
        _exotic_odds(chunk, out.exotic_odds)


def _pay_clean(chunk: _Chunk, c: IntArray, rows: Rows) -> None:
    """Payouts of the races whose first three finished in three distinct places."""
    tables, finish, n = chunk.tables, chunk.finish[c], chunk.finish.shape[1]
    w1, w2, w3 = (np.argmax(finish == k, axis=1) for k in (1, 2, 3))
    winners: dict[BetType, IntArray] = {
        BetType.WIN: w1[:, None],
        BetType.QUINELLA: tables.pair_index[w1, w2][:, None],
        BetType.QUINELLA_PLACE: np.column_stack(
            [tables.pair_index[w1, w2], tables.pair_index[w1, w3], tables.pair_index[w2, w3]]
        ),
        BetType.EXACTA: tables.ordered_pair_index[w1, w2][:, None],
        BetType.TRIO: tables.triple_index[w1, w2, w3][:, None],
        BetType.TRIFECTA: tables.ordered_triple_index[w1, w2, w3][:, None],
    }
    slots = place_slots(n)
    if slots:
        winners[BetType.PLACE] = np.column_stack([w1, w2, w3][:slots])
    if BetType.BRACKET_QUINELLA in chunk.money:
        fa, fb = chunk.frame[c, w1] - 1, chunk.frame[c, w2] - 1
        winners[BetType.BRACKET_QUINELLA] = bracket_index()[fa, fb][:, None]
    for bet in BET_ORDER:
        if bet not in winners:
            continue
        index = winners[bet]
        money = chunk.money[bet][c]
        paid = np.take_along_axis(money, index, axis=1)
        payout = payouts_per_100_array(
            chunk.pools[bet][c][:, None],
            bet.takeout,
            paid.sum(axis=1, keepdims=True),
            np.array(index.shape[1]),
            paid,
        )
        if bet is BetType.WIN:
            payout = np.maximum(payout, MIN_WIN_PAYOUT)
            rank = np.take_along_axis(chunk.popularity[c], index, axis=1)
        else:
            rank = _popularity(money, paid)
        rows.add(
            race=np.repeat(chunk.races[c], index.shape[1]),
            bet=np.full(index.size, _CODE[bet]),
            combination=combination_text(bet, index, chunk.horse_no[c], tables),
            payout=payout,
            rank=rank,
        )


def _pay_dead_heat(chunk: _Chunk, r: int, rows: Rows) -> None:
    """The general rules for a race whose first three places include a dead heat."""
    tables, n = chunk.tables, chunk.finish.shape[1]
    finishers = [(i, int(chunk.finish[r, i])) for i in range(n) if chunk.finish[r, i] > 0]
    found = winning_combinations(finishers, n)
    index: dict[BetType, list[int]] = {
        BetType.WIN: [w[0] for w in found[BetType.WIN]],
        BetType.PLACE: [w[0] for w in found[BetType.PLACE]],
        BetType.QUINELLA: [int(tables.pair_index[a, b]) for a, b in found[BetType.QUINELLA]],
        BetType.QUINELLA_PLACE: [
            int(tables.pair_index[a, b]) for a, b in found[BetType.QUINELLA_PLACE]
        ],
        BetType.EXACTA: [int(tables.ordered_pair_index[a, b]) for a, b in found[BetType.EXACTA]],
        BetType.TRIO: [int(tables.triple_index[a, b, c]) for a, b, c in found[BetType.TRIO]],
        BetType.TRIFECTA: [
            int(tables.ordered_triple_index[a, b, c]) for a, b, c in found[BetType.TRIFECTA]
        ],
    }
    frame = chunk.frame[r]
    index[BetType.BRACKET_QUINELLA] = sorted(
        {int(bracket_index()[frame[a] - 1, frame[b] - 1]) for a, b in found[BetType.QUINELLA]}
    )
    for bet in BET_ORDER:
        chosen = index[bet]
        if not chosen or bet not in chunk.money:
            continue
        stakes = [int(chunk.money[bet][r, i]) for i in chosen]
        paid = payouts_per_100(int(chunk.pools[bet][r]), bet.takeout, stakes)
        where = np.array([chosen], dtype=np.int64)
        if bet is BetType.WIN:
            rank = chunk.popularity[r, where[0]]
        else:
            rank = _popularity(chunk.money[bet][r : r + 1], np.array([stakes]))[0]
        rows.add(
            race=np.full(len(chosen), chunk.races[r]),
            bet=np.full(len(chosen), _CODE[bet]),
            combination=combination_text(bet, where, chunk.horse_no[r : r + 1], tables),
            payout=np.array(paid),
            rank=rank,
        )


def _exotic_odds(chunk: _Chunk, rows: Rows) -> None:
    """Final odds of every combination of the six exotic pools (wide as a low–high range)."""
    tables = chunk.tables
    n = chunk.finish.shape[1]
    for bet in BET_ORDER[2:]:
        if bet not in chunk.money:
            continue
        money = chunk.money[bet]
        pool = chunk.pools[bet][:, None]
        valid = money > 0
        low = payouts_per_100_array(pool, bet.takeout, money, np.array(1), np.maximum(money, 1))
        high = np.full(money.shape, np.nan)
        if bet is BetType.QUINELLA_PLACE:
            i, j = tables.pairs[:, 0], tables.pairs[:, 1]
            full = np.zeros((money.shape[0], n, n), dtype=np.int64)
            full[:, i, j] = money
            full = full + full.transpose(0, 2, 1)
            third = full[:, i, :] + full[:, j, :]
            pair = np.arange(i.size)
            third[:, pair, i] = -1
            third[:, pair, j] = -1
            most = third.max(axis=2)
            least = np.where(third < 0, np.iinfo(np.int64).max // 4, third).min(axis=2)
            low = payouts_per_100_array(pool, bet.takeout, money + most, np.array(3), money)
            high = payouts_per_100_array(pool, bet.takeout, money + least, np.array(3), money)
            high = high / 100.0
        index = np.broadcast_to(np.arange(money.shape[1]), money.shape)
        text = combination_text(bet, index, chunk.horse_no, tables)
        rows.add(
            race=np.broadcast_to(chunk.races[:, None], money.shape)[valid],
            bet=np.full(int(valid.sum()), _CODE[bet]),
            combination=text[valid],
            odds=low[valid] / 100.0,
            high=high[valid],
            pool=money[valid],
        )
