"""A loopback twin of Cloud Tasks' REST API: `POST v2/projects/P/locations/L/queues/Q/tasks`.

It records every task it creates (as the JSON the client sent) and, as Cloud Tasks does,
refuses a task whose name is already taken with Google's 409 ALREADY_EXISTS error. A queue not
in `queues` answers 404 NOT_FOUND.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from loopback import serving

_CREATE = re.compile(r"/v2/(projects/[^/]+/locations/[^/]+/queues/[^/]+)/tasks")


@dataclass
class CloudTasksTwin:
    queues: set[str] = field(default_factory=set)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        match = _CREATE.fullmatch(path.split("?")[0])
        if match is None:
            return _error(404, "NOT_FOUND", f"no such method: {path}")
        queue = match.group(1)
        if queue not in self.queues:
            return _error(404, "NOT_FOUND", f"Queue does not exist: {queue}")
        task = dict(body["task"])
        name = task.get("name") or f"{queue}/tasks/{len(self.tasks) + 1}"
        if not name.startswith(f"{queue}/tasks/"):
            return _error(400, "INVALID_ARGUMENT", f"task {name} is not in {queue}")
        if name in self.tasks:
            self.refused.append(name)
            return _error(409, "ALREADY_EXISTS", "Requested entity already exists")
        task["name"] = name
        self.tasks[name] = task
        return 200, task


def _error(code: int, status: str, message: str) -> tuple[int, dict[str, Any]]:
    return code, {"error": {"code": code, "message": message, "status": status}}


@contextmanager
def running(twin: CloudTasksTwin) -> Iterator[str]:
    """Serve `twin` on a free loopback port; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            twin.authorizations.append(self.headers.get("Authorization"))
            length = int(self.headers.get("Content-Length", "0"))
            status, body = twin.answer(self.path, json.loads(self.rfile.read(length) or b"{}"))
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(Handler) as url:
        yield url
