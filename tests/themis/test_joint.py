"""The interior-point joint Kelly against references, and the re-sizing after rounding and caps."""

import math
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, sparse

from keiba.common.bet_types import BetType
from keiba.common.config import ThemisConfig
from keiba.themis import Reason, decide, joint, joint_kelly, legacy, simultaneous_kelly
from keiba.themis.bench import FRAMES_18, synthetic_race
from keiba.themis.decide import _payoff, _screen
from keiba.themis.exotics import combination_probabilities, finish_orders, ticket_keys
from keiba.themis.inputs import validate
from keiba.themis.joint import (
    HELD,
    JointKelly,
    _Columns,
    _Coupling,
    _newton_solver,
    solve_joint_kelly,
)
from thread_counts import outputs_by_blas_threads

POOLS = [b for b in BetType if b is not BetType.BRACKET_QUINELLA]


def _expected_log(x: np.ndarray, pi: np.ndarray, payoff: np.ndarray) -> float:
    wealth = 1.0 - x.sum() + payoff @ x
    live = pi > 0
    if np.any(wealth[live] <= 0):
        return -math.inf
    return float(pi[live] @ np.log(wealth[live]))


def _problem(
    win: dict[int, float], noise: np.ndarray, edge: float
) -> tuple[np.ndarray, np.ndarray]:
    """Every ticket of seven pools over the finishing orders, priced at `edge` × fair × noise."""
    orders = finish_orders(win, 0.86, 0.72)
    columns: list[np.ndarray] = []
    for bet in POOLS:
        probabilities = combination_probabilities(orders, bet)
        keys = ticket_keys(orders, bet)
        for combination, p in sorted(probabilities.items()):
            key = 0
            for n in combination.replace(">", "-").split("-"):
                key = key * 19 + int(n)
            odds = max(1.05, edge * float(bet.payout_rate) / p * noise[len(columns) % noise.size])
            columns.append(np.where((keys == key).any(axis=1), odds, 0.0))
    return orders.probabilities, np.stack(columns, axis=1)


@st.composite
def full_races(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(4, 6))
    weights = draw(st.lists(st.floats(0.1, 5.0), min_size=n, max_size=n))
    win = {h + 1: w / math.fsum(weights) for h, w in enumerate(weights)}
    win[n] = 1.0 - math.fsum(p for h, p in win.items() if h != n)
    noise = np.exp(np.array(draw(st.lists(st.floats(-0.4, 0.4), min_size=7, max_size=7))))
    return _problem(win, noise, draw(st.floats(1.0, 1.3)))


@settings(max_examples=25, deadline=None)
@given(full_races())
def test_every_offered_ticket_reaches_the_reference_optimum(problem) -> None:
    """EV screen off: full Kelly over every ticket of seven pools (up to 400 tickets) has the
    objective of the previous solver (log-barrier Newton) to 1e-9, and no general-purpose
    optimiser finds better."""
    pi, payoff = problem
    ours = joint_kelly(pi, payoff)
    reference = legacy.joint_kelly(pi, payoff)
    assert np.all(ours >= 0) and ours.sum() <= 1.0
    assert _expected_log(ours, pi, payoff) == pytest.approx(
        _expected_log(reference, pi, payoff), abs=1e-9
    )
    support = np.flatnonzero(ours > 0)
    if 0 < support.size <= 40:  # SLSQP on the support, from a point next to ours
        found = optimize.minimize(
            lambda v: -_expected_log(v, pi, payoff[:, support]),
            ours[support] * 0.9,
            method="SLSQP",
            bounds=[(0.0, 1.0)] * support.size,
            constraints=[{"type": "ineq", "fun": lambda v: 1.0 - v.sum()}],
            options={"ftol": 1e-15, "maxiter": 500},
        )
        x = np.clip(found.x, 0.0, None)
        x /= max(1.0, float(x.sum()))
        assert _expected_log(x, pi, payoff[:, support]) <= _expected_log(ours, pi, payoff) + 1e-9


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.integers(2, 12), st.integers(0, 6))
def test_the_structured_newton_system_is_the_dense_one(
    seed: int, outcomes: int, extra: int
) -> None:
    """Private tickets (several on one outcome too), a diagonal block and a dense block give
    the solution of (RᵀDR + diag θ) u = h computed densely."""
    rng = np.random.default_rng(seed)
    private = np.zeros((outcomes, outcomes + extra))
    private[np.arange(outcomes), np.arange(outcomes)] = rng.uniform(2, 50, outcomes)
    rows = rng.integers(0, outcomes, extra)
    private[rows, outcomes + np.arange(extra)] = rng.uniform(2, 50, extra)
    shared = (rng.random((outcomes, 4)) < 0.5) * rng.uniform(1.5, 10, (outcomes, 4))
    shared[:, 0] = np.where(np.arange(outcomes) < 2, 3.0, 0.0)  # at least two outcomes
    tickets = sparse.csc_matrix(np.hstack([private, shared]))
    cols = _Columns.of(tickets)
    d = rng.uniform(0.01, 5, outcomes)
    theta = rng.uniform(1e-3, 10, tickets.shape[1] + 1)
    h = rng.normal(size=(tickets.shape[1] + 1, 2))
    dense = np.hstack([tickets.toarray(), np.ones((outcomes, 1))])
    expected = np.linalg.solve(dense.T @ np.diag(d) @ dense + np.diag(theta), h)
    assert _newton_solver(cols, d, theta)(h) == pytest.approx(expected, rel=1e-7, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.integers(2, 12), st.integers(0, 6))
