"""The planned timeline: the race-day facts for one race, and properties over any valid config."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scheduler_fakes import DAY, at, race

from keiba.common.config import RaceDayConfig
from keiba.common.ids import Venue
from keiba.data_collector.netkeiba_cards import parse_race_list
from keiba.scheduler import Plan, RaceSlot, StepKind, plan_day, poll_times, races_from_list

RACE_LIST = Path(__file__).parents[1] / "data_collector/fixtures/netkeiba/race_list_20260628.html"
MIN = dt.timedelta(minutes=1)


def steps_of(plan: Plan, race_id: str, kind: StepKind) -> list[dt.datetime]:
    return [s.due for s in plan.steps if s.race_id == race_id and s.kind is kind]


def test_one_race_follows_the_race_day_facts() -> None:
    plan = plan_day(DAY, [race("202603020201", "10:05")], RaceDayConfig())
    by_kind = {s.kind: s for s in plan.steps if s.kind is not StepKind.ODDS}
    decide = by_kind[StepKind.DECIDE]
    assert (decide.due, decide.deadline) == (at("09:57"), at("10:00", 30))  # close 10:03
    assert (by_kind[StepKind.WEIGHTS].due, by_kind[StepKind.WEIGHTS].deadline) == (
        at("09:05"), at("09:57"),
    )  # fmt: skip
    assert by_kind[StepKind.CARD].due == at("06:05")
    assert (by_kind[StepKind.SETTLE].due, by_kind[StepKind.SETTLE].deadline) == (
        at("10:15"), at("11:05"),
    )  # fmt: skip


def test_odds_polls_are_banded_and_stop_ten_minutes_after_post() -> None:
    post = at("10:05")
    times = poll_times(race("202603020201", "10:05"), RaceDayConfig())
    gaps = {(post - a) // MIN: (b - a) // MIN for a, b in itertools.pairwise(times)}
    assert {gap for before, gap in gaps.items() if before > 180} == {15}
    assert {gap for before, gap in gaps.items() if 60 < before <= 180} == {10}
    assert {gap for before, gap in gaps.items() if 30 < before <= 60} == {5}
    assert {gap for before, gap in gaps.items() if 10 < before <= 30} == {2}
    assert {gap for before, gap in gaps.items() if before <= 10} == {1}
    assert (times[0], times[-1]) == (post - 240 * MIN, post + 10 * MIN)


def test_a_poll_is_superseded_by_the_next() -> None:
    plan = plan_day(DAY, [race("202603020201", "10:05")], RaceDayConfig())
    polls = [s for s in plan.steps if s.kind is StepKind.ODDS]
    assert all(a.deadline == b.due for a, b in itertools.pairwise(polls))
    assert polls[-1].deadline == at("10:16")


def test_the_fixture_day_plans_36_races_at_three_venues() -> None:
    listed = parse_race_list(RACE_LIST.read_bytes(), "list", DAY)
    races = races_from_list(listed)
    assert len(races) == 36 and {r.venue for r in races} == {
        Venue.HAKODATE, Venue.FUKUSHIMA, Venue.KOKURA,
    }  # fmt: skip
    plan = plan_day(DAY, races, RaceDayConfig())
    assert [r.race_id for r in plan.races] == [
        r.race_id for r in sorted(races, key=lambda r: (r.post_time, r.race_id))
    ]
    assert sum(s.kind is StepKind.DECIDE for s in plan.steps) == 36
    assert len({s.step_id for s in plan.steps}) == len(plan.steps)


def test_a_race_listed_twice_or_on_another_day_is_refused() -> None:
    with pytest.raises(ValueError, match="listed twice"):
        plan_day(DAY, [race("202603020201", "10:05")] * 2, RaceDayConfig())
    with pytest.raises(ValueError, match="not run on 2026-06-29"):
        plan_day(dt.date(2026, 6, 29), [race("202603020201", "10:05")], RaceDayConfig())


@st.composite
def configs(draw: st.DrawFn) -> RaceDayConfig:
    starts = [*sorted(draw(st.sets(st.integers(1, 300), max_size=5)), reverse=True), 0]
    bands = tuple((s, draw(st.integers(1, 20))) for s in starts)
    decision = draw(st.integers(30, 900))
    close = draw(st.integers(30, 300))
    weights = draw(st.integers((close + decision) // 60 + 1, 200))
    try:
        return RaceDayConfig(
            close_lead_s=close,
            decision_lead_s=decision,
            submit_deadline_s=draw(st.integers(1, decision - 1)),
            poll_bands=bands,
            watch_from_min=draw(st.integers(weights, 400)),
            weights_lead_min=weights,
            poll_stop_after_post_min=draw(st.integers(0, 30)),
        )
    except ValidationError as e:  # the strategy only draws valid configurations
        raise AssertionError(str(e)) from e


@st.composite
def race_days(draw: st.DrawFn) -> list[RaceSlot]:
    """Up to three venues whose races overlap: each venue's first post and spacing differ."""
    races = []
    for venue in draw(st.sets(st.sampled_from([2, 3, 10]), min_size=1, max_size=3)):
        first = at("09:30") + draw(st.integers(0, 60)) * MIN
        spacing = draw(st.integers(20, 40))
        for no in range(1, draw(st.integers(1, 12)) + 1):
            post = first + (no - 1) * spacing * MIN
            races.append(RaceSlot(f"2026{venue:02d}0201{no:02d}", Venue(venue), no, post))
    return races


