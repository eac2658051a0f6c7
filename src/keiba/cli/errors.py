"""What the `keiba` command says when something goes wrong: one line, never a traceback.

`describe` turns any exception into one sentence that says what and where. A `KeibaError`
already is one; errors of the storage engines, the file system and the operating system are
recognised and reworded; anything else is reported as an internal error with a hint to rerun
with `--log-level debug`, which prints the traceback too.
"""

from __future__ import annotations

import sqlite3

from keiba.common.errors import KeibaError

__all__ = ["INTERNAL_ERROR_EXIT", "USER_ERROR_EXIT", "describe", "is_internal"]

USER_ERROR_EXIT = 1
INTERNAL_ERROR_EXIT = 70
"""EX_SOFTWARE: keiba itself failed; the message asks for the traceback."""


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _sqlalchemy(e: Exception) -> str | None:
    try:
        from sqlalchemy.exc import DBAPIError, OperationalError
    except ImportError:  # pragma: no cover - sqlalchemy is a dependency
        return None
    if not isinstance(e, DBAPIError):
        return None
    original = str(e.orig) if e.orig is not None else str(e)
    reason = _first_line(original)
    url = " (storage.ledger_url)" if isinstance(e, OperationalError) else ""
    if "file is not a database" in reason or "malformed" in reason:
        return f"the ledger database is not a valid SQLite database{url}: {reason}"
    if "readonly" in reason or "read-only" in reason:
        return f"the ledger database cannot be written{url}: {reason}"
    if "unable to open database file" in reason:
        return f"the ledger database cannot be opened{url}: {reason}"
    if "connection" in reason.lower() or "could not" in reason.lower():
        return f"cannot reach the ledger database{url}: {reason}"
    return f"the ledger database refused the operation{url}: {reason}"


def _duckdb(e: Exception) -> str | None:
    try:
        import duckdb
    except ImportError:  # pragma: no cover - duckdb is a dependency
        return None
    if not isinstance(e, duckdb.Error):
        return None
    from keiba.common.storage.warehouse import lock_holder

    text = _first_line(str(e))
    if "lock" in text.lower() and "PID" in str(e):
        return f"the warehouse is in use by {lock_holder(str(e))}; wait for it or stop it"
    return f"the warehouse failed: {text}"


def describe(e: BaseException) -> str:
    """One line for the user: what went wrong and where."""
    if isinstance(e, KeibaError):
        return _first_line(str(e)) if "\n" not in str(e).strip() else " ".join(str(e).split())
    for translate in (_sqlalchemy, _duckdb):
        if isinstance(e, Exception) and (said := translate(e)) is not None:
            return said
    if isinstance(e, sqlite3.DatabaseError):
        return f"a SQLite database failed: {_first_line(str(e))}"
    if isinstance(e, PermissionError):
        return f"permission denied: {e.filename or ''} ({e.strerror})".replace(":  (", ": (")
    if isinstance(e, IsADirectoryError | NotADirectoryError | FileNotFoundError | FileExistsError):
        return f"{e.strerror}: {e.filename}"
    if isinstance(e, OSError):
        where = f": {e.filename}" if e.filename else ""
        return f"{e.strerror or type(e).__name__}{where}"
    if isinstance(e, MemoryError):
        return "out of memory"
    return (
        f"internal error ({type(e).__name__}: {_first_line(str(e))}); "
        "run again with --log-level debug for the traceback"
    )


def is_internal(e: BaseException) -> bool:
    """Whether `e` is keiba's own fault rather than the user's or the environment's."""
    return describe(e).startswith("internal error")
