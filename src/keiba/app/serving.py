"""What `keiba serve` reads and does, built from configuration: the API only parses, calls these
and returns what they give.

Reads go through the functions the commands use (`keiba.app.today`, `.bankroll`,
`.monitoring`, `.backtests`) or read the same stores read-only: the warehouse (DuckDB, opened
read-only per read and closed again), the ledger, the race-day journals, the object store's
models and MLflow's runs, and the backtest run directories. DuckDB lets one process write a
file and no other process open it meanwhile, so while `keiba run` holds the dataset the
warehouse reads raise `BusyError`; the ledger and the journals stay readable (SQLite in WAL
mode, or PostgreSQL).

Every operator action (resuming after a monitor stop, pausing or resuming the day, approving
a manual ticket list) is written to the ledger's audit chain as a `monitor` record of kind
`operator` naming the action, the token's name and what was done, before it is carried out.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from keiba.app.backtests import strategy_summaries
from keiba.app.bankroll import balance_status
from keiba.app.monitoring import monitor_report, monitor_status, resume_buying
from keiba.app.today import today_bets
from keiba.bankroll import Ledger
from keiba.common.clock import Clock, SystemClock
from keiba.common.config import KeibaConfig
from keiba.common.errors import KeibaError, StorageError
from keiba.common.storage import FsspecObjectStore, create_ledger_engine
from keiba.common.storage.datasets import dataset_names, open_dataset
from keiba.common.storage.warehouse import Warehouse
from keiba.execution.manual import MANUAL_COLUMNS
from keiba.scheduler import Journal, journal_path

__all__ = [
    "BusyError",
    "ConflictError",
    "NotFoundError",
    "NotKept",
    "ServingReads",
    "approve_manual_tickets",
    "day_plan",
    "manual_tickets",
    "model_evaluations",
    "model_versions",
    "only_kept",
    "pause_day",
    "readiness",
    "record_operator_action",
    "resume_after_stop",
]

OPERATOR = "operator"
"""The kind of the audit chain's `monitor` records of operator actions."""
T = TypeVar("T")


class NotFoundError(KeibaError):
    """What was asked for does not exist (a race, a day's journal, a run, a model)."""


class ConflictError(KeibaError):
    """The action cannot be done in the present state (nothing to resume, a list changed)."""


class BusyError(KeibaError):
    """Not now: the warehouse is held by another process (a race day), or what was asked is
    not ready yet; try again in `retry_after_s` seconds."""

    def __init__(self, message: str, retry_after_s: int = 30) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, retry_after_s)


def _day_of(race_id: str) -> dt.date:
    if len(race_id) != 16 or not race_id.isdigit():
        raise NotFoundError(f"{race_id!r} is not a race id (16 digits, YYYYMMDDJJKKNNRR)")
    try:
        return dt.date(int(race_id[:4]), int(race_id[4:6]), int(race_id[6:8]))
    except ValueError:
        raise NotFoundError(f"{race_id!r} is not a race id: it begins with no date") from None


_RACES_SQL = (
    "SELECT race_id, venue_code, race_no, post_time, race_name, grade, race_class, surface, "
    "distance_m, field_size FROM races WHERE race_date = ? ORDER BY post_time, race_id"
)
_RUNNERS_SQL = (
    "SELECT r.race_id, CAST(r.horse_no AS BIGINT) AS horse_no, r.horse_name, r.jockey_name, "
    "r.status FROM runners r JOIN races ra USING (race_id) WHERE ra.race_date = ? "
    "ORDER BY r.race_id, r.horse_no"
)
_CARDS_SQL = (
    "SELECT race_id, venue_code, race_no, post_time, race_name, grade, race_class, "
    "CAST(horse_no AS BIGINT) AS horse_no, horse_name FROM entries WHERE race_date = ? "
    "QUALIFY as_of = max(as_of) OVER (PARTITION BY race_id) ORDER BY post_time, race_id, horse_no"
)


