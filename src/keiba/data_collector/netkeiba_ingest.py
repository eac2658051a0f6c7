"""Stored netkeiba pages → the warehouse (used by `keiba data collect` and `keiba data reparse`).

Each page is parsed by its kind. A page that fails goes to quarantine (source `netkeiba`, the
URL and table row, the reason, and the raw content key with the offending text) and nothing of
it is loaded; everything else is. Per race the latest result page wins, odds snapshots are
keyed by (race, as_of) so forecast, interim and final snapshots live side by side, and the
load is one transaction (`Warehouse.load`), so a race is written whole or not at all and
loading the same pages again changes nothing. Quarantine is written just before the load.

Cards (出馬表) go to the derived `entries` table (one row per declared runner, with status
declared / scratched / excluded, the race's facts the card states, `as_of` the fetch time). Every
version of a race's card is kept, so the card as known at any moment can be read back; a card
fetched again unchanged adds nothing, and one fetched at the same time replaces that version.
An odds answer names no race date: it comes from the index (the day the race was listed on),
else from a race or card of the same netkeiba id, else the snapshot is quarantined.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from keiba.common.clock import Clock
from keiba.common.errors import InvalidRaceIdError
from keiba.common.ids import NetkeibaRaceId
from keiba.common.polars_types import POLARS_TYPES
from keiba.common.schema import DatasetKind, Table, table
from keiba.common.storage.warehouse import LoadResult, LoadSource, Warehouse, check_load_kind
from keiba.data_collector.canonical import CanonicalFile, _check_columns, _Problems
from keiba.data_collector.netkeiba_cards import ParsedCard, parse_card, parse_race_list
from keiba.data_collector.netkeiba_odds import OddsSnapshot, parse_odds_api, parse_odds_page
from keiba.data_collector.netkeiba_pages import SOURCE, NetkeibaParseError
from keiba.data_collector.netkeiba_results import ParsedRace, parse_db_result, parse_race_result
from keiba.data_collector.quarantine import QuarantineRecord, quarantine
from keiba.data_collector.raw_pages import PageKind, RawPage

__all__ = ["ENTRIES_COLUMNS", "IngestReport", "ingest_pages"]

ENTRIES_COLUMNS: dict[str, pl.DataType] = {
    "race_id": pl.String(),
    "netkeiba_race_id": pl.String(),
    "race_date": pl.Date(),
    "venue_code": pl.Int64(),
    "race_no": pl.Int64(),
    "race_name": pl.String(),
    "post_time": pl.Datetime("us", "UTC"),
    "race_class": pl.String(),
    "grade": pl.String(),
    "surface": pl.String(),
    "distance_m": pl.Int64(),
    "field_size": pl.Int64(),
    "horse_no": pl.Int64(),
    "frame_no": pl.Int64(),
    "horse_id": pl.String(),
    "horse_name": pl.String(),
    "sex": pl.String(),
    "age": pl.Int64(),
    "jockey_id": pl.String(),
    "jockey_name": pl.String(),
    "trainer_id": pl.String(),
    "trainer_name": pl.String(),
    "weight_carried_kg": pl.Float64(),
    "body_weight_kg": pl.Int64(),
    "body_weight_diff_kg": pl.Int64(),
    "status": pl.String(),
    "source": pl.String(),
    "as_of": pl.Datetime("us", "UTC"),
}


@dataclass
class IngestReport:
    pages: int = 0
    races: int = 0
    runners: int = 0
    payouts: int = 0
    odds_snapshots: int = 0
    odds_rows: int = 0
    cards: int = 0
    entries: int = 0
    race_lists: int = 0
    quarantined: int = 0
    quarantine_new: int = 0
    quarantine_locators: list[str] = field(default_factory=list)
    loaded: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _frame(t: Table, rows: list[dict[str, Any]]) -> pl.DataFrame:
    schema = {c.name: POLARS_TYPES[c.type] for c in t.columns}
    if not rows:
        return pl.DataFrame(schema=schema)
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    problems = _Problems(CanonicalFile(t, Path(f"netkeiba {t.name} frame")))
    _check_columns(frame, t.columns, problems)  # the parsers checked every value: a last guard
    problems.raise_if_any()
    return frame


def _race_rows(
    races: Sequence[ParsedRace], ingested_at: dt.datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    race_rows, runner_rows, payout_rows = [], [], []
    for race in races:
        h = race.header
        key = h.race_key
        race_rows.append(
            {
                "race_id": h.race_id,
                "netkeiba_race_id": h.netkeiba_race_id,
                "race_date": key.race_date,
                "venue_code": key.venue.value,
                "meeting": key.meeting,
                "meeting_day": key.meeting_day,
                "race_no": key.race_no,
                "post_time": h.post_time,
                "race_name": h.race_name,
                "grade": h.grade,
                "race_class": h.race_class,
                "surface": h.surface,
                "distance_m": h.distance_m,
                "direction": h.direction,
                "going": h.going,
                "weather": h.weather,
                "field_size": race.field_size,
                "source": SOURCE,
                "ingested_at": ingested_at,
            }
        )
        for r in race.runners:
            row = {"race_id": h.race_id}
            row.update({c: getattr(r, c) for c in table("runners").column_names if c != "race_id"})
            runner_rows.append(row)
        for p in race.payouts:
            payout_rows.append(
                {
                    "race_id": h.race_id,
                    "bet_type": p.bet_type.value,
                    "combination": p.combination,
                    "payout_yen": p.payout_yen,
                    "popularity": p.popularity,
                }
            )
    return race_rows, runner_rows, payout_rows


def _odds_rows(snapshots: Sequence[OddsSnapshot]) -> list[dict[str, Any]]:
    return [
        {
            "race_id": s.race_id,
            "bet_type": q.bet_type.value,
            "combination": q.combination,
            "odds": q.odds,
            "odds_high": q.odds_high,
            "pool_yen": None,
            "as_of": s.as_of,
            "stage": s.stage,
        }
        for s in snapshots
        for q in s.quotes
    ]


def _entry_rows(cards: Sequence[tuple[ParsedCard, dt.datetime]]) -> pl.DataFrame:
    rows = []
    for card, fetched_at in cards:
        h = card.header
        for r in card.runners:
            rows.append(
                {
                    "race_id": h.race_id,
                    "netkeiba_race_id": h.netkeiba_race_id,
                    "race_date": h.race_key.race_date,
                    "venue_code": h.race_key.venue.value,
                    "race_no": h.race_key.race_no,
                    "race_name": h.race_name,
                    "post_time": h.post_time,
                    "race_class": h.race_class,
                    "grade": h.grade,
                    "surface": h.surface,
                    "distance_m": h.distance_m,
                    "field_size": len(card.runners),
                    **{
                        c: getattr(r, c)
                        for c in ENTRIES_COLUMNS
                        if hasattr(r, c) and c not in ("race_id",)
                    },
                    "source": SOURCE,
                    "as_of": fetched_at,
                }
            )
    return pl.DataFrame(rows, schema=ENTRIES_COLUMNS, orient="row").select(list(ENTRIES_COLUMNS))


def _without_repeats(entries: pl.DataFrame) -> pl.DataFrame:
    """Each race's card versions less those equal to the version before (fetch time aside)."""
    content = [c for c in ENTRIES_COLUMNS if c != "as_of"]
    versions = (
        entries.sort("race_id", "as_of", "horse_no")
        .group_by("race_id", "as_of", maintain_order=True)
        .agg(pl.struct(content).hash().alias("rows"))
        .with_columns(pl.col("rows").shift(1).over("race_id").alias("before"))
        .filter(pl.col("before").is_null() | (pl.col("rows") != pl.col("before")))
    )
    return entries.join(versions.select("race_id", "as_of"), on=["race_id", "as_of"], how="semi")


