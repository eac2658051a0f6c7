"""The demo and the backtester: the engine in replay mode, built from configuration.

`replay_setup` builds what a replay runs races with: the replayed clock starting at an
instant, the ledger database at a path with its account funded, the paper broker, the monitor
with its in-memory alerts, the engine and the shadows. `demo_preset` and `backtest_preset` are
its two presets, handed to `keiba.evaluator` as factories; `run_demo` and `run_backtest` build
them and run the evaluator's pipelines.

- the demo: win tickets only at the final odds (the evaluator prices them so), Themis as
  configured, the monitor on, account `demo` funded with `demo.bankroll_yen`;
- the backtest: Themis restricted to `backtest.pools`, the monitor per `backtest.monitor`,
  account `backtest` funded with `backtest.bankroll_yen`, the baselines beside it as shadows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from keiba.bankroll import Ledger
from keiba.common.clock import Clock, FixedClock
from keiba.common.config import KeibaConfig, ThemisConfig
from keiba.common.storage import create_ledger_engine
from keiba.engine import RaceEngine, Shadow
from keiba.evaluator import backtest, main_job
from keiba.evaluator.backtest import ACCOUNT as BACKTEST_ACCOUNT
from keiba.evaluator.backtest import BacktestResult, Progress
from keiba.evaluator.baselines import baselines
from keiba.evaluator.main_job import MainJobSummary
from keiba.evaluator.replay_setup import ReplayFactory, ReplaySetup
from keiba.execution import PaperBroker
from keiba.model_training.pipeline import StoredModel
from keiba.monitor import MemorySink, Monitor

__all__ = [
    "DEMO_ACCOUNT",
    "backtest_preset",
    "demo_preset",
    "replay_setup",
    "run_backtest",
    "run_demo",
]

DEMO_ACCOUNT = "demo"


def _noop(_stage: str, _done: int, _total: int) -> None:
    return None


def replay_setup(
    config: KeibaConfig,
    ledger_path: Path,
    start_at: dt.datetime,
    *,
    account: str,
    deposit_yen: int,
    policy: ThemisConfig,
    monitor: bool,
    broker: PaperBroker,
    shadows: Sequence[Shadow] = (),
) -> ReplaySetup:
    """An engine replaying from `start_at` into a ledger at `ledger_path` holding `deposit_yen`."""
    database = create_ledger_engine(f"sqlite:///{ledger_path}")
    # the replay's ledger lives in the replayed time: each purchase is dated on its race's day
    clock = FixedClock(start_at)
    ledger = Ledger(database, clock, account=account)
    if deposit_yen > 0:
        ledger.deposit(deposit_yen, cause=f"{account} starting bankroll")
    alerts = MemorySink()
    watch = Monitor.for_ledger(config.monitor, clock, ledger, [alerts]) if monitor else None
    return ReplaySetup(
        clock=clock,
        database=database,
        ledger=ledger,
        alerts=alerts,
        monitor=watch,
        engine=RaceEngine(policy, ledger, broker, clock, monitor=watch),
        start_yen=deposit_yen,
        shadows=shadows,
    )


def demo_preset(config: KeibaConfig) -> ReplayFactory:
    """The demo's engine: configured Themis, monitor on, the demo's own account."""

    def build(ledger_path: Path, start_at: dt.datetime) -> ReplaySetup:
        return replay_setup(
            config,
            ledger_path,
            start_at,
            account=DEMO_ACCOUNT,
            deposit_yen=config.demo.bankroll_yen,
            policy=config.themis,
            monitor=True,
            broker=PaperBroker(prefix=DEMO_ACCOUNT),
        )

    return build


def backtest_policy(config: KeibaConfig) -> ThemisConfig:
    """Themis as configured, buying only the pools the backtest replays."""
    pools = config.backtest.pools
    return config.themis.model_copy(
        update={"bet_types": tuple(b for b in config.themis.bet_types if b in pools)}
    )


def backtest_preset(config: KeibaConfig) -> ReplayFactory:
    """The backtest's engine: Themis on the backtest's pools, its monitor, the baselines."""
    bt = config.backtest
    policy = backtest_policy(config)

    def build(ledger_path: Path, start_at: dt.datetime) -> ReplaySetup:
        return replay_setup(
            config,
            ledger_path,
            start_at,
            account=BACKTEST_ACCOUNT,
            deposit_yen=bt.bankroll_yen,
            policy=policy,
            monitor=bt.monitor,
            broker=PaperBroker(),
            shadows=baselines(policy, bt.baseline_stake_yen),
        )

    return build


def run_demo(config: KeibaConfig, clock: Clock, progress: Progress = _noop) -> MainJobSummary:
    """`keiba demo`: the main job with the demo's engine."""
    return main_job.run_main_job(config, clock, progress, setup=demo_preset(config))


def run_backtest(
    config: KeibaConfig,
    clock: Clock,
    date_from: dt.date,
    date_to: dt.date,
    *,
    progress: Progress = _noop,
    run_dir: Path | None = None,
    stored: StoredModel | None = None,
) -> BacktestResult:
    """`keiba backtest run`: the walk-forward backtest with the backtest's engine; with
    `stored`, that model replayed on the races after its training instead (a release's gate)."""
    return backtest.run_backtest(
        config,
        clock,
        date_from,
        date_to,
        setup=backtest_preset(config),
        progress=progress,
        run_dir=run_dir,
        stored=stored,
    )
