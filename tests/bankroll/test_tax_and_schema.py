import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from keiba.bankroll import Ledger, Ticket, verify
from keiba.bankroll.migrate import HEAD_REVISION, VERSION_TABLE, head_revision, upgrade
from keiba.bankroll.schema import metadata
from keiba.bankroll.tax import tax_report
from keiba.common.clock import FixedClock

WORKER = Path(__file__).with_name("_worker.py")


def test_the_migrations_build_exactly_the_declared_schema(make_engine) -> None:
    engine = make_engine()
    assert upgrade(engine) == HEAD_REVISION == head_revision()
    assert upgrade(engine) == HEAD_REVISION  # again: nothing to do
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_processes_opening_a_fresh_database_at_once_migrate_it_once(db_url, make_engine) -> None:
    args = json.dumps({"mode": "settle", "url": db_url, "tickets": []})
    procs = [subprocess.Popen([sys.executable, str(WORKER), args]) for _ in range(3)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    ledger = Ledger(make_engine(), FixedClock(dt.datetime(2020, 1, 1, tzinfo=dt.UTC)))
    assert ledger.balance() == 0 and verify(ledger.engine).ok


def test_tax_report(make_engine) -> None:
    clock = FixedClock(dt.datetime(2024, 12, 31, 14, 30, tzinfo=dt.UTC))  # 23:30 JST
    ledger = Ledger(make_engine(), clock)
    ledger.deposit(10_000_000)
    # 2024 (JST): one rule-made losing ticket
    ledger.record_decision("R1", "ev>1", {}, {}, [Ticket("a", "R1", "win", "1", 1000, "ev>1")])
    ledger.commit("a")
    ledger.settle("a", 0)
    clock.advance(dt.timedelta(hours=1))  # 2025-01-01 00:30 JST
    ledger.record_decision("R2", "ev>1", {}, {}, [Ticket("b", "R2", "win", "2", 10_000, "ev>1")])
    ledger.commit("b")
    ledger.settle("b", 1_200_000)
    ledger.place(Ticket("c", "R2", "win", "3", 5_000, "hunch"))  # no decision recorded
    ledger.settle("c", 0)
    clock.advance(dt.timedelta(days=1))
    ledger.place(Ticket("d", "R3", "win", "4", 2_000, "hunch"))
    ledger.settle("d", 2_000, refund=True)
    ledger.place(Ticket("e", "R4", "win", "5", 3_000, "hunch"))  # not settled yet

    report = tax_report(ledger.engine, 2025)
    assert [p.ticket_id for p in report.purchases] == ["b", "c", "d", "e"]
    assert report.stake_yen == 10_000 + 5_000 + 3_000
    assert report.payout_yen == 1_200_000
    assert report.miscellaneous_income_yen == 1_200_000 - 18_000
    assert report.occasional_income_yen == 1_200_000 - 10_000 - 500_000
    assert report.occasional_taxable_yen == 345_000
    assert (report.races, report.races_by_recorded_rule) == (3, 0)
    assert [(d.day, d.tickets, d.stake_yen) for d in report.days] == [
        (dt.date(2025, 1, 1), 2, 15_000),
        (dt.date(2025, 1, 2), 2, 3_000),
    ]
    assert report.unsettled == 1 and report.notes
    lines = report.to_csv().splitlines()
    assert lines[0].startswith("placed_at_jst,race_id,ticket_id")
    assert lines[1].startswith("2025-01-01T00:30:00+09:00,R2,b,win,2,10000,1200000,won,ev>1,d-")

    earlier = tax_report(ledger.engine, 2024)
    assert (earlier.races, earlier.races_by_recorded_rule) == (1, 1)
    assert earlier.occasional_income_yen == 0 and earlier.miscellaneous_income_yen == -1000
