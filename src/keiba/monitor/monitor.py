"""The monitor: drawdown, performance bands and staleness combined into actions and alerts.

`Monitor.check` is given the bankroll's peak and balance, the settled bets and the times of
the last odds and results; it reads the time from the injected clock and returns a
`MonitorReport`: the stake multiplier Themis may use (`apply_to_policy`), whether to stop
buying, the reasons, and the alerts raised.

State is small and explicit. A drawdown stop is latched: once a stopping tier is reached the
monitor keeps `stop_buying` until an operator calls `resume`, even if the balance recovers
(settlements arriving late must not restart buying unseen). Stale odds stop buying only while
they are stale. Alerts are sent when a condition appears or changes and once when it clears,
not on every check. Every change of drawdown tier, a stop reached again after a resume while
still in the stopping tier, and every resume write an audit record through the `AuditWriter`;
a failed audit write is a critical alert, and the stop still holds.

The tier and the latch survive a restart through those records: `restore_state` reads them
back (the last `drawdown_tier` record names the tier; a stopping one after the last `resume`
latches), `Monitor.restore` applies them, and `Monitor.for_ledger` builds a monitor writing to
and restored from a ledger's audit chain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from keiba.common.clock import Clock
from keiba.common.config import MonitorConfig, ThemisConfig
from keiba.common.errors import ConfigError
from keiba.common.logging import get_logger
from keiba.common.secrets import SecretStore
from keiba.monitor.alerts import Alert, AlertSink, LogSink, Severity, WebhookSink, deliver
from keiba.monitor.drawdown import DrawdownState, assess_drawdown
from keiba.monitor.performance import BetOutcome, PerformanceBands, Verdict, performance_bands
from keiba.monitor.staleness import Feed, StalenessFinding, StalenessLimits, staleness

__all__ = [
    "AuditWriter",
    "LedgerAuditWriter",
    "Monitor",
    "MonitorReport",
    "RestoredState",
    "apply_to_policy",
    "restore_state",
    "sinks_from_config",
]

_log = get_logger(__name__)


class AuditWriter(Protocol):
    def record(self, kind: str, payload: Mapping[str, Any]) -> None:
        """Append an audit record of `kind` (e.g. `drawdown_tier`) or raise."""
        ...


class _Recorder(Protocol):
    """The part of `keiba.bankroll.Ledger` the monitor uses (kept structural on purpose)."""

    def record_monitor_event(self, kind: str, payload: Mapping[str, Any]) -> int: ...


class _MonitorLedger(_Recorder, Protocol):
    """What `Monitor.for_ledger` needs of a ledger: write monitor records and read them back."""

    def monitor_events(self) -> list[dict[str, Any]]: ...


class LedgerAuditWriter:
    """Writes monitor records (kind `monitor`) into the ledger's hash-chained audit log."""

    def __init__(self, ledger: _Recorder) -> None:
        self._ledger = ledger

    def record(self, kind: str, payload: Mapping[str, Any]) -> None:
        self._ledger.record_monitor_event(kind, payload)


@dataclass(frozen=True)
class MonitorReport:
    """What one check found and what it allows."""

    at: dt.datetime
    drawdown: DrawdownState
    performance: PerformanceBands | None
    stale: tuple[StalenessFinding, ...]
    stake_multiplier: float
    """min(policy's multiplier, the tier's); 0 when buying is stopped."""
    stop_buying: bool
    reasons: tuple[str, ...]
    alerts: tuple[Alert, ...]


DRAWDOWN_TIER = "drawdown_tier"
RESUME = "resume"


@dataclass(frozen=True)
class RestoredState:
    """The monitor's drawdown state as its audit records left it."""

    tier: str | None
    """The tier of the last `drawdown_tier` record (None: none recorded, or below every tier)."""
    stopped: bool
    """A `drawdown_tier` record with `stop_buying` true follows the last `resume` record."""
    stop_record: Mapping[str, Any] | None = None
    """The first stopping record after the last resume: where the latched stop began."""
    last_resume: Mapping[str, Any] | None = None
    """The last `resume` record."""


