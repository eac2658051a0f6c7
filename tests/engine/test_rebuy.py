"""Lost answers through the engine: reconciled on every channel, bought again only once proven
absent and only while the close is far enough away, through the failover; else missed with
the reason."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keiba.bankroll import Ledger, Ticket, check_invariants
from keiba.bankroll.audit import verify
from keiba.common.clock import FixedClock
from keiba.common.storage import create_ledger_engine
from keiba.engine import RaceEngine, RaceResult, Status
from keiba.execution import PaperBroker, Submission
from keiba.execution.channels import Attempt, Channel
from keiba.execution.history import HistoryRow
from keiba.execution.rebuy import RebuyPolicy, missed_reasons

from .test_race import AT, DAY, POLICY, race, won_by

RACE = race().race_id
ROOT = f"{RACE}-themis-win-1"
LOST, LOST_AFTER, OK = "lost before the venue", "lost after the venue took it", "answered"


class Venue:
    """An account at a venue whose answers can be lost: each purchase takes the next of
    `script` (OK when it runs out); its history is down while `down`."""

    def __init__(self, script: Sequence[str] = ()) -> None:
        self.book = PaperBroker(prefix="r")  # both accounts hand out the same receipts
        self.script = list(script)
        self.down = False
        self.sent: list[str] = []

    def submit(self, tickets: Sequence[Ticket]) -> list[Submission]:
        self.sent.extend(t.ticket_id for t in tickets)
        step = self.script.pop(0) if self.script else OK
        if step == OK:
            return self.book.submit(tickets)
        if step == LOST_AFTER:
            self.book.submit(tickets)
        raise TimeoutError("no answer within 30 s")

    def history(self, day: dt.date) -> list[HistoryRow]:
        if self.down:
            raise ConnectionError("投票内容照会 is down")
        return self.book.history(day)


def engine_with(
    tmp_path: Path,
    primary: Venue,
    alt: Venue | None = None,
    *,
    close_in: dt.timedelta | None = dt.timedelta(minutes=10),
    max_rebuys: int = 2,
    official: dict[str, RaceResult] | None = None,
) -> tuple[RaceEngine, Ledger]:
    """An engine on a fresh ledger; `official` holds the results known so far."""
    results = {} if official is None else official
    clock = FixedClock(AT)
    ledger = Ledger(create_ledger_engine(f"sqlite:///{tmp_path / 'l.sqlite'}"), clock, "r")
    ledger.deposit(100_000)
    engine = RaceEngine(
        POLICY,
        ledger,
        primary,
        clock,
        failover=[Channel("alt", alt)] if alt else [],
        closes_at=lambda race_id: AT + close_in if close_in else None,
        rebuy=RebuyPolicy(dt.timedelta(minutes=3), max_rebuys),
        results=results.get,
    )
    return engine, ledger


def states(ledger: Ledger) -> dict[str, str]:
    return {t["ticket_id"]: t["state"] for t in ledger.tickets()}


def books_hold(ledger: Ledger) -> None:
    assert ledger.balances().reserved == 0
    assert verify(ledger.engine).ok and not check_invariants(ledger.engine)


def test_an_absent_purchase_is_bought_again_through_the_failover(tmp_path: Path) -> None:
    primary, alt = Venue([LOST]), Venue()
    engine, ledger = engine_with(tmp_path, primary, alt)
    outcome = engine.decide(race())
    assert outcome.status is Status.BOUGHT
    assert [p.ticket.ticket_id for p in outcome.placed] == [f"{ROOT}~1@alt"]
    assert states(ledger) == {ROOT: "absent", f"{ROOT}~1@alt": "placed"}
    assert (primary.sent, alt.sent) == ([ROOT], [f"{ROOT}~1@alt"])
    assert len(alt.book.history(DAY)) == 1 and primary.book.history(DAY) == []
    stake = outcome.placed[0].ticket.stake
    assert ledger.balance() == 100_000 - stake
    books_hold(ledger)


def test_without_a_failover_the_same_channel_buys_again(tmp_path: Path) -> None:
    primary = Venue([LOST])
    engine, ledger = engine_with(tmp_path, primary)
    assert engine.decide(race()).status is Status.BOUGHT
    assert primary.sent == [ROOT, f"{ROOT}~1"]
    assert states(ledger) == {ROOT: "absent", f"{ROOT}~1": "placed"}


def test_a_lost_answer_the_venue_took_is_never_bought_again(tmp_path: Path) -> None:
    primary, alt = Venue([LOST_AFTER]), Venue()
    engine, ledger = engine_with(tmp_path, primary, alt)
    outcome = engine.decide(race())
    assert outcome.status is Status.BOUGHT and states(ledger) == {ROOT: "placed"}
    assert alt.sent == [] and len(primary.book.history(DAY)) == 1
    books_hold(ledger)


def test_too_near_the_close_it_is_missed_with_the_reason(tmp_path: Path) -> None:
    primary, alt = Venue([LOST]), Venue()
    engine, ledger = engine_with(tmp_path, primary, alt, close_in=dt.timedelta(minutes=2))
    outcome = engine.decide(race())
    assert outcome.status is Status.FAILED and alt.sent == []
    assert states(ledger) == {ROOT: "absent"}
    assert missed_reasons(ledger)[ROOT] == "120 s to the sales close, less than the margin of 180 s"
    engine.reconcile(DAY)  # followed up once: never recorded twice, never bought
    assert alt.sent == [] and ledger.balance() == 100_000
    books_hold(ledger)


def test_an_unknown_close_is_a_miss_not_a_guess(tmp_path: Path) -> None:
    engine, ledger = engine_with(tmp_path, Venue([LOST]), Venue(), close_in=None)
    engine.decide(race())
    assert missed_reasons(ledger)[ROOT] == "the race's sales close is not known"


def test_rebuys_stop_after_the_limit_alternating_channels(tmp_path: Path) -> None:
    primary, alt = Venue([LOST, LOST]), Venue([LOST])
    engine, ledger = engine_with(tmp_path, primary, alt, max_rebuys=2)
    assert engine.decide(race()).status is Status.FAILED
    assert primary.sent == [ROOT, f"{ROOT}~2"] and alt.sent == [f"{ROOT}~1@alt"]
    assert set(states(ledger).values()) == {"absent"}
    assert missed_reasons(ledger)[f"{ROOT}~2"] == "absent after 3 attempts (at most 2 rebuys)"
    books_hold(ledger)


def test_while_the_history_is_down_nothing_is_sent_again(tmp_path: Path) -> None:
    primary, alt = Venue([LOST]), Venue()
    primary.down = True
    engine, ledger = engine_with(tmp_path, primary, alt)
    assert engine.decide(race()).status is Status.FAILED
    engine.reconcile(DAY)
    assert states(ledger) == {ROOT: "unknown"} and alt.sent == []
    primary.down = False
    engine.reconcile(DAY)
    assert states(ledger) == {ROOT: "absent", f"{ROOT}~1@alt": "placed"}
    books_hold(ledger)


def test_a_ticket_never_sent_is_sent_after_a_restart(tmp_path: Path) -> None:
    primary = Venue()
    engine, ledger = engine_with(tmp_path, primary)
    ticket = Ticket(ROOT, RACE, "win", "1", 1000, "themis")  # type: ignore[arg-type]
    ledger.record_decision(RACE, "themis", {}, {}, [ticket], decision_id=f"{RACE}-themis")
    engine.reconcile(DAY)  # the process died before marking it submitting
    assert primary.sent == [ROOT] and states(ledger) == {ROOT: "placed"}
    books_hold(ledger)


def test_a_ticket_never_sent_too_near_the_close_is_released_and_missed(tmp_path: Path) -> None:
    primary = Venue()
    engine, ledger = engine_with(tmp_path, primary, close_in=dt.timedelta(seconds=30))
    ticket = Ticket(ROOT, RACE, "win", "1", 1000, "themis")  # type: ignore[arg-type]
    ledger.record_decision(RACE, "themis", {}, {}, [ticket], decision_id=f"{RACE}-themis")
    engine.reconcile(DAY)
    assert primary.sent == [] and states(ledger) == {ROOT: "released"}
    assert "never sent" in missed_reasons(ledger)[ROOT]
    books_hold(ledger)


def test_each_channel_is_reconciled_with_its_own_history(tmp_path: Path) -> None:
    """Two accounts hand out the same receipt numbers: the failover's ticket is adopted with
    its name, not taken for the primary's, and settled since its race is official."""
    primary, alt, official = Venue(), Venue(), {}
    engine, ledger = engine_with(tmp_path, primary, alt, official=official)
    engine.decide(race())
    official[RACE] = won_by(1)
    alt.book.submit([Ticket("by-hand", RACE, "win", "1", 300, "hand")])  # type: ignore[arg-type]
    recovery = engine.reconcile(DAY)
    adopted = [t for t in ledger.tickets() if t["ticket_id"].endswith("@alt")]
    assert [t["ticket_id"] for t in adopted] == ["adopt-r-00000001-t@alt"]
    assert [s.ticket_id for s in recovery.settled] == [ROOT, "adopt-r-00000001-t@alt"]
    assert {t["state"] for t in ledger.tickets()} == {"settled"}
    books_hold(ledger)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    script=st.lists(st.sampled_from([LOST, LOST_AFTER, OK]), min_size=1, max_size=6),
    failover=st.booleans(),
    down=st.booleans(),
)
def test_an_intent_is_bought_at_most_once_and_the_books_match_the_venues(
    tmp_path_factory: pytest.TempPathFactory, script: list[str], failover: bool, down: bool
) -> None:
    primary, alt = Venue(script[::2]), Venue(script[1::2])
    primary.down = alt.down = down
    engine, ledger = engine_with(tmp_path_factory.mktemp("p"), primary, alt if failover else None)
    engine.decide(race())
    primary.down = alt.down = False
    engine.reconcile(DAY)
    bought = [t for t in ledger.tickets() if t["state"] == "placed"]
    at_venues = primary.book.history(DAY) + alt.book.history(DAY)
    assert len(bought) <= 1 and len(bought) == len(at_venues)
    assert {Attempt.of(t["ticket_id"]).root for t in ledger.tickets()} == {ROOT}
    stakes = sum(int(t["stake_yen"]) for t in bought)
    assert ledger.balance() == 100_000 - stakes
    if not bought:
        last = max(ledger.tickets(), key=lambda t: Attempt.of(t["ticket_id"]).number)
        assert last["ticket_id"] in missed_reasons(ledger)
    books_hold(ledger)
