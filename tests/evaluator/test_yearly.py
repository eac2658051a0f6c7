"""Walk-forward over years: each test year scored by a model built only from the years before."""

from __future__ import annotations

import datetime as dt

import pytest

from feature_engineering.synthetic import make_world, warehouse_of
from keiba.common.config import BacktestConfig, ModelConfig
from keiba.common.errors import KeibaError
from keiba.evaluator.yearly import plan_years, walk_forward_years
from keiba.feature_engineering import FEATURE_COLUMNS, FEATURE_GROUPS, build_features

# weekends from October 2017 to the end of 2020
DAYS = [
    d
    for w in range(170)
    for d in (dt.date(2017, 10, 7) + dt.timedelta(days=7 * w + k) for k in (0, 1))
    if d.year <= 2020
]


def test_a_year_trains_before_the_year_before_it_and_combines_on_that_year() -> None:
    window = plan_years(DAYS, [2020], combine_share=0.25)[0]
    assert (window.train_from, window.train_to) == (DAYS[0], max(d for d in DAYS if d.year < 2019))
    combine = [d for d in DAYS if d.year == 2019]
    assert (window.combine_from, window.combine_to) == (combine[0], combine[-1])
    assert (window.test_from, window.test_to) == (
        min(d for d in DAYS if d.year == 2020),
        max(d for d in DAYS if d.year == 2020),
    )
    assert window.train_from <= window.valid_from <= window.train_to < window.combine_from


def test_after_one_season_the_history_is_split_instead() -> None:
    first, second = plan_years(DAYS, [2019, 2018], combine_share=0.25)  # in year order
    history = [d for d in DAYS if d.year < 2018]  # autumn 2017: 26 days
    n_combine = round(len(history) * 0.25)
    assert (first.test_from.year, second.test_from.year) == (2018, 2019)
    assert (first.combine_from, first.combine_to) == (history[-n_combine], history[-1])
    assert first.train_to == history[-n_combine - 1]
    assert second.combine_from == min(d for d in DAYS if d.year == 2018)  # 2017 is enough to train


def test_a_year_without_races_or_without_history_is_refused() -> None:
    with pytest.raises(KeibaError, match="no race day in 2021"):
        plan_years(DAYS, [2021], combine_share=0.25)
    with pytest.raises(KeibaError, match="the test year 2017 has 0 race days before it"):
        plan_years(DAYS, [2017], combine_share=0.25)


def test_each_year_is_scored_out_of_time_and_the_pool_holds_every_years_races() -> None:
    frames = make_world(seed=11, n_days=70, start=dt.date(2020, 10, 3), races_per_venue=4)
    with warehouse_of(frames) as warehouse:
        build_features(warehouse)
        result = walk_forward_years(
            warehouse,
            [2021, 2022],
            ModelConfig(num_boost_round=20, num_leaves=7),
            BacktestConfig(),
            resamples=50,
        )
    assert [y.year for y in result.years] == [2021, 2022]
    for year in result.years:
        window = year.model.window
        assert window.combine_to < window.test_from and window.test_from.year == year.year
        assert window.train_to < window.combine_from
    assert result.years[1].model.window.combine_from == dt.date(2021, 1, 2)  # all of 2021
    rows = result.rows()
    assert [r["year"] for r in rows] == ["2021", "2022", "pooled"]
    assert rows[2]["races"] == rows[0]["races"] + rows[1]["races"] > 0
    for row in rows:
        assert row["delta_r2_low"] <= row["delta_r2"] <= row["delta_r2_high"]
        assert row["delta_r2"] == pytest.approx(row["combined_r2"] - row["market_r2"])
    metrics = result.metrics()
    assert {"y2021_races", "y2022_races", "pooled_races"} <= set(metrics)


def test_an_ablation_scores_the_full_set_against_the_set_without_the_group() -> None:
    frames = make_world(seed=11, n_days=70, start=dt.date(2020, 10, 3), races_per_venue=4)
    config = ModelConfig(num_boost_round=20, num_leaves=7)
    with warehouse_of(frames) as warehouse:
        build_features(warehouse)
        result = walk_forward_years(
            warehouse,
            [2022],
            config,
            BacktestConfig(),
            without=["jockey", "form", "jockey"],
            resamples=50,
        )
        pooled = result.pooled
        assert [a.group for a in result.ablations] == ["jockey", "form"]
        for ablation in result.ablations:
            assert ablation.features == len(FEATURE_COLUMNS) - len(FEATURE_GROUPS[ablation.group])
            assert ablation.races == pooled.races
            full = pooled.scores["p_combined"].pseudo_r2
            assert ablation.delta_r2 == pytest.approx(full - ablation.combined_r2)
            assert ablation.delta_r2_low <= ablation.delta_r2 <= ablation.delta_r2_high
            assert ablation.combined_r2 != full  # another model: the group was left out
    rows = result.to_dict()["ablations"]
    assert [r["without"] for r in rows] == ["jockey", "form"]
    assert {"without_form_delta_r2", "without_jockey_delta_r2_low"} <= set(result.metrics())


def test_an_unknown_group_is_refused() -> None:
    frames = make_world(seed=11, n_days=10)
    with warehouse_of(frames) as warehouse, pytest.raises(ValueError, match="unknown feature"):
        walk_forward_years(warehouse, [2021], ModelConfig(), BacktestConfig(), without=["nonsense"])


