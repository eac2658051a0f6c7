"""The broker port and its paper twin.

A broker takes tickets and answers, for each, whether the venue accepted it and with what
receipt. A real venue adapter (IPAT) would sit behind the same `Broker` protocol; the
`PaperBroker` accepts every well-formed ticket at once, hands out sequential receipts, and
refuses what a venue refuses: stakes that are not whole 100-yen units, a ticket it has already
accepted, a race that is closed. It moves no money: the ledger does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from keiba.bankroll import Ticket
from keiba.common.errors import KeibaError

__all__ = ["Broker", "BrokerError", "PaperBroker", "Submission"]


class BrokerError(KeibaError):
    """The broker could not answer: whether any ticket reached the venue is unknown."""


@dataclass(frozen=True)
class Submission:
    """The venue's answer for one ticket: a receipt, or the reason it was refused."""

    ticket_id: str
    accepted: bool
    receipt: str | None = None
    reason: str = ""


class Broker(Protocol):
    def submit(self, tickets: Sequence[Ticket]) -> list[Submission]:
        """One answer per ticket, in order."""
        ...


class PaperBroker:
    """Accepts every valid ticket immediately; nothing leaves the process."""

    def __init__(self, *, closed_races: Iterable[str] = (), prefix: str = "paper") -> None:
        self._closed = set(closed_races)
        self._prefix = prefix
        self._accepted: dict[str, str] = {}

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
                answers.append(Submission(ticket.ticket_id, True, receipt))
        return answers
