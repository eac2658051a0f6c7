"""The venue's purchase history: the 投票内容照会 CSV, parsed, and matched against tickets.

JRA's 投票内容照会 offers an account's purchases as a Shift_JIS CSV with the columns
`HISTORY_COLUMNS` (日付, 受付番号, 通番, 場名, 曜日, レース, 式別, 馬／組番, 購入金額, 的中／返還,
払戻単価, 払戻／返還金額). `(日付, 受付番号, 通番)` identifies one ticket. `parse_history_csv`
reads such a file into `HistoryRow`s; a row it cannot read is a `HistoryFormatError` whose one
line names the file, the line and what is wrong. Only the plain (通常) bet types are read: a
row of a wheel or a formation is such an error too, never silently skipped.

`find_tickets` answers "which of these tickets does the venue have?": each ticket is paired
with an unused row of the same race (date, racecourse, race number), bet type, combination and
stake. The CSV carries no 開催回 or 日目, so a race is known by date, racecourse and number.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from keiba.bankroll import Ticket
from keiba.common.bet_types import BetType, format_combination
from keiba.common.errors import InvalidRaceIdError, KeibaError
from keiba.common.ids import RaceKey, Venue

__all__ = [
    "HISTORY_COLUMNS",
    "HistoryFormatError",
    "HistoryRow",
    "find_tickets",
    "ipat_receipt",
    "parse_history_csv",
    "read_history_csv",
]

HISTORY_COLUMNS = (
    "日付",
    "受付番号",
    "通番",
    "場名",
    "曜日",
    "レース",
    "式別",
    "馬／組番",
    "購入金額",
    "的中／返還",
    "払戻単価",
    "払戻／返還金額",
)
ENCODING = "cp932"
"""Shift_JIS as Windows writes it (a superset of plain Shift_JIS)."""

_BET_TYPES = {
    "単勝": BetType.WIN,
    "複勝": BetType.PLACE,
    "枠連": BetType.BRACKET_QUINELLA,
    "馬連": BetType.QUINELLA,
    "ワイド": BetType.QUINELLA_PLACE,
    "馬単": BetType.EXACTA,
    "3連複": BetType.TRIO,
    "三連複": BetType.TRIO,
    "3連単": BetType.TRIFECTA,
    "三連単": BetType.TRIFECTA,
}
_SEPARATORS = re.compile(r"[―‐－\-→>]")
_NONE = {"", "―", "-", "－"}


class HistoryFormatError(KeibaError):
    """A purchase-history file cannot be read: names the file, the line and what is wrong."""

    def __init__(self, source: str, line: int, what: str) -> None:
        self.source = source
        self.line = line
        self.what = what
        super().__init__(f"{source}: line {line}: {what}")


@dataclass(frozen=True)
class HistoryRow:
    """One ticket the venue has: its receipt, race, bet type, selection and stake."""

    day: dt.date
    receipt_no: str
    serial: int
    venue: Venue
    race_no: int
    bet_type: BetType
    combination: str
    stake: int
    receipt: str
    outcome: str = ""
    payout: int = 0

    def is_race(self, race_id: str) -> bool:
        """True when `race_id` (a 16-digit race key) names this row's race."""
        try:
            key = RaceKey.parse(race_id)
        except InvalidRaceIdError:
            return False
        return (key.race_date, key.venue, key.race_no) == (self.day, self.venue, self.race_no)


def ipat_receipt(day: dt.date, receipt_no: str, serial: int) -> str:
    """The receipt keiba records for one IPAT ticket: date, 受付番号 and 通番."""
    return f"{day:%Y%m%d}-{receipt_no}-{serial}"


