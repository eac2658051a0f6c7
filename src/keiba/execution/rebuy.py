"""After reconciliation: buy an intent again once its purchase is proven absent, or say why not.

`follow_up(ledger, channels, day, …)` looks at the day's tickets after the venues' histories
were read (`reconcile_day`, one per channel):

- a ticket `absent` at its channel's venue, not yet followed up, is bought again as the next
  attempt of its chain (`keiba.execution.channels`: `ROOT~k`, through the channel after the one
  that proved it absent: the failover when there is one), but only while its race's sales close
  is more than `margin` away and fewer than `max_rebuys` attempts were made; otherwise the miss
  is recorded with its reason (a decision `missed:TICKET` with no ticket, in the audit chain);
- a ticket still `reserved` was never sent (the buying process stopped between recording the
  intent and marking it submitting): it is sent now through its own channel under the same
  rule, or released and recorded missed when its close is too near. An adopted ticket left
  reserved is marked unknown instead, for the history to settle.

Each step is one ledger transaction after another, and each attempt exists only once its
predecessor is absent: an intent is never in flight on two channels, or twice on one. It
assumes one buying process per account (the one that runs this).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from keiba.bankroll import Ledger, LedgerError, Ticket
from keiba.bankroll._db import reading
from keiba.bankroll.audit import RecordType
from keiba.bankroll.schema import TicketState, audit_log, decisions
from keiba.common.money import Yen
from keiba.execution.broker import BrokerError
from keiba.execution.channels import Attempt, Channel
from keiba.execution.executor import ExecutionReport, execute_decision, submit_reserved
from keiba.execution.reconcile import ADOPTED_RULE

__all__ = [
    "REBUY_RULE",
    "Closes",
    "FollowUp",
    "RebuyPolicy",
    "follow_up",
    "missed_id",
    "missed_reasons",
]

REBUY_RULE = "bought again after proven absence"
MISSED_RULE = "missed"
Closes = Callable[[str], dt.datetime | None]
"""When a race's sales close (None when it is not known)."""


@dataclass(frozen=True)
class RebuyPolicy:
    margin: dt.timedelta = dt.timedelta(minutes=3)
    max_rebuys: int = 2


@dataclass
class FollowUp:
    """What one follow-up did: tickets bought again (or sent late), refused, left unknown,
    and intents recorded as missed with the reason."""

    placed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    missed: list[tuple[str, str]] = field(default_factory=list)


def missed_id(ticket_id: str) -> str:
    """The decision id that records a ticket's intent as missed (at most 64 characters)."""
    full = f"missed:{ticket_id}"
    return full if len(full) <= 64 else f"missed:{hashlib.sha256(ticket_id.encode()).hexdigest()}"


def follow_up(
    ledger: Ledger,
    channels: Sequence[Channel],
    day: dt.date,
    *,
    now: dt.datetime,
    closes_at: Closes,
    policy: RebuyPolicy,
) -> FollowUp:
    """Buy again what was proven absent, send what was never sent, record the rest missed."""
    done = FollowUp()
    tickets = _of_day(ledger, day)
    later = {(a.root, a.number) for a in (Attempt.of(str(t["ticket_id"])) for t in tickets)}
    recorded = _decision_ids(ledger, day)
    for row in tickets:
        ticket_id, state = str(row["ticket_id"]), row["state"]
        attempt = Attempt.of(ticket_id)
        if state == TicketState.RESERVED.value:
            _unsent(ledger, channels, row, now, closes_at, policy, done)
        elif state == TicketState.ABSENT.value and not (
            (attempt.root, attempt.number + 1) in later or missed_id(ticket_id) in recorded
        ):
            _absent(ledger, channels, row, now, closes_at, policy, done)
    return done


def _why_not(
    race_id: str, number: int, now: dt.datetime, closes_at: Closes, policy: RebuyPolicy
) -> str:
    if number >= policy.max_rebuys:
        return f"absent after {number + 1} attempts (at most {policy.max_rebuys} rebuys)"
    return _too_late(race_id, now, closes_at, policy.margin)


def _too_late(race_id: str, now: dt.datetime, closes_at: Closes, margin: dt.timedelta) -> str:
    close = closes_at(race_id)
    if close is None:
        return "the race's sales close is not known"
    left = (close - now).total_seconds()
    if left < margin.total_seconds():
        return (
            f"{max(left, 0):.0f} s to the sales close, less than the margin of "
            f"{margin.total_seconds():.0f} s"
        )
    return ""


