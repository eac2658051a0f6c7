"""Simulated worlds shared by the simulator tests (built once per test session and worker)."""

from __future__ import annotations

import pytest

from keiba.simulator import SimulatedWorld, WorldConfig, generate_world


@pytest.fixture(scope="session")
def year_world() -> SimulatedWorld:
    """One full season: big enough to measure the market, small enough to build in seconds."""
    return generate_world(WorldConfig(years=1, seed=7))


@pytest.fixture(scope="session")
def small_world() -> SimulatedWorld:
    """A few race days with the odds of every exotic combination."""
    return generate_world(WorldConfig(seed=11, max_race_days=4, include_exotic_odds=True))
