"""netkeiba pre-race pages: the 出馬表 (race card) and the day's race list.

A card is a race and its declared runners before the race: horse and frame numbers, names,
sex and age, weight carried, jockey, trainer and (on race day) body weight. The data contract's
`runners` table cannot hold it (a runner's status there is an outcome), so cards are loaded into
the derived `entries` table (`keiba.data_collector.netkeiba_ingest`), with status `declared`,
or `scratched` / `excluded` where the card marks the horse 取消 / 除外.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from keiba.common.errors import InvalidRaceIdError
from keiba.common.ids import NetkeibaRaceId
from keiba.data_collector.netkeiba_pages import (
    NetkeibaParseError,
    RaceHeader,
    parse_html,
    parse_race_header,
)
from keiba.data_collector.netkeiba_results import ParsedRunner, check_field, parse_runner_rows

__all__ = ["ParsedCard", "RaceList", "parse_card", "parse_race_list"]

_LIST_ID = re.compile(r"race_id=([0-9]{12})")
_KAISAI_DATE = re.compile(r"kaisai_date=([0-9]{8})")


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
class RaceList:
    """The races of one day, in race-id order."""

    page: str
    race_date: dt.date
    race_ids: tuple[NetkeibaRaceId, ...]


def parse_race_list(data: bytes, page: str, race_date: dt.date) -> RaceList:
    """race.netkeiba.com's list of a day's races; raises only `NetkeibaParseError`.

    Every race id must be of the date's year, and every `kaisai_date` the page names must be
    the date asked for (a list for another day is not silently taken).
    """
    doc = parse_html(data, page)
    hrefs = [str(h) for h in doc.xpath('//li[contains(@class,"RaceList_DataItem")]//a/@href')]
    dates = {m[1] for m in (_KAISAI_DATE.search(str(h)) for h in doc.xpath("//a/@href")) if m}
    wanted = f"{race_date:%Y%m%d}"
    if dates - {wanted}:
        raise NetkeibaParseError(
            page, f"the list is for {', '.join(sorted(dates - {wanted}))}, expected {wanted}"
        )
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
    if not found and not dates:
        raise NetkeibaParseError(page, "not a race list: no races and no kaisai_date")
    return RaceList(page, race_date, tuple(sorted(found)))
