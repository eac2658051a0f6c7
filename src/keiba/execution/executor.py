"""One decision to placed tickets, exactly once, through the ledger and a broker.

1. `Ledger.record_decision` writes the decision (digests of inputs and output) and reserves
   every stake in one transaction: the intent exists before anything is sent;
2. the tickets are marked `submitting` (recorded before the broker is called, so a process
   that dies during the call leaves them submitting, never taken for unsent);
3. the broker answers for each ticket: an accepted one is `placed` with its receipt number
   (its stake leaves the cash), a refused one `rejected` with the broker's reason (its
   reservation released).

A decision id that is already recorded is not submitted again (the caller must reconcile it
with the venue first); the ledger raises and nothing is sent. A broker that fails to answer
(it raises), or answers for other tickets, leaves every ticket `unknown` — it may or may not
have reached the venue; the stakes stay reserved until `Ledger.mark_reconciled` says which —
and `BrokerError` is raised: an unknown purchase is never taken for a refused one. When the
broker raises `PurchaseUnknown`, the tickets it answered for before are accepted or rejected,
those it never sent rejected, and only the rest become unknown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from keiba.bankroll import Ledger, Ticket
from keiba.common.errors import KeibaError
from keiba.execution.broker import Broker, BrokerError, PurchaseUnknown, Submission

__all__ = ["ExecutionReport", "execute_decision", "submit_reserved"]


@dataclass(frozen=True)
class ExecutionReport:
    decision_id: str
    placed: tuple[Ticket, ...]
    refused: tuple[Submission, ...] = field(default_factory=tuple)

    @property
    def staked_yen(self) -> int:
        return sum(t.stake for t in self.placed)


def execute_decision(
    ledger: Ledger,
    broker: Broker,
    *,
    decision_id: str,
    race_id: str,
    rule: str,
    inputs: Mapping[str, Any],
    output: Mapping[str, Any],
    tickets: Sequence[Ticket],
) -> ExecutionReport:
    """Record, reserve, submit, then commit and confirm (or release) each ticket."""
    ledger.record_decision(race_id, rule, inputs, output, tickets, decision_id=decision_id)
    return submit_reserved(ledger, broker, decision_id, tickets)


def submit_reserved(
    ledger: Ledger, broker: Broker, decision_id: str, tickets: Sequence[Ticket]
) -> ExecutionReport:
    """Mark reserved tickets submitting, send them, and record each answer (steps 2 and 3)."""
    if not tickets:
        return ExecutionReport(decision_id, ())
    ids = [t.ticket_id for t in tickets]
    ledger.mark_submitting(ids)
    try:
        answers = broker.submit(tickets)
    except PurchaseUnknown as e:
        rest = _record_what_is_known(ledger, ids, e)
        _unknown(ledger, rest, decision_id, f"the purchase is unknown ({e})", e)
    except Exception as e:
        _unknown(ledger, ids, decision_id, f"the broker did not answer ({e})", e)
    if [a.ticket_id for a in answers] != ids:
        _unknown(ledger, ids, decision_id, "the broker answered for other tickets", None)
    placed, refused = [], []
    for ticket, answer in zip(tickets, answers, strict=True):
        if _answer(ledger, answer):
            placed.append(ticket)
        else:
            refused.append(answer)
    return ExecutionReport(decision_id, tuple(placed), tuple(refused))


def _answer(ledger: Ledger, answer: Submission) -> bool:
    """Accept or reject one submitted ticket as the venue answered; True if accepted."""
    if answer.accepted and answer.receipt:
        ledger.accept(answer.ticket_id, answer.receipt)
        return True
    ledger.reject(answer.ticket_id, f"refused by the broker: {answer.reason}")
    return False


def _record_what_is_known(ledger: Ledger, ids: list[str], e: PurchaseUnknown) -> list[str]:
    """Accept or reject the tickets answered before the purchase became unknown, reject those
    never sent; returns the rest, whose purchase is unknown."""
    answered = {a.ticket_id: a for a in e.answers if a.ticket_id in ids}
    for answer in answered.values():
        _answer(ledger, answer)
    not_sent = [i for i in ids if i in set(e.not_sent) and i not in answered]
    for ticket_id in not_sent:
        ledger.reject(ticket_id, f"not sent: {e}")
    return [i for i in ids if i not in answered and i not in not_sent]


def _unknown(
    ledger: Ledger, ids: list[str], decision_id: str, why: str, cause: Exception | None
) -> NoReturn:
    """Mark the submitted tickets unknown and raise `BrokerError` (whatever the ledger does)."""
    try:
        ledger.mark_unknown(ids, why)
    except KeibaError as e:
        why += f"; the ledger could not mark them unknown ({e}), they stay submitting"
    raise BrokerError(f"decision {decision_id}: {why}") from cause
