"""The execution benchmark: race days through faulty twins with the buyer killed and restarted
end with the ledger equal to the venues' histories, no intent bought twice, none missed
silently; and its checks do see a duplicate, a silent miss and an unknown left behind."""

from __future__ import annotations

from pathlib import Path

from keiba.app.execution_bench import (
    ExecutionBenchReport,
    ExecutionBenchSettings,
    _check_intents,
    run_execution_bench,
)
from keiba.app.execution_bench_world import bench_day
from keiba.bankroll import Ledger, Ticket
from keiba.common.clock import FixedClock
from keiba.common.money import Yen
from keiba.common.storage import create_ledger_engine


def test_a_few_faulty_days_end_with_the_books_equal_to_the_venues() -> None:
    settings = ExecutionBenchSettings(
        days=2, seed=5, races_per_day=6, p_fault=0.7, p_history_down=0.2, p_kill=0.5
    )
    report = run_execution_bench(settings)
    assert report.days == 2 and report.races == 12
    assert sum(report.faults.values()) >= 8 and report.restarts >= 2
    assert report.restarts == sum(report.kills.values())
    assert (report.duplicates, report.silent_misses, report.left_unknown) == (0, 0, 0)
    assert (report.mismatches, report.adopted, report.audit_failures) == (0, 0, 0)
    assert report.intents == report.bought + sum(report.misses.values())


def test_the_checks_see_what_went_wrong(tmp_path: Path) -> None:
    race = bench_day(0, 0, 1)[0]
    clock = FixedClock(race.decide_at)
    ledger = Ledger(create_ledger_engine(f"sqlite:///{tmp_path / 'l.sqlite'}"), clock, "b")
    ledger.deposit(10_000)

    def buy(ticket_id: str, how: str) -> None:
        ticket = Ticket(ticket_id, race.race_id, "win", "1", Yen(100), "themis")
        ledger.record_decision(race.race_id, "themis", {}, {}, [ticket], decision_id=ticket_id)
        ledger.mark_submitting([ticket_id])
        if how == "placed":
            ledger.accept(ticket_id, f"r-{ticket_id}")
        else:
            ledger.mark_unknown([ticket_id], "lost")
            if how == "absent":
                ledger.mark_reconciled(ticket_id, False)

    buy("twice", "placed")
    buy("twice~1@alt", "placed")
    buy("silent", "absent")
    buy("pending", "unknown")
    report = ExecutionBenchReport()
    _check_intents(ledger, ledger.tickets(), {race.race_id: race}, report)
    assert (report.intents, report.duplicates, report.silent_misses) == (3, 1, 1)
    assert report.left_unknown == 1 and report.bought == 1
    assert report.confirmed_after_close == 0  # accepted at its decision time, before the close
