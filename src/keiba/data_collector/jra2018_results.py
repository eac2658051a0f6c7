"""The jra2018 results CSVs: reading lines, the race-day calendar, parsing one line, and
assembling the lines into whole races (or withholding a race whole).

One line is one runner that finished (27 columns by position, no header; see
`tests/data_collector/fixtures/jra2018/README.md`). `parse_result_line` turns a line into a typed
`ResultRow` or raises `Jra2018RecordError` (an `ImportValidationError`) naming the file, the
line, the column and why; it never raises anything else. `assemble_results` groups the lines
by race and applies the race rules described in `keiba.data_collector.jra2018`.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from keiba.common.errors import ImportValidationError
from keiba.common.ids import NetkeibaRaceId, RaceKey, Venue
from keiba.common.schema import Column, table
from keiba.data_collector.quarantine import QuarantineRecord

__all__ = [
    "SOURCE",
    "DuplicateLine",
    "Jra2018RecordError",
    "KaisaiCalendar",
    "RaceResult",
    "ResultRow",
    "ResultsBatch",
    "SourceLine",
    "assemble_results",
    "expected_frame",
    "parse_result_line",
    "read_lines",
    "split_line",
]

SOURCE = "jra2018-csv"
RESULT_COLUMNS = (
    "date", "venue", "race_no", "race_name", "surface", "direction", "distance_m",
    "age_condition", "race_class", "going", "field_size", "finish_pos", "frame_no", "horse_no",
    "horse_name", "sex", "age", "body_weight_kg", "body_weight_diff_kg", "finish_time_s",
    "passing", "last_3f_s", "jockey_name", "weight_carried_kg", "popularity", "win_odds_final",
    "trainer_name",
)  # fmt: skip
RACE_COLUMNS = range(3, 11)
"""Columns 3–10 describe the race; every line of a race must repeat them exactly."""

SURFACES = {"芝": "turf", "ダート": "dirt", "障害": "jump"}
RACE_CLASSES = {
    "新馬": "新馬",
    "未勝利": "未勝利",
    "500万下": "1勝",
    "1000万下": "2勝",
    "1600万下": "3勝",
    "オープン": "OP",
}
_GRADE = re.compile(r"[（(](?:J・)?(GIII|GII|GI|L)[）)]")
_GRADES = {"GI": "G1", "GII": "G2", "GIII": "G3", "L": "L"}
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_INT = re.compile(r"[+-]?[0-9]{1,9}")
_DECIMAL = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,3})?")
_MIN_SEC = re.compile(r"([0-9]{1,2})\.([0-5][0-9])\.([0-9])")
_PASSING = re.compile(r"[0-9]{1,2}(?:-[0-9]{1,2}){0,3}")

_RACES = {c.name: c for c in table("races").columns}
_RUNNERS = {c.name: c for c in table("runners").columns}


@dataclass(frozen=True, slots=True)
class SourceLine:
    """One non-blank line of an input file, 1-based `line` as an editor shows it."""

    path: str
    line: int
    text: str
    encoding_error: bool = False

    @property
    def locator(self) -> str:
        return f"{self.path}:{self.line}"


class Jra2018RecordError(ImportValidationError):
    """One line of a jra2018 file is invalid; `locator` is `path:line`."""

    def __init__(self, line: SourceLine, column: str | None, reason: str) -> None:
        super().__init__(line.path, line.line, column, reason)
        self.locator = line.locator

    @property
    def short_reason(self) -> str:
        """The reason without the place: `column: why`."""
        return f"{self.column}: {self.reason}" if self.column else self.reason


def read_lines(path: Path) -> list[SourceLine]:
    """Non-blank lines of a file; a line that is not UTF-8 is kept, flagged, for quarantine."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ImportValidationError(str(path), None, None, f"unreadable: {e}") from e
    data = data.removeprefix(b"\xef\xbb\xbf")
    lines: list[SourceLine] = []
    for number, raw in enumerate(data.split(b"\n"), 1):
        raw = raw.removesuffix(b"\r")
        if not raw.strip():
            continue
        try:
            lines.append(SourceLine(str(path), number, raw.decode("utf-8")))
        except UnicodeDecodeError:
            lines.append(SourceLine(str(path), number, raw.decode("utf-8", "replace"), True))
    return lines