def test_columns_held_at_zero_leave_the_system_of_the_others(
    seed: int, outcomes: int, extra: int
) -> None:
    """Columns given the prohibitive ridge (private, diagonal or dense, never the cash) are
    left out of the system: the others get the dense solution of their own system, the held
    ones (next to) nothing. Warm starts hold every ticket not moving this way."""
    rng = np.random.default_rng(seed)
    private = np.zeros((outcomes, outcomes + extra))
    private[np.arange(outcomes), np.arange(outcomes)] = rng.uniform(2, 50, outcomes)
    rows = rng.integers(0, outcomes, extra)
    private[rows, outcomes + np.arange(extra)] = rng.uniform(2, 50, extra)
    shared = (rng.random((outcomes, 6)) < 0.5) * rng.uniform(1.5, 10, (outcomes, 6))
    shared[:, 0] = np.where(np.arange(outcomes) < 2, 3.0, 0.0)
    tickets = np.hstack([private, shared])
    cols = _Columns.of(sparse.csc_matrix(tickets))
    held = np.append(rng.random(tickets.shape[1]) < 0.5, False)
    d = rng.uniform(0.01, 5, outcomes)
    theta = np.where(held, HELD, rng.uniform(1e-3, 10, held.size))
    h = rng.normal(size=(held.size, 2))
    dense = np.hstack([tickets, np.ones((outcomes, 1))])[:, ~held]
    expected = np.linalg.solve(dense.T @ np.diag(d) @ dense + np.diag(theta[~held]), h[~held])
    solved = _newton_solver(cols, d, theta)(h)
    assert solved[~held] == pytest.approx(expected, rel=1e-7, abs=1e-9)
    assert np.all(np.abs(solved[held]) < 1e-20)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10**6), st.integers(2, 12), st.integers(0, 6))
def test_the_newton_system_of_a_subset_is_that_of_the_columns_kept(
    seed: int, outcomes: int, extra: int
) -> None:
    """The split of all the columns, narrowed to some of them, solves the dense system of the
    columns kept (the warm starts and the rounds of sizing again solve over subsets)."""
    rng = np.random.default_rng(seed)
    private = np.zeros((outcomes, outcomes + extra))
    private[np.arange(outcomes), np.arange(outcomes)] = rng.uniform(2, 50, outcomes)
    rows = rng.integers(0, outcomes, extra)
    private[rows, outcomes + np.arange(extra)] = rng.uniform(2, 50, extra)
    shared = (rng.random((outcomes, 6)) < 0.5) * rng.uniform(1.5, 10, (outcomes, 6))
    shared[:, 0] = np.where(np.arange(outcomes) < 2, 3.0, 0.0)
    tickets = np.hstack([private, shared])
    keep = rng.random(tickets.shape[1]) < 0.6
    cols = _Columns.of(sparse.csc_matrix(tickets)).subset(keep)
    d = rng.uniform(0.01, 5, outcomes)
    theta = rng.uniform(1e-3, 10, int(keep.sum()) + 1)
    h = rng.normal(size=(theta.size, 2))
    dense = np.hstack([tickets[:, keep], np.ones((outcomes, 1))])
    expected = np.linalg.solve(dense.T @ np.diag(d) @ dense + np.diag(theta), h)
    assert _newton_solver(cols, d, theta)(h) == pytest.approx(expected, rel=1e-7, abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10**6), st.floats(0.0, 1.0))
