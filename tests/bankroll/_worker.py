"""A separate process doing ledger operations (run by the concurrency and crash tests).

    python _worker.py JSON   with {"mode": "mix"|"crash"|"settle", "url": ..., ...}

Prints "ready" once the ledger is open, waits for the file `go` (if given), works, and prints
one JSON line with what it did.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import random
import sys
import time

import keiba.common
from keiba.bankroll import InsufficientFundsError, Ledger, Ticket
from keiba.common.clock import SystemClock


def _load_ledger_db():
    """`keiba.common.storage.ledger_db` without its package's __init__, which imports DuckDB and
    Polars (about 0.8 s per process; these tests start dozens)."""
    path = os.path.join(os.path.dirname(keiba.common.__file__), "storage", "ledger_db.py")
    spec = importlib.util.spec_from_file_location("_keiba_ledger_db", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


create_ledger_engine = _load_ledger_db().create_ledger_engine


def _wait(go: str | None) -> None:
    while go and not os.path.exists(go):
        time.sleep(0.002)


def mix(ledger: Ledger, args: dict) -> dict:
    """Random operations; returns the cash it moved (only what succeeded)."""
    rng = random.Random(args["seed"])
    me = args["name"]
    cash = settled_shared = 0
    reserved: list[Ticket] = []
    placed: list[Ticket] = []
    shared = list(args.get("shared", []))
    rng.shuffle(shared)
    for n in range(args["ops"]):
        roll = rng.random()
        try:
            if roll < 0.1:
                amount = rng.randint(1, 50) * 100
                ledger.deposit(amount)
                cash += amount
            elif roll < 0.15:
                amount = rng.randint(1, 30) * 100
                ledger.withdraw(amount)
                cash -= amount
            elif roll < 0.45:
                t = Ticket(f"{me}-{n}", f"R{n % 7}", "win", "1", rng.randint(1, 5) * 100, "r")
                ledger.reserve(t)
                reserved.append(t)
            elif roll < 0.6 and reserved:
                t = reserved.pop(rng.randrange(len(reserved)))
                if rng.random() < 0.8:
                    ledger.commit(t.ticket_id)
                    cash -= t.stake
                    placed.append(t)
                else:
                    ledger.release(t.ticket_id)
            elif roll < 0.8 and placed:
                t = placed.pop(0)
                payout = rng.choice([0, 0, t.stake * 3])
                if ledger.settle(t.ticket_id, payout).settled_now:
                    cash += payout
            elif shared:
                ticket_id, payout = shared.pop()
                if ledger.settle(ticket_id, payout).settled_now:
                    cash += payout
                    settled_shared += 1
            else:
                ledger.adjust(100, "rounding correction")
                cash += 100
        except InsufficientFundsError:
            pass
    for ticket_id, payout in shared:
        if ledger.settle(ticket_id, payout).settled_now:
            cash += payout
            settled_shared += 1
    return {"cash": cash, "settled_shared": settled_shared, "open_reserved": len(reserved)}


def crash(ledger: Ledger, args: dict) -> dict:
    """Operations forever (until killed)."""
    rng = random.Random(args["seed"])
    n = 0
    while True:
        n += 1
        tid = f"{args['name']}-{n}"
        try:
            ledger.deposit(rng.randint(1, 10) * 100)
            ledger.reserve(Ticket(tid, "R1", "win", "3", 300, "r"))
            if n % 4 == 0:
                ledger.release(tid)
                continue
            ledger.commit(tid)
            ledger.settle(tid, rng.choice([0, 900]))
            ledger.place(Ticket(tid + "b", "R2", "win", "5", 200, "r"))
            ledger.settle(tid + "b", 200, refund=True)
            ledger.withdraw(rng.randint(1, 5) * 100)
        except InsufficientFundsError:
            pass


def settle(ledger: Ledger, args: dict) -> dict:
    started = time.perf_counter()
    done = sum(ledger.settle(t, p).settled_now for t, p in args["tickets"])
    return {"settled": done, "seconds": time.perf_counter() - started}


def main() -> None:
    args = json.loads(sys.argv[1])
    engine = create_ledger_engine(args["url"])
    ledger = Ledger(engine, SystemClock(), account=args.get("account", "main"))
    print("ready", flush=True)
    _wait(args.get("go"))
    result = {"mix": mix, "crash": crash, "settle": settle}[args["mode"]](ledger, args)
    result["at"] = dt.datetime.now(dt.UTC).isoformat()
    print(json.dumps(result), flush=True)
    engine.dispose()


if __name__ == "__main__":
    main()
