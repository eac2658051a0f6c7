"""The manual broker: the exact tickets for a person, every answer unknown (tickets stay
reserved), and the history the person downloads read back."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from keiba.bankroll import Ledger, Ticket
from keiba.common.clock import JST, FixedClock
from keiba.common.storage import create_ledger_engine
from keiba.execution import BrokerError, PurchaseUnknown, execute_decision
from keiba.execution.history import find_tickets
from keiba.execution.manual import MANUAL_COLUMNS, ManualBroker

RACE = "2018112505050811"
POST = dt.datetime(2018, 11, 25, 15, 40, tzinfo=JST)
CLOCK = FixedClock(dt.datetime(2018, 11, 25, 15, 20, tzinfo=JST))
TICKETS = [
    Ticket("a", RACE, "win", "3", 300, "r"),
    Ticket("b", RACE, "trifecta", "7>3>1", 200, "r"),
]
HISTORY = (
    "日付,受付番号,通番,場名,曜日,レース,式別,馬／組番,購入金額,的中／返還,払戻単価,払戻／返還金額\r\n"
    "20181125,0007,1,東京,日,11,単勝,03,300,―,―,0\r\n"
)


def _broker(tmp_path: Path) -> ManualBroker:
    return ManualBroker(
        tmp_path / "manual",
        CLOCK,
        deadlines=lambda race_id: POST - dt.timedelta(minutes=2) if race_id == RACE else None,
    )


def test_the_tickets_are_written_for_a_person_and_stay_unknown(tmp_path: Path) -> None:
    broker = _broker(tmp_path)
    with pytest.raises(PurchaseUnknown) as raised:
        broker.submit(TICKETS)
    assert raised.value.unknown == ("a", "b") and raised.value.answers == ()
    with (tmp_path / "manual" / "tickets-20181125.csv").open(encoding="utf-8") as f:
        lines = list(csv.reader(f))
    assert lines == [
        list(MANUAL_COLUMNS),
        ["a", "2018-11-25 東京 11R", RACE, "単勝", "3", "300", "2018-11-25 15:38 JST"],
        ["b", "2018-11-25 東京 11R", RACE, "３連単", "7→3→1", "200", "2018-11-25 15:38 JST"],
    ]


def test_the_ledger_keeps_them_reserved(tmp_path: Path) -> None:
    ledger = Ledger(create_ledger_engine(f"sqlite:///{tmp_path / 'l.sqlite'}"), CLOCK, "manual")
    ledger.deposit(10_000)
    with pytest.raises(BrokerError):
        execute_decision(
            ledger,
            _broker(tmp_path),
            decision_id="d1",
            race_id=RACE,
            rule="test",
            inputs={},
            output={},
            tickets=TICKETS,
        )
    states = {t["ticket_id"]: t["state"] for t in ledger.tickets()}
    assert set(states) == {"a", "b"}
    assert not set(states.values()) & {"placed", "released"}  # neither bought nor given up


def test_the_downloaded_history_answers_which_were_bought(tmp_path: Path) -> None:
    broker = _broker(tmp_path)
    with pytest.raises(BrokerError, match="no purchase history"):
        broker.history(dt.date(2018, 11, 25))
    broker.history_dir.mkdir(parents=True)
    (broker.history_dir / "20181125.csv").write_bytes(HISTORY.encode("cp932"))
    rows = broker.history(dt.date(2018, 11, 25))
    found = find_tickets(TICKETS, rows)
    assert {k: v.receipt if v else None for k, v in found.items()} == {
        "a": "20181125-0007-1",
        "b": None,
    }
    assert broker.history(dt.date(2018, 11, 24)) == []
    (broker.history_dir / "broken.csv").write_bytes(HISTORY.replace("300", "3x0").encode("cp932"))
    with pytest.raises(BrokerError, match=r"broken\.csv: line 2: 購入金額"):
        broker.history(dt.date(2018, 11, 25))
