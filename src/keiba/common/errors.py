"""The project's exception tree.

Every error a user can cause (a bad file, a bad id, a wrong config key, a bad amount) is a
`KeibaError` whose message says where and what. The CLI prints these without a traceback and
exits non-zero; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ImportValidationError",
    "InvalidAmountError",
    "InvalidRaceIdError",
    "KeibaError",
    "StorageError",
    "one_line",
]


def one_line(error: BaseException, limit: int = 300) -> str:
    """An error as one line for a journal or an alert: its type and the first line of its
    message, cut to `limit` characters."""
    text = str(error).strip().splitlines()
    line = f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


class KeibaError(Exception):
    """Base of every error the project raises on purpose."""


class ConfigError(KeibaError):
    """A configuration file or environment variable is wrong."""


class InvalidRaceIdError(KeibaError, ValueError):
    """A race key or netkeiba id is malformed."""

    def __init__(self, race_id: str, reason: str) -> None:
        self.race_id = race_id
        self.reason = reason
        super().__init__(f"invalid race id {race_id!r}: {reason}")


class InvalidAmountError(KeibaError, ValueError):
    """An amount of money is not a valid integer number of yen."""


class StorageError(KeibaError):
    """A storage backend could not do what was asked."""


class ImportValidationError(KeibaError):
    """A record of an input file is invalid; names the file, the line, the column and why."""

    def __init__(self, path: str, line: int | None, column: str | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.column = column
        self.reason = reason
        where = path
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {reason}")
