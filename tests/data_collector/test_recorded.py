"""The recorded day answers each path with the page as it stood at the instant asked."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from keiba.common.clock import JST
from keiba.common.storage import FsspecObjectStore
from keiba.data_collector.raw_pages import PageKind, read_index, store_page
from keiba.data_collector.recorded import RecordedDay, path_of

DAY = dt.date(2026, 6, 28)
CARD = "https://race.netkeiba.com/race/shutuba.html?race_id=202602010607"
ODDS = "https://race.netkeiba.com/api/api_get_jra_odds.html?race_id=202602010607&type=1"


def _at(hour: int, minute: int, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), JST)


def _store(tmp_path: Path) -> FsspecObjectStore:
    store = FsspecObjectStore(str(tmp_path / "objects"))
    for body, at in ((b"card at 9", _at(9, 0)), (b"card at 11", _at(11, 0))):
        store_page(
            store, body, url=CARD, kind=PageKind.CARD, fetched_at=at, race_date=DAY, dataset="real"
        )
    store_page(
        store,
        b"{}",
        url=ODDS,
        kind=PageKind.ODDS_API,
        fetched_at=_at(10, 0),
        race_date=DAY,
        dataset="real",
    )
    return store


def test_a_path_gets_the_newest_page_recorded_at_or_before_the_instant(tmp_path: Path) -> None:
    day = RecordedDay(_store(tmp_path), "real", DAY)
    card = path_of(CARD)
    assert day.answer(card, _at(8, 59)).status == 404  # not fetched yet: never from the future
    assert day.answer(card, _at(9, 0)).body == b"card at 9"
    assert day.answer(card, _at(10, 59)).body == b"card at 9"
    assert day.answer(card, _at(11, 0)).body == b"card at 11"
    assert day.answer(card, _at(17, 0)).body == b"card at 11"
    odds = day.answer(path_of(ODDS), _at(12, 0))
    assert (odds.status, odds.content_type.split(";")[0]) == (200, "application/json")
    assert day.answer("/race/shutuba.html?race_id=202602010608", _at(12, 0)).status == 404
    assert day.first_fetch == _at(9, 0)
    assert day.result_source == "race"


def test_only_the_datasets_own_pages_of_that_day_are_served(tmp_path: Path) -> None:
    store = _store(tmp_path)
    other = path_of(CARD).replace("0607", "0608")
    store_page(
        store,
        b"simulated",
        url=CARD.replace("0607", "0608"),
        kind=PageKind.CARD,
        fetched_at=_at(9, 30),
        race_date=DAY,
        dataset="twin-seed3",
    )
    store_page(
        store,
        b"next day",
        url=CARD,
        kind=PageKind.CARD,
        fetched_at=_at(9, 0, DAY + dt.timedelta(1)),
        race_date=DAY + dt.timedelta(1),
        dataset="real",
    )
    day = RecordedDay(store, "real", DAY)
    assert len(day) == 3
    assert day.answer(other, _at(12, 0)).status == 404
    assert day.answer(path_of(CARD), _at(23, 59)).body == b"card at 11"
    assert [p.dataset for p in read_index(store, dataset="twin-seed3")] == ["twin-seed3"]


def test_pages_recorded_before_they_named_their_dataset_belong_to_every_dataset(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path)
    store_page(store, b"old", url=CARD, kind=PageKind.CARD, fetched_at=_at(8, 0), race_date=DAY)
    assert RecordedDay(store, "anything", DAY).answer(path_of(CARD), _at(8, 30)).body == b"old"
    assert len(read_index(store, dataset="real")) == 4


def test_a_day_read_from_db_netkeiba_is_replayed_from_there(tmp_path: Path) -> None:
    store = FsspecObjectStore(str(tmp_path / "objects"))
    store_page(
        store,
        b"x",
        url="https://db.netkeiba.com/race/202602010607/",
        kind=PageKind.DB_RESULT,
        fetched_at=_at(16, 0),
        race_date=DAY,
        dataset="real",
    )
    assert RecordedDay(store, "real", DAY).result_source == "db"
