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
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import fsspec

from keiba.common.errors import StorageError
from keiba.common.logging import get_logger

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["CheckpointExists", "CheckpointExporter", "Every", "WriteOnceStore"]

log = get_logger(__name__)
Every = Literal["settlement", "write"]
READ_ONLY = 0o444


class CheckpointExists(StorageError):
    """An object of that name is already there; it was not replaced."""


class WriteOnceStore:
    """Objects under `root` (a local folder or an fsspec URL) that are written once, never again."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")
        self._fs, self._base = fsspec.core.url_to_fs(self.root)
        protocol = self._fs.protocol
        protocols = protocol if isinstance(protocol, tuple) else (protocol,)
        self.local = "file" in protocols or "local" in protocols

    def _path(self, key: str) -> str:
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise StorageError(f"invalid checkpoint key {key!r}")
        return f"{self._base}/{key}"

    def url(self, key: str) -> str:
        return f"{self.root}/{key}"

    def put(self, key: str, data: bytes) -> str:
        """Write `key` once; `CheckpointExists` if it is there already (nothing is replaced)."""
        path = self._path(key)
        try:
            if self.local:
                _put_local(Path(path), data)
            elif self._fs.exists(path):
                raise FileExistsError(path)
            else:
                self._fs.pipe_file(path, data)
        except FileExistsError as e:
            raise CheckpointExists(f"checkpoint {self.url(key)} exists; not replaced") from e
        except OSError as e:
            raise StorageError(f"cannot write checkpoint {self.url(key)}: {e}") from e
        return self.url(key)

    def get(self, key: str) -> bytes:
        try:
            return bytes(self._fs.cat_file(self._path(key)))
        except OSError as e:
            raise StorageError(f"cannot read checkpoint {self.url(key)}: {e}") from e

    def exists(self, key: str) -> bool:
        return bool(self._fs.exists(self._path(key)))

    def list(self, prefix: str) -> list[str]:
        """Keys under `prefix`, sorted (none if the folder does not exist yet)."""
        base = self._path(prefix.rstrip("/")) if prefix else self._base
        if not self._fs.exists(base):
            return []
        found = self._fs.find(base)
        start = len(self._base.rstrip("/")) + 1
        return sorted(p[start:] for p in found if not Path(p).name.startswith("."))


def _put_local(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, READ_ONLY)
        os.link(tmp, target)  # atomic, and never replaces an existing file
    finally:
        Path(tmp).unlink(missing_ok=True)


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
