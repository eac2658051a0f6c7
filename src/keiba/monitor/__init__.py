"""Monitoring: drawdown tiers, expected against realised hits and return, staleness, alerts.

See docs/monitor.md. The pure parts (`assess_drawdown`, `performance_bands`, `staleness`) need
nothing but numbers and times; `Monitor` combines them with an injected clock, alert sinks and
an audit writer, and returns the stake multiplier and stop that Themis must obey.
"""

from keiba.monitor.alerts import (
    Alert,
    AlertSink,
    LogSink,
    MemorySink,
    Severity,
    WebhookSink,
    deliver,
)
from keiba.monitor.drawdown import DrawdownState, assess_drawdown, peak_and_balance
from keiba.monitor.monitor import (
    AuditWriter,
    LedgerAuditWriter,
    Monitor,
    MonitorReport,
    RestoredState,
    apply_to_policy,
    restore_state,
    sinks_from_config,
)
from keiba.monitor.performance import (
    BetOutcome,
    MetricBand,
    PerformanceBands,
    Verdict,
    performance_bands,
)
from keiba.monitor.staleness import Feed, StalenessFinding, StalenessLimits, staleness

__all__ = [
    "Alert",
    "AlertSink",
    "AuditWriter",
    "BetOutcome",
    "DrawdownState",
    "Feed",
    "LedgerAuditWriter",
    "LogSink",
    "MemorySink",
    "MetricBand",
    "Monitor",
    "MonitorReport",
    "PerformanceBands",
    "RestoredState",
    "Severity",
    "StalenessFinding",
    "StalenessLimits",
    "Verdict",
    "WebhookSink",
    "apply_to_policy",
    "assess_drawdown",
    "deliver",
    "peak_and_balance",
    "performance_bands",
    "restore_state",
    "sinks_from_config",
    "staleness",
]
