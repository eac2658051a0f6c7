"""A race day runs only the release in force, and promotions go through their gates.

A small simulated world's history and a model trained on it are prepared once (the twin day's
setup); each test plays three overlapping races of its last three-venue day from a fresh copy.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from keiba.app.race_day import DayRun, fund_paper_ledger, run_race_day
from keiba.app.releases import measure, promote, shadow
from keiba.app.twin_day import TwinPrepared, prepare_twin, twin_setup
from keiba.bankroll import Ledger
from keiba.common.clock import JST, FixedClock
from keiba.common.config import KeibaConfig, ThemisConfig, load_config
from keiba.common.storage import FsspecObjectStore, create_ledger_engine
from keiba.model_training.pipeline import StoredModel, load_stored_model
from keiba.monitor import MemorySink
from keiba.release import (
    AUTOMATIC,
    GATES,
    GateFigures,
    PromotionRefused,
    ReleaseBook,
    ReleaseError,
    judge,
)
from keiba.scheduler import Outcome
from keiba.simulator import WorldConfig
from keiba.simulator.netkeiba_twin_day import TwinDay

WORLD = WorldConfig(seed=3, max_race_days=12)
SETTINGS = {
    "model": {"num_boost_round": 30, "learning_rate": 0.1, "num_leaves": 7},
    "race_day": {"watch_from_min": 60, "weights_lead_min": 30, "poll_bands": [[60, 10], [0, 5]]},
}
GOOD = GateFigures(
    backtest={"bets": 120, "return_rate": 0.97},
    monte_carlo={"p_drawdown": 0.02, "level": 0.3, "kelly_fraction": 0.25},
    delta_r2={"delta": 0.004, "low": 0.001, "high": 0.007},
)
WEDNESDAY_NOON = dt.datetime(2031, 1, 8, 12, 0, tzinfo=JST)
SATURDAY_NOON = dt.datetime(2031, 1, 11, 12, 0, tzinfo=JST)


def _config(home: Path) -> KeibaConfig:
    config = load_config(home=home)
    return config.model_copy(
        update={
            name: getattr(config, name).model_validate(
                {**getattr(config, name).model_dump(), **values}
            )
            for name, values in SETTINGS.items()
        }
    )


@pytest.fixture(scope="module")
def prepared_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TwinPrepared]:
    home = tmp_path_factory.mktemp("twin-home")
    return home, prepare_twin(_config(home), world=WORLD)


@pytest.fixture
def prepared(prepared_home: tuple[Path, TwinPrepared], tmp_path: Path) -> TwinPrepared:
    home, original = prepared_home
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    run_dir = copy / original.run_dir.relative_to(home)
    firsts: dict[object, object] = {}
    for race in sorted(original.day.races, key=lambda r: r.post_time):
        firsts.setdefault(race.race["venue_code"], race)
    day = TwinDay(original.day.date, tuple(firsts.values()))  # type: ignore[arg-type]
    config = original.config.model_copy(update={"home": copy})
    return TwinPrepared(config, day, run_dir, FsspecObjectStore(str(run_dir / "models")))


def play(prepared: TwinPrepared, *, auto_promote: str | None) -> tuple[DayRun, MemorySink]:
    sink = MemorySink()
    with twin_setup(prepared, sinks=[sink]) as setup:
        return run_race_day(replace(setup, auto_promote=auto_promote), prepared.day.date), sink


def _release_config(prepared: TwinPrepared, **themis: object) -> KeibaConfig:
    """The configuration whose ledger and object store are the twin day's own."""
    storage = prepared.config.storage.model_copy(
        update={
            "ledger_url": f"sqlite:///{prepared.run_dir / 'ledger.sqlite'}",
            "object_store_url": str(prepared.run_dir / "models"),
        }
    )
    policy = prepared.config.themis.model_copy(update=themis)
    return prepared.config.model_copy(update={"storage": storage, "themis": policy})


def _measured(figures: GateFigures) -> object:
    def measure(config: KeibaConfig, stored: StoredModel, policy: ThemisConfig) -> GateFigures:
        return figures

    return measure


def _book(prepared: TwinPrepared) -> ReleaseBook:
    engine = create_ledger_engine(f"sqlite:///{prepared.run_dir / 'ledger.sqlite'}")
    return ReleaseBook(engine, FixedClock(WEDNESDAY_NOON))


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
    events = _book(prepared).events(prepared.config.storage.dataset)
    assert len(events) == 1 and events[0].forced == GATES and "twin" in events[0].by
    assert day.release_id == events[0].release.release_id
    assert events[0].release.model_version == day.model_version
    decided = [o for o in day.outcomes.values() if o.outcome in (Outcome.BOUGHT, Outcome.PASSED)]
    assert Outcome.BOUGHT in {o.outcome for o in decided}
    assert {o.detail["release_id"] for o in decided} == {day.release_id}


