"""A loopback twin of Secret Manager's REST API: `GET v1/projects/P/secrets/S/versions/V:access`.

It answers as the real API does: the payload base64-encoded with its CRC32C checksum, `latest`
meaning the newest enabled version, and Google's JSON errors (404 NOT_FOUND, 403
PERMISSION_DENIED). It records every request's path and Authorization header.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import google_crc32c

from loopback import JsonAnswer, google_error, serving_json

_ACCESS = re.compile(r"/v1/projects/([^/]+)/secrets/([^/]+)/versions/([^/:]+):access")


@dataclass
class SecretManagerTwin:
    """Versions of each `(project, secret)`, oldest first; `denied` secrets answer 403,
    `corrupt` ones carry a wrong checksum and `unchecked` ones none (it is optional)."""

    versions: dict[tuple[str, str], list[bytes]] = field(default_factory=dict)
    denied: set[tuple[str, str]] = field(default_factory=set)
    corrupt: set[tuple[str, str]] = field(default_factory=set)
    unchecked: set[tuple[str, str]] = field(default_factory=set)
    requests: list[tuple[str, str | None]] = field(default_factory=list)

    def add(self, project: str, secret: str, value: bytes) -> None:
        self.versions.setdefault((project, secret), []).append(value)

    def answer(self, path: str) -> JsonAnswer:
        match = _ACCESS.fullmatch(path.split("?")[0])
        if match is None:
            return google_error(404, "NOT_FOUND", f"no such method: {path}")
        project, secret, version = match.groups()
        key = (project, secret)
        if key in self.denied:
            return google_error(403, "PERMISSION_DENIED", "Permission denied on resource")
        values = self.versions.get(key, [])
        number = len(values) if version == "latest" else int(version)
        if not 1 <= number <= len(values):
            return google_error(
                404, "NOT_FOUND", f"Secret [{secret}] not found or has no versions."
            )
        data = values[number - 1]
        checksum = google_crc32c.value(data) + (1 if key in self.corrupt else 0)
        name = f"projects/{project}/secrets/{secret}/versions/{number}"
        payload = {"data": base64.b64encode(data).decode()}
        if key not in self.unchecked:
            payload["dataCrc32c"] = str(checksum)
        return 200, {"name": name, "payload": payload}


@contextmanager
def running(twin: SecretManagerTwin) -> Iterator[str]:
    """Serve `twin` on a free loopback port; yields its base URL."""

    def answer(method: str, path: str, headers: Mapping[str, str], _body: object) -> JsonAnswer:
        twin.requests.append((path.split("?")[0], headers.get("Authorization")))
        if method != "GET":
            return google_error(404, "NOT_FOUND", f"no such method: {method} {path}")
        return twin.answer(path)

    with serving_json(answer) as url:
        yield url
