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
and `BrokerError` is raised: an unknown purchase is never taken for a refused one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from keiba.bankroll import Ledger, Ticket
from keiba.common.errors import KeibaError
from keiba.execution.broker import Broker, BrokerError, Submission

__all__ = ["ExecutionReport", "execute_decision"]


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
    if not tickets:
        return ExecutionReport(decision_id, ())
    ids = [t.ticket_id for t in tickets]
    ledger.mark_submitting(ids)
    try:
        answers = broker.submit(tickets)
    except Exception as e:
        _unknown(ledger, ids, decision_id, f"the broker did not answer ({e})", e)
    if [a.ticket_id for a in answers] != ids:
        _unknown(ledger, ids, decision_id, "the broker answered for other tickets", None)
    placed, refused = [], []
    for ticket, answer in zip(tickets, answers, strict=True):
        if answer.accepted and answer.receipt:
            ledger.accept(ticket.ticket_id, answer.receipt)
            placed.append(ticket)
        else:
            ledger.reject(ticket.ticket_id, f"refused by the broker: {answer.reason}")
            refused.append(answer)
    return ExecutionReport(decision_id, tuple(placed), tuple(refused))


def _unknown(
    ledger: Ledger, ids: list[str], decision_id: str, why: str, cause: Exception | None
) -> NoReturn:
    """Mark the submitted tickets unknown and raise `BrokerError` (whatever the ledger does)."""
    try:
        ledger.mark_unknown(ids, why)
    except KeibaError as e:
        why += f"; the ledger could not mark them unknown ({e}), they stay submitting"
    raise BrokerError(f"decision {decision_id}: {why}") from cause