def _write_entries(warehouse: Warehouse, incoming: pl.DataFrame) -> int:
    """Add the cards' versions to `entries`. A version (a race's rows fetched at one instant)
    is written on its own key, the race and the fetch time, in one transaction, and replaces
    only a version stored on that key: two writers of cards, of other races or of other
    versions of the same race, never undo each other's. A version equal to the one before it
    (fetch time aside) adds nothing and is not written. A table without every column of
    today's is written again whole, once."""
    if incoming.is_empty():
        return 0
    count = incoming.height
    if not warehouse.has_table("entries"):
        warehouse.write_table("entries", _without_repeats(incoming).sort(_ENTRY_ORDER))
        return count
    whole = _entry_columns(warehouse) != list(ENTRIES_COLUMNS)
    races = incoming["race_id"].unique().sort().to_list()
    sql, params = ("SELECT * FROM entries", []) if whole else (_ENTRIES_OF_RACES, [races])
    stored = warehouse.query(sql, params).with_columns(pl.col("as_of").dt.convert_time_zone("UTC"))
    # a table written before a column was added gets the column, empty
    stored = stored.with_columns(
        pl.lit(None, dtype=t).alias(c) for c, t in ENTRIES_COLUMNS.items() if c not in stored
    ).select(list(ENTRIES_COLUMNS))
    stored = stored.cast(ENTRIES_COLUMNS)  # type: ignore[arg-type]
    fetched = incoming.select(_VERSION).unique()
    versions = _without_repeats(
        pl.concat([stored.join(fetched, on=_VERSION, how="anti"), incoming])
    )
    if whole:
        warehouse.write_table("entries", versions.sort(_ENTRY_ORDER), replace=True)
        return count
    # a version new to its race, or one whose fetch time is stored already (written again, so
    # the stored version is the one fetched)
    keys = pl.concat([versions.select(_VERSION), stored.select(_VERSION)]).unique()
    written = incoming.join(keys, on=_VERSION, how="semi")
    if written.height:
        warehouse.write_table("entries", written.sort(_ENTRY_ORDER), replace_by=tuple(_VERSION))
    return count


