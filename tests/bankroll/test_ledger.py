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
    check_invariants,
    verify,
)
from keiba.common.clock import FixedClock
from keiba.common.config import ThemisConfig
from keiba.common.errors import InvalidAmountError
from keiba.common.storage import create_ledger_engine
from keiba.themis import decide

CLOCK = FixedClock(dt.datetime(2020, 1, 5, 1, 0, tzinfo=dt.UTC))
RACE = "2020010506010101"


@pytest.fixture
def ledger(make_engine) -> Ledger:
    return Ledger(make_engine(), CLOCK)


def _ticket(n: int, stake: int = 1000, race: str = RACE) -> Ticket:
    return Ticket(f"t{n}", race, "win", "1", stake, "test-rule")


def _books_are_consistent(ledger: Ledger) -> None:
    assert check_invariants(ledger.engine) == []
    assert verify(ledger.engine).ok


def test_balance_is_derived_from_entries(ledger: Ledger) -> None:
    ledger.deposit(10_000)
    ledger.place(_ticket(1, 3000))
    ledger.settle("t1", 7500)
    assert ledger.balance() == 14_500
    assert sum(e["cash_yen"] for e in ledger.history()) == 14_500
    _books_are_consistent(ledger)


def test_reservation_lifecycle(ledger: Ledger) -> None:
    ledger.deposit(10_000)
    ledger.reserve(_ticket(1, 4000))
    ledger.reserve(_ticket(2, 3000))
    assert (ledger.balances().cash, ledger.balance()) == (10_000, 3_000)
    with pytest.raises(InsufficientFundsError):
        ledger.reserve(_ticket(3, 3100))
    with pytest.raises(InsufficientFundsError):
        ledger.withdraw(3_100)
    assert ledger.commit("t1") and not ledger.commit("t1")
    assert ledger.release("t2") and not ledger.release("t2")
    assert ledger.balances().cash == 6_000 and ledger.balance() == 6_000
    assert ledger.confirm("t1", "R-0001") and not ledger.confirm("t1", "R-0001")
    with pytest.raises(LedgerError, match="already has receipt"):
        ledger.confirm("t1", "R-9999")
    with pytest.raises(LedgerError, match="not placed"):
        ledger.settle("t2", 0)
    kinds = [e["kind"] for e in ledger.history()]
    assert kinds == [
        "deposit",
        "stake_reserved",
        "stake_reserved",
        "stake_committed",
        "reservation_released",
    ]
    _books_are_consistent(ledger)


def test_every_entry_names_its_cause(ledger: Ledger) -> None:
    ledger.deposit(10_000)
    decision = ledger.record_decision(
        RACE, "ev>1.2", {"model_version": "m1"}, {"bets": 1}, [_ticket(1)]
    )
    ledger.commit("t1")
    ledger.settle("t1", 0)
    ledger.adjust(-100, "bank fee")
    with pytest.raises(LedgerError, match="reason"):
        ledger.adjust(100, " ")
    history = ledger.history()
    assert all(e["cause"] for e in history)
    assert [e["decision_id"] for e in history[1:3]] == [decision.decision_id] * 2
    assert all(e["ticket_id"] == "t1" and e["race_id"] == RACE for e in history[1:3])


def test_settling_twice_pays_once(ledger: Ledger) -> None:
    ledger.deposit(10_000)
    ledger.place(_ticket(1))
    first = ledger.settle("t1", 2500)
    second = ledger.settle("t1", 2500)
    assert first.settled_now and not second.settled_now
    assert "already settled" in second.message
    assert ledger.balance() == 11_500


def test_refund_returns_exactly_the_stake(ledger: Ledger) -> None:
    ledger.deposit(5_000)
    ledger.place(_ticket(1, 2000))
    with pytest.raises(InvalidAmountError, match="refund returns the stake"):
        ledger.settle("t1", 1000, refund=True)
    assert ledger.settle("t1", 2000, refund=True).outcome == "refund"
    assert ledger.balance() == 5_000


def test_the_database_refuses_a_negative_balance_and_a_second_payout(ledger: Ledger) -> None:
    """Even code that bypasses `Ledger` cannot write such entries."""
    ledger.deposit(1_000)
    ledger.place(_ticket(1, 1000))
    ledger.settle("t1", 500)
    insert = (
        "INSERT INTO ledger_entries (account, seq, kind, cash_yen, reserved_yen, cash_after_yen,"
        " reserved_after_yen, ticket_id, cause, created_at)"
        " VALUES ('main', :seq, :kind, :cash, 0, :after, 0, :ticket, 'x', '2020-01-01')"
    )
    for values in (
        {"seq": 5, "kind": "withdrawal", "cash": -600, "after": -100, "ticket": None},
        {"seq": 5, "kind": "payout", "cash": 500, "after": 1000, "ticket": "t1"},
        {"seq": 4, "kind": "deposit", "cash": 1, "after": 501, "ticket": None},
    ):
        with pytest.raises(IntegrityError), ledger.engine.begin() as conn:
            conn.execute(text(insert), values)
    assert ledger.balance() == 500


