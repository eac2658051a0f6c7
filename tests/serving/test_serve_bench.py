"""`keiba bench serve` on a one-season world: every read route answered, at the rate asked, by
this checkout's server and by a baseline's."""

from __future__ import annotations

from pathlib import Path

import pytest

import keiba
from keiba.app.serve_bench import bench_serve


@pytest.mark.slow
def test_the_bench_times_every_read_route_without_errors() -> None:
    said: list[str] = []
    src = Path(keiba.__file__).parents[1]
    report = bench_serve(
        1, 1, clients=4, rate=44, seconds=2, tickets=30, say=said.append, baseline=src
    )
    for run in (report, report["baseline"]):
        assert run["all"]["requests"] == 88 and run["all"]["errors"] == 0
        routes = {r["route"]: r for r in run["routes"]}
        assert len(routes) == 11 and "/races" in routes and "/ledger/entries" in routes
        assert all(r["requests"] == 8 and r["errors"] == 0 for r in routes.values())
        assert all(r["p50_ms"] <= r["p99_ms"] <= r["max_ms"] for r in routes.values())
        assert len(run["load_average_1min"]) == 2
    assert report["baseline"]["src"] == str(src)
    assert report["races"] > 0 and len(said) == 4
