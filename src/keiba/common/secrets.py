"""Named secrets (IPAT credentials, API tokens, webhook URLs) behind one small interface.

A `SecretStore` hands over a secret by its name as a `pydantic.SecretStr`, which prints as
`**********`; no store keeps values in its repr, and a secret that cannot be read is one
`ConfigError` line naming the secret and where it was looked for, never its value.

Three stores, chosen by `secrets.provider` (`secret_store_from_config`):

- `env`: the variable `KEIBA_SECRET_<NAME>` (the name upper-cased, `-` as `_`);
- `file`: the file `<secrets.directory>/<name>`, readable by its owner only (mode 600);
- `secret-manager`: the latest version of `projects/<secrets.project>/secrets/<name>` in
  Google Secret Manager (`keiba.common.secret_manager`).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pydantic import SecretStr

from keiba.common.errors import ConfigError

if TYPE_CHECKING:
    from keiba.common.config import KeibaConfig

__all__ = [
    "ALERT_WEBHOOK_URL",
    "API_TOKEN",
    "ENV_PREFIX",
    "IPAT_CREDENTIALS",
    "EnvSecretStore",
    "FileSecretStore",
    "SecretStore",
    "check_secret_name",
    "env_name",
    "secret_store_from_config",
]

IPAT_CREDENTIALS = "ipat-credentials"
API_TOKEN = "api-token"  # noqa: S105 (the name of a secret, not its value)
ALERT_WEBHOOK_URL = "alert-webhook-url"
ENV_PREFIX = "KEIBA_SECRET_"
# Secret Manager's rule for secret ids, which the other stores follow too.
_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")


class SecretStore(Protocol):
    def get(self, name: str) -> SecretStr:
        """The secret `name`, read when asked; a `ConfigError` naming it if it cannot be."""
        ...


def check_secret_name(name: str) -> str:
    """`name` if it is a valid secret name (letters, digits, `-` and `_`), else a ConfigError."""
    if not _NAME.fullmatch(name):
        raise ConfigError(f"{name!r} is not a secret name: use letters, digits, - and _")
    return name


def env_name(name: str) -> str:
    """The environment variable the `env` store reads secret `name` from."""
    return ENV_PREFIX + check_secret_name(name).upper().replace("-", "_")


class EnvSecretStore:
    """Secrets from `KEIBA_SECRET_<NAME>` variables (`alert-webhook-url`:
    `KEIBA_SECRET_ALERT_WEBHOOK_URL`)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ

    def __repr__(self) -> str:
        return "EnvSecretStore()"

    def get(self, name: str) -> SecretStr:
        variable = env_name(name)
        environ = os.environ if self._environ is None else self._environ
        value = environ.get(variable, "").strip()
        if not value:
            raise ConfigError(f"the secret {name} is not set: set the variable {variable}")
        return SecretStr(value)


class FileSecretStore:
    """Secrets from files named after them in `directory`, each readable by its owner only."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __repr__(self) -> str:
        return f"FileSecretStore({str(self.directory)!r})"

    def get(self, name: str) -> SecretStr:
        path = self.directory / check_secret_name(name)
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"cannot read the secret {name} from {path}: {e.strerror}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"the secret file {path} is readable by others: chmod 600 it")
        value = text.strip()
        if not value:
            raise ConfigError(f"the secret {name} is empty in {path}")
        return SecretStr(value)


def secret_store_from_config(config: KeibaConfig) -> SecretStore:
    """The store `secrets.provider` names; nothing is read until a secret is asked for."""
    secrets = config.secrets
    if secrets.provider == "file":
        return FileSecretStore(config.path(secrets.directory))
    if secrets.provider == "secret-manager":
        from keiba.common.secret_manager import SecretManagerStore

        assert secrets.project is not None  # the configuration requires it
        return SecretManagerStore(secrets.project, endpoint=secrets.endpoint)
    return EnvSecretStore()
