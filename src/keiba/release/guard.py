"""The automatic rollback: a release that loses too much soon after its promotion is undone.

`ReleaseGuard.check` is called before each race. Within `release.rollback_window_days` of the
promotion in force, it measures the account's drawdown since that promotion (the cash at the
promotion is the first peak; deposits and withdrawals move the peak as the monitor's do) and,
when the monitor's tier `release.rollback_tier` is reached, rolls back to the release before,
records it in the audit chain and sends a critical alert. The caller then runs the restored
release (`RaceEngine.policy` and `release_id`, and the restored model's inputs).

`check_canary` does the same for a canary: when the account's drawdown since the canary started
reaches the same tier (whatever the time since: a canary runs until it is ended), the canary is
stopped, audited by `automatic rollback`, and a critical alert `release.canary_ended` is sent;
the release in force decides every race again. A rollback of the release in force ends a
running canary too (`ReleaseBook.rollback`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from fractions import Fraction

from keiba.bankroll import Ledger
from keiba.common.clock import Clock
from keiba.common.config import MonitorConfig, ReleaseConfig
from keiba.common.errors import ConfigError
from keiba.monitor import Alert, AlertSink, Severity, deliver
from keiba.monitor.drawdown import assess_drawdown, peak_and_balance
from keiba.release.book import ReleaseBook, ReleaseEvent

__all__ = ["AUTOMATIC", "ReleaseGuard"]

AUTOMATIC = "automatic rollback"


def _utc(value: object) -> dt.datetime:
    at = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


class ReleaseGuard:
    """Rolls the dataset's release back when the account's drawdown since its promotion reaches
    the configured tier within the configured window."""

    def __init__(
        self,
        book: ReleaseBook,
        dataset: str,
        ledger: Ledger,
        clock: Clock,
        config: ReleaseConfig,
        monitor: MonitorConfig,
        alerts: Sequence[AlertSink] = (),
    ) -> None:
        tiers = [t for t in monitor.drawdown_tiers if t.name == config.rollback_tier]
        if not tiers:
            names = ", ".join(t.name for t in monitor.drawdown_tiers)
            raise ConfigError(
                f"release.rollback_tier {config.rollback_tier!r} is not a tier ({names})"
            )
        self.book, self.dataset, self.ledger, self.clock = book, dataset, ledger, clock
        self.threshold = Fraction(repr(tiers[0].drawdown))
        self.tiers = monitor.drawdown_tiers
        self.window = dt.timedelta(days=config.rollback_window_days)
        self.tier = config.rollback_tier
        self.alerts = tuple(alerts)

    def drawdown_since(self, promoted_at: dt.datetime) -> tuple[int, int]:
        """(peak, balance) of the account's cash since `promoted_at`."""
        entries = self.ledger.history()
        before = [e for e in entries if _utc(e["created_at"]) <= promoted_at]
        start = int(before[-1]["cash_after_yen"]) if before else 0
        opening = {"kind": "deposit", "cash_yen": start, "cash_after_yen": start}
        after = [e for e in entries if _utc(e["created_at"]) > promoted_at]
        return peak_and_balance([opening, *after])

    def _reached(self, since: dt.datetime) -> float | None:
        """The drawdown since `since` when it reaches the tier, else None."""
        peak, balance = self.drawdown_since(since)
        if peak <= 0 or Fraction(peak - balance, peak) < self.threshold:
            return None
        return assess_drawdown(peak, balance, self.tiers).drawdown

    def check_canary(self) -> ReleaseEvent | None:
        """End the running canary if the account's drawdown since it started reached the tier;
        the stop's record, or None when nothing changed."""
        running = self.book.canary(self.dataset)
        if running is None:
            return None
        drawdown = self._reached(_utc(running.started_at))
        if drawdown is None:
            return None
        candidate = running.release.release_id
        reason = (
            f"drawdown {drawdown:.1%} since the canary {candidate} started reached tier "
            f"{self.tier!r}"
        )
        stopped = self.book.stop_canary(self.dataset, by=AUTOMATIC, reason=reason)
        fields = {"dataset": self.dataset, "canary": candidate, "drawdown": drawdown}
        alert = Alert(
            "release.canary_ended", Severity.CRITICAL, f"{reason}: canary ended",
            self.clock.now(), fields,
        )  # fmt: skip
        deliver(alert, self.alerts)
        return stopped

    def check(self) -> ReleaseEvent | None:
        """Roll back if the release in force has reached the tier in its window; the rollback's
        record (naming the restored release), or None when nothing changed."""
        standing = self.book.stack(self.dataset)
        if len(standing) < 2:
            return None
        current = standing[-1]
        promoted_at = _utc(current.at)
        now = self.clock.now()
        if now - promoted_at > self.window:
            return None
        peak, balance = self.drawdown_since(promoted_at)
        state = assess_drawdown(peak, balance, self.tiers)
        if peak <= 0 or Fraction(peak - balance, peak) < self.threshold:
            return None
        reason = (
            f"drawdown {state.drawdown:.1%} since promoting {current.release.release_id} reached "
            f"tier {self.tier!r} within {self.window.days} days"
        )
        restored = self.book.rollback(self.dataset, by=AUTOMATIC, reason=reason)
        message = f"{reason}: rolled back to {restored.release.release_id}"
        fields = {
            "dataset": self.dataset,
            "from": current.release.release_id,
            "to": restored.release.release_id,
            "drawdown": state.drawdown,
        }
        deliver(Alert("release.rolled_back", Severity.CRITICAL, message, now, fields), self.alerts)
        return restored
