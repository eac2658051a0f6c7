"""`keiba data status`: which datasets exist, and what one of them holds.

`datasets_status` lists every dataset under the warehouse directory with its kind (real or
simulated), races, runners, first and last race day and file size. `dataset_details` adds its
creation time, every load (what, when, rows written) and `data_status`: races, runners and
payouts per year, racecourse and surface; odds snapshots (distinct race and `as_of`) and rows
per stage; quarantined records per source; cards (`entries`) if any.
"""

from __future__ import annotations

from typing import Any

from keiba.common.config import KeibaConfig
from keiba.common.errors import KeibaError
from keiba.common.ids import Venue
from keiba.common.storage.datasets import (
    dataset_files,
    dataset_names,
    open_dataset,
    warehouse_location,
)
from keiba.common.storage.warehouse import Warehouse

__all__ = ["data_status", "dataset_details", "dataset_summary", "datasets_status"]


def dataset_summary(warehouse: Warehouse) -> dict[str, Any]:
    """Name, kind, races, runners and the first and last race day of one dataset."""
    summary: dict[str, Any] = {
        "name": warehouse.dataset,
        "kind": warehouse.kind(),
        "races": 0,
        "runners": 0,
        "first_date": None,
        "last_date": None,
    }
    if warehouse.has_table("races"):
        row = warehouse.query(
            "SELECT count(*) AS races, min(race_date) AS first_date, max(race_date) AS last_date"
            " FROM races"
        ).to_dicts()[0]
        summary.update(row)
    if warehouse.has_table("runners"):
        summary["runners"] = int(warehouse.query("SELECT count(*) AS n FROM runners")["n"][0])
    for day in ("first_date", "last_date"):
        if summary[day] is not None:
            summary[day] = summary[day].isoformat()
    return summary


def _file_bytes(config: KeibaConfig, name: str) -> int | None:
    """The size of the dataset's files; None on BigQuery, which keeps no files here."""
    if config.storage.warehouse == "bigquery":
        return None
    return sum(p.stat().st_size for p in dataset_files(config, name))


def datasets_status(config: KeibaConfig) -> list[dict[str, Any]]:
    """Every dataset under the warehouse directory, by name; `selected` marks the chosen one.

    A dataset that cannot be opened (another process is writing it) is listed with `error`.
    """
    rows: list[dict[str, Any]] = []
    for name in dataset_names(config):
        row: dict[str, Any]
        try:
            with open_dataset(config, name, read_only=True) as warehouse:
                row = dataset_summary(warehouse)
        except KeibaError as e:
            row = {"name": name, "error": str(e)}
        row["bytes"] = _file_bytes(config, name)
        row["selected"] = name == config.storage.dataset
        rows.append(row)
    return rows


def dataset_details(config: KeibaConfig, name: str | None = None) -> dict[str, Any]:
    """One dataset (default: the selected one): its summary, creation, loads and contents."""
    with open_dataset(config, name, must_exist=True) as warehouse:
        warehouse.ensure_schema()
        details = dataset_summary(warehouse)
        info = warehouse.query("SELECT created_at FROM dataset_info")
        created = info["created_at"][0] if info.height else None
        details["created_at"] = created.isoformat() if created is not None else None
        loads = warehouse.query("SELECT * FROM dataset_loads ORDER BY loaded_at, source")
        details["loads"] = [
            {**row, "loaded_at": row["loaded_at"].isoformat()} for row in loads.to_dicts()
        ]
        details["contents"] = data_status(warehouse)
    details["path"] = warehouse_location(config, details["name"])
    details["bytes"] = _file_bytes(config, details["name"])
    return details


def data_status(warehouse: Warehouse) -> dict[str, Any]:
    """Counts as plain data (lists of dicts), ready for a table or JSON."""
    warehouse.ensure_schema()
    by_group = warehouse.query(
        """
        WITH r AS (SELECT race_id, count(*) AS n FROM runners GROUP BY race_id),
             p AS (SELECT race_id, count(*) AS n FROM payouts GROUP BY race_id)
        SELECT year(races.race_date) AS year, races.venue_code, races.surface,
               count(*) AS races, coalesce(sum(r.n), 0)::BIGINT AS runners,
               coalesce(sum(p.n), 0)::BIGINT AS payouts
        FROM races LEFT JOIN r USING (race_id) LEFT JOIN p USING (race_id)
        GROUP BY ALL ORDER BY ALL
        """
    )
    odds = warehouse.query(
        "SELECT stage, count(DISTINCT (race_id, as_of)) AS snapshots, count(*) AS rows "
        "FROM odds GROUP BY stage ORDER BY stage"
    )
    quarantined = warehouse.query(
        "SELECT source, count(*) AS records FROM quarantine GROUP BY source ORDER BY source"
    )
    totals = warehouse.query(
        "SELECT (SELECT count(*) FROM races) AS races, (SELECT count(*) FROM runners) AS runners,"
        " (SELECT count(*) FROM payouts) AS payouts, (SELECT count(*) FROM odds) AS odds,"
        " (SELECT count(*) FROM quarantine) AS quarantine"
    ).to_dicts()[0]
    entries = 0
    if warehouse.has_table("entries"):
        entries = int(warehouse.query("SELECT count(*) AS n FROM entries")["n"][0])
    groups = [{**row, "venue": Venue(row["venue_code"]).japanese} for row in by_group.to_dicts()]
    return {
        "dataset": warehouse.dataset,
        "kind": warehouse.kind(),
        "totals": {**{k: int(v) for k, v in totals.items()}, "entries": entries},
        "races": groups,
        "odds": odds.to_dicts(),
        "quarantine": quarantined.to_dicts(),
    }
