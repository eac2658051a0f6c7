"""A sweep of backtests over a grid of policy settings, shared among the tasks of a job.

A grid file (JSON) names the period and, per setting (`section.key` of keiba's
configuration), the values to try::

    {"from": "2018-03-01", "to": "2018-03-31",
     "grid": {"themis.ev_threshold": [1.05, 1.2], "themis.kelly_fraction": [0.1, 0.25]}}

Its points are the grid's cartesian product (settings in name order, values in the given
order), numbered from 0. Task `k` of `n` (a Cloud Run job's `CLOUD_RUN_TASK_INDEX` and
`CLOUD_RUN_TASK_COUNT`) runs points k, k+n, k+2n, … each as a whole walk-forward backtest of
the selected dataset with those settings, and writes the point's summary to the object store
(`sweeps/<sweep id>/points/<i>.json`). The sweep id is a digest of the grid and the dataset,
and of the execution (Cloud Run's `CLOUD_RUN_EXECUTION`), so the tasks agree on it without
talking to each other. A task that finds every point
present writes the merged report (`sweeps/<sweep id>/report.json`), the same bytes whichever
task writes it; a task run again (Cloud Run retries a failed one) skips the points present.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from keiba.app.backtests import strategy_summaries
from keiba.app.replay import run_backtest
from keiba.common.clock import SystemClock
from keiba.common.config import KeibaConfig
from keiba.common.errors import ConfigError
from keiba.common.storage.object_store import FsspecObjectStore, ObjectExistsError, ObjectStore

__all__ = ["MAX_POINTS", "SweepGrid", "load_grid", "run_sweep_task", "sweep_report"]

MAX_POINTS = 1000
PREFIX = "sweeps"
SWEPT = ("themis", "backtest", "monitor", "model", "release")
"""The sections a sweep may set: those that shape a backtest's decisions and model."""

RunPoint = Callable[[KeibaConfig, dt.date, dt.date], Mapping[str, Any]]
"""Runs one backtest; its result.json."""


@dataclass(frozen=True)
class SweepGrid:
    """The period, and the values of each setting to try."""

    date_from: dt.date
    date_to: dt.date
    settings: dict[str, list[Any]]

    def points(self) -> list[dict[str, Any]]:
        names = sorted(self.settings)
        product = itertools.product(*(self.settings[n] for n in names))
        return [dict(zip(names, values, strict=True)) for values in product]

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "grid": {k: self.settings[k] for k in sorted(self.settings)},
        }

    def sweep_id(self, dataset: str, execution: str | None) -> str:
        named = {"dataset": dataset, "execution": execution, **self.to_json()}
        canonical = json.dumps(named, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def load_grid(text: str, where: str) -> SweepGrid:
    """The grid of a JSON text; `ConfigError` of one line naming `where` and what is wrong."""
    try:
        raw = json.loads(text)
        date_from = dt.date.fromisoformat(raw["from"])
        date_to = dt.date.fromisoformat(raw["to"])
        grid = raw["grid"]
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{where}: a sweep grid is {{from, to, grid}} in JSON ({e})") from None
    if date_to < date_from:
        raise ConfigError(f"{where}: 'to' is before 'from'")
    if not isinstance(grid, dict) or not grid:
        raise ConfigError(f"{where}: 'grid' must map settings to lists of values")
    for name, values in grid.items():
        if "." not in name or not isinstance(values, list) or not values:
            raise ConfigError(f"{where}: {name!r} must be section.key with a list of values")
        if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
            raise ConfigError(f"{where}: {name} lists a value twice")
    spec = SweepGrid(date_from, date_to, {k: list(v) for k, v in grid.items()})
    count = len(spec.points())
    if count > MAX_POINTS:
        raise ConfigError(f"{where}: {count} points, more than {MAX_POINTS}")
    return spec


def with_settings(config: KeibaConfig, point: Mapping[str, Any]) -> KeibaConfig:
    """`config` with the point's settings; `ConfigError` for a setting keiba does not take."""
    sections: dict[str, dict[str, Any]] = {}
    for dotted, value in point.items():
        section, _, key = dotted.partition(".")
        sections.setdefault(section, {})[key] = value
    update = {}
    for name, values in sections.items():
        current = getattr(config, name, None)
        if name not in SWEPT or not isinstance(current, BaseModel):
            raise ConfigError(f"a sweep cannot set {name}.*: it sets {', '.join(SWEPT)}")
        try:
            update[name] = type(current).model_validate({**current.model_dump(), **values})
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise ConfigError(f"a sweep's {name}.{where}: {first.get('msg', '')}") from None
    return config.model_copy(update=update)


def share(count_points: int, index: int, count: int) -> list[int]:
    """The points task `index` of `count` runs: every `count`-th from `index`."""
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"task {index} of {count}: the index must be 0 to count - 1")
    return list(range(index, count_points, count))


