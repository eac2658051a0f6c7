"""JRA's parimutuel rules as pure functions: payouts per 100 yen and the winning combinations."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from keiba.common.bet_types import BetType
from keiba.simulator.parimutuel import (
    payouts_per_100,
    payouts_per_100_array,
    place_slots,
    winning_combinations,
)

_TAKEOUTS = st.sampled_from([bet.takeout for bet in BetType])


@st.composite
def _pools(draw: st.DrawFn) -> tuple[int, Fraction, list[int]]:
    winners = draw(st.lists(st.integers(1, 10**7).map(lambda t: 100 * t), min_size=1, max_size=6))
    losers = draw(st.integers(0, 10**9).map(lambda t: 100 * t))
    return sum(winners) + losers, draw(_TAKEOUTS), winners


def test_a_sole_winner_gets_the_net_pool_over_its_money_rounded_down_to_10_yen() -> None:
    # net pool 800,000 on 250,000 yen: 3.2 → 320 yen per 100
    assert payouts_per_100(1_000_000, BetType.WIN.takeout, [250_000]) == [320]
    # 0.8 · 1,000,000 / 300,000 = 2.666… → 260
    assert payouts_per_100(1_000_000, BetType.WIN.takeout, [300_000]) == [260]
    # the favourite holds more than the net pool: 元返し
    assert payouts_per_100(1_000_000, BetType.WIN.takeout, [900_000]) == [100]


def test_place_winners_share_the_profit_equally_then_divide_by_their_own_money() -> None:
    # net 800,000; winners hold 400,000 + 100,000 + 50,000; profit 250,000 / 3 each
    paid = payouts_per_100(1_000_000, BetType.PLACE.takeout, [400_000, 100_000, 50_000])
    assert paid == [120, 180, 260]


@given(_pools())
def test_payouts_are_at_least_100_and_multiples_of_10(
    pool: tuple[int, Fraction, list[int]],
) -> None:
    size, takeout, winners = pool
    for payout in payouts_per_100(size, takeout, winners):
        assert payout >= 100
        assert payout % 10 == 0


@given(_pools())
def test_total_paid_never_exceeds_the_net_pool_plus_the_top_up(
    pool: tuple[int, Fraction, list[int]],
) -> None:
    size, takeout, winners = pool
    net = size * (1 - takeout)
    k, total = len(winners), sum(winners)
    paid = payouts_per_100(size, takeout, winners)
    exact = [100 + 100 * (net - total) / (k * m) for m in winners]
    top_up = sum(m * max(Fraction(0), 100 - e) / 100 for m, e in zip(winners, exact, strict=True))
    assert sum(Fraction(m * p, 100) for m, p in zip(winners, paid, strict=True)) <= net + top_up


@given(_pools(), st.integers(1, 10**6).map(lambda t: 100 * t))
def test_splitting_among_more_winners_never_raises_a_payout(
    pool: tuple[int, Fraction, list[int]], extra: int
) -> None:
    size, takeout, winners = pool
    size += extra  # a losing combination of the same pool that a dead heat makes a winner
    before = payouts_per_100(size, takeout, winners)
    after = payouts_per_100(size, takeout, [*winners, extra])
    assert all(a <= b for a, b in zip(after, before, strict=False))


@given(_pools())
def test_the_array_version_agrees_with_the_rules(pool: tuple[int, Fraction, list[int]]) -> None:
    size, takeout, winners = pool
    money = np.array(winners, dtype=np.int64)
    array = payouts_per_100_array(
        np.array(size), takeout, np.array(money.sum()), np.array(money.size), money
    )
    assert array.tolist() == payouts_per_100(size, takeout, winners)


def test_place_pays_three_places_two_with_seven_or_fewer_and_is_not_sold_with_four() -> None:
    assert [place_slots(n) for n in (3, 4, 5, 7, 8, 18)] == [0, 0, 2, 2, 3, 3]


def test_without_dead_heats_each_bet_type_has_its_usual_winners() -> None:
    found = winning_combinations([(5, 1), (2, 2), (9, 3), (1, 4)], starters=12)
    assert found[BetType.WIN] == [(5,)]
    assert found[BetType.PLACE] == [(2,), (5,), (9,)]
    assert found[BetType.QUINELLA] == [(2, 5)]
    assert found[BetType.QUINELLA_PLACE] == [(2, 5), (2, 9), (5, 9)]
    assert found[BetType.EXACTA] == [(5, 2)]
    assert found[BetType.TRIO] == [(2, 5, 9)]
    assert found[BetType.TRIFECTA] == [(5, 2, 9)]
    assert winning_combinations([(5, 1), (2, 2), (9, 3)], starters=6)[BetType.PLACE] == [
        (2,),
        (5,),
    ]


def test_a_dead_heat_for_first_doubles_the_ordered_winners() -> None:
    found = winning_combinations([(3, 1), (7, 1), (4, 3), (1, 4)], starters=10)
    assert found[BetType.WIN] == [(3,), (7,)]
    assert found[BetType.QUINELLA] == [(3, 7)]
    assert found[BetType.EXACTA] == [(3, 7), (7, 3)]
    assert found[BetType.TRIO] == [(3, 4, 7)]
    assert found[BetType.TRIFECTA] == [(3, 7, 4), (7, 3, 4)]


def test_a_dead_heat_for_third_adds_place_wide_trio_and_trifecta_winners() -> None:
    found = winning_combinations([(1, 1), (2, 2), (3, 3), (4, 3), (5, 5)], starters=14)
    assert found[BetType.PLACE] == [(1,), (2,), (3,), (4,)]
    assert found[BetType.QUINELLA_PLACE] == [(1, 2), (1, 3), (1, 4), (2, 3), (2, 4)]
    assert found[BetType.TRIO] == [(1, 2, 3), (1, 2, 4)]
    assert found[BetType.TRIFECTA] == [(1, 2, 3), (1, 2, 4)]
    assert found[BetType.QUINELLA] == [(1, 2)]
