"""A live race day: what `keiba run --date D` plugs into the race day.

`live_setup` plugs in the wall clock, the collector's configured base URLs, the selected
dataset, the model store under the home directory and the configured ledger account; its
journal is `<home>/race-days/<date>.sqlite`. `race_inputs_at` is how every race day (live or
the twin's) gets a race's inputs at decision time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from keiba.app.race_day import DayRun, RaceDaySetup, run_race_day
from keiba.common.bet_types import BetType
from keiba.common.clock import SystemClock
from keiba.common.config import KeibaConfig
from keiba.common.storage import FsspecObjectStore, Warehouse
from keiba.engine import RaceInputs
from keiba.engine.live import live_race_inputs
from keiba.execution.brokers import broker_from_config, failover_from_config
from keiba.feature_engineering import build_features_for_entries
from keiba.model_training.pipeline import (
    StoredModel,
)
from keiba.scheduler import journal_path, live_sleep
from keiba.scheduler.handlers import RaceInputsAt

__all__ = ["live_day", "live_setup", "race_inputs_at"]


def race_inputs_at(
    warehouse: Warehouse, stored: StoredModel, pools: tuple[BetType, ...]
) -> RaceInputsAt:
    """A race's inputs as known at an instant: its features rebuilt from the card as it stands,
    then the card, the odds and the probabilities as of that instant."""

    def inputs_at(race_id: str, at: dt.datetime) -> RaceInputs:
        build_features_for_entries(warehouse, [race_id], at)
        return live_race_inputs(warehouse, race_id, at, stored.model, stored.combination, pools)

    return inputs_at


def live_setup(config: KeibaConfig, account: str, race_date: dt.date) -> RaceDaySetup:
    """A live race day: wall clock, netkeiba, the selected dataset, the configured ledger and
    the configured broker (`execution.broker`: paper unless set; IPAT buys for real only with
    `execution.live` and a day cap) with its failover channel (`execution.failover`)."""
    clock = SystemClock()
    return RaceDaySetup(
        config=config,
        clock=clock,
        broker=broker_from_config(config, clock),
        failover=failover_from_config(config, clock),
        sleeper=live_sleep,
        journal_path=journal_path(config.home, race_date),
        ledger_url=config.ledger_url,
        account=account,
        model_store=FsspecObjectStore(config.object_store_url),
        inputs=race_inputs_at,
    )


def live_day(config: KeibaConfig, account: str, race_date: dt.date) -> DayRun:
    """`keiba run --date D`: the live race day, run (or resumed from its journal) to its end."""
    setup = replace(live_setup(config, account, race_date), settle_heap=True)
    return run_race_day(setup, race_date)
