"""A race's live inputs, from a simulated race day collected off the netkeiba twin.

The world's history goes into the warehouse; the twin plays the next race day on a simulated
clock (the collector's sleeps advance it) and the collector loads it, cards and odds first; a
small model is trained on the history. One race has a runner scratched on the morning.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
import polars as pl
import pytest

from keiba.common.bet_types import BetType
from keiba.common.clock import JST, FixedClock
from keiba.common.config import CollectorConfig, ModelConfig
from keiba.common.storage import DuckDBWarehouse, FsspecObjectStore
from keiba.data_collector.collector import collect
from keiba.data_collector.http_client import HttpClient
from keiba.engine import RaceInputs
from keiba.engine.live import LiveInputsError, live_race_inputs
from keiba.feature_engineering import build_features, build_features_for_entries
from keiba.market.probabilities import market_probabilities
from keiba.model_training import TrainedModel, predict_proba, train_model, training_frame
from keiba.model_training.combination import MarketCombination, fit_combination
from keiba.simulator import WorldConfig, generate_world
from keiba.simulator.netkeiba_twin import serve_twin
from keiba.simulator.netkeiba_twin_day import TwinDay, TwinRace
from keiba.simulator.netkeiba_twin_world import twin_day_with_history

WORLD = WorldConfig(seed=3, max_race_days=12)
MODEL = ModelConfig(num_boost_round=30, learning_rate=0.1, num_leaves=7, min_data_in_leaf=20)
POOLS = (BetType.WIN, BetType.PLACE)
LEAD = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class Paper:
    """The collected day: the warehouse, the race decided, and the moments it was collected."""

    warehouse: DuckDBWarehouse
    day: TwinDay
    race: TwinRace
    scratched: int
    model: TrainedModel
    combination: MarketCombination
    early: dt.datetime
    """Just after the morning's collect (cards and forecast odds)."""
    at: dt.datetime
    """The decision: post time minus 10 minutes, just after a collect."""
    later: dt.datetime
    """After another collect, 4 minutes before post."""


def with_morning_scratch(day: TwinDay, index: int) -> tuple[TwinDay, TwinRace, int]:
    """The day with the first starter of race `index` scratched (shown from the morning)."""
    race = day.races[index]
    horse = next(int(r["horse_no"]) for r in race.runners if r["status"] == "finished")
    runners = tuple(
        MappingProxyType({**r, "status": "scratched", "finish_pos": None})
        if int(r["horse_no"]) == horse
        else r
        for r in race.runners
    )
    scratched = replace(
        race,
        runners=runners,
        win=MappingProxyType({n: o for n, o in race.win.items() if n != horse}),
        place=MappingProxyType({n: o for n, o in race.place.items() if n != horse}),
    )
    races = tuple(scratched if r is race else r for r in day.races)
    return replace(day, races=races), scratched, horse


def collect_now(base: str, clock: FixedClock, warehouse: DuckDBWarehouse, tmp: Path) -> None:
    config = CollectorConfig.model_validate({"race_base_url": base, "db_base_url": base})
    store = FsspecObjectStore(str(tmp / "objects"))
    sleep = lambda s: clock.advance(dt.timedelta(seconds=s))  # noqa: E731
    with HttpClient(config, clock, sleep) as client:
        report = collect(warehouse, store, client, clock, clock.now().date(), kind="simulated")
    assert report.stopped is None and not report.failed and not report.ingest.quarantined


def trained(warehouse: DuckDBWarehouse) -> tuple[TrainedModel, MarketCombination]:
    """A small model on the history (races with results), and its market stage."""
    train = training_frame(warehouse, None, None)
    model = train_model(train, None, MODEL)
    odds = warehouse.query(
        "SELECT race_id, CAST(horse_no AS BIGINT) AS horse_no, win_odds_final FROM runners"
    )
    frame = train.with_columns(pl.Series("p_model", predict_proba(model, train))).join(
        odds, on=["race_id", "horse_no"]
    )
    frame = frame.with_columns(market_probabilities(frame, "win_odds_final"))
    return model, fit_combination(frame)


@pytest.fixture(scope="module")
def paper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Paper]:
    tmp = tmp_path_factory.mktemp("paper")
    last_day = generate_world(WORLD).races["race_date"].max()
    assert isinstance(last_day, dt.date)
    clock = FixedClock(dt.datetime.combine(last_day, dt.time(8, 30), JST))
    with DuckDBWarehouse(None) as warehouse:
        day = twin_day_with_history(warehouse, WORLD, clock, last_day)
        day, race, horse = with_morning_scratch(day, 6)
        at = race.post_time - LEAD
        with serve_twin(day, clock) as base:
            collect_now(base, clock, warehouse, tmp)
            early = clock.now()
            clock.advance(at - dt.timedelta(minutes=5) - clock.now())
            collect_now(base, clock, warehouse, tmp)
            assert clock.now() <= at
            build_features(warehouse)
            model, combination = trained(warehouse)
            ids = [r.race_id for r in day.races]
            build_features_for_entries(warehouse, ids, at)
            clock.advance(race.post_time - dt.timedelta(minutes=6) - clock.now())
            collect_now(base, clock, warehouse, tmp)
        yield Paper(warehouse, day, race, horse, model, combination, early, at, clock.now())