def read_history_csv(path: Path) -> list[HistoryRow]:
    """The rows of a downloaded history file."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise HistoryFormatError(str(path), 0, f"cannot read the file ({e.strerror})") from e
    return parse_history_csv(data, str(path))


def parse_history_csv(data: bytes, source: str = "<history>") -> list[HistoryRow]:
    """Parse the Shift_JIS CSV of 投票内容照会; the first error stops it, naming its line."""
    try:
        text = data.decode(ENCODING)
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise HistoryFormatError(source, line, "not Shift_JIS text") from None
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    rows: list[HistoryRow] = []
    header_seen = False
    for record in reader:
        line = reader.line_num
        if not any(field.strip() for field in record):
            continue
        if not header_seen:
            header = tuple(field.strip() for field in record)
            if header != HISTORY_COLUMNS:
                raise HistoryFormatError(
                    source,
                    line,
                    f"the header is {','.join(header)}, not {','.join(HISTORY_COLUMNS)}",
                )
            header_seen = True
            continue
        if not record[0].strip():
            continue
        rows.append(_row(record, source, line))
    if not header_seen:
        raise HistoryFormatError(source, 1, "no header line (the file is empty)")
    return rows


def _row(record: Sequence[str], source: str, line: int) -> HistoryRow:
    if len(record) != len(HISTORY_COLUMNS):
        raise HistoryFormatError(
            source, line, f"{len(record)} fields, expected {len(HISTORY_COLUMNS)}"
        )
    f = dict(
        zip(
            HISTORY_COLUMNS, (unicodedata.normalize("NFKC", v).strip() for v in record), strict=True
        )
    )
    column = ""
    try:
        column = "日付"
        day = _date(f[column])
        column = "受付番号"
        receipt_no = _digits(f[column])
        column = "通番"
        serial = int(_digits(f[column]))
        column = "場名"
        venue = Venue.from_japanese(f[column])
        column = "レース"
        race_no = _race_no(f[column])
        column = "式別"
        bet_type = _bet_type(f[column])
        column = "馬／組番"
        combination = _combination(bet_type, f[column])
        column = "購入金額"
        stake = _yen(f[column])
        if stake <= 0 or stake % 100:
            raise ValueError(f"{stake} yen is not a whole number of 100-yen units")
        column = "払戻／返還金額"
        payout = 0 if f[column] in _NONE else _yen(f[column])
    except ValueError as e:
        raise HistoryFormatError(source, line, f"{column} {f[column]!r}: {e}") from None
    outcome = "" if f["的中／返還"] in _NONE else f["的中／返還"]
    return HistoryRow(
        day,
        receipt_no,
        serial,
        venue,
        race_no,
        bet_type,
        combination,
        stake,
        ipat_receipt(day, receipt_no, serial),
        outcome,
        payout,
    )


def _date(text: str) -> dt.date:
    digits = re.sub(r"[/\-年月日]", "", text)
    if len(digits) != 8 or not digits.isdigit():
        raise ValueError("not a date (YYYYMMDD or YYYY/MM/DD)")
    return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))


def _digits(text: str) -> str:
    if not text.isascii() or not text.isdigit():
        raise ValueError("not a number")
    return text


def _race_no(text: str) -> int:
    number = int(_digits(text.removesuffix("R")))
    if not 1 <= number <= 12:
        raise ValueError("not a race number 1–12")
    return number


def _bet_type(text: str) -> BetType:
    try:
        return _BET_TYPES[text]
    except KeyError:
        raise ValueError("not a plain bet type (wheels and formations are not read)") from None


def _combination(bet_type: BetType, text: str) -> str:
    parts = _SEPARATORS.split(text)
    if not all(p.isascii() and p.isdigit() for p in parts):
        raise ValueError("not horse or frame numbers")
    return format_combination(bet_type, [int(p) for p in parts])


def _yen(text: str) -> int:
    return int(_digits(text.removesuffix("円").replace(",", "")))


def find_tickets(
    tickets: Sequence[Ticket], rows: Sequence[HistoryRow]
) -> dict[str, HistoryRow | None]:
    """For each ticket id, the history row that is that ticket, or None when the venue lacks it.

    Each row answers for at most one ticket: two identical tickets need two rows.
    """
    unused = list(rows)
    found: dict[str, HistoryRow | None] = {}
    for ticket in tickets:
        match = next((r for r in unused if _same(ticket, r)), None)
        if match is not None:
            unused.remove(match)
        found[ticket.ticket_id] = match
    return found


def _same(ticket: Ticket, row: HistoryRow) -> bool:
    return (
        row.is_race(ticket.race_id)
        and row.bet_type.value == ticket.bet_type
        and row.combination == ticket.combination
        and row.stake == ticket.stake
    )
