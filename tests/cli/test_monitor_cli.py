"""`keiba monitor status` and `keiba monitor resume`, run in-process on a fresh home."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from typer.testing import CliRunner

import secret_manager_twin
from keiba.bankroll import Ledger
from keiba.cli.main import app
from keiba.common.clock import FixedClock
from keiba.common.config import MonitorConfig
from keiba.monitor import MemorySink, Monitor, peak_and_balance
from loopback import serving

T0 = dt.datetime(2024, 5, 26, 6, 0, tzinfo=dt.UTC)


@pytest.fixture
def keiba(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    for name in [k for k in os.environ if k.startswith("KEIBA_")]:
        monkeypatch.delenv(name)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        """stdout and stderr as the user sees them; with --json only stdout (logs go to stderr)."""
        result = runner.invoke(app, ["--home", str(tmp_path), *args])
        assert result.exit_code == code, result.output
        return result.stdout if "--json" in args else result.output

    return run


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    """The home's default ledger (`storage.ledger_url`), written to directly."""
    from keiba.common.storage import create_ledger_engine

    engine = create_ledger_engine(f"sqlite:///{tmp_path / 'ledger' / 'ledger.sqlite'}")
    yield Ledger(engine, FixedClock(T0))
    engine.dispose()


def _check(ledger: Ledger) -> None:
    """One monitor run, as the scheduler would do it."""
    monitor = Monitor.for_ledger(MonitorConfig(), FixedClock(T0), ledger, [MemorySink()])
    peak, balance = peak_and_balance(ledger.history())
    monitor.check(peak_yen=peak, balance_yen=balance, last_odds_at=T0, last_result_at=T0)


