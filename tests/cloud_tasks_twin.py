"""A loopback twin of Cloud Tasks' REST API: `POST v2/projects/P/locations/L/queues/Q/tasks`.

It records every task it creates (as the JSON the client sent) and, as Cloud Tasks does,
refuses a task whose name is already taken with Google's 409 ALREADY_EXISTS error. A queue not
in `queues` answers 404 NOT_FOUND.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from loopback import JsonAnswer, google_error, serving_json

_CREATE = re.compile(r"/v2/(projects/[^/]+/locations/[^/]+/queues/[^/]+)/tasks")


@dataclass
class CloudTasksTwin:
    queues: set[str] = field(default_factory=set)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)

    def answer(self, path: str, body: dict[str, Any]) -> JsonAnswer:
        match = _CREATE.fullmatch(path.split("?")[0])
        if match is None:
            return google_error(404, "NOT_FOUND", f"no such method: {path}")
        queue = match.group(1)
        if queue not in self.queues:
            return google_error(404, "NOT_FOUND", f"Queue does not exist: {queue}")
        task = dict(body["task"])
        name = task.get("name") or f"{queue}/tasks/{len(self.tasks) + 1}"
        if not name.startswith(f"{queue}/tasks/"):
            return google_error(400, "INVALID_ARGUMENT", f"task {name} is not in {queue}")
        if name in self.tasks:
            self.refused.append(name)
            return google_error(409, "ALREADY_EXISTS", "Requested entity already exists")
        task["name"] = name
        self.tasks[name] = task
        return 200, task


@contextmanager
def running(twin: CloudTasksTwin) -> Iterator[str]:
    """Serve `twin` on a free loopback port; yields its base URL."""

    def answer(
        method: str, path: str, headers: Mapping[str, str], body: dict[str, Any]
    ) -> JsonAnswer:
        if method != "POST":
            return google_error(404, "NOT_FOUND", f"no such method: {method} {path}")
        twin.authorizations.append(headers.get("Authorization"))
        return twin.answer(path, body)

    with serving_json(answer) as url:
        yield url