def test_a_subset_holds_the_same_arrays_as_slicing_and_filtering(seed: int, share: float) -> None:
    """Narrowing gathers the columns and the pairs kept directly: the very arrays (same order,
    same values) that slicing the matrices and filtering the pairs by mask give."""
    rng = np.random.default_rng(seed)
    win = rng.uniform(0.2, 3.0, 5)
    _, payoff = _problem(dict(enumerate(win / win.sum(), 1)), rng.uniform(0.7, 1.4, 7), 1.1)
    full = _Columns.of(sparse.csc_matrix(payoff))
    keep = rng.random(payoff.shape[1]) < share
    cols = full.subset(keep)
    with_cash = np.append(keep, True)
    in_d, in_q = keep[full.diag], keep[full.dense[:-1]]
    for ours, theirs in (
        (cols.r, full.r[:, with_cash]),
        (cols.rd, full.rd[:, in_d]),
        (cols.rq, full.rq[:, in_q]),
    ):
        assert ours.shape == theirs.shape
        for name in ("data", "indices", "indptr"):
            np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name))
    new_q = np.cumsum(in_q) - 1
    new_d = np.cumsum(in_d) - 1
    pairs, of = cols.qd.pairs, full.qd.pairs
    mask = in_q[of.a] & in_d[of.b]
    assert pairs.shape == (int(in_q.sum()), int(in_d.sum()))
    np.testing.assert_array_equal(pairs.row, of.row[mask])
    np.testing.assert_array_equal(pairs.a, new_q[of.a[mask]])
    np.testing.assert_array_equal(pairs.b, new_d[of.b[mask]])
    np.testing.assert_array_equal(pairs.val, of.val[mask])
    np.testing.assert_array_equal(pairs.cell, pairs.a * pairs.shape[1] + pairs.b)
    again = _Coupling.of(cols.qd.pairs)  # the coupling of the pairs kept, found afresh
    for name in ("entry", "a", "t"):
        np.testing.assert_array_equal(getattr(cols.qd, name), getattr(again, name))


@settings(max_examples=15, deadline=None)
@given(full_races(), st.integers(0, 10**6))
def test_a_prepared_problem_solves_any_subset_of_its_tickets(problem, seed: int) -> None:
    """Solved over some of its tickets, a prepared problem reaches the optimum of those tickets
    alone (to 1e-9 in expected log wealth), from a cold start and from the optimum of a
    larger set."""
    pi, payoff = problem
    rng = np.random.default_rng(seed)
    columns = np.flatnonzero(rng.random(payoff.shape[1]) < 0.7)
    if columns.size == 0:
        return
    prepared = JointKelly(pi, sparse.csc_matrix(payoff))
    start = np.ones(columns.size, dtype=bool)
    alone = joint_kelly(pi, payoff[:, columns])
    cold = prepared.solve(columns, start)
    everything = prepared.solve(np.arange(payoff.shape[1]), np.ones(payoff.shape[1], bool))
    warm = prepared.solve(columns, start, near=everything[columns])
    best = _expected_log(alone, pi, payoff[:, columns])
    for x in (cold, warm):
        assert np.all(x >= 0) and x.sum() <= 1.0
        assert _expected_log(x, pi, payoff[:, columns]) == pytest.approx(best, abs=1e-9)
    direct = solve_joint_kelly(pi, sparse.csc_matrix(payoff[:, columns]), start)
    assert _expected_log(direct, pi, payoff[:, columns]) == pytest.approx(best, abs=1e-9)


