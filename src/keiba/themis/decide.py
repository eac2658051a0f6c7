"""`decide`: what to buy and how much, from probabilities, odds and a bankroll only.

A pure function of frozen inputs (no I/O, no clock, no names). The steps:

1. validate everything (`keiba.themis.inputs`); a bad input raises `DecisionError`;
2. probabilities of every finishing order of the first three, by discounted Harville with the
   policy's γ and δ, and from them the probability of every quoted combination;
3. screen each quote: no scratched runner named, bet type enabled and sold for this number of
   starters, probability at least the
   minimum, expected return p·o at least the threshold (unless `ev_screen` is off) — else a
   rejection with the reason;
4. stop the account-level cases: zero bankroll, bankroll below the floor, stake multiplier 0,
   daily ticket limit already reached — every candidate rejected with the reason;
5. size the candidates in fractions of the bankroll (`policy.sizing`): `independent` (Kelly of
   each ticket alone), `per_pool` (exact simultaneous Kelly within each pool), or `joint` (one
   expected-log maximisation over the finishing orders across all pools; the exact
   Smoczynski–Tomkins result when only one exclusive pool has candidates); then × the Kelly
   fraction × the stake multiplier;
6. with the トリガミ guard on, drop tickets whose hit would return less than the race's total
   stake and size the rest again (repeated until none is left);
7. yen: caps, 100-yen units, minimum stake, own impact, ticket limit (`keiba.themis.rules`);
8. tickets that rounding, a cap, the ticket limit or the トリガミ guard after rounding left
   without a stake are rejected with that reason and the others are sized again without them
   (steps 5–7, repeated until every remaining ticket is bought).

Quotes are screened as arrays (`inputs.Offers`): a full 18-runner race offers 6,396.

Place and wide are decided at the low end of their odds range.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from keiba.common.bet_types import BetType
from keiba.common.config import ThemisConfig
from keiba.common.money import Yen
from keiba.themis import exotics
from keiba.themis.inputs import BET_TYPES, Bankroll, DecisionError, Offers, Quote, Race, validate
from keiba.themis.joint import JointKelly
from keiba.themis.rules import REASONS, Allocations, Reason, allocate
from keiba.themis.sizing import (
    expected_return,
    isaacs_stake,
    joint_kelly,
    joint_problem,
    simultaneous_kelly,
)

__all__ = ["Bet", "Decision", "DecisionError", "Rejection", "decide"]

EXCLUSIVE = frozenset(BetType) - {BetType.PLACE, BetType.QUINELLA_PLACE}
"""Bet types whose combinations are mutually exclusive (exactly one wins)."""


@dataclass(frozen=True)
class Bet:
    """A ticket to buy: what, how much (integer yen), and why."""

    bet_type: BetType
    combination: str
    stake: Yen
    probability: float
    odds: float
    expected_return: float
    rule: str


class Rejection(NamedTuple):
    """A quote not bought, with the reason in words and as a code (a named tuple: a full race
    rejects thousands of quotes, and these are the cheapest immutable records to build)."""

    bet_type: BetType
    combination: str
    reason: str
    probability: float
    odds: float
    code: Reason = Reason.EV_BELOW_THRESHOLD


@dataclass(frozen=True)
class Decision:
    bets: tuple[Bet, ...]
    rejections: tuple[Rejection, ...]
    bankroll: Yen
    notes: tuple[str, ...] = ()

    @property
    def total_stake(self) -> Yen:
        return Yen(sum(b.stake for b in self.bets))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (bet types and reasons as their string values)."""
        return {
            "bankroll_yen": int(self.bankroll),
            "total_stake_yen": int(self.total_stake),
            "bets": [
                {
                    "bet_type": b.bet_type.value,
                    "combination": b.combination,
                    "stake_yen": int(b.stake),
                    "probability": b.probability,
                    "odds": b.odds,
                    "expected_return": b.expected_return,
                    "rule": b.rule,
                }
                for b in self.bets
            ],
            "rejections": [
                {
                    "bet_type": r.bet_type.value,
                    "combination": r.combination,
                    "code": r.code.value,
                    "reason": r.reason,
                    "probability": r.probability,
                    "odds": r.odds,
                }
                for r in self.rejections
            ],
            "notes": list(self.notes),
        }


