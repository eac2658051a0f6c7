import datetime as dt
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keiba.bankroll import InsufficientFundsError, Ledger, Ticket
from keiba.common.clock import FixedClock
from keiba.common.config import ThemisConfig
from keiba.common.errors import InvalidAmountError
from keiba.common.storage import create_ledger_engine
from keiba.themis import decide

CLOCK = FixedClock(dt.datetime(2020, 1, 5, 1, 0, tzinfo=dt.UTC))


@pytest.fixture
def ledger(tmp_path) -> Ledger:
    return Ledger(create_ledger_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}"), CLOCK)


def _ticket(n: int, stake: int = 1000) -> Ticket:
    return Ticket(f"t{n}", "2020010506010101", "win", "1", stake, "test-rule")


def test_balance_is_derived_from_entries(ledger: Ledger) -> None:
    ledger.deposit(10_000)
    ledger.place(_ticket(1, 3000))
    ledger.settle("t1", 7500)
    assert ledger.balance() == 14_500
    assert sum(e["amount_yen"] for e in ledger.history()) == 14_500


def test_settling_twice_pays_once(ledger: Ledger) -> None:
    ledger.deposit(10_000)
    ledger.place(_ticket(1))
    first = ledger.settle("t1", 2500)
    second = ledger.settle("t1", 2500)
    assert first.settled_now and not second.settled_now
    assert ledger.balance() == 11_500


def test_refund_returns_exactly_the_stake(ledger: Ledger) -> None:
    ledger.deposit(5_000)
    ledger.place(_ticket(1, 2000))
    with pytest.raises(InvalidAmountError, match="refund returns the stake"):
        ledger.settle("t1", 1000, refund=True)
    assert ledger.settle("t1", 2000, refund=True).outcome == "refund"
    assert ledger.balance() == 5_000


def test_balance_never_goes_negative(ledger: Ledger) -> None:
    ledger.deposit(1_000)
    with pytest.raises(InsufficientFundsError):
        ledger.place(_ticket(1, 1100))
    with pytest.raises(InsufficientFundsError):
        ledger.withdraw(1_001)
    assert ledger.balance() == 1_000
    assert ledger.tickets() == []


@pytest.mark.parametrize("stake", [0, 150, -100])
def test_stakes_must_be_positive_units(ledger: Ledger, stake: int) -> None:
    ledger.deposit(10_000)
    with pytest.raises(InvalidAmountError):
        ledger.place(_ticket(1, stake))


def test_ten_straight_losses_shrink_the_stakes(ledger: Ledger) -> None:
    """The seed's scenario: stakes follow the bankroll down (no stale copy of it anywhere)."""
    policy = ThemisConfig(
        ev_threshold=1.0, kelly_fraction=1.0, max_ticket_fraction=0.1, max_race_fraction=0.1
    )
    ledger.deposit(1_000_000)
    stakes = []
    for n in range(10):
        decision = decide({1: 0.5, 2: 0.5}, {1: 2.5}, ledger.balance(), policy)
        (bet,) = decision.bets
        ledger.place(Ticket(f"t{n}", "2020010506010101", "win", "1", bet.stake, bet.rule))
        ledger.settle(f"t{n}", 0)
        stakes.append(bet.stake)
    assert all(later < earlier for earlier, later in itertools.pairwise(stakes))
    assert ledger.balance() == 1_000_000 - sum(stakes)


@settings(max_examples=40, deadline=None)
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
