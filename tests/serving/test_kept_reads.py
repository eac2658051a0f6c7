"""The server's kept reads: one read fills an answer while the others wait for it, an event loop
gets only what is kept, and a change to a file is read by the next request after it."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from served_home import Served

from keiba.app.serving import RECENT_NS, NotKept, ServingReads, only_kept
from keiba.common.config import load_config
from keiba.scheduler import Journal, journal_path
from keiba.serving.auth import Role


def _aged(*paths: Path) -> None:
    """The files' times set well in the past, so that their reads may be kept."""
    old = time.time_ns() - 100 * RECENT_NS
    for path in paths:
        os.utime(path, ns=(old, old))


@pytest.fixture
def reads(tmp_path: Path) -> ServingReads:
    return ServingReads(load_config(None, tmp_path / "home"))


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "source.txt"
    path.write_text("one")
    _aged(path)
    return path


def test_an_event_loop_gets_only_what_is_kept_and_never_an_answer_of_changed_files(
    reads: ServingReads, source: Path
) -> None:
    def read() -> str:
        return reads._cached(("text",), (source,), source.read_text)

    with only_kept(), pytest.raises(NotKept):
        read()
    assert read() == "one"
    with only_kept():
        assert read() == "one"
    source.write_text("two!")
    with only_kept(), pytest.raises(NotKept):
        read()  # written just now: read in a worker thread, every time
    _aged(source)
    with only_kept(), pytest.raises(NotKept):
        read()  # changed since it was kept
    assert read() == "two!"
    with only_kept():
        assert read() == "two!"


def test_one_read_fills_an_answer_and_the_others_wait_for_it(
    reads: ServingReads, source: Path
) -> None:
    began, go = threading.Event(), threading.Event()
    calls: list[int] = []

    def slow() -> str:
        calls.append(1)
        began.set()
        go.wait()
        return source.read_text()

    got: list[str] = []

    def request() -> None:
        got.append(reads._cached(("text",), (source,), slow))

    first = threading.Thread(target=request)
    first.start()
    began.wait()
    others = [threading.Thread(target=request) for _ in range(4)]
    for t in others:
        t.start()
    deadline = time.monotonic() + 60  # only so that a broken fill fails instead of hanging
    try:
        while reads.waiting < 4:  # every other request waits for the one reading
            assert time.monotonic() < deadline, "the other requests did not wait for the fill"
            time.sleep(0.001)
    finally:
        go.set()
    for t in (first, *others):
        t.join()
    assert calls == [1] and got == ["one"] * 5
    assert reads.waiting == 0


def test_a_failed_fill_fails_its_waiters_and_is_not_kept(reads: ServingReads, source: Path) -> None:
    def broken() -> str:
        raise OSError("the store is gone")

    with pytest.raises(OSError, match="gone"):
        reads._cached(("text",), (source,), broken)
    assert reads._cached(("text",), (source,), source.read_text) == "one"


def test_the_first_answer_of_each_kind_is_announced_once(reads: ServingReads, source: Path) -> None:
    announced: list[int] = []
    reads.on_first_fill = lambda: announced.append(1)
    for _ in range(3):
        reads._cached(("a",), (source,), source.read_text)
    assert announced == [1]
    reads._cached(("b", 1), (source,), source.read_text)
    reads._cached(("b", 2), (source,), source.read_text)
    assert announced == [1, 1]


def test_a_pause_written_to_the_journal_is_in_the_next_plan_read(served: Served) -> None:
    day = served.day
    url = f"/days/{day.isoformat()}/plan"
    files = [journal_path(served.home, day)]
    files += [p for p in [Path(f"{files[0]}-wal")] if p.exists()]
    _aged(*files)
    viewer = served.auth(Role.VIEWER)
    first = served.client.get(url, headers=viewer).json()
    assert served.client.get(url, headers=viewer).json() == first  # kept
    assert not first["paused"]
    journal = Journal(journal_path(served.home, day))
    try:
        journal.set_paused(True, "ops", "a test", served.morning.at)
        after = served.client.get(url, headers=viewer).json()
        assert after["paused"] and after["paused_by"] == "ops"
        _aged(*files)
        assert served.client.get(url, headers=viewer).json()["paused"]
        journal.set_paused(False, "ops", "a test", served.morning.at)
    finally:
        journal.close()
    assert not served.client.get(url, headers=viewer).json()["paused"]