def _audit_rows(tmp_path: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(tmp_path / "ledger" / "ledger.sqlite") as db:
        return list(db.execute("SELECT seq, record_type FROM audit_log ORDER BY seq"))


def test_status_reports_the_latched_stop_and_resume_lifts_it(
    keiba: Callable[..., str], ledger: Ledger, tmp_path: Path
) -> None:
    ledger.deposit(1_000_000)
    ledger.adjust(-350_000, "bad day")
    _check(ledger)
    ledger.adjust(+400_000, "late payouts")
    _check(ledger)
    before = _audit_rows(tmp_path)

    status = json.loads(keiba("monitor", "status", "--json"))
    assert status["stopped"] is True
    assert status["stopped_by"]["tier"] == "stop" and status["stopped_by"]["stop_buying"]
    assert (status["balance_yen"], status["peak_yen"]) == (1_050_000, 1_050_000)
    assert (status["tier"], status["recorded_tier"], status["drawdown"]) == (None, None, 0.0)
    assert [r["tier"] for r in status["last_records"]] == ["stop", None]
    text = keiba("monitor", "status")
    assert "buying STOPPED" in text and "keiba monitor resume" in text
    assert _audit_rows(tmp_path) == before  # status writes nothing

    resumed = json.loads(
        keiba(
            "monitor", "resume", "--operator", "alice", "--reason", "reviewed the model", "--json"
        )
    )
    assert resumed["resume_record"]["operator"] == "alice"
    after = _audit_rows(tmp_path)
    assert after[: len(before)] == before
    assert after[len(before) :] == [(before[-1][0] + 1, "monitor")]
    assert resumed["resume_record"]["seq"] == after[-1][0]
    assert resumed["resume_record"]["kind"] == "resume"

    status = json.loads(keiba("monitor", "status", "--json"))
    assert status["stopped"] is False and status["last_resume"]["reason"] == "reviewed the model"
    assert "buying allowed" in keiba("monitor", "status")
    verified = json.loads(keiba("audit", "verify", "--json"))
    assert verified["ok"] and verified["records"] == len(after)


def test_resume_refuses_when_nothing_is_latched(
    keiba: Callable[..., str], ledger: Ledger, tmp_path: Path
) -> None:
    ledger.deposit(1_000_000)
    ledger.adjust(-250_000, "loss")
    _check(ledger)  # a warning tier: recorded, but not a stop
    before = _audit_rows(tmp_path)
    output = keiba("monitor", "resume", "--operator", "alice", "--reason", "why not", code=1)
    assert "nothing to resume" in output and "recorded tier: warn" in output
    assert _audit_rows(tmp_path) == before
    output = keiba("monitor", "resume", "--operator", " ", "--reason", "x", code=1)
    assert "--operator" in output
    status = json.loads(keiba("monitor", "status", "--json"))
    assert (status["stopped"], status["tier"], status["tier_stake_multiplier"]) == (
        False,
        "warn",
        0.5,
    )


def test_status_of_a_stop_not_yet_latched(keiba: Callable[..., str], ledger: Ledger) -> None:
    ledger.deposit(1_000_000)
    ledger.adjust(-300_000, "loss")  # no monitor check has run yet
    status = json.loads(keiba("monitor", "status", "--json"))
    assert (status["stopped"], status["tier"], status["tier_stops_buying"]) == (False, "stop", True)
    assert status["last_records"] == [] and status["monitor_records"] == 0
    assert "not latched yet" in keiba("monitor", "status")


def test_unknown_account_is_refused_without_writing(
    keiba: Callable[..., str], ledger: Ledger, tmp_path: Path
) -> None:
    before = _audit_rows(tmp_path)
    assert "no account 'nobody'" in keiba("monitor", "status", "--account", "nobody", code=1)
    assert "no account 'nobody'" in keiba(
        "monitor", "resume", "--account", "nobody", "--operator", "a", "--reason", "b", code=1
    )
    assert _audit_rows(tmp_path) == before


def test_help(keiba: Callable[..., str]) -> None:
    assert "status" in keiba("monitor", "--help") and "resume" in keiba("monitor", "--help")
    assert "Read-only" in keiba("monitor", "status", "--help")
    assert "--operator" in keiba("monitor", "resume", "--help")
    assert "monitor" in keiba("--help")


def test_resume_while_still_in_the_stopping_tier_warns(
    keiba: Callable[..., str], ledger: Ledger
) -> None:
    ledger.deposit(1_000_000)
    ledger.adjust(-350_000, "loss")
    _check(ledger)
    output = keiba("monitor", "resume", "--operator", "alice", "--reason", "try")
    assert "buying resumed by alice" in output and "stops buying again" in output
    _check(ledger)  # the next run stops again, and records it
    status = json.loads(keiba("monitor", "status", "--json"))
    assert status["stopped"] and [r["kind"] for r in status["last_records"]] == [
        "drawdown_tier",
        "resume",
        "drawdown_tier",
    ]


def test_resume_alerts_the_webhook_whose_url_is_a_secret(
    keiba: Callable[..., str], ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    received: list[dict[str, object]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    ledger.deposit(1_000_000)
    ledger.adjust(-350_000, "loss")
    _check(ledger)
    twin = secret_manager_twin.SecretManagerTwin()
    with serving(Hook) as hook, secret_manager_twin.running(twin) as endpoint:
        for name, value in {
            "KEIBA_SECRETS__PROVIDER": "secret-manager",
            "KEIBA_SECRETS__PROJECT": "keiba-test-project",
            "KEIBA_SECRETS__ENDPOINT": endpoint,
            "KEIBA_MONITOR__WEBHOOK_SECRET": "alert-webhook-url",
        }.items():
            monkeypatch.setenv(name, value)
        output = keiba("monitor", "resume", "--operator", "alice", "--reason", "x", code=1)
        assert "the secret alert-webhook-url in Secret Manager" in output
        assert "does not exist" in output and received == []
        twin.add("keiba-test-project", "alert-webhook-url", f"{hook}/T0/xoxb-7d1f3a".encode())
        keiba("monitor", "resume", "--operator", "alice", "--reason", "reviewed")
    assert [alert["kind"] for alert in received] == ["drawdown.resumed"]
