"""One race through the engine: inputs as of decision time → Themis → execution → settlement.

The same code runs a live race day, a replayed day, the backtest and the demo; they differ only
in what is plugged in: the clock, the broker, the ledger database and where the inputs come
from. `RaceEngine.decide` takes a race's inputs as they were known at decision time and ends it
as bought, passed (Themis bought nothing: its reasons) or skipped (a degraded mode: the reason);
`RaceEngine.settle` pays the race's open tickets from its official result, exactly once.

The bankroll Themis sees is read from the ledger every time (its available balance, and what the
day's races have staked and returned: race ids begin with their date), so a restarted process
decides with the same numbers as the one that stopped. The monitor, when given, is checked
before each decision: a stop means no bet, a drawdown tier lowers the stake multiplier.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from keiba.bankroll import Ledger, LedgerError, Ticket
from keiba.bankroll.schema import TicketState
from keiba.common.bet_types import BetType
from keiba.common.clock import Clock
from keiba.common.config import ThemisConfig
from keiba.common.errors import StorageError, one_line
from keiba.common.money import Yen
from keiba.execution import Broker, BrokerError, execute_decision
from keiba.execution.reconcile import Reconciliation, reconcile_day
from keiba.market.settlement import settle_ticket
from keiba.monitor import Alert, AlertSink, BetOutcome, Monitor, Severity, apply_to_policy, deliver
from keiba.themis import Bankroll, Decision, DecisionError, decide

__all__ = [
    "PlacedBet",
    "RaceEngine",
    "RaceInputs",
    "RaceOutcome",
    "RaceResult",
    "SettledTicket",
    "Status",
    "ledger_bankroll",
]


@dataclass(frozen=True)
class RaceInputs:
    """A race as known at decision time: starters, probabilities and the odds on offer."""

    race_id: str
    race_date: dt.date
    decision_at: dt.datetime
    horses: tuple[int, ...]
    """The starters (declared runners not scratched), in horse-number order."""
    frames: Mapping[int, int]
    probabilities: Mapping[int, float]
    """The win probabilities Themis decides from (the model combined with the market)."""
    offers: Mapping[BetType, Mapping[str, float]]
    """Bet type → combination → odds on offer at decision time."""
    model_version: str
    odds_source: str
    """Where the odds come from: `snapshot` (polled or recorded), `final`, `final+drift`."""
    odds_as_of: dt.datetime | None = None
    """When the odds were published; None when they are not a snapshot of a moment."""
    scratched: frozenset[int] = frozenset()


class Status(StrEnum):
    BOUGHT = "bought"
    PASSED = "passed"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True)
class PlacedBet:
    """A ticket the broker accepted, with what the decision knew of it."""

    ticket: Ticket
    probability: float
    odds: float


@dataclass(frozen=True)
class RaceOutcome:
    """How a race's decision ended, and why."""

    race_id: str
    status: Status
    reason: str
    decision: Decision | None = None
    bankroll: Bankroll | None = None
    placed: tuple[PlacedBet, ...] = ()
    refused: tuple[str, ...] = ()

    @property
    def staked_yen(self) -> int:
        return sum(p.ticket.stake for p in self.placed)


@dataclass(frozen=True)
class RaceResult:
    """A race's official result: payouts per 100 yen and every declared runner's status."""

    payouts: Mapping[tuple[str, str], int]
    statuses: Mapping[int, str]
    frames: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SettledTicket:
    ticket_id: str
    bet_type: str
    combination: str
    stake: int
    paid: int
    refund: bool

    @property
    def hit(self) -> bool:
        return self.paid > 0 and not self.refund


def ledger_bankroll(ledger: Ledger, day: dt.date) -> Bankroll:
    """The account as Themis sees it before a race of `day`: the available balance, and what
    the day's races have staked and returned (read from the ledger; nothing is written)."""
    totals = ledger.race_day(day)
    balance = int(ledger.balance())
    day_start = balance + int(totals.staked) - int(totals.returned)
    return Bankroll(max(balance, 0), int(totals.staked), totals.tickets, day_start)


def _passed_reason(decision: Decision) -> str:
    if not decision.rejections:
        return "nothing on offer"
    counts = Counter(r.code.value for r in decision.rejections)
    top = ", ".join(f"{code} ×{n}" for code, n in counts.most_common(3))
    return f"Themis bought nothing ({top})"


