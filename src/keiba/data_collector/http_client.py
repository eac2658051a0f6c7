"""The collector's HTTP client: polite, patient, and clear when it is turned away.

- **Rate limit.** Requests start at least `1 / requests_per_second` apart (one a second by
  default), measured on the injected clock and waited out with the injected `sleep`, so tests
  run instantly with a fake clock.
- **Retries.** A 5xx answer, a timeout or a dropped connection is retried up to `max_retries`
  times after `backoff_seconds(attempt)` (exponential, capped); then `FetchFailedError`.
- **Blocked.** 403 and 429 raise `BlockedError` at once: retrying would make it worse.
- **Not there.** Another 4xx raises `FetchFailedError` without retrying.

Errors: `FetchError` (a `KeibaError`) ← `BlockedError`, `FetchFailedError`.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from keiba.common.clock import Clock
from keiba.common.config import CollectorConfig
from keiba.common.errors import KeibaError

__all__ = [
    "BlockedError",
    "FetchError",
    "FetchFailedError",
    "Fetched",
    "HttpClient",
    "backoff_seconds",
]


class FetchError(KeibaError):
    """A page could not be fetched."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{url}: {reason}")


class BlockedError(FetchError):
    """The site refused us (403 or 429): the collector stops."""

    def __init__(self, url: str, status: int) -> None:
        self.status = status
        super().__init__(
            url,
            f"HTTP {status}: netkeiba is refusing requests (blocked or rate-limited); "
            "stopped — wait before collecting again, and keep the rate limit at 1 request/s",
        )


class FetchFailedError(FetchError):
    """Not found, or still failing after every retry."""

    def __init__(self, url: str, reason: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(url, reason)


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str
    status: int
    content: bytes
    content_type: str | None
    fetched_at: dt.datetime
    server_date: dt.datetime | None = None
    """The time the server stamped on its answer (HTTP `Date`), when it sent a readable one."""


def _server_date(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        at = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def backoff_seconds(attempt: int, initial: float, maximum: float) -> float:
    """Wait before retry `attempt` (1-based): initial, 2×, 4×, … capped at `maximum`."""
    return float(min(maximum, initial * 2 ** (attempt - 1)))


class HttpClient:
    """GET with rate limit and retries; `transport` lets tests swap the network."""

    def __init__(
        self,
        config: CollectorConfig,
        clock: Clock,
        sleep: Callable[[float], None],
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._sleep = sleep
        self._last_start: dt.datetime | None = None
        self.requests = 0
        self._client = httpx.Client(
            headers={"User-Agent": config.user_agent},
            timeout=httpx.Timeout(
                config.read_timeout_s,
                connect=config.connect_timeout_s,
            ),
            follow_redirects=True,
            transport=transport,
        )

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def _wait_turn(self) -> None:
        interval = dt.timedelta(seconds=1 / self.config.requests_per_second)
        if self._last_start is not None:
            due = self._last_start + interval
            now = self._clock.now()
            if now < due:
                self._sleep((due - now).total_seconds())
        self._last_start = self._clock.now()

    def get(self, url: str) -> Fetched:
        """Fetch `url`; raises `BlockedError` or `FetchFailedError`."""
        attempts = self.config.max_retries + 1
        last = ""
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                self._sleep(
                    backoff_seconds(
                        attempt - 1, self.config.backoff_initial_s, self.config.backoff_max_s
                    )
                )
            self._wait_turn()
            self.requests += 1
            try:
                response = self._client.get(url)
            except httpx.TimeoutException as e:
                last = f"timed out ({type(e).__name__})"
                continue
            except httpx.TransportError as e:
                last = f"connection failed ({type(e).__name__}: {e})"
                continue
            status = response.status_code
            if status in (403, 429):
                raise BlockedError(url, status)
            if status >= 500:
                last = f"HTTP {status}"
                continue
            if status >= 400:
                raise FetchFailedError(url, f"HTTP {status}", status=status)
            return Fetched(
                url=str(response.url),
                status=status,
                content=response.content,
                content_type=response.headers.get("content-type"),
                fetched_at=self._clock.now(),
                server_date=_server_date(response.headers.get("date")),
            )
        raise FetchFailedError(url, f"gave up after {attempts} attempt(s): {last}")