_VERSION = ["race_id", "as_of"]
_ENTRY_ORDER = [*_VERSION, "horse_no"]
_ENTRIES_OF_RACES = "SELECT * FROM entries WHERE race_id IN (SELECT unnest(?))"


def _entry_columns(warehouse: Warehouse) -> list[str]:
    return warehouse.query("SELECT * FROM entries LIMIT 0").columns


class _KnownDates:
    """Race dates by netkeiba id: those the batch's pages give, else the warehouse's (read
    only when a page needs them: an odds answer whose index names no date)."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse
        self.seen: dict[str, dt.date] = {}
        self.stored: dict[str, dt.date] | None = None

    def get(self, netkeiba_race_id: str) -> dt.date | None:
        if netkeiba_race_id in self.seen:
            return self.seen[netkeiba_race_id]
        if self.stored is None:
            self.stored = {}
            for name in ("entries", "races"):
                if self.warehouse.has_table(name):
                    found = self.warehouse.query(
                        f"SELECT DISTINCT netkeiba_race_id, race_date FROM {name}"
                    )
                    ids, days = found["netkeiba_race_id"], found["race_date"]
                    self.stored.update(zip(ids, days, strict=True))
        return self.stored.get(netkeiba_race_id)


def _parse(
    page: RawPage, data: bytes, dates: _KnownDates
) -> ParsedRace | ParsedCard | OddsSnapshot | None:
    expected = NetkeibaRaceId.parse(page.race_id) if page.race_id else None
    where = page.url
    if page.kind is PageKind.RACE_LIST:
        if page.race_date is None:
            raise NetkeibaParseError(where, "the index gives no date for this race list")
        parse_race_list(data, where, page.race_date)
        return None
    if page.kind is PageKind.RESULT:
        return parse_race_result(data, where, expected)
    if page.kind is PageKind.DB_RESULT:
        return parse_db_result(data, where, expected)
    if page.kind is PageKind.CARD:
        return parse_card(data, where, expected)
    if page.kind is PageKind.ODDS_PAGE:
        return parse_odds_page(data, where, expected).snapshot
    if expected is None:
        raise NetkeibaParseError(where, "the index names no race for this odds answer")
    race_date = page.race_date or dates.get(str(expected))
    if race_date is None:
        raise NetkeibaParseError(where, f"the date of race {expected} is unknown", column="race_id")
    return parse_odds_api(data, where, expected, race_date)


def ingest_pages(
    warehouse: Warehouse,
    pages: Sequence[RawPage],
    read: Callable[[RawPage], bytes],
    clock: Clock,
    *,
    source: str = "netkeiba pages",
    kind: DatasetKind = "real",
) -> IngestReport:
    """Parse the pages (in fetch order), quarantine the bad ones and load the rest.

    The races are of `kind` (real unless the pages come from a simulated twin of the site): a
    dataset of the other kind is refused before anything is written. The load is listed in the
    dataset as `source`.
    """
    warehouse.ensure_schema()
    check_load_kind(warehouse, kind)
    report = IngestReport(pages=len(pages))
    ingested_at = clock.now().astimezone(dt.UTC)
    records: list[QuarantineRecord] = []
    results: dict[str, ParsedRace] = {}
    cards: dict[tuple[str, dt.datetime], ParsedCard] = {}
    snapshots: dict[tuple[str, dt.datetime], OddsSnapshot] = {}
    dates = _KnownDates(warehouse)
    ordered = sorted(pages, key=lambda p: (p.kind is PageKind.ODDS_API, p.fetched_at, p.url))
    for page in ordered:
        data = read(page)
        try:
            parsed = _parse(page, data, dates)
        except NetkeibaParseError as e:
            raw = f"[{page.content_key}] {e.snippet or ''}".strip()
            records.append(QuarantineRecord(SOURCE, e.locator, e.short_reason, raw))
            continue
        except InvalidRaceIdError as e:
            records.append(QuarantineRecord(SOURCE, page.url, str(e), f"[{page.content_key}]"))
            continue
        if isinstance(parsed, ParsedRace):
            results[parsed.race_id] = parsed
            dates.seen[parsed.header.netkeiba_race_id] = parsed.header.race_key.race_date
        elif isinstance(parsed, ParsedCard):
            cards[(parsed.race_id, page.fetched_at)] = parsed
            dates.seen[parsed.header.netkeiba_race_id] = parsed.header.race_key.race_date
        elif isinstance(parsed, OddsSnapshot):
            snapshots[(parsed.race_id, parsed.as_of)] = parsed
        elif page.kind is PageKind.RACE_LIST:
            report.race_lists += 1
    race_rows, runner_rows, payout_rows = _race_rows(list(results.values()), ingested_at)
    frames = {
        "races": _frame(table("races"), race_rows),
        "runners": _frame(table("runners"), runner_rows),
        "payouts": _frame(table("payouts"), payout_rows),
        "odds": _frame(table("odds"), _odds_rows(list(snapshots.values()))),
    }
    report.quarantined = len(records)
    report.quarantine_locators = [r.locator for r in records]
    report.quarantine_new = quarantine(warehouse, records, clock)
    loaded: LoadResult = warehouse.load(
        {k: v for k, v in frames.items() if v.height}, LoadSource(kind, source, ingested_at)
    )
    fetched = [(card, at) for (_, at), card in cards.items()]
    report.entries = _write_entries(warehouse, _entry_rows(fetched)) if fetched else 0
    report.races = len(results)
    report.runners = len(runner_rows)
    report.payouts = len(payout_rows)
    report.cards = len(cards)
    report.odds_snapshots = len(snapshots)
    report.odds_rows = frames["odds"].height
    report.loaded = {
        "new": loaded.new,
        "changed": loaded.changed,
        "unchanged": loaded.unchanged,
        "rows_written": loaded.rows_written,
    }
    return report
