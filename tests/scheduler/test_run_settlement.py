"""One race's settlement run by itself (a queued task's call, retried by the queue): each call
takes the next try, as the loop would, until the result is official or the deadline passes."""

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
    RaceSettlement,
    Settlement,
    SettleResult,
    SettleStatus,
    SimulatedTime,
    StepKind,
    StepState,
    plan_day,
    run_day,
    run_decision,
    run_settlement,
)

A = race("202603020201", "10:05")  # decide 09:57; settle from 10:15, deadline 11:05, every 120 s
B = race("202610020201", "09:58")
C = race("202609020201", "10:25")  # decide 10:17, deadline 10:20:30
CONFIG = RaceDayConfig(blocked_backoff_s=600)
NOT_YET, INQUIRY = SettleResult(SettleStatus.NOT_YET), SettleResult(SettleStatus.INQUIRY)
PAID = SettleResult(SettleStatus.OFFICIAL, {"settled": [{"ticket_id": "t1"}], "paid_yen": 500})


def _journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "day.sqlite")


def settle(
    tmp_path: Path, time: SimulatedTime, handlers: FakeHandlers, race_id: str = A.race_id
) -> RaceSettlement:
    plan = plan_day(DAY, [A, B, C], CONFIG)
    journal = _journal(tmp_path)
    try:
        return run_settlement(plan, journal, handlers, time.clock, time.sleep, race_id)
    finally:
        journal.close()


def bought(tmp_path: Path, time: SimulatedTime, handlers: FakeHandlers) -> None:
    """Race A decided at its decision time: one ticket bought."""
    handlers.plan(A.race_id, StepKind.DECIDE, [DecideResult("bought", "1 ticket")])
    journal = _journal(tmp_path)
    try:
        plan = plan_day(DAY, [A, B, C], CONFIG)
        outcome = run_decision(plan, journal, handlers, time.clock, time.sleep, A.race_id)
    finally:
        journal.close()
    assert outcome is not None and outcome.outcome is Outcome.BOUGHT


def settle_states(tmp_path: Path, race_id: str = A.race_id) -> list[tuple[StepState, str | None]]:
    journal = _journal(tmp_path)
    try:
        plan = journal.plan()
        assert plan is not None
        steps = [s for s in plan.steps if s.race_id == race_id and s.kind is StepKind.SETTLE]
        return [journal.history(s.step_id)[-1] for s in steps]
    finally:
        journal.close()


def test_pending_tries_are_followed_until_official_then_nothing_runs_again(
    tmp_path: Path,
) -> None:
    time = SimulatedTime(at("09:57"))
    handlers = FakeHandlers(time)
    bought(tmp_path, time, handlers)
    handlers.plan(A.race_id, StepKind.SETTLE, [NOT_YET, INQUIRY, PAID])
    time.sleep(18 * 60)  # 10:15, the first try
    first = settle(tmp_path, time, handlers)
    assert first.state is Settlement.PENDING
    assert first.reason == "result not yet official; next try at 10:17:00"
    assert first.retry_at == at("10:17")
    time.sleep(60)  # the queue retries sooner than the plan would: the try is taken now
    second = settle(tmp_path, time, handlers)
    assert second.state is Settlement.PENDING and second.reason.startswith("審議")
    time.sleep(60)
    third = settle(tmp_path, time, handlers)
    assert third.state is Settlement.SETTLED
    assert third.detail == {"settled": [{"ticket_id": "t1"}], "paid_yen": 500}
    tries = [c.now for c in handlers.of(StepKind.SETTLE)]
    assert tries == [at("10:15"), at("10:16"), at("10:17")]
    time.sleep(60)
    again = settle(tmp_path, time, handlers)
    assert again == third
    assert len(handlers.of(StepKind.SETTLE)) == 3  # settled once: nothing ran again
    assert settle_states(tmp_path) == [
        (StepState.DONE, "result not yet official"),
        (StepState.DONE, "審議: stewards' inquiry pending"),
        (StepState.DONE, "official"),
    ]
    journal = _journal(tmp_path)
    outcome = journal.outcomes()[A.race_id]
    journal.close()
    assert outcome is not None and outcome.outcome is Outcome.BOUGHT


def test_a_call_before_the_first_try_settles_nothing(tmp_path: Path) -> None:
    time = SimulatedTime(at("10:14"))
    handlers = FakeHandlers(time)
    early = settle(tmp_path, time, handlers)
    assert early.state is Settlement.NOT_DUE and early.retry_at == at("10:15")
    assert handlers.calls == []
    assert settle_states(tmp_path) == [(StepState.PLANNED, None)]


def test_no_official_result_by_the_deadline_fails_the_race(tmp_path: Path) -> None:
    time = SimulatedTime(at("09:57"))
    handlers = FakeHandlers(time)
    bought(tmp_path, time, handlers)
    handlers.plan(A.race_id, StepKind.SETTLE, [INQUIRY] * 100)
    time.sleep(18 * 60)
    answers = []
    while not answers or answers[-1].state is Settlement.PENDING:
        answers.append(settle(tmp_path, time, handlers))
        time.sleep(300)  # the queue's longest back-off
    final = answers[-1]
    assert final.state is Settlement.FAILED
    assert (
        final.reason
        == "result not official by 11:05:00 (last try: 審議: stewards' inquiry pending)"
    )
    tries = [c.now for c in handlers.of(StepKind.SETTLE)]
    assert tries[0] == at("10:15") and tries[-1] <= at("11:05") and len(tries) == len(answers)
    assert settle(tmp_path, time, handlers) == final
    assert len(handlers.of(StepKind.SETTLE)) == len(tries)  # a failed race is not tried again
    journal = _journal(tmp_path)
    outcome = journal.outcomes()[A.race_id]
    journal.close()
    assert outcome is not None and outcome.outcome is Outcome.FAILED
    assert outcome.detail["before"]["outcome"] == "bought"


