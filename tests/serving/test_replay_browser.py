"""Watching a replay from the dashboard in headless Chromium: `keiba serve --replay`'s app on a
free loopback port, a recorded day replayed in a thread beside it.

The replay starts with its monitor's drawdown stop latched in its paper ledger; its clock is held
(`replayed_day.Gate`) while the page loads, then runs until the monitor has skipped a race and
waits there for an operator. A viewer sees the replay banner and the countdown on the replay's
clock, then the races change state without a reload; an operator resumes buying from the alerts
page and the viewer sees the later races decided.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from replayed_day import PATIENCE_S, Gate, Replaying, held_by_the_monitor, inject_stop, start_replay
from test_dashboard_browser import browser, clean, open_tab

from keiba.app.recorded_day import prepare_replay
from keiba.common.clock import JST
from keiba.common.config import KeibaConfig
from keiba.serving.app import ServeSettings, create_app
from keiba.serving.auth import FailureThrottle, Role
from keiba.serving.server import settings_for
from loopback import serving_app

pytestmark = pytest.mark.slow
__all__ = ["browser"]  # the fixture, shared with the dashboard's tests
WAIT_MS = PATIENCE_S * 1000


@dataclass
class Watched:
    base: str
    settings: ServeSettings
    replaying: Replaying
    day: dt.date
    dataset: str
    tokens: dict[Role, str]


@pytest.fixture
def watched(replay_home: tuple[KeibaConfig, dt.date]) -> Iterator[Watched]:
    config, day = replay_home
    prepared = prepare_replay(config, day)
    assert prepared.recorded.first_fetch is not None
    inject_stop(prepared.config, prepared.run_dir, prepared.recorded.first_fetch)
    settings = settings_for(config, "main", replay=day)
    settings.throttle, settings.stream_interval_s = FailureThrottle(limit=1_000_000), 0.2
    tokens = {role: settings.tokens.create(role.value, role)[1]
              for role in (Role.VIEWER, Role.OPERATOR)}  # fmt: skip
    gate = Gate(hold_while=lambda: held_by_the_monitor(settings, day))
    replaying = start_replay(prepared, day, gate)
    gate.step(0)
    while not settings.reads.plan(day)["planned"]:  # held once its plan is in the journal
        gate.step()
    with serving_app(create_app(settings)) as base:
        try:
            yield Watched(base, settings, replaying, day, config.storage.dataset, tokens)
        finally:
            gate.hold_while = None
            replaying.join()


def login(tab: Any, w: Watched, role: Role, page: str) -> None:
    tab.page.goto(f"{w.base}/dashboard/{page}")
    tab.page.wait_for_url("**/dashboard/login.html?next=*")
    tab.page.fill("#token", w.tokens[role])
    tab.page.click("button[type=submit]")
    tab.page.wait_for_url(f"**/dashboard/{page}*")
    tab.page.wait_for_selector("body[data-ready=true]")


def time_left(closes: dt.datetime, now: dt.datetime) -> str:
    """As the page counts it (`timeLeft` in dashboard.js)."""
    ms = int((closes - now).total_seconds() * 1000)
    if ms <= 0:
        return "closed"
    m = ms // 60000
    return f"{m // 60} h {m % 60} min" if m >= 60 else f"{m} min {ms // 1000 % 60} s"


def states(tab: Any) -> dict[str, str]:
    found = tab.page.eval_on_selector_all(
        "#timeline li", "(items) => items.map((li) => [li.dataset.race, li.dataset.state])"
    )
    return dict(found)


def test_a_viewer_watches_the_replay_and_an_operator_resumes_it(
    browser: Any, watched: Watched
) -> None:
    w = watched
    watcher = open_tab(browser)
    operator = open_tab(browser)
    try:
        watcher.page.clock.install()  # the browser's own time, moved on below
        login(watcher, w, Role.VIEWER, "index.html")  # no date: the replay's, from its clock
        page = watcher.page
        banner = page.locator("#replay-banner").inner_text()
        assert "Replay" in banner and str(w.day) in banner and w.dataset in banner
        page.wait_for_selector("#replay-clock")
        now = w.settings.clock.now()  # held: the replay's clock stands still
        assert now.astimezone(JST).date() == w.day
        assert page.locator("#replay-clock").inner_text() == f"{now.astimezone(JST):%H:%M:%S}"
        plan = w.settings.reads.plan(w.day)
        lead = dt.timedelta(seconds=w.settings.config.race_day.close_lead_s)
        closes = [r["post_time"] - lead for r in plan["races"]]
        shown = page.locator("#timeline [data-closes]").all_inner_texts()
        assert shown == [time_left(c, now) for c in closes]  # counted on the replay's clock
        page.clock.fast_forward("10:00")  # ten minutes of wall time: the replay's stands still
        assert page.locator("#timeline [data-closes]").all_inner_texts() == shown
        before = states(watcher)
        assert set(before.values()) <= {"waiting", "running"} and len(before) == 3
        page.evaluate("window.__notReloaded = true")

        w.replaying.gate.run_free()  # the replay runs until the monitor has stopped a race
        first = plan["races"][0]["race_id"]
        page.wait_for_selector(f"#timeline li[data-race='{first}'][data-state=skipped]",
                               timeout=WAIT_MS)  # fmt: skip
        assert page.evaluate("window.__notReloaded") is True
        assert page.locator("#replay-clock").inner_text() != f"{now.astimezone(JST):%H:%M:%S}"
        assert all(s in ("waiting", "running") for r, s in states(watcher).items() if r != first)

        login(operator, w, Role.OPERATOR, "alerts.html")
        assert operator.page.locator("#replay-banner").count() == 1
        assert operator.page.locator("#buying").inner_text() == "stopped"
        resume = operator.page.locator("#operator form.action")
        resume.locator("input").fill("replay reviewed")
        resume.locator("button").click()
        operator.page.wait_for_selector("#buying:text-is('on')")

        page.wait_for_function(
            """(first) => [...document.querySelectorAll('#timeline li')]
                 .every((li) => li.dataset.race === first
                         || ['bought', 'passed'].includes(li.dataset.state))""",
            arg=first,
            timeout=WAIT_MS,
        )  # the replay went on after the resume, and the page followed it live
        assert page.evaluate("window.__notReloaded") is True
        run = w.replaying.join()
        assert states(watcher) == {k: o.outcome.value for k, o in run.outcomes.items()}
        clean(watcher)
        clean(operator)
    finally:
        watcher.context.close()
        operator.context.close()
