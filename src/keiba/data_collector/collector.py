"""`keiba data collect` and `keiba data reparse`: netkeiba pages in, warehouse rows out.

`collect(dates)` fetches, for each date, the day's race list and then, for every race on it,
the 出馬表, the odds (API: win and place) and the result page. Every response is stored raw
(content-addressed, with an index record) before anything parses it; then all the pages of the
run are ingested together (`netkeiba_ingest`). A page that is not there (404) is listed and
skipped; a page that keeps failing (5xx, timeouts) after the client's retries is listed as
failed, and `MAX_FAILURES_IN_A_ROW` such pages in a row stop the run (the site is down); a
403/429 stops the run at once. A stopped run says why (`stopped`), and what was fetched
before is still stored and ingested. `reparse` re-ingests every stored page from the index,
with no network.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from keiba.common.clock import Clock
from keiba.common.config import CollectorConfig
from keiba.common.errors import KeibaError
from keiba.common.ids import NetkeibaRaceId
from keiba.common.schema import DatasetKind
from keiba.common.storage.object_store import ObjectStore
from keiba.common.storage.warehouse import Warehouse
from keiba.data_collector.http_client import BlockedError, FetchFailedError, HttpClient
from keiba.data_collector.netkeiba_cards import parse_race_list
from keiba.data_collector.netkeiba_ingest import IngestReport, ingest_pages
from keiba.data_collector.netkeiba_pages import NetkeibaParseError
from keiba.data_collector.raw_pages import PageKind, RawPage, read_index, store_page

__all__ = ["CollectReport", "collect", "page_urls", "race_list_url", "reparse"]


MAX_FAILURES_IN_A_ROW = 5
"""Pages failing one after another (after each one's retries) before the run stops."""


class _GiveUpError(Exception):
    pass


def race_list_url(config: CollectorConfig, date: dt.date) -> str:
    return f"{config.race_base_url.rstrip('/')}/top/race_list_sub.html?kaisai_date={date:%Y%m%d}"


def page_urls(config: CollectorConfig, race: NetkeibaRaceId) -> list[tuple[PageKind, str]]:
    """The pages fetched for one race, in order: card, odds, result."""
    base = config.race_base_url.rstrip("/")
    result: tuple[PageKind, str] = (
        (PageKind.DB_RESULT, f"{config.db_base_url.rstrip('/')}/race/{race}/")
        if config.result_source == "db"
        else (PageKind.RESULT, f"{base}/race/result.html?race_id={race}")
    )
    return [
        (PageKind.CARD, f"{base}/race/shutuba.html?race_id={race}"),
        (PageKind.ODDS_API, f"{base}/api/api_get_jra_odds.html?race_id={race}&type=1&action=init"),
        result,
    ]


@dataclass
class CollectReport:
    dates: list[str]
    requests: int = 0
    pages_stored: int = 0
    races_listed: int = 0
    not_found: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    stopped: str | None = None
    ingest: IngestReport = field(default_factory=IngestReport)

    @property
    def ok(self) -> bool:
        return not (self.failed or self.stopped or self.ingest.quarantined)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _dates(start: dt.date, end: dt.date | None) -> list[dt.date]:
    end = end or start
    if end < start:
        raise KeibaError(f"the last day {end} is before the first day {start}")
    return [start + dt.timedelta(days=n) for n in range(((end - start).days) + 1)]


def collect(
    warehouse: Warehouse,
    store: ObjectStore,
    client: HttpClient,
    clock: Clock,
    start: dt.date,
    end: dt.date | None = None,
    *,
    progress: Callable[[str, int, int], None] | None = None,
    kind: DatasetKind = "real",
) -> CollectReport:
    """Fetch, store and load every race of the dates `start`..`end` (inclusive).

    The races are of `kind`: real from netkeiba, simulated from a twin of it serving a
    simulated world's day (loaded into that world's own dataset).
    """
    days = _dates(start, end)
    report = CollectReport(dates=[d.isoformat() for d in days])
    pages: list[RawPage] = []
    failures_in_a_row = 0

    def fetch(kind: PageKind, url: str, race: str | None, day: dt.date) -> bytes | None:
        nonlocal failures_in_a_row
        try:
            got = client.get(url)
        except FetchFailedError as e:
            if e.status == 404:
                report.not_found.append(str(e))
                return None
            report.failed.append(str(e))
            failures_in_a_row += 1
            if failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                raise _GiveUpError(
                    f"{failures_in_a_row} pages in a row failed after retries (last: {e}); "
                    "stopped — the site is not answering"
                ) from e
            return None
        failures_in_a_row = 0
        pages.append(
            store_page(
                store,
                got.content,
                url=url,
                kind=kind,
                fetched_at=got.fetched_at,
                race_id=race,
                race_date=day,
                dataset=warehouse.dataset,
            )
        )
        report.pages_stored += 1
        return got.content

    try:
        for done, day in enumerate(days):
            url = race_list_url(client.config, day)
            content = fetch(PageKind.RACE_LIST, url, None, day)
            if progress:
                progress("days", done, len(days))
            if content is None:
                continue
            try:
                races = parse_race_list(content, url, day).race_ids
            except NetkeibaParseError:
                continue  # the stored list is quarantined by the ingest below
            report.races_listed += len(races)
            for n, race in enumerate(races):
                for page_kind, page_url in page_urls(client.config, race):
                    fetch(page_kind, page_url, str(race), day)
                if progress:
                    progress(f"{day:%m-%d} races", n + 1, len(races))
        if progress:
            progress("days", len(days), len(days))
    except (BlockedError, _GiveUpError) as e:
        report.stopped = str(e)
    report.requests = client.requests
    report.ingest = ingest_pages(
        warehouse,
        pages,
        lambda p: store.get(p.content_key),
        clock,
        source=f"netkeiba collect {days[0]}" + (f" to {days[-1]}" if len(days) > 1 else ""),
        kind=kind,
    )
    return report


def reparse(warehouse: Warehouse, store: ObjectStore, clock: Clock) -> IngestReport:
    """Rebuild the warehouse's netkeiba rows from every raw page stored for its dataset (no
    network)."""
    pages: Sequence[RawPage] = read_index(store, dataset=warehouse.dataset)
    return ingest_pages(
        warehouse,
        pages,
        lambda p: store.get(p.content_key),
        clock,
        source="netkeiba reparse",
        kind=warehouse.kind() or "real",
    )