def inputs_at(paper: Paper, at: dt.datetime, race_id: str | None = None) -> RaceInputs:
    return live_race_inputs(
        paper.warehouse, race_id or paper.race.race_id, at, paper.model, paper.combination, POOLS
    )


def latest_odds(paper: Paper, bet_type: str, at: dt.datetime) -> pl.DataFrame:
    rows = paper.warehouse.query(
        "SELECT combination, odds, as_of, stage FROM odds "
        "WHERE race_id = ? AND bet_type = ? AND as_of <= ?",
        [paper.race.race_id, bet_type, at],
    )
    return rows.filter(pl.col("as_of") == pl.col("as_of").max())


def test_the_inputs_are_the_cards_starters_priced_as_of_the_decision(paper: Paper) -> None:
    inputs = inputs_at(paper, paper.at)
    runners = {int(r["horse_no"]): r for r in paper.race.runners}
    starters = sorted(h for h, r in runners.items() if r["status"] not in ("scratched", "excluded"))
    assert inputs.horses == tuple(starters) and paper.scratched not in starters
    assert inputs.scratched == frozenset({paper.scratched})
    assert dict(inputs.frames) == {h: int(runners[h]["frame_no"]) for h in starters}
    win = latest_odds(paper, "win", paper.at)
    assert win["stage"].unique().to_list() == ["interim"]
    assert inputs.odds_as_of == win["as_of"][0] <= paper.at
    assert dict(inputs.offers[BetType.WIN]) == dict(win.select("combination", "odds").iter_rows())
    place = latest_odds(paper, "place", paper.at).filter(pl.col("odds") > 1.0)
    assert dict(inputs.offers[BetType.PLACE]) == dict(
        place.select("combination", "odds").iter_rows()
    )  # the low end of each range
    assert (inputs.odds_source, inputs.decision_at) == ("snapshot", paper.at)
    assert inputs.model_version == paper.model.version
    assert sum(inputs.probabilities.values()) == pytest.approx(1.0)
    assert set(inputs.probabilities) == set(starters)
    assert all(p > 0 for p in inputs.probabilities.values())


def test_odds_published_after_the_decision_are_not_read(paper: Paper) -> None:
    later = latest_odds(paper, "win", paper.later)
    assert later["as_of"][0] > paper.at  # collected since, and the market has moved
    before = inputs_at(paper, paper.at)
    assert dict(before.offers[BetType.WIN]) != dict(later.select("combination", "odds").iter_rows())
    after = inputs_at(paper, paper.later)
    assert after.odds_as_of == later["as_of"][0]
    assert dict(after.offers[BetType.WIN]) == dict(later.select("combination", "odds").iter_rows())


def test_the_twin_days_runners_have_the_historys_ids_and_past_starts(paper: Paper) -> None:
    """The ids on the twin's pages are the history's: a horse's past starts are its rows there."""
    w = paper.warehouse
    history = w.query(
        "SELECT horse_id, jockey_id, trainer_id FROM runners JOIN races USING (race_id) "
        "WHERE race_date < ? AND status NOT IN ('scratched', 'excluded')",
        [paper.day.date],
    )
    cards = w.query("SELECT * FROM entries WHERE race_date = ?", [paper.day.date])
    for column in ("jockey_id", "trainer_id"):
        assert set(cards[column]) <= set(history[column]), column
    starts = history.group_by("horse_id").len("past")
    features = w.query(
        "SELECT race_id, horse_no, horse_starts, jockey_rides_365d FROM features "
        "WHERE race_date = ?",
        [paper.day.date],
    )
    runners = cards.unique(["race_id", "horse_no"]).select("race_id", "horse_no", "horse_id")
    both = features.join(runners, on=["race_id", "horse_no"]).join(
        starts, on="horse_id", how="left"
    )
    assert both.height == features.height > 400
    assert both["horse_starts"].to_list() == both["past"].fill_null(0).cast(float).to_list()
    assert (both["horse_starts"] > 0).sum() > 50  # horses the history has seen run
    assert (both["jockey_rides_365d"] > 0).all()


def reason(paper: Paper, at: dt.datetime, race_id: str | None = None) -> str:
    with pytest.raises(LiveInputsError) as failed:
        inputs_at(paper, at, race_id)
    assert "\n" not in failed.value.reason
    return failed.value.reason


def test_no_card_yet_or_no_such_race(paper: Paper) -> None:
    morning = dt.datetime.combine(paper.day.date, dt.time(8, 0), JST)
    assert reason(paper, morning).startswith("no card fetched at or before")
    assert reason(paper, paper.at, "2015010101010101").startswith("no card fetched")


def test_forecast_odds_are_not_prices(paper: Paper) -> None:
    assert latest_odds(paper, "win", paper.early)["stage"].to_list()[0] == "forecast"
    assert reason(paper, paper.early).startswith("no win odds published yet")