_NO_PAYOFF = sparse.csc_matrix((0, 0))
"""The payoff matrix where no sizer needs one."""
_EXCLUSIVE_KIND = np.array([b in EXCLUSIVE for b in BET_TYPES])
_SCRATCHED, _NOT_ENABLED, _NOT_SOLD, _UNLIKELY, _LOW_EV, _CANDIDATE = range(6)


@dataclass(frozen=True)
class _Screened:
    """The offers that passed the screen (indices into `Offers`) and every offer's probability."""

    candidates: NDArray[np.intp]
    probability: NDArray[np.float64]
    rejections: list[Rejection]


def _rejections(
    offers: Offers,
    rows: NDArray[np.intp],
    probability: NDArray[np.float64],
    code: Reason | list[Reason],
    reason: str | list[str],
) -> list[Rejection]:
    """The offers at `rows`, rejected in that order with their probabilities (one code and
    reason for all, or one each), built as whole columns: each named tuple is made straight
    from its row (`tuple.__new__`, what `Rejection._make` does, without a Python call each)."""
    k = rows.size
    if k == 0:
        return []
    columns = zip(
        _BET_TYPES[offers.kind[rows]].tolist(),
        offers.combinations(rows),
        repeat(reason, k) if isinstance(reason, str) else reason,
        probability.tolist(),
        offers.odds[rows].tolist(),
        repeat(code, k) if isinstance(code, Reason) else code,
        strict=True,
    )
    rejections: list[Rejection] = list(map(tuple.__new__, repeat(Rejection), columns))
    return rejections


def _scratched_number(race: Race) -> NDArray[np.intp]:
    """For each offer, the first scratched horse (or starter-less frame) it names, else 0 (only
    bracket quinella's frames are looked at when no runner is scratched)."""
    offers = race.offers
    number = np.zeros(len(offers), dtype=np.intp)
    bracket = offers.kind == BET_TYPES.index(BetType.BRACKET_QUINELLA)
    rows = np.arange(len(offers)) if race.scratched else np.flatnonzero(bracket)
    if rows.size == 0:
        return number
    numbers = offers.numbers[rows]
    out = np.zeros(19, dtype=bool)
    out[list(race.scratched)] = True
    named = out[numbers]
    frames = bracket[rows]
    if np.any(frames):
        live = np.zeros(19, dtype=bool)
        live[list((race.frames or {}).values())] = True
        named[frames] = ~live[numbers[frames]]
    named &= numbers > 0
    first = np.argmax(named, axis=1)
    number[rows] = np.where(named.any(axis=1), numbers[np.arange(rows.size), first], 0)
    return number


def _codes(race: Race, orders: exotics.FinishOrders, policy: ThemisConfig):  # type: ignore[no-untyped-def]
    """Each offer's screen code and probability (NaN where it was not needed)."""
    offers, n = race.offers, len(race.win)
    code = np.full(len(offers), _CANDIDATE, dtype=np.intp)
    p = np.full(len(offers), np.nan)
    out = _scratched_number(race)
    enabled = set(policy.bet_types)
    for kind in np.unique(offers.kind).tolist():
        bet = BET_TYPES[kind]
        rows = np.flatnonzero((offers.kind == kind) & (out == 0))
        if rows.size == 0:
            continue
        if bet not in enabled or not exotics.sold(bet, n):
            code[rows] = _NOT_ENABLED if bet not in enabled else _NOT_SOLD
            continue
        p[rows] = exotics.key_probabilities(orders, bet, race.frames)[offers.key[rows]]
    code[out > 0] = _SCRATCHED
    live = code == _CANDIDATE
    code[live & (p < policy.min_probability)] = _UNLIKELY
    if policy.ev_screen:
        code[(code == _CANDIDATE) & (p * offers.odds < policy.ev_threshold)] = _LOW_EV
    return code, p, out


_REASONS = np.array(
    [
        Reason.SCRATCHED,
        Reason.NOT_ENABLED,
        Reason.NOT_SOLD,
        Reason.PROBABILITY_BELOW_MINIMUM,
        Reason.EV_BELOW_THRESHOLD,
    ],
    dtype=object,
)
_BET_TYPES = np.array(BET_TYPES, dtype=object)
_SCRATCHED_TEXT = np.array([f"runner {k} is scratched" for k in range(19)], dtype=object)
_NO_STARTER = np.array([f"frame {k} has no starter" for k in range(19)], dtype=object)