def _imported(warehouse: Warehouse, day: dt.date) -> dict[str, dict[str, Any]]:
    if not warehouse.has_table("races"):
        return {}
    by_race: dict[str, list[dict[str, Any]]] = {}
    for row in warehouse.query(_RUNNERS_SQL, [day]).iter_rows(named=True):
        by_race.setdefault(row.pop("race_id"), []).append(row)
    return {
        r["race_id"]: {**r, "runners": by_race.get(r["race_id"], [])}
        for r in warehouse.query(_RACES_SQL, [day]).iter_rows(named=True)
    }


def _races_of(warehouse: Warehouse, day: dt.date) -> list[dict[str, Any]]:
    """The day's races with their runners: those imported or with a result, and the others
    from their latest card, in post-time order."""
    found = _imported(warehouse, day)
    if warehouse.has_table("entries"):
        cards: dict[str, dict[str, Any]] = {}
        for row in warehouse.query(_CARDS_SQL, [day]).iter_rows(named=True):
            runner = {"horse_no": row.pop("horse_no"), "horse_name": row.pop("horse_name")}
            cards.setdefault(row["race_id"], {**row, "runners": []})["runners"].append(runner)
        found |= {k: v for k, v in cards.items() if k not in found}
    return sorted(found.values(), key=lambda r: (r["post_time"], r["race_id"]))


RECENT_NS = 50_000_000
"""A file written less than this long ago (50 ms) is not cached: a second write within the
same tick of the file system's clock would leave its time and size unchanged."""


def files_stamp(*paths: Path) -> tuple[int, ...] | None:
    """What changes whenever one of the files is written (time and size of each, 0 for one
    that does not exist), or None when one was written just now."""
    stamp: list[int] = []
    now = time.time_ns()
    for path in paths:
        try:
            s = path.stat()
        except FileNotFoundError:
            stamp += [0, 0]
            continue
        if now - s.st_mtime_ns < RECENT_NS:
            return None
        stamp += [s.st_mtime_ns, s.st_size]
    return tuple(stamp)


def _sqlite_files(path: Path) -> tuple[Path, ...]:
    return (path, Path(f"{path}-wal"))


def _folder_files(root: Path, names: tuple[str, ...], *more: str) -> tuple[Path, ...]:
    """`root`, the files `more` in it, each folder in it and the files `names` in each: what
    changes when a folder (a backtest run, a model version) is added, removed or written."""
    try:
        folders = sorted(Path(e.path) for e in os.scandir(root) if e.is_dir())
    except (FileNotFoundError, NotADirectoryError):
        folders = []
    inside = (f / name for f in folders for name in names)
    return (root, *(root / m for m in more), *folders, *inside)


class NotKept(Exception):
    """Asked for a kept answer only (`only_kept`) and this one has to be read first."""


_ONLY_KEPT: ContextVar[bool] = ContextVar("only_kept", default=False)


@contextmanager
def only_kept() -> Iterator[None]:
    """Within the block, a read whose answer is not kept raises `NotKept` instead of reading
    its store (an event loop answers what it has and hands the rest to a worker thread)."""
    token = _ONLY_KEPT.set(True)
    try:
        yield
    finally:
        _ONLY_KEPT.reset(token)