def _handed_over_and_to_the_end(pi: np.ndarray, payoff) -> tuple[np.ndarray, np.ndarray, bool]:  # type: ignore[no-untyped-def]
    """The joint optimum with the hand-over to Newton's method, without it (the interior point
    run to the end), and whether the hand-over answered the cold solve."""
    answered: list[bool] = []
    polish = joint._polish

    def recorded(*args):  # type: ignore[no-untyped-def]
        result = polish(*args)
        answered.append(result is not None)
        return result

    with patch.object(joint, "_polish", recorded):
        handed_over = joint_kelly(pi, payoff)
    with patch.object(joint, "_polish", lambda *args: None):
        to_the_end = joint_kelly(pi, payoff)
    return handed_over, to_the_end, bool(answered and answered[0])


@settings(max_examples=15, deadline=None)
@given(full_races())
def test_newton_takes_over_from_the_interior_point_at_the_same_optimum(problem) -> None:
    """A cold solve stops the interior-point method early and lets Newton's active-set method
    finish over the tickets it identified (or, where that does not settle, runs the interior
    point on): the same expected log wealth, to 1e-9, as running the interior point to the
    end."""
    pi, payoff = problem
    handed_over, to_the_end, _ = _handed_over_and_to_the_end(pi, payoff)
    assert np.all(handed_over >= 0) and handed_over.sum() <= 1.0
    assert _expected_log(handed_over, pi, payoff) == pytest.approx(
        _expected_log(to_the_end, pi, payoff), abs=1e-9
    )


def test_a_full_race_is_finished_by_newtons_method() -> None:
    """Eight pools, 18 runners, hundreds of candidates: the hand-over answers, at the
    optimum of the interior point run to the end."""
    model, market = synthetic_race(np.random.default_rng(7))
    policy = ThemisConfig()
    race = validate(model, market, 10_000_000, policy, FRAMES_18)
    orders = finish_orders(race.win, policy.exotic_gamma, policy.exotic_delta)
    chosen = _screen(race, orders, policy).candidates
    payoff = _payoff(orders, race.offers, chosen, race.frames)
    pi = orders.probabilities
    handed_over, to_the_end, answered = _handed_over_and_to_the_end(pi, payoff)
    assert answered and chosen.size > 500 and np.sum(handed_over > 0) > 100
    dense = payoff.toarray()
    assert _expected_log(handed_over, pi, dense) == pytest.approx(
        _expected_log(to_the_end, pi, dense), abs=1e-9
    )


_SAME_ON_ANY_THREADS = """
import sys
import numpy as np
from keiba.common.config import ThemisConfig
from keiba.themis import decide
from keiba.themis.bench import FRAMES_18, synthetic_race
model, market = synthetic_race(np.random.default_rng(int(sys.argv[1])))
decision = decide(model, market, 10_000_000, ThemisConfig(), frames=FRAMES_18)
print(decision.to_dict())
"""


def test_a_full_race_is_decided_the_same_on_one_or_two_blas_threads() -> None:
    """Eight pools, 18 runners: the same bets, stakes and rejections, bit for bit, whatever the
    number of BLAS threads the process starts with."""
    outputs = outputs_by_blas_threads(_SAME_ON_ANY_THREADS, "5")
    assert len(outputs) == 1
    assert "joint-kelly" in outputs.pop()


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 300), st.integers(0, 10**6))
def test_simultaneous_kelly_is_the_previous_implementation(k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(k))
    o = 0.8 / p * np.exp(rng.normal(0, 0.3, k))
    o = np.maximum(o, 1.01)
    assert simultaneous_kelly(p, o) == pytest.approx(
        legacy.simultaneous_kelly(list(p), list(o)), abs=1e-12
    )


