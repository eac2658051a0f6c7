"""One race's decision run by itself (a queued task's call): once, as the loop would run it."""

from __future__ import annotations

from pathlib import Path

import pytest
from scheduler_fakes import DAY, FakeHandlers, Killed, at, race

from keiba.common.config import RaceDayConfig
from keiba.data_collector.http_client import BlockedError
from keiba.scheduler import (
    DecideResult,
    Journal,
    Outcome,
    SimulatedTime,
    StepKind,
    StepState,
    plan_day,
    run_decision,
)

A = race("202603020201", "10:05")  # decide 09:57, deadline 10:00:30
B = race("202610020201", "09:58")


def decide(
    tmp_path: Path,
    time: SimulatedTime,
    handlers: FakeHandlers,
    race_id: str = A.race_id,
    backoff_s: int = 60,
):
    plan = plan_day(DAY, [A, B], RaceDayConfig(blocked_backoff_s=backoff_s))
    journal = Journal(tmp_path / "day.sqlite")
    try:
        return run_decision(plan, journal, handlers, time.clock, time.sleep, race_id)
    finally:
        journal.close()


def test_a_race_is_decided_once_however_often_it_is_asked(tmp_path: Path) -> None:
    time = SimulatedTime(at("09:57"))
    handlers = FakeHandlers(time)
    handlers.plan(A.race_id, StepKind.DECIDE, [DecideResult("bought", "1 ticket")])
    first = decide(tmp_path, time, handlers)
    second = decide(tmp_path, time, handlers)
    assert first is not None and first.outcome is Outcome.BOUGHT
    assert second == first
    assert len(handlers.of(StepKind.DECIDE)) == 1
    assert [c.kind for c in handlers.calls] == [StepKind.WEIGHTS, StepKind.DECIDE]  # card first
    assert handlers.of(StepKind.DECIDE, B.race_id) == []


def test_a_late_call_skips_the_race_and_a_paused_day_decides_nothing(tmp_path: Path) -> None:
    time = SimulatedTime(at("10:01"))
    handlers = FakeHandlers(time)
    late = decide(tmp_path, time, handlers)
    assert late is not None and late.outcome is Outcome.SKIPPED and "late" in late.reason
    journal = Journal(tmp_path / "day.sqlite")
    journal.set_paused(True, "alice", "fog", at("09:40"))
    journal.close()
    time = SimulatedTime(at("09:50"))
    paused = decide(tmp_path, time, handlers, B.race_id)
    assert paused is not None and "paused by alice: fog" in paused.reason
    assert handlers.of(StepKind.DECIDE) == []


def test_a_blocked_decision_is_put_off_and_a_killed_one_is_resumed(tmp_path: Path) -> None:
    time = SimulatedTime(at("09:57"))
    handlers = FakeHandlers(time)
    handlers.plan(A.race_id, StepKind.DECIDE, [BlockedError("u", 429), Killed()])
    assert decide(tmp_path, time, handlers) is None  # no outcome yet: the caller retries
    time.sleep(30)
    assert decide(tmp_path, time, handlers) is None  # still in the back-off: nothing is run
    assert len(handlers.of(StepKind.DECIDE)) == 1
    time.sleep(30)  # the retry Cloud Tasks makes after its back-off
    with pytest.raises(Killed):
        decide(tmp_path, time, handlers)
    handlers.plan(A.race_id, StepKind.DECIDE, [DecideResult("bought", "from the ledger")])
    resumed = decide(tmp_path, time, handlers)
    assert resumed is not None and resumed.reason == "from the ledger"
    assert handlers.of(StepKind.DECIDE)[-1].interrupted
    journal = Journal(tmp_path / "day.sqlite")
    plan = journal.plan()
    assert plan is not None
    states = [journal.state(s.step_id) for s in plan.steps if s.kind is StepKind.DECIDE]
    journal.close()
    assert StepState.DONE in states


def test_a_card_step_killed_mid_way_is_resumed_and_the_race_decided(tmp_path: Path) -> None:
    time = SimulatedTime(at("09:57"))
    handlers = FakeHandlers(time)
    handlers.plan(A.race_id, StepKind.WEIGHTS, [Killed()])
    with pytest.raises(Killed):
        decide(tmp_path, time, handlers)
    outcome = decide(tmp_path, time, handlers)
    assert outcome is not None and outcome.outcome is Outcome.PASSED
    assert [(c.kind, c.interrupted) for c in handlers.calls[1:]] == [
        (StepKind.WEIGHTS, True),
        (StepKind.DECIDE, False),
    ]


def test_a_call_before_the_decision_time_decides_nothing(tmp_path: Path) -> None:
    time = SimulatedTime(at("09:56"))
    handlers = FakeHandlers(time)
    assert decide(tmp_path, time, handlers) is None
    assert handlers.calls == []


def test_a_race_not_in_the_plan_is_a_key_error(tmp_path: Path) -> None:
    time = SimulatedTime(at("09:57"))
    with pytest.raises(KeyError):
        decide(tmp_path, time, FakeHandlers(time), "202605020201")


def test_a_block_met_by_a_resumed_decision_puts_off_no_other_race(tmp_path: Path) -> None:
    time = SimulatedTime(at("09:50"))  # B's decision
    handlers = FakeHandlers(time)
    handlers.plan(B.race_id, StepKind.DECIDE, [Killed(), BlockedError("u", 403)])
    with pytest.raises(Killed):
        decide(tmp_path, time, handlers, B.race_id, 900)
    lost = decide(tmp_path, time, handlers, B.race_id, 900)  # paused past both deadlines
    assert lost is not None and lost.outcome is Outcome.SKIPPED
    time.sleep(7 * 60)  # 09:57: A's own task decides it
    outcome = decide(tmp_path, time, handlers, backoff_s=900)
    assert outcome is not None and outcome.outcome is Outcome.PASSED
