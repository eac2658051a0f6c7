"""The races: true probabilities, finishing orders, incidents, times and the runners' facts."""

from __future__ import annotations

import numpy as np
import polars as pl

from keiba.simulator import SimulatedWorld
from keiba.simulator.entries import frame_numbers
from keiba.simulator.race_model import finishing_orders

_NOT_STARTED = ("scratched", "excluded")


def _starters(world: SimulatedWorld) -> pl.DataFrame:
    return world.runners.filter(~pl.col("status").is_in(_NOT_STARTED))


def test_true_probabilities_cover_the_starters_and_sum_to_one(year_world: SimulatedWorld) -> None:
    truth = year_world.true_probabilities
    sums = truth.group_by("race_id").agg(pl.col("p_true").sum())
    assert np.allclose(sums["p_true"].to_numpy(), 1.0, atol=1e-9)
    keys = _starters(year_world).select("race_id", "horse_no").sort("race_id", "horse_no")
    assert keys.equals(truth.select("race_id", "horse_no").sort("race_id", "horse_no"))


def test_winners_win_as_often_as_their_true_probability_says(year_world: SimulatedWorld) -> None:
    runs = _starters(year_world).join(year_world.true_probabilities, on=["race_id", "horse_no"])
    p = runs["p_true"].to_numpy()
    won = (runs["finish_pos"] == 1).fill_null(False).to_numpy()
    edges = np.quantile(p, np.linspace(0, 1, 11))
    bins = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, 9)
    for b in range(10):
        inside = bins == b
        expected = p[inside].sum()
        spread = np.sqrt((p[inside] * (1 - p[inside])).sum())
        assert abs(won[inside].sum() - expected) < 4 * spread + 3, (b, won[inside].sum(), expected)


def test_the_finishing_model_is_discounted_harville() -> None:
    p = np.array([0.5, 0.3, 0.15, 0.05])
    rng = np.random.default_rng(0)
    orders = finishing_orders(np.tile(p, (200_000, 1)), 0.81, 0.65, rng)
    first = np.bincount(orders[:, 0], minlength=4) / orders.shape[0]
    assert np.allclose(first, p, atol=0.004)
    # 2nd given the favourite won: in proportion to p**0.81 among the rest
    seconds = orders[orders[:, 0] == 0, 1]
    expected = p[1:] ** 0.81 / (p[1:] ** 0.81).sum()
    assert np.allclose(np.bincount(seconds, minlength=4)[1:] / seconds.size, expected, atol=0.006)


def test_positions_run_from_one_with_ties_skipping_the_next(year_world: SimulatedWorld) -> None:
    finished = (
        year_world.runners.filter(pl.col("status") == "finished")
        .sort("race_id", "finish_pos")
        .with_columns(
            pl.int_range(1, pl.len() + 1).over("race_id").alias("place"),
            pl.col("finish_pos").rank("min").over("race_id").cast(pl.Int64).alias("expected"),
        )
    )
    assert (finished["finish_pos"] == finished["expected"]).all()
    starts = finished.group_by("race_id").agg(pl.col("finish_pos").min())
    assert (starts["finish_pos"] == 1).all()
    others = year_world.runners.filter(pl.col("status") != "finished")
    assert others["finish_pos"].null_count() == others.height
    assert set(others["status"].unique().to_list()) == {
        "scratched",
        "excluded",
        "did_not_finish",
        "disqualified",
    }


def test_scratched_and_excluded_runners_have_no_race(year_world: SimulatedWorld) -> None:
    out = year_world.runners.filter(pl.col("status").is_in(_NOT_STARTED))
    assert out.height > 0
    for column in ("finish_pos", "finish_time_s", "win_odds_final", "popularity", "passing"):
        assert out[column].null_count() == out.height, column
    keys = out.select("race_id", "horse_no")
    assert keys.join(year_world.true_probabilities, on=["race_id", "horse_no"]).is_empty()
    win = year_world.odds.filter(pl.col("bet_type") == "win").select(
        "race_id", pl.col("combination").cast(pl.Int64).alias("horse_no")
    )
    assert keys.join(win, on=["race_id", "horse_no"]).is_empty()


def test_frames_follow_the_jra_rule(year_world: SimulatedWorld) -> None:
    assert frame_numbers(8) == tuple(range(1, 9))
    assert frame_numbers(9) == (1, 2, 3, 4, 5, 6, 7, 8, 8)
    assert frame_numbers(16) == tuple(f for f in range(1, 9) for _ in range(2))
    assert frame_numbers(18) == (1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 7, 8, 8, 8)
    fields = year_world.runners.group_by("race_id").agg(
        pl.col("frame_no").sort_by("horse_no"), pl.col("horse_no").sort()
    )
    for frames, numbers in fields.select("frame_no", "horse_no").iter_rows():
        assert numbers == list(range(1, len(numbers) + 1))
        assert tuple(frames) == frame_numbers(len(numbers))


def test_times_margins_and_passing_are_consistent_with_the_order(
    year_world: SimulatedWorld,
) -> None:
    finished = year_world.runners.filter(pl.col("status") == "finished").sort(
        "race_id", "finish_pos", "horse_no"
    )
    steps = finished.with_columns(
        pl.col("finish_time_s").diff().over("race_id").alias("gap"),
        pl.col("finish_pos").diff().over("race_id").alias("step"),
    ).drop_nulls("gap")
    assert (steps["gap"] >= 0).all()
    assert (steps.filter(pl.col("step") == 0)["gap"] == 0).all()
    tied = steps.filter(pl.col("step") == 0)
    assert (tied["margin"] == "同着").all()
    assert finished.filter(pl.col("finish_pos") == 1)["margin"].null_count() > 0
    margins = set(finished["margin"].drop_nulls().unique().to_list())
    assert {"ハナ", "アタマ", "クビ", "1/2", "3/4", "1", "1.1/4", "2", "大", "同着"} <= margins
    last = year_world.runners["last_3f_s"].drop_nulls()
    assert last.min() >= 33.0
    assert last.max() <= 41.0
    by_place = finished.group_by(pl.col("finish_pos") <= 3).agg(pl.col("last_3f_s").mean())
    fast = dict(by_place.iter_rows())
    assert fast[True] < fast[False]
    passing = year_world.runners["passing"].drop_nulls()
    assert passing.str.contains(r"^\d{2}(-\d{2}){0,3}$").all()
    positions = passing.str.split("-").explode().cast(pl.Int64)
    assert positions.min() == 1
    assert positions.max() <= 18


