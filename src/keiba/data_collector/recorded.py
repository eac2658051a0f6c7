"""A recorded race day, answered as it stood at each moment: the source of `keiba run --replay`.

Every page a race day fetched was stored raw with the instant it was fetched (`raw_pages`).
`RecordedDay` reads the index records of one dataset's day and answers a request for a path
with the newest page recorded for that path at or before the instant asked, and 404 when none
was recorded yet: a replay sees exactly what the recorded day could have seen by then, never
a page from its future. Odds keep the instant the site stamped into them, so a decision the
replay takes later than the recorded one finds them stale, as it would have. Serve it on the
replay's clock with `keiba.common.loopback.serve_answers` and point the collector's
`race_base_url` and `db_base_url` at the URL.
"""

from __future__ import annotations

import bisect
import datetime as dt
from urllib.parse import urlsplit

from keiba.common.clock import JST
from keiba.common.loopback import JSON, NOT_FOUND, Answer
from keiba.common.storage.object_store import ObjectStore
from keiba.data_collector.raw_pages import PageKind, RawPage, read_index

__all__ = ["RecordedDay", "path_of"]


def path_of(url: str) -> str:
    """The path and query of a URL: what a request for it asks of any host."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _fetch_days(race_date: dt.date) -> list[dt.date]:
    """The UTC days over which a JST race day's fetches fall."""
    start = dt.datetime.combine(race_date, dt.time(), JST).astimezone(dt.UTC).date()
    return [start, start + dt.timedelta(days=1)]


class RecordedDay:
    """The pages recorded for one dataset's race day, by path, in the order they were fetched."""

    def __init__(self, store: ObjectStore, dataset: str, race_date: dt.date) -> None:
        self.store = store
        self.dataset = dataset
        self.race_date = race_date
        pages = [
            p
            for p in read_index(store, dataset=dataset, fetched_on=_fetch_days(race_date))
            if p.race_date == race_date
        ]
        self.pages: tuple[RawPage, ...] = tuple(pages)
        self._by_path: dict[str, list[RawPage]] = {}
        for page in pages:  # oldest first
            self._by_path.setdefault(path_of(page.url), []).append(page)
        self._times = {path: [p.fetched_at for p in got] for path, got in self._by_path.items()}

    def __len__(self) -> int:
        return len(self.pages)

    @property
    def first_fetch(self) -> dt.datetime | None:
        return self.pages[0].fetched_at if self.pages else None

    @property
    def result_source(self) -> str:
        """Where the recorded day read results from: db.netkeiba's pages or race.netkeiba's."""
        kinds = {p.kind for p in self.pages}
        return "db" if PageKind.DB_RESULT in kinds and PageKind.RESULT not in kinds else "race"

    def page_at(self, path: str, at: dt.datetime) -> RawPage | None:
        """The newest page recorded for `path` at or before `at`."""
        times = self._times.get(path)
        if not times:
            return None
        i = bisect.bisect_right(times, at)
        return self._by_path[path][i - 1] if i else None

    def answer(self, path: str, at: dt.datetime) -> Answer:
        """What a request for `path` got at `at`: the page as it stood, or 404."""
        page = self.page_at(path, at)
        if page is None:
            return NOT_FOUND
        # the bytes as fetched, whatever their encoding (netkeiba's HTML is EUC-JP)
        content_type = JSON if page.kind is PageKind.ODDS_API else "text/html"
        return Answer(200, self.store.get(page.content_key), content_type)