EV_TEXTS = 10_000
"""Below-threshold texts of EVs up to this many thousandths are looked up, not formatted."""
EV_LOOKED_UP = 64
"""…from this many texts on (fewer are formatted faster than the table is indexed)."""


@lru_cache(maxsize=8)
def _ev_table(threshold: float) -> NDArray[np.object_]:
    """ "EV 0.000 below t" … for every EV in thousandths up to the threshold (and one more)."""
    below = f"EV %d.%03d below {threshold}"  # a number's text has no %
    size = math.floor(threshold * 1000) + 2
    return np.array([below % divmod(k, 1000) for k in range(size)], dtype=object)


def _ev_texts(ev: NDArray[np.float64], threshold: float) -> list[str]:
    """`f"EV {e:.3f} below {threshold}"` for each EV below the threshold, looked up by the EV in
    thousandths: x·1000 to the nearest integer is the correctly rounded EV except within a
    rounding error of a half, where the text is formatted (as every text is for a threshold
    beyond `EV_TEXTS` thousandths)."""
    below = f"EV %.3f below {threshold}"
    if not threshold * 1000 < EV_TEXTS or ev.size < EV_LOOKED_UP:
        return list(map(below.__mod__, ev.tolist()))
    table = _ev_table(threshold)
    scaled = ev * 1000.0
    thousandths = np.rint(scaled)
    near_half = ~(np.abs(scaled - np.floor(scaled) - 0.5) > 1e-6)  # NaN too
    outside = ~((thousandths >= 0) & (thousandths < table.size))
    formatted = np.flatnonzero(near_half | outside)
    thousandths[formatted] = 0
    texts: list[str] = table[thousandths.astype(np.intp)].tolist()
    for j in formatted.tolist():
        texts[j] = below % ev[j]
    return texts


def _screen(race: Race, orders: exotics.FinishOrders, policy: ThemisConfig) -> _Screened:
    """The candidates, and the rejections in the offers' order (built as whole columns: a full
    race rejects thousands of quotes)."""
    offers, n = race.offers, len(race.win)
    code, p, out = _codes(race, orders, policy)
    rows = np.flatnonzero(code != _CANDIDATE)
    codes = code[rows]
    probability = np.where(codes >= _UNLIKELY, p[rows], 0.0)
    odds = offers.odds[rows]
    why = np.full(rows.size, "probability below minimum", dtype=object)
    why[codes == _NOT_ENABLED] = "bet type not enabled by the policy"
    low = np.flatnonzero(codes == _LOW_EV)
    why[low] = _ev_texts(probability[low] * odds[low], policy.ev_threshold)
    unsold = np.flatnonzero(codes == _NOT_SOLD)
    if unsold.size:
        texts = [f"{bet.value} is not sold with {n} starters" for bet in BET_TYPES]
        why[unsold] = np.array(texts, dtype=object)[offers.kind[rows[unsold]]]
    out_rows = rows[codes == _SCRATCHED]
    if out_rows.size:
        number = out[out_rows]
        frames = offers.kind[out_rows] == BET_TYPES.index(BetType.BRACKET_QUINELLA)
        why[codes == _SCRATCHED] = np.where(frames, _NO_STARTER[number], _SCRATCHED_TEXT[number])
    rejections = _rejections(offers, rows, probability, _REASONS[codes].tolist(), why.tolist())
    return _Screened(np.flatnonzero(code == _CANDIDATE), p, rejections)


def _payoff(
    orders: exotics.FinishOrders,
    offers: Offers,
    chosen: NDArray[np.intp],
    frames: dict[int, int] | None,
) -> sparse.csc_matrix:
    """Gross return of one yen on each chosen offer in each finishing order (orders × tickets)."""
    rows: list[NDArray[np.intp]] = []
    cols: list[NDArray[np.intp]] = []
    kinds = offers.kind[chosen]
    for kind in np.unique(kinds).tolist():
        members = np.flatnonzero(kinds == kind)
        keys = exotics.ticket_keys(orders, BET_TYPES[kind], frames)
        lookup = np.full(exotics.KEY_SPACE + 1, -1, dtype=np.intp)
        lookup[offers.key[chosen[members]]] = members
        col = lookup[keys]  # a key of −1 reads the sentinel at the end: −1
        row, which = np.nonzero(col >= 0)
        rows.append(row)
        cols.append(col[row, which])
    shape = (orders.probabilities.size, chosen.size)
    if not rows:
        return sparse.csc_matrix(shape)
    col = np.concatenate(cols)
    return sparse.csc_matrix((offers.odds[chosen][col], (np.concatenate(rows), col)), shape=shape)