class ServingReads:
    """The reads of one server, each kept until the files it came from change (the dataset's,
    the ledger's when it is SQLite, the day's journal's, the model versions' in a local object
    store, the backtest runs'). One read at a time fills an answer: requests arriving meanwhile
    for the same answer wait for it instead of reading again. The warehouse is opened one
    request at a time in this process: DuckDB refuses a read-only and a writing connection to
    one file in one process. `on_first_fill` is called after the first answer of each kind of
    read has been kept (the server settles its heap then)."""

    def __init__(
        self,
        config: KeibaConfig,
        *,
        cache_size: int = 256,
        on_first_fill: Callable[[], None] | None = None,
        journals: Callable[[dt.date], Path] | None = None,
    ) -> None:
        self.config = config
        self.on_first_fill = on_first_fill
        self.journal_of: Callable[[dt.date], Path] = journals or (
            lambda day: journal_path(config.home, day)
        )
        """Where a day's journal is: the live day's, or a replay's (`keiba.app.replay_watch`)."""
        self._db_lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._cache_size = cache_size
        self._filling: dict[tuple[Any, ...], Future[Any]] = {}
        self.waiting = 0
        """Reads now waiting for an answer another read is filling."""
        self._filled_kinds: set[str] = set()
        self._engine_lock = threading.Lock()
        self._ledger_engine: Engine | None = None
        self._ledger_opened: tuple[int, int] | None = None
        path = config.duckdb_path
        # a BigQuery dataset has no file to watch: it is read every time
        self._dataset_files = (
            (path, Path(f"{path}.wal")) if config.storage.warehouse == "duckdb" else None
        )
        url = config.ledger_url
        # another server's database is read every time
        self._ledger_files = (
            _sqlite_files(Path(url.removeprefix("sqlite:///")))
            if url.startswith("sqlite:///")
            else None
        )

    @contextmanager
    def _warehouse(self) -> Iterator[None]:
        with self._db_lock:
            try:
                yield
            except StorageError as e:
                if "in use" in str(e):
                    raise BusyError(
                        f"the dataset {self.config.storage.dataset!r} is in use by another "
                        "process (a race day writes it); try again later"
                    ) from None
                raise

    def exclusive(self) -> AbstractContextManager[None]:
        """The warehouse held against this server's reads while a race is decided (it writes)."""
        return self._warehouse()

    def _cached(
        self, key: tuple[Any, ...], files: tuple[Path, ...] | None, compute: Callable[[], T]
    ) -> T:
        stamp = None if files is None else files_stamp(*files)
        if _ONLY_KEPT.get():
            if stamp is None:
                raise NotKept
            with self._cache_lock:
                if (*key, stamp) not in self._cache:
                    raise NotKept
        if stamp is None:
            return compute()
        full = (*key, stamp)
        with self._cache_lock:
            if full in self._cache:
                self._cache.move_to_end(full)
                return self._cache[full]  # type: ignore[no-any-return]
            filling = self._filling.get(full)
            mine = filling is None
            if filling is None:
                filling = self._filling[full] = Future()
        if not mine:
            return self._wait(filling)  # type: ignore[no-any-return]
        try:
            value = compute()
        except BaseException as e:
            with self._cache_lock:
                del self._filling[full]
            filling.set_exception(e)
            raise
        with self._cache_lock:
            self._cache[full] = value
            del self._filling[full]
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            first = str(key[0]) not in self._filled_kinds
            self._filled_kinds.add(str(key[0]))
        filling.set_result(value)
        if first and self.on_first_fill is not None:
            self.on_first_fill()
        return value

    def _wait(self, filling: Future[T]) -> T:
        with self._cache_lock:
            self.waiting += 1
        try:
            return filling.result()
        finally:
            with self._cache_lock:
                self.waiting -= 1

    @contextmanager
    def _ledger(self, account: str) -> Iterator[Ledger]:
        with self._engine_lock:  # not the cache's: opening a database takes a while
            identity = self._ledger_identity()
            if self._ledger_engine is not None and identity != self._ledger_opened:
                self._ledger_engine.dispose()  # a new file in its place (a replay run afresh)
                self._ledger_engine = None
            if self._ledger_engine is None:
                self._ledger_engine = create_ledger_engine(self.config.ledger_url)
                self._ledger_opened = identity
            engine = self._ledger_engine
        yield Ledger.existing(engine, SystemClock(), account)

    def _ledger_identity(self) -> tuple[int, int] | None:
        """Which file a SQLite ledger is (device, inode): its connections read the file they
        opened, so a file removed and written anew must be opened again."""
        if self._ledger_files is None:
            return None
        try:
            found = os.stat(self._ledger_files[0])
        except OSError:
            return None
        return found.st_dev, found.st_ino

    def close(self) -> None:
        if self._ledger_engine is not None:
            self._ledger_engine.dispose()

    def races(self, day: dt.date) -> list[dict[str, Any]]:
        """The races of `day` with their runners and names."""

        def read() -> list[dict[str, Any]]:
            with self._warehouse(), open_dataset(self.config, read_only=True) as warehouse:
                return _races_of(warehouse, day)

        return self._cached(("races", day), self._dataset_files, read)

    def race(self, race_id: str, at: dt.datetime, account: str) -> dict[str, Any]:
        """The race as `keiba bet today --race` shows it at `at`: its latest odds, the model's,
        the market's and the combined probabilities, and Themis's decision with its reasons.
        Builds the race's features in the warehouse, as that command does."""
        day = _day_of(race_id)
        with self._warehouse():
            try:
                bets = today_bets(self.config, at, race_date=day, race_id=race_id, account=account)
            except KeibaError as e:
                if str(e).startswith(("no card", "no race cards")):
                    raise NotFoundError(str(e)) from None
                raise
        found = bets.to_dict()
        race = found.pop("races")[0]
        return {**found, "race": race}

    def balance(self, account: str) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            with self._ledger(account) as ledger:
                return balance_status(ledger)

        return self._cached(("balance", account), self._ledger_files, read)

    def entries(self, account: str) -> list[dict[str, Any]]:
        """The account's ledger entries, oldest first."""

        def read() -> list[dict[str, Any]]:
            with self._ledger(account) as ledger:
                return ledger.history()

        return self._cached(("entries", account), self._ledger_files, read)

    def tickets(self, account: str, state: str | None) -> list[dict[str, Any]]:
        """The account's tickets (all, or those in `state`), oldest first."""

        def read() -> list[dict[str, Any]]:
            with self._ledger(account) as ledger:
                return [r for r in ledger.tickets() if state is None or r["state"] == state]

        return self._cached(("tickets", account, state), self._ledger_files, read)

    def monitor_events(self, account: str) -> list[dict[str, Any]]:
        """Every monitor record of the account's audit chain (tiers, stops, resumes, operator
        actions), oldest first."""

        def read() -> list[dict[str, Any]]:
            with self._ledger(account) as ledger:
                return ledger.monitor_events()

        return self._cached(("events", account), self._ledger_files, read)

    def monitor_state(self, account: str) -> dict[str, Any]:
        """`keiba monitor status`'s report."""

        def read() -> dict[str, Any]:
            with self._ledger(account) as ledger:
                return monitor_report(ledger, self.config.monitor.drawdown_tiers, last=0)

        return self._cached(("monitor", account), self._ledger_files, read)

    def plan(self, day: dt.date) -> dict[str, Any]:
        """The day's plan from its journal (`day_plan`)."""
        journal = self.journal_of(day)
        files = _sqlite_files(journal)
        return self._cached(("plan", day), files, lambda: day_plan(self.config, day, journal))

    def models(self) -> list[dict[str, Any]]:
        """`model_versions`, kept while the object store is a local folder."""
        root = self.config.object_store_url
        files = None
        if "://" not in root or root.startswith("file://"):
            models = Path(root.removeprefix("file://")) / "models"
            files = _folder_files(models, ("training.json", "combination.json"), "latest.json")
        return self._cached(("models",), files, lambda: model_versions(self.config))

    def backtests(self) -> list[dict[str, Any]]:
        """`backtest_runs`."""
        runs = self.config.home / "backtests"
        files = _folder_files(runs, ("result.json", "report.html"))
        return self._cached(("backtests",), files, lambda: backtest_runs(self.config))


