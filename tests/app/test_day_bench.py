"""The decision-latency summary of `keiba bench day` (the day itself is measured, not tested)."""

from __future__ import annotations

from keiba.app.day_bench import PARTS, _summary


def test_the_summary_gives_each_parts_median_and_p99_and_those_of_the_whole() -> None:
    rows = [
        {"features": i / 1000, "inputs": 0.002, "themis": 0.001, "execution": 0.0}
        for i in range(1, 102)
    ]
    summary = _summary(rows)
    assert summary["decisions"] == 101
    assert summary["features"] == {"p50_ms": 51.0, "p99_ms": 100.0}
    assert summary["inputs"] == {"p50_ms": 2.0, "p99_ms": 2.0}
    assert summary["total"] == {"p50_ms": 54.0, "p99_ms": 103.0}
    assert set(PARTS) <= set(summary)


def test_a_day_without_decisions_has_nothing_to_summarise() -> None:
    assert _summary([]) == {"decisions": 0}
