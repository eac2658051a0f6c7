"""A BigQuery emulator on loopback for tests: bqemulator, in its own process, in memory.

`running()` starts `bqemulator start` on free ports of 127.0.0.1 and yields its REST endpoint,
with the correction in `bq_emulator_main.py` (a query's NUMERIC keeps BigQuery's nine decimals).
The emulator runs on DuckDB and insists on loading DuckDB's spatial extension; it would download
it, so the process gets a private home into which the extension is first installed from its
PyPI wheel (`duckdb-extension-spatial`). Both are locked development dependencies installed by
`make install`, and nothing outside the test's temporary directory is written.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from gcs_emulator import free_port, require_modules

PROJECT = "keiba-test"
UNAVAILABLE = "the BigQuery emulator (bqemulator) or google-cloud-bigquery is not installed"
_INSTALL_SPATIAL = """
import pathlib, duckdb, duckdb_extension_spatial
root = pathlib.Path(duckdb_extension_spatial.__file__).parent
duckdb.connect().execute(f"INSTALL '{next(root.rglob('*.duckdb_extension'))}'")
"""


def require() -> None:
    """Skip the test when the emulator cannot be imported; under CI=true, fail instead."""
    require_modules(
        ("bqemulator", "duckdb_extension_spatial", "google.cloud.bigquery"), UNAVAILABLE
    )


def _wait(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"bqemulator exited: {log.read_text()[-2000:]}")
        try:
            httpx.get(f"{url}/bigquery/v2/projects/{PROJECT}/datasets", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"bqemulator did not answer at {url} within 60 s")


@contextmanager
def running() -> Iterator[str]:
    """The REST endpoint of a fresh emulator, stopped on exit."""
    with tempfile.TemporaryDirectory(prefix="bqemu-") as home:
        env = {**os.environ, "HOME": home}
        subprocess.run([sys.executable, "-c", _INSTALL_SPATIAL], env=env, check=True)
        port = free_port()
        log = Path(home) / "bqemulator.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).with_name("bq_emulator_main.py")),
                    "start",
                    "--rest-host=127.0.0.1",
                    f"--rest-port={port}",
                    "--grpc-host=127.0.0.1",
                    f"--grpc-port={free_port()}",
                    "--ephemeral",
                    f"--project={PROJECT}",
                    "--log-level=warning",
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            url = f"http://127.0.0.1:{port}"
            try:
                _wait(url, process, log)
                yield url
            finally:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
