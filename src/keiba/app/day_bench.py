"""`keiba bench day`: a twin race day played on a fresh home, timed, and its decisions' latency.

The day is played exactly as `keiba run --twin` plays it (`prepare_twin`, `twin_setup`,
`run_race_day`), with its races' inputs timed as they are built: the features
(`build_features_for_entries`) and the inputs (`live_race_inputs`: card, odds snapshots,
probabilities). The wall time is split at the moment the day's steps begin: before it, the
world, its history's import, the model's training and the twin's start; after it, every step
of the day.

Each decision is then replayed from the same instant, once over the win pool alone and once
over every pool the day decides (win and place): the inputs again, Themis (`decide`, pure),
and the execution (the engine's bankroll read, decision record and paper purchase, on a
throwaway ledger: the engine's whole decision less Themis). A decision's latency, from the odds
snapshot it reads to its tickets, is features + inputs + Themis + execution; p50 and p99 are
over the day's decisions. Nothing here is asserted anywhere: speed is measured, not tested.
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from keiba.app.race_day import run_race_day
from keiba.app.twin_day import prepare_twin, twin_setup
from keiba.bankroll import Ledger
from keiba.common.bet_types import BetType
from keiba.common.clock import FixedClock
from keiba.common.config import KeibaConfig
from keiba.common.errors import KeibaError
from keiba.common.storage import Warehouse, create_ledger_engine
from keiba.common.storage.datasets import open_dataset
from keiba.engine import RaceEngine, RaceInputs
from keiba.engine.live import live_race_inputs
from keiba.execution import PaperBroker
from keiba.feature_engineering import build_features_for_entries
from keiba.model_training.pipeline import StoredModel
from keiba.scheduler.handlers import RaceInputsAt
from keiba.themis import decide

__all__ = ["bench_day"]

PARTS = ("features", "inputs", "themis", "execution")
T = TypeVar("T")


@dataclass
class _Recorder:
    """The day's decisions as they were asked for: race, instant, features' time."""

    started: float
    steps_began: float | None = None
    decisions: list[tuple[str, dt.datetime, float]] = field(default_factory=list)
    stored: StoredModel | None = None

    def factory(
        self, warehouse: Warehouse, stored: StoredModel, pools: tuple[BetType, ...]
    ) -> RaceInputsAt:
        self.steps_began = time.perf_counter()
        self.stored = stored

        def inputs_at(race_id: str, at: dt.datetime) -> RaceInputs:
            begun = time.perf_counter()
            build_features_for_entries(warehouse, [race_id], at)
            self.decisions.append((race_id, at, time.perf_counter() - begun))
            return live_race_inputs(warehouse, race_id, at, stored.model, stored.combination, pools)

        return inputs_at


def _timed(action: Callable[..., T], *args: Any) -> tuple[T, float]:
    begun = time.perf_counter()
    value = action(*args)
    return value, time.perf_counter() - begun


def _replay(
    config: KeibaConfig,
    warehouse: Warehouse,
    stored: StoredModel,
    decisions: Sequence[tuple[str, dt.datetime, float]],
    pools: tuple[BetType, ...],
    ledger_path: Path,
) -> list[dict[str, float]]:
    """Each decision's parts, in seconds, over `pools` (the features' time is the day's)."""
    clock = FixedClock(decisions[0][1])
    db = create_ledger_engine(f"sqlite:///{ledger_path}")
    try:
        ledger = Ledger(db, clock, account="bench")
        ledger.deposit(config.backtest.bankroll_yen, cause="a throwaway bankroll for timing")
        engine = RaceEngine(config.themis, ledger, PaperBroker(), clock)
        rows = []
        for race_id, at, features_s in decisions:
            clock.advance(at - clock.now())
            try:
                race, inputs_s = _timed(
                    live_race_inputs,
                    warehouse,
                    race_id,
                    at,
                    stored.model,
                    stored.combination,
                    pools,
                )
            except KeibaError:
                continue  # a race the day skipped: no decision to time
            parts = _decision_parts(engine, race, config)
            rows.append({"features": features_s, "inputs": inputs_s, **parts})
        return rows
    finally:
        db.dispose()


def _decision_parts(engine: RaceEngine, race: RaceInputs, config: KeibaConfig) -> dict[str, float]:
    """Themis alone, and the engine's whole decision less Themis (the execution)."""
    bankroll = engine.bankroll(race.race_date)
    _, themis_s = _timed(
        lambda: decide(
            dict(race.probabilities),
            {b: dict(q) for b, q in race.offers.items()},
            bankroll,
            config.themis,
            scratched=race.scratched,
        )
    )
    _, engine_s = _timed(lambda: engine.decide(race))
    return {"themis": themis_s, "execution": max(engine_s - themis_s, 0.0)}


def _summary(rows: Sequence[dict[str, float]]) -> dict[str, Any]:
    """p50 and p99 (milliseconds) of each part and of the whole, over the decisions."""

    def pct(values: list[float]) -> dict[str, float]:
        if len(values) < 2:
            return {"p50_ms": round(values[0] * 1000, 1), "p99_ms": round(values[0] * 1000, 1)}
        cuts = statistics.quantiles(values, n=100, method="inclusive")
        return {"p50_ms": round(cuts[49] * 1000, 1), "p99_ms": round(cuts[98] * 1000, 1)}

    if not rows:
        return {"decisions": 0}
    out: dict[str, Any] = {"decisions": len(rows)}
    for part in PARTS:
        out[part] = pct([r[part] for r in rows])
    out["total"] = pct([sum(r[p] for p in PARTS) for r in rows])
    return out


def bench_day(config: KeibaConfig, race_date: dt.date | None = None) -> dict[str, Any]:
    """Play the twin day on a fresh temporary home; its wall time and decision latencies."""
    with tempfile.TemporaryDirectory(prefix="keiba-bench-day-") as tmp:
        fresh = config.model_copy(update={"home": Path(tmp)})
        recorder = _Recorder(time.perf_counter())
        prepared = prepare_twin(fresh, race_date)
        with twin_setup(prepared) as setup:
            day = run_race_day(replace(setup, inputs=recorder.factory), prepared.day.date)
        ended = time.perf_counter()
        began = recorder.steps_began or recorder.started
        result: dict[str, Any] = {
            "race_date": day.race_date.isoformat(),
            "races": len(day.outcomes),
            "outcomes": _outcome_counts(day.rows()),
            "wall_s": {
                "whole_day": round(ended - recorder.started, 1),
                "start_up": round(began - recorder.started, 1),
                "steps": round(ended - began, 1),
            },
        }
        if recorder.stored is None or not recorder.decisions:
            return {**result, "latency": {}}
        pools = tuple(b for b in config.themis.bet_types if b in (BetType.WIN, BetType.PLACE))
        with open_dataset(prepared.config) as warehouse:
            latency = {
                name: _summary(
                    _replay(
                        config,
                        warehouse,
                        recorder.stored,
                        recorder.decisions,
                        chosen,
                        Path(tmp) / f"bench-{name}.sqlite",
                    )
                )
                for name, chosen in (("win", (BetType.WIN,)), ("all_pools", pools))
            }
        return {**result, "pools": [p.value for p in pools], "latency": latency}


def _outcome_counts(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
    return counts
