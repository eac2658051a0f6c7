"""The frozen inputs of `decide` and their validation.

Three things come in (seed 001, §1): win probabilities by horse number, the odds on offer and
the bankroll; plus the policy (`ThemisConfig`), the scratched runners (取消・除外: declared but
not starting) and, for bracket quinella only, the runners' frame numbers. Everything is
checked before any arithmetic, and the first problem raises one `DecisionError` naming the
field and the value:

* probabilities: horse numbers 1–18, each probability finite in [0, 1], summing to 1 ± 1e-6;
* odds: `{horse: win odds}` (shorthand for win only) or `{bet type: {combination: odds or
  Quote}}`; canonical combinations of known runners (frames for bracket quinella), odds above
  1.0, a range's high not below its low, pools not negative;
* scratched: horse numbers 1–18, each with no probability or a probability of 0 (so the
  probabilities, summing to 1, leave at least one starter). A runner at p = 0 that is not
  scratched is a starter the model gives no chance: it counts in the field size;
* bankroll: whole yen, not negative (a zero bankroll is valid input and buys nothing);
* policy: every rule of `ThemisConfig` (a policy built with `model_construct` is re-checked).

Place and quinella place (wide) are quoted as a range: decisions use the low end (`odds`),
the conservative price; `odds_high` is carried for display only.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from keiba.common.bet_types import BetType, parse_combination
from keiba.common.config import ThemisConfig
from keiba.themis.inputs import Bankroll, DecisionError, Quote

__all__ = ["Bankroll", "DecisionError", "Offer", "Quote", "Race", "validate"]

PROBABILITY_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Offer:
    """One validated quote: what can be bought."""

    bet_type: BetType
    combination: str
    numbers: tuple[int, ...]
    odds: float
    odds_high: float | None
    pool_yen: int | None


@dataclass(frozen=True)
class Race:
    """Validated inputs: win probabilities of the starters, offers (in a canonical order),
    account, frames (of the starters) and the scratched runners."""

    win: dict[int, float]
    offers: tuple[Offer, ...]
    bankroll: Bankroll
    frames: dict[int, int] | None
    scratched: frozenset[int] = frozenset()

    def names_scratched(self, offer: Offer) -> int | None:
        """The first scratched horse (or starter-less frame) the offer names, if any."""
        if offer.bet_type is BetType.BRACKET_QUINELLA:
            live = set((self.frames or {}).values())
            return next((n for n in offer.numbers if n not in live), None)
        return next((n for n in offer.numbers if n in self.scratched), None)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, float | int) and not isinstance(value, bool)


def _probabilities(probabilities: Mapping[int, float]) -> dict[int, float]:
    if not isinstance(probabilities, Mapping) or not probabilities:
        raise DecisionError("probabilities", probabilities, "no runners")
    win: dict[int, float] = {}
    for runner, p in probabilities.items():
        if not _is_int(runner) or not 1 <= runner <= 18:
            raise DecisionError("probabilities", runner, "horse numbers are integers 1–18")
        if not _is_number(p) or not math.isfinite(p) or not 0.0 <= p <= 1.0:
            raise DecisionError(f"probabilities[{runner}]", p, "must be within [0, 1]")
        win[runner] = float(p)
    total = math.fsum(win.values())
    if abs(total - 1.0) > PROBABILITY_TOLERANCE:
        raise DecisionError("probabilities", f"sum {total:.9f}", "must sum to 1")
    return win


def _bankroll(bankroll: int | Bankroll) -> Bankroll:
    account = bankroll if isinstance(bankroll, Bankroll) else Bankroll(bankroll)
    name = "bankroll" if not isinstance(bankroll, Bankroll) else "bankroll.balance_yen"
    fields: list[tuple[str, object]] = [(name, account.balance_yen)]
    if isinstance(bankroll, Bankroll):
        fields += [
            ("bankroll.staked_today_yen", account.staked_today_yen),
            ("bankroll.tickets_today", account.tickets_today),
        ]
        if account.day_start_yen is not None:
            fields.append(("bankroll.day_start_yen", account.day_start_yen))
    for field, value in fields:
        if not _is_int(value):
            raise DecisionError(field, value, "must be a whole number of yen")
        assert isinstance(value, int)
        if value < 0:
            raise DecisionError(field, value, "must not be negative")
    return account


def _scratched(scratched: Collection[int], win: dict[int, float]) -> frozenset[int]:
    if isinstance(scratched, str | bytes) or not isinstance(scratched, Collection):
        raise DecisionError("scratched", scratched, "must be a collection of horse numbers")
    for runner in scratched:
        if not _is_int(runner) or not 1 <= runner <= 18:
            raise DecisionError("scratched", runner, "horse numbers are integers 1–18")
        if win.get(runner, 0.0) != 0.0:
            raise DecisionError(f"probabilities[{runner}]", win[runner], "scratched: must be 0")
    return frozenset(scratched)


def _frames(frames: Mapping[int, int] | None, runners: Collection[int]) -> dict[int, int] | None:
    if frames is None:
        return None
    checked: dict[int, int] = {}
    for runner, frame in frames.items():
        if runner not in runners:
            raise DecisionError(f"frames[{runner}]", frame, "unknown runner (no probability)")
        if not _is_int(frame) or not 1 <= frame <= 8:
            raise DecisionError(f"frames[{runner}]", frame, "frame numbers are 1–8")
        checked[runner] = frame
    return checked


def _quote(field: str, value: object) -> Quote:
    quote = value if isinstance(value, Quote) else Quote(value)  # type: ignore[arg-type]
    if not _is_number(quote.odds) or not math.isfinite(quote.odds) or quote.odds <= 1.0:
        raise DecisionError(field, quote.odds, "must be above 1.0")
    if quote.odds_high is not None and (
        not _is_number(quote.odds_high) or not quote.odds_high >= quote.odds
    ):
        raise DecisionError(f"{field}.odds_high", quote.odds_high, "must not be below the odds")
    if quote.pool_yen is not None and (not _is_int(quote.pool_yen) or quote.pool_yen < 0):
        raise DecisionError(f"{field}.pool_yen", quote.pool_yen, "must be whole yen, not negative")
    return quote


def _offers(
    odds: Mapping[int, float] | Mapping[BetType, Mapping[str, float | Quote]],
    win: Collection[int],
    frames: dict[int, int] | None,
    starters: Collection[int],
) -> tuple[Offer, ...]:
    if not isinstance(odds, Mapping):
        raise DecisionError("odds", odds, "must be a mapping")
    offers: list[Offer] = []
    if all(_is_int(k) for k in odds):
        for runner, value in odds.items():
            assert isinstance(runner, int)
            if runner not in win:
                raise DecisionError(f"odds[{runner}]", value, "unknown runner (no probability)")
            quote = _quote(f"odds[{runner}]", value)
            offers.append(
                Offer(BetType.WIN, str(runner), (runner,), float(quote.odds), None, quote.pool_yen)
            )
        return tuple(sorted(offers, key=lambda o: o.numbers))
    for name, quotes in odds.items():
        try:
            bet_type = BetType(str(name))
        except ValueError:
            raise DecisionError("odds", name, "unknown bet type") from None
        if not isinstance(quotes, Mapping):
            raise DecisionError(f"odds[{bet_type.value}]", quotes, "must map combinations to odds")
        for combination, quoted in dict(quotes).items():
            field = f"odds[{bet_type.value}][{combination}]"
            try:
                numbers = parse_combination(bet_type, str(combination))
            except ValueError as e:
                raise DecisionError(field, combination, str(e)) from None
            if bet_type is BetType.BRACKET_QUINELLA:
                if frames is None:
                    raise DecisionError("frames", None, "bracket quinella needs frame numbers")
                if not set(starters) <= set(frames):
                    raise DecisionError("frames", frames, "must give the frame of every starter")
                unknown = [n for n in numbers if n not in frames.values()]
            else:
                unknown = [n for n in numbers if n not in win]
            if unknown:
                raise DecisionError(field, quoted, f"unknown runner or frame {unknown[0]}")
            quote = _quote(field, quoted)
            high = None if quote.odds_high is None else float(quote.odds_high)
            offers.append(
                Offer(bet_type, str(combination), numbers, float(quote.odds), high, quote.pool_yen)
            )
    order = {bet: i for i, bet in enumerate(BetType)}
    return tuple(sorted(offers, key=lambda o: (order[o.bet_type], o.numbers)))


def _policy(policy: ThemisConfig) -> None:
    try:
        ThemisConfig.model_validate(dict(policy))
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        field = f"policy.{where}" if where else "policy"
        value = getattr(policy, where, None) if where else None
        raise DecisionError(field, value, first["msg"]) from None


def validate(
    probabilities: Mapping[int, float],
    odds: Mapping[int, float] | Mapping[BetType, Mapping[str, float | Quote]],
    bankroll: int | Bankroll,
    policy: ThemisConfig,
    frames: Mapping[int, int] | None = None,
    scratched: Collection[int] = (),
) -> Race:
    """Check every input; the first problem raises `DecisionError`.

    The race's `win` and `frames` keep the starters only; offers may still name a scratched
    runner (the decision rejects them).
    """
    account = _bankroll(bankroll)
    win = _probabilities(probabilities)
    out = _scratched(scratched, win)
    declared = set(win) | out
    checked_frames = _frames(frames, declared)
    offers = _offers(odds, declared, checked_frames, set(win) - out)
    _policy(policy)
    starters = {h: p for h, p in win.items() if h not in out}
    if checked_frames is not None:
        checked_frames = {h: f for h, f in checked_frames.items() if h not in out}
    return Race(starters, offers, account, checked_frames, out)