class _Payoffs:
    """The payoff matrix of the screened candidates, built once, its columns for any subset of
    them (the rounds of sizing again drop tickets, never add), and the joint Kelly problem
    over all of them, prepared once for every round."""

    def __init__(self, orders: exotics.FinishOrders, race: Race, candidates: NDArray[np.intp]):
        self._args = (orders, race.offers, candidates, race.frames)
        self._all: sparse.csc_matrix | None = None
        self._joint: JointKelly | None = None

    def _matrix(self) -> sparse.csc_matrix:
        if self._all is None:
            self._all = _payoff(*self._args)
        return self._all

    def of(self, chosen: NDArray[np.intp]) -> sparse.csc_matrix:
        return self._matrix()[:, np.searchsorted(self._args[2], chosen)]

    def joint(
        self, chosen: NDArray[np.intp], start: NDArray[np.bool_], near: NDArray[np.float64] | None
    ) -> NDArray[np.float64]:
        """The joint Kelly fractions of the chosen candidates."""
        if self._joint is None:
            self._joint = joint_problem(self._args[0].probabilities, self._matrix())
        return self._joint.solve(np.searchsorted(self._args[2], chosen), start, near)


def _size(
    offers: Offers,
    chosen: NDArray[np.intp],
    p: NDArray[np.float64],
    pi: NDArray[np.float64],
    payoffs: _Payoffs,
    payoff: sparse.csc_matrix,
    sizing: str,
    near: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.float64], list[str]]:
    """Full-Kelly fractions of the chosen offers and the sizer that chose each (`near`: the
    joint optimum of a previous round, to start the joint solve from)."""
    k = chosen.size
    odds, kinds = offers.odds[chosen], offers.kind[chosen]
    if k == 0:
        return np.zeros(0), []
    if sizing == "independent":
        edge = p * odds - 1.0
        return np.where(edge > 0, edge / (odds - 1.0), 0.0), ["single-kelly"] * k
    present = np.unique(kinds).tolist()
    joint = sizing == "joint" and (len(present) > 1 or not _EXCLUSIVE_KIND[present[0]])
    if joint and near is not None:  # the previous round's optimum is the start
        return payoffs.joint(chosen, near > 0, near), ["joint-kelly"] * k
    fractions, sizers = np.zeros(k), [""] * k
    for kind in present:
        members = np.flatnonzero(kinds == kind)
        if _EXCLUSIVE_KIND[kind]:
            fractions[members] = simultaneous_kelly(p[members], odds[members])
            name = "simultaneous-kelly"
        elif joint:  # a starting guess only: every place/wide candidate
            fractions[members] = 1.0
            name = ""
        else:
            fractions[members] = joint_kelly(pi, payoff[:, members])
            name = "pool-kelly"
        for j in members.tolist():
            sizers[j] = name
    if joint:
        return payoffs.joint(chosen, fractions > 0, near), ["joint-kelly"] * k
    return fractions, sizers


def _torigami(payoff: sparse.csc_matrix, stakes: NDArray[np.float64]) -> NDArray[np.intp]:
    """Tickets that win in an outcome whose total return is below the total stake."""
    total = float(np.sum(stakes))
    returns = payoff @ stakes
    short = (returns > 0) & (returns < total * (1 - 1e-12))
    if not np.any(short):
        return np.zeros(0, dtype=np.intp)
    hits = payoff[short][:, stakes > 0]
    columns: NDArray[np.intp] = np.flatnonzero(stakes > 0)[np.unique(hits.tocoo().col)]
    return columns


def _account_stop(account: Bankroll, policy: ThemisConfig) -> tuple[Reason, str] | None:
    if account.balance_yen == 0:
        return Reason.ZERO_BANKROLL, "bankroll is zero"
    if account.balance_yen < policy.bankroll_floor_yen:
        return Reason.BANKROLL_FLOOR, (
            f"bankroll {account.balance_yen:,} yen is below the floor of "
            f"{policy.bankroll_floor_yen:,} yen"
        )
    if policy.stake_multiplier == 0:
        return Reason.STAKE_MULTIPLIER_ZERO, "stake multiplier is 0 (betting paused)"
    if account.tickets_today >= policy.max_tickets_per_day:
        return Reason.TICKET_LIMIT, f"daily ticket limit of {policy.max_tickets_per_day:,} reached"
    return None