def test_full_kelly_backs_a_runner_below_even_money_when_the_optimum_does() -> None:
    """p·o = 0.95 lies between the optimal reserve rate R = 0.917 and 1: full Kelly backs it, an
    EV screen at 1.0 cannot."""
    win, odds = {1: 0.5, 2: 0.3, 3: 0.2}, {1: 2.2, 2: 3.0 / 0.95 * 1.0, 3: 4.0}
    policy = ThemisConfig(
        kelly_fraction=1.0, ev_threshold=1.0, max_ticket_fraction=1.0, max_race_fraction=1.0,
        max_day_fraction=1.0,
    )  # fmt: skip
    exact = simultaneous_kelly([0.5, 0.3, 0.2], [odds[1], odds[2], odds[3]])
    assert exact[1] > 0 and 0.3 * odds[2] < 1.0
    open_ = decide(win, odds, 10_000_000, policy.model_copy(update={"ev_screen": False}))
    stakes = {b.combination: b.stake for b in open_.bets}
    assert stakes == {
        "1": 10_000_000 * exact[0] // 100 * 100,
        "2": 10_000_000 * exact[1] // 100 * 100,
    }
    screened = decide(win, odds, 10_000_000, policy)
    assert "2" not in {b.combination for b in screened.bets}


def _market(win: dict[int, float], rng: np.random.Generator) -> dict[BetType, dict[str, float]]:
    orders = finish_orders(win, 0.86, 0.72)
    market: dict[BetType, dict[str, float]] = {}
    for bet in (BetType.WIN, BetType.QUINELLA, BetType.EXACTA, BetType.TRIFECTA):
        for combination, p in sorted(combination_probabilities(orders, bet).items()):
            odds = round(float(bet.payout_rate) / p * math.exp(rng.normal(0, 0.35)), 1)
            market.setdefault(bet, {})[combination] = max(1.1, odds)
    return market


@settings(max_examples=20, deadline=None)
@given(st.integers(5, 8), st.integers(0, 10**6), st.integers(20_000, 3_000_000))
def test_tickets_left_without_a_stake_are_sized_away(n: int, seed: int, bankroll: int) -> None:
    """The bets are those of the same race offered without the quotes that rounding or a cap
    left without a stake: the others were sized again as if those were never there."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(n, 2.0))
    win = {h + 1: float(w) for h, w in enumerate(weights)}
    win[n] = 1.0 - math.fsum(v for h, v in win.items() if h != n)
    market = _market(win, rng)
    policy = ThemisConfig(ev_threshold=1.05)
    decision = decide(win, market, bankroll, policy)
    dropped = {
        (r.bet_type, r.combination)
        for r in decision.rejections
        if r.code in (Reason.ROUNDS_TO_ZERO, Reason.CAP_REACHED)
    }
    fewer = {b: {c: o for c, o in q.items() if (b, c) not in dropped} for b, q in market.items()}
    again = decide(win, {b: q for b, q in fewer.items() if q}, bankroll, policy)
    key = [(b.bet_type, b.combination) for b in decision.bets]
    assert key == [(b.bet_type, b.combination) for b in again.bets]
    for ours, theirs in zip(decision.bets, again.bets, strict=True):
        assert abs(ours.stake - theirs.stake) <= 100  # the same fractions, up to the last unit
    if dropped:
        assert any("sized again" in note for note in decision.notes)
    for bet in decision.bets:
        assert bet.stake >= policy.min_stake_yen and bet.stake % 100 == 0


def test_a_small_race_is_sized_again_without_the_ticket_that_rounds_to_zero() -> None:
    """Smoczynski–Tomkins backs 1, 2 and 3 (R = 0.558); at ¼ Kelly on 5,000 yen horse 3 gets
    88 yen and rounds to nothing. Without it R rises to 0.776: 1 and 2 are sized again (174
    and 105 yen), where keeping the old stakes would have bought 283 and 181 yen."""
    win = {1: 0.45, 2: 0.30, 3: 0.15, 4: 0.10}
    odds = {1: 2.5, 2: 3.6, 3: 7.0, 4: 5.0}
    policy = ThemisConfig(ev_threshold=1.0, max_ticket_fraction=0.25, max_race_fraction=0.25)
    decision = decide(win, odds, 5_000, policy)
    assert [(b.combination, b.stake) for b in decision.bets] == [("1", 100), ("2", 100)]
    codes = {r.combination: r.code for r in decision.rejections}
    assert codes == {"3": Reason.ROUNDS_TO_ZERO, "4": Reason.EV_BELOW_THRESHOLD}
    assert any("sized again without the 1 ticket" in note for note in decision.notes)
    alone = decide(win, {1: 2.5, 2: 3.6}, 5_000, policy)
    assert alone.bets == decision.bets
