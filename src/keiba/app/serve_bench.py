"""`keiba bench serve`: latency of the API's read routes under a steady load.

A fresh temporary home gets a simulated world (`years` seasons, the same world as `keiba bench
data`), a funded ledger account with `tickets` bets placed and settled, and a race-day journal
for the world's last day. `keiba serve` then runs as its own process on a free loopback port
with a viewer token made by `keiba token create`, and `clients` concurrent aiohttp clients
send `rate` requests per second in all, for `seconds`, taking the read routes in turn (after
one untimed request to each, which opens its store and fills its cache). Each
route's median and 99th-percentile latency, errors and requests per second are reported,
with the server's CPU time per request (from /proc, on Linux) and the load generator's own, and
the machine's one-minute load average as the load began and ended: the latencies include the
generator's work and anything else the machine runs, the server's CPU time does not.

With a baseline (another checkout's `src` folder), that code's server is timed first on the same
home under the same load, then this one's: the two runs differ only in the server's code and
in what else the machine did meanwhile.

A race's decision (`/races/{race_id}`) is left out: it scores the race with the model and
Themis, which is what `keiba bench day` times.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import numpy as np

from keiba.bankroll import Ledger, Ticket
from keiba.common.clock import FixedClock
from keiba.common.config import KeibaConfig, load_config
from keiba.common.ids import NetkeibaRaceId
from keiba.common.money import Yen
from keiba.common.storage import create_ledger_engine
from keiba.common.storage.datasets import open_dataset
from keiba.common.storage.warehouse import LoadSource
from keiba.scheduler import Journal, RaceSlot, journal_path, plan_day
from keiba.simulator import WorldConfig, generate_world

__all__ = ["bench_serve"]

Say = Callable[[str], None]
DATASET = "bench"


def _world(config: KeibaConfig, years: int, seed: int) -> dt.date:
    """Load the world into the home's dataset; its last race day."""
    world = generate_world(WorldConfig(years=years, seed=seed))
    with open_dataset(config) as warehouse:
        warehouse.load(world.frames(), LoadSource("simulated", "bench", dt.datetime.now(dt.UTC)))
        last = warehouse.query("SELECT max(race_date) AS d FROM races")["d"][0]
        races = warehouse.query(
            "SELECT netkeiba_race_id, post_time FROM races WHERE race_date = ? ORDER BY race_id",
            [last],
        )
    assert isinstance(last, dt.date)
    slots = []
    for netkeiba_id, post in races.iter_rows():
        key = NetkeibaRaceId.parse(str(netkeiba_id))
        slots.append(RaceSlot(str(netkeiba_id), key.venue, key.race_no, post))
    journal = Journal(journal_path(config.home, last))
    try:
        journal.record_plan(plan_day(last, slots, config.race_day), dt.datetime.now(dt.UTC))
    finally:
        journal.close()
    return last


def _ledger(config: KeibaConfig, day: dt.date, tickets: int) -> None:
    """A funded account with `tickets` win bets of 100 yen placed and settled."""
    engine = create_ledger_engine(config.ledger_url)
    try:
        ledger = Ledger(engine, FixedClock(dt.datetime.now(dt.UTC)), "main")
        ledger.deposit(10_000_000)
        for n in range(tickets):
            race_id = f"{day:%Y%m%d}05010{1 + n // 1000 % 9}{1 + n % 12:02d}"
            ticket = Ticket(f"bench-{n}", race_id, "win", str(1 + n % 16), Yen(100), "bench")
            ledger.place(ticket)
            ledger.settle(ticket.ticket_id, 350 if n % 4 == 0 else 0)
    finally:
        engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keiba(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "keiba.cli.main", "--home", str(home), *args]


def _cpu_seconds(pid: int) -> float | None:
    """The process's CPU time so far (user + system), where /proc tells it (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _server(home: Path, env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """`keiba serve` on a free loopback port until the block ends; its base URL and pid."""
    port = _free_port()
    with (home / "serve.log").open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 (this interpreter running keiba)
            _keiba(home, "serve", "--port", str(port)), env=env, stdout=log, stderr=log
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    httpx.get(f"{base}/health", timeout=1)
                    break
                except httpx.TransportError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("keiba serve did not start") from None
                    time.sleep(0.2)
            yield base, process.pid
        finally:
            process.terminate()
            process.wait(timeout=30)


def _routes(day: dt.date) -> list[str]:
    d = day.isoformat()
    return [
        "/health",
        f"/races?date={d}",
        f"/days/{d}/plan",
        "/bankroll",
        "/ledger/entries?limit=50",
        "/ledger/tickets?limit=50",
        "/ledger/settlements?limit=50",
        "/monitor",
        "/monitor/events",
        "/models",
        "/backtests",
    ]


def _warm(base: str, token: str, routes: list[str]) -> None:
    """One untimed request to each route: it opens its store and fills its cache."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=120) as http:
        for route in routes:
            http.get(route).raise_for_status()


