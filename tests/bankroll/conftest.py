"""Ledger databases for the tests: SQLite files, and PostgreSQL on loopback.

PostgreSQL: `KEIBA_TEST_POSTGRES_URL` names a running server to use; otherwise one throwaway
cluster is started by `scripts/pg-test-server.sh` in a fixed folder under the temp dir, shared
by every test process on the machine (a file lock guards start and stop; each process registers
itself, and the last one out stops the server). Every test gets its own schema, so pytest-xdist
workers and parallel runs never see each other's tables. Without the binaries the PostgreSQL
tests are skipped, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "pg-test-server.sh"
BASE = Path(tempfile.gettempdir()) / f"keiba-pg-test-{os.getuid()}"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@contextmanager
def _locked() -> Iterator[None]:
    with open(f"{BASE}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    given = os.environ.get("KEIBA_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    found = subprocess.run([SCRIPT, "bindir"], capture_output=True, text=True, check=False)
    if found.returncode != 0:
        message = f"PostgreSQL binaries not found ({found.stderr.strip()}); run `make test`"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    users = Path(f"{BASE}.users")
    with _locked():
        users.mkdir(exist_ok=True)
        port_file = BASE / "port"
        port = port_file.read_text().strip() if port_file.exists() else str(_free_port())
        started = subprocess.run(
            [SCRIPT, "start", str(BASE), port], capture_output=True, text=True, check=False
        )
        if started.returncode != 0:
            pytest.fail(f"cannot start the test PostgreSQL server: {started.stderr}")
        (users / str(os.getpid())).touch()
    try:
        yield started.stdout.strip()
    finally:
        with _locked():
            (users / str(os.getpid())).unlink(missing_ok=True)
            for user in users.iterdir():
                if not _alive(int(user.name)):
                    user.unlink(missing_ok=True)
            if not any(users.iterdir()):
                subprocess.run([SCRIPT, "stop", str(BASE)], check=False, capture_output=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty ledger database URL on each engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        return
    admin = request.getfixturevalue("postgres_admin_url")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = make_url(admin).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        engine.dispose()


@pytest.fixture
def make_engine(db_url: str) -> Iterator[Callable[[], sa.Engine]]:
    """Engines on `db_url` (as separate processes would have), all disposed after the test."""
    from keiba.common.storage import create_ledger_engine

    made: list[sa.Engine] = []

    def make() -> sa.Engine:
        made.append(create_ledger_engine(db_url))
        return made[-1]

    yield make
    for engine in made:
        engine.dispose()


@pytest.fixture
def attacker() -> Callable[..., None]:
    """`attacker(engine, *statements)`: see `tamper_with`."""
    return tamper_with


def tamper_with(engine: sa.Engine, *statements: str) -> None:
    """Run `statements` as someone who can write the database file or is its owner would:
    with the ledger's triggers, CHECKs and foreign keys out of the way (SQLite: triggers
    dropped, the rest switched off; PostgreSQL: CHECKs dropped, and triggers and foreign keys
    off by `session_replication_role = replica`, which needs a superuser)."""
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA foreign_keys=OFF")
            cursor.execute("PRAGMA ignore_check_constraints=ON")
            names = cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            for (name,) in names.fetchall():
                cursor.execute(f"DROP TRIGGER {name}")
            for statement in statements:
                cursor.execute(statement)
            raw.commit()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA ignore_check_constraints=OFF")
        finally:
            raw.close()
        return
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        checks = conn.exec_driver_sql(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'c' "
            "AND connamespace = current_schema()::regnamespace"
        ).all()
        for table, name in checks:
            conn.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for statement in statements:
            conn.execute(sa.text(statement))
