"""The four IPAT credentials, from the environment, a private file or a secret store, never shown.

`IpatCredentials` holds INET-ID, 加入者番号, 暗証番号 and P-ARS番号; its repr and str show none
of them, and a malformed value is reported by its name only. A `SecretsProvider` hands them
over when the broker logs in: `EnvSecrets` reads `IPAT_INETID`, `IPAT_SUBSCRIBER`, `IPAT_PIN`
and `IPAT_PARS`; `FileSecrets` reads `key = value` lines (`inetid`, `subscriber`, `pin`,
`pars`) from a file that only its owner may read; `StoreSecrets` reads the same lines from
the secret `ipat-credentials` of a `SecretStore` (e.g. Google Secret Manager).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from keiba.common.errors import ConfigError
from keiba.common.secrets import IPAT_CREDENTIALS, SecretStore

__all__ = [
    "ENV_NAMES",
    "EnvSecrets",
    "FileSecrets",
    "IpatCredentials",
    "SecretsProvider",
    "StoreSecrets",
]

ENV_NAMES = {
    "inetid": "IPAT_INETID",
    "subscriber": "IPAT_SUBSCRIBER",
    "pin": "IPAT_PIN",
    "pars": "IPAT_PARS",
}
_RULES = {
    "inetid": ("INET-ID", None),
    "subscriber": ("加入者番号", 8),
    "pin": ("暗証番号", 4),
    "pars": ("P-ARS番号", 4),
}


@dataclass(frozen=True)
class IpatCredentials:
    """INET-ID, 加入者番号 (8 digits), 暗証番号 (4) and P-ARS番号 (4); never printed."""

    inetid: str = field(repr=False)
    subscriber: str = field(repr=False)
    pin: str = field(repr=False)
    pars: str = field(repr=False)

    def __post_init__(self) -> None:
        for name, (label, digits) in _RULES.items():
            value = getattr(self, name)
            if digits is None:
                if not value or not value.isascii() or not value.isalnum():
                    raise ConfigError(f"the IPAT {label} must be letters and digits")
            elif len(value) != digits or not value.isascii() or not value.isdigit():
                raise ConfigError(f"the IPAT {label} must be {digits} digits")

    def __repr__(self) -> str:
        return "IpatCredentials(<hidden>)"

    __str__ = __repr__

    @property
    def values(self) -> tuple[str, ...]:
        """The four secrets, to keep them out of any text the broker writes."""
        return (self.inetid, self.subscriber, self.pin, self.pars)


class SecretsProvider(Protocol):
    def ipat_credentials(self) -> IpatCredentials:
        """The credentials, read when asked (never cached in the broker)."""
        ...


class EnvSecrets:
    """Credentials from `IPAT_INETID`, `IPAT_SUBSCRIBER`, `IPAT_PIN`, `IPAT_PARS`."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ

    def __repr__(self) -> str:
        return "EnvSecrets()"

    def ipat_credentials(self) -> IpatCredentials:
        environ = os.environ if self._environ is None else self._environ
        missing = [v for v in ENV_NAMES.values() if not environ.get(v)]
        if missing:
            raise ConfigError(
                f"IPAT credentials missing from the environment: {', '.join(missing)}"
            )
        return IpatCredentials(**{k: environ[v].strip() for k, v in ENV_NAMES.items()})


class FileSecrets:
    """Credentials from `key = value` lines in a file only its owner can read (mode 600)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"FileSecrets({str(self.path)!r})"

    def ipat_credentials(self) -> IpatCredentials:
        try:
            mode = self.path.stat().st_mode
            text = self.path.read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(
                f"cannot read the IPAT secrets file {self.path}: {e.strerror}"
            ) from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"the IPAT secrets file {self.path} is readable by others: chmod 600 it"
            )
        return _parse(text, str(self.path))


class StoreSecrets:
    """Credentials from the secret `name` of `store`, in the file's `key = value` lines."""

    def __init__(self, store: SecretStore, name: str = IPAT_CREDENTIALS) -> None:
        self.store = store
        self.name = name

    def __repr__(self) -> str:
        return f"StoreSecrets({self.store!r}, {self.name!r})"

    def ipat_credentials(self) -> IpatCredentials:
        return _parse(self.store.get(self.name).get_secret_value(), f"the secret {self.name}")


def _parse(text: str, where: str) -> IpatCredentials:
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or key.strip() not in ENV_NAMES:
            raise ConfigError(
                f"{where}: line {number}: expected one of {', '.join(ENV_NAMES)} = value"
            )
        values[key.strip()] = value.strip()
    missing = [k for k in ENV_NAMES if not values.get(k)]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}")
    return IpatCredentials(**values)
