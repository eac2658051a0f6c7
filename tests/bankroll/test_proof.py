"""A ledger that proves itself: what an attacker changes in the tables is named by `verify`,
and what the database refuses it refuses on SQLite and PostgreSQL alike."""

import datetime as dt

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError

from keiba.bankroll import Ledger, LedgerError, Ticket, check_invariants, verify
from keiba.bankroll.tax import tax_report
from keiba.common.clock import FixedClock

RACE = "2025122806050101"


@pytest.fixture
def ledger(make_engine) -> Ledger:
    """A year-end race day: a win, a loss and a refund settled, one ticket released."""
    clock = FixedClock(dt.datetime(2025, 12, 28, 5, 0, tzinfo=dt.UTC))
    ledger = Ledger(make_engine(), clock)
    ledger.deposit(100_000)
    tickets = [Ticket(f"t{i}", RACE, "win", str(i), 1_000, "ev>1.1") for i in (1, 2, 3, 4)]
    ledger.record_decision(RACE, "ev>1.1", {}, {}, tickets, decision_id="d1")
    for t in tickets[:3]:
        ledger.commit(t.ticket_id)
        ledger.confirm(t.ticket_id, f"IPAT-{t.combination}")
    ledger.release("t4")
    ledger.settle("t1", 25_000)
    ledger.settle("t2", 0)
    ledger.settle("t3", 1_000, refund=True)
    return ledger


def _record(ledger: Ledger, record_type: str, ticket: str) -> int:
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT seq, content FROM audit_log WHERE record_type = :t ORDER BY seq"),
            {"t": record_type},
        ).all()
    return next(int(seq) for seq, content in rows if f'"ticket_id":"{ticket}"' in content)


def test_the_untouched_ledger_verifies(ledger: Ledger) -> None:
    assert verify(ledger.engine).ok and check_invariants(ledger.engine) == []


@pytest.mark.parametrize(
    ("statements", "named", "record"),
    [
        (  # the win becomes a refund: its payout leaves the income
            [
                "UPDATE tickets SET outcome = 'refund', payout_yen = stake_yen "
                "WHERE ticket_id = 't1'"
            ],
            "ticket t1: payout_yen is 1000 in the table",
            ("settlement", "t1"),
        ),
        (  # a stake raised by 50,000 yen: a larger loss for the tax report
            ["UPDATE tickets SET stake_yen = stake_yen + 50000 WHERE ticket_id = 't2'"],
            "ticket t2: stake_yen is 51000 in the table",
            ("purchase_intent", "t2"),
        ),
        (  # the purchase moved into another year
            ["UPDATE tickets SET placed_at = '2026-01-02 03:00:00.000000' WHERE ticket_id = 't1'"],
            "ticket t1: placed_at is '2026-01-02T03:00:00+00:00' in the table",
            ("placement", "t1"),
        ),
        (  # the winning ticket deleted, with its entries
            [
                "DELETE FROM ledger_entries WHERE ticket_id = 't1'",
                "DELETE FROM tickets WHERE ticket_id = 't1'",
            ],
            "ticket t1 of purchase_intent record",
            ("purchase_intent", "t1"),
        ),
        (  # the receipt number replaced
            ["UPDATE tickets SET receipt = 'IPAT-9' WHERE ticket_id = 't2'"],
            "ticket t2: receipt is 'IPAT-9' in the table",
            ("confirmation", "t2"),
        ),
        (  # a released ticket made a purchase
            ["UPDATE tickets SET state = 'placed', placed_at = reserved_at WHERE ticket_id = 't4'"],
            "ticket t4: state is 'placed' in the table",
            ("release", "t4"),
        ),
    ],
    ids=[
        "won-to-refund",
        "stake-raised",
        "placed-in-another-year",
        "winner-deleted",
        "receipt",
        "released-to-placed",
    ],
)
def test_a_changed_ticket_is_named_with_its_record(
    ledger: Ledger, attacker, statements: list[str], named: str, record: tuple[str, str]
) -> None:
    before = tax_report(ledger.engine, 2025)
    attacker(ledger.engine, *statements)
    result = verify(ledger.engine)
    assert not result.ok and result.problem is not None
    assert result.problem.startswith(named), result.problem
    assert f"{record[0]} record {_record(ledger, *record)}" in result.problem
    assert "\n" not in result.problem
    after = tax_report(ledger.engine, 2025)
    changed = (after.purchases, after.stake_yen, after.payout_yen) != (
        before.purchases,
        before.stake_yen,
        before.payout_yen,
    )
    assert changed


