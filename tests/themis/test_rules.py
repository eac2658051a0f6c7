"""decide over every bet type, and the practical rules: each binds and says so."""

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keiba.common.bet_types import BetType, format_combination, parse_combination
from keiba.common.config import ThemisConfig
from keiba.common.money import MAX_YEN
from keiba.themis import Bankroll, DecisionError, Quote, Reason, decide
from keiba.themis.exotics import combination_probabilities, finish_orders
from keiba.themis.rules import allocate

WIN = {1: 0.40, 2: 0.25, 3: 0.15, 4: 0.10, 5: 0.06, 6: 0.04}
GENEROUS = ThemisConfig(
    ev_threshold=1.05, kelly_fraction=0.5, max_ticket_fraction=0.05, max_race_fraction=0.2
)


def _market(win: dict[int, float], edge: float = 1.3) -> dict[BetType, dict[str, float]]:
    """Odds that pay `edge` × the fair price on every combination (a model that sees value)."""
    orders = finish_orders(win, GENEROUS.exotic_gamma, GENEROUS.exotic_delta)
    market: dict[BetType, dict[str, float]] = {}
    for bet in (BetType.WIN, BetType.EXACTA, BetType.TRIFECTA, BetType.QUINELLA):
        probabilities = combination_probabilities(orders, bet)
        market[bet] = {c: round(edge / p, 1) for c, p in probabilities.items() if edge / p > 1.0}
    return market


def test_a_multi_pool_race_is_sized_jointly_within_the_caps() -> None:
    decision = decide(WIN, _market(WIN), 1_000_000, GENEROUS)
    assert decision.bets
    assert decision.total_stake <= 200_000
    assert {b.bet_type for b in decision.bets} <= {
        BetType.WIN,
        BetType.EXACTA,
        BetType.TRIFECTA,
        BetType.QUINELLA,
    }
    assert all("joint-kelly" in b.rule and b.stake % 100 == 0 for b in decision.bets)
    quotes = sum(len(q) for q in _market(WIN).values())
    assert len(decision.bets) + len(decision.rejections) == quotes


def test_joint_kelly_equals_the_single_pool_result_when_one_pool_is_offered() -> None:
    market = {BetType.EXACTA: _market(WIN)[BetType.EXACTA]}
    joint = decide(WIN, market, 10_000_000, GENEROUS)
    per_pool = decide(WIN, market, 10_000_000, GENEROUS.model_copy(update={"sizing": "per_pool"}))
    assert [(b.combination, b.stake) for b in joint.bets] == [
        (b.combination, b.stake) for b in per_pool.bets
    ]
    assert all("simultaneous-kelly" in b.rule for b in joint.bets)


def test_place_and_wide_are_decided_at_the_low_odds() -> None:
    market = {BetType.PLACE: {"2": Quote(3.0, odds_high=6.0)}}
    decision = decide(WIN, market, 1_000_000, GENEROUS)
    assert [b.odds for b in decision.bets] == [3.0]
    assert "low end" in decision.notes[0]


def test_day_cap_and_ticket_limit_use_what_today_already_used() -> None:
    fresh = decide(WIN, {1: 3.0}, 1_000_000, GENEROUS)
    assert fresh.total_stake > 0
    policy = GENEROUS.model_copy(update={"max_day_fraction": 0.25})
    late = decide(WIN, {1: 3.0}, Bankroll(1_000_000, staked_today_yen=250_000), policy)
    assert late.bets == ()
    assert late.rejections[0].code is Reason.CAP_REACHED
    full = decide(WIN, {1: 3.0}, Bankroll(1_000_000, tickets_today=9_000), GENEROUS)
    assert full.bets == () and full.rejections[0].code is Reason.TICKET_LIMIT


def test_absolute_caps_and_the_multiplier_bind_and_are_reported() -> None:
    policy = GENEROUS.model_copy(update={"max_ticket_yen": 1_000})
    (bet,) = decide(WIN, {1: 3.0}, 1_000_000, policy).bets
    assert bet.stake == 1_000 and "ticket-cap" in bet.rule
    halved = decide(WIN, {1: 3.0}, 1_000_000, GENEROUS.model_copy(update={"stake_multiplier": 0.5}))
    full = decide(WIN, {1: 3.0}, 1_000_000, GENEROUS)
    assert halved.total_stake <= full.total_stake / 2
    paused = decide(WIN, {1: 3.0}, 1_000_000, GENEROUS.model_copy(update={"stake_multiplier": 0}))
    assert paused.bets == () and paused.rejections[0].code is Reason.STAKE_MULTIPLIER_ZERO


