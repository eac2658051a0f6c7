"""The yen rules and the check of the quotes, as columns, against the ticket-by-ticket and
quote-by-quote versions they replaced: the same stakes, tags, reasons, messages and offers on
any input, to the yen and to the character (the previous `allocate` is kept here as the
reference)."""

import math
import sys
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from keiba.common.bet_types import BetType
from keiba.common.config import ThemisConfig
from keiba.common.money import Yen, round_down_to_unit
from keiba.themis import inputs
from keiba.themis.bench import FRAMES_18, synthetic_race
from keiba.themis.decide import decide
from keiba.themis.exotics import combination_text, finish_orders
from keiba.themis.inputs import BET_TYPES, Bankroll, DecisionError, Quote
from keiba.themis.rules import (
    NO_REASON,
    REASONS,
    Allocation,
    Allocations,
    Reason,
    _cap,
    _within_budget,
    allocate,
    budget,
)

decide_module = sys.modules["keiba.themis.decide"]


def reference_allocate(
    fractions: Sequence[float],
    own_impact_caps: Sequence[float | None],
    bankroll: Bankroll,
    policy: ThemisConfig,
) -> list[Allocation]:
    """The previous `rules.allocate`, ticket by ticket (the rules: `keiba.themis.rules`)."""
    unit, balance = policy.unit_yen, bankroll.balance_yen
    capped = [min(f, policy.max_ticket_fraction) for f in fractions]
    race_budget, budget_name = budget(bankroll, policy)
    total = math.fsum(capped)
    scaled = total > 0 and balance * total > race_budget
    # a tag names a limit the final stake sits at: after the race budget scaled every ticket,
    # none sits at the ticket cap any more (the budget's tag says what bound it)
    binding: list[list[str]] = [
        [budget_name] if scaled else ["ticket-cap"] if f > c else []
        for f, c in zip(fractions, capped, strict=True)
    ]
    ticket_cap = _cap(balance, policy.max_ticket_fraction, policy.max_ticket_yen, unit)
    allocations: list[Allocation | None] = [None] * len(fractions)
    committed = 0
    ranked = sorted(range(len(fractions)), key=lambda i: (-capped[i], i))
    for i in ranked:
        # the budget's share as budget × c/Σc: tickets at one cap split it exactly
        raw = race_budget * capped[i] / total if scaled else balance * capped[i]
        whole = math.floor(raw)
        stake = int(round_down_to_unit(whole, unit))
        if "ticket-cap" in binding[i]:
            stake = ticket_cap  # exactly the cap, not a float product a yen short of it
        limits = [(ticket_cap, "ticket-cap")]
        own = own_impact_caps[i]
        if own is not None:
            limits.append((int(round_down_to_unit(math.floor(own), unit)), "own-impact"))
        limits.append((int(round_down_to_unit(race_budget - committed, unit)), budget_name))
        cut_by = ""
        for limit, name in limits:
            if stake > limit:
                stake = limit
                cut_by = name
                if name not in binding[i]:
                    binding[i].append(name)
        if not cut_by and stake < whole and "ticket-cap" not in binding[i]:
            binding[i].append("unit")  # the round-down to the unit took yen off
        if not cut_by and scaled and balance * capped[i] >= policy.min_stake_yen:
            cut_by = budget_name  # the scaling for the race or day budget took it below
        if stake < policy.min_stake_yen:
            if cut_by:
                message = f"{cut_by} reached: {stake:,} yen left, below {policy.min_stake_yen} yen"
                allocations[i] = Allocation(Yen(0), tuple(binding[i]), Reason.CAP_REACHED, message)
            else:
                message = f"stake {raw:,.0f} yen rounds below {policy.min_stake_yen} yen"
                allocations[i] = Allocation(
                    Yen(0), tuple(binding[i]), Reason.ROUNDS_TO_ZERO, message
                )
            continue
        committed += stake
        allocations[i] = Allocation(Yen(stake), tuple(binding[i]))
    result = [a for a in allocations if a is not None]
    assert len(result) == len(fractions)
    left = policy.max_tickets_per_day - bankroll.tickets_today
    bought = [i for i, a in enumerate(result) if a.stake > 0]
    if len(bought) > left:
        keep = set(sorted(bought, key=lambda i: (-result[i].stake, i))[: max(left, 0)])
        limit = policy.max_tickets_per_day
        for i in bought:
            if i not in keep:
                message = f"daily ticket limit of {limit:,} reached"
                result[i] = Allocation(Yen(0), result[i].binding, Reason.TICKET_LIMIT, message)
    return result


CAPS = ThemisConfig()
CAP_NAMES = ("caller-cap", "canary", "ticket-cap", "own-impact", "unit", "race-cap", "day-cap")


