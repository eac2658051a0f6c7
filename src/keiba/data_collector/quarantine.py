"""Quarantine: where records that failed validation are kept, with the reason.

A bad record never stops the good ones and is never silently dropped: an importer turns it into
a `QuarantineRecord` (which source, where in it, why, and the offending text) and hands the
batch to `quarantine`, which stamps it with the injected clock and appends it to the warehouse's
`quarantine` table. Re-quarantining the same record (same source, locator and reason) adds
nothing, so importers stay idempotent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

from keiba.common.clock import Clock
from keiba.common.schema import QUARANTINE
from keiba.common.storage.warehouse import Warehouse

__all__ = ["QuarantineRecord", "quarantine", "quarantine_frame"]


@dataclass(frozen=True, slots=True)
class QuarantineRecord:
    """One rejected record: `locator` says where it is (e.g. `path:line` or a URL)."""

    source: str
    locator: str
    reason: str
    raw: str | None

    def __post_init__(self) -> None:
        for name in ("source", "locator", "reason"):
            if not getattr(self, name):
                raise ValueError(f"a quarantine record needs a non-empty {name}")


def _utc(instant: dt.datetime) -> dt.datetime:
    if instant.tzinfo is None:
        raise ValueError(f"the clock must give timezone-aware instants, was {instant.isoformat()}")
    return instant.astimezone(dt.UTC)


def quarantine_frame(records: Iterable[QuarantineRecord], seen_at: dt.datetime) -> pl.DataFrame:
    """The records as a frame with exactly the `quarantine` table's columns and types."""
    rows = list(records)
    at = _utc(seen_at)
    return pl.DataFrame(
        {
            "source": [r.source for r in rows],
            "locator": [r.locator for r in rows],
            "reason": [r.reason for r in rows],
            "raw": [r.raw for r in rows],
            "seen_at": [at] * len(rows),
        },
        schema={
            "source": pl.String(),
            "locator": pl.String(),
            "reason": pl.String(),
            "raw": pl.String(),
            "seen_at": pl.Datetime("us", "UTC"),
        },
    ).select(QUARANTINE.column_names)


def quarantine(warehouse: Warehouse, records: Iterable[QuarantineRecord], clock: Clock) -> int:
    """Append the records to the warehouse's quarantine; returns how many were not there yet."""
    frame = quarantine_frame(records, clock.now())
    if frame.is_empty():
        return 0
    return warehouse.add_quarantine(frame)
