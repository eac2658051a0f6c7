"""Channels, and the ids that say which channel bought a ticket and which attempt it is.

A channel is a named broker: the configured one (the primary, name `""`) or a failover (another
IPAT account, or a person buying by hand), named by 1–8 lowercase letters and digits. An intent
is bought by a chain of attempts, each a ticket of its own, linked by their ids:

- attempt 0 is the decision's ticket, `ROOT` (bought through the primary);
- attempt k is `ROOT~k`, bought only after attempt k−1 was proven absent;
- a ticket bought through a failover channel ends in `@NAME` (`ROOT~1@alt`), and so do the
  tickets adopted from that channel's history (`adopt-RECEIPT-t@alt`).

So the ledger says, for every ticket, which channel bought it, and the audit shows the chain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from keiba.execution.broker import Broker

__all__ = ["PRIMARY", "Attempt", "Channel", "channel_of", "missed_id"]

PRIMARY = ""
_NAME = re.compile(r"[a-z0-9]{1,8}")


@dataclass(frozen=True)
class Channel:
    """A broker and the name its tickets carry (`PRIMARY` for the configured broker)."""

    name: str
    broker: Broker

    def __post_init__(self) -> None:
        if self.name != PRIMARY and not _NAME.fullmatch(self.name):
            raise ValueError(f"a channel's name is 1–8 lowercase letters or digits: {self.name!r}")

    @property
    def label(self) -> str:
        return self.name or "primary"


@dataclass(frozen=True)
class Attempt:
    """Where a ticket id sits in its intent's chain: the root id, the attempt, the channel."""

    root: str
    number: int
    channel: str

    @classmethod
    def of(cls, ticket_id: str) -> Attempt:
        base, _, channel = ticket_id.partition("@")
        root, _, number = base.partition("~")
        if number.isdigit():
            return cls(root, int(number), channel)
        return cls(base, 0, channel)

    @property
    def ticket_id(self) -> str:
        base = self.root if self.number == 0 else f"{self.root}~{self.number}"
        return f"{base}@{self.channel}" if self.channel else base

    def next(self, channel: str) -> Attempt:
        """The attempt after this one, through `channel`."""
        return Attempt(self.root, self.number + 1, channel)


def channel_of(ticket_id: str) -> str:
    """The name of the channel that bought (or is buying) the ticket; `PRIMARY` is `""`."""
    return Attempt.of(ticket_id).channel


def missed_id(ticket_id: str) -> str:
    """The id of the record that says an absent ticket's intent was not bought again."""
    return f"missed:{ticket_id}"
