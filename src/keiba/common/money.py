"""Money is integer yen.

`Yen` is an `int` at run time and a distinct type for mypy, so a float can never be passed
where an amount is expected. `yen()` is the one door into the type: it refuses floats, bools,
negative amounts where they make no sense, anything that is not an integer, and absurd amounts
(beyond `MAX_YEN`).
"""

from __future__ import annotations

from typing import NewType

from keiba.common.errors import InvalidAmountError

__all__ = ["MAX_YEN", "TICKET_UNIT", "Yen", "positive_yen", "round_down_to_unit", "yen"]

Yen = NewType("Yen", int)

TICKET_UNIT = Yen(100)
"""JRA sells tickets in units of 100 yen."""

MAX_YEN = Yen(1_000_000_000_000)
"""The largest amount keiba accepts anywhere (one trillion yen): far above any bankroll, far
below what the databases' 64-bit integers hold, so an absurd amount is refused, not stored."""


def yen(amount: object, *, what: str = "amount", allow_negative: bool = False) -> Yen:
    """Validate `amount` as a whole number of yen; `what` names it in the error."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidAmountError(
            f"{what} must be a whole number of yen, was {amount!r} ({type(amount).__name__})"
        )
    if amount < 0 and not allow_negative:
        raise InvalidAmountError(f"{what} must not be negative, was {amount:,} yen")
    if abs(amount) > MAX_YEN:
        raise InvalidAmountError(
            f"{what} of {amount:,} yen is beyond the largest amount keiba accepts ({MAX_YEN:,} yen)"
        )
    return Yen(amount)


def positive_yen(amount: object, what: str = "amount") -> Yen:
    """`yen(amount)`, and more than zero (a deposit, a withdrawal, a payout claim)."""
    value = yen(amount, what=what)
    if value == 0:
        raise InvalidAmountError(f"{what} must be positive, was 0 yen")
    return value


def round_down_to_unit(amount: int, unit: int = TICKET_UNIT) -> Yen:
    """The largest multiple of `unit` not above `amount` (never rounds a stake up)."""
    if unit <= 0:
        raise InvalidAmountError(f"unit must be positive, was {unit}")
    if amount <= 0:
        return Yen(0)
    return Yen(amount - amount % unit)