def test_a_starter_without_odds(paper: Paper) -> None:
    at = paper.at + dt.timedelta(seconds=1)
    snapshot = paper.warehouse.query(
        "SELECT * FROM odds WHERE race_id = ? AND as_of = ?",
        [paper.race.race_id, latest_odds(paper, "win", paper.at)["as_of"][0]],
    )
    missing = min(h for h in inputs_at(paper, paper.at).horses)
    thin = snapshot.filter(
        ~((pl.col("bet_type") == "win") & (pl.col("combination") == str(missing)))
    ).with_columns(pl.lit(at).alias("as_of"))
    paper.warehouse.load({"odds": thin})
    assert reason(paper, at) == f"no win odds for starter(s) {missing} in the latest odds"


def test_features_of_another_version_are_missing(paper: Paper) -> None:
    other = replace(paper, model=replace(paper.model, feature_version="v0"))
    assert reason(other, paper.at).startswith("features are missing or stale")


def test_a_scratch_after_the_features_were_built_makes_them_stale(paper: Paper) -> None:
    at = paper.later + dt.timedelta(minutes=1)  # read by no other test
    w = paper.warehouse
    card = w.query(
        "SELECT * FROM entries WHERE race_id = ? AND as_of = (SELECT max(as_of) FROM entries "
        "WHERE race_id = ?)",
        [paper.race.race_id, paper.race.race_id],
    )
    horse = max(inputs_at(paper, paper.at).horses)
    late = card.with_columns(
        pl.lit(at).alias("as_of"),
        pl.when(pl.col("horse_no") == horse)
        .then(pl.lit("excluded"))
        .otherwise(pl.col("status"))
        .alias("status"),
    )
    w.write_table("entries", late, replace=False)
    try:
        assert reason(paper, at).startswith("features are missing or stale")
        build_features_for_entries(w, [paper.race.race_id], at)  # the race day rebuilds them
        inputs = inputs_at(paper, at)
        assert horse not in inputs.horses and inputs.scratched == {paper.scratched, horse}
    finally:  # the features as the other tests expect them
        build_features_for_entries(w, [paper.race.race_id], paper.at)


def test_without_cards_or_features_nothing_is_decided(paper: Paper) -> None:
    with DuckDBWarehouse(None) as empty:
        empty.ensure_schema()
        with pytest.raises(LiveInputsError, match="no race cards have been collected"):
            live_race_inputs(
                empty, paper.race.race_id, paper.at, paper.model, paper.combination, POOLS
            )
        race = paper.race.race_id
        empty.write_table(
            "entries", paper.warehouse.query("SELECT * FROM entries WHERE race_id = ?", [race])
        )
        empty.load({"odds": paper.warehouse.query("SELECT * FROM odds WHERE race_id = ?", [race])})
        with pytest.raises(LiveInputsError, match=r"no model probabilities: .*no features table"):
            live_race_inputs(empty, race, paper.at, paper.model, paper.combination, POOLS)


def test_a_model_boosted_from_the_market_adds_the_decision_time_odds(paper: Paper) -> None:
    """A model trained with `model.offset: market` is priced at decision time with the win odds
    of the snapshot it decides on: its p_model is softmax(trees + log p_market(snapshot))."""
    from keiba.feature_engineering import read_features
    from keiba.model_training.objective import group_codes, group_softmax

    train = training_frame(paper.warehouse, None, None)
    model = train_model(train, None, MODEL.model_copy(update={"offset": "market"}))
    assert model.offset == "market"
    market = train.with_columns(market_probabilities(train, "win_odds_final"))
    frame = market.with_columns(pl.Series("p_model", predict_proba(model, market)))
    combination = fit_combination(frame)
    inputs = live_race_inputs(
        paper.warehouse, paper.race.race_id, paper.at, model, combination, POOLS
    )
    win = dict(inputs.offers[BetType.WIN])
    starters = pl.DataFrame(
        {"race_id": paper.race.race_id, "horse_no": list(inputs.horses)},
        schema={"race_id": pl.String, "horse_no": pl.Int64},
    ).with_columns(pl.Series("odds", [win[str(h)] for h in inputs.horses]))
    starters = starters.with_columns(market_probabilities(starters, "odds"))
    features = read_features(
        paper.warehouse, inputs.race_date, inputs.race_date, feature_version=model.feature_version
    ).with_columns(pl.col("horse_no").cast(pl.Int64))
    rows = starters.join(features, on=["race_id", "horse_no"], how="left", maintain_order="left")
    trees = model.booster.predict(rows.select(model.feature_names).to_numpy())
    codes, n = group_codes(rows["race_id"])
    p_model = group_softmax(trees + np.log(rows["p_market"].to_numpy()), codes, n)
    expected = combination.apply(rows.with_columns(pl.Series("p_model", p_model)))
    got = [inputs.probabilities[h] for h in inputs.horses]
    assert np.allclose(got, expected.to_numpy(), atol=1e-12)
    # the same trees without the offset would give other probabilities
    alone = group_softmax(trees, codes, n)
    bare = combination.apply(rows.with_columns(pl.Series("p_model", alone)))
    assert not np.allclose(got, bare.to_numpy(), atol=1e-4)
