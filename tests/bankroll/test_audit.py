"""The audit chain: every kind of tampering is found and the first bad record named."""

import datetime as dt

import pytest
from sqlalchemy import text

from keiba.bankroll import Ledger, Ticket, export_checkpoint, verify
from keiba.bankroll.audit import canonical_json, digest, load_checkpoints
from keiba.common.clock import FixedClock
from keiba.common.errors import StorageError
from keiba.common.storage import FsspecObjectStore

CLOCK = FixedClock(dt.datetime(2020, 1, 5, 1, 0, tzinfo=dt.UTC))


@pytest.fixture
def ledger(make_engine) -> Ledger:
    ledger = Ledger(make_engine(), CLOCK)
    ledger.deposit(10_000)
    inputs = {
        "model_version": "lgbm-7",
        "probabilities": {1: 0.4, 2: 0.6},
        "odds": {1: 3.1, 2: 1.9},
        "odds_as_of": dt.datetime(2020, 1, 5, 0, 58, tzinfo=dt.UTC),
        "bankroll_yen": 10_000,
        "policy": {"ev_threshold": 1.1, "kelly_fraction": 0.25},
    }
    ticket = Ticket("t1", "2020010506010101", "win", "1", 1000, "ev>1.1")
    ledger.record_decision("2020010506010101", "ev>1.1", inputs, {"bets": ["1"]}, [ticket])
    ledger.commit("t1")
    ledger.confirm("t1", "IPAT-000123")
    ledger.settle("t1", 3100)
    ledger.withdraw(500)
    return ledger


def _types(ledger: Ledger) -> list[str]:
    with ledger.engine.connect() as conn:
        return list(conn.execute(text("SELECT record_type FROM audit_log ORDER BY seq")).scalars())


def test_every_change_is_recorded_in_order(ledger: Ledger) -> None:
    assert _types(ledger) == [
        "account_opened",
        "deposit",
        "decision",
        "purchase_intent",
        "placement",
        "confirmation",
        "settlement",
        "withdrawal",
    ]
    result = verify(ledger.engine)
    assert result.ok and result.records == 8 and result.head.seq == 8


def test_canonical_json_is_stable() -> None:
    assert canonical_json({"b": 1, "a": [1, "å"]}) == '{"a":[1,"å"],"b":1}'
    assert digest({"x": 1, "y": 2}) == digest({"y": 2, "x": 1})
    with pytest.raises(ValueError):
        canonical_json({"p": float("nan")})


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        # modified: a payout's amount edited in place
        ("UPDATE audit_log SET content = replace(content, '3100', '9100') WHERE seq = 7", 7),
        # modified, and its content hash recomputed by hand: the chain breaks at the next record
        (
            "UPDATE audit_log SET content_sha256 = CASE WHEN content_sha256 LIKE 'f%' "
            "THEN '0' ELSE 'f' END || substr(content_sha256, 2) WHERE seq = 4",
            4,
        ),
        # deleted from the middle
        ("DELETE FROM audit_log WHERE seq = 5", 5),
        # deleted from the end (the head still names it)
        ("DELETE FROM audit_log WHERE seq = 8", 8),
        # reordered: two records swap places
        (
            "UPDATE audit_log SET seq = 100 WHERE seq = 3; "
            "UPDATE audit_log SET seq = 3 WHERE seq = 4; "
            "UPDATE audit_log SET seq = 4 WHERE seq = 100",
            3,
        ),
        # inserted: everything from 6 on moves up one, and a copy of 5 fills the gap
        (
            "UPDATE audit_log SET seq = seq + 100 WHERE seq >= 6; "
            "UPDATE audit_log SET seq = seq - 99 WHERE seq >= 106; "
            "INSERT INTO audit_log SELECT 6, record_type, account, created_at, content, "
            "content_sha256, prev_sha256, record_sha256 FROM audit_log WHERE seq = 5",
            6,
        ),
    ],
    ids=["modified", "rehashed", "deleted", "truncated", "reordered", "inserted"],
)
def test_tampering_is_found(ledger: Ledger, attacker, tamper: str, first_bad: int) -> None:
    attacker(ledger.engine, *tamper.split("; "))
    result = verify(ledger.engine)
    assert not result.ok
    assert result.first_bad_seq == first_bad, result.problem


def test_a_changed_ledger_entry_is_found(ledger: Ledger, attacker) -> None:
    attacker(ledger.engine, "UPDATE ledger_entries SET cause = 'gift' WHERE seq = 1")
    result = verify(ledger.engine)
    assert not result.ok and "ledger entry" in (result.problem or "")


def test_rewriting_the_whole_tail_is_caught_by_the_checkpoint(
    ledger: Ledger, attacker, tmp_path
) -> None:
    store = FsspecObjectStore(str(tmp_path / "objects"))
    key, checkpoint, written = export_checkpoint(ledger.engine, store, CLOCK.now())
    assert written and checkpoint.seq == 8
    assert export_checkpoint(ledger.engine, store, CLOCK.now()) == (key, checkpoint, False)
    assert load_checkpoints(store) == [checkpoint]
    attacker(
        ledger.engine,
        "DELETE FROM audit_log WHERE seq = 8",
        "DELETE FROM ledger_entries WHERE kind = 'withdrawal'",
    )
    with ledger.engine.begin() as conn:
        prev = conn.execute(text("SELECT record_sha256 FROM audit_log WHERE seq = 7")).scalar()
    attacker(ledger.engine, f"UPDATE audit_head SET seq = 7, record_sha256 = '{prev}'")
    assert verify(ledger.engine).ok  # a consistent forgery, without the checkpoint …
    result = verify(ledger.engine, load_checkpoints(store))
    assert not result.ok and "checkpoint" in (result.problem or "")


def test_a_checkpoint_is_never_overwritten(ledger: Ledger, tmp_path) -> None:
    store = FsspecObjectStore(str(tmp_path / "objects"))
    key, _, _ = export_checkpoint(ledger.engine, store, CLOCK.now())
    store.put(key, b'{"seq": 1, "record_sha256": "x"}')
    with pytest.raises(StorageError, match="not overwritten"):
        export_checkpoint(ledger.engine, store, CLOCK.now())
