"""Race identifiers and racecourses.

JRA-VAN's 16-digit race key `YYYYMMDD JJ KK NN RR` (date, venue, 開催回, 日目, race number) and
netkeiba's 12-digit id `YYYY JJ KK NN RR` (the same without month and day). Both parse strictly:
a malformed id raises `InvalidRaceIdError` naming the id and what is wrong with it. Converting a
netkeiba id to a race key needs the race date, which the netkeiba id does not carry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import IntEnum

from keiba.common.errors import InvalidRaceIdError

__all__ = ["NetkeibaRaceId", "RaceKey", "Venue"]


class Venue(IntEnum):
    """The ten JRA racecourses, numbered by their official codes."""

    SAPPORO = 1
    HAKODATE = 2
    FUKUSHIMA = 3
    NIIGATA = 4
    TOKYO = 5
    NAKAYAMA = 6
    CHUKYO = 7
    KYOTO = 8
    HANSHIN = 9
    KOKURA = 10

    @property
    def japanese(self) -> str:
        return _VENUE_JAPANESE[self]

    @property
    def code(self) -> str:
        """Two-digit code as used in race ids."""
        return f"{self.value:02d}"

    @classmethod
    def from_japanese(cls, name: str) -> Venue:
        try:
            return _VENUE_BY_JAPANESE[name.strip()]
        except KeyError:
            raise ValueError(f"unknown JRA racecourse {name!r}") from None


_VENUE_JAPANESE = {
    Venue.SAPPORO: "札幌",
    Venue.HAKODATE: "函館",
    Venue.FUKUSHIMA: "福島",
    Venue.NIIGATA: "新潟",
    Venue.TOKYO: "東京",
    Venue.NAKAYAMA: "中山",
    Venue.CHUKYO: "中京",
    Venue.KYOTO: "京都",
    Venue.HANSHIN: "阪神",
    Venue.KOKURA: "小倉",
}
_VENUE_BY_JAPANESE = {name: venue for venue, name in _VENUE_JAPANESE.items()}


def _field(text: str, start: int, end: int, what: str, lo: int, hi: int, race_id: str) -> int:
    value = int(text[start:end])
    if not lo <= value <= hi:
        raise InvalidRaceIdError(race_id, f"{what} {text[start:end]} is outside {lo}–{hi}")
    return value


def _digits(race_id: object, length: int, kind: str) -> str:
    if not isinstance(race_id, str):
        raise InvalidRaceIdError(repr(race_id), f"a {kind} must be a string of {length} digits")
    if len(race_id) != length or not race_id.isascii() or not race_id.isdigit():
        raise InvalidRaceIdError(race_id, f"a {kind} has exactly {length} ASCII digits")
    return race_id


@dataclass(frozen=True, order=True)
class RaceKey:
    """The 16-digit JRA-VAN-style race key, ordered by date, venue, meeting, day and race."""

    race_date: dt.date
    venue: Venue
    meeting: int
    meeting_day: int
    race_no: int

    def __post_init__(self) -> None:
        if not 1 <= self.meeting <= 12:
            raise InvalidRaceIdError(str(self), f"meeting {self.meeting} is outside 1–12")
        if not 1 <= self.meeting_day <= 15:
            raise InvalidRaceIdError(str(self), f"meeting day {self.meeting_day} is outside 1–15")
        if not 1 <= self.race_no <= 12:
            raise InvalidRaceIdError(str(self), f"race number {self.race_no} is outside 1–12")

    @classmethod
    def parse(cls, race_id: str) -> RaceKey:
        text = _digits(race_id, 16, "race key")
        try:
            race_date = dt.date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
        except ValueError:
            raise InvalidRaceIdError(race_id, f"{text[0:8]} is not a calendar date") from None
        venue = _field(text, 8, 10, "venue", 1, 10, race_id)
        return cls(
            race_date=race_date,
            venue=Venue(venue),
            meeting=_field(text, 10, 12, "meeting", 1, 12, race_id),
            meeting_day=_field(text, 12, 14, "meeting day", 1, 15, race_id),
            race_no=_field(text, 14, 16, "race number", 1, 12, race_id),
        )

    def __str__(self) -> str:
        return (
            f"{self.race_date:%Y%m%d}{self.venue.value:02d}{self.meeting:02d}"
            f"{self.meeting_day:02d}{self.race_no:02d}"
        )

    def to_netkeiba(self) -> NetkeibaRaceId:
        return NetkeibaRaceId(
            year=self.race_date.year,
            venue=self.venue,
            meeting=self.meeting,
            meeting_day=self.meeting_day,
            race_no=self.race_no,
        )


@dataclass(frozen=True, order=True)
class NetkeibaRaceId:
    """netkeiba's 12-digit race id `YYYYJJKKNNRR`."""

    year: int
    venue: Venue
    meeting: int
    meeting_day: int
    race_no: int

    @classmethod
    def parse(cls, race_id: str) -> NetkeibaRaceId:
        text = _digits(race_id, 12, "netkeiba race id")
        return cls(
            year=_field(text, 0, 4, "year", 1900, 2999, race_id),
            venue=Venue(_field(text, 4, 6, "venue", 1, 10, race_id)),
            meeting=_field(text, 6, 8, "meeting", 1, 12, race_id),
            meeting_day=_field(text, 8, 10, "meeting day", 1, 15, race_id),
            race_no=_field(text, 10, 12, "race number", 1, 12, race_id),
        )

    def __str__(self) -> str:
        return (
            f"{self.year:04d}{self.venue.value:02d}{self.meeting:02d}"
            f"{self.meeting_day:02d}{self.race_no:02d}"
        )

    def to_race_key(self, race_date: dt.date) -> RaceKey:
        """The race key, given the race date (which a netkeiba id does not carry)."""
        if race_date.year != self.year:
            raise InvalidRaceIdError(
                str(self), f"race date {race_date.isoformat()} is not in the id's year {self.year}"
            )
        return RaceKey(race_date, self.venue, self.meeting, self.meeting_day, self.race_no)
