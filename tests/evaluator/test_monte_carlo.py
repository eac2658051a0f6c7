"""The Monte Carlo bankroll simulator (keiba.evaluator.monte_carlo) and `keiba simulate`."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from typer.testing import CliRunner

from keiba.cli.main import app
from keiba.evaluator.monte_carlo import (
    RUIN_FRACTIONS,
    MonteCarloError,
    MonteCarloParams,
    Paths,
    ScenarioSummary,
    fan_chart_data,
    parse_floats,
    ruin_curve,
    simulate,
    simulate_paths,
)
from keiba.themis.sizing import kelly_fraction

IntArray = NDArray[np.int64]
Grid = dict[tuple[float, float], ScenarioSummary]


def _one_bet(seed: int, fraction: float) -> tuple[Paths, float]:
    """One season of one bet at odds 5.0 with a believed EV of exactly 1.10; also the race's
    uniform, drawn the way the simulator draws it."""
    params = MonteCarloParams(
        seasons=1,
        races=1,
        bet_share=1.0,
        fractions=(fraction,),
        overestimates=(1.0,),
        seed=seed,
        odds_min=5.0,
        odds_max=5.0,
        ev_excess=0.0,
    )
    rng = np.random.default_rng(seed)
    rng.uniform(0, 0, 1)
    rng.exponential(0.0, 1)
    return simulate_paths(params), float(rng.random(1)[0])


@pytest.mark.parametrize("seed", range(12))
def test_one_bet_by_hand(seed: int) -> None:
    # p̂ = 1.10/5 = 0.22, Kelly = 0.1/4 = 0.025 (as Themis computes it): full Kelly stakes 25,000
    # yen; ¼ Kelly 6,250, rounded down to 6,200. A win pays ⌊stake/100⌋ × 500 yen.
    assert kelly_fraction(0.22, 5.0) == pytest.approx(0.025)
    for fraction, stake in ((1.0, 25_000), (0.25, 6_200)):
        paths, u = _one_bet(seed, fraction)
        won = u < 0.22
        expected = 1_000_000 - stake + (stake // 100 * 500 if won else 0)
        assert int(paths.terminal_yen[0, 0]) == expected
        assert int(paths.bets_placed[0, 0]) == 1
        if won:
            assert paths.max_drawdown[0, 0] == 0.0
            assert paths.recovery_bets[0, 0] == 0
        else:
            assert paths.max_drawdown[0, 0] == pytest.approx(stake / 1_000_000)
            assert paths.recovery_bets[0, 0] == -1
        assert not paths.ruined[0, 0]


def test_both_outcomes_of_the_hand_case_occur() -> None:
    outcomes = {_one_bet(seed, 1.0)[1] < 0.22 for seed in range(12)}
    assert outcomes == {True, False}


AGGRESSIVE = MonteCarloParams(
    seasons=300,
    races=400,
    bet_share=1.0,
    fractions=(0.25, 1.0),
    overestimates=(1.0, 2.0, math.inf),
    seed=3,
    odds_min=1.5,
    start_yen=200_000,
)


def test_stakes_are_whole_units_never_above_the_bankroll_and_it_never_goes_negative() -> None:
    seen = {"bets": 0, "skipped": 0}

    def check(t: int, stake: IntArray, before: IntArray, after: IntArray) -> None:
        assert stake.dtype == np.int64 and before.dtype == np.int64 and after.dtype == np.int64
        assert np.all(stake % 100 == 0)
        assert np.all(stake >= 0)
        assert np.all(stake <= before)
        assert np.all((stake == 0) | (stake >= 100))
        assert np.all(after >= 0)
        # a bet either loses its stake or pays a whole number of 10 yen per 100 yen
        lost = after == before - stake
        assert np.all(lost | ((after - before + stake) % 10 == 0))
        seen["bets"] += int(np.sum(stake > 0))
        seen["skipped"] += int(np.sum(stake == 0))

    paths = simulate_paths(AGGRESSIVE, observer=check)
    assert seen["bets"] > 100_000 and seen["skipped"] > 0  # some seasons were ruined or broke
    assert np.all(paths.terminal_yen >= 0)
    assert paths.ruined.any()


def test_drawdown_ruin_and_recovery_match_a_plain_reference() -> None:
    params = MonteCarloParams(
        seasons=40,
        races=300,
        bet_share=1.0,
        fractions=(0.5, 1.0),
        overestimates=(2.0,),
        seed=11,
        start_yen=300_000,
    )
    history: list[IntArray] = []
    paths = simulate_paths(params, observer=lambda t, s, b, a: history.append(a.copy()))
    wealth = np.stack(history, axis=-1)  # (scenarios, seasons, bets)
    for i in range(wealth.shape[0]):
        for j in range(wealth.shape[1]):
            peak, deepest, deep_peak, trough, recovered_after = params.start_yen, 0.0, 0, 0, 0
            ruined = False
            for t, w in enumerate(wealth[i, j].tolist()):
                peak = max(peak, w)
                dd = 1 - w / peak
                if dd > deepest:
                    deepest, deep_peak, trough, recovered_after = dd, peak, t, -1
                elif recovered_after == -1 and w >= deep_peak:
                    recovered_after = t - trough
                ruined = ruined or w < params.floor_yen
            assert paths.max_drawdown[i, j] == pytest.approx(deepest)
            assert paths.recovery_bets[i, j] == recovered_after
            assert bool(paths.ruined[i, j]) == ruined
            assert paths.terminal_yen[i, j] == wealth[i, j, -1]


def test_with_no_real_edge_the_median_season_loses_whatever_the_fraction() -> None:
    # k = ∞ and a fair market: every bet's true expected return is exactly 1 (odds and payouts
    # are exact), so wealth is a martingale and the volatility drag puts the median below start.
    # The drag is about 0.1 standard deviations of log wealth at ⅒ Kelly, 3.5 standard errors
    # of the median with these seasons; more at larger fractions.
    result = simulate(
        MonteCarloParams(
            seasons=2_000,
            races=1_000,
            bet_share=1.0,
            fractions=(0.1, 0.25, 0.5, 1.0),
            overestimates=(math.inf,),
            market_return=1.0,
            seed=5,
        )
    )
    for row in result.scenarios:
        assert row.terminal_quantiles["0.5"] < 1.0, row
        if row.fraction <= 0.25:  # a martingale; larger fractions have too heavy a right tail
            assert row.terminal_mean == pytest.approx(1.0, abs=0.1), row


@pytest.fixture(scope="module")
def grid() -> Grid:
    params = MonteCarloParams(
        seasons=1_000,
        races=1_000,
        bet_share=1.0,
        fractions=(0.1, 0.25, 0.5, 1.0),
        overestimates=(1.0, 2.0),
    )
    return {(s.fraction, s.overestimate): s for s in simulate(params).scenarios}


def test_ruin_and_deep_drawdowns_grow_with_the_kelly_fraction(grid: Grid) -> None:
    for k in (1.0, 2.0):
        ruin = [grid[(f, k)].p_ruin for f in (0.1, 0.25, 0.5, 1.0)]
        deep = [grid[(f, k)].p_drawdown["0.5"] for f in (0.1, 0.25, 0.5, 1.0)]
        assert ruin == sorted(ruin) and deep == sorted(deep)
    # with the edge overestimated 2×, full Kelly is ruined often (not a sampling accident)
    assert grid[(1.0, 2.0)].p_ruin > grid[(0.5, 2.0)].p_ruin + 0.1


def test_full_kelly_on_a_twice_overestimated_edge_loses_in_the_median(grid: Grid) -> None:
    assert grid[(1.0, 2.0)].terminal_quantiles["0.5"] < 0.5
    # while the same bettor at a tenth of Kelly keeps most of the bankroll in the median
    assert grid[(0.1, 2.0)].terminal_quantiles["0.5"] > 0.9


def test_deterministic_for_a_seed_and_independent_of_the_other_scenarios() -> None:
    small = MonteCarloParams(seasons=200, races=200, fractions=(0.25, 1.0), seed=9)
    a, b = simulate_paths(small), simulate_paths(small)
    for name in ("terminal_yen", "max_drawdown", "ruined", "recovery_bets", "bets_placed"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    other = simulate_paths(MonteCarloParams(seasons=200, races=200, fractions=(0.25, 1.0), seed=10))
    assert not np.array_equal(a.terminal_yen, other.terminal_yen)
    alone = simulate_paths(
        MonteCarloParams(seasons=200, races=200, fractions=(1.0,), overestimates=(2.0,), seed=9)
    )
    row = list(zip(a.fractions, a.overestimates, strict=True)).index((1.0, 2.0))
    np.testing.assert_array_equal(alone.terminal_yen[0], a.terminal_yen[row])


@pytest.mark.parametrize(
    "change",
    [
        {"fractions": (0.0,)},
        {"fractions": (1.5,)},
        {"overestimates": (0.5,)},
        {"unit_yen": 150},
        {"seasons": 0},
        {"odds_min": 1.0},
        {"market_return": 1.2},
        {"ev_excess": 5.0, "races": 3_000, "bet_share": 1.0},  # the bankroll would overflow
    ],
)
def test_inconsistent_parameters_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(MonteCarloError):
        simulate_paths(MonteCarloParams(**{"seasons": 5, "races": 5, **change}))


def test_parse_floats() -> None:
    assert parse_floats("0.1, 0.25,1", "x") == (0.1, 0.25, 1.0)
    assert parse_floats("1,inf", "x") == (1.0, math.inf)
    with pytest.raises(MonteCarloError):
        parse_floats("a,b", "x")
    with pytest.raises(MonteCarloError):
        parse_floats("", "x")


def _run(home: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--home", str(home), *args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_json_and_table(tmp_path: Path) -> None:
    args = ("backtest", "simulate", "--seasons", "50", "--races", "100", "--fractions", "0.25,1")
    code, stdout, _ = _run(tmp_path, *args, "--overestimate", "1,2", "--json")
    assert code == 0
    result = json.loads(stdout)
    assert len(result["scenarios"]) == 4
    assert result["params"]["bets"] == 30 and result["params"]["ruin_floor_yen"] == 10_000
    assert result["params"]["ev_min"] == 1.10  # Themis' EV threshold by default
    assert result["seconds"] >= 0
    code, stdout, stderr = _run(tmp_path, *args)
    assert code == 0
    assert "50 seasons × 30 bets" in stdout and "simulated in" in stderr


@pytest.mark.parametrize("bad", [("--fractions", "x"), ("--fractions", "2"), ("--seasons", "0")])
def test_cli_reports_bad_parameters(tmp_path: Path, bad: tuple[str, str]) -> None:
    code, _, stderr = _run(tmp_path, "backtest", "simulate", "--races", "10", *bad)
    assert code == 1
    assert "error" in stderr


# ------------------------------------------------------------------ empirical bets, fan, ruin

SAMPLE = ((0.6, 2.0),) * 3 + ((0.24, 5.0),) + ((0.12, 10.0),) * 2
"""Odds 2.0, 5.0 and 10.0 in proportions 1/2, 1/6, 1/3, each with a believed EV of 1.2."""


def _winning_odds(params: MonteCarloParams) -> tuple[list[float], int, int]:
    """Odds of every winning bet (from its payout), winning bets and bets placed."""
    odds: list[float] = []
    counts = {"won": 0, "placed": 0}

    def watch(t: int, stake: IntArray, before: IntArray, after: IntArray) -> None:
        placed = stake > 0
        won = placed & (after > before - stake)
        pay_per_100 = (after - before + stake)[won] // (stake[won] // 100)
        odds.extend((pay_per_100 / 100.0).tolist())
        counts["won"] += int(won.sum())
        counts["placed"] += int(placed.sum())

    simulate_paths(params, observer=watch)
    return odds, counts["won"], counts["placed"]


def test_empirical_bets_reproduce_the_samples_odds_distribution() -> None:
    # p̂ = 1 and k = 1: every bet wins, so every payout shows the odds that were drawn
    sure = tuple((1.0, o) for _, o in SAMPLE)
    params = MonteCarloParams(
        seasons=4_000,
        races=50,
        bet_share=1.0,
        fractions=(0.01,),
        overestimates=(1.0,),
        empirical=sure,
        seed=2,
    )
    odds, won, placed = _winning_odds(params)
    assert won == placed == 200_000
    share = {o: odds.count(o) / len(odds) for o in (2.0, 5.0, 10.0)}
    assert share == pytest.approx({2.0: 1 / 2, 5.0: 1 / 6, 10.0: 1 / 3}, abs=0.005)


@pytest.mark.parametrize(
    ("overestimate", "expected"),
    [(1.0, 0.5), (2.0, (0.8 + (2.0 - 0.8) / 2) / 4), (math.inf, 0.8 / 4)],
)
def test_empirical_bets_keep_the_market_relative_truth(
    overestimate: float, expected: float
) -> None:
    # one pair: p̂ = 0.5 at odds 4 (ÊR = 2); the truth is m + (p̂ − m)/k with m = 0.8/4
    params = MonteCarloParams(
        seasons=2_000,
        races=50,
        bet_share=1.0,
        fractions=(0.01,),
        overestimates=(overestimate,),
        empirical=((0.5, 4.0),),
        seed=4,
    )
    odds, won, placed = _winning_odds(params)
    assert set(odds) == {4.0}
    assert won / placed == pytest.approx(expected, abs=0.01)


def test_empirical_runs_are_a_function_of_the_seed() -> None:
    params = MonteCarloParams(
        seasons=300, races=300, bet_share=1.0, fractions=(0.25, 1.0), empirical=SAMPLE, seed=8
    )
    a, b = simulate_paths(params), simulate_paths(params)
    for name in ("terminal_yen", "max_drawdown", "ruined", "recovery_bets", "bets_placed"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    other = simulate_paths(replace(params, seed=9))
    assert not np.array_equal(a.terminal_yen, other.terminal_yen)
    # not the assumed distribution's paths
    assumed = simulate_paths(replace(params, empirical=None))
    assert not np.array_equal(a.terminal_yen, assumed.terminal_yen)


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ((), "empty"),
        (((0.0, 2.0),), r"probability must be in \(0, 1\]"),
        (((1.2, 2.0),), r"probability must be in \(0, 1\]"),
        (((float("nan"), 2.0),), r"probability must be in \(0, 1\]"),
        (((0.5, 0.9),), "odds must be a finite number ≥ 1.0"),
        (((0.5, math.inf),), "odds must be a finite number ≥ 1.0"),
        (((0.5,),), "not a pair"),
        (((0.5, 2.0, 1.0),), "not a pair"),
        (((0.5, "2.0"),), "not numbers"),
        ("0.5,2.0", "must be .* pairs"),
        (((0.2, 3.0),) * 5 + ((2.0, 3.0),) * 4, r"4 of 9 are not: pair 5 .* \(and 1 more\)"),
    ],
)
def test_bad_empirical_samples_are_refused(pairs: Any, message: str) -> None:
    with pytest.raises(MonteCarloError, match=message):
        simulate_paths(MonteCarloParams(seasons=5, races=5, empirical=pairs))


def test_an_empirical_sample_ignores_the_assumed_distributions_bounds() -> None:
    params = MonteCarloParams(seasons=5, races=5, empirical=SAMPLE, odds_min=1.0, ev_min=0.5)
    simulate_paths(params)  # the assumed distribution's parameters are not used
    with pytest.raises(MonteCarloError, match="market_return"):
        simulate_paths(MonteCarloParams(seasons=5, races=5, empirical=SAMPLE, market_return=1.2))


def test_the_result_summarises_the_empirical_sample() -> None:
    params = MonteCarloParams(seasons=20, races=20, fractions=(0.25,), empirical=SAMPLE)
    p = simulate(params).as_dict()["params"]
    assert p["empirical"] == {
        "pairs": 6,
        "odds_median": 3.5,
        "odds_mean": pytest.approx(31 / 6),
        "believed_ev_mean": pytest.approx(1.2),
        "believed_ev_median": pytest.approx(1.2),
    }
    json.dumps(p)


def test_fan_quantiles_are_ordered_start_at_the_start_and_end_at_the_terminal_ones() -> None:
    params = MonteCarloParams(seasons=500, races=400, bet_share=1.0, seed=6, start_yen=300_000)
    fan = fan_chart_data(params, 0.5, 2.0, points=40)
    assert fan.bet_index[0] == 0 and fan.bet_index[-1] == params.bets
    assert np.all(np.diff(fan.bet_index) > 0) and fan.bet_index.size == 41
    assert fan.bankroll_yen.shape == (5, 41)
    assert np.all(fan.bankroll_yen[:, 0] == 300_000)
    assert np.all(np.diff(fan.bankroll_yen, axis=0) >= 0)  # q05 ≤ q25 ≤ … ≤ q95 everywhere
    assert fan.bankroll_yen[0, -1] < fan.bankroll_yen[-1, -1]
    # the last column is the terminal distribution of the same scenario in the full grid
    grid = simulate_paths(replace(params, fractions=(0.25, 0.5), overestimates=(1.0, 2.0)))
    row = list(zip(grid.fractions, grid.overestimates, strict=True)).index((0.5, 2.0))
    np.testing.assert_allclose(
        fan.bankroll_yen[:, -1], np.quantile(grid.terminal_yen[row], fan.quantiles)
    )
    assert fan.p_ruin == float(np.mean(grid.ruined[row]))
    json.dumps(fan.as_dict())


def test_fan_chart_points_and_quantiles() -> None:
    params = MonteCarloParams(seasons=50, races=7, bet_share=1.0)
    fan = fan_chart_data(params, 0.25, 1.0, points=60, quantiles=(0.1, 0.9))
    assert fan.bet_index.tolist() == list(range(8))  # never more points than bets
    with pytest.raises(MonteCarloError, match="increasing"):
        fan_chart_data(params, 0.25, 1.0, quantiles=(0.9, 0.1))
    with pytest.raises(MonteCarloError, match="at least one point"):
        fan_chart_data(params, 0.25, 1.0, points=0)
    with pytest.raises(MonteCarloError, match="Kelly fractions"):
        fan_chart_data(params, 1.5, 1.0)


def test_ruin_curve_matches_the_scenarios_of_simulate() -> None:
    params = MonteCarloParams(seasons=400, races=600, bet_share=1.0, overestimates=(1.0, 2.0))
    seen: list[tuple[int, int]] = []
    curve = ruin_curve(params, progress=lambda done, total: seen.append((done, total)))
    assert curve.fractions == RUIN_FRACTIONS == (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    assert curve.p_ruin.shape == curve.median_terminal.shape == (2, 10)
    assert seen[-1] == (600, 600) and len(seen) <= 101
    table = {
        (s.fraction, s.overestimate): s
        for s in simulate(replace(params, fractions=(0.5, 1.0))).scenarios
    }
    for i, k in enumerate((1.0, 2.0)):
        for f in (0.5, 1.0):
            j = RUIN_FRACTIONS.index(f)
            assert curve.p_ruin[i, j] == table[(f, k)].p_ruin
            assert curve.median_terminal[i, j] == table[(f, k)].terminal_quantiles["0.5"]
    assert curve.p_ruin[1, -1] > curve.p_ruin[1, 0]  # full Kelly on a doubled edge is ruined
    json.dumps(curve.as_dict())


def test_the_growth_cap_stops_runaway_seasons_instead_of_failing() -> None:
    runaway = {"seasons": 5, "races": 3_000, "bet_share": 1.0, "ev_excess": 5.0}
    with pytest.raises(MonteCarloError, match="exactness"):
        simulate_paths(MonteCarloParams(**runaway))
    capped = simulate_paths(MonteCarloParams(**runaway, growth_cap=1_000))
    assert capped.capped is not None and capped.capped.any()
    assert np.all(capped.terminal_yen[capped.capped] >= 1_000 * 1_000_000)
    rows = simulate(MonteCarloParams(**runaway, growth_cap=1_000)).scenarios
    assert all(r.p_capped is not None for r in rows) and max(r.p_capped or 0 for r in rows) > 0
    assert simulate(MonteCarloParams(seasons=5, races=5)).scenarios[0].p_capped is None
    with pytest.raises(MonteCarloError, match="growth_cap"):
        simulate_paths(MonteCarloParams(seasons=5, races=5, growth_cap=1.0))
