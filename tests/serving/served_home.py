"""A served home for the API's tests: a copy of the simulated race morning (races, cards,
odds, a model, a funded account) with a race-day journal, a manual ticket list, a backtest run
and a latched monitor stop, and a viewer's and an operator's token."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from keiba.bankroll import Ledger, Ticket
from keiba.common.clock import FixedClock
from keiba.common.config import KeibaConfig, RaceDayConfig, load_config
from keiba.common.money import Yen
from keiba.common.storage import create_ledger_engine
from keiba.execution.broker import PurchaseUnknown
from keiba.execution.manual import ManualBroker
from keiba.scheduler import Journal, RaceSlot, journal_path, plan_day
from keiba.serving.app import ServeSettings
from keiba.serving.auth import Role
from race_morning import ACCOUNT, DATASET, MODEL, Morning

with warnings.catch_warnings():  # starlette would rather have httpx's successor; httpx it is
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@dataclass(frozen=True)
class Served:
    home: Path
    config: KeibaConfig
    morning: Morning
    client: TestClient
    settings: ServeSettings
    viewer: str
    operator: str
    run_id: str

    @property
    def day(self) -> dt.date:
        return day_of(self.morning)

    def auth(self, role: Role | None) -> dict[str, str]:
        if role is None:
            return {}
        token = self.operator if role is Role.OPERATOR else self.viewer
        return {"Authorization": f"Bearer {token}"}


def day_of(morning: Morning) -> dt.date:
    race_id = morning.day.races[0].race_id
    return dt.date(int(race_id[:4]), int(race_id[4:6]), int(race_id[6:8]))


def _journal(config: KeibaConfig, morning: Morning, day: dt.date) -> None:
    slots = [
        RaceSlot(r.netkeiba_id, r.key.venue, r.key.race_no, r.post_time)
        for r in morning.day.races[:3]
    ]
    journal = Journal(journal_path(config.home, day))
    try:
        journal.record_plan(plan_day(day, slots, RaceDayConfig()), morning.early)
    finally:
        journal.close()


def _manual_list(config: KeibaConfig, morning: Morning) -> None:
    race_id = morning.day.races[5].race_id
    broker = ManualBroker(config.path(config.execution.manual_dir), FixedClock(morning.at))
    tickets = [
        Ticket(f"{race_id}-t-win-{h}", race_id, "win", str(h), Yen(300), "t") for h in (1, 2)
    ]
    with pytest.raises(PurchaseUnknown):
        broker.submit(tickets)


def _stop(config: KeibaConfig, at: dt.datetime) -> None:
    engine = create_ledger_engine(config.ledger_url)
    try:
        ledger = Ledger.existing(engine, FixedClock(at), ACCOUNT)
        ledger.record_monitor_event("drawdown_tier", {"tier": "stop", "stop_buying": True})
    finally:
        engine.dispose()


def _backtest(home: Path) -> str:
    run = home / "backtests" / "20260101T000000Z"
    run.mkdir(parents=True)
    metrics = {
        "themis": {"label": "Themis", "bets": 40, "staked_yen": 12000, "returned_yen": 9000,
                   "profit_yen": -3000, "max_drawdown": {"fraction": 0.3, "days": 5}},
    }  # fmt: skip
    result = {"period": ["2025-01-01", "2025-12-31"], "metrics": metrics, "caveats": ["few bets"]}
    (run / "result.json").write_text(json.dumps(result))
    return run.name


def served_home(morning: Morning, home: Path) -> tuple[KeibaConfig, str]:
    shutil.copytree(morning.home, home)
    tracking = {"tracking_uri": f"sqlite:///{home / 'mlflow.db'}"}
    config = load_config(None, home, {"model": MODEL | tracking, "storage": {"dataset": DATASET}})
    _journal(config, morning, day_of(morning))
    _manual_list(config, morning)
    _stop(config, morning.at)
    return config, _backtest(home)