def test_bankroll_floor_stops_buying() -> None:
    policy = GENEROUS.model_copy(update={"bankroll_floor_yen": 50_000})
    decision = decide(WIN, {1: 3.0}, 49_999, policy)
    assert decision.bets == () and decision.rejections[0].code is Reason.BANKROLL_FLOOR


def test_own_impact_caps_a_stake_in_a_thin_pool() -> None:
    thin = {BetType.WIN: {"1": Quote(3.0, pool_yen=200_000)}}
    (bet,) = decide(WIN, thin, 100_000_000, GENEROUS).bets
    assert "own-impact" in bet.rule
    assert bet.stake <= 0.4 * 200_000


def test_torigami_guard_drops_a_hit_that_returns_less_than_the_race_stake() -> None:
    policy = ThemisConfig(
        ev_threshold=1.0,
        kelly_fraction=1.0,
        max_ticket_fraction=0.5,
        max_race_fraction=0.9,
        max_day_fraction=1.0,
        sizing="independent",
        torigami_guard=True,
    )
    # both win bets have an edge; a hit on the 1.5 shot returns less than the two stakes
    probabilities = {1: 0.7, 2: 0.25, 3: 0.05}
    unguarded = decide(
        probabilities,
        {1: 1.5, 2: 5.0},
        1_000_000,
        policy.model_copy(update={"torigami_guard": False}),
    )
    assert unguarded.bets[0].stake * 1.5 < unguarded.total_stake
    decision = decide(probabilities, {1: 1.5, 2: 5.0}, 1_000_000, policy)
    codes = {r.combination: r.code for r in decision.rejections}
    for bet in decision.bets:
        assert bet.stake * bet.odds >= decision.total_stake
    assert Reason.TORIGAMI in codes.values()


def test_ten_straight_losses_shrink_the_stakes_with_the_bankroll() -> None:
    balance, stakes = 1_000_000, []
    for _ in range(10):
        decision = decide(WIN, _market(WIN), balance, GENEROUS)
        stakes.append(decision.total_stake)
        balance -= decision.total_stake  # every ticket lost
    assert all(later < earlier for earlier, later in itertools.pairwise(stakes))
    assert decide(WIN, _market(WIN), 0, GENEROUS).bets == ()
    assert {r.code for r in decide(WIN, {1: 3.0}, 0, GENEROUS).rejections} == {Reason.ZERO_BANKROLL}


@pytest.mark.parametrize(
    ("odds", "kwargs", "field"),
    [
        ({"trifecta": {"1>1>2": 9.0}}, {}, "odds[trifecta][1>1>2]"),
        ({"trifecta": {"1>2>9": 9.0}}, {}, "odds[trifecta][1>2>9]"),
        ({"exacta": {"1>2": 0.9}}, {}, "odds[exacta][1>2]"),
        ({"place": {"1": Quote(2.0, odds_high=1.5)}}, {}, "odds[place][1].odds_high"),
        ({"win": {"1": Quote(2.0, pool_yen=-5)}}, {}, "odds[win][1].pool_yen"),
        ({"bracket_quinella": {"1-2": 9.0}}, {}, "frames"),
        ({"show": {"1": 2.0}}, {}, "odds"),
        ({1: 2.0}, {"frames": {1: 9}}, "frames[1]"),
    ],
)
def test_bad_quotes_raise_one_typed_error(odds, kwargs, field) -> None:
    with pytest.raises(DecisionError) as caught:
        decide(WIN, odds, 1_000, GENEROUS, **kwargs)
    assert caught.value.field == field


def test_an_inconsistent_policy_is_a_decision_error() -> None:
    bad = ThemisConfig.model_construct(**{**dict(GENEROUS), "max_ticket_fraction": 0.5})
    with pytest.raises(DecisionError) as caught:
        decide(WIN, {1: 3.0}, 1_000, bad)
    assert caught.value.field == "policy"
    with pytest.raises(DecisionError) as caught:
        decide(WIN, {1: 3.0}, Bankroll(1_000, staked_today_yen=-1), GENEROUS)
    assert caught.value.field == "bankroll.staked_today_yen"


