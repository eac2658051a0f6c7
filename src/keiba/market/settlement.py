"""Settlement by JRA rules: what a ticket returns, given the race's official payouts.

A ticket returns `stake / 100 × payout` for each payout row of its bet type and combination
(a dead heat lists every winning combination with its own payout, so nothing is split here);
a ticket naming a runner that was scratched or excluded (取消・除外) is refunded (返還); any
other ticket returns nothing. Pure function: the caller posts the result to the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from keiba.common.bet_types import BetType, parse_combination
from keiba.common.money import Yen

__all__ = ["Outcome", "settle_ticket"]

_REFUNDED_STATUSES = frozenset({"scratched", "excluded"})


@dataclass(frozen=True)
class Outcome:
    paid: Yen
    refund: bool

    @property
    def label(self) -> str:
        return "refund" if self.refund else ("won" if self.paid > 0 else "lost")


def settle_ticket(
    bet_type: BetType,
    combination: str,
    stake: Yen,
    payouts: Mapping[tuple[str, str], int],
    statuses: Mapping[int, str],
    frames: Mapping[int, int] | None = None,
) -> Outcome:
    """The ticket's return. `payouts` maps (bet type, combination) to yen per 100 yen."""
    if stake <= 0 or stake % 100:
        raise ValueError(f"stake must be a positive multiple of 100, was {stake}")
    numbers = parse_combination(bet_type, combination)
    if bet_type is BetType.BRACKET_QUINELLA:
        if not frames:
            raise ValueError("settling a bracket quinella ticket needs the runners' frames")
        # 枠連 is refunded only when a named frame has no runner left at all.
        by_frame = {f: [h for h, hf in frames.items() if hf == f] for f in set(numbers)}
        refund = any(
            all(statuses.get(h) in _REFUNDED_STATUSES for h in horses)
            for horses in by_frame.values()
        )
    else:
        refund = any(statuses.get(h) in _REFUNDED_STATUSES for h in numbers)
    if refund:
        return Outcome(stake, refund=True)
    per_100 = payouts.get((bet_type.value, combination))
    if per_100 is None:
        return Outcome(Yen(0), refund=False)
    return Outcome(Yen(stake // 100 * per_100), refund=False)
