"""MLflow behind Cloud Run's IAM: a request-header plugin that adds a Google ID token.

MLflow loads `CloudRunIdTokenProvider` from the `mlflow.request_header_provider` entry point
in every process that talks to a tracking server. It is active when an audience is known:

- `KEIBA_MLFLOW_AUDIENCE` (the server's URL, e.g. `https://mlflow-abc-an.a.run.app`, or a
  Cloud Run custom audience), or else
- the tracking URI itself when it is `https://…run.app` (the audience is its origin).

Then every request carries `Authorization: Bearer <ID token>`. The token comes from
google-auth (`fetch_id_token`: the metadata server on Google Cloud, or the service-account
key or impersonation file `GOOGLE_APPLICATION_CREDENTIALS` names) and is reused until
`REFRESH_MARGIN` before its `exp`. When no token can be had, an error line is logged and
raised; MLflow then sends the request without it, and Cloud Run refuses it.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from mlflow.tracking.request_header.abstract_request_header_provider import (
    RequestHeaderProvider,
)

from keiba.common.clock import Clock, SystemClock
from keiba.common.errors import KeibaError, one_line
from keiba.common.logging import get_logger

__all__ = [
    "AUDIENCE_VARIABLE",
    "REFRESH_MARGIN",
    "CloudRunIdTokenProvider",
    "IdTokenCache",
    "MlflowAuthError",
    "audience_for",
    "google_id_token",
]

AUDIENCE_VARIABLE = "KEIBA_MLFLOW_AUDIENCE"
REFRESH_MARGIN = dt.timedelta(minutes=5)
TokenSource = Callable[[str], str]
"""An ID token (a JWT) for an audience."""

_log = get_logger(__name__)


class MlflowAuthError(KeibaError):
    """No ID token could be had for the MLflow server."""


def google_id_token(audience: str) -> str:
    """An ID token for `audience` from google-auth (metadata server or credentials file)."""
    import google.auth.transport.requests
    import google.oauth2.id_token

    request = google.auth.transport.requests.Request()
    token: str = google.oauth2.id_token.fetch_id_token(request, audience)  # type: ignore[no-untyped-call]
    return token


def audience_for(environ: Mapping[str, str], tracking_uri: str | None) -> str | None:
    """The audience to get tokens for, or None when the plugin stays out of the way."""
    explicit = environ.get(AUDIENCE_VARIABLE, "").strip()
    if explicit:
        return explicit
    parts = urlsplit(tracking_uri or "")
    host = parts.hostname or ""
    if parts.scheme == "https" and host.endswith(".run.app"):
        return f"https://{parts.netloc}"
    return None


def _expiry(token: str) -> dt.datetime:
    import google.auth.jwt

    try:
        claims = google.auth.jwt.decode(token, verify=False)  # type: ignore[no-untyped-call]
        return dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC)
    except (ValueError, KeyError, TypeError) as e:
        raise MlflowAuthError(f"the ID token has no readable exp claim: {one_line(e)}") from None


class IdTokenCache:
    """One token per audience from `source`, fetched again `margin` before it expires."""

    def __init__(
        self, source: TokenSource, clock: Clock, margin: dt.timedelta = REFRESH_MARGIN
    ) -> None:
        self._source = source
        self._clock = clock
        self._margin = margin
        self._tokens: dict[str, tuple[str, dt.datetime]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"IdTokenCache(audiences={sorted(self._tokens)})"

    def token(self, audience: str) -> str:
        with self._lock:
            held = self._tokens.get(audience)
            if held is not None and self._clock.now() < held[1] - self._margin:
                return held[0]
            token = self._source(audience)
            self._tokens[audience] = (token, _expiry(token))
            return token


class CloudRunIdTokenProvider(RequestHeaderProvider):
    """Adds `Authorization: Bearer <ID token>` to MLflow's requests when an audience is set."""

    def __init__(
        self,
        source: TokenSource | None = None,
        clock: Clock | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._cache = IdTokenCache(source or google_id_token, clock or SystemClock())
        self._environ = environ

    def __repr__(self) -> str:
        return "CloudRunIdTokenProvider()"

    def _audience(self) -> str | None:
        import mlflow

        environ = os.environ if self._environ is None else self._environ
        return audience_for(environ, mlflow.get_tracking_uri())

    def in_context(self) -> bool:
        return self._audience() is not None

    def request_headers(self) -> dict[str, str]:
        audience = self._audience()
        if audience is None:
            return {}
        try:
            token = self._cache.token(audience)
        except Exception as e:  # whatever google-auth raises, one line
            message = (
                f"no Google ID token for the MLflow server {audience}: {one_line(e)} "
                "(on Google Cloud: the service account; elsewhere: GOOGLE_APPLICATION_CREDENTIALS)"
            )
            _log.error("mlflow_id_token_failed", audience=audience, error=one_line(e))
            raise MlflowAuthError(message) from None
        return {"Authorization": f"Bearer {token}"}
