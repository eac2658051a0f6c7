"""The broker port and its paper twin.

A broker takes tickets and answers, for each, whether the venue accepted it and with what
receipt, and says which tickets the venue has bought on a day (`history`: the venue's own
record, the only proof of a purchase whose answer was lost). Where acceptance cannot be known
(the answer never came after the purchase was sent) it raises `PurchaseUnknown`, a
`BrokerError`: such tickets stay reserved until the history says. The IPAT web broker
(`keiba.execution.ipat`) and the manual broker (`keiba.execution.manual`) sit behind the same
protocol. The `PaperBroker` accepts every well-formed ticket at once, hands out sequential
receipts, and refuses what a venue refuses: stakes that are not whole 100-yen units, a ticket
it has already accepted, a race that is closed. It moves no money: the ledger does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from keiba.bankroll import Ticket
from keiba.common.bet_types import BetType
from keiba.common.errors import InvalidRaceIdError, KeibaError
from keiba.common.ids import RaceKey
from keiba.execution.history import HistoryRow

__all__ = ["Broker", "BrokerError", "PaperBroker", "PurchaseUnknown", "Submission"]


class BrokerError(KeibaError):
    """The broker could not answer: whether any ticket reached the venue is unknown."""


@dataclass(frozen=True)
class Submission:
    """The venue's answer for one ticket: a receipt, or the reason it was refused."""

    ticket_id: str
    accepted: bool
    receipt: str | None = None
    reason: str = ""


class PurchaseUnknown(BrokerError):
    """Whether some tickets reached the venue is unknown; they must stay reserved.

    `answers` holds what is known (tickets accepted or refused before it happened), `unknown`
    the ids of the tickets that may or may not have been bought, and `not_sent` those that
    were never sent.
    """

    def __init__(
        self,
        message: str,
        *,
        answers: Sequence[Submission] = (),
        unknown: Sequence[str] = (),
        not_sent: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.answers = tuple(answers)
        self.unknown = tuple(unknown)
        self.not_sent = tuple(not_sent)


class Broker(Protocol):
    def submit(self, tickets: Sequence[Ticket]) -> list[Submission]:
        """One answer per ticket, in order; `PurchaseUnknown` when acceptance is unknown."""
        ...

    def history(self, day: dt.date) -> list[HistoryRow]:
        """Every ticket the venue has for the races of `day`; raises when it cannot know."""
        ...


class PaperBroker:
    """Accepts every valid ticket immediately; nothing leaves the process."""

    def __init__(self, *, closed_races: Iterable[str] = (), prefix: str = "paper") -> None:
        self._closed = set(closed_races)
        self._prefix = prefix
        self._accepted: dict[str, str] = {}
        self._history: list[HistoryRow] = []

    def close_race(self, race_id: str) -> None:
        """Sales for the race have ended: later tickets for it are refused."""
        self._closed.add(race_id)

    @property
    def accepted(self) -> int:
        return len(self._accepted)

    def submit(self, tickets: Sequence[Ticket]) -> list[Submission]:
        answers = []
        for ticket in tickets:
            if ticket.ticket_id in self._accepted:
                answers.append(Submission(ticket.ticket_id, False, None, "duplicate ticket id"))
            elif ticket.stake <= 0 or ticket.stake % 100:
                answers.append(
                    Submission(ticket.ticket_id, False, None, f"stake {ticket.stake} yen")
                )
            elif ticket.race_id in self._closed:
                answers.append(Submission(ticket.ticket_id, False, None, "sales closed"))
            else:
                receipt = f"{self._prefix}-{len(self._accepted) + 1:08d}"
                self._accepted[ticket.ticket_id] = receipt
                self._remember(ticket, receipt)
                answers.append(Submission(ticket.ticket_id, True, receipt))
        return answers

    def history(self, day: dt.date) -> list[HistoryRow]:
        """The accepted tickets of races on `day` (those with a 16-digit race key)."""
        return [row for row in self._history if row.day == day]

    def _remember(self, ticket: Ticket, receipt: str) -> None:
        try:
            key = RaceKey.parse(ticket.race_id)
            bet_type = BetType(ticket.bet_type)
        except (InvalidRaceIdError, ValueError):
            return
        self._history.append(
            HistoryRow(
                key.race_date,
                receipt,
                1,
                key.venue,
                key.race_no,
                bet_type,
                ticket.combination,
                ticket.stake,
                receipt,
            )
        )