def test_a_promotion_without_its_gates_is_refused_one_line_per_gate(
    prepared: TwinPrepared,
) -> None:
    config = _release_config(prepared)
    with pytest.raises(PromotionRefused) as refused:
        promote(
            config,
            clock=FixedClock(WEDNESDAY_NOON),
            model=None,
            reason="try",
            measure_gates=_measured(GateFigures()),  # type: ignore[arg-type]
        )
    assert [line.split(":")[0] for line in refused.value.lines] == [
        "backtest",
        "monte_carlo",
        "delta_r2",
    ]
    assert _book(prepared).events(config.storage.dataset) == []


def test_a_promotion_in_the_freeze_is_refused_unless_forced_with_a_reason(
    prepared: TwinPrepared,
) -> None:
    config = _release_config(prepared)
    kw = {"model": None, "reason": "hotfix", "measure_gates": _measured(GOOD)}
    with pytest.raises(PromotionRefused) as refused:
        promote(config, clock=FixedClock(SATURDAY_NOON), **kw)  # type: ignore[arg-type]
    assert len(refused.value.lines) == 1 and "freeze" in refused.value.lines[0]
    event = promote(config, clock=FixedClock(SATURDAY_NOON), force=True, **kw)  # type: ignore[arg-type]
    assert len(event["forced"]) == 1 and "freeze" in event["forced"][0]
    assert event["reason"] == "hotfix"


def test_a_promoted_release_is_what_the_day_runs(prepared: TwinPrepared) -> None:
    """The release's policy, not the configuration's: with an EV threshold no race reaches,
    the race the configured policy buys (see the twin test above) is passed."""
    config = _release_config(prepared, ev_threshold=5.0)
    event = promote(
        config,
        clock=FixedClock(WEDNESDAY_NOON),
        model=None,
        reason="gates passed",
        by="ann",
        measure_gates=_measured(GOOD),  # type: ignore[arg-type]
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
    measure = _measured(GOOD)
    strict = _release_config(prepared, ev_threshold=5.0)
    in_force = promote(strict, clock=clock, model=None, reason="strict", measure_gates=measure)  # type: ignore[arg-type]
    candidate = shadow(_release_config(prepared), clock=clock, model=None, reason="compare")
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


def test_the_gates_figures_are_measured_through_the_backtest_and_the_evaluator(
    prepared: TwinPrepared,
) -> None:
    config = _release_config(prepared)
    config = config.model_copy(
        update={
            "release": config.release.model_copy(update={"backtest_days": 14}),
            "backtest": config.backtest.model_copy(update={"min_history_days": 4}),
        }
    )
    stored = load_stored_model(FsspecObjectStore(str(prepared.run_dir / "models")))
    figures = measure(config, stored, config.themis)
    assert figures.backtest is not None and figures.backtest["bets"] >= 0
    assert figures.backtest["from"] < figures.backtest["to"] < prepared.day.date.isoformat()
    assert figures.backtest["return_rate"] is None or isinstance(
        figures.backtest["return_rate"], float
    )
    assert figures.monte_carlo is not None and figures.monte_carlo["kelly_fraction"] == 0.25
    assert figures.delta_r2 is not None and figures.delta_r2["delta"] is None
    assert "no race day after" in figures.delta_r2["why"]  # the twin's model saw every day
    lines = [r.line for r in judge(figures, config.themis, None, config.release) if not r.passed]
    assert any(
        line.startswith("delta_r2: the held-out ΔR² was not measured (no race") for line in lines
    )


def test_a_loss_after_a_promotion_rolls_back_and_the_day_runs_the_release_before(
    prepared: TwinPrepared,
) -> None:
    measure = _measured(GOOD)
    hour = dt.timedelta(hours=1)
    before = promote(
        _release_config(prepared),
        clock=FixedClock(WEDNESDAY_NOON),
        model=None,
        reason="first",
        measure_gates=measure,  # type: ignore[arg-type]
    )
    promote(
        _release_config(prepared, ev_threshold=1.15),
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
    last = _book(prepared).events(prepared.config.storage.dataset)[-1]
    assert (last.action, last.by, last.release.release_id) == (
        "rollback",
        AUTOMATIC,
        before["release_id"],
    )