def _own_impact(offers: Offers, i: int, p: float, policy: ThemisConfig) -> float | None:
    pool = int(offers.pool_yen[i])
    if not policy.own_impact or pool < 0 or not _EXCLUSIVE_KIND[offers.kind[i]]:
        return None
    takeout = float(offers.bet_type(i).takeout)
    on_outcome = (1.0 - takeout) * pool / float(offers.odds[i])
    return isaacs_stake(p, takeout, pool, on_outcome)


class _OwnImpact:
    """The own-impact caps (`_own_impact`, NaN for none) of the screened candidates, each
    computed once: the rounds of sizing again ask for the same tickets, less a few."""

    def __init__(self, offers: Offers, screened: _Screened, policy: ThemisConfig) -> None:
        self._args = (offers, screened.candidates, screened.probability, policy)
        rows = screened.candidates
        # only the quotes that carry their pool, of exclusive bet types, have one
        pooled = (offers.pool_yen[rows] >= 0) & _EXCLUSIVE_KIND[offers.kind[rows]]
        self._pending = pooled & policy.own_impact
        self._caps = np.full(rows.size, np.nan)

    def of(self, chosen: NDArray[np.intp]) -> NDArray[np.float64]:
        offers, candidates, p, policy = self._args
        at = np.searchsorted(candidates, chosen)
        for j in at[self._pending[at]].tolist():
            i = int(candidates[j])
            own = _own_impact(offers, i, float(p[i]), policy)
            self._caps[j] = np.nan if own is None else own
            self._pending[j] = False
        caps: NDArray[np.float64] = self._caps[at]
        return caps


@dataclass
class _Sized:
    """One round of sizing: the chosen offers, their full-Kelly fractions and yen allocations."""

    chosen: NDArray[np.intp]
    full: NDArray[np.float64]
    sizers: list[str]
    allocations: Allocations


def _size_and_allocate(
    race: Race,
    orders: exotics.FinishOrders,
    chosen: NDArray[np.intp],
    screened: _Screened,
    policy: ThemisConfig,
    rejections: list[Rejection],
    payoffs: _Payoffs,
    own_impact: _OwnImpact,
    near: NDArray[np.float64] | None = None,
) -> _Sized:
    """Steps 5–7 for the chosen offers (トリガミ drops are rejected and sized again)."""
    offers, p_all = race.offers, screened.probability
    scale = policy.kelly_fraction * policy.stake_multiplier
    while True:
        exclusive_only = bool(np.all(_EXCLUSIVE_KIND[offers.kind[chosen]]))
        needed = policy.torigami_guard or (policy.sizing == "per_pool" and not exclusive_only)
        payoff = payoffs.of(chosen) if needed else _NO_PAYOFF
        full, sizers = _size(
            offers,
            chosen,
            p_all[chosen],
            orders.probabilities,
            payoffs,
            payoff,
            policy.sizing,
            near,
        )
        fractions = full * scale
        dropped = _torigami(payoff, fractions) if policy.torigami_guard else np.zeros(0, int)
        if dropped.size == 0:
            break
        why = "トリガミ: a hit would return less than the race's total stake"
        rows = chosen[dropped]
        rejections += _rejections(offers, rows, p_all[rows], Reason.TORIGAMI, why)
        chosen = np.delete(chosen, dropped)
        near = None if near is None else np.delete(near, dropped)
    positive = np.flatnonzero(fractions > 0)
    caps = own_impact.of(chosen[positive])
    allocated = allocate(fractions[positive], caps, race.bankroll, policy)
    allocations = allocated.placed(positive, chosen.size)
    if policy.torigami_guard:
        short = _torigami(payoff, allocations.stake.astype(np.float64))
        why = "トリガミ after rounding: a hit would return less than the race's total stake"
        allocations.refuse(short, Reason.TORIGAMI, why)
    return _Sized(chosen, full, sizers, allocations)


