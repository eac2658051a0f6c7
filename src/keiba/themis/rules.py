"""From fractions of the bankroll to yen: the practical rules, each reported when it binds.

`allocate` takes the sized fractions of one race's tickets (already fractional-Kelly and
multiplier scaled) and applies, in order:

1. the ticket cap (`max_ticket_fraction`) on each fraction;
2. the race budget: the race cap (`max_race_fraction` of the balance, `max_race_yen`), what
   is left of the day's cap (`max_day_fraction` of the day's starting balance, `max_day_yen`,
   minus what was staked today) and the caller's cap (`Bankroll.cap_yen`, a canary's), the
   smallest binding — if the tickets want more, all are scaled down together, so the Kelly
   proportions survive;
3. each stake rounded *down* to the unit (100 yen), then clipped in integer yen to the ticket
   cap, the own-impact optimum (Isaacs) where the pool is known, and what the race budget has
   left (largest first): no cap can be exceeded by rounding;
4. a stake below the minimum is a rejection, saying whether rounding or a cap took it there;
5. the daily ticket count (`max_tickets_per_day`, IPAT's 9,000): the largest stakes are kept.

Every rule that binds is named in the allocation's `binding`, and only while the final stake
still shows it: `ticket-cap` when the stake sits at the ticket cap (not once the race or day
budget has scaled it below), `race-cap`/`day-cap` when the budget scaled or clipped it,
`own-impact` when the Isaacs optimum clipped it, and `unit` when the round-down to the unit
took yen off a stake no cap set.

Caps are computed exactly (`Fraction`) from the policy's decimal fractions, so a cap of 29% of
10,000 yen is 2,900 yen, never 2,899 because of binary floating point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from functools import cache

from keiba.common.config import ThemisConfig
from keiba.common.money import Yen, round_down_to_unit
from keiba.themis.inputs import Bankroll

__all__ = ["Allocation", "Reason", "allocate", "budget"]


class Reason(StrEnum):
    """Why a quote was not bought (machine-readable; the rejection also says it in words)."""

    NOT_ENABLED = "not_enabled"
    NOT_SOLD = "not_sold"
    SCRATCHED = "scratched"
    PROBABILITY_BELOW_MINIMUM = "probability_below_minimum"
    EV_BELOW_THRESHOLD = "ev_below_threshold"
    ZERO_BANKROLL = "zero_bankroll"
    BANKROLL_FLOOR = "bankroll_floor"
    STAKE_MULTIPLIER_ZERO = "stake_multiplier_zero"
    NO_KELLY_STAKE = "no_kelly_stake"
    TORIGAMI = "torigami"
    CAP_REACHED = "cap_reached"
    ROUNDS_TO_ZERO = "rounds_to_zero"
    TICKET_LIMIT = "ticket_limit"


@dataclass(frozen=True)
class Allocation:
    """The yen stake of one ticket, the caps that bound it, or why it got nothing."""

    stake: Yen
    binding: tuple[str, ...]
    reason: Reason | None = None
    message: str = ""


@cache
def _exact(fraction: float) -> Fraction:
    """The policy's decimal fraction exactly (as written, not its binary neighbour)."""
    return Fraction(repr(fraction))


def _cap(amount: int, fraction: float, absolute: int | None, unit: int) -> int:
    ratio = _exact(fraction)
    exact = amount * ratio.numerator // ratio.denominator
    if absolute is not None:
        exact = min(exact, absolute)
    return int(round_down_to_unit(exact, unit))


def budget(bankroll: Bankroll, policy: ThemisConfig) -> tuple[int, str]:
    """Yen this race may use and the cap that sets it (`race-cap`, `day-cap`, or the caller's
    `cap_name` when its `cap_yen` is below both)."""
    unit = policy.unit_yen
    race = _cap(bankroll.balance_yen, policy.max_race_fraction, policy.max_race_yen, unit)
    day_cap = _cap(bankroll.day_base_yen, policy.max_day_fraction, policy.max_day_yen, unit)
    day = int(round_down_to_unit(day_cap - bankroll.staked_today_yen, unit))
    found = (race, "race-cap") if race <= day else (day, "day-cap")
    if bankroll.cap_yen is not None:
        caller = int(round_down_to_unit(bankroll.cap_yen, unit))
        if caller < found[0]:
            return caller, bankroll.cap_name
    return found


