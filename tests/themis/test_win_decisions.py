import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keiba.common.config import ThemisConfig
from keiba.themis import Decision, DecisionError, Reason, decide, kelly_fraction

POLICY = ThemisConfig(
    ev_threshold=1.05, kelly_fraction=0.5, max_ticket_fraction=0.05, max_race_fraction=0.08
)


def test_kelly_of_a_single_bet() -> None:
    assert kelly_fraction(0.5, 3.0) == pytest.approx(0.25)
    assert kelly_fraction(0.2, 4.0) == 0.0


def test_value_bet_is_sized_by_fractional_kelly_and_rounded_down() -> None:
    decision = decide({1: 0.5, 2: 0.3, 3: 0.2}, {1: 2.4, 2: 3.0, 3: 4.5}, 100_000, POLICY)
    stakes = {b.combination: b.stake for b in decision.bets}
    # horse 1: EV 1.2, Kelly (1.2-1)/1.4 = 0.142857 × 0.5 = 0.0714 → ticket cap 0.05 → 5,000 yen
    # horse 3: EV 0.9 → rejected; horse 2: EV 0.9 → rejected
    assert stakes == {"1": 5000}
    reasons = {r.combination: r.reason for r in decision.rejections}
    assert set(reasons) == {"2", "3"}
    assert all("below 1.05" in r for r in reasons.values())


def test_race_cap_scales_all_stakes_together() -> None:
    policy = ThemisConfig(
        ev_threshold=1.0, kelly_fraction=1.0, max_ticket_fraction=0.2, max_race_fraction=0.2
    )
    decision = decide({1: 0.5, 2: 0.5}, {1: 3.0, 2: 3.0}, 100_000, policy)
    assert decision.total_stake <= 20_000
    assert all("race-cap" in b.rule for b in decision.bets)


def test_zero_bankroll_buys_nothing_and_says_why() -> None:
    decision = decide({1: 0.5, 2: 0.5}, {1: 3.0, 2: 3.0}, 0, POLICY)
    assert decision.bets == ()
    assert {r.reason for r in decision.rejections} == {"bankroll is zero"}


def test_tiny_stake_is_rejected_as_rounding_to_zero() -> None:
    decision = decide({1: 0.5, 2: 0.5}, {1: 2.2, 2: 1.5}, 1_000, POLICY)
    assert decision.bets == ()
    assert "rounds below 100" in decision.rejections[-1].reason


@pytest.mark.parametrize(
    ("probabilities", "odds", "bankroll", "field"),
    [
        ({1: 0.7, 2: 0.7}, {1: 2.0}, 1000, "probabilities"),
        ({1: -0.1, 2: 1.1}, {1: 2.0}, 1000, "probabilities[1]"),
        ({1: 0.5, 2: 0.5}, {1: 1.0}, 1000, "odds[1]"),
        ({1: 0.5, 2: 0.5}, {3: 2.0}, 1000, "odds[3]"),
        ({1: 0.5, 2: 0.5}, {1: 2.0}, -1, "bankroll"),
        ({1: 0.5, 2: 0.5}, {1: 2.0}, 1000.0, "bankroll"),
        ({1: math.nan, 2: 0.5}, {1: 2.0}, 1000, "probabilities[1]"),
    ],
)
def test_bad_inputs_raise_one_typed_error_naming_the_field(
    probabilities, odds, bankroll, field
) -> None:
    with pytest.raises(DecisionError) as caught:
        decide(probabilities, odds, bankroll, POLICY)
    assert caught.value.field == field


@st.composite
def races(draw: st.DrawFn) -> tuple[dict[int, float], dict[int, float], int]:
    n = draw(st.integers(2, 18))
    weights = draw(st.lists(st.floats(0.01, 10.0), min_size=n, max_size=n))
    total = math.fsum(weights)
    probabilities = {i + 1: w / total for i, w in enumerate(weights)}
    probabilities[n] = 1.0 - math.fsum(p for k, p in probabilities.items() if k != n)
    odds = {i + 1: draw(st.floats(1.1, 300.0)) for i in range(n)}
    bankroll = draw(st.integers(0, 10**9))
    return probabilities, odds, bankroll


