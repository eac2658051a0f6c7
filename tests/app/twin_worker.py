"""Plays a few races of the twin's day in a process of its own, for the crash tests.

`play(home, day, race_ids)` is the target of a child process: it runs the twin's race day in
`home` (prepared there already: the world's history and the model), restricted to `race_ids`,
until it ends or the process is killed. Importing this module imports keiba and runs nothing,
so a fork server may preload it: a process forked from one whose libraries had started threads
(Polars, DuckDB) could deadlock.
"""

from __future__ import annotations

import copyreg
from pathlib import Path
from types import MappingProxyType
from typing import Any

from keiba.app.race_day import run_race_day
from keiba.app.twin_day import TwinPrepared, twin_setup
from keiba.common.config import KeibaConfig, load_config
from keiba.common.storage import FsspecObjectStore
from keiba.simulator import generate_world
from keiba.simulator.netkeiba_twin_day import TwinDay, busiest_day
from twin_home import MODEL, WORLD


def world_day() -> TwinDay:
    """The day `prepare_twin` chooses for `WORLD`."""
    world = generate_world(WORLD)
    return TwinDay.from_world(world, busiest_day(world, latest=True))


SETTINGS: dict[str, dict[str, object]] = {
    "model": MODEL,
    "race_day": {"watch_from_min": 60, "weights_lead_min": 30, "poll_bands": [[60, 10], [0, 5]]},
}


def config_at(home: Path, **sections: dict[str, object]) -> KeibaConfig:
    """The tests' configuration: a small model, a coarse polling timeline."""
    config = load_config(home=home)
    merged = {**SETTINGS, **sections}
    return config.model_copy(
        update={
            name: getattr(config, name).model_validate(
                {**getattr(config, name).model_dump(), **values}
            )
            for name, values in merged.items()
        }
    )


GENEROUS: dict[str, object] = {"ev_threshold": 1.0}
"""Themis buying more often than by default, so that crashes meet purchases."""


def _proxy(items: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(items)


def _mapping_proxy(proxy: MappingProxyType[Any, Any]) -> tuple[Any, tuple[dict[Any, Any]]]:
    return _proxy, (dict(proxy),)


copyreg.pickle(MappingProxyType, _mapping_proxy)  # so that a day can be handed to a child


def play(home: str, whole: TwinDay, race_ids: list[str]) -> None:
    name = f"twin-seed{WORLD.seed}"
    config = config_at(Path(home), themis=GENEROUS).with_dataset(name)
    run_dir = Path(home) / "race-days" / name / whole.date.isoformat()
    day = TwinDay(whole.date, tuple(r for r in whole.races if r.netkeiba_id in race_ids))
    prepared = TwinPrepared(config, day, run_dir, FsspecObjectStore(str(run_dir / "models")))
    with twin_setup(prepared) as setup:
        run_race_day(setup, prepared.day.date)
