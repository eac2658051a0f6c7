"""`keiba data learnable-floor`: a simulated world's floors, learnable included, on its test races.

Generates the world the demo would (`demo.years`, `demo.seed`, `demo.start_year` unless given),
runs the learnable floor over it (`keiba.simulator.learnable_world`) and scores every floor on
the races of the demo's test period (the last `demo.test_fraction` of race days) or from a
given day (`keiba.evaluator.floors`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from keiba.common.config import KeibaConfig
from keiba.evaluator.floors import first_test_day, floors_frame, score_floors
from keiba.simulator import WorldConfig
from keiba.simulator.learnable_world import learnable_world

__all__ = ["learnable_floor"]


def learnable_floor(
    config: KeibaConfig,
    years: int | None,
    seed: int | None,
    first_day: dt.date | None,
    progress: Callable[[str, int, int], None],
) -> dict[str, Any]:
    """Every floor's winner log-loss on the test races, overall and by group; and the cost."""
    demo = config.demo
    world = WorldConfig(
        years=years if years is not None else demo.years,
        seed=seed if seed is not None else demo.seed,
        start_year=demo.start_year,
    )
    wall, cpu = time.perf_counter(), time.process_time()
    learnable = learnable_world(world, lambda done, total: progress("race days", done, total))
    seconds = time.perf_counter() - wall
    cpu_seconds = time.process_time() - cpu
    days = sorted(set(learnable.world.races["race_date"].to_list()))
    first = first_day if first_day is not None else first_test_day(days, demo.test_fraction)
    return {
        "world": {"years": world.years, "seed": world.seed, "start_year": world.start_year},
        "test_period": [first.isoformat(), days[-1].isoformat()],
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu_seconds, 1),
        "groups": score_floors(floors_frame(learnable, first, days[-1])),
    }
