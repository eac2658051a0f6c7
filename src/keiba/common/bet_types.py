"""The eight JRA bet types: names, takeout, how many horses a ticket names, and order.

Takeout rates are those in force since June 2014. They are defaults: where JRA
changes a rate, pass the new one through configuration rather than editing this table.
Combinations use the canonical text of the data contract: horse (or frame) numbers joined by
`-` for unordered bets (ascending) and `>` for ordered ones, e.g. `3-7`, `7>3>1`.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from fractions import Fraction

__all__ = ["BetType", "format_combination", "parse_combination"]


class BetType(StrEnum):
    WIN = "win"
    PLACE = "place"
    BRACKET_QUINELLA = "bracket_quinella"
    QUINELLA = "quinella"
    QUINELLA_PLACE = "quinella_place"
    EXACTA = "exacta"
    TRIO = "trio"
    TRIFECTA = "trifecta"

    @property
    def japanese(self) -> str:
        return _JAPANESE[self]

    @property
    def takeout(self) -> Fraction:
        """Share of the pool JRA keeps (exact, so yen arithmetic never drifts)."""
        return _TAKEOUT[self]

    @property
    def payout_rate(self) -> Fraction:
        return 1 - _TAKEOUT[self]

    @property
    def arity(self) -> int:
        """How many horses (or frames) a combination names."""
        return _ARITY[self]

    @property
    def ordered(self) -> bool:
        return self in (BetType.EXACTA, BetType.TRIFECTA)

    @classmethod
    def from_japanese(cls, name: str) -> BetType:
        try:
            return _BY_JAPANESE[name.strip()]
        except KeyError:
            raise ValueError(f"unknown bet type {name!r}") from None


_JAPANESE = {
    BetType.WIN: "単勝",
    BetType.PLACE: "複勝",
    BetType.BRACKET_QUINELLA: "枠連",
    BetType.QUINELLA: "馬連",
    BetType.QUINELLA_PLACE: "ワイド",
    BetType.EXACTA: "馬単",
    BetType.TRIO: "三連複",
    BetType.TRIFECTA: "三連単",
}
_BY_JAPANESE = {name: bet for bet, name in _JAPANESE.items()}
_TAKEOUT = {
    BetType.WIN: Fraction(20, 100),
    BetType.PLACE: Fraction(20, 100),
    BetType.BRACKET_QUINELLA: Fraction(225, 1000),
    BetType.QUINELLA: Fraction(225, 1000),
    BetType.QUINELLA_PLACE: Fraction(225, 1000),
    BetType.EXACTA: Fraction(25, 100),
    BetType.TRIO: Fraction(25, 100),
    BetType.TRIFECTA: Fraction(275, 1000),
}
_ARITY = {
    BetType.WIN: 1,
    BetType.PLACE: 1,
    BetType.BRACKET_QUINELLA: 2,
    BetType.QUINELLA: 2,
    BetType.QUINELLA_PLACE: 2,
    BetType.EXACTA: 2,
    BetType.TRIO: 3,
    BetType.TRIFECTA: 3,
}


def format_combination(bet_type: BetType, numbers: Sequence[int]) -> str:
    """Canonical text of a combination: `3-7` (unordered, ascending) or `7>3>1` (ordered)."""
    if len(numbers) != bet_type.arity:
        raise ValueError(
            f"a {bet_type.value} combination names {bet_type.arity} numbers, was {list(numbers)}"
        )
    limit = 8 if bet_type is BetType.BRACKET_QUINELLA else 18
    for n in numbers:
        if not 1 <= n <= limit:
            raise ValueError(f"{bet_type.value} number {n} is outside 1–{limit}")
    if bet_type.ordered:
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"{bet_type.value} combination repeats a horse: {list(numbers)}")
        return ">".join(str(n) for n in numbers)
    if bet_type is not BetType.BRACKET_QUINELLA and len(set(numbers)) != len(numbers):
        raise ValueError(f"{bet_type.value} combination repeats a horse: {list(numbers)}")
    return "-".join(str(n) for n in sorted(numbers))


def parse_combination(bet_type: BetType, text: str) -> tuple[int, ...]:
    """Numbers of a canonical combination, validated against the bet type."""
    separator = ">" if bet_type.ordered else "-"
    parts = text.split(separator)
    try:
        numbers = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"{text!r} is not a canonical {bet_type.value} combination") from None
    if format_combination(bet_type, numbers) != text:
        raise ValueError(
            f"{text!r} is not canonical for {bet_type.value}; "
            f"expected {format_combination(bet_type, numbers)!r}"
        )
    return numbers