def test_balance_never_goes_negative(ledger: Ledger) -> None:
    ledger.deposit(1_000)
    with pytest.raises(InsufficientFundsError):
        ledger.place(_ticket(1, 1100))
    with pytest.raises(InsufficientFundsError):
        ledger.withdraw(1_001)
    assert ledger.balance() == 1_000
    assert ledger.tickets() == []
    _books_are_consistent(ledger)


@pytest.mark.parametrize("stake", [0, 150, -100])
def test_stakes_must_be_positive_units(ledger: Ledger, stake: int) -> None:
    ledger.deposit(10_000)
    with pytest.raises(InvalidAmountError):
        ledger.place(_ticket(1, stake))


def test_ticket_ids_are_unique(ledger: Ledger) -> None:
    ledger.deposit(10_000)
    ledger.place(_ticket(1))
    with pytest.raises(LedgerError, match="already exists"):
        ledger.place(_ticket(1))
    assert ledger.balance() == 9_000


POLICY = ThemisConfig(
    ev_threshold=1.0, kelly_fraction=1.0, max_ticket_fraction=0.1, max_race_fraction=0.1
)


def _decide_and_reserve(ledger: Ledger, n: int) -> int:
    """What a decision process does: read the bankroll from the ledger, decide, reserve."""
    decision = decide({1: 0.5, 2: 0.5}, {1: 2.5}, ledger.balance(), POLICY)
    bets = [
        Ticket(f"t{n}-{i}", RACE, b.bet_type.value, b.combination, b.stake, b.rule)
        for i, b in enumerate(decision.bets)
    ]
    inputs = {"model_version": "m", "bankroll_yen": decision.bankroll, "policy": "kelly"}
    ledger.record_decision(RACE, "kelly-ev", inputs, {"bets": decision.bets}, bets)
    return sum(b.stake for b in bets)


def test_ten_straight_losses_shrink_the_stakes(make_engine) -> None:
    """The seed's scenario: stakes follow the bankroll down, though a *different* ledger
    object (another engine, as another process would have) settles the losses."""
    deciding = Ledger(make_engine(), CLOCK)
    settling = Ledger(make_engine(), CLOCK)
    deciding.deposit(1_000_000)
    stakes = []
    for n in range(10):
        stakes.append(_decide_and_reserve(deciding, n))
        settling.commit(f"t{n}-0")
        settling.settle(f"t{n}-0", 0)
    assert all(later < earlier for earlier, later in itertools.pairwise(stakes))
    assert deciding.balance() == settling.balance() == 1_000_000 - sum(stakes)
    _books_are_consistent(deciding)


def test_bankroll_at_zero_stops_buying(ledger: Ledger) -> None:
    """The seed's scenario: losses down to nothing; nothing more is bought, never below 0."""
    ledger.deposit(1_000)
    n = 0
    while _decide_and_reserve(ledger, n) > 0:
        ledger.commit(f"t{n}-0")
        ledger.settle(f"t{n}-0", 0)
        n += 1
    assert n > 0 and ledger.balance() < 1_000
    assert len([t for t in ledger.tickets() if t["state"] == "settled"]) == n
    ledger.withdraw(ledger.balance())
    assert ledger.balance() == 0
    assert _decide_and_reserve(ledger, n + 1) == 0
    with pytest.raises(InsufficientFundsError):
        ledger.place(_ticket(999, 100))
    with pytest.raises(InsufficientFundsError):
        ledger.withdraw(1)
    assert ledger.balance() == 0
    assert min(e["cash_after_yen"] - e["reserved_after_yen"] for e in ledger.history()) >= 0
    _books_are_consistent(ledger)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["deposit", "withdraw", "bet"]), st.integers(1, 50)), max_size=25
    )
)
def test_random_operations_keep_the_books_exact(tmp_path_factory, operations) -> None:
    path = tmp_path_factory.mktemp("ledger") / "l.sqlite"
    ledger = Ledger(create_ledger_engine(f"sqlite:///{path}"), CLOCK)
    expected = 0
    for n, (kind, units) in enumerate(operations):
        amount = units * 100
        try:
            if kind == "deposit":
                ledger.deposit(amount)
                expected += amount
            elif kind == "withdraw":
                ledger.withdraw(amount)
                expected -= amount
            else:
                ledger.place(_ticket(n, amount))
                expected -= amount
                payout = amount * 3 if n % 3 == 0 else 0
                ledger.settle(f"t{n}", payout)
                expected += payout
        except InsufficientFundsError:
            assert amount > expected
        assert ledger.balance() == expected >= 0
    assert check_invariants(ledger.engine) == []
