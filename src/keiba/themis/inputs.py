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

The thousands of quotes of a full race are checked as arrays (`Offers`): each canonical
combination is looked up in a table of every combination of 18 runners, and odds, ranges and
pools are compared at once. When anything fails, the quotes are checked again one by one, so
the error raised is the first in the order given, as before.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from operator import attrgetter

import numpy as np
from numpy.typing import NDArray
from pydantic import ValidationError

from keiba.common.bet_types import BetType, format_combination, parse_combination
from keiba.common.config import ThemisConfig
from keiba.common.errors import KeibaError
from keiba.common.money import MAX_YEN

__all__ = ["BET_TYPES", "Bankroll", "DecisionError", "Offers", "Quote", "Race", "validate"]

PROBABILITY_TOLERANCE = 1e-6
BASE = 19
"""Digits of a combination key: horse numbers 1–18 and frame numbers 1–8 fit in base 19."""
BET_TYPES = tuple(BetType)
"""The canonical order of bet types (offers are sorted by it, then by combination)."""


class DecisionError(KeibaError, ValueError):
    """An input to `decide` is invalid; names the field and the value."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        super().__init__(f"{field} = {value!r}: {reason}")


@dataclass(frozen=True)
class Quote:
    """The price of one combination: decimal odds (stake included; for place and wide the low
    end of the published range) and optionally the high end and the pool of its bet type."""

    odds: float
    odds_high: float | None = None
    pool_yen: int | None = None
    """All the money in this bet type's pool (for own-impact sizing), if known."""


@dataclass(frozen=True)
class Bankroll:
    """The account as the decision sees it: balance and what today has already used.

    `day_start_yen` is the balance at the start of the day, the base of the daily cap (the
    current balance when not given). `cap_yen` is a limit of the caller's on what this race may
    stake in all (a canary's cap), named `cap_name` in a bet's rule when it binds. Nothing here
    is read from anywhere: the caller passes it.
    """

    balance_yen: int
    staked_today_yen: int = 0
    tickets_today: int = 0
    day_start_yen: int | None = None
    cap_yen: int | None = None
    cap_name: str = "caller-cap"

    @property
    def day_base_yen(self) -> int:
        return self.balance_yen if self.day_start_yen is None else self.day_start_yen


@dataclass(frozen=True)
class Offers:
    """The validated quotes, in canonical order (bet type, then combination), as arrays."""

    kind: NDArray[np.intp]
    """Index of each offer's bet type in `BET_TYPES`."""
    key: NDArray[np.intp]
    """The combination key: its numbers as digits in base 19 (`exotics.combination_key`)."""
    numbers: NDArray[np.intp]
    """The numbers of each combination (offers × 3, padded with 0)."""
    odds: NDArray[np.float64]
    odds_high: NDArray[np.float64]
    """The high end of a place/wide range, NaN when not quoted."""
    pool_yen: NDArray[np.int64]
    """The pool of the offer's bet type, −1 when not known."""
    combination: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.key.size)

    def bet_type(self, i: int) -> BetType:
        return BET_TYPES[int(self.kind[i])]

    @cached_property
    def _texts(self) -> NDArray[np.object_]:
        return np.array(self.combination, dtype=object)

    def combinations(self, rows: NDArray[np.intp]) -> list[str]:
        """The combinations of the offers at `rows`, in that order."""
        texts: list[str] = self._texts[rows].tolist()
        return texts


@dataclass(frozen=True)
class Race:
    """Validated inputs: win probabilities of the starters, offers, account, frames (of the
    starters) and the scratched runners."""

    win: dict[int, float]
    offers: Offers
    bankroll: Bankroll
    frames: dict[int, int] | None
    scratched: frozenset[int] = frozenset()


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
        if account.cap_yen is not None:
            fields.append(("bankroll.cap_yen", account.cap_yen))
    for field, value in fields:
        if not _is_int(value):
            raise DecisionError(field, value, "must be a whole number of yen")
        assert isinstance(value, int)
        if value < 0:
            raise DecisionError(field, value, "must not be negative")
        if value > MAX_YEN and field != "bankroll.tickets_today":
            raise DecisionError(field, value, _BEYOND)
    name = account.cap_name
    if not isinstance(name, str) or not name.strip() or name in RULE_TAGS:
        raise DecisionError(
            "bankroll.cap_name", name, f"must name the caller's cap, not be empty or one of "
            f"Themis's own rules ({', '.join(sorted(RULE_TAGS))})",
        )  # fmt: skip
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
    if quote.pool_yen is not None and quote.pool_yen > MAX_YEN:
        raise DecisionError(f"{field}.pool_yen", quote.pool_yen, _BEYOND)
    return quote


