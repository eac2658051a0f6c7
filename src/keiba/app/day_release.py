"""The release a race day runs: found (or, on a simulated day, promoted), followed, shadowed.

`day_release` finds the release in force on the day's dataset and its model (`keiba.release`);
on a twin or replayed day (`RaceDaySetup.auto_promote`) with none in force, the model store's
latest model is promoted with the configured policy, audited as such. `DayRelease` is what the
day runs: before each decision the guard may roll back and the release in force is read again,
the engine's policy and release id and the model's inputs follow it; a shadow candidate decides
beside it at the same instant, buying nothing, into `<journal>.shadow.jsonl`.

A canary (`keiba release canary`) is read again before each decision too. On a race its hash
selects, the engine runs the candidate (its policy, its release id, its model's inputs, marked as
a canary and capped by the canary's race cap and what its day cap has left); the release in
force decides the same race at the same instant in shadow, buying nothing, into
`<journal>.canary.jsonl`, so the two can be compared. Exactly one decision is bought per race:
the engine's, whichever release it ran.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keiba.common.bet_types import BetType
from keiba.common.errors import KeibaError
from keiba.common.storage import Warehouse
from keiba.engine import Canary, RaceEngine, RaceInputs
from keiba.model_training.pipeline import StoredModel, check_model_dataset, load_stored_model
from keiba.monitor import Alert, AlertSink, Severity, deliver
from keiba.release import (
    GATES,
    NO_RELEASE,
    CanaryRun,
    Release,
    ReleaseBook,
    ReleaseError,
    ReleaseGuard,
    ReleaseShadow,
)
from keiba.scheduler.handlers import RaceInputsAt
from keiba.themis import Decision, DecisionError

if TYPE_CHECKING:
    from keiba.app.race_day import RaceDaySetup

__all__ = ["DayRelease", "day_release", "log_rows", "pools", "start_shadow"]


def pools(release: Release) -> tuple[BetType, ...]:
    """The pools a race day reads odds of for the release's policy."""
    return tuple(b for b in release.themis().bet_types if b in (BetType.WIN, BetType.PLACE))


def _auto_promote(setup: RaceDaySetup, book: ReleaseBook, stored: StoredModel) -> None:
    """Promote the store's latest model with the configured policy (a simulated day's own)."""
    dataset = setup.config.storage.dataset
    gates: dict[str, Any] = {"figures": {}, "results": [], "automatic": setup.auto_promote}
    release = Release.of(dataset, stored.model.version, setup.config.themis, gates)
    reason = f"{setup.auto_promote} day: its own model, promoted without gates (paper only)"
    book.promote(release, by=f"keiba run ({setup.auto_promote})", reason=reason, forced=GATES)


def _release(
    setup: RaceDaySetup, book: ReleaseBook, warehouse: Warehouse
) -> tuple[Release, StoredModel]:
    """The release in force on the day's dataset and its model. `ReleaseError`: none is in
    force; `KeibaError`: its model cannot be used."""
    dataset = setup.config.storage.dataset
    current = book.in_force(dataset)
    if current is None and not setup.auto_promote:
        raise ReleaseError(NO_RELEASE.format(dataset=dataset))
    try:
        version = current.release.model_version if current else None
        stored = load_stored_model(setup.model_store, version)
        check_model_dataset(stored, warehouse)
    except KeibaError as e:
        raise KeibaError(f"no usable model: {e}") from e
    if current is None:
        _auto_promote(setup, book, stored)
        current = book.in_force(dataset)
        assert current is not None
    return current.release, stored


def day_release(
    setup: RaceDaySetup, book: ReleaseBook, warehouse: Warehouse, sinks: list[AlertSink]
) -> tuple[Release | None, StoredModel | None, str]:
    """The release the day starts with, or None and why (alerted)."""
    try:
        release, stored = _release(setup, book, warehouse)
    except KeibaError as e:
        kind = "race_day.no_release" if isinstance(e, ReleaseError) else "race_day.no_model"
        deliver(Alert(kind, Severity.CRITICAL, str(e), setup.clock.now()), sinks)
        return None, None, str(e)
    return release, stored, ""


def start_shadow(running: DayRelease, book: ReleaseBook, sinks: list[AlertSink]) -> None:
    """Run the dataset's shadow candidate beside the release, if one is set and usable."""
    candidate = book.shadow(running.setup.config.storage.dataset)
    if candidate is None or candidate.release_id == running.engine.release_id:
        return
    try:
        running.start_shadow(candidate)
    except KeibaError as e:
        reason = f"the shadow candidate {candidate.release_id} cannot run: {e}"
        deliver(
            Alert("race_day.no_shadow", Severity.WARNING, reason, running.engine.clock.now()), sinks
        )