@pytest.mark.parametrize(
    ("statement", "named"),
    [
        (
            "INSERT INTO tickets (ticket_id, account, race_id, bet_type, combination, stake_yen,"
            " rule, state, reserved_at, placed_at) VALUES ('forged', 'main', 'R9', 'win', '1',"
            " 100, 'r', 'placed', '2025-12-28 05:00:00', '2025-12-28 05:00:00')",
            "tickets row forged has no audit record",
        ),
        ("UPDATE decisions SET rule = 'by hand' WHERE decision_id = 'd1'", "decision d1: rule"),
        ("DELETE FROM decisions WHERE decision_id = 'd1'", "decision d1 of decision record 3"),
        (
            "UPDATE ledger_entries SET created_at = '2024-01-01 00:00:00' WHERE seq = 2",
            "ledger entry 2: its time differs from audit record",
        ),
        (
            "UPDATE ledger_entries SET owner_yen = owner_yen - 5, result_yen = result_yen + 5"
            " WHERE seq = 1",
            "ledger entry 1: its owner and result legs",
        ),
        ("UPDATE audit_log SET account = 'twin' WHERE seq = 2", "record 2's account or time"),
    ],
    ids=[
        "forged-ticket",
        "decision-changed",
        "decision-deleted",
        "entry-time",
        "entry-legs",
        "record-account",
    ],
)
def test_other_rows_the_chain_does_not_vouch_for_are_named(
    ledger: Ledger, attacker, statement: str, named: str
) -> None:
    attacker(ledger.engine, statement)
    result = verify(ledger.engine)
    assert not result.ok and (result.problem or "").startswith(named), result.problem


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET content = content WHERE seq = 3",
        "DELETE FROM audit_log WHERE seq = 14",
        "UPDATE ledger_entries SET cause = 'gift' WHERE seq = 1",
        "DELETE FROM ledger_entries WHERE seq = 9",
        "UPDATE decisions SET rule = 'x'",
        "DELETE FROM decisions",
        "UPDATE accounts SET created_at = created_at",
        "DELETE FROM tickets WHERE ticket_id = 't4'",
        "UPDATE tickets SET stake_yen = 2000 WHERE ticket_id = 't4'",
        "UPDATE tickets SET outcome = 'refund', payout_yen = 1000 WHERE ticket_id = 't1'",
        "UPDATE tickets SET state = 'placed' WHERE ticket_id = 't4'",
        "UPDATE tickets SET placed_at = reserved_at WHERE ticket_id = 't2'",
        "UPDATE tickets SET receipt = 'IPAT-9' WHERE ticket_id = 't2'",
        "UPDATE audit_head SET seq = seq - 1",
        "DELETE FROM audit_head",
    ],
)
def test_the_database_refuses_changes_to_what_is_written(ledger: Ledger, statement: str) -> None:
    with pytest.raises(IntegrityError), ledger.engine.begin() as conn:
        conn.execute(text(statement))
    assert verify(ledger.engine).ok


def test_postgresql_refuses_truncate(ledger: Ledger) -> None:
    if ledger.engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's")
    for table in ("audit_log", "ledger_entries", "tickets"):
        with pytest.raises(IntegrityError), ledger.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {table} CASCADE"))


