"""The Monte Carlo bankroll simulator (keiba.evaluator.monte_carlo) and `keiba simulate`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from typer.testing import CliRunner

from keiba.cli.main import app
from keiba.evaluator.monte_carlo import (
    MonteCarloError,
    MonteCarloParams,
    Paths,
    ScenarioSummary,
    parse_floats,
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
    args = ("simulate", "--seasons", "50", "--races", "100", "--fractions", "0.25,1")
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
    code, _, stderr = _run(tmp_path, "simulate", "--races", "10", *bad)
    assert code == 1
    assert "error" in stderr
