"""Drawdown tiers: how far the bankroll is below its peak, and what that allows.

`assess_drawdown` is pure: given the peak and the current balance (integer yen) and the tiers
of `MonitorConfig`, it names the deepest tier reached and the stake multiplier and stop that
tier imposes. Boundaries are exact decimals: with the default tiers a drawdown of exactly 20%
is a warning and exactly 30% a stop (the tier thresholds are read from their decimal text, so
0.20 means 1/5, not the binary float just above it).

`peak_and_balance` derives both numbers from the ledger's entries. Deposits and withdrawals
are money moved, not won or lost: each moves the peak by the same amount, so a withdrawal never
looks like a loss and a deposit never hides one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from keiba.common.config import DrawdownTierConfig

__all__ = ["DrawdownState", "assess_drawdown", "peak_and_balance"]

_FLOWS = {"deposit", "withdrawal"}


@dataclass(frozen=True)
class DrawdownState:
    """Where the bankroll stands against its peak, and the tier it is in (None: no tier)."""

    peak_yen: int
    balance_yen: int
    drawdown: float
    """Fraction of the peak lost, 0 when at or above the peak."""
    tier: str | None
    stake_multiplier: float
    """The most the tier allows (1.0 outside every tier); combine with the policy's by min."""
    stop_buying: bool


def _exact(value: float) -> Fraction:
    return Fraction(repr(value))


def assess_drawdown(
    peak_yen: int, balance_yen: int, tiers: Sequence[DrawdownTierConfig]
) -> DrawdownState:
    """The deepest tier whose threshold the drawdown reaches (≥), or no tier.

    A peak of zero or less has no drawdown (nothing to lose yet); a balance above the peak is
    treated as a new peak.
    """
    if peak_yen <= 0 or balance_yen >= peak_yen:
        return DrawdownState(peak_yen, balance_yen, 0.0, None, 1.0, False)
    lost = Fraction(peak_yen - balance_yen, peak_yen)
    reached = [t for t in tiers if lost >= _exact(t.drawdown)]
    if not reached:
        return DrawdownState(peak_yen, balance_yen, float(lost), None, 1.0, False)
    deepest = max(reached, key=lambda t: _exact(t.drawdown))
    multiplier = min(t.stake_multiplier for t in reached)
    stop = any(t.stop_buying for t in reached)
    return DrawdownState(
        peak_yen, balance_yen, float(lost), deepest.name, 0.0 if stop else multiplier, stop
    )


def peak_and_balance(entries: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
    """(peak, balance) of cash from ledger entries (`Ledger.history()`), oldest first.

    Cash counts reserved stakes as still owned until they are lost at settlement, so a day's
    reservations alone never trip a tier. Deposits and withdrawals shift the peak with the
    balance.
    """
    peak = balance = 0
    for entry in entries:
        delta = int(entry["cash_yen"])
        balance = int(entry["cash_after_yen"])
        if str(entry["kind"]) in _FLOWS:
            peak += delta
        peak = max(peak, balance)
    return peak, balance
