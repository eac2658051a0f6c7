"""The demo's and the backtest's engines as `keiba.app.replay` builds them from configuration."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from keiba.app.replay import backtest_preset, demo_preset
from keiba.common.bet_types import BetType
from keiba.common.config import load_config
from keiba.execution import PaperBroker

START = dt.datetime(2018, 9, 1, 0, 30, tzinfo=dt.UTC)


def test_the_demo_engine_buys_for_a_funded_demo_account_under_the_monitor(tmp_path: Path) -> None:
    config = load_config(None, tmp_path, {"demo": {"bankroll_yen": 250_000}})
    rig = demo_preset(config)(tmp_path / "ledger.sqlite", START)
    try:
        assert rig.clock.now() == START
        assert (rig.ledger.account, int(rig.ledger.balance())) == ("demo", 250_000)
        assert rig.start_yen == 250_000
        assert rig.monitor is not None and rig.engine.monitor is rig.monitor
        assert rig.engine.policy == config.themis
        assert isinstance(rig.engine.broker, PaperBroker)
        assert list(rig.shadows) == []
        assert (tmp_path / "ledger.sqlite").exists()
    finally:
        rig.database.dispose()


def test_a_demo_without_a_bankroll_deposits_nothing(tmp_path: Path) -> None:
    config = load_config(None, tmp_path, {"demo": {"bankroll_yen": 0}})
    rig = demo_preset(config)(tmp_path / "ledger.sqlite", START)
    try:
        assert int(rig.ledger.balance()) == 0
    finally:
        rig.database.dispose()


def test_the_backtest_engine_buys_only_its_pools_beside_the_baselines(tmp_path: Path) -> None:
    config = load_config(
        None,
        tmp_path,
        {
            "themis": {"bet_types": ["win", "place", "quinella"]},
            "backtest": {"pools": ["win", "quinella"], "monitor": False, "bankroll_yen": 50_000},
        },
    )
    rig = backtest_preset(config)(tmp_path / "ledger.sqlite", START)
    try:
        assert (rig.ledger.account, int(rig.ledger.balance())) == ("backtest", 50_000)
        assert rig.engine.policy.bet_types == (BetType.WIN, BetType.QUINELLA)
        assert rig.monitor is None and rig.engine.monitor is None
        assert [s.name for s in rig.shadows] == ["favourite", "top_pick", "themis_market"]
        assert rig.replay({}).accounts["favourite"].cash == 50_000
    finally:
        rig.database.dispose()


def test_the_backtest_monitor_follows_its_setting(tmp_path: Path) -> None:
    config = load_config(None, tmp_path, {"backtest": {"monitor": True}})
    rig = backtest_preset(config)(tmp_path / "ledger.sqlite", START)
    try:
        assert rig.monitor is not None and rig.engine.monitor is rig.monitor
    finally:
        rig.database.dispose()
