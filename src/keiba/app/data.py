"""Datasets from configuration: what `keiba data …` does once its options are parsed.

Each function opens the selected dataset (or the named one), the object store of raw pages and
the wall clock itself, runs the work of keiba.simulator or keiba.data_collector on them and
returns what the command prints.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from keiba.common.clock import SystemClock
from keiba.common.config import KeibaConfig
from keiba.common.storage import FsspecObjectStore
from keiba.common.storage.datasets import (
    dataset_files,
    drop_dataset,
    open_dataset,
    warehouse_location,
)
from keiba.data_collector.canonical import export_canonical, import_canonical, write_canonical
from keiba.data_collector.collector import CollectReport, collect, reparse
from keiba.data_collector.http_client import HttpClient
from keiba.data_collector.jra2018 import Jra2018ImportReport, import_jra2018
from keiba.data_collector.netkeiba_ingest import IngestReport
from keiba.data_collector.status import dataset_details, datasets_status
from keiba.simulator import WorldConfig, generate_world, market_statistics

__all__ = [
    "collect_days",
    "dataset_details",
    "dataset_files",
    "datasets_status",
    "drop_dataset",
    "export_dataset",
    "generate_files",
    "import_canonical_files",
    "import_jra2018_files",
    "reparse_pages",
    "warehouse_location",
]

Progress = Callable[[str, int, int], None]


def generate_files(
    years: int,
    seed: int,
    start_year: int,
    all_odds: bool,
    out_dir: Path,
    file_format: str,
    *,
    progress: Progress,
) -> dict[str, Any]:
    """Simulate `years` seasons from `start_year` (with the odds of every exotic combination:
    `all_odds`) and write them in the canonical format; their rows and market facts."""
    world = WorldConfig(years=years, seed=seed, start_year=start_year, include_exotic_odds=all_odds)
    started = time.perf_counter()
    generated = generate_world(
        world, progress=lambda done, total: progress("race days", done, total)
    )
    elapsed = time.perf_counter() - started
    frames = {
        "races": generated.races,
        "runners": generated.runners,
        "payouts": generated.payouts,
        "odds": generated.odds,
        "true_probabilities": generated.true_probabilities,
    }
    write_canonical(frames, out_dir, file_format)
    return {
        "out": str(out_dir),
        "seconds": round(elapsed, 2),
        "rows": {name: frame.height for name, frame in frames.items()},
        "market": market_statistics(generated),
    }


def import_canonical_files(config: KeibaConfig, paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Load canonical directories or files into the selected dataset, one result per path."""
    results = []
    with open_dataset(config) as warehouse:
        for path in paths:
            loaded = import_canonical(warehouse, path)
            results.append(
                {
                    "path": str(path),
                    "new": loaded.new,
                    "changed": loaded.changed,
                    "unchanged": loaded.unchanged,
                    "rows_written": loaded.rows_written,
                }
            )
    return results


def import_jra2018_files(config: KeibaConfig, paths: Sequence[Path]) -> Jra2018ImportReport:
    """Load the 2018 JRA results and payouts (joined within one call, so all paths at once)."""
    with open_dataset(config) as warehouse:
        return import_jra2018(warehouse, list(paths), SystemClock())


def export_dataset(config: KeibaConfig, out_dir: Path, file_format: str) -> dict[str, int]:
    """Write the selected dataset in the canonical format; the rows per table."""
    with open_dataset(config, must_exist=True) as warehouse:
        warehouse.ensure_schema()
        return export_canonical(warehouse, out_dir, file_format)


def collect_days(
    config: KeibaConfig, start: dt.date, end: dt.date | None, progress: Progress
) -> CollectReport:
    """Fetch the race days `start`..`end` from netkeiba, store the raw pages and load them."""
    clock = SystemClock()
    store = FsspecObjectStore(config.object_store_url)
    with (
        open_dataset(config) as warehouse,
        HttpClient(config.collector, clock, time.sleep) as client,
    ):
        return collect(warehouse, store, client, clock, start, end, progress=progress)


def reparse_pages(config: KeibaConfig) -> IngestReport:
    """Rebuild the selected dataset's netkeiba rows from the stored raw pages (no network)."""
    with open_dataset(config) as warehouse:
        return reparse(warehouse, FsspecObjectStore(config.object_store_url), SystemClock())
