"""The object store port: bytes under keys like `raw-data/…`, `processed/…` and `models/…`.

One adapter over fsspec serves a local directory (the default) and, by URL, Cloud Storage
(`gs://bucket/prefix`, through gcsfs). Local writes are atomic (write a temporary file, then
rename), so a reader never sees half an object; Cloud Storage objects are atomic by nature.
`put_new` writes only if the key is free, atomically on both (a hard link on disk, the
`ifGenerationMatch=0` precondition on Cloud Storage), so of two writers exactly one succeeds.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

import fsspec

from keiba.common.errors import StorageError

__all__ = ["CLOUD_PROTOCOLS", "FsspecObjectStore", "ObjectExistsError", "ObjectStore"]

CLOUD_PROTOCOLS = ("gs", "gcs")


class ObjectExistsError(StorageError):
    """`put_new` found its key taken: the object is left as it was."""


class ObjectStore(Protocol):
    def put(self, key: str, data: bytes) -> str: ...

    def put_new(self, key: str, data: bytes) -> str: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> list[str]: ...

    def put_content_addressed(self, prefix: str, data: bytes, suffix: str = "") -> str: ...


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise StorageError(f"invalid object key {key!r}: use relative keys like 'models/v1/x'")
    return key


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return (text or type(error).__name__)[:300]


def _cloud_storage(root: str) -> tuple[Any, str, tuple[type[BaseException], ...]]:
    """gcsfs' plain Cloud Storage filesystem, the bucket/prefix path, and the errors it raises."""
    from gcsfs.core import GCSFileSystem  # imported only for gs:// stores (about a second)
    from gcsfs.retry import HttpError
    from google.auth.exceptions import GoogleAuthError

    base = str(GCSFileSystem._strip_protocol(root)).strip("/")
    if not base:
        raise StorageError(f"object store URL {root!r} names no bucket: use gs://BUCKET/PREFIX")
    # Not gcsfs' default class: its experimental zonal-bucket layer asks a gRPC control API about
    # every bucket. No listings cache: other processes write to the same bucket.
    fs = GCSFileSystem(use_listings_cache=False)
    return fs, base, (OSError, ValueError, HttpError, GoogleAuthError)


def _write_local(target: Path, data: bytes, *, replace: bool) -> None:
    """Write via a temporary file; replace the target, or link it into place only if free
    (then read-only: an object written once is not meant to change)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, target)
        else:
            os.chmod(tmp, 0o444)
            os.link(tmp, target)  # atomic, and never replaces an existing file
    finally:
        Path(tmp).unlink(missing_ok=True)


class FsspecObjectStore:
    """Objects under `root`: a local path, `gs://bucket/prefix`, or another fsspec URL."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")
        self._errors: tuple[type[BaseException], ...] = (OSError,)
        if fsspec.core.split_protocol(root)[0] in CLOUD_PROTOCOLS:
            self._fs, self._base, self._errors = _cloud_storage(root)
        else:
            self._fs, self._base = fsspec.core.url_to_fs(self.root)
        protocol = self._fs.protocol
        protocols = protocol if isinstance(protocol, tuple) else (protocol,)
        self._local = "file" in protocols or "local" in protocols

    def _path(self, key: str) -> str:
        return f"{self._base}/{_check_key(key)}"

    def url(self, key: str) -> str:
        return f"{self.root}/{_check_key(key)}"

    def put(self, key: str, data: bytes) -> str:
        """Write `data` under `key`, replacing any object there; returns its URL."""
        path = self._path(key)
        try:
            if self._local:
                _write_local(Path(path), data, replace=True)
            else:
                self._fs.pipe_file(path, data)
        except self._errors as e:
            raise StorageError(f"cannot write object {self.url(key)}: {_one_line(e)}") from e
        return self.url(key)

    def put_new(self, key: str, data: bytes) -> str:
        """Write `data` under `key` only if no object is there (write-once; a local file is
        made read-only); returns its URL. A taken key is an `ObjectExistsError`, whatever the
        object holds.
        """
        path = self._path(key)
        try:
            if self._local:
                _write_local(Path(path), data, replace=False)
            else:
                self._fs.pipe_file(path, data, mode="create")
        except FileExistsError:
            raise ObjectExistsError(f"object {self.url(key)} exists; not overwritten") from None
        except self._errors as e:
            raise StorageError(f"cannot write object {self.url(key)}: {_one_line(e)}") from e
        return self.url(key)

    def get(self, key: str) -> bytes:
        try:
            data: bytes = self._fs.cat_file(self._path(key))
        except FileNotFoundError:
            raise StorageError(f"no object {self.url(key)}") from None
        except self._errors as e:
            raise StorageError(f"cannot read object {self.url(key)}: {_one_line(e)}") from e
        return data

    def exists(self, key: str) -> bool:
        try:
            return bool(self._fs.exists(self._path(key)))
        except self._errors as e:
            raise StorageError(f"cannot look up object {self.url(key)}: {_one_line(e)}") from e

    def list(self, prefix: str) -> list[str]:
        """The keys under the folder `prefix` (`models` lists `models/…`, not `models-old/…`;
        `""` lists every key)."""
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self._base
        try:
            found = self._fs.find(base) if self._fs.exists(base) else []
        except self._errors as e:
            raise StorageError(f"cannot list {self.root}/{prefix}: {_one_line(e)}") from e
        strip = len(self._base) + 1
        return sorted(str(p)[strip:] for p in found if not Path(str(p)).name.startswith("."))

    def put_content_addressed(self, prefix: str, data: bytes, suffix: str = "") -> str:
        """Store `data` under `prefix/<sha256><suffix>` (once); returns the key."""
        digest = hashlib.sha256(data).hexdigest()
        key = f"{prefix.rstrip('/')}/{digest[:2]}/{digest}{suffix}"
        if not self.exists(key):
            # Written meanwhile by another process: the same bytes, the key being their digest.
            with contextlib.suppress(ObjectExistsError):
                self.put_new(key, data)
        return key
