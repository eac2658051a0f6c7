"""netkeiba during a race day: one page at a time, as the scheduler asks for it.

`NetkeibaRaceDay` fetches the day's race list (with post times), a race's card (出馬表: entries,
body weights once announced, scratches), its odds (the odds API: win and place) and its result
page. Every answer is stored raw before it is parsed, exactly as `keiba data collect` does, and
loaded into the warehouse through the same ingest; a page that fails to parse is quarantined
and reported. A result page that is not there yet (404) means the result is not official.

Each answer's HTTP `Date` is compared with our clock; a difference beyond the limit is handed
to `on_clock_skew` (the race day alerts: a source whose clock disagrees with ours makes every
"as of" suspect).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from keiba.common.clock import Clock
from keiba.common.ids import NetkeibaRaceId
from keiba.common.schema import DatasetKind
from keiba.common.storage.object_store import ObjectStore
from keiba.common.storage.warehouse import Warehouse
from keiba.data_collector.collector import page_urls, race_list_url
from keiba.data_collector.http_client import Fetched, FetchFailedError, HttpClient
from keiba.data_collector.netkeiba_cards import RaceList, parse_race_list
from keiba.data_collector.netkeiba_ingest import IngestReport, ingest_pages
from keiba.data_collector.raw_pages import PageKind, store_page

__all__ = ["ClockSkew", "NetkeibaRaceDay", "PageLoad"]


@dataclass(frozen=True)
class ClockSkew:
    url: str
    ours: dt.datetime
    theirs: dt.datetime

    @property
    def seconds(self) -> float:
        return (self.theirs - self.ours).total_seconds()


@dataclass(frozen=True)
class PageLoad:
    """One page fetched and loaded: what the ingest made of it."""

    kind: PageKind
    url: str
    report: IngestReport

    @property
    def quarantined(self) -> bool:
        return self.report.quarantined > 0

    def note(self) -> str:
        if self.quarantined:
            return (
                f"{self.kind.value} page quarantined: {', '.join(self.report.quarantine_locators)}"
            )
        r = self.report
        return {
            PageKind.CARD: f"card: {r.entries} entries",
            PageKind.ODDS_API: f"odds: {r.odds_rows} quotes",
        }.get(self.kind, f"result: {r.races} race, {r.payouts} payouts")


class NetkeibaRaceDay:
    """The race day's source: fetch, store raw, ingest; one page per call."""

    def __init__(
        self,
        warehouse: Warehouse,
        store: ObjectStore,
        client: HttpClient,
        clock: Clock,
        *,
        max_clock_skew: dt.timedelta = dt.timedelta(seconds=30),
        on_clock_skew: Callable[[ClockSkew], None] | None = None,
        kind: DatasetKind = "real",
    ) -> None:
        self.warehouse = warehouse
        self.store = store
        self.client = client
        self.clock = clock
        self.max_clock_skew = max_clock_skew
        self.on_clock_skew = on_clock_skew
        self.kind = kind

    def _get(self, url: str) -> Fetched:
        got = self.client.get(url)
        # HTTP dates have whole seconds: a second of difference is rounding, not skew
        limit = self.max_clock_skew + dt.timedelta(seconds=1)
        skewed = got.server_date is not None and abs(got.server_date - got.fetched_at) > limit
        if skewed and got.server_date is not None and self.on_clock_skew is not None:
            self.on_clock_skew(ClockSkew(url, got.fetched_at, got.server_date))
        return got

    def race_list(self, day: dt.date) -> RaceList:
        """The day's races and post times; raises when the list cannot be had or read."""
        url = race_list_url(self.client.config, day)
        got = self._get(url)
        store_page(
            self.store,
            got.content,
            url=url,
            kind=PageKind.RACE_LIST,
            fetched_at=got.fetched_at,
            race_date=day,
            dataset=self.warehouse.dataset,
        )
        return parse_race_list(got.content, url, day)

    def _load(self, race: NetkeibaRaceId, day: dt.date, kind: PageKind) -> PageLoad | None:
        url = dict(page_urls(self.client.config, race))[kind]
        try:
            got = self._get(url)
        except FetchFailedError as e:
            if e.status == 404:
                return None
            raise
        page = store_page(
            self.store,
            got.content,
            url=url,
            kind=kind,
            fetched_at=got.fetched_at,
            race_id=str(race),
            race_date=day,
            dataset=self.warehouse.dataset,
        )
        report = ingest_pages(
            self.warehouse,
            [page],
            lambda p: self.store.get(p.content_key),
            self.clock,
            source=f"netkeiba race day {day}",
            kind=self.kind,
        )
        return PageLoad(kind, url, report)

    def card(self, race: NetkeibaRaceId, day: dt.date) -> PageLoad | None:
        """The race's card as it stands (None: not published yet)."""
        return self._load(race, day, PageKind.CARD)

    def odds(self, race: NetkeibaRaceId, day: dt.date) -> PageLoad | None:
        """The race's current win and place odds (None: none yet)."""
        return self._load(race, day, PageKind.ODDS_API)

    def result(self, race: NetkeibaRaceId, day: dt.date) -> PageLoad | None:
        """The race's official result and payouts (None: not official yet)."""
        result_kind = next(k for k, _ in page_urls(self.client.config, race)[2:])
        return self._load(race, day, result_kind)
