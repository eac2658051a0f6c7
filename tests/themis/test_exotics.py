import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keiba.common.bet_types import BetType
from keiba.themis import combination_probabilities, finish_orders
from keiba.themis.exotics import places_paid

FRAMES_18 = {
    h: f
    for f, horses in enumerate(
        [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14, 15), (16, 17, 18)], 1
    )
    for h in horses
}


def test_harville_by_hand() -> None:
    orders = finish_orders({1: 0.5, 2: 0.3, 3: 0.2})
    by_order = {
        tuple(o): p for o, p in zip(orders.numbers().tolist(), orders.probabilities, strict=True)
    }
    assert by_order[(1, 2, 3)] == pytest.approx(0.5 * 0.3 / 0.5 * 1.0)
    assert by_order[(2, 3, 1)] == pytest.approx(0.3 * 0.2 / 0.7)
    exacta = combination_probabilities(orders, BetType.EXACTA)
    assert exacta["3>1"] == pytest.approx(0.2 * 0.5 / 0.8)


def test_discounted_harville_takes_credit_from_the_favourite_for_second() -> None:
    win = {1: 0.6, 2: 0.25, 3: 0.1, 4: 0.05}
    plain = combination_probabilities(finish_orders(win), BetType.EXACTA)
    discounted = combination_probabilities(finish_orders(win, 0.8, 0.65), BetType.EXACTA)
    assert discounted["2>1"] < plain["2>1"]
    assert discounted["1>4"] > plain["1>4"]
    # the winner's probability is untouched
    for orders in (finish_orders(win), finish_orders(win, 0.8, 0.65)):
        assert combination_probabilities(orders, BetType.WIN) == pytest.approx(
            {str(h): p for h, p in win.items()}
        )


def test_an_18_runner_race_has_every_combination() -> None:
    win = dict.fromkeys(range(1, 19), 1 / 18)
    orders = finish_orders(win, 0.86, 0.72)
    assert orders.orders.shape == (4_896, 3)
    counts = {b: len(combination_probabilities(orders, b, FRAMES_18)) for b in BetType}
    assert counts == {
        BetType.WIN: 18,
        BetType.PLACE: 18,
        BetType.BRACKET_QUINELLA: 36,
        BetType.QUINELLA: 153,
        BetType.QUINELLA_PLACE: 153,
        BetType.EXACTA: 306,
        BetType.TRIO: 816,
        BetType.TRIFECTA: 4_896,
    }


@st.composite
def fields(draw: st.DrawFn) -> dict[int, float]:
    n = draw(st.integers(3, 18))
    weights = draw(st.lists(st.floats(0.01, 10.0), min_size=n, max_size=n))
    return {h + 1: w / math.fsum(weights) for h, w in enumerate(weights)}


@settings(max_examples=25, deadline=None)
@given(fields(), st.floats(0.5, 1.2), st.floats(0.5, 1.2))
def test_probabilities_of_each_bet_type_sum_to_one(win, gamma, delta) -> None:
    """Exclusive bet types sum to 1; place to the places paid, wide to the 3 pairs of the top 3."""
    n = len(win)
    frames = {h: min(8, h) for h in win}
    orders = finish_orders(win, gamma, delta)
    expected = {BetType.PLACE: places_paid(n), BetType.QUINELLA_PLACE: 3}
    for bet in BetType:
        total = math.fsum(combination_probabilities(orders, bet, frames).values())
        assert total == pytest.approx(expected.get(bet, 1), abs=1e-9), bet


def test_place_pays_two_places_with_seven_runners() -> None:
    win = dict.fromkeys(range(1, 8), 1 / 7)
    place = combination_probabilities(finish_orders(win), BetType.PLACE)
    assert place["1"] == pytest.approx(2 / 7)


@settings(max_examples=30, deadline=None)
@given(fields(), st.randoms(use_true_random=False))
def test_relabelling_runners_relabels_the_probabilities(win, rnd) -> None:
    labels = list(win)
    moved = labels[:]
    rnd.shuffle(moved)
    relabel = dict(zip(labels, moved, strict=True))
    before = combination_probabilities(finish_orders(win, 0.86, 0.72), BetType.TRIFECTA)
    after = combination_probabilities(
        finish_orders({relabel[h]: p for h, p in win.items()}, 0.86, 0.72), BetType.TRIFECTA
    )
    for combination, p in before.items():
        a, b, c = (relabel[int(x)] for x in combination.split(">"))
        assert after[f"{a}>{b}>{c}"] == pytest.approx(p, rel=1e-12)


def test_a_certain_winner_still_gives_a_distribution() -> None:
    orders = finish_orders({1: 1.0, 2: 0.0, 3: 0.0, 4: 0.0})
    assert orders.probabilities.sum() == pytest.approx(1.0)