async def _load(
    base: str, token: str, routes: list[str], clients: int, rate: float, seconds: float
) -> dict[str, list[tuple[float, str]]]:
    """Each client sends one request every clients/rate seconds, taking the routes in turn.
    aiohttp sends them: it spends a sixth of httpx's CPU per request, which on a small machine
    the server would otherwise wait for."""
    found: dict[str, list[tuple[float, str]]] = {r: [] for r in routes}
    interval = clients / rate
    headers = {"Authorization": f"Bearer {token}"}

    async def client(n: int, http: aiohttp.ClientSession, t0: float) -> None:
        for i in range(int(seconds / interval)):
            due = t0 + n * interval / clients + i * interval
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            route = routes[(n + i * clients) % len(routes)]
            began = time.perf_counter()
            try:
                async with http.get(route) as answer:
                    await answer.read()
                    outcome = str(answer.status)
            except (aiohttp.ClientError, TimeoutError) as e:
                outcome = type(e).__name__
            found[route].append((time.perf_counter() - began, outcome))

    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(
        base, headers=headers, connector=connector, timeout=timeout
    ) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(n, http, t0) for n in range(clients)))
    return found


def _stats(samples: dict[str, list[tuple[float, str]]], seconds: float) -> list[dict[str, Any]]:
    rows = []
    for route, found in samples.items():
        times = np.array([t for t, _ in found]) * 1000
        rows.append(
            {
                "route": route.split("?")[0],
                "requests": len(found),
                "errors": sum(outcome != "200" for _, outcome in found),
                "rps": round(len(found) / seconds, 1),
                "p50_ms": round(float(np.percentile(times, 50)), 2) if len(times) else None,
                "p99_ms": round(float(np.percentile(times, 99)), 2) if len(times) else None,
                "max_ms": round(float(times.max()), 2) if len(times) else None,
            }
        )
    return rows


def _timed(
    home: Path, env: dict[str, str], token: str, day: dt.date, load: tuple[int, float, float]
) -> dict[str, Any]:
    """One server on `home`, warmed, then timed under `load` (clients, rate, seconds)."""
    clients, rate, seconds = load
    with _server(home, env) as (base, pid):
        _warm(base, token, _routes(day))
        load_before = os.getloadavg()[0]
        cpu_before, own_before = _cpu_seconds(pid), time.process_time()
        samples = asyncio.run(_load(base, token, _routes(day), clients, rate, seconds))
        cpu_after, own_after = _cpu_seconds(pid), time.process_time()
        load_after = os.getloadavg()[0]
    every = [x for found in samples.values() for x in found]
    cpu = None
    if cpu_before is not None and cpu_after is not None and every:
        cpu = round(1000 * (cpu_after - cpu_before) / len(every), 2)
    times = np.array([t for t, _ in every]) * 1000
    return {
        "load_average_1min": [round(load_before, 2), round(load_after, 2)],
        "server_cpu_ms_per_request": cpu,
        "client_cpu_ms_per_request": round(1000 * (own_after - own_before) / max(1, len(every)), 2),
        "routes": _stats(samples, seconds),
        "all": {
            "requests": len(every),
            "errors": sum(outcome != "200" for _, outcome in every),
            "error_kinds": dict(Counter(o for _, o in every if o != "200")),
            "rps": round(len(every) / seconds, 1),
            "p50_ms": round(float(np.percentile(times, 50)), 2),
            "p99_ms": round(float(np.percentile(times, 99)), 2),
            "max_ms": round(float(times.max()), 2),
        },
    }


def bench_serve(
    years: int,
    seed: int,
    clients: int,
    rate: float,
    seconds: float,
    tickets: int,
    say: Say,
    baseline: Path | None = None,
) -> dict[str, Any]:
    """Serve a fresh home holding a `years`-season world and time its read routes; with
    `baseline` (another checkout's `src` folder), time that code's server first, on the same
    home under the same load, and report it under `"baseline"`."""
    with tempfile.TemporaryDirectory(prefix="keiba-bench-serve-") as folder:
        home = Path(folder) / "home"
        config = load_config(None, home, {"storage": {"dataset": DATASET}})
        say(f"generating and loading {years} simulated seasons")
        day = _world(config, years, seed)
        say(f"placing and settling {tickets:,} bets")
        _ledger(config, day, tickets)
        env = {**os.environ, "KEIBA_STORAGE__DATASET": DATASET}
        made = subprocess.run(  # noqa: S603 (this interpreter running keiba)
            _keiba(home, "token", "create", "--name", "bench", "--role", "viewer", "--json"),
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        token = json.loads(made.stdout)["token"]
        load = (clients, rate, seconds)
        before = None
        if baseline is not None:
            say(f"the baseline's server: {clients} clients, {rate:g} requests/s for {seconds:g} s")
            paths = [str(baseline), *filter(None, [env.get("PYTHONPATH")])]
            theirs = {**env, "PYTHONPATH": os.pathsep.join(paths)}
            before = _timed(home, theirs, token, day, load)
        say(f"{clients} clients, {rate:g} requests/s for {seconds:g} s")
        timed = _timed(home, env, token, day, load)
        with open_dataset(config, read_only=True) as warehouse:
            races = int(warehouse.query("SELECT count(*) AS n FROM races")["n"][0])
    found = {
        "years": years,
        "races": races,
        "race_day": day.isoformat(),
        "ledger_tickets": tickets,
        "clients": clients,
        "target_rps": rate,
        "seconds": seconds,
        **timed,
    }
    if before is not None:
        found["baseline"] = {"src": str(baseline), **before}
    return found