def decide(
    probabilities: Mapping[int, float],
    odds: Mapping[int, float] | Mapping[BetType, Mapping[str, float | Quote]],
    bankroll: int | Bankroll,
    policy: ThemisConfig,
    *,
    frames: Mapping[int, int] | None = None,
    scratched: Collection[int] = (),
) -> Decision:
    """Bets for one race from win probabilities, the odds on offer and the bankroll.

    `odds` is `{horse: win odds}` or `{bet type: {combination: odds or Quote}}`; quotes not
    offered are not bought. `bankroll` is the balance in yen, or a `Bankroll` with what today
    has already staked and bought (for the daily caps). `frames` (horse → frame) is needed
    only for bracket quinella. `scratched` are the horse numbers declared but not starting: each
    has no probability or p = 0, is left out of the field size and the places paid, and every
    quote naming one is rejected `scratched`.
    """
    race = validate(probabilities, odds, bankroll, policy, frames, scratched)
    account, offers = race.bankroll, race.offers
    kinds = np.unique(offers.kind).tolist()
    places = max((exotics.DEPTH[BET_TYPES[k]] for k in kinds), default=1)
    orders = exotics.finish_orders(race.win, policy.exotic_gamma, policy.exotic_delta, places)
    screened = _screen(race, orders, policy)
    rejections = screened.rejections
    notes: list[str] = []
    ranged = (BET_TYPES.index(BetType.PLACE), BET_TYPES.index(BetType.QUINELLA_PLACE))
    if np.any((offers.kind == ranged[0]) | (offers.kind == ranged[1])):
        notes.append("place and wide are decided at the low end of their odds range")
    chosen, p_all = screened.candidates, screened.probability
    stop = _account_stop(account, policy) if chosen.size else None
    if stop is not None:
        rejections += _rejections(offers, chosen, p_all[chosen], *stop)
        return Decision((), tuple(rejections), Yen(account.balance_yen), tuple(notes))
    resized, near = 0, None
    payoffs = _Payoffs(orders, race, chosen)
    own_impact = _OwnImpact(offers, screened, policy)
    while True:
        sized = _size_and_allocate(
            race, orders, chosen, screened, policy, rejections, payoffs, own_impact, near
        )
        allocations = sized.allocations
        unbought = np.flatnonzero(
            (sized.full > 0) & ((allocations.reason >= 0) | (allocations.stake <= 0))
        )
        if not unbought.size:
            break
        codes = [
            REASONS[c] if c >= 0 else Reason.ROUNDS_TO_ZERO
            for c in allocations.reason[unbought].tolist()
        ]
        rows = sized.chosen[unbought]
        rejections += _rejections(
            offers, rows, p_all[rows], codes, allocations.message[unbought].tolist()
        )
        chosen = np.delete(sized.chosen, unbought)
        near = np.delete(sized.full, unbought)
        resized += unbought.size
    if resized:
        notes.append(
            f"sized again without the {resized} ticket(s) that rounding, caps or limits left "
            "without a stake"
        )
    return _decision(race, sized, p_all, policy, rejections, notes)


def _decision(
    race: Race,
    sized: _Sized,
    p_all: NDArray[np.float64],
    policy: ThemisConfig,
    rejections: list[Rejection],
    notes: list[str],
) -> Decision:
    offers = race.offers
    scale = policy.kelly_fraction * policy.stake_multiplier
    screen = f"ev>={policy.ev_threshold:g}" if policy.ev_screen else "no-ev-screen"
    stakeless = sized.full <= 0
    rows = sized.chosen[stakeless]
    why = "no Kelly stake beside the other tickets"
    rejections += _rejections(offers, rows, p_all[rows], Reason.NO_KELLY_STAKE, why)
    bought = np.flatnonzero(~stakeless)
    rows = sized.chosen[bought]
    prefixes = {name: f"{screen}+{name}*{scale:g}" for name in set(sized.sizers)}
    bindings: list[tuple[str, ...]] = sized.allocations.binding[bought].tolist()
    tags = {binding: "".join(f"+{b}" for b in binding) for binding in set(bindings)}
    rules = [
        prefixes[sized.sizers[j]] + tags[binding]
        for j, binding in zip(bought.tolist(), bindings, strict=True)
    ]
    bets = [
        Bet(bet_type, combination, Yen(stake), p, o, expected_return(p, o), rule)
        for bet_type, combination, stake, p, o, rule in zip(
            _BET_TYPES[offers.kind[rows]].tolist(),
            offers.combinations(rows),
            sized.allocations.stake[bought].tolist(),
            p_all[rows].tolist(),
            offers.odds[rows].tolist(),
            rules,
            strict=True,
        )
    ]
    return Decision(tuple(bets), tuple(rejections), Yen(race.bankroll.balance_yen), tuple(notes))