def test_a_richer_stage_is_scored_against_the_plain_one_fitted_on_the_same_races() -> None:
    frames = make_world(seed=11, n_days=70, start=dt.date(2020, 10, 3), races_per_venue=4)
    config = ModelConfig(num_boost_round=20, num_leaves=7)
    with warehouse_of(frames) as warehouse:
        build_features(warehouse)
        plain = walk_forward_years(warehouse, [2021, 2022], config, BacktestConfig(), resamples=50)
        field = walk_forward_years(
            warehouse, [2021, 2022], config, BacktestConfig(), resamples=50, stage="field"
        )
    assert (plain.stage, field.stage) == ("plain", "field")
    for mine, theirs in zip(field.rows(), plain.rows(), strict=True):
        assert mine["stage"] == "field" and "versus_plain" not in theirs
        # the baseline is the plain walk-forward's own combination, race for race
        assert mine["plain_r2"] == theirs["combined_r2"]
        assert mine["plain_delta_r2"] == theirs["delta_r2"]
        assert mine["market_r2"] == theirs["market_r2"] and mine["races"] == theirs["races"]
        assert mine["versus_plain"] == pytest.approx(mine["combined_r2"] - mine["plain_r2"])
        assert mine["versus_plain_low"] <= mine["versus_plain"] <= mine["versus_plain_high"]
        assert mine["versus_plain"] != 0.0  # another stage: other probabilities
    for mine, theirs in zip(field.years, plain.years, strict=True):
        assert mine.model.plain == theirs.model.combination
        assert mine.model.combination.stage == "field"
        assert set(mine.model.combination.extra) == {"alpha_field", "beta_field"}
        assert mine.row()["beta_field"] == mine.model.combination.extra["beta_field"]
        assert theirs.model.plain is None
    metrics = field.metrics()
    assert {"y2021_versus_plain", "y2022_beta_field", "pooled_versus_plain_low"} <= set(metrics)


def test_an_unknown_stage_is_refused() -> None:
    frames = make_world(seed=11, n_days=10)
    with warehouse_of(frames) as warehouse, pytest.raises(KeibaError, match="unknown market stage"):
        walk_forward_years(warehouse, [2021], ModelConfig(), BacktestConfig(), stage="curvy")


def test_a_model_boosted_from_the_market_is_scored_against_the_plain_model() -> None:
    """`offset="market"`: the plain model runs beside it on the same windows, and the paired
    ΔR² compares their combinations race by race."""
    frames = make_world(seed=11, n_days=70, start=dt.date(2020, 10, 3), races_per_venue=4)
    config = ModelConfig(num_boost_round=20, num_leaves=7)
    with warehouse_of(frames) as warehouse:
        build_features(warehouse)
        plain = walk_forward_years(warehouse, [2021, 2022], config, BacktestConfig(), resamples=50)
        offset = walk_forward_years(
            warehouse, [2021, 2022], config, BacktestConfig(), resamples=50, offset="market"
        )
        reading = walk_forward_years(
            warehouse, [2021, 2022], config, BacktestConfig(), resamples=50, market_feature=True
        )
        with pytest.raises(KeibaError, match="one at a time"):
            walk_forward_years(
                warehouse, [2022], config, BacktestConfig(), stage="band", offset="market"
            )
        with pytest.raises(KeibaError, match="unknown offset 'odds'"):
            walk_forward_years(warehouse, [2022], config, BacktestConfig(), offset="odds")
    assert (plain.offset, offset.offset) == (None, "market")
    for mine, theirs in zip(offset.rows(), plain.rows(), strict=True):
        assert "versus_plain_model" not in theirs
        # the baseline is the plain walk-forward's own model and combination, race for race
        assert mine["plain_model_r2"] == theirs["model_r2"]
        assert mine["plain_combined_r2"] == theirs["combined_r2"]
        assert mine["plain_delta_r2"] == theirs["delta_r2"]
        assert mine["market_r2"] == theirs["market_r2"] and mine["races"] == theirs["races"]
        assert mine["versus_plain_model"] == pytest.approx(
            mine["combined_r2"] - mine["plain_combined_r2"]
        )
        low, high = mine["versus_plain_model_low"], mine["versus_plain_model_high"]
        assert low <= mine["versus_plain_model"] <= high
        assert mine["versus_plain_model"] != 0.0  # another model: other probabilities
    for mine, theirs in zip(offset.years, plain.years, strict=True):
        assert mine.model.model.offset == "market" and theirs.model.model.offset is None
        assert mine.plain_model is not None
        assert mine.plain_model.model.version == theirs.model.model.version
        assert mine.row()["plain_model_version"] == theirs.model.model.version
    assert {"y2021_versus_plain_model", "pooled_versus_plain_model_low"} <= set(offset.metrics())
    assert offset.to_dict()["offset"] == "market"
    # the trees reading the market (no offset): compared with the same plain model, paired
    assert (reading.offset, reading.market_feature) == (None, True)
    assert reading.to_dict()["market_feature"] is True
    for mine, theirs in zip(reading.rows(), plain.rows(), strict=True):
        assert mine["plain_combined_r2"] == theirs["combined_r2"]
        assert mine["versus_plain_model"] == pytest.approx(
            mine["combined_r2"] - mine["plain_combined_r2"]
        )
        assert mine["versus_plain_model"] != 0.0
    for mine, theirs in zip(reading.years, plain.years, strict=True):
        assert mine.model.model.feature_names[-2:] == ("market_log_p", "market_log_p_gap")
        assert mine.plain_model is not None
        assert mine.plain_model.model.version == theirs.model.model.version