def split_line(line: SourceLine) -> list[str]:
    """The comma-separated fields of one line (CSV quoting honoured)."""
    try:
        return next(csv.reader([line.text], strict=True), [])
    except csv.Error as e:
        raise Jra2018RecordError(line, None, f"not a CSV line: {e}") from None


class KaisaiCalendar:
    """The race-day calendar: (date, venue) ⇄ (開催回, 日目)."""

    def __init__(self, days: Iterable[tuple[dt.date, Venue, int, int]]) -> None:
        self._meetings: dict[tuple[dt.date, Venue], tuple[int, int]] = {}
        self._dates: dict[tuple[int, Venue, int, int], dt.date] = {}
        for date, venue, meeting, day in days:
            RaceKey(date, venue, meeting, day, 1)  # checks the ranges
            if (date, venue) in self._meetings:
                raise ValueError(f"{venue.japanese} on {date} appears twice in the calendar")
            known = self._dates.get((date.year, venue, meeting, day))
            if known is not None:
                raise ValueError(
                    f"{venue.japanese} {meeting}回{day}日 {date.year} is both {known} and {date}"
                )
            self._meetings[(date, venue)] = (meeting, day)
            self._dates[(date.year, venue, meeting, day)] = date
        self._race_dates = {date for date, _ in self._meetings}

    @classmethod
    def from_json(cls, path: Path) -> KaisaiCalendar:
        """Read `kaisai_calendar.json`: `[{"date": "YYYYMMDD", "venues": [{"venue", "kaisai",
        "day"}, …]}, …]`."""
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ImportValidationError(str(path), None, None, f"unreadable calendar: {e}") from e
        days: list[tuple[dt.date, Venue, int, int]] = []
        try:
            if not isinstance(entries, list):
                raise ValueError("the calendar must be a JSON list of race days")
            for index, entry in enumerate(entries):
                where = f"entry {index}"
                if not isinstance(entry, dict) or not isinstance(entry.get("venues"), list):
                    raise ValueError(f"{where}: needs 'date' and a list 'venues'")
                text = entry.get("date")
                if not isinstance(text, str) or not re.fullmatch(r"[0-9]{8}", text):
                    raise ValueError(f"{where}: date {text!r} is not YYYYMMDD")
                date = dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
                for venue in entry["venues"]:
                    if not isinstance(venue, dict):
                        raise ValueError(f"{where}: a venue must be an object")
                    meeting, day = venue.get("kaisai"), venue.get("day")
                    if not isinstance(meeting, int) or not isinstance(day, int):
                        raise ValueError(f"{where}: kaisai and day must be integers")
                    days.append((date, Venue.from_japanese(str(venue.get("venue"))), meeting, day))
            return cls(days)
        except ValueError as e:
            raise ImportValidationError(str(path), None, None, f"bad calendar: {e}") from e

    def meeting_of(self, date: dt.date, venue: Venue) -> tuple[int, int] | None:
        """(開催回, 日目) of a venue's race day, or None if it did not race that day."""
        return self._meetings.get((date, venue))

    def date_of(self, race: NetkeibaRaceId) -> dt.date | None:
        """The date of a netkeiba race id's race day, or None if the calendar does not know it."""
        return self._dates.get((race.year, race.venue, race.meeting, race.meeting_day))

    def has_date(self, date: dt.date) -> bool:
        return date in self._race_dates


