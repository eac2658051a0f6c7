"""The twin's odds through a race day: forecast, a market that drifts to the close, final.

The simulated world has one snapshot per race, the final odds at post. The twin derives the
rest from it, deterministically (the same instant always gives the same answer):

- **Early market.** Each runner's implied probability π = 1/final odds is multiplied by
  exp(σ·Z) (σ = `drift_sigma`, Z standard normal seeded by the schedule's seed and the race),
  then the race's overround Σπ is restored. The forecast (`yoso`) quotes it, win only.
- **While betting is open** (`middle`), at each JRA refresh k (every `refresh` from the
  opening; the answer's timestamp is the last refresh, or the close once it has passed)
  log π = (1 − w)·log π_early + w·log π_final + τ·(1 − w)·Z_k, with w the share of the
  betting window gone by, τ = `jitter_sigma` and Z_k seeded by (seed, race, k); the
  overround is restored. At the close w = 1, so the last interim odds are the final ones.
  Place odds are the final low and high scaled by √(win now / win final).
- **From post time** (`result`): the world's final win and place odds, stamped with the
  world's snapshot time.

Odds are rounded down to 0.1 (at least 1.1 to win, 1.0 to place), as JRA quotes them.
Runners withdrawn before the race are quoted, at the longest price in the race, until the
schedule's scratch time; then they are missing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from keiba.simulator.netkeiba_twin_day import TwinRace, TwinSchedule

__all__ = ["OddsAnswer", "odds_answer"]

_MIN_WIN = 1.1
_MIN_PLACE = 1.0


@dataclass(frozen=True)
class OddsAnswer:
    """What the odds API says at one instant: its status, its timestamp and the odds."""

    status: str
    stamp: dt.datetime
    win: dict[int, tuple[float, int]]
    place: dict[int, tuple[float, float, int]]


def _seed(seed: int, race: str, k: int) -> list[int]:
    digest = hashlib.sha256(race.encode("utf-8")).digest()
    return [seed & 0xFFFFFFFF, int.from_bytes(digest[:8], "little"), k]


def _quote(value: float, minimum: float) -> float:
    return max(minimum, float(np.floor(value * 10.0 + 1e-9) / 10.0))


def _ranks(values: dict[int, float]) -> dict[int, int]:
    order = sorted(values, key=lambda n: (values[n], n))
    return {n: rank for rank, n in enumerate(order, 1)}


def _implied(
    race: TwinRace, schedule: TwinSchedule, w: float, k: int
) -> tuple[list[int], npt.NDArray[np.float64]]:
    numbers = sorted(race.win)
    final = np.array([1.0 / race.win[n] for n in numbers])
    total = final.sum()
    early = final * np.exp(
        schedule.drift_sigma
        * np.random.default_rng(_seed(schedule.seed, race.netkeiba_id, 0)).standard_normal(
            len(numbers)
        )
    )
    early *= total / early.sum()
    log = (1.0 - w) * np.log(early) + w * np.log(final)
    if w < 1.0:
        jitter = np.random.default_rng(_seed(schedule.seed, race.netkeiba_id, k + 1))
        log += schedule.jitter_sigma * (1.0 - w) * jitter.standard_normal(len(numbers))
    moved = np.exp(log)
    return numbers, moved * (total / moved.sum())


def _market(
    race: TwinRace, schedule: TwinSchedule, w: float, k: int, withdrawn_quoted: bool
) -> tuple[dict[int, tuple[float, int]], dict[int, tuple[float, float, int]]]:
    numbers, implied = _implied(race, schedule, w, k)
    win = {n: _quote(1.0 / p, _MIN_WIN) for n, p in zip(numbers, implied, strict=True)}
    place: dict[int, tuple[float, float]] = {}
    for n, (low, high) in race.place.items():
        factor = (win[n] / race.win[n]) ** 0.5 if w < 1.0 else 1.0
        quoted_low = _quote(low * factor, _MIN_PLACE)
        place[n] = (quoted_low, max(quoted_low, _quote(high * factor, _MIN_PLACE)))
    if withdrawn_quoted and win:
        longest = max(win.values())
        widest = max(place.values(), default=None)
        for n in race.withdrawn():
            win[n] = longest
            if widest is not None:
                place[n] = widest
    win_rank = _ranks(win)
    place_rank = _ranks({n: low for n, (low, _) in place.items()})
    return (
        {n: (o, win_rank[n]) for n, o in sorted(win.items())},
        {n: (lo, hi, place_rank[n]) for n, (lo, hi) in sorted(place.items())},
    )


def _final(race: TwinRace) -> OddsAnswer:
    popularity = {int(r["horse_no"]): r["popularity"] for r in race.runners}
    ranks = _ranks(dict(race.win))
    win = {n: (o, int(popularity.get(n) or ranks[n])) for n, o in sorted(race.win.items())}
    place_rank = _ranks({n: low for n, (low, _) in race.place.items()})
    place = {n: (lo, hi, place_rank[n]) for n, (lo, hi) in sorted(race.place.items())}
    return OddsAnswer("result", race.final_as_of, win, place)


def odds_answer(
    race: TwinRace, day: dt.date, schedule: TwinSchedule, now: dt.datetime
) -> OddsAnswer:
    """The odds API's answer for `race` at `now`."""
    if now >= race.post_time:
        return _final(race)
    withdrawn_quoted = now < schedule.scratches_at(day)
    opens, closes = schedule.opens_at(day), race.closes_at(schedule)
    if now < opens:
        stamp = schedule.forecast_at(day)
        if not withdrawn_quoted:
            stamp = max(stamp, schedule.scratches_at(day))
        win, _ = _market(race, schedule, 0.0, 0, withdrawn_quoted)
        return OddsAnswer("yoso", stamp, win, {})
    if now >= closes:
        stamp, k, w = closes, -1, 1.0
    else:
        k = int((now - opens) / schedule.refresh)
        stamp = opens + k * schedule.refresh
        window = (closes - opens).total_seconds()
        w = min(1.0, (stamp - opens).total_seconds() / window) if window > 0 else 1.0
    win, place = _market(race, schedule, w, k, withdrawn_quoted)
    return OddsAnswer("middle", stamp, win, place)
