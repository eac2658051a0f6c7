"""Alerts, and where they go: the log, a webhook, or memory (the simulated twin for tests).

An `AlertSink` takes an `Alert` and says whether it was delivered; it never raises into the
caller, because a monitor that crashes on a dead webhook stops monitoring. `WebhookSink` POSTs
the alert as JSON with a timeout and retries 5xx answers, timeouts and connection failures with
exponential backoff (tenacity); 4xx is not retried. A delivery that fails in the end is logged
as `alert_delivery_failed` with the alert's fields, so the alert is never lost from the log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from keiba.common.logging import get_logger

__all__ = [
    "Alert",
    "AlertSink",
    "LogSink",
    "MemorySink",
    "Severity",
    "WebhookSink",
    "deliver",
]

_log = get_logger(__name__)
_LOG_KEYS = {"event", "alert_kind", "severity", "message", "alert_at", "log_level", "timestamp"}


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Alert:
    """Something an operator should know. `kind` is a stable dotted name, e.g. `drawdown.stop`."""

    kind: str
    severity: Severity
    message: str
    at: dt.datetime
    fields: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def to_json(self) -> dict[str, Any]:
        """The JSON body a webhook receives."""
        return {
            "kind": self.kind,
            "severity": self.severity.value,
            "message": self.message,
            "at": self.at.isoformat(),
            "fields": dict(self.fields),
        }


class AlertSink(Protocol):
    def send(self, alert: Alert) -> bool:
        """Deliver the alert; True if delivered. Never raises."""
        ...


class LogSink:
    """Alerts as structlog events `alert` at the alert's severity (critical → error)."""

    def __init__(self, logger: Any = None) -> None:
        self._log = logger if logger is not None else _log

    def send(self, alert: Alert) -> bool:
        level = "error" if alert.severity is Severity.CRITICAL else alert.severity.value
        try:
            getattr(self._log, level)(
                "alert",
                alert_kind=alert.kind,
                severity=alert.severity.value,
                message=alert.message,
                alert_at=alert.at.isoformat(),
                **{k: v for k, v in alert.fields.items() if k not in _LOG_KEYS},
            )
        except Exception:
            return False
        return True


class MemorySink:
    """Keeps every alert in `alerts`; `failing=True` makes it refuse them (for tests)."""

    def __init__(self, *, failing: bool = False) -> None:
        self.alerts: list[Alert] = []
        self.failing = failing

    def send(self, alert: Alert) -> bool:
        if self.failing:
            return False
        self.alerts.append(alert)
        return True

    def kinds(self) -> list[str]:
        return [a.kind for a in self.alerts]


class _Retryable(Exception):
    """A 5xx answer: worth another try."""


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, _Retryable | httpx.TimeoutException | httpx.TransportError)


class WebhookSink:
    """POST each alert as JSON to `url`; retried on 5xx, timeouts and transport errors.

    `max_retries` is the number of tries after the first; waits grow from `backoff_initial_s`
    and are capped at `backoff_max_s`. Pass `client` to share an `httpx.Client`; otherwise the
    sink opens one on first use and keeps it until `close`.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        max_retries: int = 3,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 30.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.url = url
        self._timeout = httpx.Timeout(timeout_s)
        self._retrying = Retrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(max_retries + 1),
            wait=wait_exponential(multiplier=backoff_initial_s, max=backoff_max_s),
            reraise=False,
        )
        self._client = client
        self._owned: httpx.Client | None = None

    def close(self) -> None:
        """Close the client this sink opened (a client passed in is the caller's to close)."""
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    def _http(self) -> httpx.Client:
        if self._client is not None:
            return self._client
        if self._owned is None:
            self._owned = httpx.Client()
        return self._owned

    def _post_once(self, client: httpx.Client, body: dict[str, Any]) -> int:
        response = client.post(self.url, json=body, timeout=self._timeout)
        if response.status_code >= 500:
            raise _Retryable(f"HTTP {response.status_code}")
        return response.status_code

    def send(self, alert: Alert) -> bool:
        body = alert.to_json()
        try:
            client = self._http()
            status = self._retrying.copy()(self._post_once, client, body)
        except RetryError as e:
            cause = e.last_attempt.exception()
            return self._failed(alert, repr(cause))
        except Exception as e:  # never raise into the monitor
            return self._failed(alert, repr(e))
        if status >= 400:
            return self._failed(alert, f"HTTP {status}")
        return True

    def _failed(self, alert: Alert, error: str) -> bool:
        _log.warning(
            "alert_delivery_failed",
            sink="webhook",
            host=urlsplit(self.url).hostname,  # the URL's path and query may hold its token
            error=error,
            alert=alert.to_json(),
        )
        return False


def deliver(alert: Alert, sinks: Iterable[AlertSink]) -> int:
    """Send `alert` to every sink (a failing sink never stops the others); how many took it."""
    delivered = 0
    for sink in sinks:
        try:
            delivered += bool(sink.send(alert))
        except Exception as e:  # a sink that breaks its promise
            _log.warning("alert_delivery_failed", sink=type(sink).__name__, error=repr(e))
    return delivered
