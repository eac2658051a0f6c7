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

A race's tickets are allocated all at once, as columns (`Allocations`): yen in int64, exact
while every amount is below 2^53 (a float's exact integers), and in Python integers beyond,
so that the arithmetic is exactly the ticket-by-ticket arithmetic of integer yen. The race
budget's remainder is the one rule that depends on the order the tickets are served in: every
stake before the first one it cuts fits, and after that one what is left (nothing, or less than
the minimum stake) never changes, so the rest are clipped to it at once (`_within_budget`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from functools import cache, lru_cache
from typing import Any, overload

import numpy as np
from numpy.typing import DTypeLike, NDArray

from keiba.common.config import ThemisConfig
from keiba.common.money import Yen, round_down_to_unit
from keiba.themis.inputs import Bankroll

__all__ = ["Allocation", "Allocations", "Reason", "allocate", "budget"]


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


REASONS = tuple(Reason)
"""The reasons in `Allocations.reason`'s codes: `REASONS[code]`, no reason where the code is −1."""
NO_REASON = -1


def _objects(size: int, value: object) -> NDArray[np.object_]:
    """An object array of `size` references to `value` (a tuple or a string stays one element)."""
    out = np.empty(size, dtype=object)
    out.fill(value)
    return out


@dataclass(eq=False)
class Allocations(Sequence[Allocation]):
    """The allocations of a race's tickets as columns: stakes in integer yen (int64, or Python
    integers where an amount is beyond what a float holds exactly), each ticket's tags, the
    reason code (an index into `REASONS`, −1 for none) and message. Indexing gives one
    `Allocation`."""

    stake: NDArray[Any]
    binding: NDArray[np.object_]
    reason: NDArray[np.int8]
    message: NDArray[np.object_]

    @classmethod
    def nothing(cls, size: int, dtype: DTypeLike = np.int64) -> Allocations:
        """`size` tickets with no stake, no tag and no reason."""
        return cls(
            np.zeros(size, dtype=dtype),
            _objects(size, ()),
            np.full(size, NO_REASON, dtype=np.int8),
            _objects(size, ""),
        )

    def placed(self, positions: NDArray[np.intp], size: int) -> Allocations:
        """These allocations at `positions` among `size` tickets, the others with nothing."""
        out = Allocations.nothing(size, self.stake.dtype)
        out.stake[positions] = self.stake
        out.binding[positions] = self.binding
        out.reason[positions] = self.reason
        out.message[positions] = self.message
        return out

    def refuse(self, positions: NDArray[np.intp], reason: Reason, message: str) -> None:
        """The tickets at `positions` get nothing, no tag, and this reason."""
        self.stake[positions] = 0
        self.binding[positions] = _objects(positions.size, ())
        self.reason[positions] = REASONS.index(reason)
        self.message[positions] = message

    def __len__(self) -> int:
        return int(self.stake.size)

    def __iter__(self) -> Iterator[Allocation]:
        return (self[j] for j in range(len(self)))

    @overload
    def __getitem__(self, j: int) -> Allocation: ...
    @overload
    def __getitem__(self, j: slice) -> list[Allocation]: ...
    def __getitem__(self, j: int | slice) -> Allocation | list[Allocation]:
        if isinstance(j, slice):
            return [self[k] for k in range(len(self))[j]]
        code = int(self.reason[j])
        reason = None if code == NO_REASON else REASONS[code]
        return Allocation(Yen(int(self.stake[j])), self.binding[j], reason, self.message[j])


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


LARGEST_EXACT = 2**53
"""Amounts below this are exact in a float, so int64 and float64 columns give the same results
as Python's integers; a race with any amount beyond it is allocated with Python integers."""


def _down(amounts: NDArray[Any], unit: int) -> NDArray[Any]:
    """`round_down_to_unit` of each amount (0 for an amount not above 0)."""
    positive: NDArray[Any] = np.maximum(amounts, 0)
    down: NDArray[Any] = positive - positive % unit
    return down


def _floor(values: NDArray[np.float64], exact: bool) -> NDArray[Any]:
    """`math.floor` of each value: int64 where `exact` (every value within `LARGEST_EXACT`),
    else Python integers (and `math.floor`'s error on a NaN or an infinity)."""
    if exact:
        return np.floor(values).astype(np.int64)
    return np.array([math.floor(v) for v in values.tolist()], dtype=object)


def _own_caps(
    own_impact_caps: Sequence[float | None] | NDArray[np.float64], size: int
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """The own-impact optima as floats and where there is one (None, or NaN in an array: none)."""
    if len(own_impact_caps) != size:
        raise ValueError(f"{len(own_impact_caps)} own-impact caps for {size} tickets")
    if isinstance(own_impact_caps, np.ndarray):
        own = own_impact_caps.astype(np.float64)
        return np.where(np.isnan(own), 0.0, own), ~np.isnan(own)
    has = np.array([c is not None for c in own_impact_caps], dtype=bool)
    own = np.array([0.0 if c is None else c for c in own_impact_caps], dtype=np.float64)
    return own, has


_TICKET_CAP, _OWN_IMPACT, _UNIT = "ticket-cap", "own-impact", "unit"


@lru_cache(maxsize=16)
def _tag_table(budget_name: str) -> tuple[NDArray[np.object_], NDArray[np.object_]]:
    """`_tags` of every pattern (64), as two columns: the tags and the limit that cut."""
    found = [_tags(pattern, budget_name) for pattern in range(64)]
    binding = np.empty(64, dtype=object)
    for k, (tags, _) in enumerate(found):
        binding[k] = tags
    return binding, np.array([name for _, name in found], dtype=object)


def _tags(pattern: int, budget_name: str) -> tuple[tuple[str, ...], str]:
    """The binding tags of a ticket and the last limit that cut its stake, from its pattern:
    bits 5–4 the tag it starts with (1 the ticket cap, 2 the race budget), then whether the
    ticket cap, the own-impact optimum and the budget's remainder cut it, and whether its stake
    is below the whole yen of its share."""
    start, cuts, lower = pattern >> 4, (pattern >> 1) & 7, pattern & 1
    binding = [budget_name] if start == 2 else [_TICKET_CAP] if start == 1 else []
    cut_by = ""
    for bit, name in ((4, _TICKET_CAP), (2, _OWN_IMPACT), (1, budget_name)):
        if cuts & bit:
            cut_by = name
            if name not in binding:
                binding.append(name)
    if not cut_by and lower and _TICKET_CAP not in binding:
        binding.append(_UNIT)  # the round-down to the unit took yen off
    return tuple(binding), cut_by


def allocate(
    fractions: Sequence[float] | NDArray[np.float64],
    own_impact_caps: Sequence[float | None] | NDArray[np.float64],
    bankroll: Bankroll,
    policy: ThemisConfig,
) -> Allocations:
    """Yen stakes for one race's tickets (see the module docstring for the rules), as columns.

    `own_impact_caps[i]` is ticket i's own-impact optimum in yen, None (NaN in an array) where
    its pool is not known. Every ticket is ranked by its capped fraction, largest first (ties
    by position): the race budget's remainder is given out in that order.
    """
    unit, balance, least = policy.unit_yen, bankroll.balance_yen, policy.min_stake_yen
    wanted = np.asarray(fractions, dtype=np.float64)
    n = wanted.size
    own, has_own = _own_caps(own_impact_caps, n)
    capped = np.minimum(wanted, policy.max_ticket_fraction)
    race_budget, budget_name = budget(bankroll, policy)
    if n == 0:
        return Allocations.nothing(0)
    total = math.fsum(capped.tolist())
    scaled = total > 0 and balance * total > race_budget
    ticket_cap = _cap(balance, policy.max_ticket_fraction, policy.max_ticket_yen, unit)
    # the budget's share as budget × c/Σc: tickets at one cap split it exactly
    raw = float(race_budget) * capped / total if scaled else float(balance) * capped
    exact = (
        max(balance, race_budget, ticket_cap, least) < LARGEST_EXACT
        and bool(np.all(np.abs(raw) < LARGEST_EXACT))
        and not (has_own.any() and np.any(~(np.abs(own[has_own]) < LARGEST_EXACT)))
    )
    whole = _floor(raw, exact)
    # a tag names a limit the final stake sits at: after the race budget scaled every ticket,
    # none sits at the ticket cap any more (the budget's tag says what bound it)
    start = np.full(n, 2, dtype=np.int64) if scaled else (wanted > capped).astype(np.int64)
    at_ticket_cap = (start == 1) | ((start == 2) & (budget_name == _TICKET_CAP))
    # exactly the cap where it binds, not a float product a yen short of it
    stake = np.where(at_ticket_cap, ticket_cap, _down(whole, unit)).astype(whole.dtype)
    ticket_cut = stake > ticket_cap
    stake = np.minimum(stake, ticket_cap).astype(whole.dtype)
    own_cut = np.zeros(n, dtype=bool)
    if has_own.any():
        own_yen = _down(_floor(np.where(has_own, own, 0.0), exact), unit)
        own_cut = has_own & (stake > own_yen)
        stake = np.where(own_cut, own_yen, stake).astype(whole.dtype)
    stake, budget_cut = _within_budget(stake, capped, race_budget, least, unit)
    cut = ticket_cut | own_cut | budget_cut
    pattern = (start << 4) | (ticket_cut << 3) | (own_cut << 2) | (budget_cut << 1)
    pattern |= ~cut & (stake < whole)
    tags, names = _tag_table(budget_name)
    cut_by = names[pattern]
    if scaled:  # the scaling for the race or day budget took it below
        shares = float(balance) * capped
        if exact:
            reach = shares >= least
        else:
            reach = np.array([s >= least for s in shares.tolist()], dtype=bool)
        cut_by[~cut & reach] = budget_name
    below = np.flatnonzero(stake < least)
    reached = below[cut_by[below] != ""]
    rounded = below[cut_by[below] == ""]
    result = Allocations(stake, tags[pattern], np.full(n, NO_REASON, np.int8), _objects(n, ""))
    if reached.size:
        result.reason[reached] = REASONS.index(Reason.CAP_REACHED)
        result.message[reached] = [
            f"{name} reached: {left:,} yen left, below {least} yen"
            for name, left in zip(cut_by[reached].tolist(), stake[reached].tolist(), strict=True)
        ]
    if rounded.size:
        result.reason[rounded] = REASONS.index(Reason.ROUNDS_TO_ZERO)
        result.message[rounded] = list(
            map(f"stake {{:,.0f}} yen rounds below {least} yen".format, raw[rounded].tolist())
        )
    result.stake[below] = 0
    _ticket_limit(result, bankroll, policy)
    return result


def _within_budget(
    stake: NDArray[Any], capped: NDArray[np.float64], race_budget: int, least: int, unit: int
) -> tuple[NDArray[Any], NDArray[np.bool_]]:
    """The stakes clipped to what the race budget has left when each ticket's turn comes
    (largest capped fraction first, ties by position; a stake below the minimum is not bought
    and leaves the budget as it was), and which the budget cut.

    Before the first ticket the remainder cuts, every stake fits. That ticket takes what is
    left; the remainder after it (nothing, or less than the minimum if the ticket was not
    bought) never changes again, since no later stake within it reaches the minimum."""
    if stake.sum() <= race_budget:  # every stake fits whatever the order (each a whole unit)
        return stake, np.zeros(stake.size, dtype=bool)
    ranked = np.argsort(-capped, kind="stable")
    ordered = stake[ranked]
    bought = np.where(ordered >= least, ordered, 0).astype(stake.dtype)
    before = (np.cumsum(bought) - bought).astype(stake.dtype)
    left = _down(race_budget - before, unit)
    over = ordered > left
    cut = np.zeros(stake.size, dtype=bool)
    if np.any(over):
        first = int(np.argmax(over))
        ordered[first] = left[first]
        cut[first] = True
        spent = before[first] + (left[first] if left[first] >= least else 0)
        rest = _down(np.array([race_budget - spent], dtype=stake.dtype), unit)[0]
        tail = ordered[first + 1 :]
        cut[first + 1 :] = tail > rest
        ordered[first + 1 :] = np.minimum(tail, rest)
    final = np.empty_like(stake)
    final[ranked] = ordered
    budget_cut = np.empty_like(cut)
    budget_cut[ranked] = cut
    return final, budget_cut


def _ticket_limit(result: Allocations, bankroll: Bankroll, policy: ThemisConfig) -> None:
    """The daily ticket count: beyond it, the largest stakes are kept (ties by position)."""
    left = policy.max_tickets_per_day - bankroll.tickets_today
    bought = np.flatnonzero(result.stake > 0)
    if bought.size <= left:
        return
    ranked = bought[np.argsort(-result.stake[bought], kind="stable")]
    dropped = np.sort(ranked[max(left, 0) :])
    result.stake[dropped] = 0
    result.reason[dropped] = REASONS.index(Reason.TICKET_LIMIT)
    result.message[dropped] = f"daily ticket limit of {policy.max_tickets_per_day:,} reached"
