"""The bankroll as configuration builds it: the ledger, its checkpoint exporter, and the stores
`keiba audit verify` checks the chain against."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from keiba.bankroll import Ledger, check_invariants, export_checkpoint, verify
from keiba.bankroll.audit import Checkpoint, load_checkpoints
from keiba.bankroll.checkpoints import CheckpointExporter, WriteOnceStore
from keiba.bankroll.migrate import upgrade
from keiba.bankroll.tax import TaxReport, tax_report
from keiba.common.clock import Clock, SystemClock
from keiba.common.config import KeibaConfig
from keiba.common.money import positive_yen
from keiba.common.storage import FsspecObjectStore, create_ledger_engine
from keiba.common.storage.datasets import dataset_names, open_dataset
from keiba.execution.history import HistoryRow, read_history_csv
from keiba.execution.reconcile import HistoryFile, RaceResolver, Reconciliation, reconcile_day

__all__ = [
    "checkpoint_exporter",
    "checkpoint_store",
    "checkpoints_beside_ledger",
    "known_checkpoints",
    "open_ledger",
    "reconcile_history_file",
]


def checkpoint_store(config: KeibaConfig) -> WriteOnceStore:
    return WriteOnceStore(config.checkpoint_url)


def checkpoint_exporter(
    config: KeibaConfig, ledger_url: str | None = None
) -> CheckpointExporter | None:
    """The exporter `audit.checkpoint_every` asks for: None when it is `off`, or when
    `ledger_url` is another ledger than the configured one (a twin's, a backtest's), whose
    chain must not leave checkpoints among the real ledger's."""
    every = config.audit.checkpoint_every
    if every == "off" or (ledger_url is not None and ledger_url != config.ledger_url):
        return None
    return CheckpointExporter(checkpoint_store(config), every)


def open_ledger(
    config: KeibaConfig, engine: Engine, clock: Clock, account: str, *, open_account: bool
) -> Ledger:
    """The account's ledger, exporting checkpoints as configured; only `open_account` may
    create an account that does not exist yet."""
    exporter = checkpoint_exporter(config)
    if open_account:
        return Ledger(engine, clock, account=account, checkpoints=exporter)
    return Ledger.existing(engine, clock, account, checkpoints=exporter)


def known_checkpoints(config: KeibaConfig) -> list[Checkpoint]:
    """Every checkpoint exported: to `audit.checkpoint_url`, and by hand to the object store
    (where `keiba audit export` wrote them before)."""
    found = load_checkpoints(checkpoint_store(config), prefix="")
    found += load_checkpoints(FsspecObjectStore(config.object_store_url))
    return sorted(set(found), key=lambda c: c.seq)


def checkpoints_beside_ledger(config: KeibaConfig) -> bool:
    """Whether the checkpoints are a local folder under the home that holds an SQLite ledger:
    then whoever can rewrite the ledger can remove them too."""
    url = config.checkpoint_url
    if "://" in url or not config.ledger_url.startswith("sqlite:"):
        return False
    return Path(url).resolve().is_relative_to(config.home.resolve())


def _race_resolver(config: KeibaConfig) -> RaceResolver | None:
    """A history row's race id from the selected dataset's races and cards, if it exists."""
    if config.storage.dataset not in dataset_names(config):
        return None

    def resolve(row: HistoryRow) -> str | None:
        with open_dataset(config, read_only=True) as warehouse:
            args = [row.day, int(row.venue), row.race_no]
            sql = "SELECT race_id FROM races WHERE race_date = ? AND venue_code = ? AND race_no = ?"
            if warehouse.has_table("entries"):
                sql += (
                    " UNION SELECT race_id FROM entries"
                    " WHERE race_date = ? AND venue_code = ? AND race_no = ?"
                )
                args += args
            found = warehouse.query(sql, args)["race_id"].to_list()
        return str(found[0]) if len(found) == 1 else None

    return resolve