def _band(config: RaceDayConfig, post: dt.datetime, at: dt.datetime) -> tuple[dt.datetime, int]:
    """When the band in force at `at` began (its far end) and its interval in minutes."""
    bands = config.poll_bands
    i = next(i for i, (start_min, _) in enumerate(bands) if post - at >= start_min * MIN)
    began = post - bands[i - 1][0] * MIN if i else dt.datetime.min.replace(tzinfo=dt.UTC)
    return began, bands[i][1]


@settings(max_examples=150, deadline=None)
@given(configs(), race_days(), st.randoms())
def test_every_plan_keeps_the_deadlines(
    config: RaceDayConfig, races: list[RaceSlot], rnd: random.Random
) -> None:
    plan = plan_day(DAY, races, config)
    shuffled = list(races)
    rnd.shuffle(shuffled)
    assert plan_day(DAY, shuffled, config) == plan  # planning again changes nothing
    assert len({s.step_id for s in plan.steps}) == len(plan.steps)
    assert list(plan.steps) == sorted(plan.steps, key=lambda s: (s.due, s.kind.priority))
    for slot in races:
        post = slot.post_time
        close = post - config.close_lead_s * dt.timedelta(seconds=1)
        mine = [s for s in plan.steps if s.race_id == slot.race_id]
        (decide,) = [s for s in mine if s.kind is StepKind.DECIDE]
        assert decide.due < decide.deadline < close
        assert all(s.due < decide.due for s in mine if s.kind in (StepKind.CARD, StepKind.WEIGHTS))
        band_start, interval = _band(config, post, decide.due)
        assert band_start <= decide.due
        polls = [s.due for s in mine if s.kind is StepKind.ODDS]
        last = max(p for p in polls if p <= decide.due)
        assert decide.due - last < interval * MIN  # the odds seen are at most one interval old
        assert band_start < polls[0] or band_start in polls  # a poll as the band begins
        assert max(polls) <= post + config.poll_stop_after_post_min * MIN
        assert [s.kind for s in mine].count(StepKind.SETTLE) == 1


@settings(max_examples=60, deadline=None)
@given(race_days())
def test_at_equal_times_a_decision_comes_first(races: list[RaceSlot]) -> None:
    plan = plan_day(DAY, races, RaceDayConfig())
    for a, b in zip(plan.steps, plan.steps[1:], strict=False):
        if a.due == b.due:
            assert not (b.kind is StepKind.DECIDE and a.kind is not StepKind.DECIDE)