@settings(max_examples=150, deadline=None)
@given(races())
def test_stakes_are_units_within_caps_and_above_threshold(race) -> None:
    probabilities, odds, bankroll = race
    decision = decide(probabilities, odds, bankroll, POLICY)
    assert decision.total_stake <= bankroll * POLICY.max_race_fraction
    for bet in decision.bets:
        assert bet.stake > 0 and bet.stake % 100 == 0
        assert bet.stake <= bankroll * POLICY.max_ticket_fraction
        assert bet.probability * bet.odds >= POLICY.ev_threshold
    assert len(decision.bets) + len(decision.rejections) == len(odds)


def _resized(decision: Decision) -> bool:
    return any(note.startswith("sized again") for note in decision.notes)


@settings(max_examples=100, deadline=None)
@given(races(), st.integers(1, 10**6))
def test_more_bankroll_never_means_smaller_stakes(race, extra) -> None:
    probabilities, odds, bankroll = race
    poorer = decide(probabilities, odds, bankroll, POLICY)
    richer = decide(probabilities, odds, bankroll + extra, POLICY)
    if _resized(poorer) or _resized(richer):
        return  # sized without a ticket rounding dropped: a different set of tickets
    small = {b.combination: b.stake for b in poorer.bets}
    large = {b.combination: b.stake for b in richer.bets}
    for combination, stake in small.items():
        assert large.get(combination, 0) >= stake


@settings(max_examples=100, deadline=None)
@given(races(), st.randoms(use_true_random=False))
def test_relabelling_runners_relabels_the_bets(race, rnd) -> None:
    probabilities, odds, bankroll = race
    labels = list(probabilities)
    shuffled = labels[:]
    rnd.shuffle(shuffled)
    relabel = dict(zip(labels, shuffled, strict=True))
    original = decide(probabilities, odds, bankroll, POLICY)
    moved = decide(
        {relabel[k]: p for k, p in probabilities.items()},
        {relabel[k]: o for k, o in odds.items()},
        bankroll,
        POLICY,
    )
    assert {(str(relabel[int(b.combination)]), b.stake) for b in original.bets} == {
        (b.combination, b.stake) for b in moved.bets
    }


def test_without_the_ev_screen_full_kelly_reaches_every_offered_ticket() -> None:
    win, odds = {1: 0.35, 2: 0.65}, {1: 3.0, 2: 1.2}  # EV 1.05 and 0.78
    policy = ThemisConfig(kelly_fraction=1.0, max_ticket_fraction=0.05, max_race_fraction=0.1)
    screened = decide(win, odds, 1_000_000, policy)
    assert screened.bets == ()
    assert {r.code for r in screened.rejections} == {Reason.EV_BELOW_THRESHOLD}
    open_ = decide(win, odds, 1_000_000, policy.model_copy(update={"ev_screen": False}))
    (bet,) = open_.bets
    assert bet.combination == "1" and 24_900 <= bet.stake <= 25_000  # (p·o − 1)/(o − 1) = 2.5%
    assert bet.rule.startswith("no-ev-screen+")
    assert [(r.combination, r.code) for r in open_.rejections] == [("2", Reason.NO_KELLY_STAKE)]


def test_tickets_at_one_cap_split_the_race_budget_exactly() -> None:
    odds = {1: 3.0, 2: 2.0}
    for bankroll in (100_000_000, 100_000_003):  # a float product once lost 100 yen here
        stakes = [b.stake for b in decide({1: 0.4, 2: 0.6}, odds, bankroll, POLICY).bets]
        assert stakes == [4_000_000, 4_000_000]