def restore_state(events: Iterable[Mapping[str, Any]]) -> RestoredState:
    """Replay monitor records (`Ledger.monitor_events()`, oldest first) into tier and latch.

    Records of other kinds are ignored. A `stop_buying` that is anything truthy latches (when
    in doubt, stay stopped).
    """
    tier: str | None = None
    stop_record: Mapping[str, Any] | None = None
    last_resume: Mapping[str, Any] | None = None
    for event in events:
        kind = event.get("kind")
        if kind == DRAWDOWN_TIER:
            raw = event.get("tier")
            tier = None if raw is None else str(raw)
            if event.get("stop_buying") and stop_record is None:
                stop_record = event
        elif kind == RESUME:
            stop_record, last_resume = None, event
    return RestoredState(tier, stop_record is not None, stop_record, last_resume)


def _seq(record: Mapping[str, Any] | None) -> int | None:
    """The audit sequence number of a record read from the ledger (None: none, or unnumbered)."""
    if record is None or record.get("seq") is None:
        return None
    return int(record["seq"])


def apply_to_policy(policy: ThemisConfig, report: MonitorReport) -> ThemisConfig:
    """The policy with the report's stake multiplier (never raises it above the policy's)."""
    multiplier = min(policy.stake_multiplier, report.stake_multiplier)
    return policy.model_copy(update={"stake_multiplier": multiplier})


def sinks_from_config(config: MonitorConfig, store: SecretStore | None = None) -> list[AlertSink]:
    """The log, and the webhook when `webhook_url` is set or `webhook_secret` names the secret
    of `store` that holds its URL (read now: a missing secret stops the caller here)."""
    sinks: list[AlertSink] = [LogSink()]
    url = config.webhook_url
    if config.webhook_secret is not None:
        if store is None:
            raise ConfigError("monitor.webhook_secret needs a secret store (the secrets section)")
        url = store.get(config.webhook_secret).get_secret_value()
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"the secret {config.webhook_secret} is not an http(s) URL")
    if url:
        sinks.append(
            WebhookSink(
                url,
                timeout_s=config.webhook_timeout_s,
                max_retries=config.webhook_max_retries,
            )
        )
    return sinks