def reconcile_history_file(
    config: KeibaConfig, account: str, path: Path, clock: Clock | None = None
) -> list[Reconciliation]:
    """Reconcile the account with a purchase-history CSV a person downloaded: each day in it,
    unknown purchases settled and tickets bought by hand adopted (races named from the
    dataset when the ledger does not know them)."""
    history = HistoryFile(tuple(read_history_csv(path)))
    resolve = _race_resolver(config)
    engine = create_ledger_engine(config.ledger_url)
    try:
        ledger = open_ledger(config, engine, clock or SystemClock(), account, open_account=False)
        return [reconcile_day(ledger, history, day, resolve_race=resolve) for day in history.days]
    finally:
        engine.dispose()


@contextmanager
def account_ledger(
    config: KeibaConfig, account: str, *, open_account: bool = False
) -> Iterator[Ledger]:
    """The configured ledger's account on the wall clock (only `open_account` creates it)."""
    engine = create_ledger_engine(config.ledger_url)
    try:
        yield open_ledger(config, engine, SystemClock(), account, open_account=open_account)
    finally:
        engine.dispose()


def balance_status(ledger: Ledger) -> dict[str, Any]:
    b = ledger.balances()
    return {
        "account": ledger.account,
        "cash_yen": b.cash,
        "reserved_yen": b.reserved,
        "available_yen": b.available,
    }


def change_balance(
    config: KeibaConfig, account: str, amount: int, cause: str, *, deposit: bool
) -> dict[str, Any]:
    """Deposit (opening the account the first time) or withdraw; the balance after."""
    if deposit:
        positive_yen(amount, "deposit")  # refused before the account is opened
    with account_ledger(config, account, open_account=deposit) as ledger:
        if deposit:
            ledger.deposit(amount, cause=cause)
        else:
            ledger.withdraw(amount, cause=cause)
        return balance_status(ledger)


def ledger_history(config: KeibaConfig, account: str, limit: int) -> list[dict[str, Any]]:
    with account_ledger(config, account) as ledger:
        return ledger.history(limit=limit)


def verify_ledger(config: KeibaConfig, *, checkpoints: bool) -> dict[str, Any]:
    """The audit chain checked against the tables and the checkpoints, and the invariants."""
    engine = create_ledger_engine(config.ledger_url)
    try:
        upgrade(engine)
        known = known_checkpoints(config) if checkpoints else []
        result = verify(engine, known)
        problems = check_invariants(engine)
    finally:
        engine.dispose()
    return {
        "checkpoint_url": config.checkpoint_url,
        "newest_checkpoint_seq": max((c.seq for c in known), default=None),
        "checkpoints_beside_ledger": checkpoints and checkpoints_beside_ledger(config),
        "ok": result.ok and not problems,
        "records": result.records,
        "head_seq": result.head.seq,
        "head_sha256": result.head.record_sha256,
        "checkpoints_checked": result.checkpoints_checked,
        "first_bad_seq": result.first_bad_seq,
        "problem": result.problem,
        "ledger_problems": problems,
    }


def export_checkpoint_now(config: KeibaConfig) -> dict[str, Any]:
    """Write the chain head to `audit.checkpoint_url` (once)."""
    engine = create_ledger_engine(config.ledger_url)
    try:
        upgrade(engine)
        store = checkpoint_store(config)
        key, checkpoint, written = export_checkpoint(engine, store, SystemClock().now(), "")
    finally:
        engine.dispose()
    return {
        "key": store.url(key),
        "seq": checkpoint.seq,
        "record_sha256": checkpoint.record_sha256,
        "written_now": written,
    }


def tax_report_of(config: KeibaConfig, account: str, year: int, csv_path: Path | None) -> TaxReport:
    """The account's tax report for `year`; every purchase also written to `csv_path`."""
    with account_ledger(config, account) as ledger:
        report = tax_report(ledger.engine, year, account)
    if csv_path is not None:
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        csv_path.write_text(report.to_csv(), encoding="utf-8")
    return report