def readiness(config: KeibaConfig) -> dict[str, Any]:
    """Whether the ledger answers and the selected dataset exists."""
    try:
        known = config.storage.dataset in dataset_names(config)
        checks = {"dataset": "ok" if known else "missing"}
    except StorageError:
        checks = {"dataset": "unreachable"}
    engine = create_ledger_engine(config.ledger_url)
    try:
        with engine.connect():
            checks["ledger"] = "ok"
    except (StorageError, SQLAlchemyError):
        checks["ledger"] = "unreachable"
    finally:
        engine.dispose()
    ok = all(v == "ok" for v in checks.values())
    return {"status": "ready" if ok else "degraded", "checks": checks}


# --- the race day's journal ----------------------------------------------------------------------


@contextmanager
def _journal(config: KeibaConfig, day: dt.date, path: Path | None) -> Iterator[Journal]:
    path = path or journal_path(config.home, day)
    if not path.exists():
        raise NotFoundError(f"no race-day journal for {day} (keiba run --date {day} writes it)")
    journal = Journal(path)
    try:
        yield journal
    finally:
        journal.close()


def day_plan(config: KeibaConfig, day: dt.date, journal_file: Path | None = None) -> dict[str, Any]:
    """The day's plan from its journal (the live day's, or the one at `journal_file`): each
    race's steps and outcome, and the pause state."""
    with _journal(config, day, journal_file) as journal:
        plan = journal.plan()
        outcomes = journal.outcomes()
        pause = journal.pause()
        states = journal.states()
        steps: dict[str, list[dict[str, Any]]] = {}
        for step in plan.steps if plan else ():
            state = states[step.step_id]
            steps.setdefault(step.race_id, []).append(
                {
                    "kind": step.kind.value,
                    "due": step.due,
                    "deadline": step.deadline,
                    "state": state,
                }
            )
    races = []
    for slot in plan.races if plan else ():
        outcome = outcomes.get(slot.race_id)
        races.append(
            {
                "race_id": slot.race_id,
                "venue": slot.venue.name.title(),
                "race_no": slot.race_no,
                "post_time": slot.post_time,
                "outcome": None if outcome is None else outcome.outcome.value,
                "reason": None if outcome is None else outcome.reason,
                "detail": {} if outcome is None else dict(outcome.detail),
                "step_counts": dict(
                    sorted(Counter(str(s["state"]) for s in steps.get(slot.race_id, [])).items())
                ),
                "steps": steps.get(slot.race_id, []),
            }
        )
    return {
        "race_date": day,
        "planned": plan is not None,
        "paused": pause.paused,
        "paused_by": pause.operator,
        "pause_reason": pause.reason,
        "pause_at": pause.at,
        "races": races,
    }


