"""JRA's sale rules by field size: no pool, no bet, for every field size 1–18."""

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from keiba.common.bet_types import BetType, format_combination
from keiba.common.config import ThemisConfig
from keiba.themis import Reason, decide
from keiba.themis.exotics import sold

JRA_MIN_STARTERS = {
    BetType.WIN: 2,
    BetType.PLACE: 5,
    BetType.BRACKET_QUINELLA: 9,
    BetType.QUINELLA: 3,
    BetType.EXACTA: 3,
    BetType.QUINELLA_PLACE: 4,
    BetType.TRIO: 4,
    BetType.TRIFECTA: 4,
}
ORDERED = {BetType.EXACTA, BetType.TRIFECTA}
EAGER = ThemisConfig(ev_threshold=1.0, max_ticket_fraction=0.05, max_race_fraction=0.2)


def _frames(n: int) -> dict[int, int]:
    return {h: (h - 1) * 8 // n + 1 if n > 8 else h for h in range(1, n + 1)}


def _every_pool(n: int, frames: dict[int, int]) -> dict[BetType, dict[str, float]]:
    """Generous odds on every combination of the first three runners (frames) of each pool."""
    market: dict[BetType, dict[str, float]] = {}
    for bet in BetType:
        pool = sorted(set(frames.values()))[:3] if bet is BetType.BRACKET_QUINELLA else None
        numbers = pool or list(range(1, min(n, 3) + 1))
        pick = itertools.permutations if bet in ORDERED else itertools.combinations
        combos = [c for c in pick(numbers, bet.arity) if len(c) == bet.arity]
        if combos:
            market[bet] = {format_combination(bet, list(c)): 500.0 for c in combos}
    return market


def test_the_sale_rule_is_jras_table() -> None:
    for bet, least in JRA_MIN_STARTERS.items():
        assert [n for n in range(1, 19) if sold(bet, n)] == list(range(least, 19))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 18), st.data())
def test_no_ticket_of_an_unsold_pool_is_ever_bought(n: int, data: st.DataObject) -> None:
    weights = data.draw(st.lists(st.floats(0.05, 1.0), min_size=n, max_size=n))
    win = {h: w / sum(weights) for h, w in enumerate(weights, 1)}
    frames = _frames(n)
    market = _every_pool(n, frames)
    decision = decide(win, market, 10_000_000, EAGER, frames=frames)
    assert all(n >= JRA_MIN_STARTERS[b.bet_type] for b in decision.bets)
    for r in decision.rejections:
        assert (r.code is Reason.NOT_SOLD) == (n < JRA_MIN_STARTERS[r.bet_type])
    assert len(decision.bets) + len(decision.rejections) == sum(len(q) for q in market.values())


def test_a_one_runner_race_buys_nothing() -> None:
    decision = decide({1: 1.0}, {1: 3.0}, 1_000_000, EAGER)
    assert decision.bets == ()
    assert [r.code for r in decision.rejections] == [Reason.NOT_SOLD]
