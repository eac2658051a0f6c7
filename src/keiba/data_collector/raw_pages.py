"""Raw pages in the object store, and the index that says what each one is.

Every response is stored content-addressed under `raw-data/netkeiba/` before it is parsed.
Beside it, one small JSON index record per fetch (`raw-data/netkeiba-index/<day>/<…>.json`,
`<day>` the UTC date of the fetch: URL, content key, fetched_at, kind, race id, race date and
the dataset the page was loaded into) lets `keiba data reparse` rebuild a dataset from its
stored pages alone, and `keiba run --replay` serve a recorded day as it stood at each moment.
The object store is shared by every dataset: the dataset named in the record keeps a simulated
day's pages out of a real dataset (records written before pages named their dataset belong to
every dataset). One object per record means nothing is ever appended to, so an interrupted
collector leaves whole records or none.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum

from keiba.common.errors import StorageError
from keiba.common.storage.object_store import ObjectStore

__all__ = ["INDEX_PREFIX", "RAW_PREFIX", "PageKind", "RawPage", "read_index", "store_page"]

RAW_PREFIX = "raw-data/netkeiba"
INDEX_PREFIX = "raw-data/netkeiba-index"


class PageKind(StrEnum):
    RACE_LIST = "race_list"
    CARD = "card"
    RESULT = "result"
    DB_RESULT = "db_result"
    ODDS_API = "odds_api"
    ODDS_PAGE = "odds_page"


@dataclass(frozen=True, slots=True)
class RawPage:
    """What was fetched: where from, when, what it is, and where its bytes are."""

    url: str
    kind: PageKind
    content_key: str
    fetched_at: dt.datetime
    race_id: str | None
    race_date: dt.date | None
    dataset: str | None = None

    def belongs_to(self, dataset: str) -> bool:
        return self.dataset is None or self.dataset == dataset

    def to_json(self) -> str:
        record = asdict(self)
        record["kind"] = self.kind.value
        record["fetched_at"] = self.fetched_at.astimezone(dt.UTC).isoformat()
        record["race_date"] = self.race_date.isoformat() if self.race_date else None
        return json.dumps(record, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RawPage:
        record = json.loads(text)
        return cls(
            url=record["url"],
            kind=PageKind(record["kind"]),
            content_key=record["content_key"],
            fetched_at=dt.datetime.fromisoformat(record["fetched_at"]),
            race_id=record["race_id"],
            race_date=dt.date.fromisoformat(record["race_date"]) if record["race_date"] else None,
            dataset=record.get("dataset"),
        )


def store_page(
    store: ObjectStore,
    data: bytes,
    *,
    url: str,
    kind: PageKind,
    fetched_at: dt.datetime,
    race_id: str | None = None,
    race_date: dt.date | None = None,
    dataset: str | None = None,
) -> RawPage:
    """Store the bytes (content-addressed) and an index record; returns the record."""
    suffix = ".json" if kind is PageKind.ODDS_API else ".html"
    key = store.put_content_addressed(RAW_PREFIX, data, suffix)
    page = RawPage(url, kind, key, fetched_at.astimezone(dt.UTC), race_id, race_date, dataset)
    text = page.to_json()
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    stamp = page.fetched_at.strftime("%Y%m%dT%H%M%S%f")
    store.put(f"{INDEX_PREFIX}/{page.fetched_at:%Y%m%d}/{stamp}-{digest}.json", text.encode())
    return page


def read_index(
    store: ObjectStore,
    *,
    dataset: str | None = None,
    fetched_on: Iterable[dt.date] | None = None,
) -> list[RawPage]:
    """The index records (of `dataset`'s pages; fetched on the given UTC days), oldest fetch
    first."""
    prefixes = (
        [INDEX_PREFIX]
        if fetched_on is None
        else [f"{INDEX_PREFIX}/{day:%Y%m%d}/" for day in sorted(set(fetched_on))]
    )
    pages: list[RawPage] = []
    for prefix in prefixes:
        for key in store.list(prefix):
            try:
                page = RawPage.from_json(store.get(key).decode("utf-8"))
            except (ValueError, KeyError, TypeError) as e:
                raise StorageError(f"index record {key} is unreadable: {e}") from e
            if dataset is None or page.belongs_to(dataset):
                pages.append(page)
    return sorted(pages, key=lambda p: (p.fetched_at, p.url))
