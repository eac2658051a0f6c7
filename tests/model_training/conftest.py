"""A throwaway MLflow tracking server on loopback, started once per test session (per worker)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import mlflow_server as server


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a running `mlflow server` (sqlite backend, proxied artefacts); always stopped."""
    with server.running(tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url