def test_only_legal_ticket_transitions_pass(make_engine) -> None:
    ledger = Ledger(make_engine(), FixedClock(dt.datetime(2025, 1, 5, tzinfo=dt.UTC)))
    ledger.deposit(10_000)
    ledger.reserve(Ticket("a", RACE, "win", "1", 100, "r"))
    insert_settled = (
        "INSERT INTO tickets (ticket_id, account, race_id, bet_type, combination, stake_yen,"
        " rule, state, reserved_at, placed_at, settled_at, payout_yen, outcome) VALUES"
        " ('b', 'main', 'R', 'win', '1', 100, 'r', 'settled', '2025-01-05 00:00:00',"
        " '2025-01-05 00:00:00', '2025-01-05 00:00:00', 0, 'lost')"
    )
    skip_placing = (
        "UPDATE tickets SET state = 'settled', placed_at = reserved_at, settled_at = reserved_at,"
        " payout_yen = 0, outcome = 'lost' WHERE ticket_id = 'a'"
    )
    for statement in (insert_settled, skip_placing):
        with pytest.raises(IntegrityError), ledger.engine.begin() as conn:
            conn.execute(text(statement))
    assert ledger.commit("a") and ledger.settle("a", 0).settled_now
    assert verify(ledger.engine).ok


def test_entries_are_balanced_and_continue_the_totals(ledger: Ledger) -> None:
    entry = (
        "INSERT INTO ledger_entries (account, seq, kind, cash_yen, reserved_yen, owner_yen,"
        " result_yen, cash_after_yen, reserved_after_yen, owner_after_yen, result_after_yen,"
        " cause, created_at) VALUES ('main', :seq, 'deposit', 100, 0, :owner, 0, :cash, 0,"
        " :owner_after, :result_after, 'x', '2025-12-28 05:00:00')"
    )
    last = ledger.history()[-1]
    seq, cash = last["seq"] + 1, last["cash_after_yen"] + 100
    owner, result = last["owner_after_yen"], last["result_after_yen"]
    for values in (
        {"owner": -90, "owner_after": owner - 90, "result_after": result - 10},  # unbalanced
        {"owner": -100, "owner_after": owner - 99, "result_after": result - 1},  # totals off
    ):
        with pytest.raises(IntegrityError), ledger.engine.begin() as conn:
            conn.execute(text(entry), {"seq": seq, "cash": cash, **values})
    # the books: what the owner brought, less what betting lost, is the cash
    assert (cash - 100, owner, result) == (100_000 - 1_000 + 25_000 - 1_000, -100_000, -23_000)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("ticket_id", "t" * 65),
        ("ticket_id", "t 1"),
        ("ticket_id", "券1"),
        ("race_id", "R" * 33),
        ("combination", ""),
        ("stake_yen", 10**13),
        ("stake_yen", "100 yen"),
    ],
)
def test_both_databases_refuse_the_same_ids_and_amounts(
    make_engine, column: str, value: object
) -> None:
    ledger = Ledger(make_engine(), FixedClock(dt.datetime(2025, 1, 5, tzinfo=dt.UTC)))
    row = {
        "ticket_id": "ok",
        "account": "main",
        "race_id": "R1",
        "bet_type": "win",
        "combination": "1",
        "stake_yen": 100,
        "rule": "r",
        "state": "reserved",
        "reserved_at": dt.datetime(2025, 1, 5, tzinfo=dt.UTC),
    }
    statement = text(
        f"INSERT INTO tickets ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"
    )
    with ledger.engine.begin() as conn:
        conn.execute(statement, row)
    with pytest.raises((IntegrityError, DataError)), ledger.engine.begin() as conn:
        conn.execute(statement, {**row, "ticket_id": "other", column: value})


def test_the_ledger_says_which_id_it_refuses(make_engine) -> None:
    ledger = Ledger(make_engine(), FixedClock(dt.datetime(2025, 1, 5, tzinfo=dt.UTC)))
    ledger.deposit(1_000)
    for ticket in (
        Ticket("t" * 65, RACE, "win", "1", 100, "r"),
        Ticket("t 1", RACE, "win", "1", 100, "r"),
        Ticket("t1", "R" * 33, "win", "1", 100, "r"),
    ):
        with pytest.raises(LedgerError, match="printable ASCII"):
            ledger.reserve(ticket)
    with pytest.raises(LedgerError, match="account name"):
        Ledger(ledger.engine, FixedClock(dt.datetime(2025, 1, 5, tzinfo=dt.UTC)), "a b")
    assert ledger.balance() == 1_000 and verify(ledger.engine).ok