def expected_frame(horse_no: int, field_size: int) -> int:
    """JRA's 枠番 of a horse number: up to 8 runners one per frame; beyond, the outer frames
    take the extra horses."""
    if field_size <= 8:
        return horse_no
    per_frame, extra = divmod(field_size, 8)
    inner = 8 - extra  # frames 1..inner hold per_frame horses, the rest one more
    if horse_no <= inner * per_frame:
        return (horse_no - 1) // per_frame + 1
    return inner + (horse_no - inner * per_frame - 1) // (per_frame + 1) + 1


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One parsed results line: the race it belongs to and the runner."""

    source: SourceLine
    race_key: RaceKey
    fields: tuple[str, ...]
    race_name: str
    grade: str | None
    race_class: str
    surface: str
    distance_m: int
    direction: str | None
    going: str
    field_size: int
    finish_pos: int
    frame_no: int
    horse_no: int
    horse_name: str
    sex: str
    age: int
    body_weight_kg: int
    body_weight_diff_kg: int | None
    finish_time_s: float
    passing: str | None
    last_3f_s: float
    jockey_name: str | None
    weight_carried_kg: float
    popularity: int
    win_odds_final: float
    trainer_name: str | None

    @property
    def race_fields(self) -> tuple[str, ...]:
        return tuple(self.fields[i] for i in RACE_COLUMNS)


class _Fields:
    """Typed access to a line's fields; every failure is a `Jra2018RecordError`."""

    def __init__(self, line: SourceLine, fields: Sequence[str], names: Sequence[str]) -> None:
        self.line = line
        self.names = names
        self.values = [f.strip() for f in fields]

    def fail(self, index: int | None, reason: str) -> NoReturn:
        raise Jra2018RecordError(self.line, None if index is None else self.names[index], reason)

    def text(self, index: int) -> str:
        value = self.values[index]
        if not value:
            self.fail(index, "missing value")
        return value

    def optional_text(self, index: int) -> str | None:
        return self.values[index] or None

    def integer(self, index: int, column: Column | None = None) -> int:
        value = self.text(index)
        if not _INT.fullmatch(value):
            self.fail(index, f"{value!r} is not a whole number")
        number = int(value)
        if column is not None:
            self.check_bounds(index, number, column)
        return number

    def decimal(self, index: int, column: Column, *, minutes: bool = False) -> float:
        value = self.text(index)
        parts = _MIN_SEC.fullmatch(value) if minutes else None
        if parts is not None:  # m.ss.t, as a few slow last-3-furlong times are written
            number = int(parts[1]) * 60 + int(parts[2]) + int(parts[3]) / 10
        elif _DECIMAL.fullmatch(value):
            number = float(value)
        else:
            self.fail(index, f"{value!r} is not a decimal number")
        self.check_bounds(index, number, column)
        return number

    def choice(self, index: int, choices: dict[str, str] | tuple[str, ...]) -> str:
        value = self.text(index)
        if value not in choices:
            self.fail(index, f"{value!r} is not one of {', '.join(choices)}")
        return choices[value] if isinstance(choices, dict) else value

    def check_bounds(self, index: int, number: float, column: Column) -> None:
        low, high = column.minimum, column.maximum
        if low is not None and column.exclusive_minimum and number <= low:
            self.fail(index, f"{self.values[index]} must be above {low:g}")
        if low is not None and not column.exclusive_minimum and number < low:
            self.fail(index, f"{self.values[index]} must be at least {low:g}")
        if high is not None and number > high:
            self.fail(index, f"{self.values[index]} must be at most {high:g}")


def raw_race_key(fields: Sequence[str]) -> tuple[str, str, str] | None:
    """The (date, venue, race number) text a line names, or None if it names none."""
    if len(fields) < 3:
        return None
    date, venue, number = (f.strip() for f in fields[:3])
    if not (date and venue and number):
        return None
    return date, venue, str(int(number)) if _INT.fullmatch(number) else number