class RaceEngine:
    """Decides, buys and settles races for one ledger account through one broker."""

    def __init__(
        self,
        policy: ThemisConfig,
        ledger: Ledger,
        broker: Broker,
        clock: Clock,
        *,
        monitor: Monitor | None = None,
        max_odds_age: dt.timedelta | None = None,
        rule: str = "themis",
        alerts: Sequence[AlertSink] = (),
    ) -> None:
        self.policy = policy
        self.ledger = ledger
        self.broker = broker
        self.clock = clock
        self.monitor = monitor
        self.max_odds_age = max_odds_age
        self.rule = rule
        self.alerts = tuple(alerts)
        self._known: dict[str, tuple[float, float]] = {}
        self.outcomes: list[BetOutcome] = []
        balances = ledger.balances()
        self.peak = int(balances.cash) + int(ledger.open_stakes())

    # --- deciding and buying --------------------------------------------------------------

    def bankroll(self, day: dt.date) -> Bankroll:
        """The account as Themis sees it before a race of `day`."""
        return ledger_bankroll(self.ledger, day)

    def decide(self, race: RaceInputs) -> RaceOutcome:
        """Decide the race and buy what Themis chose; one decision id per race, ever."""
        skipped = self._degraded(race)
        if skipped is not None:
            return RaceOutcome(race.race_id, Status.SKIPPED, skipped)
        try:
            return self._decide(race)
        except (StorageError, SQLAlchemyError) as e:  # the ledger's database is gone: no buying
            reason = f"ledger unreachable, buying stopped: {one_line(e, 200)}"
            self._alert("engine.ledger_unreachable", reason)
            return RaceOutcome(race.race_id, Status.SKIPPED, reason)

    def _decide(self, race: RaceInputs) -> RaceOutcome:
        policy = self.policy
        if self.monitor is not None:
            report = self.monitor.check(
                peak_yen=self.peak,
                balance_yen=self.equity(),
                bets=self.outcomes,
                last_odds_at=self.clock.now(),
                last_result_at=self.clock.now(),
            )
            if report.stop_buying:
                reasons = "; ".join(report.reasons) or "stopped"
                return RaceOutcome(race.race_id, Status.SKIPPED, f"monitor: {reasons}")
            policy = apply_to_policy(policy, report)
        bankroll = self.bankroll(race.race_date)
        try:
            decision = decide(
                dict(race.probabilities),
                {b: dict(q) for b, q in race.offers.items()},
                bankroll,
                policy,
                frames=dict(race.frames) if BetType.BRACKET_QUINELLA in race.offers else None,
                scratched=race.scratched,
            )
        except DecisionError as e:
            return RaceOutcome(race.race_id, Status.FAILED, f"bad decision inputs: {e}")
        if not decision.bets:
            return RaceOutcome(
                race.race_id, Status.PASSED, _passed_reason(decision), decision, bankroll
            )
        return self._buy(race, decision, bankroll, policy)

    def _degraded(self, race: RaceInputs) -> str | None:
        if self.max_odds_age is not None and race.odds_source == "snapshot":
            if race.odds_as_of is None:
                return "the odds carry no time"
            age = self.clock.now() - race.odds_as_of
            if age > self.max_odds_age:
                return (
                    f"odds are {age.total_seconds():.0f} s old at decision "
                    f"(limit {self.max_odds_age.total_seconds():.0f} s)"
                )
        if not race.offers:
            return "no odds on offer"
        return None

    def _buy(
        self, race: RaceInputs, decision: Decision, bankroll: Bankroll, policy: ThemisConfig
    ) -> RaceOutcome:
        tickets = [
            Ticket(
                f"{race.race_id}-{self.rule}-{b.bet_type.value}-{b.combination}",
                race.race_id,
                b.bet_type.value,
                b.combination,
                b.stake,
                b.rule,
            )
            for b in decision.bets
        ]
        inputs = _decision_inputs(race, bankroll, policy)
        try:
            executed = execute_decision(
                self.ledger,
                self.broker,
                decision_id=f"{race.race_id}-{self.rule}",
                race_id=race.race_id,
                rule=self.rule,
                inputs=inputs,
                output=decision.to_dict(),
                tickets=tickets,
            )
        except LedgerError as e:
            return RaceOutcome(race.race_id, Status.FAILED, str(e), decision, bankroll)
        except BrokerError as e:
            reason = (
                f"the broker failed: {one_line(e, 200)}; {len(tickets)} ticket(s) left reserved, "
                "not sent again until the purchase history is checked"
            )
            self._alert("engine.broker_failed", reason)
            return RaceOutcome(race.race_id, Status.FAILED, reason, decision, bankroll)
        by_id = {t.ticket_id: b for t, b in zip(tickets, decision.bets, strict=True)}
        placed = tuple(
            PlacedBet(t, by_id[t.ticket_id].probability, by_id[t.ticket_id].odds)
            for t in executed.placed
        )
        for p in placed:
            self._known[p.ticket.ticket_id] = (p.probability, p.odds)
        refused = tuple(f"{s.ticket_id}: {s.reason}" for s in executed.refused)
        if not placed:
            reason = f"the broker refused every ticket ({refused[0]})"
            return RaceOutcome(race.race_id, Status.FAILED, reason, decision, bankroll, (), refused)
        reason = f"{len(placed)} ticket(s), {sum(p.ticket.stake for p in placed):,} yen"
        return RaceOutcome(race.race_id, Status.BOUGHT, reason, decision, bankroll, placed, refused)

    def _alert(self, kind: str, message: str) -> None:
        deliver(Alert(kind, Severity.CRITICAL, message, self.clock.now()), self.alerts)

    # --- settling -------------------------------------------------------------------------

    def reconcile(self, day: dt.date) -> Reconciliation:
        """Settle the day's unknown purchases from the venue's history (`reconcile_day`);
        alerted when it could not, or when it found or adopted anything."""
        result = reconcile_day(self.ledger, self.broker, day)
        if result.failed:
            self._alert("execution.not_reconciled", result.summary())
        elif result.changed or result.unresolved:
            self._alert("execution.reconciled", result.summary())
        return result

    def settle(self, race_id: str, result: RaceResult) -> list[SettledTicket]:
        """Pay the race's open tickets by JRA rules; a ticket already settled is left alone.
        Purchases of the race still unknown are reconciled with the venue's history first."""
        pending = (TicketState.UNKNOWN.value, TicketState.SUBMITTING.value)
        if any(t["state"] in pending for t in self.ledger.race_tickets(race_id)):
            self.reconcile(dt.date(int(race_id[:4]), int(race_id[4:6]), int(race_id[6:8])))
        settled = []
        equity = self.equity()
        for row in self.ledger.open_tickets(race_id):
            bet_type = BetType(str(row["bet_type"]))
            stake = Yen(int(row["stake_yen"]))
            outcome = settle_ticket(
                bet_type,
                str(row["combination"]),
                stake,
                result.payouts,
                result.statuses,
                result.frames or None,
            )
            done = self.ledger.settle(str(row["ticket_id"]), outcome.paid, refund=outcome.refund)
            if not done.settled_now:
                continue
            equity += outcome.paid - stake
            self.peak = max(self.peak, equity)
            ticket_id = str(row["ticket_id"])
            known = self._known.pop(ticket_id, None)
            if known is not None and not outcome.refund:
                self.outcomes.append(BetOutcome(known[0], known[1], int(stake), outcome.paid))
            settled.append(
                SettledTicket(
                    ticket_id,
                    bet_type.value,
                    str(row["combination"]),
                    int(stake),
                    int(outcome.paid),
                    outcome.refund,
                )
            )
        return settled

    # --- the account ----------------------------------------------------------------------

    def equity(self) -> int:
        """Cash plus the stakes of tickets not yet settled (at cost)."""
        return int(self.ledger.balances().cash) + int(self.ledger.open_stakes())


def _decision_inputs(race: RaceInputs, bankroll: Bankroll, policy: ThemisConfig) -> dict[str, Any]:
    """What the audit record keeps of the decision's inputs."""
    return {
        "model_version": race.model_version,
        "probabilities": dict(race.probabilities),
        "odds": {b.value: dict(q) for b, q in race.offers.items()},
        "odds_source": race.odds_source,
        "odds_as_of": race.odds_as_of.isoformat() if race.odds_as_of else None,
        "decision_at": race.decision_at.isoformat(),
        "scratched": sorted(race.scratched),
        "bankroll": {
            "balance_yen": bankroll.balance_yen,
            "staked_today_yen": bankroll.staked_today_yen,
            "tickets_today": bankroll.tickets_today,
            "day_start_yen": bankroll.day_start_yen,
        },
        "policy": policy.model_dump(mode="json"),
    }
