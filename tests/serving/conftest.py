"""The API's fixture: a served home (`served_home.Served`) per test module."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from replayed_day import recorded_day
from served_home import ACCOUNT, Served, TestClient, served_home

from keiba.common.clock import FixedClock
from keiba.common.config import KeibaConfig
from keiba.serving.app import ServeSettings, create_app
from keiba.serving.auth import FailureThrottle, Role, TokenStore, tokens_path
from race_morning import Morning
from twin_home import TwinHome


@pytest.fixture(scope="session")
def recorded(
    tmp_path_factory: pytest.TempPathFactory, twin_home: TwinHome
) -> tuple[Path, KeibaConfig, dt.date]:
    """A home in which a three-race twin day was played, and so recorded
    (`replayed_day.recorded_day`): its configuration and date."""
    home = tmp_path_factory.mktemp("recorded") / "home"
    config, day = recorded_day(home, twin_home)
    return home, config, day


@pytest.fixture
def replay_home(
    recorded: tuple[Path, KeibaConfig, dt.date], tmp_path: Path
) -> tuple[KeibaConfig, dt.date]:
    """A fresh copy of the recorded home: a replay in it touches no other test."""
    original, config, day = recorded
    copy = tmp_path / "home"
    shutil.copytree(original, copy)
    return config.model_copy(update={"home": copy}), day


@pytest.fixture(scope="module")
def served(morning: Morning, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("served") / "home"
    config, run_id = served_home(morning, home)
    clock = FixedClock(morning.at)
    store = TokenStore(tokens_path(home), clock.now)
    _, viewer = store.create("viewer", Role.VIEWER)
    _, operator = store.create("operator", Role.OPERATOR)
    throttle = FailureThrottle(limit=1_000_000)
    settings = ServeSettings(
        config, store, ACCOUNT, throttle=throttle, clock=clock, stream_interval_s=0, stream_polls=2
    )
    with TestClient(create_app(settings)) as client:
        yield Served(home, config, morning, client, settings, viewer, operator, run_id)
