"""Running the API: where it may listen, and uvicorn with the app for a home's configuration.

Loopback is the default. Any other address is refused unless the server speaks TLS itself
(a certificate and its key) or the operator says explicitly that a proxy in front of it
terminates TLS (`trusted_proxy`, as on Cloud Run); only then is the client address the proxy
appends to X-Forwarded-For believed (for throttling).

The server settles its heap before it listens and after the first answer of each kind of read
(`settle_heap`): what a process imports and keeps for its life is then exempt from Python's
cyclic garbage collector, whose full collections would otherwise walk all of it, stopping every
request for a fraction of a second every few seconds under load.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from keiba.app.days import live_setup
from keiba.app.replay_watch import replay_watch
from keiba.common.clock import Clock, SystemClock
from keiba.common.config import KeibaConfig
from keiba.common.errors import KeibaError
from keiba.common.heap import settle_heap
from keiba.serving.app import ServeSettings, create_app
from keiba.serving.auth import GoogleIdTokens, Role, home_tokens
from keiba.themis import warm_up

__all__ = ["Binding", "ServeError", "check_binding", "serve", "settings_for"]


class ServeError(KeibaError):
    """The server cannot start as asked."""


@dataclass(frozen=True)
class Binding:
    host: str
    port: int
    tls_cert: Path | None = None
    tls_key: Path | None = None
    trusted_proxy: bool = False


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(binding: Binding) -> None:
    """Refuse a non-loopback address without TLS or an explicitly trusted proxy."""
    if (binding.tls_cert is None) != (binding.tls_key is None):
        raise ServeError("TLS needs both --tls-cert and --tls-key")
    for path in (binding.tls_cert, binding.tls_key):
        if path is not None and not path.is_file():
            raise ServeError(f"no such file: {path}")
    if is_loopback(binding.host) or binding.tls_cert is not None or binding.trusted_proxy:
        return
    raise ServeError(
        f"refusing to listen on {binding.host} without TLS: give --tls-cert and --tls-key, or "
        "--trusted-proxy when a proxy in front terminates TLS (e.g. Cloud Run)"
    )


def settings_for(
    config: KeibaConfig,
    account: str,
    *,
    google_audience: str | list[str] | None = None,
    google_roles: Mapping[str, Role] | None = None,
    trusted_proxy: bool = False,
    decide: bool = False,
    ingest_events: bool = False,
    replay: dt.date | None = None,
) -> ServeSettings:
    """The server's settings: the home's tokens, and Google ID tokens when an audience is set;
    with `decide`, the decide and settle routes on the live race day of `account`; with
    `ingest_events`, the route of Cloud Storage events (the object store must be in Cloud
    Storage); with `replay`, the selected dataset's replay of that day instead of the live day
    (its ledger, journal and clock)."""
    if replay is not None and (decide or ingest_events):
        raise ServeError(
            "--decide and --ingest-events act on the live day: they cannot serve a replay"
        )
    watch = None if replay is None else replay_watch(config, replay)
    clock: Clock = SystemClock() if watch is None else watch.clock
    google = None
    if google_audience:
        if not google_roles:
            raise ServeError(
                "Google ID tokens need at least one --google-viewer, --google-operator, "
                "--google-decider or --google-ingester"
            )
        google = GoogleIdTokens(google_audience, google_roles)
    store = home_tokens(config.home)
    if watch is not None:
        config, account = watch.config, watch.account
    settings = ServeSettings(
        config, store, account, google=google, clock=clock, trusted_proxy=trusted_proxy,
        replay=watch,
    )  # fmt: skip
    if decide:
        settings.decide = partial(live_setup, config, account)
    if ingest_events and not config.object_store_url.startswith("gs://"):
        raise ServeError(
            "--ingest-events needs the object store in Cloud Storage "
            "(storage.object_store_url: gs://BUCKET/PREFIX)"
        )
    settings.ingest_events = ingest_events
    return settings


def serve(settings: ServeSettings, binding: Binding) -> None:
    """Serve until interrupted."""
    import uvicorn

    check_binding(binding)
    app = create_app(settings)
    if settings.decide is not None:
        warm_up()  # Themis's compiled solver, before the first queued decision arrives
    settings.reads.on_first_fill = settle_heap
    settle_heap()
    uvicorn.run(
        app,
        host=binding.host,
        port=binding.port,
        ssl_certfile=str(binding.tls_cert) if binding.tls_cert else None,
        ssl_keyfile=str(binding.tls_key) if binding.tls_key else None,
        proxy_headers=False,  # the app reads X-Forwarded-For itself, and only when trusted
        server_header=False,
        timeout_graceful_shutdown=5,  # the dashboard's live streams would hold it for minutes
        access_log=False,
        log_level="warning",
    )
