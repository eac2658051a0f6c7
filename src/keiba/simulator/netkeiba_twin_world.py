"""A simulated world's history in a warehouse, and the day the netkeiba twin plays after it.

For a paper race day against the twin, a model needs the world's past: `twin_day_with_history`
generates the world of a `WorldConfig`, loads every race dated before the chosen day (races,
runners, payouts, odds and true probabilities, as simulated races) into the warehouse, and
returns that day as a `TwinDay` for `serve_twin`. The day itself is left out: it reaches the
warehouse only as the collector fetches it from the twin (with `kind="simulated"`), cards and
odds first, results once official. Horses, jockeys and trainers keep their world ids on the
twin's pages, so the day's runners are the history's horses.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from keiba.common.clock import Clock
from keiba.common.storage.warehouse import LoadSource, Warehouse
from keiba.simulator.config import SimulatedWorld, WorldConfig
from keiba.simulator.netkeiba_twin_day import TwinDay, busiest_day
from keiba.simulator.world import generate_world

__all__ = ["history_before", "twin_day_with_history"]


def history_before(world: SimulatedWorld, day: dt.date) -> dict[str, pl.DataFrame]:
    """The world's tables (contract names) holding only the races dated before `day`."""
    earlier = world.races.filter(pl.col("race_date") < day)["race_id"].implode()
    return {name: f.filter(pl.col("race_id").is_in(earlier)) for name, f in world.frames().items()}


def twin_day_with_history(
    warehouse: Warehouse,
    config: WorldConfig,
    clock: Clock,
    day: dt.date | None = None,
) -> TwinDay:
    """Load the races of `config`'s world dated before `day` into `warehouse` (simulated
    races; a dataset of real races refuses them) and return `day` as the twin plays it.

    `day` defaults to the world's last busiest day (`busiest_day`: the most history before
    it); it must be a race day of the
    world. Loading again is idempotent.
    """
    world = generate_world(config)
    chosen = day or busiest_day(world, latest=True)
    twin = TwinDay.from_world(world, chosen)
    warehouse.ensure_schema()
    source = f"simulated world seed {config.seed}, races before {chosen.isoformat()}"
    warehouse.load(history_before(world, chosen), LoadSource("simulated", source, clock.now()))
    return twin