class DayRelease:
    """The release the day runs now: its engine settings and its model's inputs. Before each
    decision the guard may restore the release before, and the release in force is read again
    (a rollback or a forced promotion during the day); the engine and inputs follow it."""

    def __init__(
        self,
        setup: RaceDaySetup,
        warehouse: Warehouse,
        engine: RaceEngine,
        guard: ReleaseGuard,
    ) -> None:
        self.setup, self.warehouse, self.engine, self.guard = setup, warehouse, engine, guard
        self.model_version: str | None = None
        self._inputs: RaceInputsAt | None = None
        self.shadow: tuple[ReleaseShadow, RaceInputsAt] | None = None
        self.shadow_log = setup.journal_path.with_suffix(".shadow.jsonl")
        self.canary_log = setup.journal_path.with_suffix(".canary.jsonl")
        self.release: Release | None = None
        self._canary: tuple[CanaryRun, RaceInputsAt] | None = None
        self._canary_failed: str | None = None

    def run(self, release: Release, stored: StoredModel) -> None:
        self.release = release
        self._use(release)
        self.model_version = stored.model.version
        self._inputs = self.setup.inputs(self.warehouse, stored, pools(release))

    def _use(self, release: Release, canary: Canary | None = None) -> None:
        self.engine.policy = release.themis()
        self.engine.release_id = release.release_id
        self.engine.canary = canary

    def inputs_at(self, race_id: str, at: dt.datetime) -> RaceInputs:
        """The race's inputs for the engine's decision, the engine set to the release that
        decides it: the canary's on a race it selects, the release in force's otherwise."""
        self.guard.check()
        self.guard.check_canary()
        book, dataset = self.guard.book, self.setup.config.storage.dataset
        current = book.in_force(dataset)
        assert self.release is not None
        if current is not None and current.release.release_id != self.release.release_id:
            stored = load_stored_model(self.setup.model_store, current.release.model_version)
            check_model_dataset(stored, self.warehouse)
            self.run(current.release, stored)
        assert self._inputs is not None
        self._use(self.release)
        canary = self._canary_for(book.canary(dataset), race_id)
        if canary is not None:
            inputs = self._canary_inputs(canary, race_id, at)
        else:
            inputs = self._inputs(race_id, at)
        if self.shadow is not None:
            self._decide_shadow(race_id, at, inputs.race_date)
        return inputs

    def _canary_for(
        self, running: CanaryRun | None, race_id: str
    ) -> tuple[CanaryRun, RaceInputsAt] | None:
        """The canary and its model's inputs when it runs this race; its model loaded once."""
        assert self.release is not None
        if running is None or running.release.release_id == self.release.release_id:
            return None
        if not running.selects(race_id):
            return None
        if self._canary is None or self._canary[0] != running:
            candidate = running.release
            try:
                stored = load_stored_model(self.setup.model_store, candidate.model_version)
                check_model_dataset(stored, self.warehouse)
            except KeibaError as e:
                self._canary_unusable(candidate.release_id, str(e))
                return None
            self._canary = running, self.setup.inputs(self.warehouse, stored, pools(candidate))
        return self._canary

    def _canary_unusable(self, release_id: str, why: str) -> None:
        if self._canary_failed == release_id:
            return
        self._canary_failed = release_id
        reason = f"the canary {release_id} cannot run ({why}): the release in force decides"
        alert = Alert("race_day.no_canary", Severity.WARNING, reason, self.engine.clock.now())
        deliver(alert, self.guard.alerts)

    def _canary_inputs(
        self, canary: tuple[CanaryRun, RaceInputsAt], race_id: str, at: dt.datetime
    ) -> RaceInputs:
        """The candidate's inputs, the engine set to buy its decision under the canary's caps;
        the release in force decides the race in shadow first, at the same instant."""
        running, inputs_at = canary
        assert self._inputs is not None
        assert self.release is not None
        inputs = inputs_at(race_id, at)
        in_force = ReleaseShadow(self.release)
        try:
            decision: Decision | str = in_force.decide(
                self._inputs(race_id, at), self.engine.bankroll(inputs.race_date)
            )
        except (KeibaError, DecisionError) as e:
            decision = str(e)
        row = in_force.row(race_id, running.release.release_id, decision)
        row = {**row, "canary": running.release.release_id, "in_force": self.release.release_id}
        with self.canary_log.open("a", encoding="utf-8") as f:
            f.write(json.dumps({**row, "at": at.isoformat()}) + "\n")
        staked = running.staked(self.engine.ledger.tickets(), inputs.race_date)
        self._use(running.release, Canary(running.cap_left(staked)))
        return inputs

    def start_shadow(self, candidate: Release) -> None:
        stored = load_stored_model(self.setup.model_store, candidate.model_version)
        check_model_dataset(stored, self.warehouse)
        inputs_at = self.setup.inputs(self.warehouse, stored, pools(candidate))
        self.shadow = ReleaseShadow(candidate), inputs_at

    def _decide_shadow(self, race_id: str, at: dt.datetime, day: dt.date) -> None:
        """The candidate's decision at the same instant, logged; it never touches the ledger."""
        assert self.shadow is not None
        shadow, inputs_at = self.shadow
        try:
            decision: Decision | str = shadow.decide(
                inputs_at(race_id, at), self.engine.bankroll(day)
            )
        except (KeibaError, DecisionError) as e:
            decision = str(e)
        assert self.release is not None
        row = shadow.row(race_id, self.release.release_id, decision)
        with self.shadow_log.open("a", encoding="utf-8") as f:
            f.write(json.dumps({**row, "at": at.isoformat()}) + "\n")

    def shadow_rows(self) -> dict[str, dict[str, Any]]:
        return log_rows(self.shadow_log)

    def canary_rows(self) -> dict[str, dict[str, Any]]:
        return log_rows(self.canary_log)


def log_rows(path: Path) -> dict[str, dict[str, Any]]:
    """A shadow or canary log's rows by race id (the last row of a race, if it was decided
    again after a restart)."""
    if not path.exists():
        return {}
    lines = path.read_text(encoding="utf-8").splitlines()
    return {row["race_id"]: row for row in map(json.loads, lines)}
