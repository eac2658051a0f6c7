"""Stake sizing formulas (DOMAIN.md §6), in fractions of the bankroll.

Pure arithmetic on floats; conversion to yen (and every rule about units and caps) happens in
`decide`, which is the only place a fraction becomes money.
"""

from __future__ import annotations

__all__ = ["expected_return", "kelly_fraction"]


def expected_return(probability: float, odds: float) -> float:
    """Expected return per yen staked: p · o (decimal odds include the stake)."""
    return probability * odds


def kelly_fraction(probability: float, odds: float) -> float:
    """Kelly's fraction for one bet: (p·o − 1)/(o − 1), or 0 when the bet has no edge."""
    if odds <= 1.0:
        raise ValueError(f"odds must be above 1.0, was {odds}")
    edge = probability * odds - 1.0
    return edge / (odds - 1.0) if edge > 0 else 0.0
