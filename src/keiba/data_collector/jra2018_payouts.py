"""The jra2018 payouts CSV: parsing one line and grouping the lines by race.

`payouts_2018.csv` has a header `race_id,bet_type,combination,payout_yen,popularity`; `race_id`
is netkeiba's 12-digit id, bet types are Japanese (単勝 …), combinations use ` - ` (unordered)
and ` → ` (ordered), payouts carry thousands separators (`"1,960"`). `parse_payout_line` turns
a line into a `PayoutRow` with the canonical combination (`3-7`, `7>3>1`; 枠連 names frames and
may repeat one) or raises `Jra2018RecordError`, never anything else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from keiba.common.bet_types import BetType, format_combination
from keiba.common.errors import InvalidRaceIdError
from keiba.common.ids import NetkeibaRaceId, RaceKey
from keiba.common.schema import table
from keiba.data_collector.jra2018_results import (
    SOURCE,
    DuplicateLine,
    Jra2018RecordError,
    KaisaiCalendar,
    SourceLine,
    _Fields,
    _quarantine_lines,
    expected_frame,
    split_line,
)
from keiba.data_collector.quarantine import QuarantineRecord

__all__ = [
    "PAYOUT_HEADER",
    "PayoutRow",
    "PayoutsBatch",
    "assemble_payouts",
    "check_against_field",
    "parse_payout_line",
]

PAYOUT_HEADER = ("race_id", "bet_type", "combination", "payout_yen", "popularity")
_YEN = re.compile(r"[0-9]{1,3}(?:,[0-9]{3}){0,4}|[0-9]{1,15}")
_NUMBER = re.compile(r"[0-9]{1,2}")
_ORDERED_SEPARATOR = re.compile(r"\s*→\s*")
_UNORDERED_SEPARATOR = re.compile(r"\s*-\s*")
_PAYOUTS = {c.name: c for c in table("payouts").columns}


@dataclass(frozen=True, slots=True)
class PayoutRow:
    source: SourceLine
    race_key: RaceKey
    fields: tuple[str, ...]
    bet_type: BetType
    numbers: tuple[int, ...]
    combination: str
    payout_yen: int
    popularity: int | None

    @property
    def race_id(self) -> str:
        return str(self.race_key)


def payout_race_key(line: SourceLine, fields: Sequence[str], calendar: KaisaiCalendar) -> RaceKey:
    """The race key of a netkeiba id, dated with the calendar."""
    f = _Fields(line, [fields[0] if fields else ""], PAYOUT_HEADER)
    try:
        race = NetkeibaRaceId.parse(f.text(0))
    except InvalidRaceIdError as e:
        f.fail(0, e.reason)
    date = calendar.date_of(race)
    if date is None:
        f.fail(
            0,
            f"{race}: {race.venue.japanese} {race.meeting}回{race.meeting_day}日 of {race.year} "
            "is not in the calendar",
        )
    return race.to_race_key(date)


def _combination(f: _Fields, bet: BetType) -> tuple[tuple[int, ...], str]:
    text = f.text(2)
    wrong, separator = ("-", _ORDERED_SEPARATOR) if bet.ordered else ("→", _UNORDERED_SEPARATOR)
    if wrong in text:
        f.fail(2, f"{text!r}: a {bet.japanese} combination does not use {wrong!r}")
    parts = separator.split(text)
    if len(parts) != bet.arity:
        f.fail(2, f"{text!r}: a {bet.japanese} combination names {bet.arity}, not {len(parts)}")
    if not all(_NUMBER.fullmatch(p) for p in parts):
        f.fail(2, f"{text!r} is not numbers joined by ' - ' or ' → '")
    numbers = tuple(int(p) for p in parts)
    try:
        return numbers, format_combination(bet, numbers)
    except ValueError as e:
        f.fail(2, f"{text!r}: {e}")


def parse_payout_fields(line: SourceLine, fields: Sequence[str], race_key: RaceKey) -> PayoutRow:
    """A payout line whose race is already known."""
    f = _Fields(line, fields, PAYOUT_HEADER)
    if line.encoding_error:
        f.fail(None, "the line is not valid UTF-8")
    if len(fields) != len(PAYOUT_HEADER):
        f.fail(None, f"{len(fields)} columns, expected {len(PAYOUT_HEADER)}")
    try:
        bet = BetType.from_japanese(f.text(1))
    except ValueError:
        f.fail(1, f"{f.values[1]!r} is not a JRA bet type")
    numbers, combination = _combination(f, bet)
    yen = f.text(3)
    if not _YEN.fullmatch(yen):
        f.fail(3, f"{yen!r} is not an amount of yen")
    payout = int(yen.replace(",", ""))
    f.check_bounds(3, payout, _PAYOUTS["payout_yen"])
    popularity = f.values[4]
    return PayoutRow(
        source=line,
        race_key=race_key,
        fields=tuple(f.values),
        bet_type=bet,
        numbers=numbers,
        combination=combination,
        payout_yen=payout,
        popularity=f.integer(4, _PAYOUTS["popularity"]) if popularity else None,
    )


def parse_payout_line(line: SourceLine, calendar: KaisaiCalendar) -> PayoutRow:
    """Parse one payouts line (not the header); raises only `Jra2018RecordError`."""
    fields = split_line(line)
    return parse_payout_fields(line, fields, payout_race_key(line, fields, calendar))


def check_against_field(rows: Iterable[PayoutRow], field_size: int) -> dict[SourceLine, str]:
    """Problems of a race's payouts given its field: numbers beyond the field, a same-frame
    枠連 pair on a frame that holds one horse."""
    problems: dict[SourceLine, str] = {}
    for row in rows:
        if row.bet_type is BetType.BRACKET_QUINELLA:
            frames = [expected_frame(h, field_size) for h in range(1, field_size + 1)]
            beyond = [n for n in row.numbers if n not in frames]
            same = row.numbers[0] == row.numbers[1] and frames.count(row.numbers[0]) < 2
            if beyond or same:
                problems[row.source] = (
                    f"combination: frame {(beyond or row.numbers)[0]} "
                    f"{'is empty' if beyond else 'holds one horse'} in a field of {field_size}"
                )
        elif any(n > field_size for n in row.numbers):
            problems[row.source] = (
                f"combination: {row.combination} names a horse beyond the field size {field_size}"
            )
    return problems


@dataclass
class PayoutsBatch:
    """Payout lines grouped by race: accepted groups and everything quarantined."""

    races: dict[str, list[PayoutRow]] = field(default_factory=dict)
    lines: dict[str, list[SourceLine]] = field(default_factory=dict)
    withheld: set[str] = field(default_factory=set)
    quarantined: list[QuarantineRecord] = field(default_factory=list)
    duplicates: list[DuplicateLine] = field(default_factory=list)
    lines_read: int = 0

    def withhold(
        self, race_id: str, why: str, reasons: dict[SourceLine, list[str]] | None = None
    ) -> None:
        """Quarantine every payout line of a race (with its own reason if it has one)."""
        self.races.pop(race_id, None)
        lines = self.lines.pop(race_id, None)
        if lines is None or race_id in self.withheld:
            return
        self.withheld.add(race_id)
        self.quarantined.extend(_quarantine_lines(lines, reasons or {}, why))
        self.duplicates = [d for d in self.duplicates if d.race_id != race_id]


def assemble_payouts(
    files: Sequence[Sequence[SourceLine]], calendar: KaisaiCalendar
) -> PayoutsBatch:
    """Group payout lines (header already removed) by race; a race with a bad line is withheld
    whole, and a line whose race cannot be told withholds the races on either side of it."""
    batch = PayoutsBatch()
    parsed: dict[str, list[PayoutRow]] = {}
    problems: dict[str, dict[SourceLine, list[str]]] = {}
    unreadable: list[tuple[SourceLine, str | None, str | None]] = []  # line, race before, after
    for lines in files:
        last_race: str | None = None
        waiting: list[SourceLine] = []
        for line in lines:
            batch.lines_read += 1
            try:
                fields = split_line(line)
                race_key = payout_race_key(line, fields, calendar)
            except Jra2018RecordError as e:
                batch.quarantined.append(
                    QuarantineRecord(SOURCE, line.locator, e.short_reason, line.text)
                )
                waiting.append(line)
                continue
            race_id = str(race_key)
            unreadable.extend((w, last_race, race_id) for w in waiting)
            waiting, last_race = [], race_id
            batch.lines.setdefault(race_id, []).append(line)
            try:
                row = parse_payout_fields(line, fields, race_key)
            except Jra2018RecordError as e:
                problems.setdefault(race_id, {}).setdefault(line, []).append(e.short_reason)
                continue
            parsed.setdefault(race_id, []).append(row)
        unreadable.extend((w, last_race, None) for w in waiting)
    for race_id, rows in parsed.items():
        seen: dict[tuple[BetType, str], PayoutRow] = {}
        kept: list[PayoutRow] = []
        for row in rows:
            first = seen.setdefault((row.bet_type, row.combination), row)
            if first is row:
                kept.append(row)
            elif first.fields == row.fields:
                batch.duplicates.append(
                    DuplicateLine(race_id, row.source.locator, first.source.locator)
                )
            else:
                problems.setdefault(race_id, {}).setdefault(row.source, []).append(
                    f"combination: {row.bet_type.japanese} {row.combination} is also on "
                    f"{first.source.locator} with a different payout"
                )
        batch.races[race_id] = kept
    for race_id, reasons in problems.items():
        bad = next(line for line in batch.lines[race_id] if line in reasons)
        batch.withhold(
            race_id,
            f"withheld with race {race_id}: {len(reasons)} bad payout line(s), first "
            f"{bad.locator} ({reasons[bad][0]})",
            reasons,
        )
    for line, before, after in unreadable:
        for neighbour in sorted({r for r in (before, after) if r is not None}):
            batch.withhold(
                neighbour,
                f"withheld with race {neighbour}: the unreadable payout line {line.locator} "
                "beside it may be one of its payouts",
            )
    return batch
