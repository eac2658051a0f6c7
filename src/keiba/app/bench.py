"""`keiba bench ledger`: settlements per second on temporary or given ledger databases.

The other benchmarks need no storage of their own to be built: keiba.benchmarks (the data
pipeline), keiba.themis.bench and keiba.app.day_bench (a twin race day on a fresh home).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence

from keiba.bankroll.bench import BenchResult, settlement_rate

__all__ = ["ledger_bench"]


def ledger_bench(
    urls: Sequence[str] | None, writers: Sequence[int] | None, settlements: int
) -> list[BenchResult]:
    """Settlements per second of each ledger database (default: a temporary SQLite) with each
    number of concurrent writers (default: 1 and 4)."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, target in enumerate(urls or [f"sqlite:///{tmp}/bench.sqlite"]):
            for n in writers or [1, 4]:
                target_n = target.replace("bench.sqlite", f"bench-{i}-{n}.sqlite")
                results.append(settlement_rate(target_n, n, settlements))
    return results
