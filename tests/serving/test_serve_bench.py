"""`keiba bench serve` on a one-season world: every read route answered, at the rate asked."""

from __future__ import annotations

import pytest

from keiba.app.serve_bench import bench_serve


@pytest.mark.slow
def test_the_bench_times_every_read_route_without_errors() -> None:
    said: list[str] = []
    report = bench_serve(1, 1, clients=4, rate=44, seconds=2, tickets=30, say=said.append)
    assert report["all"]["requests"] == 88 and report["all"]["errors"] == 0
    routes = {r["route"]: r for r in report["routes"]}
    assert len(routes) == 11 and "/races" in routes and "/ledger/entries" in routes
    assert all(r["requests"] == 8 and r["errors"] == 0 for r in routes.values())
    assert report["races"] > 0 and len(said) == 3
