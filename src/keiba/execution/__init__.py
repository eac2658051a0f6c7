"""Execution: decided bets become placed tickets exactly once (intent, submit, confirm)."""

from keiba.execution.broker import (
    Broker,
    BrokerError,
    PaperBroker,
    PurchaseUnknown,
    Submission,
)
from keiba.execution.executor import ExecutionReport, execute_decision
from keiba.execution.history import HistoryRow

__all__ = [
    "Broker",
    "BrokerError",
    "ExecutionReport",
    "HistoryRow",
    "PaperBroker",
    "PurchaseUnknown",
    "Submission",
    "execute_decision",
]
