"""One race through the engine: inputs as of decision time → Themis → execution → settlement.

The same code runs a live race day, a replayed day, the backtest and the demo; they differ only
in what is plugged in: the clock, the broker, the ledger database and where the inputs come
from. `RaceEngine.decide` takes a race's inputs as they were known at decision time and ends it
as bought, passed (Themis bought nothing: its reasons) or skipped (a degraded mode: the reason);
`RaceEngine.settle` pays the race's open tickets from its official result, exactly once.

The bankroll Themis sees is read from the ledger every time (its available balance, and what the
day's races have staked and returned: race ids begin with their date), so a restarted process
decides with the same numbers as the one that stopped. The monitor, when given, is checked
before each decision: a stop means no bet until an operator resumes (on a race day from any
process, `follow_resumes`: the monitor follows the ledger's resume records while stopped), a
drawdown tier lowers the stake multiplier.

A purchase whose answer was lost is settled by `RaceEngine.reconcile`: each channel's history
(the broker's, then each failover's) says which unknown tickets the venue has; what is proven
absent is bought again through the next channel while the race's close is far enough away, or
recorded missed with the reason (`keiba.execution.rebuy`); tickets found or adopted for races
already official are settled at once when the engine knows the results.

The engine runs one release (`release_id`: the model version and Themis policy in force); every
outcome and every decision recorded in the ledger carries its id. A caller may switch
`policy` and `release_id` together between races (a rollback). A replay that runs no promoted
release (the demo, a backtest) records an implicit one, named after the race's model version
and the policy (`implicit_release_id`). A caller running a canary sets `canary` before the
race's decision: the outcome and the decision record are marked, and the race's stake is capped
(`Canary.cap_yen`, named `canary-cap` in a bet's rule when it binds).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from keiba.bankroll import Ledger, LedgerError, Ticket
from keiba.bankroll.audit import digest
from keiba.bankroll.schema import TicketState
from keiba.common.bet_types import BetType
from keiba.common.clock import Clock
from keiba.common.config import ThemisConfig
from keiba.common.errors import StorageError, one_line
from keiba.common.money import Yen
from keiba.execution import Broker, BrokerError, execute_decision
from keiba.execution.channels import PRIMARY, Attempt, Channel
from keiba.execution.rebuy import Closes, FollowUp, RebuyPolicy, follow_up
from keiba.execution.reconcile import Reconciliation, reconcile_day
from keiba.market.settlement import settle_ticket
from keiba.monitor import Alert, AlertSink, BetOutcome, Monitor, Severity, apply_to_policy, deliver
from keiba.themis import Bankroll, Bet, Decision, DecisionError, decide

__all__ = [
    "CANARY_CAP",
    "Canary",
    "PlacedBet",
    "RaceEngine",
    "RaceInputs",
    "RaceOutcome",
    "RaceResult",
    "Recovery",
    "SettledTicket",
    "Status",
    "implicit_release_id",
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


CANARY_CAP = "canary-cap"


@dataclass(frozen=True)
class Canary:
    """The next decision runs a canary release: `cap_yen` is what the race may stake in all
    (the smaller of the canary's race cap and what its day cap has left)."""

    cap_yen: int

    def to_dict(self) -> dict[str, int]:
        return {"cap_yen": self.cap_yen}


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
    release_id: str = ""
    canary: bool = False

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


@dataclass
class Recovery:
    """What `RaceEngine.reconcile` found and did: each channel's reconciliation (rounds of
    them when a purchase bought again was lost too), what was bought again or missed, and
    the tickets settled because their race was already official."""

    day: dt.date
    reconciliations: list[tuple[str, Reconciliation]] = field(default_factory=list)
    follow_ups: list[FollowUp] = field(default_factory=list)
    settled: list[SettledTicket] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(r.failed for _, r in self.reconciliations)

    @property
    def changed(self) -> bool:
        return any(r.changed for _, r in self.reconciliations) or any(
            f.placed or f.refused or f.unknown or f.missed for f in self.follow_ups
        )

    def summary(self) -> str:
        parts = [f"{name or 'primary'}: {r.summary()}" for name, r in self.reconciliations]
        for f in self.follow_ups:
            if f.placed or f.refused or f.unknown:
                parts.append(
                    f"bought again {len(f.placed)}, refused {len(f.refused)}, "
                    f"unknown {len(f.unknown)}"
                )
            parts.extend(f"missed {ticket}: {why}" for ticket, why in f.missed)
        if self.settled:
            parts.append(f"{len(self.settled)} ticket(s) of official races settled")
        return "; ".join(parts)


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
        failover: Sequence[Channel] = (),
        closes_at: Closes | None = None,
        rebuy: RebuyPolicy | None = None,
        results: Callable[[str], RaceResult | None] | None = None,
        release_id: str = "",
        follow_resumes: bool = False,
    ) -> None:
        self.policy = policy
        self.release_id = release_id
        self.canary: Canary | None = None
        self.ledger = ledger
        self.broker = broker
        self.channels = (Channel(PRIMARY, broker), *failover)
        self.closes_at: Closes = closes_at or (lambda race_id: None)
        self.rebuy = rebuy or RebuyPolicy()
        self.results = results
        self.clock = clock
        self.monitor = monitor
        self.follow_resumes = follow_resumes
        """While stopped, look for a resume written by another process before each decision
        (a race day's operator); a backtest has none to look for."""
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
        """Decide the race and buy what Themis chose; one decision id per race, ever. The
        outcome names the release it ran under."""
        outcome = self._decide_or_skip(race)
        return replace(outcome, release_id=self._release(race), canary=self.canary is not None)

    def _release(self, race: RaceInputs) -> str:
        return self.release_id or implicit_release_id(race.model_version, self.policy)

    def _decide_or_skip(self, race: RaceInputs) -> RaceOutcome:
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
            if self.follow_resumes and self.monitor.stopped:
                self.monitor.follow(self.ledger.monitor_events())
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
        if self.canary is not None:
            bankroll = replace(bankroll, cap_yen=max(self.canary.cap_yen, 0), cap_name=CANARY_CAP)
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
                self._ticket_id(race, b),
                race.race_id,
                b.bet_type.value,
                b.combination,
                b.stake,
                b.rule,
            )
            for b in decision.bets
        ]
        inputs = _decision_inputs(race, bankroll, policy, self._release(race))
        if self.canary is not None:
            inputs["canary"] = self.canary.to_dict()
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
            reason = f"the broker failed: {one_line(e, 200)}"
            self._alert("engine.broker_failed", reason)
            recovery = self.reconcile(race.race_date)
            return self._recovered(race, decision, bankroll, reason, recovery)
        placed = self._placed(decision, tickets, executed.placed)
        refused = tuple(f"{s.ticket_id}: {s.reason}" for s in executed.refused)
        if not placed:
            reason = f"the broker refused every ticket ({refused[0]})"
            return RaceOutcome(race.race_id, Status.FAILED, reason, decision, bankroll, (), refused)
        reason = f"{len(placed)} ticket(s), {sum(p.ticket.stake for p in placed):,} yen"
        return RaceOutcome(race.race_id, Status.BOUGHT, reason, decision, bankroll, placed, refused)

    def _recovered(
        self,
        race: RaceInputs,
        decision: Decision,
        bankroll: Bankroll,
        failure: str,
        recovery: Recovery,
    ) -> RaceOutcome:
        """The race's outcome once the histories said what a failed purchase left behind."""
        rows = self.ledger.race_tickets(race.race_id)
        bought = [_row_ticket(r) for r in rows if r["state"] == TicketState.PLACED.value]
        originals = [
            Ticket(
                self._ticket_id(race, b),
                race.race_id,
                b.bet_type.value,
                b.combination,
                b.stake,
                b.rule,
            )
            for b in decision.bets
        ]
        placed = self._placed(decision, originals, bought)
        pending = [
            r
            for r in rows
            if r["state"] in (TicketState.UNKNOWN.value, TicketState.SUBMITTING.value)
        ]
        reason = f"{failure}; {recovery.summary()}"
        if pending:
            reason += (
                f"; {len(pending)} ticket(s) left reserved, not sent again until the purchase "
                "history is checked"
            )
        status = Status.BOUGHT if placed else Status.FAILED
        return RaceOutcome(race.race_id, status, reason, decision, bankroll, placed)

    def _placed(
        self, decision: Decision, tickets: Sequence[Ticket], bought: Sequence[Ticket]
    ) -> tuple[PlacedBet, ...]:
        """The bought tickets with what the decision knew of their intent (matched by root)."""
        by_id = {t.ticket_id: b for t, b in zip(tickets, decision.bets, strict=True)}
        placed = tuple(
            PlacedBet(t, by_id[root].probability, by_id[root].odds)
            for t in bought
            if (root := Attempt.of(t.ticket_id).root) in by_id
        )
        for p in placed:
            self._known[p.ticket.ticket_id] = (p.probability, p.odds)
        return placed

    def _ticket_id(self, race: RaceInputs, bet: Bet) -> str:
        return f"{race.race_id}-{self.rule}-{bet.bet_type.value}-{bet.combination}"

    def _alert(self, kind: str, message: str) -> None:
        deliver(Alert(kind, Severity.CRITICAL, message, self.clock.now()), self.alerts)

    # --- settling -------------------------------------------------------------------------

    def reconcile(self, day: dt.date) -> Recovery:
        """Settle the day's unknown purchases from each channel's history (`reconcile_day`),
        buy again what was proven absent or record it missed (`follow_up`), and settle what
        was found or adopted for races already official; alerted when a history could not be
        read, or when anything was found, adopted, bought again or missed."""
        recovery = Recovery(day)
        for _ in range(self.rebuy.max_rebuys + 1):
            for channel in self.channels:
                found = reconcile_day(self.ledger, channel.broker, day, channel=channel.name)
                recovery.reconciliations.append((channel.name, found))
            done = follow_up(
                self.ledger,
                self.channels,
                day,
                now=self.clock.now(),
                closes_at=self.closes_at,
                policy=self.rebuy,
            )
            recovery.follow_ups.append(done)
            if not done.unknown:
                break
        recovery.settled = self._settle_official(day)
        if recovery.failed:
            self._alert("execution.not_reconciled", recovery.summary())
        elif recovery.changed or any(r.unresolved for _, r in recovery.reconciliations):
            self._alert("execution.reconciled", recovery.summary())
        return recovery

    def _settle_official(self, day: dt.date) -> list[SettledTicket]:
        """Settle the day's placed tickets whose race already has its official result."""
        if self.results is None:
            return []
        prefix = f"{day:%Y%m%d}"
        races = {
            str(t["race_id"])
            for t in self.ledger.tickets()
            if t["state"] == TicketState.PLACED.value and str(t["race_id"]).startswith(prefix)
        }
        settled: list[SettledTicket] = []
        for race_id in sorted(races):
            result = self.results(race_id)
            if result is not None:
                settled.extend(self._pay(race_id, result))
        return settled

    def settle(self, race_id: str, result: RaceResult) -> list[SettledTicket]:
        """Pay the race's open tickets by JRA rules; a ticket already settled is left alone.
        Purchases of the race still unknown are reconciled with the venue's history first."""
        pending = (TicketState.UNKNOWN.value, TicketState.SUBMITTING.value)
        if any(t["state"] in pending for t in self.ledger.race_tickets(race_id)):
            self.reconcile(dt.date(int(race_id[:4]), int(race_id[4:6]), int(race_id[6:8])))
        return self._pay(race_id, result)

    def _pay(self, race_id: str, result: RaceResult) -> list[SettledTicket]:
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


def _row_ticket(row: Mapping[str, Any]) -> Ticket:
    return Ticket(
        str(row["ticket_id"]),
        str(row["race_id"]),
        str(row["bet_type"]),
        str(row["combination"]),
        Yen(int(row["stake_yen"])),
        str(row["rule"]),
        row["decision_id"],
    )


def implicit_release_id(model_version: str, policy: ThemisConfig) -> str:
    """The release a decision records when the engine runs no promoted one."""
    key = {"model_version": model_version, "policy": policy.model_dump(mode="json")}
    return f"implicit-{digest(key)[:12]}"


def _decision_inputs(
    race: RaceInputs, bankroll: Bankroll, policy: ThemisConfig, release_id: str
) -> dict[str, Any]:
    """What the audit record keeps of the decision's inputs."""
    return {
        "release_id": release_id,
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
