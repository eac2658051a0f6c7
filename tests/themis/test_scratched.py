"""Scratched runners (取消・除外): never bought, never counted in the field."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keiba.common.bet_types import BetType, format_combination
from keiba.common.config import ThemisConfig
from keiba.themis import DecisionError, Reason, decide
from keiba.themis.exotics import MIN_STARTERS

POLICY = ThemisConfig(ev_threshold=1.05, kelly_fraction=0.5, max_race_fraction=0.2)
PRICES = {
    BetType.WIN: 6.0,
    BetType.PLACE: 2.2,
    BetType.QUINELLA: 14.0,
    BetType.QUINELLA_PLACE: 5.0,
    BetType.EXACTA: 28.0,
    BetType.TRIO: 40.0,
    BetType.TRIFECTA: 160.0,
}
ORDERED = {BetType.EXACTA, BetType.TRIFECTA}


def _market(runners: list[int]) -> dict[BetType, dict[str, float]]:
    market: dict[BetType, dict[str, float]] = {}
    for bet, odds in PRICES.items():
        pick = itertools.permutations if bet in ORDERED else itertools.combinations
        combos = list(pick(runners[:5], bet.arity))
        if combos:
            market[bet] = {format_combination(bet, list(c)): odds for c in combos}
    return market


def _without(
    market: dict[BetType, dict[str, float]], out: set[int]
) -> dict[BetType, dict[str, float]]:
    def names(c: str) -> set[int]:
        return {int(x) for x in c.replace(">", "-").split("-")}

    kept = {b: {c: o for c, o in q.items() if not names(c) & out} for b, q in market.items()}
    return {b: q for b, q in kept.items() if q}


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_adding_scratched_runners_never_changes_the_decision(data: st.DataObject) -> None:
    numbers = data.draw(st.permutations(range(1, 19)))
    n = data.draw(st.integers(1, 9))
    starters = sorted(numbers[:n])
    out = set(numbers[n : n + data.draw(st.integers(1, 6))])
    weights = data.draw(st.lists(st.floats(0.05, 1.0), min_size=n, max_size=n))
    win = {h: w / sum(weights) for h, w in zip(starters, weights, strict=True)}
    declared = sorted([*starters, *out])
    market = _market(declared)
    as_zero = data.draw(st.booleans())
    probabilities = {**win, **dict.fromkeys(out, 0.0)} if as_zero else win

    with_out = decide(probabilities, market, 1_000_000, POLICY, scratched=out)
    alone = decide(win, _without(market, out), 1_000_000, POLICY)

    assert with_out.bets == alone.bets
    kept = [r for r in with_out.rejections if r.code is not Reason.SCRATCHED]
    assert kept == list(alone.rejections)
    assert sum(len(q) for q in market.values()) - sum(
        len(q) for q in _without(market, out).values()
    ) == len(with_out.rejections) - len(kept)
    for r in kept:  # the field size is the starters
        assert (r.code is Reason.NOT_SOLD) == (n < MIN_STARTERS[r.bet_type])


def test_a_scratch_in_eight_declared_prices_place_on_two_places() -> None:
    seven = {1: 0.4, 2: 0.2, 3: 0.15, 4: 0.1, 5: 0.07, 6: 0.05, 7: 0.03}
    odds = {BetType.PLACE: {"2": 2.0}}
    scratched = decide({**seven, 8: 0.0}, odds, 1_000_000, POLICY, scratched={8})
    counted = decide({**seven, 8: 0.0}, odds, 1_000_000, POLICY)
    p_scratched = (scratched.bets or scratched.rejections)[0].probability
    p_counted = (counted.bets or counted.rejections)[0].probability
    assert p_scratched < 0.55 < p_counted  # top two of seven starters, top three of eight


def test_a_scratch_can_close_a_pool() -> None:
    five = {1: 0.4, 2: 0.3, 3: 0.2, 4: 0.1}
    decision = decide(
        {**five, 5: 0.0}, {BetType.PLACE: {"1": 5.0}}, 1_000_000, POLICY, scratched=[5]
    )
    assert decision.bets == ()
    assert [r.code for r in decision.rejections] == [Reason.NOT_SOLD]


def test_a_frame_left_without_starters_is_not_bought() -> None:
    frames = dict(zip(range(1, 12), [1, 2, 3, 4, 5, 6, 6, 7, 7, 8, 8], strict=True))
    odds = {BetType.BRACKET_QUINELLA: {"1-8": 500.0, "1-2": 500.0}}
    nine = {**dict.fromkeys(range(1, 10), 1 / 9), 10: 0.0, 11: 0.0}
    decision = decide(nine, odds, 1_000_000, POLICY, frames=frames, scratched={10, 11})
    codes = {r.combination: r.code for r in decision.rejections}
    assert codes["1-8"] is Reason.SCRATCHED
    assert "1-2" not in codes or codes["1-2"] not in (Reason.SCRATCHED, Reason.NOT_SOLD)
    eight = {**dict.fromkeys(range(1, 9), 1 / 8), 9: 0.0, 10: 0.0, 11: 0.0}
    fewer = decide(eight, odds, 1_000_000, POLICY, frames=frames, scratched={9, 10, 11})
    assert fewer.bets == ()
    assert {r.combination: r.code for r in fewer.rejections}["1-2"] is Reason.NOT_SOLD


def test_scratched_runners_are_validated() -> None:
    win = {1: 0.5, 2: 0.5}
    with pytest.raises(DecisionError, match="scratched"):
        decide(win, {1: 3.0}, 1_000, POLICY, scratched={1})
    with pytest.raises(DecisionError, match="1–18"):
        decide(win, {1: 3.0}, 1_000, POLICY, scratched={19})
    with pytest.raises(DecisionError, match="collection"):
        decide(win, {1: 3.0}, 1_000, POLICY, scratched=2)  # type: ignore[arg-type]
