"""Fixtures of the execution tests: one headless Chromium per module, a served IPAT twin."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .ipat_support import Venue, launch_browser, serve_venue


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch_browser()


@pytest.fixture
def venue(browser: Any, request: pytest.FixtureRequest) -> Iterator[Venue]:
    yield from serve_venue(browser, getattr(request, "param", {}))