def test_a_first_call_past_the_deadline_fails_the_race_without_trying(tmp_path: Path) -> None:
    time = SimulatedTime(at("11:06"))
    handlers = FakeHandlers(time)
    late = settle(tmp_path, time, handlers)
    assert late.state is Settlement.FAILED and "last try: late" in late.reason
    assert handlers.calls == []


def test_a_blocked_source_is_not_asked_again_before_its_pause_ends(tmp_path: Path) -> None:
    time = SimulatedTime(at("10:15"))
    handlers = FakeHandlers(time)
    handlers.plan(A.race_id, StepKind.SETTLE, [BlockedError("u", 429)])
    blocked = settle(tmp_path, time, handlers)
    assert blocked.state is Settlement.PENDING and blocked.retry_at == at("10:27")
    time.sleep(60)
    assert settle(tmp_path, time, handlers).state is Settlement.PENDING
    assert len(handlers.of(StepKind.SETTLE)) == 1  # still in the pause: nothing is run
    time.sleep(540)  # the pause ends at 10:25: the try planned for 10:27 may be taken
    assert settle(tmp_path, time, handlers).state is Settlement.SETTLED
    assert [c.now for c in handlers.of(StepKind.SETTLE)] == [at("10:15"), at("10:25")]
    journal = _journal(tmp_path)
    plan = journal.plan()
    assert plan is not None
    decide_c = next(s for s in plan.steps if s.race_id == C.race_id and s.kind is StepKind.DECIDE)
    assert journal.state(decide_c.step_id) is StepState.PLANNED  # C's own task decides it
    assert journal.outcomes()[C.race_id] is None
    journal.close()


def test_a_try_killed_mid_way_is_resumed(tmp_path: Path) -> None:
    time = SimulatedTime(at("10:15"))
    handlers = FakeHandlers(time)
    handlers.plan(A.race_id, StepKind.SETTLE, [Killed()])
    with pytest.raises(Killed):
        settle(tmp_path, time, handlers)
    assert settle(tmp_path, time, handlers).state is Settlement.SETTLED
    assert [c.interrupted for c in handlers.of(StepKind.SETTLE)] == [False, True]


def test_the_tries_end_as_the_long_running_loop_ends_them(tmp_path: Path) -> None:
    """Called at the plan's own pace, the journal holds what a whole day's run holds."""
    script = [NOT_YET, RuntimeError("500"), INQUIRY, PAID]
    loop_time = SimulatedTime(at("09:50"))
    loop_handlers = FakeHandlers(loop_time)
    loop_handlers.plan(A.race_id, StepKind.SETTLE, script)
    journal = Journal(tmp_path / "loop.sqlite")
    run_day(plan_day(DAY, [A], CONFIG), journal, loop_handlers, loop_time.clock, loop_time.sleep)
    journal.close()
    time = SimulatedTime(at("10:15"))
    handlers = FakeHandlers(time)
    handlers.plan(A.race_id, StepKind.SETTLE, script)
    answer = settle(tmp_path, time, handlers)
    while answer.state is Settlement.PENDING:
        assert answer.retry_at is not None
        time.sleep((answer.retry_at - time.clock.now()).total_seconds())
        answer = settle(tmp_path, time, handlers)
    loop = Journal(tmp_path / "loop.sqlite")
    plan = loop.plan()
    assert plan is not None
    expected = [loop.history(s.step_id)[-1] for s in plan.steps if s.kind is StepKind.SETTLE]
    loop.close()
    assert settle_states(tmp_path) == expected
    assert [c.now for c in handlers.of(StepKind.SETTLE)] == [
        c.now for c in loop_handlers.of(StepKind.SETTLE)
    ]


def test_a_race_not_in_the_plan_is_a_key_error(tmp_path: Path) -> None:
    time = SimulatedTime(at("10:15"))
    with pytest.raises(KeyError):
        settle(tmp_path, time, FakeHandlers(time), "202605020201")


def test_a_block_met_by_a_resumed_try_puts_off_no_other_race(tmp_path: Path) -> None:
    time = SimulatedTime(at("10:15"))
    handlers = FakeHandlers(time)
    handlers.plan(A.race_id, StepKind.SETTLE, [Killed(), BlockedError("u", 403)])
    with pytest.raises(Killed):
        settle(tmp_path, time, handlers)
    assert settle(tmp_path, time, handlers).state is Settlement.PENDING
    journal = _journal(tmp_path)
    plan = journal.plan()
    assert plan is not None
    states = {s.kind: journal.state(s.step_id) for s in plan.steps if s.race_id == C.race_id}
    journal.close()
    assert states[StepKind.DECIDE] is StepState.PLANNED
