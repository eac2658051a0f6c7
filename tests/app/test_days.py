"""A live race day is built with the broker the configuration chooses."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from keiba.app.days import live_setup
from keiba.common.config import load_config
from keiba.execution import PaperBroker
from keiba.execution.manual import ManualBroker


def test_a_live_day_buys_through_the_configured_broker(tmp_path: Path) -> None:
    config = load_config(home=tmp_path)
    day = dt.date(2026, 6, 28)
    assert isinstance(live_setup(config, "main", day).broker, PaperBroker)
    manual = config.model_copy(
        update={"execution": config.execution.model_copy(update={"broker": "manual"})}
    )
    assert isinstance(live_setup(manual, "main", day).broker, ManualBroker)
