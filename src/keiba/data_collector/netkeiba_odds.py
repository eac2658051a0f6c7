"""netkeiba odds: the odds API's JSON and the odds page (HTML) → `odds` snapshots.

The API (`/api/api_get_jra_odds.html`) answers `{"status", "data": {"official_datetime",
"odds": {type: {key: [odds, high, popularity]}}}}`. `status` gives the contract stage: `yoso`
forecast (before betting opens), `middle` interim (while it is open), `result` final.
`official_datetime` (JST) is the snapshot's `as_of`. Types are netkeiba's: 1 単勝, 2 複勝,
3 枠連, 4 馬連, 5 ワイド, 6 馬単, 7 3連複, 8 3連単; a key is the numbers, two digits each
(`010203`). Place and wide carry the published low and high; odds not (yet) published (`---`,
`0.0`, empty) are left out. The JSON names no race, so the caller says which race it is and its
date (the collector knows both from the URL and the day's list).

The odds page (`/odds/index.html?type=bN&race_id=…`) ships its table with every cell `---.-`
and fills it from the API in the browser; `parse_odds_page` reads the race, the runners and
whatever cells are filled, and gives a snapshot only when the page says when they were taken.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from keiba.common.bet_types import BetType, format_combination
from keiba.common.clock import JST
from keiba.common.ids import NetkeibaRaceId, RaceKey
from keiba.data_collector.netkeiba_pages import (
    NetkeibaParseError,
    RaceHeader,
    norm,
    parse_html,
    parse_race_header,
)

__all__ = [
    "API_TYPES",
    "STAGES",
    "OddsPage",
    "OddsQuote",
    "OddsSnapshot",
    "parse_odds_api",
    "parse_odds_page",
]

STAGES = {"yoso": "forecast", "middle": "interim", "result": "final"}
API_TYPES = {
    "1": BetType.WIN,
    "2": BetType.PLACE,
    "3": BetType.BRACKET_QUINELLA,
    "4": BetType.QUINELLA,
    "5": BetType.QUINELLA_PLACE,
    "6": BetType.EXACTA,
    "7": BetType.TRIO,
    "8": BetType.TRIFECTA,
}
_UNPUBLISHED = {"", "-", "--", "---", "---.-", "0", "0.0", "0.00"}
_ODDS = re.compile(r"[0-9]{1,5}(?:\.[0-9]{1,2})?")
_STAMP = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[ T]([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?")


@dataclass(frozen=True, slots=True)
class OddsQuote:
    bet_type: BetType
    combination: str
    odds: float
    odds_high: float | None
    popularity: int | None


@dataclass(frozen=True, slots=True)
class OddsSnapshot:
    """The odds of one race at one instant (`as_of`, UTC) and stage."""

    page: str
    race_key: RaceKey
    stage: str
    as_of: dt.datetime
    quotes: tuple[OddsQuote, ...]

    @property
    def race_id(self) -> str:
        return str(self.race_key)


def _as_of(page: str, text: object) -> dt.datetime:
    found = _STAMP.fullmatch(text.strip()) if isinstance(text, str) else None
    if found is None:
        raise NetkeibaParseError(
            page, f"{text!r} is not a time like 2026-06-28 15:52:30", column="as_of"
        )
    try:
        y, mo, d, h, mi, sec = (int(found[i] or 0) for i in range(1, 7))
        local = dt.datetime(y, mo, d, h, mi, sec, tzinfo=JST)
    except ValueError:
        raise NetkeibaParseError(page, f"{text!r} is not a real time", column="as_of") from None
    return local.astimezone(dt.UTC)


def _odds_value(page: str, text: object, where: str) -> float | None:
    if not isinstance(text, str | int | float) or isinstance(text, bool):
        raise NetkeibaParseError(page, f"{where}: odds {text!r} are not text", column="odds")
    value = str(text).strip()
    if value in _UNPUBLISHED:
        return None
    if not _ODDS.fullmatch(value):
        raise NetkeibaParseError(page, f"{where}: {value!r} is not decimal odds", column="odds")
    odds = float(value)
    if odds < 1.0:
        raise NetkeibaParseError(page, f"{where}: odds {value} are below 1.0", column="odds")
    return odds


def _quote(page: str, type_key: str, key: object, row: object, limit: int) -> OddsQuote | None:
    bet = API_TYPES[type_key]
    where = f"{bet.japanese} {key}"
    if not isinstance(key, str) or not re.fullmatch(r"(?:[0-9]{2}){1,3}", key):
        raise NetkeibaParseError(
            page, f"{where}: the key is not 2-digit numbers", column="combination"
        )
    numbers = [int(key[i : i + 2]) for i in range(0, len(key), 2)]
    if not isinstance(row, list) or not row:
        raise NetkeibaParseError(page, f"{where}: {row!r} is not [odds, …]", column="odds")
    if any(n > limit for n in numbers):
        raise NetkeibaParseError(
            page, f"{where}: names a number beyond {limit}", column="combination"
        )
    try:
        combination = format_combination(bet, numbers)
    except ValueError as e:
        raise NetkeibaParseError(page, f"{where}: {e}", column="combination") from None
    odds = _odds_value(page, row[0], where)
    if odds is None:
        return None
    high = None
    if bet in (BetType.PLACE, BetType.QUINELLA_PLACE):
        second = _odds_value(page, row[1], where) if len(row) > 1 else None
        if second is not None:
            odds, high = min(odds, second), max(odds, second)
    popularity = None
    if len(row) > 2 and str(row[2]).strip():
        text = str(row[2]).strip()
        if not text.isascii() or not text.isdigit() or len(text) > 6:
            raise NetkeibaParseError(page, f"{where}: popularity {text!r}", column="popularity")
        popularity = int(text)
    return OddsQuote(bet, combination, odds, high, popularity)


def parse_odds_api(
    data: bytes, page: str, race: NetkeibaRaceId, race_date: dt.date, *, field_size: int = 18
) -> OddsSnapshot:
    """One answer of the odds API as a snapshot; raises only `NetkeibaParseError`."""
    try:
        answer: Any = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise NetkeibaParseError(page, f"not JSON: {e}") from None
    if not isinstance(answer, dict):
        raise NetkeibaParseError(page, "the answer is not a JSON object")
    status = answer.get("status")
    if status not in STAGES:
        raise NetkeibaParseError(
            page, f"status {status!r} is not one of {', '.join(STAGES)} (no odds published)",
            column="stage",
        )  # fmt: skip
    body = answer.get("data")
    if not isinstance(body, dict) or not isinstance(body.get("odds"), dict):
        raise NetkeibaParseError(page, "no data.odds object")
    as_of = _as_of(page, body.get("official_datetime"))
    try:
        race_key = race.to_race_key(race_date)
    except ValueError as e:
        raise NetkeibaParseError(page, str(e), column="race_id") from None
    quotes: list[OddsQuote] = []
    table: Mapping[object, object] = body["odds"]
    for type_key, entries in table.items():
        if type_key not in API_TYPES:
            raise NetkeibaParseError(page, f"odds type {type_key!r} is unknown", column="bet_type")
        if not isinstance(entries, dict):
            raise NetkeibaParseError(page, f"odds type {type_key}: not an object", column="odds")
        for key, row in entries.items():
            quote = _quote(page, str(type_key), key, row, field_size)
            if quote is not None:
                quotes.append(quote)
    return OddsSnapshot(page, race_key, STAGES[status], as_of, tuple(quotes))


@dataclass(frozen=True, slots=True)
class OddsPage:
    """An odds page: the race, its runners, the bet type shown and what was filled in."""

    page: str
    header: RaceHeader
    bet_type: BetType
    horses: dict[int, str]
    cells: int
    snapshot: OddsSnapshot | None


def parse_odds_page(data: bytes, page: str, expected: NetkeibaRaceId | None = None) -> OddsPage:
    """A race.netkeiba.com odds page; raises only `NetkeibaParseError`."""
    doc = parse_html(data, page)
    header = parse_race_header(doc, page, expected)
    canonical = " ".join(str(u) for u in doc.xpath('//link[@rel="canonical"]/@href'))
    kind = re.search(r"type=b([0-9])", canonical)
    if kind is None or kind[1] not in API_TYPES:
        raise NetkeibaParseError(page, "the page names no odds type (type=b1…b8)")
    horses: dict[int, str] = {}
    for span in doc.xpath('//span[@class="Num"]'):
        number = norm(span.text_content())
        name = norm(span.tail)
        if number.isdigit() and name:
            horses.setdefault(int(number), name)
    cells = doc.xpath('//span[starts-with(@id,"odds-")]')
    quotes: list[OddsQuote] = []
    for span in cells:
        parts = str(span.get("id")).split("-")
        if len(parts) != 3 or parts[1] not in API_TYPES:
            raise NetkeibaParseError(page, f"odds cell {span.get('id')!r} is not odds-T-KEY")
        quote = _quote(page, parts[1], parts[2], [norm(span.text_content())], 18)
        if quote is not None:
            quotes.append(quote)
    snapshot = None
    if quotes:
        stamp = norm(" ".join(doc.xpath('//span[@id="official_time"]//text()')))
        if not stamp:
            raise NetkeibaParseError(page, "odds are filled in but the page says not when")
        snapshot = OddsSnapshot(
            page, header.race_key, "interim", _as_of(page, stamp), tuple(quotes)
        )
    return OddsPage(page, header, API_TYPES[kind[1]], horses, len(cells), snapshot)
