"""The backtester (`keiba backtest run`): replay history through the code used live.

For every test month (`keiba.evaluator.walk_forward`) a model is trained on the race days
before it and its market stage fitted; the month's races are priced at decision time
(`keiba.engine.recorded`), given probabilities by the one source (`keiba.predictor`) and
replayed through the engine in the order their decisions and results happen
(`keiba.engine.Replay`), the code that runs a race day:

- at each race's decision time the monitor checks the paper account (drawdown tiers, luck
  bands), Themis decides from the combined probabilities, the decided odds and the account
  (balance, what today has staked), and `keiba.execution` records the decision, reserves the
  stakes, submits to the paper broker and commits what it accepts — in the backtest's own
  ledger database, never the user's;
- at each race's settlement time (post time + delay; every race still open is settled before
  the next race day) tickets are settled by JRA rules against the real payouts: dead heats pay
  every listed combination, scratched runners are refunded, place and wide pay only what the
  payouts list for the field size.

On the same races three baselines (`keiba.evaluator.baselines`) run beside the engine with
in-memory accounts. The engine, its ledger, broker and monitor and the baselines are built by the
caller (`keiba.app.replay`). Everything lands in a run directory (`backtest_frames`).

The backtest runs on one dataset, the selected one (`storage.dataset`): every model it trains
learns from that dataset's races only, and the run records the dataset's name and kind.

Given a stored model (`stored`: a release's gate), nothing is trained: that model and its market
stage price every race of the period through the same engine, and only the races after its
training period (the last day of its combination period) are replayed; the days before are
clipped, and the run says so (`replayed`). A period with no race day after the training is
refused.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from keiba.bankroll.audit import verify
from keiba.common.clock import Clock
from keiba.common.config import KeibaConfig
from keiba.common.errors import KeibaError
from keiba.common.logging import get_logger
from keiba.common.storage.datasets import open_dataset, warehouse_location
from keiba.engine import ENGINE
from keiba.engine.recorded import priced_races, race_results, replay_races
from keiba.evaluator.backtest_frames import (
    BETS_SCHEMA,
    DAILY_SCHEMA,
    PREDICTIONS_SCHEMA,
)
from keiba.evaluator.backtest_metrics import all_metrics
from keiba.evaluator.bet_list import label_bets, warehouse_names
from keiba.evaluator.replay_setup import ReplayFactory
from keiba.evaluator.walk_forward import Window, WindowModel, plan_windows, train_window
from keiba.feature_engineering import build_features
from keiba.market.fields import incomplete_races
from keiba.model_training.pipeline import StoredModel
from keiba.predictor.probabilities import race_probabilities

__all__ = ["ACCOUNT", "BacktestResult", "run_backtest"]

log = get_logger(__name__)

Progress = Callable[[str, int, int], None]
ACCOUNT = "backtest"


def _noop(_stage: str, _done: int, _total: int) -> None:
    return None


@dataclass(frozen=True)
class BacktestResult:
    directory: Path
    result: dict[str, Any]


def _caveats(
    frame: pl.DataFrame,
    config: KeibaConfig,
    incomplete: int,
    windows: int,
    replayed: dict[str, Any] | None = None,
) -> list[str]:
    races = frame.unique("race_id")
    by_source = dict(races.group_by("odds_source").len().iter_rows())
    drift = config.backtest.odds_drift
    caveats = []
    if by_source.get("final"):
        caveats.append(
            f"{by_source['final']:,} races were decided at their FINAL odds, which include the "
            "last minutes' money and could not be bet at: the result flatters. "
            "Set backtest.odds_drift to model the late moves."
        )
    if by_source.get("final+drift"):
        caveats.append(
            f"{by_source['final+drift']:,} races have only final odds in the data: decisions "
            f"used them moved by a late-drift model (lognormal, σ = {drift.sigma:g} on implied "
            f"probabilities, seed {drift.seed}) — an assumption, not a measurement; payouts are "
            "the real final ones."
        )
    estimated = int(races["post_estimated"].sum())
    if estimated:
        caveats.append(
            f"Post times of {estimated:,} races are unknown in the data and were estimated from "
            "the race number and the venue's place in the day (R1 at 10:00 JST, 30 min apart)."
        )
    if incomplete:
        caveats.append(
            f"{incomplete:,} races in the period lack rows for some declared runners (runners "
            "that did not finish are missing from the source); they are neither bet nor scored."
        )
    if replayed is not None:
        caveats.append(f"{replayed['note'][0].upper()}{replayed['note'][1:]}.")
    else:
        caveats.append(
            f"The model was trained {'once' if windows == 1 else f'{windows} times'}, each time "
            "on every race day before its test month; the first months learn from little history."
        )
    caveats.append(
        "Baselines bet on the same races with their own in-memory accounts; only the Themis "
        "strategy runs the monitor (drawdown tiers) and the real ledger."
    )
    return caveats


def _replayed_window(
    days: list[dt.date], stored: StoredModel, date_from: dt.date, date_to: dt.date
) -> tuple[Window, dict[str, Any]]:
    """The one window a stored model is replayed on: the period's race days after its training
    period; what was clipped, for the run's record."""
    periods, version = stored.periods, stored.model.version
    tested = sorted(d for d in set(days) if date_from <= d <= date_to)
    after = [d for d in tested if d > periods.combine_to]
    if not after:
        raise KeibaError(
            f"model {version} was trained on race days up to {periods.combine_to} (its "
            f"combination period's end): no race day between {date_from} and {date_to} comes "
            "after it to replay"
        )
    window = Window(
        after[0],
        after[-1],
        periods.train_from,
        periods.train_to,
        periods.valid_from,
        periods.combine_from,
        periods.combine_to,
    )
    clipped = len(tested) - len(after)
    replayed = {
        "model_version": version,
        "requested_from": date_from.isoformat(),
        "from": after[0].isoformat(),
        "to": after[-1].isoformat(),
        "trained_to": periods.combine_to.isoformat(),
        "clipped_days": clipped,
        "note": (
            f"the stored model {version} was replayed, not retrained; "
            + (
                f"{clipped} race day(s) from {date_from} to {periods.combine_to}, which it "
                "trained on, were left out"
                if clipped
                else "every race day of the period is after its training"
            )
        ),
    }
    return window, replayed


