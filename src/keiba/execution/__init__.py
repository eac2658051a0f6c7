"""Execution: decided bets become placed tickets exactly once (intent, submit, confirm)."""

from keiba.execution.broker import Broker, BrokerError, PaperBroker, Submission
from keiba.execution.executor import ExecutionReport, execute_decision

__all__ = [
    "Broker",
    "BrokerError",
    "ExecutionReport",
    "PaperBroker",
    "Submission",
    "execute_decision",
]
