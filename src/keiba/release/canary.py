"""Canary: a candidate release decides and buys a deterministic share of a dataset's races.

A race runs the canary when a stable hash of (the candidate's release id, the race id) falls
below the share, so the choice is reproducible, independent of the order races are decided in,
and the same for any process that asks. On its races the candidate's decision is the one bought,
its stake capped by the canary's own race and day caps (integer yen; the day cap counts what the
canary's races of the day have staked since it started: tickets the release in force bought on
those races earlier that day are not the canary's) on top of its policy's caps; the release in
force decides the others, and decides the canary's races too, in shadow, so the two can be
compared.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keiba.bankroll.schema import TicketState
from keiba.release.errors import ReleaseError

if TYPE_CHECKING:
    from keiba.release.book import Release

__all__ = ["CanaryRun", "CanarySettings", "selects"]

_SCALE = 2**64
_NOT_STAKED = frozenset(
    s.value for s in (TicketState.REJECTED, TicketState.ABSENT, TicketState.RELEASED)
)


def _utc(value: object) -> dt.datetime:
    """An instant from the ledger or the release book (ISO text or a datetime; naive is UTC,
    as the ledger writes it)."""
    at = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def selects(release_id: str, race_id: str, share: float) -> bool:
    """Whether the canary `release_id` runs the race `race_id` at `share` of races."""
    key = hashlib.sha256(f"{release_id}|{race_id}".encode()).digest()
    return int.from_bytes(key[:8], "big") < share * _SCALE


@dataclass(frozen=True)
class CanarySettings:
    """A canary's share of races and its own stake caps (integer yen)."""

    share: float
    race_cap_yen: int
    day_cap_yen: int

    def __post_init__(self) -> None:
        if not 0 < self.share <= 1:
            raise ReleaseError(f"a canary's share is in (0, 1], was {self.share}")
        for name, cap in (("race cap", self.race_cap_yen), ("day cap", self.day_cap_yen)):
            if cap < 100 or cap % 100:
                raise ReleaseError(f"a canary's {name} is a multiple of 100 yen, was {cap}")
        if self.race_cap_yen > self.day_cap_yen:
            raise ReleaseError(
                f"a canary's race cap ({self.race_cap_yen:,} yen) exceeds its day cap "
                f"({self.day_cap_yen:,} yen)"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "share": self.share,
            "race_cap_yen": self.race_cap_yen,
            "day_cap_yen": self.day_cap_yen,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CanarySettings:
        return cls(float(data["share"]), int(data["race_cap_yen"]), int(data["day_cap_yen"]))


@dataclass(frozen=True)
class CanaryRun:
    """The canary running on a dataset: the candidate, its settings, when it started (ISO)."""

    release: Release
    settings: CanarySettings
    started_at: str

    def selects(self, race_id: str) -> bool:
        return selects(self.release.release_id, race_id, self.settings.share)

    def staked(self, tickets: Iterable[Mapping[str, Any]], day: dt.date) -> int:
        """What the canary has staked on `day`: the tickets of the day's races it selects,
        reserved since it started, in any state but refused, proven absent or released."""
        since = _utc(self.started_at)
        prefix = f"{day:%Y%m%d}"
        return sum(
            int(t["stake_yen"])
            for t in tickets
            if str(t["race_id"]).startswith(prefix)
            and t["state"] not in _NOT_STAKED
            and _utc(t["reserved_at"]) >= since
            and self.selects(str(t["race_id"]))
        )

    def cap_left(self, staked_today_yen: int) -> int:
        """What the next canary race may stake: the race cap, or what the day cap has left."""
        left = self.settings.day_cap_yen - staked_today_yen
        return max(0, min(self.settings.race_cap_yen, left))