# --- the ledger ----------------------------------------------------------------------------------


def record_operator_action(
    config: KeibaConfig, account: str, clock: Clock, action: str, payload: dict[str, Any]
) -> int:
    """Write an operator action to the audit chain; its sequence number."""
    engine = create_ledger_engine(config.ledger_url)
    try:
        ledger = Ledger.existing(engine, clock, account)
        return ledger.record_monitor_event(OPERATOR, {"action": action, **payload})
    finally:
        engine.dispose()


def resume_after_stop(
    config: KeibaConfig, account: str, clock: Clock, operator: str, reason: str
) -> dict[str, Any]:
    """Lift the monitor's latched stop (`keiba monitor resume`), recorded as the operator's."""
    if not monitor_status(config, account, last=0)["stopped"]:
        raise ConflictError(f"nothing to resume: no drawdown stop is latched for {account!r}")
    record_operator_action(
        config, account, clock, "resume_buying", {"operator": operator, "reason": reason}
    )
    return resume_buying(config, account, operator, reason, clock)


def pause_day(
    config: KeibaConfig,
    account: str,
    clock: Clock,
    day: dt.date,
    *,
    paused: bool,
    operator: str,
    reason: str,
    journal_file: Path | None = None,
) -> dict[str, Any]:
    """Pause the race day (no decision until resumed) or resume it, in the day's journal (the
    live day's, or the one at `journal_file`)."""
    action = "pause_day" if paused else "resume_day"
    with _journal(config, day, journal_file) as journal:
        if journal.pause().paused == paused:
            raise ConflictError(f"the day {day} is already {'paused' if paused else 'running'}")
        payload = {"operator": operator, "reason": reason, "race_date": day.isoformat()}
        record_operator_action(config, account, clock, action, payload)
        journal.set_paused(paused, operator, reason, clock.now())
    return day_plan(config, day, journal_file)


# --- manual tickets ------------------------------------------------------------------------------


def _tickets_file(config: KeibaConfig, day: dt.date) -> Path:
    return config.path(config.execution.manual_dir) / f"tickets-{day:%Y%m%d}.csv"


def manual_tickets(config: KeibaConfig, day: dt.date) -> dict[str, Any]:
    """The day's ticket list the manual broker wrote for a person, and its SHA-256 (what an
    approval names)."""
    path = _tickets_file(config, day)
    if not path.exists():
        raise NotFoundError(f"no manual ticket list for {day} ({path.name})")
    data = path.read_bytes()
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    tickets = [{c: row.get(c, "") for c in MANUAL_COLUMNS} for row in rows]
    for t in tickets:
        t["stake_yen"] = int(t["stake_yen"] or 0)
    return {
        "race_date": day,
        "sha256": hashlib.sha256(data).hexdigest(),
        "tickets": tickets,
        "total_yen": sum(t["stake_yen"] for t in tickets),
    }


