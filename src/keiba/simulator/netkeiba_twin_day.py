"""One race day of a simulated world, as the netkeiba twin plays it, and the day's timetable.

`TwinDay.from_world(world, date)` takes the day's races, runners, payouts and final odds out
of a `SimulatedWorld`; `busiest_day(world)` picks the first day with the most racecourses.
`TwinSchedule` says when things happen on the twin's clock (all times JST unless a duration):

- the forecast odds (予想オッズ) are published at `forecast_time` the evening before;
- betting opens at `betting_opens` on the day and closes `close_before_post` before each
  race's post time; JRA refreshes the odds every `refresh` while it is open;
- body weights appear on the card `body_weights_before_post` before post;
- scratches and exclusions appear on the card (and leave the odds) from `scratches_from`;
- the result is official `official_after_post` after post, plus any extra hold a race has
  in `inquiries` (審議); until then its result page is not there.

The early market and the drift toward the final odds are set by `drift_sigma`, `jitter_sigma`
and `seed` (see `keiba.simulator.netkeiba_twin_odds`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import polars as pl

from keiba.common.clock import JST
from keiba.common.ids import NetkeibaRaceId
from keiba.simulator.config import SimulatedWorld

__all__ = ["TwinDay", "TwinRace", "TwinSchedule", "busiest_day"]

WITHDRAWN = ("scratched", "excluded")
"""Runner statuses the card shows before the race (取消, 除外); the rest are outcomes."""


@dataclass(frozen=True)
class TwinSchedule:
    """When the twin publishes what (see the module docstring); every field has a default."""

    forecast_time: dt.time = dt.time(18, 0)
    betting_opens: dt.time = dt.time(9, 0)
    close_before_post: dt.timedelta = dt.timedelta(minutes=2)
    refresh: dt.timedelta = dt.timedelta(seconds=120)
    body_weights_before_post: dt.timedelta = dt.timedelta(minutes=60)
    scratches_from: dt.time = dt.time(8, 0)
    official_after_post: dt.timedelta = dt.timedelta(minutes=10)
    inquiries: Mapping[str, dt.timedelta] = field(default_factory=lambda: MappingProxyType({}))
    drift_sigma: float = 0.25
    jitter_sigma: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if self.refresh <= dt.timedelta(0):
            raise ValueError(f"refresh must be positive, was {self.refresh}")
        for name in ("close_before_post", "body_weights_before_post", "official_after_post"):
            if getattr(self, name) < dt.timedelta(0):
                raise ValueError(f"{name} must not be negative, was {getattr(self, name)}")
        if not (0.0 <= self.drift_sigma <= 2.0 and 0.0 <= self.jitter_sigma <= 1.0):
            raise ValueError("drift_sigma must be in [0, 2] and jitter_sigma in [0, 1]")

    def at(self, day: dt.date, time: dt.time) -> dt.datetime:
        return dt.datetime.combine(day, time, JST)

    def forecast_at(self, day: dt.date) -> dt.datetime:
        return self.at(day - dt.timedelta(days=1), self.forecast_time)

    def opens_at(self, day: dt.date) -> dt.datetime:
        return self.at(day, self.betting_opens)

    def scratches_at(self, day: dt.date) -> dt.datetime:
        return self.at(day, self.scratches_from)

    def official_at(self, race: TwinRace) -> dt.datetime:
        hold = self.inquiries.get(race.netkeiba_id, dt.timedelta(0))
        return race.post_time + self.official_after_post + hold


@dataclass(frozen=True)
class TwinRace:
    """One race of the day: the world's rows for it, keyed as the pages need them."""

    race: Mapping[str, Any]
    runners: tuple[Mapping[str, Any], ...]
    payouts: tuple[Mapping[str, Any], ...]
    win: Mapping[int, float]
    place: Mapping[int, tuple[float, float]]
    final_as_of: dt.datetime

    @property
    def netkeiba_id(self) -> str:
        return str(self.race["netkeiba_race_id"])

    @property
    def race_id(self) -> str:
        return str(self.race["race_id"])

    @property
    def key(self) -> NetkeibaRaceId:
        return NetkeibaRaceId.parse(self.netkeiba_id)

    @property
    def post_time(self) -> dt.datetime:
        post: dt.datetime = self.race["post_time"]
        return post

    def closes_at(self, schedule: TwinSchedule) -> dt.datetime:
        return self.post_time - schedule.close_before_post

    def withdrawn(self) -> dict[int, str]:
        """Horse number → scratched / excluded, for the runners withdrawn before the race."""
        return {
            int(r["horse_no"]): str(r["status"]) for r in self.runners if r["status"] in WITHDRAWN
        }


@dataclass(frozen=True)
class TwinDay:
    """The races of one day, in netkeiba race-id order."""

    date: dt.date
    races: tuple[TwinRace, ...]

    def race(self, netkeiba_id: str) -> TwinRace | None:
        return next((r for r in self.races if r.netkeiba_id == netkeiba_id), None)

    @classmethod
    def from_world(cls, world: SimulatedWorld, date: dt.date) -> TwinDay:
        races = world.races.filter(pl.col("race_date") == date).sort("netkeiba_race_id")
        if races.is_empty():
            raise ValueError(f"the world has no races on {date.isoformat()}")
        ids = races["race_id"].implode()
        runners = _by_race(world.runners.filter(pl.col("race_id").is_in(ids)).sort("horse_no"))
        payouts = _by_race(world.payouts.filter(pl.col("race_id").is_in(ids)))
        odds = world.odds.filter(pl.col("race_id").is_in(ids) & (pl.col("stage") == "final"))
        return cls(date, tuple(_race(row, runners, payouts, odds) for row in races.to_dicts()))


def _by_race(frame: pl.DataFrame) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in frame.to_dicts():
        rows.setdefault(row["race_id"], []).append(row)
    return rows


def _race(
    row: dict[str, Any],
    runners: dict[str, list[dict[str, Any]]],
    payouts: dict[str, list[dict[str, Any]]],
    odds: pl.DataFrame,
) -> TwinRace:
    mine = odds.filter(pl.col("race_id") == row["race_id"])
    win = {
        int(o["combination"]): float(o["odds"])
        for o in mine.filter(pl.col("bet_type") == "win").to_dicts()
    }
    place = {
        int(o["combination"]): (float(o["odds"]), float(o["odds_high"]))
        for o in mine.filter(pl.col("bet_type") == "place").to_dicts()
    }
    as_of = mine["as_of"].max() if mine.height else row["post_time"]
    assert isinstance(as_of, dt.datetime)
    return TwinRace(
        race=MappingProxyType(row),
        runners=tuple(MappingProxyType(r) for r in runners.get(row["race_id"], [])),
        payouts=tuple(MappingProxyType(p) for p in payouts.get(row["race_id"], [])),
        win=MappingProxyType(win),
        place=MappingProxyType(place),
        final_as_of=as_of,
    )


def busiest_day(world: SimulatedWorld, *, latest: bool = False) -> dt.date:
    """The first (or with `latest`, the last) day with the most racecourses (three on a summer
    or a January weekend)."""
    venues = (
        world.races.group_by("race_date")
        .agg(pl.col("venue_code").n_unique().alias("venues"))
        .sort(["venues", "race_date"], descending=[True, latest])
    )
    day: dt.date = venues["race_date"][0]
    return day
