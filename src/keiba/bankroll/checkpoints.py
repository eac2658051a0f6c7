"""Checkpoints of the audit chain's head, written once where the ledger's owner cannot rewrite.

A checkpoint names a record and its hash. Whoever can write the ledger's database can recompute
the whole chain; they cannot make it end in a hash exported before, so `verify` checks the chain
against every checkpoint it is given.

`WriteOnceStore` keeps them: in a local folder each file is created exclusively (written aside,
then hard-linked into place, which fails rather than replace a file) and made read-only; at an
object-store URL an existing object is never written again, and a bucket with a locked retention
policy (Cloud Storage "bucket lock", S3 Object Lock in compliance mode) makes the store itself
refuse to replace or delete one. `CheckpointExporter` is what a `Ledger` calls after its writes:
it exports the head after every settlement, or after every write, as configured.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from keiba.common.errors import StorageError
from keiba.common.logging import get_logger
from keiba.common.storage.object_store import FsspecObjectStore, ObjectExistsError

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["CheckpointExists", "CheckpointExporter", "Every", "WriteOnceStore"]

log = get_logger(__name__)
Every = Literal["settlement", "write"]


class CheckpointExists(StorageError):
    """An object of that name is already there; it was not replaced."""


class WriteOnceStore:
    """Objects under `root` (a local folder or an object-store URL) that are written once,
    never again (`FsspecObjectStore.put_new`: a file linked into place and made read-only, or
    a Cloud Storage object created only if absent)."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")
        self._store = FsspecObjectStore(self.root)

    def url(self, key: str) -> str:
        return self._store.url(key)

    def put(self, key: str, data: bytes) -> str:
        """Write `key` once; `CheckpointExists` if it is there already (nothing is replaced)."""
        try:
            return self._store.put_new(key, data)
        except ObjectExistsError as e:
            raise CheckpointExists(f"checkpoint {self.url(key)} exists; not replaced") from e

    def get(self, key: str) -> bytes:
        return self._store.get(key)

    def exists(self, key: str) -> bool:
        return self._store.exists(key)

    def list(self, prefix: str) -> list[str]:
        """Keys under `prefix`, sorted (none if the folder does not exist yet)."""
        return self._store.list(prefix)


@dataclass(frozen=True)
class CheckpointExporter:
    """Exports the chain's head to `store` (at its top, or under `prefix`) after the writes
    `every` names."""

    store: WriteOnceStore
    every: Every = "settlement"
    prefix: str = ""

    def after(self, write: str, engine: Engine, at: dt.datetime) -> None:
        """Called by the ledger after a committed write of kind `write`. A failure to export
        is logged, not raised: the write it follows is done, and `verify` reports the gap."""
        if self.every != "write" and write != self.every:
            return
        from keiba.bankroll.audit import export_checkpoint

        try:
            key, checkpoint, _ = export_checkpoint(engine, self.store, at, self.prefix)
        except StorageError as e:
            log.warning("audit.checkpoint_failed", store=self.store.root, error=str(e))
            return
        log.debug("audit.checkpoint", key=key, seq=checkpoint.seq)