def _run_id(clock: Clock, date_from: dt.date, date_to: dt.date) -> str:
    return f"{clock.now():%Y%m%dT%H%M%SZ}-{date_from}-{date_to}"


def run_backtest(
    config: KeibaConfig,
    clock: Clock,
    date_from: dt.date,
    date_to: dt.date,
    *,
    setup: ReplayFactory,
    progress: Progress = _noop,
    run_dir: Path | None = None,
    stored: StoredModel | None = None,
) -> BacktestResult:
    """Replay [date_from, date_to] from the warehouse under `config.home`; write a run dir.

    `setup` builds the engine the races are replayed through (`keiba.app.replay`), its ledger
    in the run directory and its clock an hour before the first decision. With `stored`, that
    model is replayed on the period's races after its training, and nothing is trained."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    bt = config.backtest
    directory = run_dir or config.home / "backtests" / _run_id(clock, date_from, date_to)
    if (directory / "result.json").exists() or (directory / "ledger.sqlite").exists():
        raise KeibaError(f"{directory} already holds a backtest run; choose another directory")
    where = warehouse_location(config, config.storage.dataset)
    no_races = KeibaError(
        f"the dataset {config.storage.dataset!r} ({where}) holds no races: import "
        "data into it first (keiba data import …) or run `keiba backtest run --source sample`"
    )
    if config.storage.warehouse == "duckdb" and not config.duckdb_path.exists():
        raise no_races
    warehouse = open_dataset(config, must_exist=True)
    try:
        if not warehouse.has_table("races"):
            raise no_races
        dataset = {"name": warehouse.dataset, "kind": warehouse.kind()}
        days = list(warehouse.query("SELECT DISTINCT race_date FROM races")["race_date"])
        replayed: dict[str, Any] | None = None
        if stored is None:
            windows = plan_windows(
                days,
                date_from,
                date_to,
                min_history_days=bt.min_history_days,
                combine_share=bt.combine_share,
            )
        else:
            window, replayed = _replayed_window(days, stored, date_from, date_to)
            windows = [window]
        progress("features", 0, 1)
        build_features(warehouse)
        progress("features", 1, 1)
        timings["features"] = time.perf_counter() - started
        frames: list[pl.DataFrame] = []
        exotic: dict[str, dict[str, dict[str, float]]] = {}
        schedule: list[dict[str, Any]] = []
        unpredicted = 0
        for i, window in enumerate(windows):
            progress("training", i, len(windows))
            wm: WindowModel = (
                train_window(warehouse, window, config.model, bt)
                if stored is None
                else WindowModel(window, stored.model, stored.combination)
            )
            priced = priced_races(warehouse, window.test_from, window.test_to, bt)
            frame = race_probabilities(wm.model, wm.combination, warehouse, priced.frame).frame
            priced_count = frame["race_id"].n_unique()
            frame = frame.filter(~pl.col("p_model").is_null().any().over("race_id"))
            unpredicted += priced_count - frame["race_id"].n_unique()
            frame = frame.with_columns(pl.lit(wm.model.version).alias("model_version"))
            frames.append(frame)
            exotic.update(priced.exotic_odds)
            schedule.append(wm.to_dict(frame["race_id"].n_unique()))
            log.info(
                "backtest.window",
                month=f"{window.test_from:%Y-%m}",
                model_version=wm.model.version,
                races=schedule[-1]["races"],
            )
        progress("training", len(windows), len(windows))
        timings["training"] = time.perf_counter() - started - timings["features"]
        frame = pl.concat(frames, how="vertical_relaxed")
        if frame.is_empty():
            raise KeibaError(f"no complete, priced races between {date_from} and {date_to}")
        results = race_results(warehouse, frame["race_id"].unique(maintain_order=True).to_list())
        # a race without its win payouts cannot be settled: left out and reported, never lost
        unsettleable = sorted(
            r for r, result in results.items() if "win" not in {b for b, _ in result.payouts}
        )
        frame = frame.filter(~pl.col("race_id").is_in(unsettleable))
        if frame.is_empty():
            raise KeibaError(f"no race between {date_from} and {date_to} has its payouts")
        races = replay_races(frame, exotic, results, bt.pools)
        race_ids = [r.race_id for r in races]
        names = warehouse_names(warehouse, race_ids)
        incomplete = incomplete_races(warehouse, windows[0].test_from, windows[-1].test_to)
    finally:
        warehouse.close()

    directory.mkdir(parents=True, exist_ok=True)
    ledger_path = directory / "ledger.sqlite"
    rig = setup(ledger_path, races[0].inputs.decision_at - dt.timedelta(hours=1))
    replay = rig.replay(results)
    replay_started = time.perf_counter()
    for i, race in enumerate(races):
        replay.race(race)
        if i % 100 == 0:
            progress("replay", i, len(races))
    replay.finish()
    progress("replay", len(races), len(races))
    timings["replay"] = time.perf_counter() - replay_started

    themis = replay.accounts[ENGINE]
    balance = int(rig.ledger.balance())
    if balance != themis.cash or themis.open_stakes:
        raise KeibaError(
            f"the backtest ledger holds {balance:,} yen but the replay counted {themis.cash:,}"
        )
    audit = verify(rig.database)
    rig.database.dispose()

    bets = pl.DataFrame(
        [{k: row.get(k) for k in BETS_SCHEMA} for row in replay.tickets], schema=BETS_SCHEMA
    )
    bets = label_bets(bets, *names).sort("race_seq", "strategy", "bet_type", "combination")
    daily = pl.DataFrame(replay.days, schema=DAILY_SCHEMA)
    predictions = frame.select(
        "race_id",
        "race_date",
        "horse_no",
        "model_version",
        "p_model",
        "p_combined",
        "p_market",
        "p_market_final",
        "decision_odds",
        "final_odds",
        "won",
    ).cast(PREDICTIONS_SCHEMA)  # type: ignore[arg-type]
    metrics = all_metrics(bets, daily, rig.start_yen)
    timings["total"] = time.perf_counter() - started
    result = {
        "run_id": directory.name,
        "created_at": clock.now().isoformat(),
        "period": {"from": date_from.isoformat(), "to": date_to.isoformat()},
        "data_source": f"dataset {dataset['name']} ({dataset['kind']}, {where})",
        "dataset": dataset,
        "odds_source": "snapshots"
        if set(frame["odds_source"].unique()) == {"snapshot"}
        else "final",
        "odds_drift": bt.odds_drift.model_dump(mode="json"),
        "pools": [b.value for b in bt.pools],
        "start_yen": rig.start_yen,
        "policy": rig.engine.policy.model_dump(mode="json"),
        "schedule": schedule,
        "replayed": replayed,
        "races": len(races),
        "races_incomplete": incomplete,
        "races_unpredicted": unpredicted,
        "races_without_payouts": unsettleable,
        "decisions_recorded": replay.decisions,
        "monitor": {
            "enabled": rig.monitor is not None,
            "events": [
                {"kind": a.kind, "message": a.message, "at": a.at.isoformat()}
                for a in rig.alerts.alerts
            ],
            "stopped": rig.monitor.stopped if rig.monitor is not None else False,
            "races_skipped": replay.skipped,
        },
        "ledger": {
            "path": str(ledger_path),
            "audit_ok": audit.ok,
            "final_balance_yen": balance,
        },
        "caveats": _caveats(frame, config, incomplete, len(windows), replayed)
        + (
            ["The races are simulated, not real JRA races: the money says nothing about JRA."]
            if dataset["kind"] == "simulated"
            else []
        )
        + (
            [
                f"{unpredicted:,} priced races had a starter without features (no winner "
                "recorded, or a feature row missing); they were not replayed."
            ]
            if unpredicted
            else []
        )
        + (
            [
                f"{len(unsettleable):,} races have no win payouts in the data and could not be "
                f"settled; they were not replayed: {', '.join(unsettleable[:5])}"
                + (" …" if len(unsettleable) > 5 else "")
            ]
            if unsettleable
            else []
        ),
        "metrics": metrics,
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
    }
    bets.write_parquet(directory / "bets.parquet")
    daily.write_parquet(directory / "daily.parquet")
    predictions.write_parquet(directory / "predictions.parquet")
    tmp = directory / "result.json.tmp"
    tmp.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(directory / "result.json")
    log.info("backtest.done", run=str(directory), races=len(races), seconds=timings["total"])
    return BacktestResult(directory, result)
