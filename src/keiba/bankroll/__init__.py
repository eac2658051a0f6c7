"""The bankroll: one ledger in a database, never a copy in a process."""

from keiba.bankroll.ledger import (
    EntryKind,
    InsufficientFundsError,
    Ledger,
    SettlementResult,
    Ticket,
)

__all__ = ["EntryKind", "InsufficientFundsError", "Ledger", "SettlementResult", "Ticket"]
