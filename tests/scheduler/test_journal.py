"""The journal: the plan kept once, every state change recorded, writes whole or not at all."""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from scheduler_fakes import DAY, at, race

from keiba.common.config import RaceDayConfig
from keiba.scheduler import (
    Journal,
    JournalError,
    Outcome,
    RaceOutcome,
    Step,
    StepKind,
    StepState,
    journal_path,
    plan_day,
    recorded_clock,
)

RACES = [race("202603020201", "10:05"), race("202610020201", "09:50")]


def first(journal: Journal, kind: StepKind) -> Step:
    return next(s for s in journal.planned() if s.kind is kind)


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(journal_path(tmp_path, DAY))


def test_the_journal_lives_under_home_per_day(tmp_path: Path) -> None:
    assert journal_path(tmp_path, DAY) == tmp_path / "race-days" / "2026-06-28.sqlite"


def test_a_plan_is_kept_and_planning_again_changes_nothing(journal: Journal) -> None:
    plan = plan_day(DAY, RACES, RaceDayConfig())
    recorded = journal.record_plan(plan, at("06:00"))
    assert recorded == plan
    reopened = Journal(journal.path)
    again = reopened.record_plan(plan_day(DAY, list(reversed(RACES)), RaceDayConfig()), at("07:00"))
    assert again == plan
    assert len(reopened.planned()) == len(plan.steps)


def test_a_resumed_day_keeps_the_config_it_was_planned_with(journal: Journal) -> None:
    journal.record_plan(plan_day(DAY, RACES, RaceDayConfig(settle_retry_s=300)), at("06:00"))
    other = plan_day(DAY, RACES, RaceDayConfig())
    assert Journal(journal.path).record_plan(other, at("07:00")).config.settle_retry_s == 300


def test_other_races_or_another_day_are_refused(journal: Journal) -> None:
    journal.record_plan(plan_day(DAY, RACES, RaceDayConfig()), at("06:00"))
    moved = [RACES[0], race("202610020201", "09:55")]
    with pytest.raises(JournalError, match=r"other races or post times.*202610020201"):
        journal.record_plan(plan_day(DAY, moved, RaceDayConfig()), at("06:00"))
    late = dt.date(2026, 6, 29)
    shifted = [replace(r, post_time=r.post_time + dt.timedelta(days=1)) for r in RACES]
    with pytest.raises(JournalError, match="this journal is for 2026-06-28, not 2026-06-29"):
        journal.record_plan(plan_day(late, shifted, RaceDayConfig()), at("06:00"))


def test_every_state_change_is_recorded_with_its_reason(journal: Journal) -> None:
    journal.record_plan(plan_day(DAY, RACES, RaceDayConfig()), at("06:00"))
    card = first(journal, StepKind.CARD)
    journal.start(card, at("06:00"))
    assert journal.interrupted() == [card]
    journal.finish(card, StepState.FAILED, "ValueError: no table", at("06:01"))
    assert journal.history(card.step_id) == [
        (StepState.PLANNED, None), (StepState.STARTED, None),
        (StepState.FAILED, "ValueError: no table"),
    ]  # fmt: skip
    with pytest.raises(JournalError, match="already ended"):
        journal.finish(card, StepState.DONE, None, at("06:02"))
    with pytest.raises(JournalError, match="is not planned"):
        journal.start(card, at("06:02"))


def test_an_outcome_replaced_keeps_the_one_before(journal: Journal) -> None:
    journal.record_plan(plan_day(DAY, RACES, RaceDayConfig()), at("06:00"))
    race_id = RACES[0].race_id
    assert journal.outcomes()[race_id] is None
    bought = RaceOutcome(race_id, Outcome.BOUGHT, "2 tickets", {"stake": 400})
    journal.set_outcome(bought, at("10:00"))
    journal.set_outcome(RaceOutcome(race_id, Outcome.FAILED, "result not official"), at("11:05"))
    final = journal.outcomes()[race_id]
    assert final is not None and final.outcome is Outcome.FAILED
    assert final.detail["before"] == {
        "outcome": "bought", "reason": "2 tickets", "detail": {"stake": 400},
    }  # fmt: skip


def test_a_step_end_and_its_follow_up_are_written_together(journal: Journal) -> None:
    journal.record_plan(plan_day(DAY, RACES, RaceDayConfig()), at("06:00"))
    settle = first(journal, StepKind.SETTLE)
    journal.start(settle, settle.due)
    clash = next(s for s in journal.planned() if s.step_id != settle.step_id)  # an id taken
    with pytest.raises(Exception, match="UNIQUE"):
        journal.finish(
            settle,
            StepState.DONE,
            "not yet official",
            settle.due,
            outcome=RaceOutcome(settle.race_id, Outcome.FAILED, "x"),
            follow_up=clash,
        )
    assert journal.state(settle.step_id) is StepState.STARTED  # nothing of it was written
    assert journal.outcomes()[settle.race_id] is None


def test_the_file_is_in_wal_mode(journal: Journal) -> None:
    journal.record_plan(plan_day(DAY, RACES, RaceDayConfig()), at("06:00"))
    with sqlite3.connect(journal.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_file_that_is_not_a_journal_is_named(tmp_path: Path) -> None:
    path = journal_path(tmp_path, DAY)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a database, just text " * 100)
    with pytest.raises(
        JournalError, match=r"cannot open the race-day journal .*2026-06-28\.sqlite"
    ):
        Journal(path)


def test_the_clock_is_recorded_for_a_reader_elsewhere(tmp_path: Path) -> None:
    path = journal_path(tmp_path, DAY)
    assert recorded_clock(path) is None  # no journal: nothing is created to say so
    assert not path.exists()
    journal = Journal(path)
    try:
        assert journal.clock() is None and recorded_clock(path) is None
        journal.set_clock(at("09:00"))
        journal.set_clock(at("09:05"))
        assert journal.clock() == at("09:05") == recorded_clock(path)
    finally:
        journal.close()
    before_the_clock = tmp_path / "old.sqlite"
    sqlite3.connect(before_the_clock).close()  # a journal from before the clock was kept
    assert recorded_clock(before_the_clock) is None
