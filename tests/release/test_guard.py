"""The automatic rollback: a bad week after a promotion restores the release before it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from sqlalchemy import Engine

from keiba.bankroll import Ledger
from keiba.bankroll.audit import verify
from keiba.common.bet_types import BetType
from keiba.common.clock import FixedClock
from keiba.common.config import DrawdownTierConfig, MonitorConfig, ReleaseConfig, ThemisConfig
from keiba.common.storage import create_ledger_engine
from keiba.engine import RaceEngine, RaceInputs, RaceResult, Status
from keiba.execution import PaperBroker
from keiba.monitor import MemorySink
from keiba.release import AUTOMATIC, Release, ReleaseBook, ReleaseGuard

START = dt.datetime(2026, 6, 1, 3, 0, tzinfo=dt.UTC)
BEFORE = Release.of("sim", "fm-1", ThemisConfig(kelly_fraction=0.1))
CANDIDATE = Release.of("sim", "fm-2", ThemisConfig(kelly_fraction=0.25))


def race(at: dt.datetime, model_version: str) -> RaceInputs:
    """Eight runners; horse 1 is believed twice as likely as its odds say."""
    horses = tuple(range(1, 9))
    odds = {h: 4.0 if h == 1 else 9.0 for h in horses}
    return RaceInputs(
        race_id=f"{at:%Y%m%d}01020301",
        race_date=at.date(),
        decision_at=at,
        horses=horses,
        frames={h: (h + 1) // 2 for h in horses},
        probabilities={h: 0.5 if h == 1 else 0.5 / 7 for h in horses},
        offers={BetType.WIN: {str(h): o for h, o in odds.items()}},
        model_version=model_version,
        odds_source="final",
    )


MONITOR = MonitorConfig(
    drawdown_tiers=(
        DrawdownTierConfig(name="warn", drawdown=0.05, stake_multiplier=0.5),
        DrawdownTierConfig(name="stop", drawdown=0.30, stake_multiplier=0.0, stop_buying=True),
    )
)
"""A 5% tier: a week of lost races (about 2% staked each) reaches it mid-week."""
LOST = RaceResult({("win", "2"): 900}, dict.fromkeys(range(1, 9), "finished"))


def _world(tmp_path: Path) -> tuple[Engine, FixedClock, Ledger, ReleaseBook]:
    clock = FixedClock(START)
    database = create_ledger_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    ledger = Ledger(database, clock, account="paper")
    ledger.deposit(100_000)
    book = ReleaseBook(database, clock)
    book.promote(BEFORE, by="ann", reason="first")
    clock.advance(dt.timedelta(days=1))
    book.promote(CANDIDATE, by="ann", reason="bolder")
    return database, clock, ledger, book


def _bad_week(
    clock: FixedClock, ledger: Ledger, book: ReleaseBook, config: ReleaseConfig
) -> tuple[list[tuple[str, Status]], MemorySink]:
    """A race a day for a week, each lost; the guard checked before each, as a race day does."""
    sink = MemorySink()
    guard = ReleaseGuard(book, "sim", ledger, clock, config, MONITOR, [sink])
    engine = RaceEngine(
        CANDIDATE.themis(), ledger, PaperBroker(), clock, release_id=CANDIDATE.release_id
    )
    versions = {BEFORE.release_id: "fm-1", CANDIDATE.release_id: "fm-2"}
    ran = []
    for _ in range(7):
        clock.advance(dt.timedelta(days=1))
        restored = guard.check()
        if restored is not None:
            engine.policy = restored.release.themis()
            engine.release_id = restored.release.release_id
        inputs = race(clock.now(), versions[engine.release_id])
        outcome = engine.decide(inputs)
        engine.settle(inputs.race_id, LOST)
        ran.append((outcome.release_id, outcome.status))
    return ran, sink


def test_a_bad_week_rolls_back_and_the_following_races_run_the_release_before(
    tmp_path: Path,
) -> None:
    database, clock, ledger, book = _world(tmp_path)
    ran, sink = _bad_week(clock, ledger, book, ReleaseConfig(rollback_tier="warn"))
    ids = [release for release, _ in ran]
    assert all(status is Status.BOUGHT for _, status in ran)
    switch = ids.index(BEFORE.release_id)
    assert 0 < switch < len(ids) - 1
    assert set(ids[:switch]) == {CANDIDATE.release_id}
    assert set(ids[switch:]) == {BEFORE.release_id}
    current = book.in_force("sim")
    assert current is not None and current.release == BEFORE
    rollback = book.events("sim")[-1]
    assert (rollback.action, rollback.by, rollback.previous_id) == (
        "rollback",
        AUTOMATIC,
        CANDIDATE.release_id,
    )
    assert [a.kind for a in sink.alerts] == ["release.rolled_back"]
    assert _decided_releases(database) == ids
    assert verify(database).ok


def test_no_rollback_once_the_window_after_the_promotion_has_passed(tmp_path: Path) -> None:
    _, clock, ledger, book = _world(tmp_path)
    clock.advance(dt.timedelta(days=3))
    config = ReleaseConfig(rollback_tier="warn", rollback_window_days=2)
    ran, sink = _bad_week(clock, ledger, book, config)
    assert {release for release, _ in ran} == {CANDIDATE.release_id}
    assert sink.alerts == [] and len(book.events("sim")) == 2


def _decided_releases(database: Engine) -> list[str]:
    """The release id each decision's audit record names, in order."""
    with database.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT content FROM audit_log WHERE record_type = 'decision' ORDER BY seq"
        ).all()
    return [json.loads(r[0])["payload"]["inputs_summary"]["release_id"] for r in rows]
