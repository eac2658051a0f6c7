"""Watching a replayed race day: what `keiba serve --replay --date D` serves instead of the live
day.

A replay (`keiba run --replay --date D`, `keiba.app.recorded_day`) runs in
`<home>/race-days/<dataset>/<date>/replay/` with its own journal, paper ledger (account
`paper`), object store and copy of the dataset, on a simulated clock that jumps from step to
step. `replay_watch` points a server at those files: its configuration reads the replay's
dataset copy, ledger and model store, its journal is the replay's, and its clock is the
replay's (`ReplayClock`: where the replay last recorded its clock in its journal), so every
time the server shows or stamps — the countdown to each close, an operator's action — is the
replay's. The replay runs in another process; the server only reads its files, and writes
what an operator does (a pause in its journal, a resume in its ledger's audit chain), which
the replay's loop honours at its next decision as a live day's does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from keiba.app.recorded_day import REPLAY_ACCOUNT, model_store_url, replay_dir
from keiba.app.serving import NotFoundError
from keiba.common.clock import JST
from keiba.common.config import KeibaConfig
from keiba.common.errors import KeibaError
from keiba.scheduler import recorded_clock

__all__ = ["ReplayClock", "ReplayWatch", "replay_watch"]


class ReplayClock:
    """The replay's simulated time, as its journal last recorded it; before the replay has
    recorded any, the start of its race day (00:00 JST)."""

    def __init__(self, journal: Path, race_date: dt.date) -> None:
        self.journal = journal
        self.start = dt.datetime.combine(race_date, dt.time(), JST).astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        return recorded_clock(self.journal) or self.start


@dataclass(frozen=True)
class ReplayWatch:
    """A replay as a server serves it."""

    config: KeibaConfig
    """The replay's dataset copy, paper ledger and the object store of its model."""
    account: str
    dataset: str
    race_date: dt.date
    journal: Path
    clock: ReplayClock

    def journal_of(self, day: dt.date) -> Path:
        """The journal of `day`: the replay's for its own date; there is none for another."""
        if day != self.race_date:
            raise NotFoundError(
                f"this server watches the replay of {self.race_date}: there is no journal of {day}"
            )
        if not self.journal.exists():
            raise NotFoundError(
                f"the replay of {day} has not planned its day yet (keiba run --replay --date {day})"
            )
        return self.journal

    def banner(self) -> dict[str, str]:
        """What the dashboard's replay banner names."""
        return {"dataset": self.dataset, "race_date": self.race_date.isoformat()}


def replay_watch(config: KeibaConfig, race_date: dt.date) -> ReplayWatch:
    """The selected dataset's replay of `race_date`, to serve; refused when it was never
    started (`keiba run --replay --date D` creates its folder)."""
    run_dir = replay_dir(config, race_date)
    dataset = config.storage.dataset
    if not run_dir.is_dir():
        raise KeibaError(
            f"there is no replay of {race_date} in dataset {dataset!r}: start one with "
            f"`keiba run --replay --date {race_date} --dataset {dataset}`"
        )
    storage = config.storage.model_copy(
        update={
            "warehouse_dir": run_dir / "warehouse",
            "object_store_url": model_store_url(config, race_date),  # its models
            "ledger_url": f"sqlite:///{run_dir / 'ledger.sqlite'}",
        }
    )
    journal = run_dir / "journal.sqlite"
    return ReplayWatch(
        config.model_copy(update={"storage": storage}),
        REPLAY_ACCOUNT,
        dataset,
        race_date,
        journal,
        ReplayClock(journal, race_date),
    )
