"""Object stores for the contract tests: a local directory, and Cloud Storage on an emulator.

The emulator (`tests/gcs_emulator.py`) runs once per test process on a free loopback port; each
test gets a prefix of its own in its bucket. Without the emulator the Cloud Storage cases are
skipped, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import gcs_emulator
from keiba.common.storage import FsspecObjectStore

BUCKET = "keiba-test"


@pytest.fixture(scope="session")
def gcs_emulator_url() -> Iterator[str]:
    gcs_emulator.require()
    with gcs_emulator.running(BUCKET) as url:
        yield url


@pytest.fixture
def gcs_root() -> str:
    """A fresh `gs://` root on the emulator (its own prefix in the test bucket)."""
    return f"gs://{BUCKET}/{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["local", "gcs"])
def store_root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The root URL of an empty object store, local or on Cloud Storage."""
    if request.param == "local":
        return str(tmp_path / "objects")
    request.getfixturevalue("gcs_emulator_url")
    return str(request.getfixturevalue("gcs_root"))


@pytest.fixture
def store(store_root: str) -> FsspecObjectStore:
    return FsspecObjectStore(store_root)