def test_the_monitor_and_entries_show_a_ledger_write_at_once(served: Served) -> None:
    from keiba.bankroll import Ledger
    from keiba.common.clock import FixedClock
    from keiba.common.storage import create_ledger_engine

    viewer = served.auth(Role.VIEWER)
    ledger_file = Path(served.config.ledger_url.removeprefix("sqlite:///"))
    _aged(*[p for p in (ledger_file, Path(f"{ledger_file}-wal")) if p.exists()])
    records = served.client.get("/monitor", headers=viewer).json()["monitor_records"]
    newest = served.client.get("/ledger/entries?limit=1", headers=viewer).json()["items"][0]
    engine = create_ledger_engine(served.config.ledger_url)
    try:
        ledger = Ledger.existing(engine, FixedClock(served.morning.at), "main")
        ledger.record_monitor_event("operator", {"action": "note"})
        ledger.deposit(100)
    finally:
        engine.dispose()
    assert served.client.get("/monitor", headers=viewer).json()["monitor_records"] == records + 1
    latest = served.client.get("/ledger/entries?limit=1", headers=viewer).json()["items"][0]
    assert latest["seq"] > newest["seq"] and latest["kind"] == "deposit"


def test_a_new_backtest_run_or_model_version_is_in_the_next_list(served: Served) -> None:
    import json
    import shutil

    viewer = served.auth(Role.VIEWER)
    runs = served.home / "backtests"
    _aged(runs, *runs.rglob("*"))
    before = served.client.get("/backtests", headers=viewer).json()["items"]
    assert served.client.get("/backtests", headers=viewer).json()["items"] == before  # kept
    run = runs / "20990101T000000Z"
    run.mkdir()
    (run / "result.json").write_text(json.dumps({"period": ["2098-01-01", "2098-12-31"]}))
    try:
        listed = served.client.get("/backtests", headers=viewer).json()["items"]
        assert [r["run_id"] for r in listed] == [run.name] + [r["run_id"] for r in before]
        _aged(runs, run, run / "result.json")
        assert served.client.get("/backtests", headers=viewer).json()["items"] == listed
        (run / "result.json").write_text(json.dumps({"period": ["2097-01-01", "2097-12-31"]}))
        _aged(run / "result.json")  # rewritten in place: only the file's own time tells
        changed = served.client.get("/backtests", headers=viewer).json()["items"][0]
        assert changed["period"] == ["2097-01-01", "2097-12-31"]
    finally:
        shutil.rmtree(run)
    models = Path(served.config.object_store_url) / "models"
    _aged(models, *models.rglob("*"))
    versions = served.client.get("/models", headers=viewer).json()["items"]
    added = models / "zz-added"
    added.mkdir()
    (added / "training.json").write_text(json.dumps({"dataset": {"name": "x"}}))
    try:
        listed = served.client.get("/models", headers=viewer).json()["items"]
        assert [v["version"] for v in listed] == ["zz-added"] + [v["version"] for v in versions]
    finally:
        shutil.rmtree(added)
    assert served.client.get("/models", headers=viewer).json()["items"] == versions


def test_a_token_revoked_by_another_process_is_refused_on_the_next_request(
    tmp_path: Path,
) -> None:
    import datetime as dt

    from served_home import TestClient

    from keiba.common.clock import FixedClock
    from keiba.serving.app import ServeSettings, create_app
    from keiba.serving.auth import TokenStore

    path = tmp_path / "tokens.sqlite"
    now = FixedClock(dt.datetime(2026, 3, 1, tzinfo=dt.UTC)).now
    served_store, command_store = TokenStore(path, now), TokenStore(path, now)
    _, token = command_store.create("dashboard", Role.VIEWER)
    client = TestClient(
        create_app(ServeSettings(load_config(None, tmp_path / "home"), served_store))
    )
    headers = {"Authorization": f"Bearer {token}"}
    _aged(path)
    assert client.get("/health", headers=headers).status_code == 200
    assert client.get("/health", headers=headers).status_code == 200  # the tokens kept
    command_store.revoke("dashboard")  # as `keiba token revoke` does, in its own process
    assert client.get("/health", headers=headers).status_code == 401
    _aged(path)
    assert client.get("/health", headers=headers).status_code == 401


def test_a_ledger_file_written_anew_in_its_place_is_read_not_the_removed_one(
    tmp_path: Path,
) -> None:
    """A replay run afresh removes its paper ledger and writes a new one: a server watching it
    reads the new file, not the one its open connections still hold."""
    import datetime as dt

    from keiba.app.race_day import fund_paper_ledger
    from keiba.common.clock import FixedClock

    config = load_config(None, tmp_path / "home")
    config.home.mkdir(parents=True, exist_ok=True)
    clock = FixedClock(dt.datetime(2031, 1, 11, 9, tzinfo=dt.UTC))
    fund_paper_ledger(config.ledger_url, "main", clock, 100_000, "first")
    reads = ServingReads(config)
    try:
        assert reads.balance("main")["cash_yen"] == 100_000
        ledger_file = Path(config.ledger_url.removeprefix("sqlite:///"))
        for stale in (ledger_file, *ledger_file.parent.glob(f"{ledger_file.name}-*")):
            stale.unlink()
        fund_paper_ledger(config.ledger_url, "main", clock, 50_000, "afresh")
        assert reads.balance("main")["cash_yen"] == 50_000
    finally:
        reads.close()
