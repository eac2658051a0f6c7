"""Checkpoints: exported by the ledger itself, written once and read-only, and what
`verify` finds with them that it cannot find without."""

import datetime as dt
import stat
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from keiba.app.bankroll import checkpoint_exporter, checkpoints_beside_ledger, known_checkpoints
from keiba.bankroll import Ledger, Ticket, verify
from keiba.bankroll.audit import Checkpoint, export_checkpoint, load_checkpoints
from keiba.bankroll.checkpoints import CheckpointExists, CheckpointExporter, WriteOnceStore
from keiba.common.clock import FixedClock
from keiba.common.config import KeibaConfig

CLOCK = FixedClock(dt.datetime(2025, 6, 1, 5, 0, tzinfo=dt.UTC))


def _day(ledger: Ledger) -> None:
    ledger.deposit(10_000)
    ledger.place(Ticket("t1", "R1", "win", "1", 1_000, "r"))
    ledger.settle("t1", 2_500)
    ledger.place(Ticket("t2", "R2", "win", "1", 1_000, "r"))
    ledger.settle("t2", 0)


@pytest.mark.parametrize("root", ["local", "memory"])
def test_a_checkpoint_is_written_once(tmp_path: Path, root: str) -> None:
    url = str(tmp_path / "cp") if root == "local" else f"memory://cp-{uuid.uuid4().hex}"
    store = WriteOnceStore(url)
    store.put("a/1.json", b"first")
    with pytest.raises(CheckpointExists):
        store.put("a/1.json", b"second")
    assert store.get("a/1.json") == b"first" and store.list("") == ["a/1.json"]
    if root == "local":
        mode = (tmp_path / "cp" / "a" / "1.json").stat().st_mode
        assert stat.S_IMODE(mode) == 0o444
        assert [p.name for p in (tmp_path / "cp" / "a").iterdir()] == ["1.json"]


def test_the_ledger_exports_after_every_settlement(make_engine, tmp_path: Path) -> None:
    store = WriteOnceStore(str(tmp_path / "cp"))
    ledger = Ledger(make_engine(), CLOCK, checkpoints=CheckpointExporter(store))
    _day(ledger)
    exported = load_checkpoints(store, prefix="")
    head = verify(ledger.engine).head
    assert [c.seq for c in exported] == [5, 8] and exported[-1] == head
    assert verify(ledger.engine, exported).checkpoints_checked == 2


def test_every_write_can_be_exported(make_engine, tmp_path: Path) -> None:
    store = WriteOnceStore(str(tmp_path / "cp"))
    ledger = Ledger(make_engine(), CLOCK, checkpoints=CheckpointExporter(store, "write"))
    _day(ledger)
    assert [c.seq for c in load_checkpoints(store, prefix="")] == [1, 2, 4, 5, 7, 8]


def test_a_rewritten_chain_is_caught_by_the_exported_head(
    make_engine, attacker, tmp_path: Path
) -> None:
    store = WriteOnceStore(str(tmp_path / "cp"))
    ledger = Ledger(make_engine(), CLOCK, checkpoints=CheckpointExporter(store))
    _day(ledger)
    # the owner drops the losing ticket's settlement record and moves the head back onto 7
    attacker(
        ledger.engine,
        "DELETE FROM audit_log WHERE seq = 8",
        "UPDATE tickets SET state = 'placed', settled_at = NULL, payout_yen = NULL,"
        " outcome = NULL WHERE ticket_id = 't2'",
    )
    with ledger.engine.connect() as conn:
        prev = conn.execute(text("SELECT record_sha256 FROM audit_log WHERE seq = 7")).scalar()
    attacker(ledger.engine, f"UPDATE audit_head SET seq = 7, record_sha256 = '{prev}'")
    assert verify(ledger.engine).ok  # consistent, without the checkpoints …
    result = verify(ledger.engine, load_checkpoints(store, prefix=""))
    assert not result.ok and "checkpoint names record 8" in (result.problem or "")


def test_two_checkpoints_that_disagree_fail(make_engine, tmp_path: Path) -> None:
    ledger = Ledger(make_engine(), CLOCK)
    _day(ledger)
    head = verify(ledger.engine).head
    forged = Checkpoint(head.seq, "0" * 64)
    result = verify(ledger.engine, [head, forged])
    assert not result.ok and result.first_bad_seq == head.seq


def test_exporting_an_exported_head_again_writes_nothing(make_engine, tmp_path: Path) -> None:
    ledger = Ledger(make_engine(), CLOCK)
    ledger.deposit(100)
    store = WriteOnceStore(str(tmp_path / "cp"))
    key, checkpoint, written = export_checkpoint(ledger.engine, store, CLOCK.now(), "")
    assert written and not export_checkpoint(ledger.engine, store, CLOCK.now(), "")[2]
    assert store.list("") == [key] and checkpoint.seq == 2


def test_a_failed_export_does_not_undo_the_settlement(make_engine, tmp_path: Path) -> None:
    (tmp_path / "cp").write_text("a file where the folder should be")
    exporter = CheckpointExporter(WriteOnceStore(str(tmp_path / "cp")))
    ledger = Ledger(make_engine(), CLOCK, checkpoints=exporter)
    _day(ledger)
    assert ledger.balance() == 10_000 - 2_000 + 2_500 and verify(ledger.engine).ok


def test_the_configuration_chooses_where_and_when(tmp_path: Path) -> None:
    config = KeibaConfig(home=tmp_path)
    exporter = checkpoint_exporter(config)
    assert exporter is not None and exporter.every == "settlement"
    assert exporter.store.root == str(tmp_path / "audit-checkpoints")
    assert checkpoint_exporter(config, "sqlite:////elsewhere/twin.sqlite") is None
    assert checkpoints_beside_ledger(config)
    away = KeibaConfig.model_validate(
        {"home": tmp_path, "audit": {"checkpoint_url": "memory://vault", "checkpoint_every": "off"}}
    )
    assert checkpoint_exporter(away) is None and not checkpoints_beside_ledger(away)
    assert known_checkpoints(config) == []
