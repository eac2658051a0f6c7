"""`describe`: every exception becomes one line that says what and where."""

from __future__ import annotations

import errno
import sqlite3

import pytest

from keiba.cli.errors import describe, is_internal
from keiba.common.errors import ImportValidationError, KeibaError


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (KeibaError("bad\n  thing"), "bad thing"),
        (ImportValidationError("r.csv", 3, "odds", "not a number"), "r.csv, line 3, column 'odds'"),
        (PermissionError(errno.EACCES, "Permission denied", "/x/y"), "permission denied: /x/y"),
        (FileNotFoundError(errno.ENOENT, "No such file or directory", "/x"), "No such file"),
        (OSError(errno.ENOSPC, "No space left on device", "/d"), "No space left on device: /d"),
        (sqlite3.DatabaseError("database disk image is malformed"), "disk image is malformed"),
        (MemoryError(), "out of memory"),
    ],
)
def test_user_and_environment_errors_are_one_line(error: BaseException, said: str) -> None:
    line = describe(error)
    assert said in line and "\n" not in line
    assert not is_internal(error)


def test_anything_else_is_an_internal_error_that_asks_for_the_traceback() -> None:
    line = describe(ZeroDivisionError("division by zero\nmore"))
    assert line == (
        "internal error (ZeroDivisionError: division by zero); run again with --log-level debug "
        "for the traceback"
    )
    assert is_internal(ZeroDivisionError())


def test_database_errors_of_the_engines_are_named() -> None:
    import duckdb
    from sqlalchemy.exc import OperationalError

    ledger = describe(OperationalError("INSERT …", {}, sqlite3.OperationalError("disk I/O error")))
    assert ledger == (
        "the ledger database (storage.ledger_url) refused the operation: disk I/O error"
    )
    warehouse = describe(duckdb.IOException("IO Error: Could not read\nmore"))
    assert warehouse == "the warehouse failed: IO Error: Could not read"