class Monitor:
    """Combines the checks; holds only the latched stop and the conditions already alerted."""

    def __init__(
        self,
        config: MonitorConfig,
        clock: Clock,
        sinks: Sequence[AlertSink] | None = None,
        audit: AuditWriter | None = None,
        *,
        base_stake_multiplier: float = 1.0,
    ) -> None:
        self._config = config
        self._clock = clock
        self._sinks = list(sinks) if sinks is not None else sinks_from_config(config)
        self._audit = audit
        self._base = base_stake_multiplier
        self._tier: str | None = None
        self._latched = False
        self._resumed_seq: int | None = None
        self._resumed_here = False
        """A resume of this monitor's own is in the records, its number not yet read."""
        self._active: dict[str, str] = {}

    @classmethod
    def for_ledger(
        cls,
        config: MonitorConfig,
        clock: Clock,
        ledger: _MonitorLedger,
        sinks: Sequence[AlertSink] | None = None,
        *,
        base_stake_multiplier: float = 1.0,
    ) -> Monitor:
        """A monitor auditing into `ledger` (`LedgerAuditWriter`), restored from its records."""
        monitor = cls(
            config,
            clock,
            sinks,
            LedgerAuditWriter(ledger),
            base_stake_multiplier=base_stake_multiplier,
        )
        monitor.restore(ledger.monitor_events())
        return monitor

    @property
    def stopped(self) -> bool:
        """True while a drawdown stop is latched."""
        return self._latched

    @property
    def tier(self) -> str | None:
        """The drawdown tier last seen (and recorded), None below every tier."""
        return self._tier

    def restore(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Take the tier and the latch from earlier monitor records (see `restore_state`).

        Call it before the first `check`: a tier already recorded is then not recorded or
        alerted again, and a recorded stop stays latched until `resume`. It writes nothing and
        alerts nothing; the performance and staleness conditions are not restored (they are
        alerted again once if still present).
        """
        state = restore_state(events)
        self._tier, self._latched = state.tier, state.stopped
        self._resumed_seq = _seq(state.last_resume)
        _log.info("monitor_restored", tier=state.tier, stopped=state.stopped)

    def follow(self, events: Iterable[Mapping[str, Any]]) -> bool:
        """Lift the latch when the records hold a resume newer than any this monitor has seen
        and no stop after it: an operator resumed from another process (`keiba monitor
        resume`, the server). Never latches, and a stop whose record could not be written
        still holds. True when it lifted the latch."""
        state = restore_state(events)
        seq = _seq(state.last_resume)
        if self._resumed_here:  # the last resume may be this monitor's own: not news
            self._resumed_seq, self._resumed_here = seq, False
        newer = seq is not None and (self._resumed_seq is None or seq > self._resumed_seq)
        if not (self._latched and newer and not state.stopped):
            return False
        self._latched, self._resumed_seq = False, seq
        _log.info("monitor_resumed_elsewhere", seq=seq)
        return True

    def check(
        self,
        *,
        peak_yen: int,
        balance_yen: int,
        bets: Iterable[BetOutcome | tuple[float, float, int, int]] = (),
        last_odds_at: dt.datetime | None = None,
        last_result_at: dt.datetime | None = None,
    ) -> MonitorReport:
        now = self._clock.now()
        cfg = self._config
        alerts: list[Alert] = []
        reasons: list[str] = []

        state = assess_drawdown(peak_yen, balance_yen, cfg.drawdown_tiers)
        if state.tier != self._tier or (state.stop_buying and not self._latched):
            # A stop reached again after a resume, in the same tier, is recorded too: the
            # records alone then decide the latch after a restart (see `restore_state`).
            self._tier_changed(now, state, alerts)
        if state.stop_buying:
            self._latched = True
        if state.tier is not None:
            reasons.append(f"drawdown {state.drawdown:.2%}: tier {state.tier}")

        bets = list(bets)
        perf = performance_bands(bets, band_z=cfg.band_z, min_bets=cfg.min_bets) if bets else None
        conditions: dict[str, tuple[str, Severity, str, dict[str, Any]]] = {}
        if perf is not None:
            for name, band in (("hits", perf.hits), ("return", perf.return_yen)):
                if band.verdict in (Verdict.BELOW, Verdict.ABOVE):
                    severity = Severity.WARNING if band.verdict is Verdict.BELOW else Severity.INFO
                    hint = (
                        " beyond luck: suspect calibration" if band.verdict is Verdict.BELOW else ""
                    )
                    conditions[f"performance.{name}"] = (
                        band.verdict.value,
                        severity,
                        f"{name} {band.verdict.value}{hint} "
                        f"(realised {band.realised:,.0f}, expected {band.expected:,.0f}, "
                        f"z {band.z if band.z is not None else float('nan'):+.2f})",
                        {
                            "expected": band.expected,
                            "realised": band.realised,
                            "sd": band.sd,
                            "z": band.z,
                            "bets": perf.bets,
                        },
                    )

        limits = StalenessLimits(
            dt.timedelta(seconds=cfg.max_odds_age_s), dt.timedelta(seconds=cfg.max_result_age_s)
        )
        found = staleness(now, last_odds_at, last_result_at, limits)
        odds_stale = False
        for finding in found:
            odds = finding.feed is Feed.ODDS
            odds_stale = odds_stale or odds
            conditions[f"staleness.{finding.feed.value}"] = (
                finding.problem,
                Severity.CRITICAL if odds else Severity.WARNING,
                finding.message + ("; buying paused" if odds else ""),
                {"problem": finding.problem, "age_s": finding.age_s, "limit_s": finding.limit_s},
            )
            reasons.append(finding.message)
        self._diff_conditions(now, conditions, alerts)

        stop = self._latched or odds_stale
        if self._latched and not state.stop_buying:
            reasons.append("drawdown stop latched until resumed")
        multiplier = 0.0 if stop else min(self._base, state.stake_multiplier)
        for alert in alerts:
            deliver(alert, self._sinks)
        return MonitorReport(
            now, state, perf, found, multiplier, stop, tuple(reasons), tuple(alerts)
        )

    def resume(self, operator: str, reason: str) -> None:
        """Lift a latched drawdown stop (an operator's decision, recorded and alerted)."""
        if not operator.strip() or not reason.strip():
            raise ValueError("resuming needs an operator and a reason")
        now = self._clock.now()
        alerts: list[Alert] = []
        self._write_audit(
            now,
            RESUME,
            {"operator": operator, "reason": reason, "at": now.isoformat()},
            alerts,
        )
        self._latched = False
        self._resumed_here = True
        alerts.append(
            Alert(
                "drawdown.resumed",
                Severity.WARNING,
                f"buying resumed by {operator}: {reason}",
                now,
                {"operator": operator},
            )
        )
        for alert in alerts:
            deliver(alert, self._sinks)

    # --- internals -----------------------------------------------------------------------

    def _tier_changed(self, now: dt.datetime, state: DrawdownState, alerts: list[Alert]) -> None:
        previous, self._tier = self._tier, state.tier
        payload = {
            "previous_tier": previous,
            "tier": state.tier,
            "peak_yen": state.peak_yen,
            "balance_yen": state.balance_yen,
            "drawdown": round(state.drawdown, 6),
            "stake_multiplier": state.stake_multiplier,
            "stop_buying": state.stop_buying,
            "at": now.isoformat(),
        }
        self._write_audit(now, DRAWDOWN_TIER, payload, alerts)
        if state.tier is None:
            kind, severity = "drawdown.cleared", Severity.INFO
            message = f"drawdown {state.drawdown:.2%}: below every tier"
        else:
            kind = f"drawdown.{state.tier}"
            severity = Severity.CRITICAL if state.stop_buying else Severity.WARNING
            action = (
                "buying stopped"
                if state.stop_buying
                else (f"stake multiplier at most {state.stake_multiplier:g}")
            )
            verb = "still at" if previous == state.tier else "reached"
            message = f"drawdown {state.drawdown:.2%} {verb} tier {state.tier}: {action}"
        alerts.append(Alert(kind, severity, message, now, payload))

    def _write_audit(
        self, now: dt.datetime, kind: str, payload: Mapping[str, Any], alerts: list[Alert]
    ) -> None:
        if self._audit is None:
            return
        try:
            self._audit.record(kind, payload)
        except Exception as e:
            _log.error("monitor_audit_failed", audit_kind=kind, error=repr(e))
            alerts.append(
                Alert(
                    "monitor.audit_failed",
                    Severity.CRITICAL,
                    f"could not write the {kind} audit record: {e!r}",
                    now,
                    {"audit_kind": kind},
                )
            )

    def _diff_conditions(
        self,
        now: dt.datetime,
        conditions: Mapping[str, tuple[str, Severity, str, dict[str, Any]]],
        alerts: list[Alert],
    ) -> None:
        for key, (signature, severity, message, fields) in conditions.items():
            if self._active.get(key) != signature:
                alerts.append(Alert(f"{key}.{signature}", severity, message, now, fields))
        for key in [k for k in self._active if k not in conditions]:
            alerts.append(Alert(f"{key}.cleared", Severity.INFO, f"{key} back to normal", now))
        self._active = {key: c[0] for key, c in conditions.items()}