def result_race_key(line: SourceLine, fields: Sequence[str], calendar: KaisaiCalendar) -> RaceKey:
    """The race key of a line's first three columns, with 開催回 and 日目 from the calendar."""
    f = _Fields(line, list(fields[:3]) + [""] * (3 - len(fields)), RESULT_COLUMNS)
    text = f.text(0)
    if not _DATE.fullmatch(text):
        f.fail(0, f"{text!r} is not a date YYYY-MM-DD")
    try:
        date = dt.date.fromisoformat(text)
    except ValueError:
        f.fail(0, f"{text!r} is not a calendar date")
    try:
        venue = Venue.from_japanese(f.text(1))
    except ValueError:
        f.fail(1, f"{f.values[1]!r} is not a JRA racecourse")
    race_no = f.integer(2, _RACES["race_no"])
    if not calendar.has_date(date):
        f.fail(0, f"{date} is not a race day in the calendar")
    meeting = calendar.meeting_of(date, venue)
    if meeting is None:
        f.fail(1, f"{venue.japanese} did not race on {date} according to the calendar")
    return RaceKey(date, venue, meeting[0], meeting[1], race_no)


def parse_result_fields(line: SourceLine, fields: Sequence[str], race_key: RaceKey) -> ResultRow:
    """The runner of a line whose race key is already known (columns 3–26)."""
    f = _Fields(line, fields, RESULT_COLUMNS)
    if line.encoding_error:
        f.fail(None, "the line is not valid UTF-8")
    if len(fields) != len(RESULT_COLUMNS):
        f.fail(None, f"{len(fields)} columns, expected {len(RESULT_COLUMNS)}")
    title = f.text(3)
    grade = _GRADE.search(title)
    field_size = f.integer(10, _RACES["field_size"])
    finish_pos = f.integer(11, _RUNNERS["finish_pos"])
    frame_no = f.integer(12, _RUNNERS["frame_no"])
    horse_no = f.integer(13, _RUNNERS["horse_no"])
    popularity = f.integer(24, _RUNNERS["popularity"])
    for index, number in ((11, finish_pos), (13, horse_no), (24, popularity)):
        if number > field_size:
            f.fail(index, f"{number} is beyond the field size {field_size}")
    if frame_no != expected_frame(horse_no, field_size):
        f.fail(
            12,
            f"frame {frame_no} does not hold horse {horse_no} in a field of {field_size} "
            f"(expected {expected_frame(horse_no, field_size)})",
        )
    f.text(7)  # the age condition (サラ系3歳…) is not in the contract but must be there
    diff = f.values[18]
    passing = f.values[20]
    if passing not in ("", "-") and not _PASSING.fullmatch(passing):
        f.fail(20, f"{passing!r} is not corner positions like 02-02")
    return ResultRow(
        source=line,
        race_key=race_key,
        fields=tuple(f.values),
        race_name=(title[: grade.start()] + title[grade.end() :]).strip() or title
        if grade
        else title,
        grade=_GRADES[grade[1]] if grade else None,
        race_class=f.choice(8, RACE_CLASSES),
        surface=f.choice(4, SURFACES),
        distance_m=f.integer(6, _RACES["distance_m"]),
        direction=html.unescape(f.values[5]) or None,
        going=f.choice(9, _RACES["going"].choices or ()),
        field_size=field_size,
        finish_pos=finish_pos,
        frame_no=frame_no,
        horse_no=horse_no,
        horse_name=f.text(14),
        sex=f.choice(15, _RUNNERS["sex"].choices or ()),
        age=f.integer(16, _RUNNERS["age"]),
        body_weight_kg=f.integer(17, _RUNNERS["body_weight_kg"]),
        body_weight_diff_kg=(
            None if diff == "-" else f.integer(18, _RUNNERS["body_weight_diff_kg"])
        ),
        finish_time_s=f.decimal(19, _RUNNERS["finish_time_s"], minutes=True),
        passing=None if passing in ("", "-") else passing,
        last_3f_s=f.decimal(21, _RUNNERS["last_3f_s"], minutes=True),
        jockey_name=f.optional_text(22),
        weight_carried_kg=f.decimal(23, _RUNNERS["weight_carried_kg"]),
        popularity=popularity,
        win_odds_final=f.decimal(25, _RUNNERS["win_odds_final"]),
        trainer_name=f.optional_text(26),
    )