def _backtest(config: KeibaConfig, date_from: dt.date, date_to: dt.date) -> Mapping[str, Any]:
    with tempfile.TemporaryDirectory(prefix="keiba-sweep-") as tmp:
        run = run_backtest(config, SystemClock(), date_from, date_to, run_dir=Path(tmp) / "run")
        return run.result


def _summary(index: int, point: Mapping[str, Any], result: Mapping[str, Any]) -> dict[str, Any]:
    """What a point leaves: figures of the run, nothing of where or when it ran."""
    return {
        "index": index,
        "settings": dict(point),
        "races": result.get("races"),
        "decisions_recorded": result.get("decisions_recorded"),
        "monitor_stopped": (result.get("monitor") or {}).get("stopped"),
        "audit_ok": (result.get("ledger") or {}).get("audit_ok"),
        "strategies": strategy_summaries(result),
        "caveats": list(result.get("caveats") or []),
    }


def _write_once(store: ObjectStore, key: str, data: bytes) -> str:
    """Write-once (a job's account may create objects, not replace them): an object already
    there was written by another task from the same points, so it is the same."""
    try:
        return store.put_new(key, data)
    except ObjectExistsError:
        return store.url(key) if isinstance(store, FsspecObjectStore) else key


def _point_key(sweep_id: str, index: int) -> str:
    return f"{PREFIX}/{sweep_id}/points/{index:04d}.json"


def sweep_report(
    store: ObjectStore, spec: SweepGrid, sweep_id: str, dataset: str, execution: str | None
) -> dict[str, Any] | None:
    """The merged report when every point is present, else None."""
    total = len(spec.points())
    keys = [_point_key(sweep_id, i) for i in range(total)]
    if not all(store.exists(k) for k in keys):
        return None
    points = [json.loads(store.get(k)) for k in keys]
    return {
        "sweep_id": sweep_id,
        "dataset": dataset,
        "execution": execution,
        **spec.to_json(),
        "points": points,
        "caveats": [
            f"{total} settings were tried on the same races: choosing the best of them by its "
            "return overfits that period, so its figures flatter. Judge a choice on a later "
            "period it was not chosen on."
        ],
    }


def run_sweep_task(
    config: KeibaConfig,
    spec: SweepGrid,
    index: int,
    count: int,
    *,
    execution: str | None = None,
    store: ObjectStore | None = None,
    run_point: RunPoint = _backtest,
) -> dict[str, Any]:
    """Run task `index` of `count`'s points (those not present yet) and merge when all are.

    `execution` names the run (Cloud Run's `CLOUD_RUN_EXECUTION`, the same for every task and
    retry of one execution): without it, the same grid on the same dataset is the same sweep,
    and points done before are not run again, whatever has changed since."""
    points = spec.points()
    mine = share(len(points), index, count)
    configs = {i: with_settings(config, points[i]) for i in mine}  # every setting checked first
    store = store or FsspecObjectStore(config.object_store_url)
    dataset = config.storage.dataset
    sweep_id = spec.sweep_id(dataset, execution)
    ran, present = [], []
    for i in mine:
        key = _point_key(sweep_id, i)
        if store.exists(key):
            present.append(i)
            continue
        result = run_point(configs[i], spec.date_from, spec.date_to)
        text = json.dumps(_summary(i, points[i], result), sort_keys=True, ensure_ascii=False)
        _write_once(store, key, text.encode())
        ran.append(i)
    report = sweep_report(store, spec, sweep_id, dataset, execution)
    written = None
    if report is not None:
        text = json.dumps(report, sort_keys=True, ensure_ascii=False)
        written = _write_once(store, f"{PREFIX}/{sweep_id}/report.json", text.encode())
    return {
        "sweep_id": sweep_id,
        "execution": execution,
        "task": index,
        "tasks": count,
        "points": len(points),
        "ran": ran,
        "present": present,
        "report": written,
    }
