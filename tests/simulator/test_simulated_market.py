"""The simulated market reproduces the measured facts of JRA betting (DOMAIN.md §3).

One season has about 3,400 races, so the bands below are the targets widened by about three
standard errors of a season-sized sample (longshot returns rest on a few dozen winners).
"""

from __future__ import annotations

from keiba.simulator import SimulatedWorld, market_statistics


def test_market_statistics_land_in_the_target_bands(year_world: SimulatedWorld) -> None:
    stats = market_statistics(year_world)
    assert stats["races"] == year_world.races.height
    assert stats["runners"] == year_world.runners.height
    assert 13.5 <= stats["mean_field_size"] <= 15.0
    assert 0.29 <= stats["favourite_win_rate"] <= 0.36
    assert 0.60 <= stats["favourite_top3_rate"] <= 0.68
    assert 0.70 <= stats["favourite_win_return"] <= 0.85
    assert 0.78 <= stats["favourite_place_return"] <= 0.88
    assert 0.15 <= stats["longshot_win_return"] <= 0.70
    assert 0.60 <= stats["win_return_all_starters"] <= 0.80
    assert 0.77 <= stats["win_pool_payback"] < 0.80
    races = stats["races"]
    assert 1 <= stats["dead_heat_first_races"] <= 0.006 * races
    assert 0.015 * races <= stats["races_with_tie"] <= 0.05 * races
    assert 0.07 * races <= stats["races_with_non_finisher"] <= 0.14 * races


def test_the_market_is_worse_than_the_truth_but_not_by_much(year_world: SimulatedWorld) -> None:
    stats = market_statistics(year_world)
    assert stats["log_loss_true"] < stats["log_loss_market"] < stats["log_loss_uniform"]
    gap = stats["pseudo_r2_true"] - stats["pseudo_r2_market"]
    assert 0.005 < gap < 0.06
    assert 0.15 < stats["pseudo_r2_market"] < 0.35