@st.composite
def policies(draw: st.DrawFn) -> ThemisConfig:
    ticket = draw(st.sampled_from([0.001, 0.005, 0.01, 0.02, 0.029, 0.05, 0.1, 0.3]))
    race = draw(st.sampled_from([ticket, 0.05, 0.1, 0.29, 0.5, 1.0]).filter(lambda r: r >= ticket))
    day = draw(st.sampled_from([race, 0.25, 0.5, 1.0]).filter(lambda d: d >= race))
    unit = draw(st.sampled_from([100, 200, 500, 1_000]))
    least = unit * draw(st.integers(1, 3))
    absolute = st.none() | st.integers(least, 10**7)
    return ThemisConfig(
        max_ticket_fraction=ticket,
        max_race_fraction=race,
        max_day_fraction=day,
        unit_yen=unit,
        min_stake_yen=least,
        max_ticket_yen=draw(absolute),
        max_race_yen=draw(absolute),
        max_day_yen=draw(absolute),
        max_tickets_per_day=draw(st.sampled_from([1, 5, 20, 40, 9_000])),
    )


@st.composite
def bankrolls(draw: st.DrawFn) -> Bankroll:
    top = draw(st.sampled_from([10**5, 10**7, 10**9, 10**9, 10**16, 10**22]))
    balance = draw(st.integers(top // 100, top))
    day_start = draw(st.none() | st.integers(0, 2 * balance + 1))
    return Bankroll(
        balance,
        staked_today_yen=draw(st.integers(0, balance // 2 + 1)),
        tickets_today=draw(st.sampled_from([0, 0, 3, 19, 38, 45])),
        day_start_yen=day_start,
        cap_yen=draw(st.none() | st.integers(0, balance + 1)),
        cap_name=draw(st.sampled_from(CAP_NAMES)),
    )


FRACTION = st.floats(1e-9, 0.4) | st.sampled_from([0.0001, 0.001, 0.002, 0.01, 0.02, 0.3])
"""Fractions, often repeated: tickets at one cap, or of one share, tie."""
OWN = st.none() | st.floats(0.0, 5e6) | st.sampled_from([0.0, 99.9, 100.0, 150.0, 1e20])


@st.composite
def tickets(draw: st.DrawFn) -> tuple[list[float], list[float | None]]:
    n = draw(st.integers(0, 30))
    fractions = draw(st.lists(FRACTION, min_size=n, max_size=n))
    own = draw(st.lists(OWN, min_size=n, max_size=n))
    return fractions, own


def _same(fractions: Sequence[float], own: Sequence[float | None], account, policy) -> None:
    expected = reference_allocate(fractions, own, account, policy)
    found = allocate(fractions, own, account, policy)
    assert list(found) == expected
    assert all(type(a.stake) is int for a in found)
    as_array = allocate(
        np.array(fractions, dtype=np.float64),
        np.array([math.nan if c is None else c for c in own], dtype=np.float64),
        account,
        policy,
    )
    assert list(as_array) == expected


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tickets(), bankrolls(), policies())
@example(([0.03] * 5, [None] * 5), Bankroll(1_000_000), ThemisConfig(max_ticket_fraction=0.02))
@example(
    ([0.5, 0.5, 0.001], [None, 300.0, None]),
    Bankroll(123_456, cap_name="ticket-cap"),
    ThemisConfig(),
)
def test_allocate_matches_the_ticket_by_ticket_rules(race, account, policy) -> None:
    fractions, own = race
    _same(fractions, own, account, policy)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([0.0004, 0.001, 0.0015, 0.02, 0.05]), min_size=1, max_size=60),
    st.integers(10_000, 10**8),
    st.integers(0, 10**6),
)
def test_a_budget_that_runs_out_midway_matches(fractions, balance, cap) -> None:
    """A caller's cap named like the ticket cap puts every scaled ticket at the ticket cap, so
    the cap's remainder runs out among tickets (ties among them): it is given out largest
    first, and a stake it leaves below the minimum is not bought."""
    account = Bankroll(balance, cap_yen=cap, cap_name="ticket-cap")
    _same(fractions, [None] * len(fractions), account, ThemisConfig(max_tickets_per_day=25))


def _served_in_turn(stakes: list[int], capped: list[float], budget_yen: int, least: int, unit: int):
    ranked = sorted(range(len(stakes)), key=lambda i: (-capped[i], i))
    final, cut, committed = list(stakes), [False] * len(stakes), 0
    for i in ranked:
        left = int(round_down_to_unit(budget_yen - committed, unit))
        if final[i] > left:
            final[i], cut[i] = left, True
        if final[i] >= least:
            committed += final[i]
    return final, cut


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 40), st.sampled_from([0.1, 0.2, 0.3, 0.4])), max_size=40),
    st.integers(0, 200),
    st.sampled_from([(100, 100), (100, 300), (200, 400), (500, 500)]),
    st.booleans(),
)
def test_the_race_budget_is_given_out_in_rank_order(tickets, left, units, huge) -> None:
    """The remainder of the budget as each ticket's turn comes, against the loop it replaced
    (any stakes, any budget; with `huge`, amounts beyond a float's exact integers)."""
    unit, least = units
    offset = 10**20 if huge else 0
    stakes = [k * unit + (offset if k else 0) for k, _ in tickets]
    capped = [c for _, c in tickets]
    budget_yen = left * unit + offset
    expected = _served_in_turn(stakes, capped, budget_yen, least, unit)
    column = np.array(stakes, dtype=object if huge else np.int64)
    final, cut = _within_budget(column, np.array(capped), budget_yen, least, unit)
    assert (final.tolist(), cut.tolist()) == expected


