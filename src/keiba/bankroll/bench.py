"""Benchmark: settlements per second with several processes settling at once.

`settlement_rate(url, writers, settlements)` places `settlements` tickets in a fresh account,
then starts `writers` processes that each settle their share at the same moment (half win,
half lose), and returns the total divided by the wall time from the first start to the last
finish. Every settlement is a full ledger transaction: chain lock, ticket update, payout entry,
audit record.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from keiba.bankroll.check import check_invariants
from keiba.bankroll.ledger import Ledger, Ticket
from keiba.common.clock import SystemClock
from keiba.common.money import Yen
from keiba.common.storage.ledger_db import create_ledger_engine

__all__ = ["BenchResult", "settlement_rate"]


@dataclass(frozen=True)
class BenchResult:
    dialect: str
    writers: int
    settlements: int
    seconds: str
    per_second: int


def _engine(url: str) -> Engine:
    return create_ledger_engine(url)


def _settle(url: str, account: str, tickets: list[tuple[str, int]], barrier: Any, q: Any) -> None:
    engine = _engine(url)
    ledger = Ledger(engine, SystemClock(), account=account)
    barrier.wait()
    started = time.monotonic_ns()
    done = sum(ledger.settle(t, paid).settled_now for t, paid in tickets)
    q.put((started, time.monotonic_ns(), done))
    engine.dispose()


def settlement_rate(url: str, writers: int, settlements: int) -> BenchResult:
    account = f"bench-{uuid.uuid4().hex[:8]}"
    engine = _engine(url)
    ledger = Ledger(engine, SystemClock(), account=account)
    ledger.deposit(settlements * 100 + 100)
    tickets = []
    for n in range(settlements):
        ticket_id = f"{account}-{n}"
        ledger.place(Ticket(ticket_id, f"B{n % 12:02d}", "win", "1", Yen(100), "bench"))
        tickets.append((ticket_id, 200 if n % 2 else 0))
    context = mp.get_context("spawn")
    barrier, q = context.Barrier(writers), context.Queue()
    procs = [
        context.Process(target=_settle, args=(url, account, tickets[i::writers], barrier, q))
        for i in range(writers)
    ]
    for p in procs:
        p.start()
    results = [q.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    done = sum(r[2] for r in results)
    if done != settlements or check_invariants(engine):
        raise AssertionError(f"benchmark books inconsistent: {done} of {settlements} settled")
    nanos = max(r[1] for r in results) - min(r[0] for r in results)
    dialect = engine.dialect.name
    engine.dispose()
    seconds = dt.timedelta(microseconds=nanos // 1000).total_seconds()
    return BenchResult(
        dialect, writers, settlements, f"{seconds:.3f}", settlements * 10**9 // max(nanos, 1)
    )
