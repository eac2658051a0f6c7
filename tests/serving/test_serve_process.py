"""`keiba serve` as a separate process on a free loopback port, called over HTTP with httpx;
its tokens made with `keiba token create`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from served_home import day_of

from race_morning import DATASET, Morning

KEIBA = [sys.executable, "-m", "keiba.cli.main"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def keiba(home: Path, *args: str) -> str:
    env = {**os.environ, "KEIBA_STORAGE__DATASET": DATASET}
    done = subprocess.run([*KEIBA, "--home", str(home), *args], env=env, capture_output=True,
                          text=True, check=True, timeout=120)  # fmt: skip
    return done.stdout


@pytest.fixture(scope="module")
def server(
    morning: Morning, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    home = tmp_path_factory.mktemp("serve") / "home"
    shutil.copytree(morning.home, home)
    env = {**os.environ, "KEIBA_STORAGE__DATASET": DATASET}
    with serve_process(home, env=env) as base:
        yield base, home


@contextmanager
def serve_process(
    home: Path, *args: str, env: dict[str, str] | None = None, patience_s: float = 60
) -> Iterator[str]:
    """`keiba serve ARGS` in a process of its own on a free loopback port: its base URL."""
    port = free_port()
    log = (home.parent / "serve.log").open("wb")
    process = subprocess.Popen([*KEIBA, "--home", str(home), "serve", *args, "--port", str(port)],
                               env=env, stdout=log, stderr=log)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + patience_s
        while True:
            try:
                httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, (home.parent / "serve.log").read_text()
                assert time.monotonic() < deadline, "keiba serve did not start"
                time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        log.close()


def test_a_served_home_answers_over_http(server: tuple[str, Path], morning: Morning) -> None:
    base, home = server
    created = json.loads(
        keiba(home, "token", "create", "--name", "e2e", "--role", "viewer", "--json")
    )
    token = created["token"]
    listed = keiba(home, "token", "list", "--json")
    assert token not in listed and json.loads(listed)[0]["name"] == "e2e"
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        assert client.get("/health").json() == {"status": "ok"}
        races = client.get("/races", params={"date": day_of(morning).isoformat()}).json()
        assert races["total"] == len(morning.day.races)
        bad = client.get("/races", params={"date": "yesterday"})
        assert bad.status_code == 422 and "date" in bad.json()["error"]
        assert client.get("/health", headers={"Authorization": "Bearer nope"}).status_code == 401
    keiba(home, "token", "revoke", "e2e")
    assert httpx.get(f"{base}/health", headers=headers).status_code == 401