def allocate(
    fractions: Sequence[float],
    own_impact_caps: Sequence[float | None],
    bankroll: Bankroll,
    policy: ThemisConfig,
) -> list[Allocation]:
    """Yen stakes for one race's tickets (see the module docstring for the rules)."""
    unit, balance = policy.unit_yen, bankroll.balance_yen
    capped = [min(f, policy.max_ticket_fraction) for f in fractions]
    race_budget, budget_name = budget(bankroll, policy)
    total = math.fsum(capped)
    scaled = total > 0 and balance * total > race_budget
    # a tag names a limit the final stake sits at: after the race budget scaled every ticket,
    # none sits at the ticket cap any more (the budget's tag says what bound it)
    binding: list[list[str]] = [
        [budget_name] if scaled else ["ticket-cap"] if f > c else []
        for f, c in zip(fractions, capped, strict=True)
    ]
    ticket_cap = _cap(balance, policy.max_ticket_fraction, policy.max_ticket_yen, unit)
    allocations: list[Allocation | None] = [None] * len(fractions)
    committed = 0
    ranked = sorted(range(len(fractions)), key=lambda i: (-capped[i], i))
    for i in ranked:
        # the budget's share as budget × c/Σc: tickets at one cap split it exactly
        raw = race_budget * capped[i] / total if scaled else balance * capped[i]
        whole = math.floor(raw)
        stake = int(round_down_to_unit(whole, unit))
        if "ticket-cap" in binding[i]:
            stake = ticket_cap  # exactly the cap, not a float product a yen short of it
        limits = [(ticket_cap, "ticket-cap")]
        own = own_impact_caps[i]
        if own is not None:
            limits.append((int(round_down_to_unit(math.floor(own), unit)), "own-impact"))
        limits.append((int(round_down_to_unit(race_budget - committed, unit)), budget_name))
        cut_by = ""
        for limit, name in limits:
            if stake > limit:
                stake = limit
                cut_by = name
                if name not in binding[i]:
                    binding[i].append(name)
        if not cut_by and stake < whole and "ticket-cap" not in binding[i]:
            binding[i].append("unit")  # the round-down to the unit took yen off
        if not cut_by and scaled and balance * capped[i] >= policy.min_stake_yen:
            cut_by = budget_name  # the scaling for the race or day budget took it below
        if stake < policy.min_stake_yen:
            if cut_by:
                message = f"{cut_by} reached: {stake:,} yen left, below {policy.min_stake_yen} yen"
                allocations[i] = Allocation(Yen(0), tuple(binding[i]), Reason.CAP_REACHED, message)
            else:
                message = f"stake {raw:,.0f} yen rounds below {policy.min_stake_yen} yen"
                allocations[i] = Allocation(
                    Yen(0), tuple(binding[i]), Reason.ROUNDS_TO_ZERO, message
                )
            continue
        committed += stake
        allocations[i] = Allocation(Yen(stake), tuple(binding[i]))
    result = [a for a in allocations if a is not None]
    assert len(result) == len(fractions)
    left = policy.max_tickets_per_day - bankroll.tickets_today
    bought = [i for i, a in enumerate(result) if a.stake > 0]
    if len(bought) > left:
        keep = set(sorted(bought, key=lambda i: (-result[i].stake, i))[: max(left, 0)])
        limit = policy.max_tickets_per_day
        for i in bought:
            if i not in keep:
                message = f"daily ticket limit of {limit:,} reached"
                result[i] = Allocation(Yen(0), result[i].binding, Reason.TICKET_LIMIT, message)
    return result
