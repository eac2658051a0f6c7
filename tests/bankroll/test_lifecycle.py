"""The purchase life cycle as a state machine: every legal transition moves the money as it
should and is in the audit chain; every illegal one is refused by the ledger and the database."""

import datetime as dt
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from keiba.bankroll import (
    InsufficientFundsError,
    Ledger,
    LedgerError,
    Ticket,
    TicketState,
    check_invariants,
    verify,
)
from keiba.bankroll.schema import TRANSITIONS
from keiba.common.clock import FixedClock
from keiba.common.storage import create_ledger_engine

CLOCK = FixedClock(dt.datetime(2025, 3, 1, 5, 0, tzinfo=dt.UTC))
S = TicketState


def _ticket(n: int, stake: int) -> Ticket:
    return Ticket(f"t{n}", "2025030106010101", "win", str(n), stake, "r")


def _to_state(ledger: Ledger, n: int, state: S) -> None:
    """A ticket taken to `state` the way the executor and a reconciler do."""
    tid = f"t{n}"
    ledger.reserve(_ticket(n, 100))
    paths = {
        S.RESERVED: [],
        S.SUBMITTING: ["sub"],
        S.PLACED: ["sub", "accept"],
        S.REJECTED: ["sub", "reject"],
        S.UNKNOWN: ["sub", "unknown"],
        S.ABSENT: ["sub", "unknown", "absent"],
        S.RELEASED: ["release"],
        S.SETTLED: ["sub", "accept", "settle"],
    }
    for step in paths[state]:
        _apply(ledger, step, tid)


def _apply(ledger: Ledger, step: str, tid: str) -> object:
    actions = {
        "sub": lambda: ledger.mark_submitting([tid]),
        "accept": lambda: ledger.accept(tid, f"R-{tid}"),
        "reject": lambda: ledger.reject(tid, "sales closed"),
        "unknown": lambda: ledger.mark_unknown([tid], "timeout"),
        "present": lambda: ledger.mark_reconciled(tid, True, f"R-{tid}"),
        "absent": lambda: ledger.mark_reconciled(tid, False),
        "release": lambda: ledger.release(tid),
        "commit": lambda: ledger.commit(tid),
        "settle": lambda: ledger.settle(tid, 0).settled_now,
        "win": lambda: ledger.settle(tid, 350).settled_now,
        "refund": lambda: ledger.settle(tid, 100, refund=True).settled_now,
    }
    return actions[step]()


def test_the_database_refuses_every_illegal_state_change(make_engine) -> None:
    ledger = Ledger(make_engine(), CLOCK)
    ledger.deposit(10_000)
    for n, state in enumerate(S):
        _to_state(ledger, n, state)
    assert [t["state"] for t in ledger.tickets()] == [s.value for s in S]
    for (n, a), b in itertools.product(enumerate(S), S):
        if b in TRANSITIONS[a] or a == b:
            continue
        with pytest.raises(IntegrityError), ledger.engine.begin() as conn:
            conn.execute(
                text("UPDATE tickets SET state = :b WHERE ticket_id = :t"),
                {"b": b.value, "t": f"t{n}"},
            )
    assert verify(ledger.engine).ok and check_invariants(ledger.engine) == []


def test_reconciliation_settles_what_the_venue_says(make_engine) -> None:
    ledger = Ledger(make_engine(), CLOCK)
    ledger.deposit(1_000)
    for n in (1, 2):
        _to_state(ledger, n, S.UNKNOWN)
    assert ledger.balances().reserved == 200
    assert ledger.mark_reconciled("t1", True, "IPAT-1") and ledger.mark_reconciled("t2", False)
    assert not ledger.mark_reconciled("t1", True) and not ledger.mark_reconciled("t2", False)
    with pytest.raises(LedgerError, match="only unknown"):
        ledger.mark_reconciled("t2", True)
    states = {t["ticket_id"]: (t["state"], t["receipt"]) for t in ledger.tickets()}
    assert states == {"t1": ("placed", "IPAT-1"), "t2": ("absent", None)}
    assert (ledger.balances().cash, ledger.balances().reserved) == (900, 0)
    assert ledger.settle("t1", 500).settled_now and ledger.balance() == 1_400
    with ledger.engine.connect() as conn:
        kinds = list(conn.execute(text("SELECT record_type FROM audit_log ORDER BY seq")).scalars())
    assert kinds.count("reconciliation") == 2 and kinds.count("unknown") == 2
    assert verify(ledger.engine).ok and check_invariants(ledger.engine) == []


