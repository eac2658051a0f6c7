"""`keiba data status`: what the warehouse holds.

Races, runners and payouts per year, racecourse and surface; odds snapshots (distinct race and
`as_of`) and rows per stage; quarantined records per source; cards (`entries`) if any.
"""

from __future__ import annotations

from typing import Any

from keiba.common.ids import Venue
from keiba.common.storage.warehouse import Warehouse

__all__ = ["data_status"]


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
        "totals": {**{k: int(v) for k, v in totals.items()}, "entries": entries},
        "races": groups,
        "odds": odds.to_dicts(),
        "quarantine": quarantined.to_dicts(),
    }
