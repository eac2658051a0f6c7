"""Named Cloud Tasks tasks per race: its decision, due at its decision time, and its
settlement, due at its first settlement try.

On Google Cloud a race day is not one long process. `decide_tasks` turns the day's plan into
one `RaceTask` per race, scheduled when the plan's `decide` step is due (close less the
decision lead) and named after the dataset, the race and the step (`decide-<dataset>-<race>`),
so putting the day on the queue twice creates nothing new: the queue refuses a second task of
the same name, which `TaskQueue.create` reports as "already queued". `settle_tasks` does the
same for the first `settle` step (`settle-<dataset>-<race>`); the queue's retries, not more
tasks, bring the further tries. `CloudTasksQueue` puts them on a Cloud Tasks queue (the
official client over its REST transport) as HTTP POSTs to the service's decide or settle route
with an OIDC token for the service, signed as the invoker account.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from keiba.common.errors import ConfigError, KeibaError
from keiba.common.ids import NetkeibaRaceId
from keiba.scheduler.timeline import Plan, StepKind

__all__ = [
    "CloudTasksQueue",
    "RaceTask",
    "TaskQueue",
    "decide_path",
    "decide_tasks",
    "settle_path",
    "settle_tasks",
    "task_id",
]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
_TIMEOUT_S = 30.0
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def task_id(kind: str, dataset: str, race_key: str) -> str:
    """The task's id in its queue: letters, digits, `-` and `_` only (Cloud Tasks' rule)."""
    return f"{kind}-{_UNSAFE.sub('_', dataset)}-{race_key}"


def decide_path(race_key: str) -> str:
    """The service's route that decides one race (the 16-digit race key)."""
    return f"/races/{race_key}/decide"


def settle_path(race_key: str) -> str:
    """The service's route that settles one race (the 16-digit race key)."""
    return f"/races/{race_key}/settle"


@dataclass(frozen=True, slots=True)
class RaceTask:
    """A race's decision or settlement on the queue: its id, when it runs, the route it calls."""

    task_id: str
    race_key: str
    schedule_time: dt.datetime
    path: str

    def body(self) -> bytes:
        return json.dumps({"race_id": self.race_key}).encode()


def _tasks(plan: Plan, dataset: str, kind: StepKind, path: Callable[[str], str]) -> list[RaceTask]:
    """One task per race, due when its first step of `kind` is due."""
    tasks: dict[str, RaceTask] = {}
    for step in plan.steps:
        if step.kind is not kind or step.race_id in tasks:
            continue
        key = str(NetkeibaRaceId.parse(step.race_id).to_race_key(plan.race_date))
        name = task_id(kind.value, dataset, key)
        tasks[step.race_id] = RaceTask(name, key, step.due, path(key))
    return list(tasks.values())


def decide_tasks(plan: Plan, dataset: str) -> list[RaceTask]:
    """One task per race of the plan, due when its `decide` step is due."""
    return _tasks(plan, dataset, StepKind.DECIDE, decide_path)


def settle_tasks(plan: Plan, dataset: str) -> list[RaceTask]:
    """One task per race of the plan, due when its first `settle` try is due."""
    return _tasks(plan, dataset, StepKind.SETTLE, settle_path)


class TaskQueue(Protocol):
    """Where tasks are put; a task whose name is already taken is not created again."""

    def create(self, task: RaceTask) -> bool:
        """True when the task was created, False when one of its name already exists."""
        ...


class CloudTasksQueue:
    """A Cloud Tasks queue whose tasks POST to `target_url` with an OIDC token.

    The token is minted by Cloud Tasks for `invoker_email` with `audience` (default: the
    target's origin, the Cloud Run service's URL). `endpoint` replaces Google's API host; a
    plain `http://` endpoint must be on loopback (a local twin) and gets no credentials.
    """

    def __init__(
        self,
        queue: str,
        target_url: str,
        invoker_email: str,
        *,
        audience: str | None = None,
        endpoint: str | None = None,
        credentials: Any = None,
    ) -> None:
        if not queue.startswith("projects/") or "/queues/" not in queue:
            raise ConfigError(f"a queue is projects/P/locations/L/queues/Q, not {queue!r}")
        target = urlsplit(target_url)
        if target.scheme != "https" and target.hostname not in LOOPBACK_HOSTS:
            raise ConfigError(f"the tasks' target {target_url} must be https")
        if endpoint is not None and endpoint.startswith("http://"):
            if urlsplit(endpoint).hostname not in LOOPBACK_HOSTS:
                raise ConfigError(f"the Cloud Tasks endpoint {endpoint} must be https")
            if credentials is None:
                from google.auth.credentials import AnonymousCredentials

                credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
        self.queue = queue
        self.target_url = target_url.rstrip("/")
        self.invoker_email = invoker_email
        self.audience = audience or f"{target.scheme}://{target.netloc}"
        self.endpoint = endpoint
        self._credentials = credentials
        self._client: Any = None

    def _service(self) -> Any:
        if self._client is None:
            from google.api_core.client_options import ClientOptions
            from google.cloud.tasks_v2 import CloudTasksClient

            options = ClientOptions(api_endpoint=self.endpoint) if self.endpoint else None
            self._client = CloudTasksClient(
                credentials=self._credentials, transport="rest", client_options=options
            )
        return self._client

    def request(self, task: RaceTask) -> dict[str, Any]:
        """The task as Cloud Tasks receives it."""
        return {
            "name": f"{self.queue}/tasks/{task.task_id}",
            "schedule_time": task.schedule_time,
            "http_request": {
                "http_method": "POST",
                "url": self.target_url + task.path,
                "headers": {"Content-Type": "application/json"},
                "body": task.body(),
                "oidc_token": {
                    "service_account_email": self.invoker_email,
                    "audience": self.audience,
                },
            },
        }

    def create(self, task: RaceTask) -> bool:
        from google.api_core import exceptions as api
        from google.auth import exceptions as auth

        try:
            self._service().create_task(
                parent=self.queue, task=self.request(task), timeout=_TIMEOUT_S
            )
        except api.Conflict as e:
            if _already_exists(e):
                return False
            raise KeibaError(f"cannot queue {task.task_id} on {self.queue}: {e.message}") from None
        except (api.GoogleAPIError, auth.GoogleAuthError) as e:
            raise KeibaError(
                f"cannot queue {task.task_id} on {self.queue}: {type(e).__name__}"
            ) from None
        return True


def _already_exists(error: Any) -> bool:
    """A 409 that is ALREADY_EXISTS (over REST the client raises a plain `Conflict`)."""
    if type(error).__name__ == "AlreadyExists":
        return True
    try:
        status = error.response.json()["error"]["status"]
    except (AttributeError, KeyError, TypeError, ValueError):
        return False
    return bool(status == "ALREADY_EXISTS")
