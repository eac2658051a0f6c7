"""Who may call the API: bearer tokens kept hashed, Google-signed ID tokens, roles, throttling.

A keiba token is `kb_<id>_<secret>`: `id` is 8 hex digits naming the token, `secret` 32 random
bytes (URL-safe base64). Only SHA-256(secret) is stored (`<home>/serving/tokens.sqlite`), so
the file gives nobody a usable token; it is compared in constant time. A token is shown once,
when it is created, and can be revoked; revoking takes effect on the next request.

On Cloud Run a request may instead carry a Google-signed ID token for the configured audience;
its verified e-mail address is mapped to a role by the server's settings.

Failed attempts are counted per client in a bounded window; a client over the limit gets 429
with Retry-After until its oldest failure leaves the window, whatever it sends.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from keiba.app.serving import files_stamp
from keiba.common.clock import SystemClock
from keiba.common.errors import KeibaError

__all__ = [
    "FailureThrottle",
    "GoogleIdTokens",
    "Principal",
    "Role",
    "TokenError",
    "TokenInfo",
    "TokenStore",
    "home_tokens",
    "tokens_path",
]

PREFIX = "kb_"


class TokenError(KeibaError):
    """A token cannot be created or revoked as asked."""


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    DECIDER = "decider"
    """The account a queued task calls with: it may decide and settle a race, nothing else."""
    INGESTER = "ingester"
    """The account Eventarc delivers Cloud Storage events with: it may post them, nothing else."""

    def allows(self, needed: Role) -> bool:
        """An operator may do what a viewer, a decider or an ingester may, and more."""
        if self in (Role.DECIDER, Role.INGESTER):
            return needed is self
        return self is Role.OPERATOR or needed is Role.VIEWER


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request comes from: a token's name or a Google account's e-mail, and its role."""

    name: str
    role: Role
    kind: str


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed: never its secret."""

    token_id: str
    name: str
    role: Role
    created_at: dt.datetime
    revoked_at: dt.datetime | None


def tokens_path(home: Path) -> Path:
    return home / "serving" / "tokens.sqlite"


def home_tokens(home: Path) -> TokenStore:
    """The tokens of the home, on the wall clock."""
    return TokenStore(tokens_path(home), SystemClock().now)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


_SCHEMA = """CREATE TABLE IF NOT EXISTS tokens (
    token_id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
    sha256 TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT)"""


class TokenStore:
    """The API's tokens in a SQLite file; `now` gives the (UTC) time of creation and revoking."""

    def __init__(self, path: Path, now: Callable[[], dt.datetime]) -> None:
        self.path = path
        self._now = now
        self._active: tuple[tuple[int, ...], dict[str, tuple[str, str, str]]] | None = None

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=30)) as conn, conn:
            conn.execute(_SCHEMA)
            yield conn
        self.path.chmod(0o600)

    def create(self, name: str, role: Role) -> tuple[TokenInfo, str]:
        """A new token; the token itself is returned only here."""
        if not name.strip() or len(name) > 64:
            raise TokenError("a token needs a name of 1 to 64 characters")
        token_id, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
        created = self._now()
        try:
            with self._db() as conn:
                conn.execute(
                    "INSERT INTO tokens VALUES (?, ?, ?, ?, ?, NULL)",
                    (token_id, name.strip(), role.value, _digest(secret), created.isoformat()),
                )
        except sqlite3.IntegrityError:
            raise TokenError(f"a token named {name.strip()!r} exists already") from None
        info = TokenInfo(token_id, name.strip(), role, created, None)
        return info, f"{PREFIX}{token_id}_{secret}"

    def list(self) -> list[TokenInfo]:
        with self._db() as conn:
            rows = conn.execute(
                "SELECT token_id, name, role, created_at, revoked_at FROM tokens "
                "ORDER BY created_at, name"
            ).fetchall()
        return [
            TokenInfo(
                r[0],
                r[1],
                Role(r[2]),
                dt.datetime.fromisoformat(r[3]),
                None if r[4] is None else dt.datetime.fromisoformat(r[4]),
            )
            for r in rows
        ]

    def revoke(self, name_or_id: str) -> TokenInfo:
        """Revoke the token with this name or id; it is refused from the next request on."""
        with self._db() as conn:
            moved = conn.execute(
                "UPDATE tokens SET revoked_at = ? WHERE (name = ? OR token_id = ?) "
                "AND revoked_at IS NULL",
                (self._now().isoformat(), name_or_id, name_or_id),
            ).rowcount
        if moved != 1:
            raise TokenError(f"no active token named {name_or_id!r}")
        return next(t for t in self.list() if name_or_id in (t.name, t.token_id))

    def _active_tokens(self) -> dict[str, tuple[str, str, str]]:
        """Id → (name, role, SHA-256) of the unrevoked tokens, read again when the file changed."""
        stamp = files_stamp(self.path)
        kept = self._active
        if stamp is not None and kept is not None and kept[0] == stamp:
            return kept[1]
        if not self.path.exists():
            return {}
        with closing(sqlite3.connect(self.path, timeout=30)) as conn:
            rows = conn.execute(
                "SELECT token_id, name, role, sha256 FROM tokens WHERE revoked_at IS NULL"
            ).fetchall()
        active = {r[0]: (r[1], r[2], r[3]) for r in rows}
        if stamp is not None:
            self._active = (stamp, active)
        return active

    def verify(self, token: str) -> Principal | None:
        """The principal of a valid, unrevoked token; None for anything else."""
        token_id, _, secret = token.removeprefix(PREFIX).partition("_")
        if not token.startswith(PREFIX) or len(token_id) != 8 or not secret:
            return None
        row = self._active_tokens().get(token_id)
        if row is None or not hmac.compare_digest(_digest(secret), row[2]):
            return None
        return Principal(row[0], Role(row[1]), "token")


