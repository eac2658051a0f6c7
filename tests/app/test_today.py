"""The day's value bets (`keiba.app.today`) against the live inputs and Themis called directly.

The home is a simulated race day collected off the netkeiba twin (`tests/race_morning.py`): in
the morning only cards and forecasts are known, in the afternoon every race has odds.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from pathlib import Path

import polars as pl
import pytest

from keiba.app.today import TodayBets, today_bets
from keiba.bankroll import Ledger, Ticket
from keiba.common.bet_types import BetType
from keiba.common.clock import FixedClock
from keiba.common.config import load_config
from keiba.common.errors import KeibaError
from keiba.common.ids import Venue
from keiba.common.money import Yen
from keiba.common.storage import FsspecObjectStore, create_ledger_engine
from keiba.common.storage.datasets import open_dataset
from keiba.engine.live import live_race_inputs
from keiba.model_training.pipeline import StoredModel, load_stored_model
from keiba.model_training.starters import model_probabilities
from keiba.release import Release, ReleaseBook
from keiba.themis import Bankroll, decide
from race_morning import DATASET, DEPOSIT, Morning, settings

POOLS = (BetType.WIN, BetType.PLACE)


@pytest.fixture(scope="module")
def afternoon(morning: Morning) -> TodayBets:
    return today_bets(morning.config, morning.at)


def stored(morning: Morning) -> StoredModel:
    return load_stored_model(FsspecObjectStore(morning.config.object_store_url))


def ledger_dump(morning: Morning) -> list[str]:
    path = morning.config.ledger_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


def test_every_race_of_the_day_is_listed_in_post_time_order(
    morning: Morning, afternoon: TodayBets
) -> None:
    twins = {r.race_id: r for r in morning.day.races}
    assert [r.race_id for r in afternoon.races] == sorted(
        twins, key=lambda i: (twins[i].post_time, i)
    )
    for race in afternoon.races:
        twin = twins[race.race_id]
        assert race.venue == Venue(int(race.race_id[8:10])).name.title()
        assert race.race_no == int(race.race_id[-2:])
        assert race.post_time == twin.post_time
        assert race.post_passed == (morning.at >= twin.post_time)
        assert race.undecided is None
    assert (afternoon.race_date, afternoon.at, afternoon.dataset) == (
        morning.day.date,
        morning.at,
        DATASET,
    )
    assert afternoon.model_version == stored(morning).model.version


def test_the_rows_are_the_live_inputs_decided_by_themis(
    morning: Morning, afternoon: TodayBets
) -> None:
    model = stored(morning)
    bankroll = Bankroll(DEPOSIT, 0, 0, DEPOSIT)
    assert afternoon.bankroll == bankroll
    twins = {r.race_id: r for r in morning.day.races}
    with open_dataset(morning.config, read_only=True) as warehouse:
        for race in afternoon.races:
            inputs = live_race_inputs(
                warehouse, race.race_id, morning.at, model.model, model.combination, POOLS
            )
            decision = decide(
                dict(inputs.probabilities),
                {b: dict(q) for b, q in inputs.offers.items()},
                bankroll,
                morning.config.themis,
                scratched=inputs.scratched,
            )
            win = inputs.offers[BetType.WIN]
            inverse = {h: 1 / win[str(h)] for h in inputs.horses}
            starters = pl.DataFrame(
                {
                    "race_id": race.race_id,
                    "horse_no": list(inputs.horses),
                    "race_date": [inputs.race_date] * len(inputs.horses),
                }
            )
            p_model = dict(
                model_probabilities(model.model, warehouse, starters)
                .frame.select("horse_no", "p_model")
                .iter_rows()
            )
            names = {int(r["horse_no"]): r["horse_name"] for r in twins[race.race_id].runners}
            stakes = {b.combination: b.stake for b in decision.bets if b.bet_type is BetType.WIN}
            codes = {
                r.combination: r.code.value
                for r in decision.rejections
                if r.bet_type is BetType.WIN
            }
            assert race.odds_as_of == inputs.odds_as_of
            assert [s.horse_no for s in race.starters] == list(inputs.horses)
            for s in race.starters:
                assert s.horse_name == names[s.horse_no]
                assert s.odds == win[str(s.horse_no)]
                assert s.p_combined == inputs.probabilities[s.horse_no]
                assert s.p_market == pytest.approx(inverse[s.horse_no] / sum(inverse.values()))
                assert s.p_model == pytest.approx(p_model[s.horse_no])
                assert s.ev == pytest.approx(s.p_combined * s.odds)
                assert s.stake_yen == stakes.get(str(s.horse_no), 0)
                assert s.reason == (None if s.stake_yen else codes[str(s.horse_no)])
            others = [b for b in decision.bets if b.bet_type is not BetType.WIN]
            assert [(t.bet_type, t.combination, t.stake_yen, t.rule) for t in race.tickets] == [
                (b.bet_type, b.combination, b.stake, b.rule) for b in others
            ]
            assert race.staked_yen == decision.total_stake
    # the comparison means something: Themis buys win and place tickets on this day
    assert any(s.stake_yen for r in afternoon.races for s in r.starters)
    assert any(r.tickets for r in afternoon.races)


def test_odds_older_than_the_race_days_limit_are_marked_stale(
    morning: Morning, afternoon: TodayBets
) -> None:
    limit = dt.timedelta(seconds=morning.config.race_day.max_odds_age_s)
    ages = {r.race_id: morning.at - r.odds_as_of for r in afternoon.races if r.odds_as_of}
    assert len(ages) == len(afternoon.races)
    assert {r.odds_stale for r in afternoon.races} == {True, False}
    for race in afternoon.races:
        assert race.odds_stale == (ages[race.race_id] > limit)
    assert any(f"older than {limit.total_seconds():g} s" in n for n in afternoon.notes)


def test_in_the_morning_every_race_is_listed_with_why_it_cannot_be_decided(
    morning: Morning,
) -> None:
    early = today_bets(morning.config, morning.early)
    assert len(early.races) == len(morning.day.races)
    for race in early.races:
        assert race.undecided == "no win odds published yet (forecasts are not prices)"
        assert race.starters == () and race.staked_yen == 0


def test_a_race_without_odds_is_listed_beside_the_decided_ones(
    morning: Morning, tmp_path: Path
) -> None:
    home = tmp_path / "home"  # a copy: the shared morning is read by other tests
    shutil.copytree(morning.home, home)
    config = settings(home)
    late = morning.at + dt.timedelta(hours=1)
    with open_dataset(config) as warehouse:
        last = morning.day.races[-1].race_id
        card = warehouse.query("SELECT * FROM entries WHERE race_id = ?", [last])
        extra = f"{last[:-2]}13"
        warehouse.write_table(
            "entries",
            card.filter(pl.col("as_of") == pl.col("as_of").max()).with_columns(
                pl.lit(extra).alias("race_id"), pl.lit(late).alias("as_of")
            ),
            replace=False,
        )
    result = today_bets(config, late)
    reasons = {r.race_id: r.undecided for r in result.races}
    assert len(reasons) == len(morning.day.races) + 1
    assert reasons.pop(extra) == "no win odds published yet (forecasts are not prices)"
    assert set(reasons.values()) == {None}


def test_one_race_is_the_same_as_in_the_days_list(morning: Morning, afternoon: TodayBets) -> None:
    chosen = next(r for r in afternoon.races if r.staked_yen)
    alone = today_bets(morning.config, morning.at, race_id=chosen.race_id)
    assert alone.races == (chosen,)


def test_the_bankroll_is_the_ledgers_with_what_the_day_has_staked(
    morning: Morning, afternoon: TodayBets
) -> None:
    engine = create_ledger_engine(morning.config.ledger_url)
    try:
        ledger = Ledger(engine, FixedClock(morning.early), "staked")
        ledger.deposit(50_000)
        race = afternoon.races[0].race_id
        ledger.place(Ticket(f"{race}-t", race, "win", "1", Yen(3_000), "test"))
    finally:
        engine.dispose()
    result = today_bets(morning.config, morning.at, account="staked")
    assert result.bankroll == Bankroll(47_000, 3_000, 1, 50_000)
    bought = next(r for r in afternoon.races if r.staked_yen)
    again = next(r for r in result.races if r.race_id == bought.race_id)
    model = stored(morning)
    with open_dataset(morning.config, read_only=True) as warehouse:
        inputs = live_race_inputs(
            warehouse, bought.race_id, morning.at, model.model, model.combination, POOLS
        )
    decision = decide(
        dict(inputs.probabilities),
        {b: dict(q) for b, q in inputs.offers.items()},
        result.bankroll,
        morning.config.themis,
        scratched=inputs.scratched,
    )
    assert again.staked_yen == decision.total_stake < bought.staked_yen


def test_nothing_is_written_to_the_ledger(morning: Morning) -> None:
    before = ledger_dump(morning)
    result = today_bets(morning.config, morning.at)
    assert sum(r.staked_yen for r in result.races) > 0
    assert ledger_dump(morning) == before


def test_bad_requests_are_one_clear_error(morning: Morning, tmp_path: Path) -> None:
    config, at, day = morning.config, morning.at, morning.day.date
    unknown = f"{morning.day.races[0].race_id[:-2]}99"
    with pytest.raises(KeibaError, match=f"no card of race {unknown}"):
        today_bets(config, at, race_id=unknown)
    with pytest.raises(KeibaError, match=r"is run on .*, not on"):
        today_bets(config, at, race_id=morning.day.races[0].race_id, race_date=day.replace(day=1))
    with pytest.raises(KeibaError, match="not a race id"):
        today_bets(config, at, race_id="2015021")
    with pytest.raises(KeibaError, match=f"no race cards for {day + dt.timedelta(days=1)}"):
        today_bets(config, at, race_date=day + dt.timedelta(days=1))
    with pytest.raises(KeibaError, match="no account 'nobody'"):
        today_bets(config, at, account="nobody")
    empty = load_config(
        None,
        morning.home,
        {"storage": {"dataset": DATASET, "object_store_url": str(tmp_path / "none")}},
    )
    with pytest.raises(KeibaError, match="no model has been trained yet"):
        today_bets(empty, at)
    with pytest.raises(KeibaError, match="no dataset 'other'"):
        today_bets(config.with_dataset("other"), at)


def test_the_release_in_force_decides_and_without_one_a_note_says_so(
    morning: Morning, afternoon: TodayBets, tmp_path: Path
) -> None:
    assert afternoon.release_id is None
    assert any("no release is promoted" in n for n in afternoon.notes)
    copy = tmp_path / "home"
    shutil.copytree(morning.home, copy)
    config = settings(copy)
    version = stored(morning).model.version
    release = Release.of(DATASET, version, config.themis.model_copy(update={"ev_threshold": 5.0}))
    engine = create_ledger_engine(config.ledger_url)
    try:
        ReleaseBook(engine, FixedClock(morning.early)).promote(release, by="ann", reason="test")
    finally:
        engine.dispose()
    result = today_bets(config, morning.at)
    assert result.release_id == release.release_id
    assert not any("no release is promoted" in n for n in result.notes)
    assert sum(r.staked_yen for r in afternoon.races) > 0
    assert sum(r.staked_yen for r in result.races) == 0
