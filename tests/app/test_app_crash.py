"""A replayed race day killed (SIGKILL) at random moments, 100 times, and restarted each time.

The day (nine races of the twin's day, three at each racecourse) runs in a child process forked
from a server that has imported keiba and loaded Themis's compiled solver already, so a restart
costs a quarter of a second of CPU, not an import. The parent watches the journal and kills the
child once it has recorded a few more step transitions (how many is drawn from a seeded
generator; where in its work the child is when the signal lands is up to the machine, which is
the point). After the 100th kill the day runs to its end. Whatever the moments, nothing may be
decided or bought twice, and nothing lost: every race has an outcome, every purchase the journal
reports is in the ledger and every ticket in the ledger is one the journal accounts for, every
placed ticket is settled once, and the ledger's audit chain and invariants hold.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import sqlite3
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
import twin_worker
from sqlalchemy import text

from keiba.app.twin_day import TWIN_ACCOUNT
from keiba.bankroll import Ledger, check_invariants
from keiba.bankroll.audit import verify
from keiba.common.clock import FixedClock
from keiba.common.ids import NetkeibaRaceId
from keiba.common.storage import create_ledger_engine
from keiba.scheduler import Journal
from twin_home import TwinHome

KILLS = 100


def _transitions(journal: Path) -> int:
    if not journal.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT count(*) FROM transitions").fetchone()[0])
    except sqlite3.Error:  # not created yet, or being created
        return 0


@pytest.mark.slow
def test_a_day_killed_a_hundred_times_repeats_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, twin_home: TwinHome
) -> None:
    home = tmp_path / "home"
    config = twin_worker.config_at(home, themis=twin_worker.GENEROUS)
    prepared = twin_home.prepare(config, world=twin_worker.WORLD)
    races = [r.netkeiba_id for r in sorted(prepared.day.races, key=lambda r: r.post_time)][:9]
    journal = prepared.run_dir / "journal.sqlite"
    # the fork server is a fresh interpreter: it finds this folder's worker, and the tests'
    # folder's `twin_home` the worker imports its settings from, through PYTHONPATH
    here = Path(twin_worker.__file__).parent
    paths = [str(here), str(here.parent), os.environ.get("PYTHONPATH")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, paths)))
    context = multiprocessing.get_context("forkserver")
    # imports only, and the solver's kernels loaded: no threads yet
    context.set_forkserver_preload(["twin_worker", "lightgbm", "twin_worker_warm"])
    rng = random.Random(20261204)
    kills, finished = 0, False
    while not finished:
        child = context.Process(target=twin_worker.play, args=(str(home), prepared.day, races))
        child.start()
        target = _transitions(journal) + rng.randint(1, 3)
        while child.is_alive() and (kills == KILLS or _transitions(journal) < target):
            time.sleep(0.002)
        if child.is_alive():
            child.kill()
            kills += 1
        child.join()
        finished = child.exitcode == 0
        assert finished or child.exitcode == -9, f"the day failed (exit {child.exitcode})"
    assert kills == KILLS, f"the day ended after {kills} kills; make it longer"

    with closing(Journal(journal)) as recorded:
        outcomes = recorded.outcomes()
    assert set(outcomes) == set(races) and all(o is not None for o in outcomes.values())
    engine = create_ledger_engine(f"sqlite:///{prepared.run_dir / 'ledger.sqlite'}")
    ledger = Ledger(engine, FixedClock(prepared.day.races[0].post_time), TWIN_ACCOUNT)
    tickets = ledger.tickets()
    by_race: dict[str, list[dict[str, object]]] = {}
    for t in tickets:
        by_race.setdefault(str(t["race_id"]), []).append(t)
    for race, outcome in outcomes.items():
        assert outcome is not None
        held = by_race.get(str(NetkeibaRaceId.parse(race).to_race_key(prepared.day.date)), [])
        journal_tickets = {t["ticket_id"] for t in outcome.detail.get("tickets", [])}
        assert journal_tickets == {t["ticket_id"] for t in held}, (race, outcome)
        if outcome.outcome.value == "bought":
            assert held and all(t["state"] == "settled" for t in held), (race, held)
        elif held:  # tickets the process was sending when it died: kept, never resent
            assert outcome.outcome.value == "failed", (race, outcome)
            assert {t["state"] for t in held} <= {"reserved", "submitting"}
    with engine.connect() as conn:  # one decision per race that bought, never a second
        decided = conn.execute(text("SELECT race_id, count(*) FROM decisions GROUP BY race_id"))
        assert {str(row[0]): int(row[1]) for row in decided} == dict.fromkeys(by_race, 1)
    assert verify(engine).ok
    assert not check_invariants(engine)
    spent = sum(int(t["stake_yen"]) for t in tickets if t["state"] in ("placed", "settled"))
    paid = sum(int(t["payout_yen"] or 0) for t in tickets)
    assert int(ledger.balances().cash) == config.backtest.bankroll_yen - spent + paid
    print(f"{kills} kills, {len(tickets)} tickets", file=sys.stderr)
