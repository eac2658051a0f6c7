"""The bankroll: one ledger in a database, never a copy in a process; and its audit trail."""

from keiba.bankroll.audit import Checkpoint, VerifyResult, export_checkpoint, verify
from keiba.bankroll.check import check_invariants
from keiba.bankroll.ledger import (
    Balances,
    DecisionRecord,
    EntryKind,
    InsufficientFundsError,
    Ledger,
    LedgerError,
    RaceDayTotals,
    SettlementResult,
    Ticket,
    TicketState,
)

__all__ = [
    "Balances",
    "Checkpoint",
    "DecisionRecord",
    "EntryKind",
    "InsufficientFundsError",
    "Ledger",
    "LedgerError",
    "RaceDayTotals",
    "SettlementResult",
    "Ticket",
    "TicketState",
    "VerifyResult",
    "check_invariants",
    "export_checkpoint",
    "verify",
]
