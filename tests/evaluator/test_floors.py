"""A simulated world's floors side by side on the same races."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from keiba.evaluator.floors import first_test_day, floors_frame, score_floors
from keiba.simulator import WorldConfig
from keiba.simulator.learnable_world import learnable_world


def test_the_test_period_is_the_last_share_of_race_days() -> None:
    days = [dt.date(2020, 1, d) for d in range(1, 21)]
    assert first_test_day(days, 0.25) == dt.date(2020, 1, 16)
    assert first_test_day(days, 0.01) == dt.date(2020, 1, 20)


def test_every_floor_is_scored_on_the_same_races_overall_and_by_group() -> None:
    learnable = learnable_world(WorldConfig(years=1, seed=3, max_race_days=30))
    days = sorted(set(learnable.world.races["race_date"].to_list()))
    frame = floors_frame(learnable, days[20], days[-1])
    assert frame["race_date"].min() >= days[20]
    scores = score_floors(frame)
    overall = scores["all races"]
    assert overall["races"] == frame["race_id"].n_unique()
    assert (
        scores["with a debutant"]["races"] + scores["every starter has run"]["races"]
        == (overall["races"])
    )
    loss = overall["log_loss"]
    assert loss["true probabilities"] < loss["knowable from the past"]
    assert loss["knowable from the past"] < loss["learnable from results alone"]
    # a starter's earlier starts are counted from the first recorded day, not the period's
    first_day = floors_frame(learnable, days[0], days[0])
    assert first_day["fewest_starts"].max() == 0
    assert frame["fewest_starts"].max() >= 1
    assert frame["won"].sum() == pytest.approx(overall["races"])
    # a model's probabilities are scored beside them, against the learnable floor
    model = frame.select("race_id", "horse_no", pl.col("p_knowable").alias("p_model"))
    with_model = score_floors(floors_frame(learnable, days[20], days[-1], model))["all races"]
    assert with_model["log_loss"]["model"] == loss["knowable from the past"]
    delta = with_model["model_vs_learnable_delta_r2"]
    assert delta["low"] < delta["delta"] < delta["high"]
    assert delta["delta"] > 0  # the knowable floor beats the learnable one