@st.composite
def races(draw: st.DrawFn) -> tuple[dict[int, float], dict[BetType, dict[str, float]]]:
    n = draw(st.integers(3, 8))
    weights = draw(st.lists(st.floats(0.05, 5.0), min_size=n, max_size=n))
    win = {h + 1: w / math.fsum(weights) for h, w in enumerate(weights)}
    win[n] = 1.0 - math.fsum(p for h, p in win.items() if h != n)
    orders = finish_orders(win, 0.86, 0.72)
    market: dict[BetType, dict[str, float]] = {}
    for bet in (BetType.WIN, BetType.QUINELLA, BetType.EXACTA):
        for combination, p in combination_probabilities(orders, bet).items():
            factor = draw(st.floats(0.6, 1.6))
            market.setdefault(bet, {})[combination] = max(1.1, round(factor * 0.8 / p, 1))
    return win, market


@settings(max_examples=25, deadline=None)
@given(races(), st.integers(0, 10**8), st.integers(1, 10**7))
def test_multi_pool_properties(race, bankroll, extra) -> None:
    win, market = race
    decision = decide(win, market, bankroll, GENEROUS)
    assert decision.total_stake <= bankroll * GENEROUS.max_race_fraction
    for bet in decision.bets:
        assert bet.stake > 0 and bet.stake % 100 == 0
        assert bet.expected_return >= GENEROUS.ev_threshold
    more = decide(win, market, bankroll + extra, GENEROUS)
    if any(n.startswith("sized again") for n in (*decision.notes, *more.notes)):
        return  # sized without a ticket rounding dropped: a different set of tickets
    richer = {b.combination: b.stake for b in more.bets}
    for bet in decision.bets:
        assert richer.get(bet.combination, 0) >= bet.stake


def _relabel(bet: BetType, combination: str, mapping: dict[int, int]) -> str:
    numbers = [mapping[n] for n in parse_combination(bet, combination)]
    return format_combination(bet, numbers)


@settings(max_examples=25, deadline=None)
@given(races(), st.integers(10**5, 10**8), st.randoms(use_true_random=False))
def test_relabelling_runners_relabels_a_multi_pool_decision(race, bankroll, rnd) -> None:
    """The joint Kelly is solved numerically, so a stake may land on the other side of a
    100-yen boundary after relabelling; anything beyond one unit would be a real change."""
    win, market = race
    labels = list(win)
    shuffled = labels[:]
    rnd.shuffle(shuffled)
    mapping = dict(zip(labels, shuffled, strict=True))
    moved_market = {
        bet: {_relabel(bet, c, mapping): o for c, o in quotes.items()}
        for bet, quotes in market.items()
    }
    original = decide(win, market, bankroll, GENEROUS)
    moved = decide({mapping[h]: p for h, p in win.items()}, moved_market, bankroll, GENEROUS)
    expected = {
        (b.bet_type, _relabel(b.bet_type, b.combination, mapping)): b.stake for b in original.bets
    }
    found = {(b.bet_type, b.combination): b.stake for b in moved.bets}
    for key in expected.keys() | found.keys():
        assert abs(expected.get(key, 0) - found.get(key, 0)) <= 100, key


CAPS = ThemisConfig(max_ticket_fraction=0.02, max_race_fraction=0.05)


def test_the_unit_round_down_is_reported_when_it_takes_yen_off() -> None:
    (rounded,) = allocate([0.001234], [None], Bankroll(1_000_000), CAPS)
    assert (rounded.stake, rounded.binding) == (1_200, ("unit",))
    (whole,) = allocate([0.0012], [None], Bankroll(1_000_000), CAPS)
    assert (whole.stake, whole.binding) == (1_200, ())
    (small,) = allocate([0.00005], [None], Bankroll(1_000_000), CAPS)
    assert small.reason is Reason.ROUNDS_TO_ZERO and small.binding == ("unit",)


def test_the_ticket_cap_tag_does_not_outlive_the_race_scaling() -> None:
    (alone,) = allocate([0.03], [None], Bankroll(1_000_000), CAPS)
    assert (alone.stake, alone.binding) == (20_000, ("ticket-cap",))
    five = allocate([0.03] * 5, [None] * 5, Bankroll(1_000_000), CAPS)
    assert [(a.stake, a.binding) for a in five] == [(10_000, ("race-cap",))] * 5


