"""The manual broker, for the degraded mode: a person buys the tickets by hand.

`ManualBroker.submit` appends the exact tickets to `<directory>/tickets-YYYYMMDD.csv` (UTF-8;
one line per ticket: ticket id, race, race key, pool as IPAT names it, selection, stake in yen,
sales deadline in JST) and raises `PurchaseUnknown` for all of them: nobody knows yet whether
they will be bought, so the ledger keeps them reserved. Reconciliation comes later from the
history the person downloads from 投票内容照会 into `<directory>/history/` (any `*.csv`
there): `history(day)` parses those files (`keiba.execution.history`), and raises when there
is none, so that an absent download is never taken for "nothing was bought".
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from keiba.bankroll import Ticket
from keiba.common.bet_types import BetType, parse_combination
from keiba.common.clock import JST, Clock
from keiba.common.errors import InvalidRaceIdError
from keiba.common.ids import RaceKey
from keiba.execution.broker import BrokerError, PurchaseUnknown, Submission
from keiba.execution.history import HistoryFormatError, HistoryRow, read_history_csv
from keiba.execution.ipat import BET_NAMES

__all__ = ["MANUAL_COLUMNS", "ManualBroker"]

MANUAL_COLUMNS = (
    "ticket_id",
    "race",
    "race_id",
    "pool",
    "selection",
    "stake_yen",
    "deadline_jst",
)

Deadlines = Callable[[str], dt.datetime | None]


class ManualBroker:
    """Writes tickets for a person to buy; every answer is unknown until the history says."""

    def __init__(self, directory: Path, clock: Clock, *, deadlines: Deadlines | None = None):
        self.directory = directory
        self._clock = clock
        self._deadlines = deadlines or (lambda race_id: None)

    def __repr__(self) -> str:
        return f"ManualBroker({str(self.directory)!r})"

    @property
    def history_dir(self) -> Path:
        """Where the person puts the CSV files downloaded from 投票内容照会."""
        return self.directory / "history"

    def submit(self, tickets: Sequence[Ticket]) -> list[Submission]:
        if not tickets:
            return []
        path = self._write(tickets)
        raise PurchaseUnknown(
            f"{len(tickets)} tickets written to {path} for a person to buy; they stay reserved "
            f"until the purchase history in {self.history_dir} is reconciled",
            unknown=[t.ticket_id for t in tickets],
        )

    def _write(self, tickets: Sequence[Ticket]) -> Path:
        today = self._clock.now().astimezone(JST).date()
        path = self.directory / f"tickets-{today:%Y%m%d}.csv"
        self.directory.mkdir(parents=True, exist_ok=True)
        new = not path.exists()
        with path.open("a", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            if new:
                writer.writerow(MANUAL_COLUMNS)
            writer.writerows(self._line(t) for t in tickets)
            f.flush()
            os.fsync(f.fileno())
        return path

    def _line(self, ticket: Ticket) -> list[str]:
        try:
            key = RaceKey.parse(ticket.race_id)
            race = f"{key.race_date:%Y-%m-%d} {key.venue.japanese} {key.race_no}R"
        except InvalidRaceIdError:
            race = ticket.race_id
        try:
            bet_type = BetType(ticket.bet_type)
            numbers = parse_combination(bet_type, ticket.combination)
            pool = BET_NAMES[bet_type]
            selection = ("→" if bet_type.ordered else "-").join(str(n) for n in numbers)
        except ValueError:
            pool, selection = ticket.bet_type, ticket.combination
        deadline = self._deadlines(ticket.race_id)
        when = f"{deadline.astimezone(JST):%Y-%m-%d %H:%M} JST" if deadline else "unknown"
        return [ticket.ticket_id, race, ticket.race_id, pool, selection, str(ticket.stake), when]

    def history(self, day: dt.date) -> list[HistoryRow]:
        """The rows for `day` of every history file the person downloaded."""
        files = sorted(self.history_dir.glob("*.csv")) if self.history_dir.is_dir() else []
        if not files:
            raise BrokerError(
                f"no purchase history in {self.history_dir}: download 投票内容照会's CSV there"
            )
        rows: dict[str, HistoryRow] = {}
        for path in files:
            try:
                for row in read_history_csv(path):
                    rows.setdefault(row.receipt, row)
            except HistoryFormatError as e:
                raise BrokerError(str(e)) from None
        return [row for row in rows.values() if row.day == day]