def _as_columns(allocations: list[Allocation]) -> Allocations:
    out = Allocations.nothing(len(allocations))
    for j, a in enumerate(allocations):
        out.stake[j], out.binding[j], out.message[j] = a.stake, a.binding, a.message
        out.reason[j] = NO_REASON if a.reason is None else REASONS.index(a.reason)
    return out


def _ticket_by_ticket(fractions, own, account, policy) -> Allocations:
    caps = [None if math.isnan(c) else c for c in own.tolist()]
    return _as_columns(reference_allocate(fractions.tolist(), caps, account, policy))


@pytest.mark.parametrize("seed", [7, 8])
def test_full_decisions_are_the_same_with_the_ticket_by_ticket_rules(seed, monkeypatch) -> None:
    """Two full 18-runner races of eight pools (own impact from known pools, a day cap, the
    ticket limit and a caller's cap binding): every bet and rejection as before."""
    rng = np.random.default_rng(seed)
    model, market = synthetic_race(rng)
    pooled = {
        bet: {
            c: Quote(q.odds, q.odds_high, 40_000 * (i % 97 + 1))
            for i, (c, q) in enumerate(qs.items())
        }
        for bet, qs in market.items()
    }
    cases = [
        (market, 10_000_000),
        (pooled, 100_000_000),
        (market, Bankroll(10_000_000, staked_today_yen=2_470_000, tickets_today=8_950)),
        (market, Bankroll(3_333_333, cap_yen=54_321, cap_name="canary")),
    ]
    policy = ThemisConfig()
    found = [
        decide(model, odds, account, policy, frames=FRAMES_18).to_dict() for odds, account in cases
    ]
    monkeypatch.setattr(decide_module, "allocate", _ticket_by_ticket)
    expected = [
        decide(model, odds, account, policy, frames=FRAMES_18).to_dict() for odds, account in cases
    ]
    assert found == expected
    assert {r["code"] for d in found for r in d["rejections"]} >= {"cap_reached", "ticket_limit"}
    assert any("+own-impact" in b["rule"] for b in found[1]["bets"])


PRICE = st.floats(1.01, 500.0) | st.integers(2, 500)
HIGH = st.none() | st.floats(500.0, 900.0)
POOL = st.none() | st.integers(0, 10**7) | st.just(10**12)
COMBINATIONS = {
    BetType.WIN: ["3", "1", "2"],
    BetType.PLACE: ["2", "1", "3"],
    BetType.QUINELLA: ["2-3", "1-2", "1-3"],
    BetType.TRIO: ["1-2-3"],
}
FLAWS = [0.5, 1.0, math.nan, True, Quote(2.0, 1.5), Quote(2.0, True), Quote(2.0, None, -5)]
FLAWS += [Quote(2.0, None, True), Quote(2.0, None, 2.5), Quote(math.inf), Quote(2.0, "9")]
FLAWS += ["2.0", "1-4", "2-1"]


@st.composite
def markets(draw: st.DrawFn) -> dict[BetType, dict[str, object]]:
    """Valid quotes (numbers, or `Quote`s with or without a range and a pool, in any order),
    and now and then one flaw: a price, range or pool that is not valid, or a combination."""
    market: dict[BetType, dict[str, object]] = {}
    plain = draw(st.booleans())
    for bet in draw(st.lists(st.sampled_from(list(COMBINATIONS)), min_size=1, unique=True)):
        texts = draw(st.permutations(COMBINATIONS[bet]))
        quote = PRICE if plain else st.builds(Quote, PRICE, HIGH, POOL)
        market[bet] = {t: draw(quote) for t in texts[: draw(st.integers(1, len(texts)))]}
    if draw(st.integers(0, 3)) == 0:
        flaw = draw(st.sampled_from(FLAWS))
        bet = draw(st.sampled_from(sorted(market)))
        if flaw in ("1-4", "2-1"):
            market[bet][flaw] = 3.0
        else:
            market[bet][draw(st.sampled_from(sorted(market[bet])))] = flaw
    return market