def _absent(
    ledger: Ledger,
    channels: Sequence[Channel],
    row: dict[str, Any],
    now: dt.datetime,
    closes_at: Closes,
    policy: RebuyPolicy,
    done: FollowUp,
) -> None:
    ticket_id, race_id = str(row["ticket_id"]), str(row["race_id"])
    attempt = Attempt.of(ticket_id)
    why = "adopted tickets are not bought again" if row["rule"] == ADOPTED_RULE else ""
    why = why or _why_not(race_id, attempt.number, now, closes_at, policy)
    if why:
        _missed(ledger, race_id, ticket_id, why, done)
        return
    channel = _after(channels, attempt.channel)
    following = attempt.next(channel.name)
    ticket = Ticket(
        following.ticket_id,
        race_id,
        str(row["bet_type"]),
        str(row["combination"]),
        Yen(int(row["stake_yen"])),
        str(row["rule"]),
    )
    link = {"rebuy_of": ticket_id, "channel": channel.label, "attempt": following.number}
    try:
        report = execute_decision(
            ledger,
            channel.broker,
            decision_id=following.ticket_id,
            race_id=race_id,
            rule=REBUY_RULE,
            inputs=link,
            output={**link, "ticket_id": following.ticket_id},
            tickets=[ticket],
        )
    except BrokerError:
        done.unknown.append(following.ticket_id)
        return
    except LedgerError as e:  # e.g. the reservation no longer fits the available balance
        _missed(ledger, race_id, ticket_id, f"not bought again: {e}", done)
        return
    _tally(report, done)


def _unsent(
    ledger: Ledger,
    channels: Sequence[Channel],
    row: dict[str, Any],
    now: dt.datetime,
    closes_at: Closes,
    policy: RebuyPolicy,
    done: FollowUp,
) -> None:
    ticket_id, race_id = str(row["ticket_id"]), str(row["race_id"])
    if row["rule"] == ADOPTED_RULE:
        ledger.mark_submitting([ticket_id])
        ledger.mark_unknown([ticket_id], "adopted, left reserved: the history settles it")
        done.unknown.append(ticket_id)
        return
    attempt = Attempt.of(ticket_id)
    why = _too_late(race_id, now, closes_at, policy.margin)
    named = [c for c in channels if c.name == attempt.channel]
    if not named:
        why = why or f"its channel {attempt.channel!r} is not configured"
    if why:
        ledger.release(ticket_id, f"never sent: {why}")
        _missed(ledger, race_id, ticket_id, f"never sent: {why}", done)
        return
    ticket = Ticket(
        ticket_id,
        race_id,
        str(row["bet_type"]),
        str(row["combination"]),
        Yen(int(row["stake_yen"])),
        str(row["rule"]),
        row["decision_id"],
    )
    try:
        report = submit_reserved(ledger, named[0].broker, str(row["decision_id"]), [ticket])
    except BrokerError:
        done.unknown.append(ticket_id)
        return
    _tally(report, done)


def _tally(report: ExecutionReport, done: FollowUp) -> None:
    done.placed.extend(t.ticket_id for t in report.placed)
    done.refused.extend(s.ticket_id for s in report.refused)


def _after(channels: Sequence[Channel], name: str) -> Channel:
    """The channel after the one named (the failover after the primary; round again)."""
    names = [c.name for c in channels]
    at = names.index(name) if name in names else -1
    return channels[(at + 1) % len(channels)]


def _missed(ledger: Ledger, race_id: str, ticket_id: str, why: str, done: FollowUp) -> None:
    record = {"missed": ticket_id, "reason": why}
    try:
        ledger.record_decision(
            race_id, MISSED_RULE, record, record, decision_id=missed_id(ticket_id)
        )
    except LedgerError:
        return  # recorded already
    done.missed.append((ticket_id, why))


def _of_day(ledger: Ledger, day: dt.date) -> list[dict[str, Any]]:
    prefix = f"{day:%Y%m%d}"
    return [t for t in ledger.tickets() if str(t["race_id"]).startswith(prefix)]


def _decision_ids(ledger: Ledger, day: dt.date) -> set[str]:
    query = select(decisions.c.decision_id).where(
        decisions.c.account == ledger.account, decisions.c.race_id.like(f"{day:%Y%m%d}%")
    )
    with reading(ledger.engine) as conn:
        return {str(r) for r in conn.execute(query).scalars()}


def missed_reasons(ledger: Ledger) -> dict[str, str]:
    """Ticket id → why nothing more was bought for it: the reason of its rejection, its release
    or its `missed` record, read from the audit chain (the latest reason wins)."""
    kinds = (RecordType.REJECTION.value, RecordType.RELEASE.value, RecordType.DECISION.value)
    query = (
        select(audit_log.c.content)
        .where(audit_log.c.record_type.in_(kinds), audit_log.c.account == ledger.account)
        .order_by(audit_log.c.seq)
    )
    reasons: dict[str, str] = {}
    with reading(ledger.engine) as conn:
        for content in conn.execute(query).scalars():
            payload = json.loads(str(content)).get("payload") or {}
            output = payload.get("output") or {}
            if "missed" in output:
                reasons[str(output["missed"])] = str(output["reason"])
            elif "ticket_id" in payload and "reason" in payload:
                reasons[str(payload["ticket_id"])] = str(payload["reason"])
    return reasons
