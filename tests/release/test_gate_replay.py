"""The gate's backtest replays the candidate's stored model through the engine, never retrains,
and leaves out the race days the model trained on, saying so on the release record.

Two models are trained on the twin's early race days (one with fewer, smaller trees); the gate
replays each on the days after their combination period.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from keiba.app.releases import measure, promote
from keiba.app.twin_day import TwinPrepared
from keiba.cli.main import app
from keiba.common.bet_types import BetType
from keiba.common.clock import FixedClock
from keiba.common.config import KeibaConfig
from keiba.common.storage import FsspecObjectStore
from keiba.common.storage.datasets import open_dataset
from keiba.evaluator import backtest
from keiba.evaluator.evaluation import evaluate_frame
from keiba.model_training.pipeline import (
    StoredModel,
    load_stored_model,
    plan_periods,
    train_and_store,
)
from keiba.release import judge

from .twin_release import WEDNESDAY_NOON, book_of, release_config


def _gate_config(prepared: TwinPrepared, **model: Any) -> KeibaConfig:
    """Themis sizing every ticket on win and place (no EV screen, full Kelly), so both models
    bet on the twin's few replayed days; the whole history in the gate's window."""
    config = release_config(prepared, ev_screen=False, kelly_fraction=1.0)
    return config.model_copy(
        update={
            "release": config.release.model_copy(update={"backtest_days": 400, "mc_seasons": 50}),
            "backtest": config.backtest.model_copy(update={"pools": (BetType.WIN, BetType.PLACE)}),
            "model": config.model.model_copy(update=model),
        }
    )


def _train_early(config: KeibaConfig, prepared: TwinPrepared) -> StoredModel:
    """A model trained on the first race days, its combination period ending on the 7th."""
    store = FsspecObjectStore(str(prepared.run_dir / "models"))
    with open_dataset(config) as warehouse:
        days = sorted(warehouse.query("SELECT DISTINCT race_date FROM races")["race_date"])
        periods = plan_periods(warehouse, days[0], days[4], days[5], days[6])
        trained = train_and_store(
            config, warehouse, store, periods, evaluate=evaluate_frame, rebuild_features=False
        )
    return trained.stored


def _no_training(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("the gate trained a model")


def test_the_gate_replays_the_stored_model_and_another_artefact_gives_another_figure(
    prepared: TwinPrepared, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _gate_config(prepared)
    second = _gate_config(prepared, num_boost_round=5, num_leaves=3)
    one, other = _train_early(first, prepared), _train_early(second, prepared)
    assert one.model.version != other.model.version
    monkeypatch.setattr(backtest, "train_window", _no_training)
    clock = FixedClock(WEDNESDAY_NOON)
    a = measure(first, one, first.themis, clock)
    b = measure(second, other, second.themis, FixedClock(WEDNESDAY_NOON + dt.timedelta(hours=1)))
    assert a.backtest is not None and b.backtest is not None
    for figures, stored in ((a.backtest, one), (b.backtest, other)):
        assert figures["model_version"] == stored.model.version
        assert figures["from"] > stored.periods.combine_to.isoformat()
        assert figures["clipped_days"] >= 7 and "replayed, not retrained" in figures["replayed"]
        predictions = pl.read_parquet(f"{figures['run']}/predictions.parquet")
        assert set(predictions["model_version"]) == {stored.model.version}
        assert predictions["race_date"].min() > stored.periods.combine_to  # type: ignore[operator]
    assert a.backtest["bets"] > 0 and b.backtest["bets"] > 0
    assert (a.backtest["bets"], a.backtest["profit_yen"]) != (
        b.backtest["bets"],
        b.backtest["profit_yen"],
    )
    assert a.monte_carlo is not None and a.monte_carlo["kelly_fraction"] == 1.0


def test_the_release_record_says_what_the_gate_replayed_and_clipped(
    prepared: TwinPrepared, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _gate_config(prepared)
    stored = _train_early(config, prepared)
    monkeypatch.setattr(backtest, "train_window", _no_training)
    event = promote(
        config, clock=FixedClock(WEDNESDAY_NOON), model=stored.model.version, reason="gated",
        force=True,
    )  # fmt: skip
    figures = event["release"]["gates"]["figures"]["backtest"]
    assert figures["model_version"] == stored.model.version
    assert "left out" in figures["replayed"] and figures["clipped_days"] >= 7
    recorded = book_of(prepared).find(config.storage.dataset, event["release_id"])
    assert recorded.gates["figures"]["backtest"]["replayed"] == figures["replayed"]


def test_the_backtest_command_replays_a_stored_model_and_refuses_an_unknown_one_in_a_line(
    prepared: TwinPrepared, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _gate_config(prepared)
    stored = _train_early(config, prepared)
    monkeypatch.setattr(backtest, "train_window", _no_training)
    home, dataset = str(config.home), config.storage.dataset
    env = {"KEIBA_STORAGE__OBJECT_STORE_URL": config.object_store_url}
    run = ["--home", home, "backtest", "run", "--dataset", dataset, "--no-report", "--json"]
    period = ["--from", "2000-01-01", "--to", "2100-01-01", "--model", stored.model.version]
    done = CliRunner().invoke(app, [*run, *period], env=env)
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["replayed"]["model_version"] == stored.model.version
    assert result["replayed"]["from"] > stored.periods.combine_to.isoformat()
    assert result["schedule"][0]["model_version"] == stored.model.version
    refused = CliRunner().invoke(app, [*run, *period[:-1], "fm-nonesuch"], env=env)
    assert refused.exit_code == 1 and len(refused.output.strip().splitlines()) == 1


def test_a_model_that_trained_on_every_day_is_not_replayed_and_the_gate_says_why(
    prepared: TwinPrepared,
) -> None:
    config = _gate_config(prepared)
    stored = load_stored_model(FsspecObjectStore(str(prepared.run_dir / "models")))
    figures = measure(config, stored, config.themis, FixedClock(WEDNESDAY_NOON))
    assert figures.backtest is not None and figures.backtest["bets"] == 0
    assert "no race day" in figures.backtest["why"] and "after it" in figures.backtest["why"]
    assert figures.monte_carlo is None
    lines = [r.line for r in judge(figures, config.themis, None, config.release) if not r.passed]
    assert lines[0].startswith("backtest: not run (model ")
    assert any(
        line.startswith("delta_r2: the held-out ΔR² was not measured (no race") for line in lines
    )