def test_the_ticket_cap_is_exact_when_it_binds() -> None:
    (at_cap,) = allocate([0.5], [None], Bankroll(123_456), CAPS)
    assert (at_cap.stake, at_cap.binding) == (2_400, ("ticket-cap",))


def test_a_callers_cap_binds_the_race_budget_only_when_smaller_and_is_named_in_the_rule() -> None:
    market = {BetType.WIN: _market(WIN)[BetType.WIN]}
    free = decide(WIN, market, Bankroll(1_000_000), GENEROUS)
    assert sum(b.stake for b in free.bets) > 1_000
    capped = decide(WIN, market, Bankroll(1_000_000, cap_yen=1_050, cap_name="mine"), GENEROUS)
    assert 0 < sum(b.stake for b in capped.bets) <= 1_000  # the cap in whole 100-yen units
    assert all("+mine" in b.rule for b in capped.bets), [b.rule for b in capped.bets]
    loose = decide(WIN, market, Bankroll(1_000_000, cap_yen=10**9, cap_name="mine"), GENEROUS)
    assert [(b.combination, b.stake, b.rule) for b in loose.bets] == [
        (b.combination, b.stake, b.rule) for b in free.bets
    ]
    with pytest.raises(DecisionError, match=r"bankroll\.cap_yen"):
        decide(WIN, market, Bankroll(1_000_000, cap_yen=-100), GENEROUS)


@settings(max_examples=40, deadline=None)
@given(races(), st.integers(10**5, 10**8), st.integers(0, 10**6))
def test_a_callers_cap_is_never_exceeded_and_never_loosens_the_others(race, bankroll, cap) -> None:
    win, market = race
    free = decide(win, market, bankroll, GENEROUS)
    capped = decide(win, market, Bankroll(bankroll, cap_yen=cap, cap_name="mine"), GENEROUS)
    assert capped.total_stake <= cap
    assert capped.total_stake <= free.total_stake
    assert all(b.stake > 0 and b.stake % 100 == 0 for b in capped.bets)


def test_a_caller_s_cap_must_be_named_and_not_like_themis_s_own_limits() -> None:
    market = {1: 3.0, 2: 4.0, 3: 6.0}
    probabilities = {1: 0.5, 2: 0.3, 3: 0.2}
    for name in ("", "  ", "ticket-cap", "race-cap", "day-cap", "own-impact", "unit"):
        with pytest.raises(DecisionError, match=r"bankroll\.cap_name"):
            decide(probabilities, market, Bankroll(100_000, cap_yen=500, cap_name=name), GENEROUS)
    named = decide(probabilities, market, Bankroll(100_000, cap_yen=500, cap_name="mine"), GENEROUS)
    assert named.bets and sum(int(b.stake) for b in named.bets) <= 500


def test_amounts_beyond_the_largest_keiba_accepts_are_refused_not_wrapped() -> None:
    probabilities = {1: 0.5, 2: 0.3, 3: 0.2}
    huge = 10**20  # beyond int64 too: it used to become −2**63 ("pool unknown") silently
    quotes = {BetType.WIN: {"1": Quote(3.0, pool_yen=huge), "2": Quote(4.0), "3": Quote(6.0)}}
    with pytest.raises(
        DecisionError, match=r"odds\[win\]\[1\]\.pool_yen = 10{20}: is beyond the largest"
    ):
        decide(probabilities, quotes, 100_000, GENEROUS)
    every = {BetType.WIN: {str(h): Quote(3.0 + h, pool_yen=huge) for h in (1, 2, 3)}}
    with pytest.raises(DecisionError, match="beyond the largest"):
        decide(probabilities, every, 100_000, GENEROUS)  # the quotes' columns at once
    with pytest.raises(DecisionError, match=r"bankroll.*beyond the largest"):
        decide(probabilities, {1: 3.0, 2: 4.0, 3: 6.0}, MAX_YEN + 1, GENEROUS)
    ok = {BetType.WIN: {str(h): Quote(3.0 + h, pool_yen=MAX_YEN) for h in (1, 2, 3)}}
    decide(probabilities, ok, 100_000, GENEROUS)
