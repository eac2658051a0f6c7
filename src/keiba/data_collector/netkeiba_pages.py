"""What every netkeiba parser shares: decoding, the typed parse error, the race header.

netkeiba serves db.netkeiba.com in EUC-JP, and race.netkeiba.com pages are often saved (or
served) as UTF-8 while their `<meta>` still declares EUC-JP, so the declaration is not trusted:
`decode_page` tries the candidate encodings strictly and keeps the one that reads the bytes with
the fewest errors. A page that no encoding reads is a `NetkeibaParseError`.

Every parser raises only `NetkeibaParseError` (an `ImportValidationError`): it names the page
(URL or file), the table row where there is one, the field, and why. `RaceHeader` is the race
row the result pages and the 出馬表 share; the two page families state it differently
(`parse_db_header`, `parse_race_header`) but end in the same checks: the date and racecourse
must be real and agree with the netkeiba race id.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import NoReturn

import lxml.etree
import lxml.html

from keiba.common.clock import JST
from keiba.common.errors import ImportValidationError, InvalidRaceIdError
from keiba.common.ids import NetkeibaRaceId, RaceKey, Venue
from keiba.common.schema import Column, table

__all__ = [
    "SOURCE",
    "NetkeibaParseError",
    "RaceHeader",
    "check_value",
    "decode_page",
    "norm",
    "parse_db_header",
    "parse_html",
    "parse_race_header",
    "race_id_from_url",
]

SOURCE = "netkeiba"
_CANDIDATES = ("utf-8", "euc_jp", "euc_jis_2004", "cp932")
_RACE_ID_IN_URL = re.compile(r"race_id=([0-9]{12})|/race/([0-9]{12})")
_DATE = re.compile(r"([0-9]{4})年([0-9]{1,2})月([0-9]{1,2})日")
_MEETING = re.compile(r"([0-9]{1,2})回\s*(\S+?)\s*([0-9]{1,2})日目")
_GRADE_TEXT = re.compile(r"[（(]\s*(?:J\.?・?)?(GIII|GII|GI|G3|G2|G1|L)\s*[）)]")
_GRADES = {"GI": "G1", "GII": "G2", "GIII": "G3", "G1": "G1", "G2": "G2", "G3": "G3", "L": "L"}
_GRADE_ICONS = {"1": "G1", "2": "G2", "3": "G3", "10": "G1", "11": "G2", "12": "G3", "15": "L"}
_CLASSES = (
    ("新馬", "新馬"),
    ("未勝利", "未勝利"),
    ("1勝クラス", "1勝"),
    ("2勝クラス", "2勝"),
    ("3勝クラス", "3勝"),
    ("1000万", "2勝"),
    ("1600万", "3勝"),
    ("500万", "1勝"),
    ("オープン", "OP"),
)
_SURFACES = {"芝": "turf", "ダ": "dirt", "障": "jump"}
_GOINGS = {"良": "良", "稍": "稍重", "稍重": "稍重", "重": "重", "不": "不良", "不良": "不良"}
_RACES = {c.name: c for c in table("races").columns}


class NetkeibaParseError(ImportValidationError):
    """A netkeiba page or answer is not what its parser expects.

    `locator` is the page (URL or file) and, where the problem is in a table, `row N`
    (1-based, counting the table's data rows); `snippet` is the offending text, if any.
    """

    def __init__(
        self,
        page: str,
        reason: str,
        *,
        row: int | None = None,
        column: str | None = None,
        snippet: str | None = None,
    ) -> None:
        self.page = page
        self.row = row
        self.locator = page if row is None else f"{page} row {row}"
        self.snippet = snippet
        super().__init__(self.locator, None, column, reason)

    @property
    def short_reason(self) -> str:
        return f"{self.column}: {self.reason}" if self.column else self.reason


def norm(text: str | None) -> str:
    """NFKC-normalised text with runs of white space collapsed (全角 digits become ASCII)."""
    return " ".join(unicodedata.normalize("NFKC", text or "").split())


def decode_page(data: bytes, page: str) -> str:
    """The page's text, whatever its `<meta>` claims: the encoding that reads it best."""
    if not data.strip():
        raise NetkeibaParseError(page, "the page is empty")
    data = data.removeprefix(b"\xef\xbb\xbf")
    best: tuple[int, str] | None = None
    for encoding in _CANDIDATES:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            text = data.decode(encoding, "replace")
            errors = text.count("\ufffd")
            if best is None or errors < best[0]:
                best = (errors, text)
    assert best is not None
    if best[0] > max(3, len(best[1]) // 1000):  # a cut-off tail is tolerated, noise is not
        raise NetkeibaParseError(page, f"not readable as {', '.join(_CANDIDATES)}")
    return best[1]


def parse_html(data: bytes, page: str) -> lxml.html.HtmlElement:
    """The decoded page as an lxml tree, netkeiba's `<diary_snap>` wrappers removed."""
    text = decode_page(data, page)
    text = re.sub(r"<\?xml[^>]*>", "", text)
    try:
        doc = lxml.html.document_fromstring(text)
    except (lxml.etree.ParserError, ValueError) as e:
        raise NetkeibaParseError(page, f"not an HTML page: {e}") from None
    lxml.etree.strip_tags(doc, "diary_snap", "diary_snap_cut")
    return doc


def race_id_from_url(url: str) -> NetkeibaRaceId | None:
    """The netkeiba race id a URL names (`race_id=…` or `/race/…/`), if any."""
    found = _RACE_ID_IN_URL.search(url)
    if found is None:
        return None
    try:
        return NetkeibaRaceId.parse(found[1] or found[2])
    except InvalidRaceIdError:
        return None


def check_value(
    page: str, column: Column, value: float, *, row: int | None = None, shown: str | None = None
) -> None:
    """Raise unless `value` is within the contract column's bounds."""
    low, high = column.minimum, column.maximum
    text = shown if shown is not None else f"{value:g}"
    reason = None
    if low is not None and column.exclusive_minimum and value <= low:
        reason = f"{text} must be above {low:g}"
    elif low is not None and not column.exclusive_minimum and value < low:
        reason = f"{text} must be at least {low:g}"
    elif high is not None and value > high:
        reason = f"{text} must be at most {high:g}"
    if reason:
        raise NetkeibaParseError(page, reason, row=row, column=column.name, snippet=text)


@dataclass(frozen=True, slots=True)
class RaceHeader:
    """The race as a page states it, checked against its netkeiba race id."""

    race_key: RaceKey
    race_name: str
    grade: str | None
    race_class: str
    surface: str
    distance_m: int
    direction: str | None
    going: str | None
    weather: str | None
    post_time: dt.datetime | None
    stated_field_size: int | None

    @property
    def race_id(self) -> str:
        return str(self.race_key)

    @property
    def netkeiba_race_id(self) -> str:
        return str(self.race_key.to_netkeiba())


class _Header:
    """Collects a header's pieces and checks them into a `RaceHeader`."""

    def __init__(self, page: str) -> None:
        self.page = page

    def fail(self, reason: str, column: str | None = None) -> NoReturn:
        raise NetkeibaParseError(self.page, reason, column=column)

    def race_id(self, found: str | None, expected: NetkeibaRaceId | None) -> NetkeibaRaceId:
        race: NetkeibaRaceId | None = None
        if found is not None:
            try:
                race = NetkeibaRaceId.parse(found)
            except InvalidRaceIdError as e:
                self.fail(e.reason, "race_id")
        if race is not None and expected is not None and race != expected:
            self.fail(f"the page is race {race}, expected {expected}", "race_id")
        race = race or expected
        if race is None:
            self.fail("the page names no race id", "race_id")
        return race

    def date(self, text: str) -> dt.date:
        found = _DATE.search(text)
        if found is None:
            self.fail("no race date (YYYY年M月D日) on the page", "race_date")
        try:
            return dt.date(int(found[1]), int(found[2]), int(found[3]))
        except ValueError:
            self.fail(f"{found[0]} is not a calendar date", "race_date")

    def key(
        self, race: NetkeibaRaceId, date: dt.date, venue_name: str, meeting: tuple[int, int] | None
    ) -> RaceKey:
        try:
            venue = Venue.from_japanese(venue_name)
        except ValueError:
            self.fail(f"{venue_name!r} is not a JRA racecourse", "venue_code")
        if venue is not race.venue:
            self.fail(f"the page says {venue.japanese}, the race id {race.venue.japanese}", "venue")
        if meeting is not None and meeting != (race.meeting, race.meeting_day):
            self.fail(
                f"the page says {meeting[0]}回{meeting[1]}日目, the race id "
                f"{race.meeting}回{race.meeting_day}日目",
                "meeting",
            )
        try:
            return race.to_race_key(date)
        except InvalidRaceIdError as e:
            self.fail(e.reason, "race_date")

    def race_class(self, *texts: str) -> str | None:
        for text in texts:
            for marker, race_class in _CLASSES:
                if marker in text:
                    return race_class
        return None

    def course(self, text: str) -> tuple[str, int, str | None]:
        found = re.search(r"(障|芝|ダ)[^0-9/]*?([0-9]{3,4})m", text)
        if found is None:
            self.fail(f"no surface and distance in {text[:60]!r}", "distance_m")
        distance = int(found[2])
        check_value(self.page, _RACES["distance_m"], distance)
        tail = text[found.start() : found.end() + 12]
        direction = next((d for d in ("右", "左", "直線") if d in tail), None)
        return _SURFACES[found[1]], distance, direction

    def going(self, text: str | None) -> str | None:
        if not text:
            return None
        going = _GOINGS.get(text)
        if going is None:
            self.fail(f"{text!r} is not a going (良, 稍重, 重, 不良)", "going")
        return going

    def post_time(self, date: dt.date, text: str) -> dt.datetime | None:
        found = re.search(r"([0-9]{1,2}):([0-9]{2})", text)
        if found is None:
            return None
        hour, minute = int(found[1]), int(found[2])
        if hour > 23 or minute > 59:
            self.fail(f"{found[0]} is not a time of day", "post_time")
        return dt.datetime.combine(date, dt.time(hour, minute), JST).astimezone(dt.UTC)


def _grade_from_name(name: str) -> tuple[str, str | None]:
    found = _GRADE_TEXT.search(name)
    if found is None:
        return name, None
    return (name[: found.start()] + name[found.end() :]).strip() or name, _GRADES[found[1]]


def parse_db_header(
    doc: lxml.html.HtmlElement, page: str, expected: NetkeibaRaceId | None
) -> RaceHeader:
    """The race of a db.netkeiba.com result page (current and 2010 layouts)."""
    h = _Header(page)
    links = doc.xpath('//li[@class="race_navi_result"]/a/@href') + doc.xpath(
        '//div[contains(@class,"race_num")]//a[contains(@class,"active")]/@href'
    )
    found = next((m for m in (_RACE_ID_IN_URL.search(str(u)) for u in links) if m), None)
    race = h.race_id((found[1] or found[2]) if found else None, expected)
    intro = doc.xpath('//dl[contains(@class,"racedata")]')
    small = doc.xpath('//p[contains(@class,"smalltxt")]')
    if not intro or not small:
        h.fail("no race data block (dl.racedata, p.smalltxt)")
    title = norm(" ".join(e.text_content() for e in intro[0].xpath(".//h1")))
    line = norm(" ".join(e.text_content() for e in intro[0].xpath(".//dd//span")))
    details = norm(small[0].text_content())
    if not title:
        h.fail("no race name", "race_name")
    date = h.date(details)
    meeting = _MEETING.search(details)
    if meeting is None:
        h.fail(f"no 開催 (N回…N日目) in {details[:60]!r}", "meeting")
    key = h.key(race, date, meeting[2], (int(meeting[1]), int(meeting[3])))
    name, grade = _grade_from_name(title)
    race_class = h.race_class(details, title) or ("OP" if grade else None)
    if race_class is None:
        h.fail(f"no race class in {details[:60]!r}", "race_class")
    surface, distance, direction = h.course(line)
    going = re.search(r"(?:芝|ダート)\s*:\s*(\S+)", line)
    weather = re.search(r"天候\s*:\s*(\S+)", line)
    start = re.search(r"発走\s*:\s*(\S+)", line)
    return RaceHeader(
        race_key=key,
        race_name=name,
        grade=grade,
        race_class=race_class,
        surface=surface,
        distance_m=distance,
        direction=direction,
        going=h.going(going[1] if going else None),
        weather=weather[1] if weather else None,
        post_time=h.post_time(date, start[1]) if start else None,
        stated_field_size=None,
    )


def parse_race_header(
    doc: lxml.html.HtmlElement, page: str, expected: NetkeibaRaceId | None
) -> RaceHeader:
    """The race of a race.netkeiba.com page (result, 出馬表, odds)."""
    h = _Header(page)
    canonical = doc.xpath('//link[@rel="canonical"]/@href') + doc.xpath(
        '//meta[@property="og:url"]/@content'
    )
    found = next((m for m in (_RACE_ID_IN_URL.search(str(u)) for u in canonical) if m), None)
    race = h.race_id((found[1] or found[2]) if found else None, expected)
    title = norm(" ".join(e.text_content() for e in doc.xpath("//title")))
    data01 = doc.xpath('//div[@class="RaceData01"]')
    data02 = doc.xpath('//div[@class="RaceData02"]')
    names = doc.xpath('//h1[contains(@class,"RaceName")]')
    if not data01 or not data02 or not names:
        h.fail("no race data block (RaceName, RaceData01, RaceData02)")
    line1 = norm(data01[0].text_content())
    line2 = norm(data02[0].text_content())
    date = h.date(title)
    venue_and_no = re.search(r"日\s*(\S+?)([0-9]{1,2})R", title)
    meeting = _MEETING.search(line2)
    if meeting is None:
        h.fail(f"no 開催 (N回 … N日目) in {line2[:60]!r}", "meeting")
    venue_name = venue_and_no[1] if venue_and_no else meeting[2]
    if venue_and_no and int(venue_and_no[2]) != race.race_no:
        h.fail(f"the page says race {venue_and_no[2]}, the race id {race.race_no}", "race_no")
    key = h.key(race, date, venue_name, (int(meeting[1]), int(meeting[3])))
    name = norm(names[0].text_content())
    if not name:
        h.fail("no race name", "race_name")
    icons = " ".join(
        str(c) for c in names[0].xpath('.//span[contains(@class,"Icon_Grade")]/@class')
    )
    icon = re.search(r"Icon_GradeType([0-9]+)", icons)
    name, grade = _grade_from_name(name)
    grade = grade or (_GRADE_ICONS.get(icon[1]) if icon else None)
    race_class = h.race_class(line2, name) or ("OP" if grade else None)
    if race_class is None:
        h.fail(f"no race class in {line2[:60]!r}", "race_class")
    surface, distance, direction = h.course(line1)
    going = re.search(r"馬場\s*:\s*(\S+)", line1)
    weather = re.search(r"天候\s*:\s*(\S+)", line1)
    start = re.search(r"([0-9]{1,2}:[0-9]{2})\s*発走", line1)
    runners = re.search(r"([0-9]{1,2})頭", line2)
    stated = int(runners[1]) if runners else None
    if stated is not None:
        check_value(page, _RACES["field_size"], stated)
    return RaceHeader(
        race_key=key,
        race_name=name,
        grade=grade,
        race_class=race_class,
        surface=surface,
        distance_m=distance,
        direction=direction,
        going=h.going(going[1] if going else None),
        weather=weather[1] if weather else None,
        post_time=h.post_time(date, start[1]) if start else None,
        stated_field_size=stated,
    )
