"""netkeiba pre-race pages: the 出馬表 (race card) and the day's race list.

A card is a race and its declared runners before the race: horse and frame numbers, names,
sex and age, weight carried, jockey, trainer and (on race day) body weight. The data contract's
`runners` table cannot hold it (a runner's status there is an outcome), so cards are loaded into
the derived `entries` table (`keiba.data_collector.netkeiba_ingest`), with status `declared`,
or `scratched` / `excluded` where the card marks the horse 取消 / 除外. The day's race list gives
each race's id and scheduled post time (発走, JST), which the race-day scheduler plans from.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import lxml.html

from keiba.common.clock import JST
from keiba.common.errors import InvalidRaceIdError
from keiba.common.ids import NetkeibaRaceId
from keiba.data_collector.netkeiba_pages import (
    NetkeibaParseError,
    RaceHeader,
    parse_html,
    parse_race_header,
)
from keiba.data_collector.netkeiba_results import ParsedRunner, check_field, parse_runner_rows

__all__ = ["ListedRace", "ParsedCard", "RaceList", "parse_card", "parse_race_list"]

_LIST_ID = re.compile(r"race_id=([0-9]{12})")
_KAISAI_DATE = re.compile(r"kaisai_date=([0-9]{8})")
_POST_TIME = re.compile(r"^\s*([0-9]{1,2}):([0-9]{2})\s*$")


@dataclass(frozen=True, slots=True)
class ParsedCard:
    """A 出馬表: the race and its declared runners (status declared, scratched or excluded)."""

    page: str
    header: RaceHeader
    runners: tuple[ParsedRunner, ...]

    @property
    def race_id(self) -> str:
        return self.header.race_id


def parse_card(data: bytes, page: str, expected: NetkeibaRaceId | None = None) -> ParsedCard:
    """A race.netkeiba.com 出馬表; raises only `NetkeibaParseError`."""
    doc = parse_html(data, page)
    header = parse_race_header(doc, page, expected)
    tables = doc.xpath('//table[contains(@class,"ShutubaTable")]')
    if not tables:
        raise NetkeibaParseError(page, "no runner table (ShutubaTable)")
    runners = parse_runner_rows(
        tables[0], page, card=True, required=("frame_no", "horse_no", "horse_name", "sex_age")
    )
    check_field(page, runners, header.stated_field_size)
    return ParsedCard(page, header, runners)


@dataclass(frozen=True, slots=True)
class ListedRace:
    """One race of a day's list: its id and scheduled post time (timezone-aware, JST)."""

    race_id: NetkeibaRaceId
    post_time: dt.datetime


@dataclass(frozen=True, slots=True)
class RaceList:
    """The races of one day, in race-id order, each with its post time."""

    page: str
    race_date: dt.date
    races: tuple[ListedRace, ...]

    @property
    def race_ids(self) -> tuple[NetkeibaRaceId, ...]:
        return tuple(r.race_id for r in self.races)


def _list_item_race(
    item: lxml.html.HtmlElement, page: str, race_date: dt.date
) -> NetkeibaRaceId | None:
    """The one race an item of the list links to; None for an item that links to no race."""
    hrefs = [str(h) for h in item.xpath(".//a/@href")]
    found: set[NetkeibaRaceId] = set()
    for href in hrefs:
        match = _LIST_ID.search(href)
        if match is None:
            continue
        try:
            race = NetkeibaRaceId.parse(match[1])
        except InvalidRaceIdError as e:
            raise NetkeibaParseError(page, e.reason, column="race_id", snippet=href) from None
        if race.year != race_date.year:
            raise NetkeibaParseError(
                page, f"race {race} is not of {race_date.year}", column="race_id", snippet=href
            )
        found.add(race)
    if len(found) > 1:
        names = ", ".join(sorted(map(str, found)))
        raise NetkeibaParseError(page, f"one list item links to several races: {names}")
    return found.pop() if found else None


def _post_time(
    item: lxml.html.HtmlElement, page: str, race: NetkeibaRaceId, race_date: dt.date
) -> dt.datetime:
    texts = item.xpath('.//*[contains(@class,"RaceList_Itemtime")]//text()')
    text = "".join(str(t) for t in texts)
    match = _POST_TIME.match(text)
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise NetkeibaParseError(
            page, f"race {race} has no readable post time", column="post_time", snippet=text
        )
    return dt.datetime.combine(race_date, dt.time(int(match[1]), int(match[2])), tzinfo=JST)


def parse_race_list(data: bytes, page: str, race_date: dt.date) -> RaceList:
    """race.netkeiba.com's list of a day's races; raises only `NetkeibaParseError`.

    Every race id must be of the date's year, and every `kaisai_date` the page names must be
    the date asked for (a list for another day is not silently taken). Every race must show a
    post time (`HH:MM`, JST); a race listed twice must show the same time both times.
    """
    doc = parse_html(data, page)
    dates = {m[1] for m in (_KAISAI_DATE.search(str(h)) for h in doc.xpath("//a/@href")) if m}
    wanted = f"{race_date:%Y%m%d}"
    if dates - {wanted}:
        raise NetkeibaParseError(
            page, f"the list is for {', '.join(sorted(dates - {wanted}))}, expected {wanted}"
        )
    found: dict[NetkeibaRaceId, dt.datetime] = {}
    for item in doc.xpath('//li[contains(@class,"RaceList_DataItem")]'):
        race = _list_item_race(item, page, race_date)
        if race is None:
            continue
        post = _post_time(item, page, race, race_date)
        if found.setdefault(race, post) != post:
            raise NetkeibaParseError(page, f"race {race} is listed with two post times")
    if not found and not dates:
        raise NetkeibaParseError(page, "not a race list: no races and no kaisai_date")
    return RaceList(page, race_date, tuple(ListedRace(r, found[r]) for r in sorted(found)))
