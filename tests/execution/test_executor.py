"""Decisions become placed tickets exactly once: intent recorded before submission, refusals
released, nothing submitted twice."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import pytest

from keiba.bankroll import Ledger, LedgerError, Ticket
from keiba.bankroll.audit import verify
from keiba.common.clock import FixedClock
from keiba.common.storage import create_ledger_engine
from keiba.execution import (
    BrokerError,
    PaperBroker,
    PurchaseUnknown,
    Submission,
    execute_decision,
)

RACE = "2018030106010101"


def _ledger(tmp_path: Path) -> Ledger:
    engine = create_ledger_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    ledger = Ledger(engine, FixedClock(dt.datetime(2018, 3, 1, 1, tzinfo=dt.UTC)), "paper")
    ledger.deposit(10_000)
    return ledger


def _tickets(*stakes: int, race: str = RACE) -> list[Ticket]:
    return [
        Ticket(f"{race}-win-{i}", race, "win", str(i), s, "test") for i, s in enumerate(stakes, 1)
    ]


def _execute(ledger: Ledger, broker: object, tickets: Sequence[Ticket], did: str = "d1") -> object:
    return execute_decision(
        ledger,
        broker,  # type: ignore[arg-type]
        decision_id=did,
        race_id=RACE,
        rule="test",
        inputs={"probabilities": {1: 0.5}},
        output={"bets": len(tickets)},
        tickets=tickets,
    )


def test_accepted_tickets_are_committed_and_confirmed(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    report = _execute(ledger, PaperBroker(), _tickets(300, 200))
    assert report.staked_yen == 500  # type: ignore[attr-defined]
    assert ledger.balance() == 9_500
    states = {t["ticket_id"]: (t["state"], t["receipt"]) for t in ledger.tickets()}
    assert states == {
        f"{RACE}-win-1": ("placed", "paper-00000001"),
        f"{RACE}-win-2": ("placed", "paper-00000002"),
    }
    assert verify(ledger.engine).ok


def test_refused_tickets_are_released_with_the_reason(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    broker = PaperBroker(closed_races=[RACE])
    report = _execute(ledger, broker, _tickets(300))
    assert report.placed == ()  # type: ignore[attr-defined]
    assert [s.reason for s in report.refused] == ["sales closed"]  # type: ignore[attr-defined]
    assert ledger.balance() == 10_000
    assert ledger.balances().reserved == 0
    assert [t["state"] for t in ledger.tickets()] == ["rejected"]


def test_a_recorded_decision_is_never_submitted_again(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    broker = PaperBroker()
    _execute(ledger, broker, _tickets(300))
    with pytest.raises(LedgerError, match="already recorded"):
        _execute(ledger, broker, _tickets(300))
    assert broker.accepted == 1
    assert ledger.balance() == 9_700


def test_an_answer_for_other_tickets_leaves_everything_unknown(tmp_path: Path) -> None:
    class Confused:
        def submit(self, tickets: Sequence[Ticket]) -> list[Submission]:
            return [Submission("someone-else", True, "r-1")]

    ledger = _ledger(tmp_path)
    with pytest.raises(BrokerError, match="other tickets"):
        _execute(ledger, Confused(), _tickets(300))
    assert [t["state"] for t in ledger.tickets()] == ["unknown"]
    assert ledger.balances().reserved == 300


def test_paper_broker_refuses_what_a_venue_refuses() -> None:
    broker = PaperBroker()
    first = broker.submit(_tickets(100))
    again = broker.submit(_tickets(100))
    odd = broker.submit([Ticket("odd", RACE, "win", "1", 150, "test")])
    assert first[0].accepted and first[0].receipt == "paper-00000001"
    assert (again[0].accepted, again[0].reason) == (False, "duplicate ticket id")
    assert (odd[0].accepted, odd[0].reason) == (False, "stake 150 yen")


class Silent:
    """A broker that fails without answering (a timeout after the request may have left)."""

    def submit(self, tickets: Sequence[Ticket]) -> list[Submission]:
        raise TimeoutError("no answer within 30 s")


def test_a_broker_that_does_not_answer_leaves_every_ticket_unknown(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    with pytest.raises(BrokerError, match="did not answer"):
        _execute(ledger, Silent(), _tickets(300, 200))
    assert {t["state"] for t in ledger.tickets()} == {"unknown"}
    assert ledger.balances().reserved == 500
    with pytest.raises(LedgerError, match="already recorded"):  # and it is never sent again
        _execute(ledger, PaperBroker(), _tickets(300, 200))


def test_tickets_are_submitting_while_the_broker_is_called(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path)
    seen: list[str] = []

    class Watching:
        def submit(self, tickets: Sequence[Ticket]) -> list[Submission]:
            seen.extend(str(t["state"]) for t in ledger.tickets())
            return PaperBroker().submit(tickets)

    _execute(ledger, Watching(), _tickets(300, 200))
    assert seen == ["submitting", "submitting"]
    assert {t["state"] for t in ledger.tickets()} == {"placed"}
    assert verify(ledger.engine).ok


def test_a_partly_unknown_purchase_keeps_what_is_known(tmp_path: Path) -> None:
    class Interrupted:
        def submit(self, tickets: Sequence[Ticket]) -> list[Submission]:
            first, second, third = (t.ticket_id for t in tickets)
            raise PurchaseUnknown(
                "the connection dropped after sending",
                answers=[Submission(first, True, "IPAT-1")],
                unknown=[second],
                not_sent=[third],
            )

    ledger = _ledger(tmp_path)
    with pytest.raises(BrokerError, match="purchase is unknown"):
        _execute(ledger, Interrupted(), _tickets(300, 200, 100))
    states = [(t["state"], t["receipt"]) for t in ledger.tickets()]
    assert states == [("placed", "IPAT-1"), ("unknown", None), ("rejected", None)]
    assert (ledger.balances().cash, ledger.balances().reserved) == (9_700, 200)
    assert verify(ledger.engine).ok
