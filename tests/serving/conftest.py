"""The API's fixture: a served home (`served_home.Served`) per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from served_home import ACCOUNT, Served, TestClient, served_home

from keiba.common.clock import FixedClock
from keiba.serving.app import ServeSettings, create_app
from keiba.serving.auth import FailureThrottle, Role, TokenStore, tokens_path
from race_morning import Morning


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