@settings(max_examples=400, deadline=None)
@given(markets())
def test_quotes_checked_as_columns_match_the_one_by_one_check(odds) -> None:
    """The quotes checked at once give the offers, or the first error, of the check one by
    one (odds above 1, ranges, pools as whole yen, known runners, canonical combinations)."""
    win = {1, 2, 3}
    try:
        rows, error = inputs._one_by_one(odds, win, None, win), None
    except DecisionError as e:
        rows, error = [], e
    if error is not None:
        with pytest.raises(DecisionError) as raised:
            inputs._offers(odds, win, None, win)
        assert (raised.value.field, str(raised.value)) == (error.field, str(error))
        return
    expected = inputs._sorted(
        np.array([r[0] for r in rows], dtype=np.intp),
        np.array([r[1] for r in rows], dtype=np.intp),
        [r[2] for r in rows],
        *(np.array([r[j] for r in rows], dtype=np.float64) for j in (3, 4, 5)),
    )
    found = inputs._offers(odds, win, None, win)
    for name in ("kind", "key", "numbers", "odds", "odds_high", "pool_yen"):
        np.testing.assert_array_equal(getattr(found, name), getattr(expected, name))
    assert found.combination == expected.combination
    texts = [
        combination_text(BET_TYPES[k], key) for k, key in zip(found.kind, found.key, strict=True)
    ]
    assert list(found.combination) == texts


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.integers(0, 10**6)), min_size=1, max_size=4), st.booleans())
def test_own_impact_caps_are_computed_once_each_and_stay_the_same(rounds, on) -> None:
    """Each round asks for some of the candidates (fewer each time, in any order); each gets
    the cap computed for it alone, or none without a pool or of place."""
    win = {1: 0.45, 2: 0.3, 3: 0.15, 4: 0.1}
    market = {
        BetType.WIN: {str(h): Quote(1.5 + h, None, 10_000 * h if h != 2 else None) for h in win},
        BetType.PLACE: {str(h): Quote(1.2 + h, 2.0 + h, 50_000) for h in win},
        BetType.EXACTA: {"1>2": Quote(4.0, None, 80_000), "2>1": Quote(6.0, None, 80_000)},
    }
    policy = ThemisConfig(ev_screen=False, own_impact=on)
    race = inputs.validate(win, market, 10**6, policy)
    orders = finish_orders(race.win, policy.exotic_gamma, policy.exotic_delta)
    screened = decide_module._screen(race, orders, policy)
    own = decide_module._OwnImpact(race.offers, screened, policy)
    candidates = screened.candidates
    for picks in rounds:
        chosen = np.unique(candidates[[k % candidates.size for k in picks]])
        expected = [
            decide_module._own_impact(race.offers, i, float(screened.probability[i]), policy)
            for i in chosen.tolist()
        ]
        found = own.of(chosen)
        assert (
            found.tobytes() == np.array([math.nan if c is None else c for c in expected]).tobytes()
        )


THRESHOLDS = st.sampled_from([1.0, 1.05, 1.1, 1.25, 3.0, 9.999, 10.0, 50.0])


@st.composite
def evs(draw: st.DrawFn) -> tuple[float, list[float]]:
    """EVs below a threshold: any, and the closest floats to a half of a thousandth."""
    threshold = draw(THRESHOLDS)
    values = draw(st.lists(st.floats(0.0, threshold, exclude_max=True), max_size=90))
    for m in draw(st.lists(st.integers(0, math.floor(threshold * 1000) - 1), max_size=10)):
        half = (m + 0.5) / 1000
        values += [half, float(np.nextafter(half, 0.0)), float(np.nextafter(half, 2.0))]
    return threshold, [v for v in values if v < threshold]


@settings(max_examples=300, deadline=None)
@given(evs())
@example((1.1, [0.0, 0.0005, 0.0015, 1.0995, 1.0999999, 0.9124999999999999, 1e-300] * 10))
def test_below_threshold_texts_are_the_formatted_evs(case) -> None:
    threshold, values = case
    found = decide_module._ev_texts(np.array(values, dtype=np.float64), threshold)
    assert found == [f"EV {v:.3f} below {threshold}" for v in values]
