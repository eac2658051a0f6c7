"""How each race was run: finishing times, margins, last-3-furlong times and corner positions.

Given the official order, the winner's time is the standard time of the course and going,
slower for lower classes, plus the day's pace; each following finisher is a random gap
behind the one in front (wider down the field, over longer trips, on dirt and over jumps),
with no gap for a dead heat. Times are shown to 0.1 s. Margins are the gap in lengths
(ハナ, アタマ, クビ, 1/2 … 10, 大; 同着 for a dead heat). The last 3 furlongs are faster for
better finishers and for closers. Corner positions start from the runner's style (front-runner
or closer) and move toward its finishing position; a runner that did not finish has
positions only for the corners it passed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from keiba.simulator.courses import DIRT, TURF, standard_time_s
from keiba.simulator.population import FloatArray, IntArray
from keiba.simulator.race_model import DID_NOT_FINISH, FINISHED

__all__ = ["RunInput", "running_details"]

_MARGIN_LENGTHS = np.array(
    [0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4, 5, 6, 7, 8, 9, 10]
)
_MARGIN_TEXT = np.array(
    ["1/2", "3/4", "1", "1.1/4", "1.1/2", "1.3/4", "2", "2.1/2", "3", "3.1/2", "4", "5", "6",
     "7", "8", "9", "10"],
    dtype=object,
)  # fmt: skip
_HORSE_LENGTH_M = 2.4


@dataclass(frozen=True)
class RunInput:
    """Per race (`race_*`) and per runner arrays; runners refer to races by index."""

    race_surface: IntArray
    race_distance: IntArray
    race_going: IntArray
    race_level: IntArray
    race_corners: IntArray
    runner_race: IntArray
    status: IntArray
    run_order: IntArray
    tied: IntArray
    style: FloatArray


def _margin_text(gap_s: FloatArray, speed: FloatArray, tied: IntArray) -> np.ndarray:
    lengths = gap_s * speed / _HORSE_LENGTH_M
    midpoints = (_MARGIN_LENGTHS[1:] + _MARGIN_LENGTHS[:-1]) / 2
    text = _MARGIN_TEXT[np.searchsorted(midpoints, lengths)]
    text = np.where(lengths < 0.4, "クビ", text)
    text = np.where(lengths < 0.22, "アタマ", text)
    text = np.where(lengths < 0.1, "ハナ", text)
    text = np.where(lengths > 10.5, "大", text)
    return np.where(tied > 0, "同着", text)


def running_details(run: RunInput, rng: np.random.Generator) -> dict[str, pl.Series]:
    """finish_time_s, margin, last_3f_s and passing for every runner (nulls where none)."""
    races = run.race_surface.size
    surface, distance = run.race_surface, run.race_distance
    standard = np.array(
        [
            standard_time_s(int(s), int(d), int(g))
            for s, d, g in zip(surface, distance, run.race_going, strict=True)
        ]
    )
    winner_time = (
        standard
        * (1.0 + 0.0025 * (5 - run.race_level))
        * (1.0 + 0.004 * rng.standard_normal(races))
    )
    finished = run.status == FINISHED
    starters = run.run_order > 0
    race = run.runner_race
    field = np.bincount(race[finished], minlength=races)

    order = np.lexsort((run.run_order, race))
    spread = (
        np.select([surface == TURF, surface == DIRT], [1.0, 1.35], 5.0) * (distance / 1600) ** 0.8
    )
    mean_gap = (0.05 + 0.012 * run.run_order) * spread[race]
    gap = np.where(finished & (run.run_order > 1) & (run.tied == 0), rng.exponential(mean_gap), 0.0)
    gap_sorted = gap[order]
    cumulative = np.cumsum(gap_sorted)
    race_sorted = race[order]
    start = np.searchsorted(race_sorted, race_sorted)
    behind = np.empty_like(gap)
    behind[order] = cumulative - (cumulative[start] - gap_sorted[start])
    finish_time = np.round(winner_time[race] + behind, 1)

    speed = distance / winner_time
    margin = _margin_text(gap, speed[race], run.tied)
    margin_valid = finished & (run.run_order > 1)

    pace = rng.normal(0.0, 0.5, races)
    going = run.race_going
    base = (
        np.select(
            [surface == TURF, surface == DIRT],
            [
                34.8 + 0.0004 * (distance - 1600) + 0.35 * going,
                37.0 + 0.0006 * (distance - 1400) - 0.15 * going,
            ],
            38.8 + 0.3 * going,
        )
        + pace
    )
    fraction = (run.run_order - 1) / np.maximum(field[race] - 1, 1)
    last_3f = np.round(
        np.clip(
            base[race]
            + 1.6 * np.minimum(fraction, 1.0)
            - 0.7 * (run.style - 0.5)
            + rng.normal(0.0, 0.35, race.size),
            33.0,
            41.0,
        ),
        1,
    )
    last_3f_valid = starters & (run.status != DID_NOT_FINISH)

    passing = _passing(run, field, rng)
    return {
        "finish_time_s": pl.Series("finish_time_s", finish_time).set(pl.Series(~finished), None),
        "margin": pl.Series(
            "margin",
            [m if ok else None for m, ok in zip(margin, margin_valid, strict=True)],
            dtype=pl.String,
        ),
        "last_3f_s": pl.Series("last_3f_s", last_3f).set(pl.Series(~last_3f_valid), None),
        "passing": passing,
    }


def _passing(run: RunInput, field: IntArray, rng: np.random.Generator) -> pl.Series:
    race = run.runner_race
    corners = np.where(run.run_order > 0, run.race_corners[race], 0)
    final = np.where(
        run.status == FINISHED, (run.run_order - 1) / np.maximum(field[race] - 1, 1), 1.0
    )
    early = run.style + rng.normal(0.0, 0.15, race.size)
    stop = np.where(run.status == DID_NOT_FINISH, rng.integers(0, np.maximum(corners, 1)), corners)
    runner = np.repeat(np.arange(race.size), corners)
    first_slot = np.cumsum(corners) - corners
    corner = np.arange(runner.size) - np.repeat(first_slot, corners) + 1
    active = corner <= stop[runner]
    runner, corner = runner[active], corner[active]
    weight = corner / (corners[runner] + 1.0)
    score = (1 - weight) * early[runner] + weight * final[runner] + rng.normal(0, 0.06, runner.size)
    order = np.lexsort((score, corner, race[runner]))
    group = race[runner][order] * 8 + corner[order]
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    sizes = np.diff(np.r_[starts, group.size])
    position = np.empty(runner.size, dtype=np.int64)
    position[order] = np.arange(runner.size) - np.repeat(starts, sizes) + 1
    table = np.zeros((race.size, 4), dtype=np.int64)
    table[runner, corner - 1] = position
    frame = pl.DataFrame({f"c{k}": table[:, k] for k in range(4)})
    text = frame.select(
        pl.concat_str(
            [
                pl.when(pl.col(f"c{k}") > 0).then(pl.col(f"c{k}").cast(pl.String).str.zfill(2))
                for k in range(4)
            ],
            separator="-",
            ignore_nulls=True,
        ).alias("passing")
    ).to_series()
    return text.set(pl.Series(table[:, 0] == 0), None).alias("passing")
