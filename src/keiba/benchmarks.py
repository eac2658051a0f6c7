"""Benchmarks behind `keiba bench data`: wall time and peak memory of the pipeline's heavy steps.

Each step runs in this process on a fresh temporary home, timed with `time.perf_counter` and
measured with the process's peak resident memory growth (`ru_maxrss`). Figures are reported
with the machine they ran on; docs/benchmarks.md records them with the command. Nothing here
is asserted in the test suite: speed is measured, not tested.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import platform
import resource
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

__all__ = ["BenchResult", "run_benchmarks"]

if TYPE_CHECKING:
    from keiba.common.config import ModelConfig
    from keiba.common.storage import DuckDBWarehouse

T = TypeVar("T")


@dataclass(frozen=True)
class BenchResult:
    step: str
    seconds: float
    process_peak_rss_mb: float
    """Peak resident memory of the whole process so far (it never goes down)."""
    detail: dict[str, Any]


def _process_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(
    step: str, action: Callable[[], T], detail: Callable[[T], dict[str, Any]]
) -> tuple[T, BenchResult]:
    started = time.perf_counter()
    value = action()
    seconds = time.perf_counter() - started
    return value, BenchResult(
        step, round(seconds, 2), round(_process_peak_rss_mb(), 1), detail(value)
    )


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


def run_benchmarks(
    years: int,
    seed: int,
    jra2018: Path | None,
    progress: Callable[[str], None],
    model: ModelConfig | None = None,
) -> list[BenchResult]:
    """Generate, write, import (Parquet and CSV), build features, train, import 2018 CSVs.

    Run one size per process (`keiba bench data --years N`) to read each size's peak memory.
    """
    from keiba.common.clock import FixedClock
    from keiba.common.storage import DuckDBWarehouse
    from keiba.data_collector.canonical import import_canonical, write_canonical
    from keiba.feature_engineering import build_features
    from keiba.simulator import WorldConfig, generate_world, market_statistics
    from keiba.simulator.stats import market_statistics_of

    results: list[BenchResult] = []
    with tempfile.TemporaryDirectory(prefix="keiba-bench-") as tmp:
        root = Path(tmp)
        progress(f"generating {years} simulated years")
        world, result = _measure(
            f"generate {years} years",
            lambda: generate_world(WorldConfig(years=years, seed=seed)),
            lambda w: {"races": w.races.height, "runners": w.runners.height},
        )
        results.append(result)
        stats = market_statistics(world)
        results.append(BenchResult("market statistics", 0.0, result.process_peak_rss_mb, stats))
        for fmt in ("parquet", "csv"):
            progress(f"writing and importing {fmt}")
            directory = root / fmt
            _, result = _measure(
                f"write canonical {fmt}",
                functools.partial(write_canonical, world.frames(), directory, fmt),
                lambda _: {},
            )
            results.append(result)
            with DuckDBWarehouse(root / f"{fmt}.duckdb") as warehouse:
                _, result = _measure(
                    f"import canonical {fmt}",
                    functools.partial(import_canonical, warehouse, directory),
                    lambda loaded: {"races": loaded.new.get("races", 0)},
                )
                results.append(result)
        with DuckDBWarehouse(root / "parquet.duckdb") as warehouse:
            progress("building features")
            _, result = _measure(
                "build features",
                lambda: build_features(warehouse),
                lambda rows: {"rows": rows},
            )
            results.append(result)
            progress("training the model")
            results.append(_train(warehouse, model or ModelConfig()))
        if jra2018 is not None:
            from keiba.data_collector.jra2018 import import_jra2018

            progress("importing the 2018 JRA CSVs")
            clock = FixedClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
            with DuckDBWarehouse(root / "jra2018.duckdb") as warehouse:
                _, result = _measure(
                    "import jra2018 CSVs",
                    lambda: import_jra2018(warehouse, [jra2018], clock),
                    lambda report: {
                        "races": report.races.rows,
                        "runners": report.runners.rows,
                        "payouts": report.payouts.rows,
                    },
                )
                results.append(result)
                real = market_statistics_of(
                    *(
                        warehouse.query(f"SELECT * FROM {t}")
                        for t in ("races", "runners", "payouts")
                    )
                )
                results.append(
                    BenchResult(
                        "market statistics of JRA 2018", 0.0, result.process_peak_rss_mb, real
                    )
                )
    return results


def _train(warehouse: DuckDBWarehouse, config: ModelConfig) -> BenchResult:
    """Train on the first 85% of race days, stopping early on the last 15%."""
    from keiba.model_training import train_model, training_frame

    days = warehouse.query("SELECT DISTINCT race_date FROM races ORDER BY race_date")["race_date"]
    first_valid = days[int(days.len() * 0.85)]
    train = training_frame(warehouse, None, first_valid - dt.timedelta(days=1))
    valid = training_frame(warehouse, first_valid, None)
    _, result = _measure(
        "train model",
        lambda: train_model(train, valid, config),
        lambda m: {
            "train_rows": train.height,
            "best_iteration": m.best_iteration,
            "rounds_allowed": config.num_boost_round,
        },
    )
    return result


def as_dicts(results: list[BenchResult]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]
