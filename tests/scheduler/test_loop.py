"""The loop in simulated time: ordinary days, and every degraded mode the scheduler owns."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from scheduler_fakes import DAY, FakeHandlers, Killed, at, race

from keiba.common.config import RaceDayConfig
from keiba.data_collector.http_client import BlockedError
from keiba.monitor.alerts import MemorySink
from keiba.scheduler import (
    DecideResult,
    Journal,
    Outcome,
    RaceOutcome,
    RaceSlot,
    SettleResult,
    SettleStatus,
    SimulatedTime,
    StepKind,
    StepState,
    journal_path,
    plan_day,
    run_day,
)

A = race("202603020201", "10:05")  # decide 09:57, deadline 10:00:30
B = race("202610020201", "09:58")  # decide 09:50, deadline 09:53:30


class Day:
    """A simulated race day: plan, journal, fake handlers, alerts."""

    def __init__(self, tmp_path: Path, races: list[RaceSlot], start: dt.datetime, **config: Any):
        self.plan = plan_day(DAY, races, RaceDayConfig(**config))
        self.path = journal_path(tmp_path, DAY)
        self.time = SimulatedTime(start)
        self.handlers = FakeHandlers(self.time)
        self.alerts = MemorySink()

    def run(self, journal: Journal | None = None) -> dict[str, RaceOutcome]:
        journal = journal or Journal(self.path)
        return dict(
            run_day(self.plan, journal, self.handlers, self.time.clock, self.time.sleep,
                    alerts=[self.alerts])
        )  # fmt: skip

    def journal(self) -> Journal:
        return Journal(self.path)


def test_an_ordinary_day_runs_every_step_once_between_due_and_deadline(tmp_path: Path) -> None:
    day = Day(tmp_path, [A, B], at("05:00"))
    day.handlers.plan(
        A.race_id, StepKind.DECIDE, [DecideResult("bought", "1 ticket", {"yen": 300})]
    )
    outcomes = day.run()
    assert list(outcomes) == [B.race_id, A.race_id]  # post-time order
    assert outcomes == day.journal().outcomes()
    assert outcomes[A.race_id].outcome is Outcome.BOUGHT
    assert outcomes[A.race_id].detail == {"yen": 300}
    assert outcomes[B.race_id].outcome is Outcome.PASSED
    calls = {c.step_id: c for c in day.handlers.calls}
    assert len(calls) == len(day.handlers.calls) == len(day.plan.steps)
    for step in day.plan.steps:
        assert step.due <= calls[step.step_id].now <= step.deadline
    last_poll = max(c.now for c in day.handlers.of(StepKind.ODDS, A.race_id))
    assert last_poll == A.post_time + dt.timedelta(minutes=10)


def reasons(day: Day, kind: StepKind, race_id: str) -> list[tuple[StepState, str | None]]:
    journal = day.journal()
    ids = sorted(s.step_id for s in journal.plan().steps if s.kind is kind and s.race_id == race_id)
    return [journal.history(i)[-1] for i in ids]


def test_a_step_started_after_its_deadline_is_skipped_as_late(tmp_path: Path) -> None:
    day = Day(tmp_path, [A, B], at("09:55"))  # B's decision deadline has passed
    outcomes = day.run()
    assert outcomes[B.race_id].outcome is Outcome.SKIPPED
    assert outcomes[B.race_id].reason == "decide skipped: late: started 09:55:00, deadline 09:53:30"
    assert day.handlers.of(StepKind.DECIDE, B.race_id) == []
    assert outcomes[A.race_id].outcome is Outcome.PASSED  # still in time
    assert reasons(day, StepKind.CARD, A.race_id) == [(StepState.DONE, "card read")]  # in time
    journal = day.journal()
    polls = [s for s in day.plan.steps if s.kind is StepKind.ODDS and s.race_id == A.race_id]
    for poll in polls:  # a poll is late once the next one is due
        state = journal.state(poll.step_id)
        assert state is (StepState.SKIPPED if poll.deadline < at("09:55") else StepState.DONE)
    assert {journal.state(p.step_id) for p in polls} == {StepState.SKIPPED, StepState.DONE}


def test_a_decision_never_waits_behind_polls(tmp_path: Path) -> None:
    """Twelve races at once, polls that take 20 s: the polls fall behind, decisions do not."""
    races = [race(f"2026{v:02d}020{n:1d}01", "10:05") for v in (2, 3, 10) for n in (1, 2, 3, 4)]
    day = Day(tmp_path, races, at("09:00"), decision_lead_s=330)  # decide at 09:57:30
    day.handlers.cost_s = {StepKind.ODDS: 20.0, StepKind.DECIDE: 5.0}
    outcomes = day.run()
    decided = day.handlers.of(StepKind.DECIDE)
    assert len(decided) == 12 and {o.outcome for o in outcomes.values()} == {Outcome.PASSED}
    assert max(c.now for c in decided) - at("09:57", 30) <= dt.timedelta(seconds=20 + 11 * 5)
    late_polls = [
        c for c in day.handlers.of(StepKind.ODDS) if c.now - at("09:57") > dt.timedelta(0)
    ]
    assert late_polls  # the polls were behind all the while


def blocked(status: int = 429) -> BlockedError:
    return BlockedError("https://race.netkeiba.com/odds", status)


def test_a_block_pauses_the_day_alerts_and_skips_what_cannot_wait(tmp_path: Path) -> None:
    day = Day(tmp_path, [A, B], at("09:48"))
    day.handlers.plan(B.race_id, StepKind.ODDS, [blocked(429)])  # B's 09:48 poll
    outcomes = day.run()
    # paused 09:48 → 09:53: B's decision (09:50, deadline 09:53:30) could still be made then
    assert outcomes[B.race_id].outcome is Outcome.PASSED
    ran = [c.now for c in day.handlers.calls]
    assert not [t for t in ran if at("09:48") < t < at("09:53")]
    (alert,) = day.alerts.alerts
    assert alert.kind == "scheduler.collector_blocked"
    assert alert.fields["until"] == at("09:53").isoformat()
    assert "collector blocked (HTTP 429), paused until 09:53:00" in alert.message


def test_a_decision_lost_to_a_block_is_skipped_with_the_reason(tmp_path: Path) -> None:
    day = Day(tmp_path, [A, B], at("09:48"), blocked_backoff_s=600.0)
    day.handlers.plan(B.race_id, StepKind.ODDS, [blocked(403)])
    outcomes = day.run()
    why = "collector blocked (HTTP 403), paused until 09:58:00"
    assert outcomes[B.race_id].outcome is Outcome.SKIPPED
    assert outcomes[B.race_id].reason == f"decide skipped: {why}"
    assert outcomes[A.race_id].outcome is Outcome.PASSED  # A decides at 09:58, in time
    assert day.alerts.alerts[0].fields["races_skipped"] == [B.race_id]
    assert day.handlers.of(StepKind.DECIDE, B.race_id) == []


def test_repeated_blocks_back_off_longer_and_a_blocked_decision_is_tried_again(
    tmp_path: Path,
) -> None:
    day = Day(tmp_path, [A], at("09:57"), blocked_backoff_s=30.0, blocked_backoff_max_s=45.0)
    day.handlers.plan(A.race_id, StepKind.DECIDE, [blocked(), blocked(), blocked()])
    outcomes = day.run()
    tries = [c.now for c in day.handlers.of(StepKind.DECIDE)]
    assert tries == [at("09:57"), at("09:57", 30), at("09:58", 15), at("09:59")]  # 30, 45, 45
    assert [a.fields["until"] for a in day.alerts.alerts] == [t.isoformat() for t in tries[1:]]
    assert outcomes[A.race_id].outcome is Outcome.PASSED


def test_a_failing_handler_fails_its_step_and_the_day_goes_on(tmp_path: Path) -> None:
    day = Day(tmp_path, [A, B], at("05:00"))
    day.handlers.plan(B.race_id, StepKind.DECIDE, [ValueError("no odds\ntraceback text")])
    day.handlers.plan(A.race_id, StepKind.ODDS, [RuntimeError("parse"), RuntimeError("again")])
    outcomes = day.run()
    assert outcomes[B.race_id].outcome is Outcome.FAILED
    assert outcomes[B.race_id].reason == "decide failed: ValueError: no odds"
    polls = reasons(day, StepKind.ODDS, A.race_id)
    assert polls[:2] == [
        (StepState.FAILED, "RuntimeError: parse"), (StepState.FAILED, "RuntimeError: again"),
    ]  # fmt: skip
    assert {state for state, _ in polls[2:]} == {StepState.DONE}
    assert outcomes[A.race_id].outcome is Outcome.PASSED


def test_settlement_is_tried_again_until_official(tmp_path: Path) -> None:
    day = Day(tmp_path, [A], at("09:50"))
    day.handlers.plan(A.race_id, StepKind.DECIDE, [DecideResult("bought", "1 ticket")])
    not_yet, inquiry = SettleResult(SettleStatus.NOT_YET), SettleResult(SettleStatus.INQUIRY)
    day.handlers.plan(A.race_id, StepKind.SETTLE, [not_yet, inquiry, RuntimeError("500")])
    outcomes = day.run()
    tries = [c.now for c in day.handlers.of(StepKind.SETTLE)]
    assert tries == [at("10:15"), at("10:17"), at("10:19"), at("10:21")]
    assert [state for state, _ in reasons(day, StepKind.SETTLE, A.race_id)] == [
        StepState.DONE, StepState.DONE, StepState.FAILED, StepState.DONE,
    ]  # fmt: skip
    assert reasons(day, StepKind.SETTLE, A.race_id)[1][1] == "審議: stewards' inquiry pending"
    assert outcomes[A.race_id].outcome is Outcome.BOUGHT


def test_a_result_never_official_fails_the_race_at_the_give_up_time(tmp_path: Path) -> None:
    day = Day(tmp_path, [A], at("09:50"))
    day.handlers.plan(A.race_id, StepKind.DECIDE, [DecideResult("bought", "1 ticket")])
    day.handlers.plan(A.race_id, StepKind.SETTLE, [SettleResult(SettleStatus.INQUIRY)] * 100)
    outcomes = day.run()
    tries = [c.now for c in day.handlers.of(StepKind.SETTLE)]
    assert (tries[0], tries[-1], len(tries)) == (at("10:15"), at("11:05"), 26)
    final = outcomes[A.race_id]
    assert final.outcome is Outcome.FAILED
    assert final.reason == (
        "result not official by 11:05:00 (last try: 審議: stewards' inquiry pending)"
    )
    assert final.detail["before"]["outcome"] == "bought"


def test_a_day_killed_mid_step_resumes_without_repeating_or_losing_a_step(
    tmp_path: Path,
) -> None:
    day = Day(tmp_path, [A, B], at("05:00"))
    day.handlers.plan(B.race_id, StepKind.DECIDE, [Killed()])
    first = Journal(day.path)
    with pytest.raises(Killed):
        day.run(first)
    del first  # the process is gone; its journal was never closed
    before = list(day.handlers.calls)
    decided = DecideResult("bought", "found the purchase already recorded")
    day.handlers = FakeHandlers(day.time)
    day.handlers.plan(B.race_id, StepKind.DECIDE, [decided])
    outcomes = day.run()
    after = day.handlers.calls
    assert after[0].step_id == before[-1].step_id and after[0].interrupted  # handed back first
    assert [c for c in after[1:] if c.interrupted] == []
    ran = [c.step_id for c in before[:-1]] + [c.step_id for c in after]
    assert sorted(ran) == sorted(s.step_id for s in day.plan.steps)  # none twice, none lost
    assert outcomes[B.race_id].reason == "found the purchase already recorded"
    journal = day.journal()
    assert journal.history(before[-1].step_id) == [
        (StepState.PLANNED, None), (StepState.STARTED, None),
        (StepState.STARTED, "resumed after an interruption"),
        (StepState.DONE, "found the purchase already recorded"),
    ]  # fmt: skip


def test_a_race_left_without_a_decision_is_failed_not_forgotten(tmp_path: Path) -> None:
    day = Day(tmp_path, [A], at("09:00"))
    journal = Journal(day.path)
    journal.record_plan(day.plan, at("09:00"))
    decide = next(s for s in journal.planned() if s.kind is StepKind.DECIDE)
    journal.finish(decide, StepState.SKIPPED, "cancelled by hand", at("09:00"))
    outcomes = day.run(journal)
    assert outcomes[A.race_id].outcome is Outcome.FAILED
    assert outcomes[A.race_id].reason == "no decision was recorded"


def test_a_paused_day_makes_no_decision_until_it_is_resumed(tmp_path: Path) -> None:
    """B decides at 09:50 and pauses the day (as an operator would, from elsewhere): A's
    decision at 09:57 is skipped with the pause's reason; polls and settlements go on."""
    day = Day(tmp_path, [A, B], at("05:00"))
    journal = day.journal()

    def decide_then_pause(ctx: Any) -> DecideResult:
        journal.set_paused(True, "ops", "odds look wrong", ctx.now)
        return DecideResult("bought", "1 ticket")

    day.handlers.plan(B.race_id, StepKind.DECIDE, [decide_then_pause])
    outcomes = day.run(journal)
    assert outcomes[B.race_id].outcome is Outcome.BOUGHT
    assert outcomes[A.race_id].outcome is Outcome.SKIPPED
    assert outcomes[A.race_id].reason == "decide skipped: the day is paused by ops: odds look wrong"
    assert day.handlers.of(StepKind.DECIDE, A.race_id) == []
    assert len(day.handlers.of(StepKind.SETTLE)) == 2
    assert max(c.now for c in day.handlers.of(StepKind.ODDS, A.race_id)) > A.post_time


def test_a_resumed_day_decides_again(tmp_path: Path) -> None:
    day = Day(tmp_path, [A, B], at("05:00"))
    journal = day.journal()
    journal.set_paused(True, "ops", "checking the feed", at("05:00"))
    assert journal.pause().paused
    resumed = journal.set_paused(False, "ops", "feed fine", at("05:01"))
    assert (resumed.paused, resumed.operator, resumed.at) == (False, "ops", at("05:01"))
    outcomes = day.run(journal)
    assert {o.outcome for o in outcomes.values()} == {Outcome.PASSED}
    assert len(day.handlers.of(StepKind.DECIDE)) == 2