STEPS = [
    "reserve",
    "sub",
    "accept",
    "reject",
    "unknown",
    "present",
    "absent",
    "release",
    "commit",
    "settle",
    "win",
    "refund",
]
# the step's source states → its target; states where it is a no-op that says so
MOVES = {
    "sub": ({S.RESERVED}, S.SUBMITTING, set()),
    "accept": ({S.SUBMITTING}, S.PLACED, set()),  # a no-op if accepted with that receipt
    "reject": ({S.SUBMITTING}, S.REJECTED, {S.REJECTED}),
    "unknown": ({S.SUBMITTING}, S.UNKNOWN, set()),
    "present": ({S.UNKNOWN}, S.PLACED, {S.PLACED, S.SETTLED}),
    "absent": ({S.UNKNOWN}, S.ABSENT, {S.ABSENT}),
    "release": ({S.RESERVED}, S.RELEASED, {S.RELEASED}),
    "commit": ({S.RESERVED}, S.PLACED, {S.PLACED, S.SETTLED}),
    "settle": ({S.PLACED}, S.SETTLED, {S.SETTLED}),
    "win": ({S.PLACED}, S.SETTLED, {S.SETTLED}),
    "refund": ({S.PLACED}, S.SETTLED, {S.SETTLED}),
}


class _Books:
    """What the ledger must say: each ticket's state, the cash and the reservations."""

    def __init__(self, cash: int) -> None:
        self.cash, self.reserved = cash, 0
        self.state: dict[str, S] = {}
        self.receipted: set[str] = set()

    def expect(self, step: str, tid: str, stake: int) -> str:
        """'ok', 'noop', 'refused' or 'poor' (not enough available), and the money moved."""
        state = self.state.get(tid)
        if step == "reserve":
            if state is not None:
                return "refused"
            if stake > self.cash - self.reserved:
                return "poor"
            self.state[tid], self.reserved = S.RESERVED, self.reserved + stake
            return "ok"
        sources, target, noops = MOVES[step]
        if state in noops or (step == "accept" and tid in self.receipted):
            return "noop"
        if state not in sources:
            return "refused"
        self.state[tid] = target
        if step in ("accept", "present"):
            self.receipted.add(tid)
        if target == S.PLACED:
            self.cash, self.reserved = self.cash - stake, self.reserved - stake
        elif target in (S.REJECTED, S.ABSENT, S.RELEASED):
            self.reserved -= stake
        elif step == "win":
            self.cash += 350
        elif step == "refund":
            self.cash += stake
        return "ok"


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(STEPS), st.integers(0, 2)), max_size=30))
def test_random_life_cycles_keep_the_money_exact(tmp_path_factory, steps) -> None:
    path = tmp_path_factory.mktemp("ledger") / "l.sqlite"
    ledger = Ledger(create_ledger_engine(f"sqlite:///{path}"), CLOCK)
    ledger.deposit(300)
    books = _Books(300)
    for step, n in steps:
        tid = f"t{n}"
        expected = books.expect(step, tid, 100)
        if expected == "refused":
            with pytest.raises(LedgerError):
                _run(ledger, step, n)
        elif expected == "poor":
            with pytest.raises(InsufficientFundsError):
                _run(ledger, step, n)
        else:
            answer = _run(ledger, step, n)
            assert (answer is False) == (expected == "noop"), (step, n, answer)
        balances = ledger.balances()
        assert (balances.cash, balances.reserved) == (books.cash, books.reserved), (step, n)
    states = {t["ticket_id"]: S(t["state"]) for t in ledger.tickets()}
    assert states == books.state
    assert check_invariants(ledger.engine) == [] and verify(ledger.engine).ok


def _run(ledger: Ledger, step: str, n: int) -> object:
    if step == "reserve":
        return ledger.reserve(_ticket(n, 100))
    return _apply(ledger, step, f"t{n}")
