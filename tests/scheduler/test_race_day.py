"""A whole race day from the saved race list (36 races at three venues), in simulated time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from scheduler_fakes import DAY, FakeHandlers, at

from keiba.common.config import RaceDayConfig
from keiba.data_collector.netkeiba_cards import parse_race_list
from keiba.monitor.alerts import MemorySink
from keiba.scheduler import (
    DecideResult,
    Journal,
    Outcome,
    SettleResult,
    SettleStatus,
    SimulatedTime,
    StepKind,
    StepState,
    journal_path,
    plan_day,
    races_from_list,
    run_day,
)

RACE_LIST = Path(__file__).parents[1] / "data_collector/fixtures/netkeiba/race_list_20260628.html"
COSTS = {
    StepKind.CARD: 3.0, StepKind.WEIGHTS: 3.0, StepKind.ODDS: 2.0,
    StepKind.DECIDE: 40.0, StepKind.SETTLE: 3.0,
}  # fmt: skip


def test_a_whole_day_of_36_races_at_three_venues(tmp_path: Path) -> None:
    races = races_from_list(parse_race_list(RACE_LIST.read_bytes(), "list", DAY))
    plan = plan_day(DAY, races, RaceDayConfig())
    time = SimulatedTime(at("05:00"))
    handlers = FakeHandlers(time, COSTS)
    bought = {r.race_id for r in races if r.race_no % 3 == 0}
    for race_id in bought:
        handlers.plan(race_id, StepKind.DECIDE, [DecideResult("bought", "2 tickets")])
        handlers.plan(race_id, StepKind.SETTLE, [SettleResult(SettleStatus.INQUIRY)])
    alerts = MemorySink()
    journal = Journal(journal_path(tmp_path, DAY))

    outcomes = run_day(plan, journal, handlers, time.clock, time.sleep, alerts=[alerts])

    assert list(outcomes) == [r.race_id for r in plan.races]  # every race, in post-time order
    assert {k for k, o in outcomes.items() if o.outcome is Outcome.BOUGHT} == bought
    assert {o.outcome for k, o in outcomes.items() if k not in bought} == {Outcome.PASSED}
    assert alerts.alerts == []
    for step in plan.steps:  # only a poll may be dropped, when decisions take its minute
        state, reason = journal.history(step.step_id)[-1]
        if state is not StepState.DONE:
            assert step.kind is StepKind.ODDS and (reason or "").startswith("late"), step
    max_age = dt.timedelta(seconds=plan.config.max_odds_age_s)
    for call in handlers.of(StepKind.DECIDE):
        step = next(s for s in plan.steps if s.step_id == call.step_id)
        assert step.due <= call.now <= step.deadline
        polled = [c.now for c in handlers.of(StepKind.ODDS, call.race_id) if c.now <= call.now]
        assert call.now - max(polled) <= max_age  # fresh odds to decide on
    posts = {r.race_id: r.post_time for r in races}
    last_poll = {c.race_id: c.now for c in handlers.of(StepKind.ODDS)}
    assert all(last_poll[r] - posts[r] <= dt.timedelta(minutes=10, seconds=59) for r in posts)
    settled = handlers.of(StepKind.SETTLE)
    assert len(settled) == 36 + len(bought)  # an inquiry first for the races bought
    assert time.clock.now() < max(posts.values()) + dt.timedelta(minutes=20)