def parse_result_line(line: SourceLine, calendar: KaisaiCalendar) -> ResultRow:
    """Parse one results line; raises only `Jra2018RecordError`."""
    fields = split_line(line)
    return parse_result_fields(line, fields, result_race_key(line, fields, calendar))


@dataclass(frozen=True, slots=True)
class DuplicateLine:
    """A line identical to an earlier line of the same race (kept once)."""

    race_id: str
    locator: str
    first_locator: str


@dataclass
class RaceResult:
    """An accepted race: its distinct runner rows and every line that carried them."""

    race_key: RaceKey
    rows: list[ResultRow]
    lines: list[SourceLine]

    @property
    def race_id(self) -> str:
        return str(self.race_key)

    @property
    def field_size(self) -> int:
        return self.rows[0].field_size

    @property
    def short(self) -> bool:
        return len(self.rows) < self.field_size


@dataclass
class ResultsBatch:
    """What the results files gave: accepted races, and everything quarantined with reasons."""

    races: dict[str, RaceResult] = field(default_factory=dict)
    withheld: set[str] = field(default_factory=set)
    quarantined: list[QuarantineRecord] = field(default_factory=list)
    duplicates: list[DuplicateLine] = field(default_factory=list)
    lines_read: int = 0

    def withhold(self, race_id: str, why: str) -> None:
        """Move an accepted race to quarantine, every line with `why`."""
        race = self.races.pop(race_id, None)
        if race is None:
            return
        self.withheld.add(race_id)
        self.quarantined.extend(_quarantine_lines(race.lines, {}, why))
        self.duplicates = [d for d in self.duplicates if d.race_id != race_id]


def _quarantine_lines(
    lines: Iterable[SourceLine], reasons: dict[SourceLine, list[str]], why: str
) -> list[QuarantineRecord]:
    """Every line of a withheld race: its own reasons if it has any, else the race's."""
    return [
        QuarantineRecord(SOURCE, line.locator, "; ".join(reasons.get(line, [])) or why, line.text)
        for line in lines
    ]


@dataclass
class _Group:
    lines: list[SourceLine] = field(default_factory=list)
    fields: list[list[str]] = field(default_factory=list)


def _race_problems(
    race_key: RaceKey, group: _Group, batch: ResultsBatch
) -> tuple[list[ResultRow], dict[SourceLine, list[str]]]:
    """Parse a race's lines and check them together; returns its rows and per-line problems."""
    problems: dict[SourceLine, list[str]] = {}
    rows: list[ResultRow] = []
    by_horse: dict[int, ResultRow] = {}
    for line, fields in zip(group.lines, group.fields, strict=True):
        try:
            row = parse_result_fields(line, fields, race_key)
        except Jra2018RecordError as e:
            problems.setdefault(line, []).append(e.short_reason)
            continue
        first = by_horse.get(row.horse_no)
        if first is None:
            by_horse[row.horse_no] = row
            rows.append(row)
        elif first.fields == row.fields:
            batch.duplicates.append(
                DuplicateLine(str(race_key), line.locator, first.source.locator)
            )
        else:
            problems.setdefault(line, []).append(
                f"horse_no: horse {row.horse_no} is also on {first.source.locator} "
                "with different values"
            )
    if problems or not rows:
        return rows, problems
    head = rows[0]
    for row in rows[1:]:
        differing = [RESULT_COLUMNS[i] for i in RACE_COLUMNS if row.fields[i] != head.fields[i]]
        if differing:
            problems.setdefault(row.source, []).append(
                f"{differing[0]}: disagrees with {head.source.locator} about the race"
            )
    if len(rows) > head.field_size:
        for row in rows:
            problems.setdefault(row.source, []).append(
                f"field_size: the race has {len(rows)} runners for a field of {head.field_size}"
            )
    positions = sorted(row.finish_pos for row in rows)
    for row in rows:  # standard competition ranking: 1, 1, 3, … (absent runners come last)
        if row.finish_pos != 1 + sum(1 for p in positions if p < row.finish_pos):
            problems.setdefault(row.source, []).append(
                f"finish_pos: {row.finish_pos} does not fit the race's positions {positions}"
            )
    return rows, problems


