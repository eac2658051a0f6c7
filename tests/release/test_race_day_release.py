"""A race day runs only the release in force, and promotions go through their gates.

Each test plays the twin day of `twin_release` from a fresh copy.
"""

from __future__ import annotations

import datetime as dt

import pytest

from keiba.app.race_day import fund_paper_ledger
from keiba.app.releases import promote, shadow
from keiba.app.twin_day import TwinPrepared
from keiba.bankroll import Ledger
from keiba.common.clock import FixedClock
from keiba.common.storage import create_ledger_engine
from keiba.release import (
    AUTOMATIC,
    GATES,
    GateFigures,
    PromotionRefused,
    ReleaseError,
)
from keiba.scheduler import Outcome

from .twin_release import (
    GOOD,
    SATURDAY_NOON,
    WEDNESDAY_NOON,
    book_of,
    measured,
    play,
    release_config,
)


def test_a_live_day_without_a_promoted_release_buys_nothing_and_says_how_to_promote(
    prepared: TwinPrepared,
) -> None:
    day, sink = play(prepared, auto_promote=None)
    assert "race_day.no_release" in {a.kind for a in sink.alerts}
    for outcome in day.outcomes.values():
        assert outcome.outcome is Outcome.SKIPPED
        assert "keiba release promote" in outcome.reason and "\n" not in outcome.reason
    assert day.release_id is None


def test_the_twin_promotes_its_own_model_audited_and_every_decision_names_it(
    prepared: TwinPrepared,
) -> None:
    day, _ = play(prepared, auto_promote="twin")
    events = book_of(prepared).events(prepared.config.storage.dataset)
    assert len(events) == 1 and events[0].forced == GATES and "twin" in events[0].by
    assert day.release_id == events[0].release.release_id
    assert events[0].release.model_version == day.model_version
    decided = [o for o in day.outcomes.values() if o.outcome in (Outcome.BOUGHT, Outcome.PASSED)]
    assert Outcome.BOUGHT in {o.outcome for o in decided}
    assert {o.detail["release_id"] for o in decided} == {day.release_id}


def test_a_promotion_without_its_gates_is_refused_one_line_per_gate(
    prepared: TwinPrepared,
) -> None:
    config = release_config(prepared)
    with pytest.raises(PromotionRefused) as refused:
        promote(
            config,
            clock=FixedClock(WEDNESDAY_NOON),
            model=None,
            reason="try",
            measure_gates=measured(GateFigures()),  # type: ignore[arg-type]
        )
    assert [line.split(":")[0] for line in refused.value.lines] == [
        "backtest",
        "monte_carlo",
        "delta_r2",
    ]
    assert book_of(prepared).events(config.storage.dataset) == []


def test_a_promotion_in_the_freeze_is_refused_unless_forced_with_a_reason(
    prepared: TwinPrepared,
) -> None:
    config = release_config(prepared)
    kw = {"model": None, "reason": "hotfix", "measure_gates": measured(GOOD)}
    with pytest.raises(PromotionRefused) as refused:
        promote(config, clock=FixedClock(SATURDAY_NOON), **kw)  # type: ignore[arg-type]
    assert len(refused.value.lines) == 1 and "freeze" in refused.value.lines[0]
    event = promote(config, clock=FixedClock(SATURDAY_NOON), force=True, **kw)  # type: ignore[arg-type]
    assert len(event["forced"]) == 1 and "freeze" in event["forced"][0]
    assert event["reason"] == "hotfix"


def test_a_promoted_release_is_what_the_day_runs(prepared: TwinPrepared) -> None:
    """The release's policy, not the configuration's: with an EV threshold no race reaches,
    the race the configured policy buys (see the twin test above) is passed."""
    config = release_config(prepared, ev_threshold=5.0)
    event = promote(
        config,
        clock=FixedClock(WEDNESDAY_NOON),
        model=None,
        reason="gates passed",
        by="ann",
        measure_gates=measured(GOOD),  # type: ignore[arg-type]
    )
    assert event["forced"] == [] and event["by"] == "ann"
    with pytest.raises(ReleaseError, match="already in force"):
        promote(config, clock=FixedClock(WEDNESDAY_NOON), model=None, reason="again")
    assert event["release"]["policy"]["ev_threshold"] == 5.0
    assert event["release"]["gates"]["figures"]["backtest"]["bets"] == 120
    day, _ = play(prepared, auto_promote=None)
    assert day.release_id == event["release_id"]
    for outcome in day.outcomes.values():
        assert outcome.outcome is Outcome.PASSED and "ev_below_threshold" in outcome.reason
        assert outcome.detail["release_id"] == event["release_id"]


def test_a_shadow_decides_every_race_beside_the_release_and_never_buys(
    prepared: TwinPrepared,
) -> None:
    clock = FixedClock(WEDNESDAY_NOON)
    measure = measured(GOOD)
    strict = release_config(prepared, ev_threshold=5.0)
    in_force = promote(strict, clock=clock, model=None, reason="strict", measure_gates=measure)  # type: ignore[arg-type]
    candidate = shadow(release_config(prepared), clock=clock, model=None, reason="compare")
    day, _ = play(prepared, auto_promote=None)
    assert set(day.shadow) == set(day.outcomes)
    for race_id, row in day.shadow.items():
        assert day.outcomes[race_id].outcome is Outcome.PASSED
        assert row["in_force"] == in_force["release_id"]
        assert row["release_id"] == candidate["shadow"]["release_id"]
    assert any(row["staked_yen"] > 0 for row in day.shadow.values())
    engine = create_ledger_engine(day.ledger)
    assert Ledger(engine, clock, day.account).tickets() == []
    assert day.balance_yen == prepared.config.backtest.bankroll_yen
    assert {r["shadow"] for r in day.rows()} <= {"decided", "passed"}


def test_a_loss_after_a_promotion_rolls_back_and_the_day_runs_the_release_before(
    prepared: TwinPrepared,
) -> None:
    measure = measured(GOOD)
    hour = dt.timedelta(hours=1)
    before = promote(
        release_config(prepared),
        clock=FixedClock(WEDNESDAY_NOON),
        model=None,
        reason="first",
        measure_gates=measure,  # type: ignore[arg-type]
    )
    promote(
        release_config(prepared, ev_threshold=1.04),
        clock=FixedClock(WEDNESDAY_NOON + hour),
        model=None,
        reason="bolder",
        measure_gates=measure,  # type: ignore[arg-type]
    )
    url, bankroll = f"sqlite:///{prepared.run_dir / 'ledger.sqlite'}", 1_000_000
    start = dt.datetime.combine(prepared.day.date, dt.time(0), tzinfo=dt.UTC)
    fund_paper_ledger(url, "paper", FixedClock(start), bankroll, "paper bankroll")
    engine = create_ledger_engine(url)
    Ledger(engine, FixedClock(WEDNESDAY_NOON + 2 * hour), "paper").adjust(
        -bankroll // 4, "a bad week"
    )
    day, sink = play(prepared, auto_promote=None)
    assert "release.rolled_back" in {a.kind for a in sink.alerts}
    assert day.release_id == before["release_id"]
    decided = [o for o in day.outcomes.values() if o.outcome in (Outcome.BOUGHT, Outcome.PASSED)]
    assert decided and {o.detail["release_id"] for o in decided} == {before["release_id"]}
    last = book_of(prepared).events(prepared.config.storage.dataset)[-1]
    assert (last.action, last.by, last.release.release_id) == (
        "rollback",
        AUTOMATIC,
        before["release_id"],
    )