def test_incidents_happen_at_realistic_rates(year_world: SimulatedWorld) -> None:
    per_race = year_world.runners.group_by("race_id").agg(
        (pl.col("status") != "finished").any().alias("incident"),
        (pl.col("finish_pos") == 1).sum().alias("firsts"),
        pl.col("finish_pos").drop_nulls().is_duplicated().any().alias("tie"),
        pl.col("demoted").any(),
    )
    races = per_race.height
    assert 0.06 * races < per_race["incident"].sum() < 0.15 * races
    assert 0.015 * races < per_race["tie"].sum() < 0.05 * races
    assert 0 < (per_race["firsts"] > 1).sum() < 0.008 * races
    assert per_race["demoted"].sum() < 0.01 * races


def test_the_program_looks_like_jra(year_world: SimulatedWorld) -> None:
    races = year_world.races
    share = dict(races.group_by("surface").agg((pl.len() / races.height).alias("s")).iter_rows())
    assert 0.025 < share["jump"] < 0.06
    assert 0.4 < share["turf"] < 0.56
    assert 13.0 < races["field_size"].mean() < 15.5
    assert races["field_size"].min() >= 5
    jumps = races.filter(pl.col("surface") == "jump")
    assert jumps["field_size"].mean() < races["field_size"].mean()
    assert jumps["distance_m"].is_between(2750, 4250).all()
    going = dict(races.group_by("going").agg(pl.len() / races.height).iter_rows())
    assert 0.6 < going["良"] < 0.8
    assert going["良"] > going["稍重"] > going["不良"]
    classes = set(races["race_class"].unique().to_list())
    assert classes == {"新馬", "未勝利", "1勝", "2勝", "3勝", "OP"}
    graded = races.filter(pl.col("grade").is_in(["G1", "G2", "G3"]))
    assert (graded["race_class"] == "OP").all()
    assert (graded["race_no"] == 11).mean() > 0.9
    assert races.filter(pl.col("grade") == "G1").height == 26
    assert "有馬記念" in races["race_name"].to_list()
    newcomers = races.filter(pl.col("race_class") == "新馬")["race_name"]
    assert newcomers.str.contains("新馬").all()
    assert set(races["direction"].unique().to_list()) <= {"右", "左", "直線"}


def test_horses_have_consistent_identities_and_records(year_world: SimulatedWorld) -> None:
    runners = year_world.runners.join(year_world.races.select("race_id", "race_date"), on="race_id")
    horses = runners.group_by("horse_id").agg(
        pl.col("horse_name").n_unique().alias("names"),
        pl.col("trainer_id").n_unique().alias("trainers"),
        pl.col("horse_name").first(),
    )
    assert (horses["names"] == 1).all()
    assert (horses["trainers"] == 1).all()
    assert horses["horse_name"].n_unique() == horses.height
    assert horses["horse_name"].str.contains(r"^[ァ-ヶー]{2,9}$").all()
    assert runners["horse_id"].str.contains(r"^\d{10}$").all()
    birth = runners["horse_id"].str.slice(0, 4).cast(pl.Int64)
    assert (runners["race_date"].dt.year() - birth == runners["age"]).all()
    for column in ("jockey_id", "trainer_id"):
        assert runners[column].str.contains(r"^\d{5}$").all()
    assert 100 <= runners["jockey_id"].n_unique() <= 160
    assert 150 <= runners["trainer_id"].n_unique() <= 200


def test_body_weights_change_by_even_steps_between_runs(year_world: SimulatedWorld) -> None:
    runs = (
        _starters(year_world)
        .join(year_world.races.select("race_id", "post_time"), on="race_id")
        .sort("horse_id", "post_time")
        .with_columns(pl.col("body_weight_kg").shift().over("horse_id").alias("before"))
        .drop_nulls("before")
    )
    assert (runs["body_weight_kg"] - runs["before"] == runs["body_weight_diff_kg"]).all()
    assert (runs["body_weight_diff_kg"] % 2 == 0).all()
    assert _starters(year_world)["body_weight_diff_kg"].null_count() > 0


def test_horses_move_up_the_classes(year_world: SimulatedWorld) -> None:
    runs = (
        _starters(year_world)
        .join(
            year_world.races.select("race_id", "post_time", "race_class", "surface"), on="race_id"
        )
        .filter(pl.col("surface") != "jump")
        .sort("horse_id", "post_time")
        .with_columns(
            pl.int_range(pl.len()).over("horse_id").alias("run"),
            (pl.col("finish_pos") == 1)
            .fill_null(False)
            .cum_sum()
            .shift(fill_value=0)
            .over("horse_id")
            .alias("wins_before"),
        )
    )
    newcomers = runs.filter(pl.col("race_class") == "新馬")
    assert (newcomers["run"] == 0).all()
    maidens = runs.filter(pl.col("race_class").is_in(["新馬", "未勝利"]))
    assert (maidens["wins_before"] == 0).all()
