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
    """A database error that escaped the ledger's own (which name the database themselves)."""
    from sqlalchemy.exc import DBAPIError

    if not isinstance(e, DBAPIError):
        return None
    reason = _first_line(str(e.orig) if e.orig is not None else str(e))
    return f"the ledger database (storage.ledger_url) refused the operation: {reason}"


def _duckdb(e: Exception) -> str | None:
    import duckdb

    from keiba.common.storage.warehouse import duckdb_problem

    return f"the warehouse failed: {duckdb_problem(e)}" if isinstance(e, duckdb.Error) else None


def describe(e: BaseException) -> str:
    """One line for the user: what went wrong and where."""
    if isinstance(e, KeibaError):
        return " ".join(str(e).split())
    for translate in (_sqlalchemy, _duckdb):
        if isinstance(e, Exception) and (said := translate(e)) is not None:
            return said
    if isinstance(e, sqlite3.DatabaseError):
        return f"a SQLite database failed: {_first_line(str(e))}"
    if isinstance(e, PermissionError):
        return f"permission denied: {e.filename}" if e.filename else "permission denied"
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