_BEYOND = f"is beyond the largest amount keiba accepts ({MAX_YEN:,} yen)"
RULE_TAGS = frozenset({"race-cap", "day-cap", "ticket-cap", "own-impact", "unit"})
"""The names Themis gives its own limits in a bet's rule: a caller's cap may not take one."""


_Row = tuple[int, int, str, float, float, int]
"""One offer as checked one by one: bet type index, key, text, odds, high end, pool."""


def _key(numbers: tuple[int, ...]) -> int:
    key = 0
    for number in numbers:
        key = key * BASE + number
    return key


def _one_by_one(
    odds: Mapping[int, float] | Mapping[BetType, Mapping[str, float | Quote]],
    win: Collection[int],
    frames: dict[int, int] | None,
    starters: Collection[int],
) -> list[_Row]:
    """Every quote checked in the order given; the first problem raises `DecisionError`."""
    if not isinstance(odds, Mapping):
        raise DecisionError("odds", odds, "must be a mapping")
    rows: list[_Row] = []
    if all(_is_int(k) for k in odds):
        for runner, value in odds.items():
            assert isinstance(runner, int)
            if runner not in win:
                raise DecisionError(f"odds[{runner}]", value, "unknown runner (no probability)")
            quote = _quote(f"odds[{runner}]", value)
            rows.append(_row(BetType.WIN, str(runner), (runner,), quote))
        return rows
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
                _check_frames(frames, starters)
                assert frames is not None
                unknown = [n for n in numbers if n not in frames.values()]
            else:
                unknown = [n for n in numbers if n not in win]
            if unknown:
                raise DecisionError(field, quoted, f"unknown runner or frame {unknown[0]}")
            rows.append(_row(bet_type, str(combination), numbers, _quote(field, quoted)))
    return rows


def _row(bet_type: BetType, text: str, numbers: tuple[int, ...], quote: Quote) -> _Row:
    high = math.nan if quote.odds_high is None else float(quote.odds_high)
    pool = -1 if quote.pool_yen is None else quote.pool_yen
    return (BET_TYPES.index(bet_type), _key(numbers), text, float(quote.odds), high, pool)


def _check_frames(frames: dict[int, int] | None, starters: Collection[int]) -> None:
    if frames is None:
        raise DecisionError("frames", None, "bracket quinella needs frame numbers")
    if not set(starters) <= set(frames):
        raise DecisionError("frames", frames, "must give the frame of every starter")


@cache
def _canonical(bet_type: BetType) -> dict[str, int]:
    """The key of every canonical combination of the bet type, by its text."""
    if bet_type is BetType.BRACKET_QUINELLA:
        combos: Collection[tuple[int, ...]] = list(
            itertools.combinations_with_replacement(range(1, 9), 2)
        )
    elif bet_type.ordered:
        combos = list(itertools.permutations(range(1, 19), bet_type.arity))
    else:
        combos = list(itertools.combinations(range(1, 19), bet_type.arity))
    return {format_combination(bet_type, c): _key(c) for c in combos}


def _digits(keys: NDArray[np.intp], arity: int) -> NDArray[np.intp]:
    numbers = np.zeros((keys.size, 3), dtype=np.intp)
    for i in range(arity):
        numbers[:, i] = keys // BASE ** (arity - 1 - i) % BASE
    return numbers


def _numbers(values: Sequence[object], integers: bool = False) -> bool:
    """Whether every value is a number (`_is_number`; with `integers`, `_is_int`), checked by
    type: a full race has thousands of quotes, and of only a type or two."""
    return _number_types(set(map(type, values)), integers)


def _number_types(types: set[type], integers: bool = False) -> bool:
    """Whether values of these types are all numbers (with `integers`, whole numbers)."""
    kinds = int if integers else (float, int)
    return all(issubclass(t, kinds) and not issubclass(t, bool) for t in types)


_ODDS, _HIGH, _POOL = attrgetter("odds"), attrgetter("odds_high"), attrgetter("pool_yen")
_NONE = type(None)


def _prices(values: list[object]) -> tuple[NDArray[np.float64], ...] | None:
    """Odds, high ends and pools of one bet type's quotes, or None if one may be invalid."""
    types = set(map(type, values))
    if _number_types(types):
        odds = np.array(values, dtype=np.float64)
        high = np.full(odds.size, math.nan)
        pool = np.full(odds.size, -1.0)
    elif types == {Quote}:
        # the quotes' fields by attribute getters in C; None (not quoted) checked by type
        raw, highs, pools = (list(map(get, values)) for get in (_ODDS, _HIGH, _POOL))
        high_types, pool_types = set(map(type, highs)), set(map(type, pools))
        if not _numbers(raw) or not _number_types(high_types - {_NONE}):
            return None
        if not _number_types(pool_types - {_NONE}, integers=True):
            return None
        if pool_types == {_NONE}:
            least = 0
        elif _NONE not in pool_types:
            least = min(pools, default=0)
        else:
            least = min((v for v in pools if v is not None), default=0)
        if least < 0 or max((v for v in pools if v is not None), default=0) > MAX_YEN:
            return None
        odds = np.array(raw, dtype=np.float64)
        high = _with_none(highs, high_types, math.nan)
        if np.any(high < odds):  # NaN (no high end) compares false
            return None
        pool = _with_none(pools, pool_types, -1)
    else:
        return None
    if not np.all(np.isfinite(odds) & (odds > 1.0)):
        return None
    return odds, high, pool


