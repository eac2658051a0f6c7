"""A Cloud Storage emulator on loopback for tests: gcp-storage-emulator, in-process, in memory.

`running(bucket)` starts it on a free port of 127.0.0.1 with `bucket` created, points gcsfs at it
(`STORAGE_EMULATOR_HOST`, anonymous access: no credentials or gcloud configuration of the machine
are read) and yields its URL. It starts in milliseconds; the emulator is a locked development
dependency, installed by `make install` like the rest.

The emulator ignores the `ifGenerationMatch=0` precondition ("create only") that Cloud Storage
enforces. Here an upload that carries it is refused with 412 when the object exists, as Cloud
Storage does, so write-once behaviour is tested on the wire protocol a client really sends.
"""

from __future__ import annotations

import importlib
import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any

import pytest

UNAVAILABLE = "the Cloud Storage emulator (gcp-storage-emulator) or gcsfs is not installed"
_UPLOADS = ("_media_upload", "_multipart_upload", "_create_resumable_upload")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_modules(modules: tuple[str, ...], unavailable: str) -> None:
    """Skip the test when one of `modules` cannot be imported; under CI=true, fail instead."""
    try:
        for module in modules:
            importlib.import_module(module)
    except ImportError as e:
        message = f"{unavailable} ({e}); run `make install`"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


def require() -> None:
    """Skip the test when the emulator cannot be imported; under CI=true, fail instead."""
    require_modules(("gcp_storage_emulator.server", "gcsfs"), UNAVAILABLE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _object_name(request: Any) -> str | None:
    if "name" in request.query:
        return str(request.query["name"][0])
    data = request.data if isinstance(request.data, dict) else {}
    meta = data.get("meta", data)
    return meta.get("name") if isinstance(meta, dict) else None


def _create_only(upload: Callable[..., Any]) -> Callable[..., Any]:
    from gcp_storage_emulator.exceptions import NotFound

    def guarded(request: Any, response: Any, storage: Any) -> Any:
        if request.query.get("ifGenerationMatch") == ["0"]:
            try:
                storage.get_file_obj(request.params["bucket_name"], _object_name(request))
            except NotFound:
                pass
            else:
                response.status = HTTPStatus.PRECONDITION_FAILED
                response.json({"error": {"code": 412, "message": "conditionNotMet"}})
                return None
        return upload(request, response, storage)

    return guarded


@contextmanager
def _preconditions_enforced() -> Iterator[None]:
    from gcp_storage_emulator.handlers import objects

    originals = {name: getattr(objects, name) for name in _UPLOADS}
    for name, upload in originals.items():
        setattr(objects, name, _create_only(upload))
    try:
        yield
    finally:
        for name, upload in originals.items():
            setattr(objects, name, upload)


@contextmanager
def running(bucket: str) -> Iterator[str]:
    """The emulator with `bucket`, gcsfs pointed at it, until the `with` ends; yields its URL."""
    from gcp_storage_emulator.server import create_server
    from gcsfs.core import GCSFileSystem

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=bucket)
    url = f"http://127.0.0.1:{port}"
    nothing_there = free_port()
    with (
        tempfile.TemporaryDirectory(prefix="keiba-no-gcloud-") as no_gcloud,
        pytest.MonkeyPatch.context() as env,
        _preconditions_enforced(),
    ):
        env.setenv("STORAGE_EMULATOR_HOST", url)
        # No metadata server: google-auth would look for one at 169.254.169.254; here it asks a
        # loopback port where nothing listens, and is refused at once.
        env.setenv("GCE_METADATA_IP", f"127.0.0.1:{nothing_there}")
        env.setenv("GCE_METADATA_HOST", f"127.0.0.1:{nothing_there}")
        env.setenv("NO_GCE_CHECK", "true")
        env.setenv("CLOUDSDK_CONFIG", no_gcloud)  # no developer login: anonymous access
        env.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
        GCSFileSystem.clear_instance_cache()
        server.start()
        try:
            yield url
        finally:
            server.stop()
            GCSFileSystem.clear_instance_cache()
