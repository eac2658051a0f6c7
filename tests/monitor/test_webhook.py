"""The webhook sink against real HTTP servers on 127.0.0.1: delivery, retry, timeout."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from structlog.testing import capture_logs

from keiba.monitor import Alert, LogSink, MemorySink, Severity, WebhookSink, deliver
from loopback import serving

ALERT = Alert(
    "drawdown.stop",
    Severity.CRITICAL,
    "drawdown 30.00% reached tier stop: buying stopped",
    dt.datetime(2024, 5, 26, 6, 0, tzinfo=dt.UTC),
    {"peak_yen": 1_000_000, "balance_yen": 700_000},
)


@contextmanager
def serve(statuses: list[int]) -> Iterator[tuple[str, list[dict[str, object]]]]:
    """A server answering POSTs with `statuses` in turn (the last one repeats)."""
    received: list[dict[str, object]] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                received.append(json.loads(body))
                status = statuses[min(len(received), len(statuses)) - 1]
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with serving(Handler) as url:
        yield f"{url}/hook", received


def webhook(url: str, **kw: Any) -> closing[WebhookSink]:
    """A sink with no backoff between tries, closed at the end of the `with`."""
    kw.setdefault("backoff_initial_s", 0)
    return closing(WebhookSink(url, **kw))


def test_webhook_posts_the_alert_as_json() -> None:
    with serve([200]) as (url, received), webhook(url, timeout_s=2) as sink:
        assert sink.send(ALERT) is True
    assert received == [
        {
            "kind": "drawdown.stop",
            "severity": "critical",
            "message": "drawdown 30.00% reached tier stop: buying stopped",
            "at": "2024-05-26T06:00:00+00:00",
            "fields": {"peak_yen": 1_000_000, "balance_yen": 700_000},
        }
    ]


def test_webhook_retries_a_500() -> None:
    with serve([500, 200]) as (url, received), webhook(url, max_retries=2) as sink:
        assert sink.send(ALERT) is True
    assert len(received) == 2


def test_webhook_gives_up_without_raising_and_logs() -> None:
    with (
        serve([503]) as (url, received),
        webhook(url, max_retries=2) as sink,
        capture_logs() as logs,
    ):
        assert sink.send(ALERT) is False
    assert len(received) == 3
    (failed,) = [e for e in logs if e["event"] == "alert_delivery_failed"]
    assert failed["alert"]["kind"] == "drawdown.stop"
    assert failed["host"] == "127.0.0.1"
    assert not any("/hook" in str(value) for value in failed.values())


def test_webhook_does_not_retry_a_4xx() -> None:
    with serve([404]) as (url, received), webhook(url, max_retries=3) as sink:
        assert sink.send(ALERT) is False
    assert len(received) == 1


@pytest.fixture
def silent_server() -> Iterator[tuple[str, list[socket.socket]]]:
    """Accepts connections and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook", accepted
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in accepted:
            conn.close()
        listener.close()


def test_webhook_times_out_without_raising(
    silent_server: tuple[str, list[socket.socket]],
) -> None:
    url, accepted = silent_server
    sink = WebhookSink(url, timeout_s=0.2, max_retries=1, backoff_initial_s=0)
    started = time.monotonic()
    with closing(sink), capture_logs() as logs:
        assert sink.send(ALERT) is False
    assert time.monotonic() - started < 3
    assert len(accepted) == 2  # the first try and one retry
    assert any("Timeout" in str(e.get("error")) for e in logs)


def test_unreachable_webhook_does_not_raise() -> None:
    with socket.socket() as s:  # a port that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with closing(
        WebhookSink(f"http://127.0.0.1:{port}/", max_retries=1, backoff_initial_s=0)
    ) as s2:
        assert s2.send(ALERT) is False


def test_log_sink_and_deliver_to_many() -> None:
    class Broken:
        def send(self, alert: Alert) -> bool:
            raise RuntimeError("broken sink")

    memory, failing = MemorySink(), MemorySink(failing=True)
    with capture_logs() as logs:
        assert deliver(ALERT, [LogSink(), Broken(), failing, memory]) == 2
    assert memory.kinds() == ["drawdown.stop"]
    (logged,) = [e for e in logs if e["event"] == "alert"]
    assert logged["log_level"] == "error" and logged["balance_yen"] == 700_000
    assert any(e["event"] == "alert_delivery_failed" for e in logs)
