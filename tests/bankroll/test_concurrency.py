"""Many processes deciding and settling at once; processes killed mid-operation (both databases)."""

import datetime as dt
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from keiba.bankroll import Ledger, Ticket, check_invariants, verify
from keiba.common.clock import FixedClock

WORKER = Path(__file__).with_name("_worker.py")
CLOCK = FixedClock(dt.datetime(2020, 1, 5, 1, 0, tzinfo=dt.UTC))


def _spawn(args: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WORKER), json.dumps(args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run_together(tmp_path: Path, jobs: list[dict]) -> list[dict]:
    """Start the workers, wait until all have opened the ledger, release them at once."""
    go = tmp_path / "go"
    procs = [_spawn({**job, "go": str(go)}) for job in jobs]
    for p in procs:
        assert p.stdout is not None
        line = p.stdout.readline().strip()
        assert line == "ready", p.stderr.read() if p.stderr else line
    go.touch()
    results = []
    for p in procs:
        out, errors = p.communicate(timeout=120)
        assert p.returncode == 0, errors
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def test_many_processes_end_with_exact_balances(db_url, make_engine, tmp_path) -> None:
    ledger = Ledger(make_engine(), CLOCK)
    ledger.deposit(50_000)
    shared = []
    for n in range(40):
        ledger.place(Ticket(f"s{n}", "R9", "win", "2", 100, "r"))
        shared.append((f"s{n}", 300 if n % 2 else 0))
    start = ledger.balances()
    jobs = [
        {"mode": "mix", "url": db_url, "name": f"w{i}", "seed": i, "ops": 200, "shared": shared}
        for i in range(4)
    ]
    results = _run_together(tmp_path, jobs)
    end = ledger.balances()
    assert end.cash == start.cash + sum(r["cash"] for r in results)
    assert sum(r["settled_shared"] for r in results) == len(shared)
    reserved = [t for t in ledger.tickets() if t["state"] == "reserved"]
    assert end.reserved == sum(t["stake_yen"] for t in reserved)
    assert len(reserved) == sum(r["open_reserved"] for r in results)
    assert check_invariants(ledger.engine) == []
    assert verify(ledger.engine).ok


def test_two_races_settled_at_the_same_moment(db_url, make_engine, tmp_path) -> None:
    """The seed's scenario: two processes settle two races at once; the balance is exact."""
    ledger = Ledger(make_engine(), CLOCK)
    ledger.deposit(100_000)
    races = {"R1": [], "R2": []}
    for race, tickets in races.items():
        for n in range(30):
            ledger.place(Ticket(f"{race}-{n}", race, "win", str(n % 8 + 1), 500, "r"))
            tickets.append((f"{race}-{n}", 1_700 if n % 5 == 0 else 0))
    before = ledger.balance()
    jobs = [{"mode": "settle", "url": db_url, "tickets": t} for t in races.values()]
    results = _run_together(tmp_path, jobs)
    assert [r["settled"] for r in results] == [30, 30]
    paid = sum(p for tickets in races.values() for _, p in tickets)
    assert ledger.balance() == before + paid
    assert check_invariants(ledger.engine) == []


def test_a_process_killed_at_random_points_leaves_consistent_books(
    db_url, make_engine, tmp_path
) -> None:
    rng = random.Random(7)
    kills = 0
    for round_ in range(6):
        proc = _spawn({"mode": "crash", "url": db_url, "name": f"k{round_}", "seed": round_})
        if round_ > 0:  # the first is killed anywhere, maybe while it creates the schema
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.3) if round_ else rng.uniform(0.3, 0.7))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        _, errors = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, errors
    assert kills == 6
    ledger = Ledger(make_engine(), CLOCK)
    assert ledger.history(), "the workers wrote nothing before being killed"
    assert check_invariants(ledger.engine) == []
    result = verify(ledger.engine)
    assert result.ok, result.problem
    assert ledger.balance() >= 0
    settled = [t for t in ledger.tickets() if t["state"] == "settled"]
    paid = [e for e in ledger.history() if e["kind"] in ("payout", "refund")]
    assert len({e["ticket_id"] for e in paid}) == len(paid) <= len(settled)