class _CachedRequest:
    """A google-auth transport request that keeps each URL's answer (Google's public
    certificates) for `ttl_s`, so verifying a token fetches them at most that often."""

    def __init__(self, request: Any, ttl_s: float, clock: Callable[[], float]) -> None:
        self._request, self._ttl, self._clock = request, ttl_s, clock
        self._kept: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def __call__(self, url: str, method: str = "GET", **kwargs: Any) -> Any:
        with self._lock:
            kept = self._kept.get(url)
            if kept is not None and self._clock() - kept[0] < self._ttl:
                return kept[1]
        response = self._request(url, method=method, **kwargs)
        if getattr(response, "status", None) == 200:
            with self._lock:
                self._kept[url] = (self._clock(), response)
        return response


class GoogleIdTokens:
    """Google-signed ID tokens for `audience` (one, or any of several); the verified e-mail's
    role from `roles`."""

    def __init__(
        self,
        audience: str | list[str],
        roles: Mapping[str, Role],
        *,
        request: Any = None,
        cache_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if request is None:
            from google.auth.transport.requests import Request

            request = Request()
        self.audience = audience
        self.roles = {email.lower(): role for email, role in roles.items()}
        self._request = _CachedRequest(request, cache_s, clock)

    def verify(self, token: str) -> Principal | None:
        """The principal of a valid token whose verified e-mail has a role; else None."""
        from google.auth import exceptions
        from google.oauth2 import id_token

        try:
            claims = id_token.verify_oauth2_token(  # type: ignore[no-untyped-call]
                token, self._request, self.audience
            )
        except (ValueError, exceptions.GoogleAuthError):
            return None
        email = str(claims.get("email", "")).lower()
        role = self.roles.get(email)
        if not email or claims.get("email_verified") is not True or role is None:
            return None
        return Principal(email, role, "google")


class FailureThrottle:
    """At most `limit` failed attempts per client in `window_s`; at most `clients` remembered
    (the least recently failing are forgotten first)."""

    def __init__(
        self,
        limit: int = 10,
        window_s: float = 60.0,
        clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.window_s, self.clients, self._clock = limit, window_s, clients, clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int | None:
        """Seconds until `client` may try again, or None when it may now."""
        with self._lock:
            failures = self._failures.get(client)
            if failures is None:
                return None
            now = self._clock()
            while failures and now - failures[0] >= self.window_s:
                failures.popleft()
            if len(failures) < self.limit:
                return None
            return max(1, int(failures[0] + self.window_s - now + 0.999))

    def fail(self, client: str) -> None:
        with self._lock:
            failures = self._failures.pop(client, None) or deque(maxlen=self.limit)
            failures.append(self._clock())
            self._failures[client] = failures
            while len(self._failures) > self.clients:
                self._failures.popitem(last=False)
