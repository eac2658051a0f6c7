"""The bankroll as configuration builds it: the ledger, its checkpoint exporter, and the stores
`keiba audit verify` checks the chain against."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from keiba.bankroll import Ledger
from keiba.bankroll.audit import Checkpoint, load_checkpoints
from keiba.bankroll.checkpoints import CheckpointExporter, WriteOnceStore
from keiba.common.clock import Clock
from keiba.common.config import KeibaConfig
from keiba.common.storage import FsspecObjectStore

__all__ = [
    "checkpoint_exporter",
    "checkpoint_store",
    "checkpoints_beside_ledger",
    "known_checkpoints",
    "open_ledger",
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
