"""Assembling the contract tables from the simulation's columns.

Every frame is built column by column from numpy arrays (no per-row objects) and then put
into exactly the shape `keiba.common.schema` declares: its columns in schema order with the
polars type of each logical type. Timestamps are UTC instants: post times are JST clock times
converted to UTC, odds snapshots are taken at post time, and `ingested_at` is midnight UTC
after the race date (deterministic, never the wall clock).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from keiba.common.bet_types import BetType
from keiba.common.ids import RaceKey
from keiba.common.polars_types import POLARS_TYPES
from keiba.common.schema import (
    ODDS,
    PAYOUTS,
    RACES,
    RUNNERS,
    TRUE_PROBABILITIES,
    LogicalType,
    Table,
)
from keiba.simulator.calendar import post_minutes_jst
from keiba.simulator.config import SimulatedWorld
from keiba.simulator.courses import SURFACE_NAMES
from keiba.simulator.market import BET_ORDER, MarketOutput
from keiba.simulator.population import BoolArray, Horses, IntArray, Jockeys, Trainers
from keiba.simulator.race_model import STATUS_NAMES
from keiba.simulator.season import SeasonRecords

__all__ = ["build_tables"]

_EPOCH = dt.date(1970, 1, 1).toordinal()
_MICROSECONDS_PER_MINUTE = 60_000_000
_JST_OFFSET_MINUTES = 9 * 60
_GOINGS = ("良", "稍重", "重", "不良")
_SEXES = ("牡", "牝", "セ")
_BET_NAMES = tuple(bet.value for bet in BET_ORDER)
_SOURCE = "simulated"


def _frame(table: Table, columns: dict[str, pl.Series | np.ndarray | list[object]]) -> pl.DataFrame:
    if set(columns) != set(table.column_names):
        raise AssertionError(f"{table.name}: columns {sorted(columns)} do not match the schema")
    series = []
    for column in table.columns:
        values = columns[column.name]
        dtype = POLARS_TYPES[column.type]
        if isinstance(values, pl.Series):
            s = values.alias(column.name)
        else:
            s = pl.Series(column.name, values)
        if column.type is LogicalType.TIMESTAMP and s.dtype != dtype:
            s = s.cast(pl.Int64).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        series.append(s.cast(dtype))
    return pl.DataFrame(series)


def _nullable(values: np.ndarray, valid: BoolArray) -> pl.Series:
    return pl.Series(values).set(pl.Series(~valid), None)


def _timestamps_us(day_ordinal: IntArray, minutes_utc: IntArray) -> IntArray:
    return ((day_ordinal - _EPOCH) * 1440 + minutes_utc) * _MICROSECONDS_PER_MINUTE


def build_tables(
    records: SeasonRecords,
    starts: BoolArray,
    market: MarketOutput,
    running: dict[str, pl.Series],
    horses: Horses,
    jockeys: Jockeys,
    trainers: Trainers,
) -> SimulatedWorld:
    specs = [spec for spec, _, _ in records.races]
    keys = [
        RaceKey(s.day.date, s.day.venue, s.day.meeting, s.day.meeting_day, s.race_no) for s in specs
    ]
    race_ids = pl.Series("race_id", [str(k) for k in keys], dtype=pl.String)
    ordinal = np.array([s.day.date.toordinal() for s in specs], dtype=np.int64)
    post_minutes = np.array([post_minutes_jst(s.day.slot, s.race_no) for s in specs])
    post_time = _timestamps_us(ordinal, post_minutes - _JST_OFFSET_MINUTES)
    races = _frame(
        RACES,
        {
            "race_id": race_ids,
            "netkeiba_race_id": [str(k.to_netkeiba()) for k in keys],
            "race_date": pl.Series(ordinal - _EPOCH, dtype=pl.Int32).cast(pl.Date),
            "venue_code": [int(s.day.venue) for s in specs],
            "meeting": [s.day.meeting for s in specs],
            "meeting_day": [s.day.meeting_day for s in specs],
            "race_no": [s.race_no for s in specs],
            "post_time": post_time,
            "race_name": [s.name for s in specs],
            "grade": pl.Series([s.grade for s in specs], dtype=pl.String),
            "race_class": [s.category.race_class for s in specs],
            "surface": [SURFACE_NAMES[s.course.surface] for s in specs],
            "distance_m": [s.course.distance_m for s in specs],
            "direction": [s.course.direction for s in specs],
            "going": [_GOINGS[s.going] for s in specs],
            "weather": [s.weather for s in specs],
            "field_size": [size for _, size, _ in records.races],
            "source": [_SOURCE] * len(specs),
            "ingested_at": _timestamps_us(ordinal + 1, np.zeros(len(specs), dtype=np.int64)),
        },
    )

    race = records.runner("race")
    horse = records.runner("horse")
    jockey = records.runner("jockey")
    trainer = horses.trainer[horse]
    status = records.runner("status")
    finish_pos = records.runner("finish_pos")
    horse_no = records.runner("horse_no")
    win_odds = np.zeros(race.size)
    win_odds[starts] = market.win_payout / 100.0
    popularity = np.zeros(race.size, dtype=np.int64)
    popularity[starts] = market.popularity
    body_weight = records.runner("body_weight")
    body_weight_diff = records.runner("body_weight_diff")
    runners = _frame(
        RUNNERS,
        {
            "race_id": race_ids.gather(race),
            "horse_no": horse_no,
            "frame_no": records.runner("frame"),
            "horse_id": pl.Series(horses.ids.tolist(), dtype=pl.String).gather(horse),
            "horse_name": pl.Series(horses.names.tolist(), dtype=pl.String).gather(horse),
            "sex": pl.Series(_SEXES).gather(records.runner("sex")),
            "age": records.runner("age"),
            "jockey_id": pl.Series(jockeys.ids, dtype=pl.String).gather(jockey),
            "jockey_name": pl.Series(jockeys.names, dtype=pl.String).gather(jockey),
            "trainer_id": pl.Series(trainers.ids, dtype=pl.String).gather(trainer),
            "trainer_name": pl.Series(trainers.names, dtype=pl.String).gather(trainer),
            "weight_carried_kg": records.runner("weight"),
            "body_weight_kg": _nullable(body_weight, body_weight >= 0),
            "body_weight_diff_kg": _nullable(body_weight_diff, body_weight_diff != -999),
            "status": pl.Series(STATUS_NAMES).gather(status),
            "finish_pos": _nullable(finish_pos, finish_pos > 0),
            "demoted": records.runner("demoted"),
            "finish_time_s": running["finish_time_s"],
            "margin": running["margin"],
            "passing": running["passing"],
            "last_3f_s": running["last_3f_s"],
            "win_odds_final": _nullable(win_odds, starts),
            "popularity": _nullable(popularity, starts),
        },
    )

    pay = market.payouts
    pay_race, pay_bet, pay_text = pay.column("race"), pay.column("bet"), pay.column("combination")
    order = np.lexsort((pay_bet, pay_race))
    payouts = _frame(
        PAYOUTS,
        {
            "race_id": race_ids.gather(pay_race[order]),
            "bet_type": pl.Series(_BET_NAMES).gather(pay_bet[order]),
            "combination": pl.Series(pay_text[order].tolist(), dtype=pl.String),
            "payout_yen": pay.column("payout")[order],
            "popularity": pay.column("rank")[order],
        },
    )

    starter_race = race[starts]
    starter_no = horse_no[starts]
    sold = market.place_low > 0
    exotic = market.exotic_odds
    ex_race, ex_bet, ex_text = (
        exotic.column("race"),
        exotic.column("bet"),
        exotic.column("combination"),
    )
    ex_odds, ex_high, ex_pool = exotic.column("odds"), exotic.column("high"), exotic.column("pool")
    odds_race = np.concatenate([starter_race, starter_race[sold], ex_race])
    odds_bet = np.concatenate(
        [
            np.full(starter_race.size, BET_ORDER.index(BetType.WIN)),
            np.full(int(sold.sum()), BET_ORDER.index(BetType.PLACE)),
            ex_bet,
        ]
    )
    odds_text = pl.concat(
        [
            pl.Series(np.concatenate([starter_no, starter_no[sold]])).cast(pl.String),
            pl.Series(ex_text.tolist(), dtype=pl.String),
        ]
    )
    odds_value = np.concatenate(
        [market.win_payout / 100.0, market.place_low[sold] / 100.0, ex_odds.astype(np.float64)]
    )
    odds_high = np.concatenate(
        [np.full(starter_race.size, np.nan), market.place_high[sold] / 100.0, ex_high]
    )
    odds_pool = np.concatenate([market.win_money, market.place_money[sold], ex_pool])
    order = np.lexsort((odds_bet, odds_race))
    odds = _frame(
        ODDS,
        {
            "race_id": race_ids.gather(odds_race[order]),
            "bet_type": pl.Series(_BET_NAMES).gather(odds_bet[order]),
            "combination": odds_text.gather(order),
            "odds": odds_value[order],
            "odds_high": _nullable(odds_high[order], ~np.isnan(odds_high[order])),
            "pool_yen": odds_pool[order],
            "as_of": post_time[odds_race[order]],
            "stage": ["final"] * order.size,
        },
    )

    truth = _frame(
        TRUE_PROBABILITIES,
        {
            "race_id": race_ids.gather(starter_race),
            "horse_no": starter_no,
            "p_true": records.runner("p_true")[starts],
            "p_knowable": records.runner("p_knowable")[starts],
        },
    )
    return SimulatedWorld(races, runners, payouts, odds, truth)
