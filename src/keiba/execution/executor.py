"""One decision to placed tickets, exactly once, through the ledger and a broker.

1. `Ledger.record_decision` writes the decision (digests of inputs and output) and reserves
   every stake in one transaction: the intent exists before anything is sent;
2. the broker answers for each ticket;
3. an accepted ticket is committed (its stake leaves the cash) and its receipt recorded; a
   refused one is released with the broker's reason.

A decision id that is already recorded is not submitted again (the caller must reconcile it
with the venue first); the ledger raises and nothing is sent. A broker that fails to answer
(it raises) leaves every ticket reserved — it may or may not have reached the venue — and
`BrokerError` is raised: an unknown purchase is never taken for a refused one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from keiba.bankroll import Ledger, Ticket
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
    try:
        answers = broker.submit(tickets)
    except Exception as e:
        raise BrokerError(f"decision {decision_id}: the broker did not answer ({e})") from e
    if [a.ticket_id for a in answers] != [t.ticket_id for t in tickets]:
        for ticket in tickets:
            ledger.release(ticket.ticket_id, "the broker's answer did not match the tickets")
        raise BrokerError(f"decision {decision_id}: the broker answered for other tickets")
    placed, refused = [], []
    for ticket, answer in zip(tickets, answers, strict=True):
        if answer.accepted and answer.receipt:
            ledger.commit(ticket.ticket_id)
            ledger.confirm(ticket.ticket_id, answer.receipt)
            placed.append(ticket)
        else:
            ledger.release(ticket.ticket_id, f"refused by the broker: {answer.reason}")
            refused.append(answer)
    return ExecutionReport(decision_id, tuple(placed), tuple(refused))