def assemble_results(
    files: Sequence[Sequence[SourceLine]], calendar: KaisaiCalendar
) -> ResultsBatch:
    """Group the lines of all results files by race and accept or withhold each race whole."""
    batch = ResultsBatch()
    groups: dict[tuple[str, str, str], _Group] = {}
    order: list[list[tuple[SourceLine, tuple[str, str, str] | None]]] = []
    for lines in files:
        sequence: list[tuple[SourceLine, tuple[str, str, str] | None]] = []
        for line in lines:
            batch.lines_read += 1
            try:
                fields = split_line(line)
            except Jra2018RecordError as e:
                batch.quarantined.append(
                    QuarantineRecord(SOURCE, line.locator, e.short_reason, line.text)
                )
                sequence.append((line, None))
                continue
            key = raw_race_key(fields)
            if key is None:
                reason = "cannot tell the race: date, venue or race number missing"
                batch.quarantined.append(QuarantineRecord(SOURCE, line.locator, reason, line.text))
            else:
                group = groups.setdefault(key, _Group())
                group.lines.append(line)
                group.fields.append(fields)
            sequence.append((line, key))
        order.append(sequence)
    race_of: dict[tuple[str, str, str], str] = {}
    for key, group in groups.items():
        try:
            race_key = result_race_key(group.lines[0], group.fields[0], calendar)
        except Jra2018RecordError as e:
            batch.quarantined.extend(_quarantine_lines(group.lines, {}, e.short_reason))
            continue
        race_of[key] = str(race_key)
        rows, problems = _race_problems(race_key, group, batch)
        if problems:
            first = next(line for line in group.lines if line in problems)
            why = (
                f"withheld with race {race_key}: {len(problems)} bad line(s), first "
                f"{first.locator} ({problems[first][0]})"
            )
            batch.withheld.add(str(race_key))
            batch.quarantined.extend(_quarantine_lines(group.lines, problems, why))
            batch.duplicates = [d for d in batch.duplicates if d.race_id != str(race_key)]
        else:
            batch.races[str(race_key)] = RaceResult(race_key, rows, group.lines)
    _withhold_neighbours(batch, order, race_of)
    return batch


def _withhold_neighbours(
    batch: ResultsBatch,
    order: list[list[tuple[SourceLine, tuple[str, str, str] | None]]],
    race_of: dict[tuple[str, str, str], str],
) -> None:
    """A line whose race cannot be told may be a missing runner of the race just before or just
    after it in its file: withhold such a neighbour if it has fewer rows than its field."""
    for sequence in order:
        resolved = [race_of.get(key) if key is not None else None for _, key in sequence]
        before: list[str | None] = []  # the nearest race named on an earlier line
        last: str | None = None
        for race_id in resolved:
            before.append(last)
            last = race_id if race_id is not None else last
        after: list[str | None] = []  # … and on a later line
        last = None
        for race_id in reversed(resolved):
            after.append(last)
            last = race_id if race_id is not None else last
        after.reverse()
        for index, (line, _) in enumerate(sequence):
            if resolved[index] is not None:
                continue
            for race_id in sorted({r for r in (before[index], after[index]) if r is not None}):
                race = batch.races.get(race_id)
                if race is not None and race.short:
                    batch.withhold(
                        race_id,
                        f"withheld with race {race_id}: the unreadable line {line.locator} "
                        "beside it may be one of its runners",
                    )