def approve_manual_tickets(
    config: KeibaConfig, account: str, clock: Clock, day: dt.date, sha256: str, operator: str
) -> dict[str, Any]:
    """Record that `operator` approved exactly the list whose SHA-256 is `sha256`; a list
    that changed since it was read is refused. Nothing is bought or reconciled here."""
    listed = manual_tickets(config, day)
    if listed["sha256"] != sha256:
        raise ConflictError(
            "the ticket list changed since it was read (its SHA-256 differs): read it again"
        )
    seq = record_operator_action(
        config,
        account,
        clock,
        "approve_manual_tickets",
        {
            "operator": operator,
            "race_date": day.isoformat(),
            "sha256": sha256,
            "tickets": [t["ticket_id"] for t in listed["tickets"]],
            "total_yen": listed["total_yen"],
        },
    )
    return {**listed, "approved_by": operator, "audit_seq": seq}


# --- models and backtests ------------------------------------------------------------------------


def model_versions(config: KeibaConfig) -> list[dict[str, Any]]:
    """Every stored model version with its training record and market stage, newest first."""
    store = FsspecObjectStore(config.object_store_url)
    keys = store.list("models")
    latest = None
    if "models/latest.json" in keys:
        latest = json.loads(store.get("models/latest.json")).get("version")
    found = []
    for key in sorted(keys, reverse=True):
        parts = key.split("/")
        if len(parts) == 3 and parts[2] == "training.json":
            version = parts[1]
            training = json.loads(store.get(key))
            combination_key = f"models/{version}/combination.json"
            combination = (
                json.loads(store.get(combination_key)) if combination_key in keys else None
            )
            found.append(
                {
                    "version": version,
                    "latest": version == latest,
                    "dataset": training.get("dataset"),
                    "periods": training.get("periods"),
                    "combination": combination,
                    "mlflow_run_id": training.get("mlflow_run_id"),
                }
            )
    return found


def model_evaluations(config: KeibaConfig, version: str) -> list[dict[str, Any]]:
    """The MLflow runs that trained or evaluated `version`, with their metrics, newest first."""
    if version not in {m["version"] for m in model_versions(config)}:
        raise NotFoundError(f"no model version {version!r} is stored")
    from mlflow.tracking import MlflowClient

    from keiba.model_training.tracking import tracking_of

    tracking = tracking_of(config.home, config.model.tracking_uri, config.model.experiment)
    client = MlflowClient(tracking.uri)
    experiment = client.get_experiment_by_name(tracking.experiment)
    if experiment is None:
        return []
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`keiba.model_version` = '{version}'",
        order_by=["attributes.start_time DESC"],
    )
    return [
        {
            "run_id": run.info.run_id,
            "kind": run.data.tags.get("keiba.kind", ""),
            "name": run.info.run_name or "",
            "started_at": dt.datetime.fromtimestamp(run.info.start_time / 1000, dt.UTC),
            "metrics": dict(run.data.metrics),
        }
        for run in runs
    ]


def _runs(config: KeibaConfig) -> dict[str, Path]:
    """Run id (its directory's name) → directory, of every finished run under the home."""
    found = (p for p in (config.home / "backtests").glob("*") if (p / "result.json").exists())
    return {p.name: p for p in sorted(found, reverse=True)}


def _result(path: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((path / "result.json").read_text(encoding="utf-8"))
    return result


def backtest_runs(config: KeibaConfig) -> list[dict[str, Any]]:
    """Every finished backtest run under the home, newest first, with its period."""
    return [
        {
            "run_id": run_id,
            "period": _result(path).get("period"),
            "has_report": (path / "report.html").exists(),
        }
        for run_id, path in _runs(config).items()
    ]


def backtest_report(config: KeibaConfig, run_id: str) -> dict[str, Any]:
    """A run's strategies as `keiba backtest report` summarises them, and its caveats."""
    path = _runs(config).get(run_id)
    if path is None:
        raise NotFoundError(f"no backtest run {run_id!r}")
    result = _result(path)
    return {
        "run_id": run_id,
        "period": result.get("period"),
        "strategies": strategy_summaries(result),
        "caveats": list(result.get("caveats") or []),
    }