def _with_none(values: list[object], types: set[type], none: float) -> NDArray[np.float64]:
    """The values as floats, `none` where a value is None."""
    if types == {_NONE}:
        return np.full(len(values), float(none))
    if _NONE not in types:
        return np.array(values, dtype=np.float64)
    return np.array([none if v is None else v for v in values], dtype=np.float64)


def _at_once(
    odds: Mapping[BetType, Mapping[str, float | Quote]],
    win: Collection[int],
    frames: dict[int, int] | None,
    starters: Collection[int],
) -> Offers | None:
    """The offers checked as arrays, or None where a quote may be invalid."""
    known = np.zeros(BASE, dtype=bool)
    known[list(win)] = True
    parts: list[tuple[int, NDArray[np.intp], list[str], tuple[NDArray[np.float64], ...]]] = []
    for name, quotes in odds.items():
        if not isinstance(name, str) or name not in BetType.__members__.values():
            return None
        bet_type = BetType(name)
        if not isinstance(quotes, Mapping):
            return None
        table = _canonical(bet_type)
        texts = list(quotes)
        try:
            keys = np.array(list(map(table.__getitem__, texts)), dtype=np.intp)
        except (KeyError, TypeError):
            return None
        prices = _prices(list(quotes.values()))
        if prices is None:
            return None
        numbers = _digits(keys, bet_type.arity)
        if bet_type is BetType.BRACKET_QUINELLA:
            if frames is None or not set(starters) <= set(frames):
                return None
            live = np.zeros(BASE, dtype=bool)
            live[list(frames.values())] = True
            ok = live[numbers[:, :2]].all()
        else:
            ok = known[numbers[:, : bet_type.arity]].all()
        if not ok:
            return None
        parts.append((BET_TYPES.index(bet_type), keys, texts, prices))
    return _assemble(parts)


def _assemble(
    parts: list[tuple[int, NDArray[np.intp], list[str], tuple[NDArray[np.float64], ...]]],
) -> Offers:
    """The offers of every bet type in canonical order."""
    if not parts:
        return _sorted(
            np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp), [], *[np.zeros(0)] * 3
        )
    return _sorted(
        np.concatenate([np.full(k.size, i, dtype=np.intp) for i, k, _, _ in parts]),
        np.concatenate([k for _, k, _, _ in parts]),
        [t for _, _, ts, _ in parts for t in ts],
        *(np.concatenate([p[j] for _, _, _, p in parts]) for j in range(3)),
    )


def _sorted(
    kind: NDArray[np.intp],
    key: NDArray[np.intp],
    texts: list[str],
    odds: NDArray[np.float64],
    high: NDArray[np.float64],
    pool: NDArray[np.float64],
) -> Offers:
    order = np.lexsort((key, kind))
    in_order = bool(np.all(order == np.arange(order.size)))  # as quoted: usually canonical
    kind, key = kind[order], key[order]
    arity = np.array([b.arity for b in BET_TYPES], dtype=np.intp)[kind]
    numbers = np.zeros((order.size, 3), dtype=np.intp)
    for a in (1, 2, 3):
        rows = np.flatnonzero(arity == a)
        numbers[rows] = _digits(key[rows], a)
    return Offers(
        kind,
        key,
        numbers,
        odds[order],
        high[order],
        pool[order].astype(np.int64),
        tuple(texts) if in_order else tuple(texts[i] for i in order.tolist()),
    )


def _offers(
    odds: Mapping[int, float] | Mapping[BetType, Mapping[str, float | Quote]],
    win: Collection[int],
    frames: dict[int, int] | None,
    starters: Collection[int],
) -> Offers:
    if isinstance(odds, Mapping) and odds and not all(_is_int(k) for k in odds):
        offers = _at_once(odds, win, frames, starters)  # type: ignore[arg-type]
        if offers is not None:
            return offers
    rows = _one_by_one(odds, win, frames, starters)
    return _sorted(
        np.array([r[0] for r in rows], dtype=np.intp),
        np.array([r[1] for r in rows], dtype=np.intp),
        [r[2] for r in rows],
        np.array([r[3] for r in rows], dtype=np.float64),
        np.array([r[4] for r in rows], dtype=np.float64),
        np.array([r[5] for r in rows], dtype=np.float64),
    )


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
