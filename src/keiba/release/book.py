"""Releases: the model version and Themis policy a dataset's race days run, and their history.

A release is a model version and a Themis policy for one dataset, with the figures of the gates
it passed (`keiba.release.gates`). Its id is derived from the dataset, the model version and
the policy, so the same model under the same policy on the same dataset is the same release.

Promoting a release and rolling one back are audit records (type `promotion`) in the ledger
database's hash chain, under the account `releases`, carrying the whole release, who did it,
why, and which gates were forced past. The release in force is read from that chain only, so it
cannot change without a record `keiba audit verify` checks. Per dataset the releases in force
form a stack: a promotion pushes a release, a rollback pops the top one and the release beneath
is in force again. A candidate may also be set to run in shadow (`shadow`), audited the same way,
until it is stopped or promoted, or as a canary on a share of the races (`canary`) until it is
stopped; a promotion or a rollback while a canary runs ends it first, with a record of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from keiba.bankroll import Ledger, LedgerError
from keiba.bankroll.audit import digest
from keiba.common.clock import Clock
from keiba.common.config import ThemisConfig
from keiba.release.canary import CanaryRun, CanarySettings
from keiba.release.errors import PromotionRefused, ReleaseError

__all__ = [
    "CANARY",
    "CANARY_STOP",
    "NO_RELEASE",
    "PROMOTE",
    "RELEASE_ACCOUNT",
    "ROLLBACK",
    "SHADOW",
    "SHADOW_STOP",
    "PromotionRefused",
    "Release",
    "ReleaseBook",
    "ReleaseError",
    "ReleaseEvent",
]

RELEASE_ACCOUNT = "releases"
PROMOTE = "promote"
ROLLBACK = "rollback"
SHADOW = "shadow"
SHADOW_STOP = "shadow_stop"
CANARY = "canary"
CANARY_STOP = "canary_stop"
NO_RELEASE = (
    "no release is promoted for dataset {dataset!r}: a race day runs only a promoted release "
    "(keiba release promote --reason TEXT)"
)


@dataclass(frozen=True)
class Release:
    """A model version and a Themis policy for one dataset, with its gates' figures."""

    release_id: str
    dataset: str
    model_version: str
    policy: dict[str, Any]
    """The Themis policy as `ThemisConfig.model_dump(mode="json")` gives it."""
    gates: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def of(
        cls,
        dataset: str,
        model_version: str,
        policy: ThemisConfig,
        gates: dict[str, Any] | None = None,
    ) -> Release:
        dumped = policy.model_dump(mode="json")
        key = {"dataset": dataset, "model_version": model_version, "policy": dumped}
        return cls(f"r-{digest(key)[:12]}", dataset, model_version, dumped, dict(gates or {}))

    def themis(self) -> ThemisConfig:
        """The policy the engine runs."""
        return ThemisConfig.model_validate(self.policy)

    def to_dict(self) -> dict[str, Any]:
        return {
            "release_id": self.release_id,
            "dataset": self.dataset,
            "model_version": self.model_version,
            "policy": self.policy,
            "gates": self.gates,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Release:
        return cls(
            str(data["release_id"]),
            str(data["dataset"]),
            str(data["model_version"]),
            dict(data["policy"]),
            dict(data.get("gates") or {}),
        )


@dataclass(frozen=True)
class ReleaseEvent:
    """A promotion or a rollback as the audit chain holds it."""

    action: str
    release: Release
    previous_id: str | None
    by: str
    reason: str
    forced: tuple[str, ...]
    seq: int
    at: str
    canary: dict[str, Any] | None = None
    """A canary's start: its share and caps."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "release_id": self.release.release_id,
            "model_version": self.release.model_version,
            "previous_id": self.previous_id,
            "by": self.by,
            "reason": self.reason,
            "forced": list(self.forced),
            "seq": self.seq,
            "at": self.at,
            "canary": self.canary,
        }


class ReleaseBook:
    """The releases of every dataset in one ledger database: what is in force, its history."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def events(self, dataset: str) -> list[ReleaseEvent]:
        """The dataset's promotions and rollbacks, oldest first."""
        try:
            ledger = Ledger.existing(self._engine, self._clock, RELEASE_ACCOUNT)
        except LedgerError:
            return []
        found = []
        for p in ledger.promotions():
            if p.get("dataset") != dataset:
                continue
            found.append(
                ReleaseEvent(
                    str(p["action"]),
                    Release.from_dict(p["release"]),
                    p.get("previous_id"),
                    str(p.get("by", "")),
                    str(p.get("reason", "")),
                    tuple(p.get("forced") or ()),
                    int(p["seq"]),
                    str(p["recorded_at"]),
                    p.get("canary"),
                )
            )
        return found

    def stack(self, dataset: str) -> list[ReleaseEvent]:
        """The promotions still standing, the one in force last."""
        standing: list[ReleaseEvent] = []
        for event in self.events(dataset):
            if event.action == PROMOTE:
                standing.append(event)
            elif event.action == ROLLBACK and standing:
                standing.pop()
        return standing

    def in_force(self, dataset: str) -> ReleaseEvent | None:
        """The promotion of the release in force, or None when none is."""
        standing = self.stack(dataset)
        return standing[-1] if standing else None

    def shadow(self, dataset: str) -> Release | None:
        """The candidate running in shadow on the dataset, or None."""
        running: Release | None = None
        for event in self.events(dataset):
            if event.action == SHADOW:
                running = event.release
            elif event.action == SHADOW_STOP or (
                event.action == PROMOTE and running is not None and event.release == running
            ):
                running = None
        return running

    def start_shadow(self, release: Release, *, by: str, reason: str) -> None:
        """Run `release` in shadow on its dataset's race days (it buys nothing); audited."""
        current = self.in_force(release.dataset)
        previous = current.release.release_id if current else None
        self._record(SHADOW, release, previous, by, reason, ())

    def stop_shadow(self, dataset: str, *, by: str, reason: str) -> Release:
        """Stop the dataset's shadow; audited."""
        running = self.shadow(dataset)
        if running is None:
            raise ReleaseError(f"no candidate runs in shadow on dataset {dataset!r}")
        self._record(SHADOW_STOP, running, None, by, reason, ())
        return running

    def canary(self, dataset: str) -> CanaryRun | None:
        """The canary running on the dataset, or None."""
        running: CanaryRun | None = None
        for event in self.events(dataset):
            if event.action == CANARY and event.canary is not None:
                settings = CanarySettings.from_dict(event.canary)
                running = CanaryRun(event.release, settings, event.at)
            elif event.action == CANARY_STOP:
                running = None
        return running

    def start_canary(
        self,
        release: Release,
        settings: CanarySettings,
        *,
        by: str,
        reason: str,
        forced: tuple[str, ...] = (),
    ) -> ReleaseEvent:
        """Run `release` as a canary on a share of its dataset's races; audited."""
        if not reason.strip():
            raise ReleaseError("a canary needs a reason")
        current = self.in_force(release.dataset)
        if current is None:
            raise ReleaseError(
                f"a canary runs beside the release in force; none is on {release.dataset!r}"
            )
        if current.release.release_id == release.release_id:
            raise ReleaseError(f"release {release.release_id} is already in force")
        running = self.canary(release.dataset)
        if running is not None:
            raise ReleaseError(
                f"the canary {running.release.release_id} already runs on {release.dataset!r}: "
                "stop it first (keiba release canary --stop)"
            )
        self._record(
            CANARY,
            release,
            current.release.release_id,
            by,
            reason,
            forced,
            {"canary": settings.to_dict()},
        )
        return self.events(release.dataset)[-1]

    def stop_canary(self, dataset: str, *, by: str, reason: str) -> ReleaseEvent:
        """End the dataset's canary; audited."""
        running = self.canary(dataset)
        if running is None:
            raise ReleaseError(f"no canary runs on dataset {dataset!r}")
        if not reason.strip():
            raise ReleaseError("stopping a canary needs a reason")
        self._record(CANARY_STOP, running.release, None, by, reason, ())
        return self.events(dataset)[-1]

    def _end_canary(self, dataset: str, by: str, why: str) -> None:
        if self.canary(dataset) is not None:
            self.stop_canary(dataset, by=by, reason=why)

    def releases(self, dataset: str) -> list[Release]:
        """Every release ever promoted or shadowed on the dataset, first record first."""
        seen: dict[str, Release] = {}
        for event in self.events(dataset):
            seen.setdefault(event.release.release_id, event.release)
        return list(seen.values())

    def find(self, dataset: str, release_id: str) -> Release:
        for release in self.releases(dataset):
            if release.release_id == release_id:
                return release
        raise ReleaseError(f"no release {release_id!r} was ever recorded on dataset {dataset!r}")

    def promote(
        self, release: Release, *, by: str, reason: str, forced: tuple[str, ...] = ()
    ) -> ReleaseEvent:
        """Put `release` in force (the gates are the caller's); audited."""
        if not reason.strip():
            raise ReleaseError("a promotion needs a reason")
        running = self.canary(release.dataset)
        if running is not None:
            why = f"ended by the promotion of {release.release_id}: {reason.strip()}"
            self._end_canary(release.dataset, by, why)
        current = self.in_force(release.dataset)
        previous = current.release.release_id if current else None
        self._record(PROMOTE, release, previous, by, reason, forced)
        event = self.in_force(release.dataset)
        assert event is not None
        return event

    def rollback(self, dataset: str, *, by: str, reason: str) -> ReleaseEvent:
        """Restore the release in force before the current one's promotion; audited. The
        rollback's record: the restored release, the one it replaced as `previous_id`."""
        standing = self.stack(dataset)
        if len(standing) < 2:
            raise ReleaseError(
                f"dataset {dataset!r} has no earlier release to roll back to"
                if standing
                else f"no release is in force on dataset {dataset!r}"
            )
        current, restored = standing[-1], standing[-2]
        self._end_canary(dataset, by, f"ended by a rollback: {reason.strip()}")
        self._record(ROLLBACK, restored.release, current.release.release_id, by, reason, ())
        return self.events(dataset)[-1]

    def _record(
        self,
        action: str,
        release: Release,
        previous: str | None,
        by: str,
        reason: str,
        forced: tuple[str, ...],
        extra: dict[str, Any] | None = None,
    ) -> None:
        ledger = Ledger(self._engine, self._clock, account=RELEASE_ACCOUNT)
        ledger.record_promotion(
            {
                **(extra or {}),
                "action": action,
                "dataset": release.dataset,
                "release_id": release.release_id,
                "release": release.to_dict(),
                "previous_id": previous,
                "by": by or "unknown",
                "reason": reason.strip(),
                "forced": list(forced),
            }
        )
