"""Google Secret Manager as a `SecretStore`: the latest version of `projects/P/secrets/NAME`.

The official client (`google-cloud-secret-manager`) over its REST transport, with Application
Default Credentials (on Cloud Run, the service's own account, which needs
`roles/secretmanager.secretAccessor` on the secret). Each payload's CRC32C checksum is checked.
`endpoint` replaces Google's API host; a plain `http://` endpoint must be on loopback (a local
twin of the API) and gets no credentials, so no token ever travels unencrypted.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import google_crc32c
from pydantic import SecretStr

from keiba.common.errors import ConfigError
from keiba.common.secrets import check_secret_name

__all__ = ["LOOPBACK_HOSTS", "SecretManagerStore"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_TIMEOUT_S = 30.0


class SecretManagerStore:
    """Secrets of one Google Cloud project; the client is made on the first read."""

    def __init__(
        self, project: str, *, endpoint: str | None = None, credentials: Any = None
    ) -> None:
        if endpoint is not None and endpoint.startswith("http://"):
            if urlsplit(endpoint).hostname not in LOOPBACK_HOSTS:
                raise ConfigError(f"the Secret Manager endpoint {endpoint} must be https")
            if credentials is None:
                from google.auth.credentials import AnonymousCredentials

                credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
        self.project = project
        self.endpoint = endpoint
        self._credentials = credentials
        self._client: Any = None

    def __repr__(self) -> str:
        return f"SecretManagerStore({self.project!r})"

    def _service(self) -> Any:
        if self._client is None:
            from google.api_core.client_options import ClientOptions
            from google.cloud.secretmanager import SecretManagerServiceClient

            options = ClientOptions(api_endpoint=self.endpoint) if self.endpoint else None
            self._client = SecretManagerServiceClient(
                credentials=self._credentials, transport="rest", client_options=options
            )
        return self._client

    def get(self, name: str) -> SecretStr:
        from google.api_core import exceptions as api
        from google.auth import exceptions as auth

        version = f"projects/{self.project}/secrets/{check_secret_name(name)}/versions/latest"
        where = f"the secret {name} in Secret Manager (project {self.project})"
        try:
            response = self._service().access_secret_version(
                request={"name": version}, timeout=_TIMEOUT_S
            )
        except api.NotFound:
            raise ConfigError(f"{where} does not exist or has no enabled version") from None
        except (api.PermissionDenied, api.Forbidden):
            raise ConfigError(
                f"{where} may not be read: grant roles/secretmanager.secretAccessor"
            ) from None
        except (api.GoogleAPIError, auth.GoogleAuthError) as e:
            raise ConfigError(f"cannot read {where}: {type(e).__name__}") from None
        return SecretStr(_payload(response.payload, where))


def _payload(payload: Any, where: str) -> str:
    data = bytes(payload.data)
    if "data_crc32c" in payload and google_crc32c.value(data) != payload.data_crc32c:
        raise ConfigError(f"{where} arrived corrupted (its CRC32C checksum does not match)")
    try:
        value = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"{where} is not UTF-8 text") from None
    if not value:
        raise ConfigError(f"{where} is empty")
    return value
