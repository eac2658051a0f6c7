"""The API application: settings, authentication on every route, errors as JSON, security headers.

`create_app(settings)` builds the FastAPI app. Every route depends on `require(role)`: the
request's bearer token (a keiba token, or a Google ID token when an audience is configured)
must name a principal whose role allows it, else 401 (no or a bad token; counted against the
client, which gets 429 with Retry-After past the limit) or 403 (a viewer asking for an
operator's action). Errors are `{"error": "..."}` with a 4xx or 5xx status, never a traceback;
every response carries the security headers and none carries CORS headers.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keiba.app.decide_tasks import SetupFor
from keiba.app.replay_watch import ReplayWatch
from keiba.app.serving import BusyError, ConflictError, NotFoundError, ServingReads
from keiba.common.clock import Clock, SystemClock
from keiba.common.config import KeibaConfig
from keiba.common.errors import KeibaError
from keiba.common.logging import get_logger
from keiba.serving.auth import FailureThrottle, GoogleIdTokens, Principal, Role, TokenStore

__all__ = ["SECURITY_HEADERS", "ServeSettings", "create_app", "require"]

log = get_logger(__name__)

SECURITY_HEADERS: dict[str, str] = {
    "content-security-policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


@dataclass
class ServeSettings:
    """What a server needs: configuration, the account it reads and acts for, its tokens."""

    config: KeibaConfig
    tokens: TokenStore
    account: str = "main"
    google: GoogleIdTokens | None = None
    throttle: FailureThrottle = field(default_factory=FailureThrottle)
    trusted_proxy: bool = False
    """A proxy in front appends each client's address to X-Forwarded-For (Cloud Run)."""
    clock: Clock = field(default_factory=SystemClock)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    """How a live stream waits between its reads of the journal."""
    stream_interval_s: float = 2.0
    stream_polls: int = 150
    """A live stream ends after this many reads (the dashboard opens the next one)."""
    max_streams: int = 16
    decide: SetupFor | None = None
    """With it, `POST /races/{race_id}/decide` decides a race and `POST /races/{race_id}/settle`
    settles it, with the day's setup it gives."""
    ingest_events: bool = False
    """Serve `POST /events/raw-page`: Eventarc's Cloud Storage events, raw pages loaded."""
    replay: ReplayWatch | None = None
    """Set: the server serves this replay (its journal, ledger and clock) instead of the live
    day; `config`, `account` and `clock` are the replay's."""
    reads: ServingReads = field(init=False)
    write_lock: threading.Lock = field(init=False, default_factory=threading.Lock)
    """Held while a request writes the warehouse (a decision, a page's load): one at a time."""

    def __post_init__(self) -> None:
        journals = self.replay.journal_of if self.replay is not None else None
        self.reads = ServingReads(self.config, journals=journals)


class SecurityHeaders:
    """Adds `SECURITY_HEADERS` to every HTTP response (a plain ASGI middleware); a response
    that says how it may be cached (the dashboard's static files) keeps its own say."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                given = list(message.get("headers", []))
                kept = any(k.lower() == b"cache-control" for k, _ in given)
                added = [h for h in self.headers if not (kept and h[0] == b"cache-control")]
                message["headers"] = [*given, *added]
            await send(message)

        await self.app(scope, receive, with_headers)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def _principal(settings: ServeSettings, token: str) -> Principal | None:
    """The token's principal: a keiba token is checked here; a Google ID token in a worker
    thread (its certificates may have to be fetched)."""
    found = settings.tokens.verify(token)
    if found is None and settings.google is not None and not token.startswith("kb_"):
        found = await run_in_threadpool(settings.google.verify, token)
    return found


def _client(request: Request, settings: ServeSettings) -> str:
    """The client's address: behind a trusted proxy the last one X-Forwarded-For names (the
    proxy appended it; anything before it the client may have written), else the peer's."""
    if settings.trusted_proxy:
        forwarded = request.headers.get("x-forwarded-for", "").split(",")[-1].strip()
        if forwarded:
            return forwarded
    return request.client.host if request.client else "unknown"


def require(role: Role) -> Callable[[Request], Awaitable[Principal]]:
    """The dependency that lets a request through only with a token whose role allows `role`."""

    async def check(request: Request) -> Principal:
        settings: ServeSettings = request.app.state.settings
        client = _client(request, settings)
        wait = settings.throttle.retry_after(client)
        if wait is not None:
            raise HTTPException(429, "too many failed attempts", {"Retry-After": str(wait)})
        token = _bearer(request)
        principal = None if token is None else await _principal(settings, token)
        if principal is None:
            settings.throttle.fail(client)
            log.info("serve.auth_failed", client=client, path=request.url.path)
            raise HTTPException(
                401, "a valid bearer token is needed", {"WWW-Authenticate": "Bearer"}
            )
        if not principal.role.allows(role):
            raise HTTPException(403, f"this needs the {role.value} role")
        return principal

    check.__name__ = f"require_{role.value}"
    return check


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(_: Request, e: HTTPException) -> JSONResponse:
        return _error(e.status_code, str(e.detail), dict(e.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def bad_input(_: Request, e: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', '')}"
            for err in e.errors()
        )
        return _error(422, f"invalid request: {problems}")

    @app.exception_handler(NotFoundError)
    async def not_found(_: Request, e: NotFoundError) -> JSONResponse:
        return _error(404, str(e))

    @app.exception_handler(ConflictError)
    async def conflict(_: Request, e: ConflictError) -> JSONResponse:
        return _error(409, str(e))

    @app.exception_handler(BusyError)
    async def busy(_: Request, e: BusyError) -> JSONResponse:
        return _error(503, str(e), {"Retry-After": str(e.retry_after_s)})

    @app.exception_handler(KeibaError)
    async def refused(_: Request, e: KeibaError) -> JSONResponse:
        return _error(400, " ".join(str(e).split()))

    @app.exception_handler(Exception)
    async def internal(request: Request, e: Exception) -> JSONResponse:
        log.error("serve.internal_error", path=request.url.path, error=type(e).__name__)
        # answered outside the middleware: the headers are added here
        return _error(500, "internal error: see the server's log", SECURITY_HEADERS)


def create_app(settings: ServeSettings) -> FastAPI:
    """The API for `settings`; its routes are `keiba.serving.routes`."""
    from keiba.serving.dashboard import register_dashboard
    from keiba.serving.routes import register

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        settings.reads.close()

    app = FastAPI(
        lifespan=lifespan,
        title="keiba",
        summary="Races, probabilities, Themis's decisions, the race day, the ledger, monitor.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    _handlers(app)
    register(app)
    register_dashboard(app)

    @app.get("/openapi.json", tags=["meta"], response_model=dict[str, Any])
    def openapi(_: Annotated[Principal, Depends(require(Role.VIEWER))]) -> dict[str, Any]:
        """The OpenAPI schema of this API."""
        return app.openapi()

    app.add_middleware(SecurityHeaders)
    return app
