"""The object store port: bytes under keys like `raw-data/…` and `models/…`.

One adapter over fsspec serves a local directory (the default) and, by URL, Cloud Storage
(`gs://bucket/prefix`). Writes are atomic on the local filesystem (write a temporary file, then
rename), so a reader never sees half an object.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol

import fsspec

from keiba.common.errors import StorageError

__all__ = ["FsspecObjectStore", "ObjectStore"]


class ObjectStore(Protocol):
    def put(self, key: str, data: bytes) -> str: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> list[str]: ...

    def put_content_addressed(self, prefix: str, data: bytes, suffix: str = "") -> str: ...


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise StorageError(f"invalid object key {key!r}: use relative keys like 'models/v1/x'")
    return key


class FsspecObjectStore:
    """Objects under `root`, a local path or an fsspec URL."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")
        self._fs, self._base = fsspec.core.url_to_fs(self.root)
        protocol = self._fs.protocol
        protocols = protocol if isinstance(protocol, tuple) else (protocol,)
        self._local = "file" in protocols or "local" in protocols

    def _path(self, key: str) -> str:
        return f"{self._base}/{_check_key(key)}"

    def url(self, key: str) -> str:
        return f"{self.root}/{_check_key(key)}"

    def put(self, key: str, data: bytes) -> str:
        path = self._path(key)
        try:
            if self._local:
                target = Path(path)
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
                try:
                    with os.fdopen(fd, "wb") as handle:
                        handle.write(data)
                        handle.flush()
                        os.fsync(handle.fileno())
                    os.replace(tmp, target)
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
            else:
                self._fs.pipe_file(path, data)
        except OSError as e:
            raise StorageError(f"cannot write object {self.url(key)}: {e}") from e
        return self.url(key)

    def get(self, key: str) -> bytes:
        try:
            data: bytes = self._fs.cat_file(self._path(key))
        except FileNotFoundError:
            raise StorageError(f"no object {self.url(key)}") from None
        return data

    def exists(self, key: str) -> bool:
        return bool(self._fs.exists(self._path(key)))

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix.rstrip("/"))
        if not self._fs.exists(base):
            return []
        found = self._fs.find(base)
        strip = len(self._base) + 1
        return sorted(str(p)[strip:] for p in found if not Path(str(p)).name.startswith("."))

    def put_content_addressed(self, prefix: str, data: bytes, suffix: str = "") -> str:
        """Store `data` under `prefix/<sha256><suffix>` (once); returns the key."""
        digest = hashlib.sha256(data).hexdigest()
        key = f"{prefix.rstrip('/')}/{digest[:2]}/{digest}{suffix}"
        if not self.exists(key):
            self.put(key, data)
        return key
