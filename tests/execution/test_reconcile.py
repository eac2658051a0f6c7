"""Unknown purchases are settled from the venue's own history, never by sending them again."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keiba.bankroll import Ledger, Ticket
from keiba.bankroll.audit import verify
from keiba.common.clock import FixedClock
from keiba.common.money import Yen
from keiba.common.storage import create_ledger_engine
from keiba.execution import BrokerError, PaperBroker, Submission, execute_decision
from keiba.execution.history import HistoryRow
from keiba.execution.reconcile import ADOPTED_RULE, reconcile_day

RACE = "2018030106010101"
DAY = dt.date(2018, 3, 1)


def _ledger(path: Path) -> Ledger:
    engine = create_ledger_engine(f"sqlite:///{path}")
    ledger = Ledger(engine, FixedClock(dt.datetime(2018, 3, 1, 1, tzinfo=dt.UTC)), "paper")
    ledger.deposit(10_000)
    return ledger


def _tickets(*stakes: int, decision: str = "d1") -> list[Ticket]:
    return [
        Ticket(f"{decision}-{i}", RACE, "win", str(i), Yen(s), "test")
        for i, s in enumerate(stakes, 1)
    ]


class LostAnswers:
    """The venue (a paper book) takes the tickets listed in `reach`, then the answer is lost."""

    def __init__(self, venue: PaperBroker, reach: Sequence[int]) -> None:
        self.venue = venue
        self.reach = set(reach)

    def submit(self, tickets: Sequence[Ticket]) -> list[Submission]:
        self.venue.submit([t for i, t in enumerate(tickets) if i in self.reach])
        raise TimeoutError("no answer within 30 s")

    def history(self, day: dt.date) -> list[HistoryRow]:
        return self.venue.history(day)


class NoHistory(PaperBroker):
    def history(self, day: dt.date) -> list[HistoryRow]:
        raise BrokerError("the history page is down (503)")


def _buy(ledger: Ledger, broker: object, tickets: Sequence[Ticket], decision: str = "d1") -> None:
    with contextlib.suppress(BrokerError):  # a lost answer raises; the ledger says the rest
        execute_decision(
            ledger,
            broker,  # type: ignore[arg-type]
            decision_id=decision,
            race_id=RACE,
            rule="test",
            inputs={},
            output={},
            tickets=tickets,
        )


def _states(ledger: Ledger) -> dict[str, tuple[str, str | None]]:
    return {t["ticket_id"]: (t["state"], t["receipt"]) for t in ledger.tickets()}


def test_what_the_venue_has_is_placed_and_what_it_lacks_is_released(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path / "l.sqlite")
    venue = PaperBroker()
    _buy(ledger, LostAnswers(venue, reach=[0, 2]), _tickets(300, 200, 500))
    assert {s for s, _ in _states(ledger).values()} == {"unknown"}
    assert ledger.balances().reserved == 1_000

    result = reconcile_day(ledger, venue, DAY)
    assert (result.present, result.absent, result.adopted) == (["d1-1", "d1-3"], ["d1-2"], [])
    assert _states(ledger) == {
        "d1-1": ("placed", "paper-00000001"),
        "d1-2": ("absent", None),
        "d1-3": ("placed", "paper-00000002"),
    }
    assert ledger.balance() == 10_000 - 800 and ledger.balances().reserved == 0
    assert verify(ledger.engine).ok

    again = reconcile_day(ledger, venue, DAY)  # nothing left to settle, nothing adopted twice
    assert not again.changed and _states(ledger)["d1-2"] == ("absent", None)


def test_a_ticket_bought_by_hand_is_adopted_once(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path / "l.sqlite")
    venue = PaperBroker()
    _buy(ledger, venue, _tickets(300))
    venue.submit([Ticket("by-hand", RACE, "place", "7", Yen(1_000), "a person")])
    result = reconcile_day(ledger, venue, DAY)
    assert result.adopted == ["adopt-paper-00000002-t"] and not result.present
    adopted = next(t for t in ledger.tickets() if t["rule"] == ADOPTED_RULE)
    assert (adopted["bet_type"], adopted["combination"], adopted["stake_yen"]) == (
        "place",
        "7",
        1_000,
    )
    assert (adopted["state"], adopted["receipt"], adopted["race_id"]) == (
        "placed",
        "paper-00000002",
        RACE,
    )
    assert ledger.balance() == 10_000 - 1_300
    assert not reconcile_day(ledger, venue, DAY).changed
    assert verify(ledger.engine).ok


def test_a_row_whose_race_cannot_be_named_is_reported_not_adopted(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path / "l.sqlite")
    venue = PaperBroker()
    venue.submit([Ticket("by-hand", "2018030105010101", "win", "1", Yen(100), "a person")])
    result = reconcile_day(ledger, venue, DAY)
    assert [r.receipt for r in result.unresolved] == ["paper-00000001"] and not result.adopted
    named = reconcile_day(ledger, venue, DAY, resolve_race=lambda row: "2018030105010101")
    assert len(named.adopted) == 1


def test_without_the_history_nothing_changes(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path / "l.sqlite")
    _buy(ledger, LostAnswers(PaperBroker(), reach=[0]), _tickets(300))
    result = reconcile_day(ledger, NoHistory(), DAY)
    assert "history page is down" in result.failed and not result.changed
    assert _states(ledger) == {"d1-1": ("unknown", None)}
    assert ledger.balances().reserved == 300


def test_a_purchase_left_submitting_by_a_dead_process_is_reconciled(tmp_path: Path) -> None:
    ledger = _ledger(tmp_path / "l.sqlite")
    tickets = _tickets(300, 200)
    ledger.record_decision(RACE, "test", {}, {}, tickets, decision_id="d1")
    ledger.mark_submitting([t.ticket_id for t in tickets])
    venue = PaperBroker()
    venue.submit(tickets[:1])  # the first reached the venue before the process died
    result = reconcile_day(ledger, venue, DAY)
    assert (result.present, result.absent) == (["d1-1"], ["d1-2"])
    assert ledger.balance() == 9_700 and ledger.balances().reserved == 0


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    stakes=st.lists(st.integers(1, 20).map(lambda n: n * 100), min_size=1, max_size=6),
    reach=st.sets(st.integers(0, 5)),
    by_hand=st.lists(st.integers(1, 10).map(lambda n: n * 100), max_size=3),
)
def test_after_reconciliation_the_ledger_holds_exactly_what_the_venue_holds(
    tmp_path_factory: object, stakes: list[int], reach: set[int], by_hand: list[int]
) -> None:
    path = tmp_path_factory.mktemp("r") / "l.sqlite"  # type: ignore[attr-defined]
    ledger = _ledger(path)
    venue = PaperBroker()
    _buy(ledger, LostAnswers(venue, reach=sorted(reach)), _tickets(*stakes))
    venue.submit(
        [Ticket(f"h{i}", RACE, "win", str(9 + i), Yen(s), "hand") for i, s in enumerate(by_hand)]
    )
    reconcile_day(ledger, venue, DAY)
    at_venue = sorted((r.combination, r.stake) for r in venue.history(DAY))
    placed = [t for t in ledger.tickets() if t["state"] == "placed"]
    assert sorted((t["combination"], t["stake_yen"]) for t in placed) == at_venue
    assert ledger.balance() == 10_000 - sum(s for _, s in at_venue)
    assert ledger.balances().reserved == 0
    assert {t["state"] for t in ledger.tickets()} <= {"placed", "absent"}
    assert verify(ledger.engine).ok
