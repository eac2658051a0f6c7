"""The demo, the backtests and their reports from configuration: what `keiba demo` and
`keiba backtest …` do once their options are parsed.

`demo` and `backtest` replay the past on the wall clock (keiba.app.replay); `report` and
`simulate` read a run directory (keiba.evaluator.backtest_frames) and simulate bankroll paths
(keiba.evaluator.monte_carlo). Each returns what the command prints.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from keiba.app.replay import run_backtest, run_demo
from keiba.common.clock import SystemClock
from keiba.common.config import KeibaConfig
from keiba.common.storage import FsspecObjectStore
from keiba.common.storage.datasets import open_dataset
from keiba.evaluator.backtest_frames import BacktestRun, latest_run
from keiba.evaluator.backtest_monte_carlo import GROWTH_CAP, empirical_sample
from keiba.evaluator.backtest_report import (
    run_kelly_fraction,
    run_monte_carlo,
    sample_size_caveats,
    write_backtest_report,
    write_bundle_report,
)
from keiba.evaluator.main_job import MainJobSummary, load_sample_dataset
from keiba.evaluator.monte_carlo import MonteCarloParams, parse_floats
from keiba.evaluator.monte_carlo import simulate as simulate_seasons
from keiba.model_training.pipeline import check_model_dataset, load_stored_model

__all__ = ["backtest", "demo", "report", "simulate", "strategy_summaries"]

Progress = Callable[[str, int, int], None]

_ORDER = ("themis", "favourite", "top_pick", "themis_market")  # as backtest_frames.STRATEGIES


def demo(config: KeibaConfig, progress: Progress) -> MainJobSummary:
    """The main job end to end with the demo's engine (see keiba.app.replay)."""
    return run_demo(config, SystemClock(), progress)


def backtest(
    config: KeibaConfig,
    date_from: dt.date,
    date_to: dt.date,
    *,
    sample: bool,
    run_dir: Path | None,
    with_report: bool,
    progress: Progress,
    model: str | None = None,
) -> dict[str, Any]:
    """The walk-forward backtest of the selected dataset (`sample`: of the shipped 2018 JRA
    season); its result.json, its directory and, `with_report`, the report's path. `model`: that
    stored version replayed on the days after its training, nothing retrained."""
    if sample:
        config = load_sample_dataset(config, SystemClock())
    stored = None
    if model is not None:
        stored = load_stored_model(FsspecObjectStore(config.object_store_url), model)
        with open_dataset(config, read_only=True) as warehouse:
            check_model_dataset(stored, warehouse)
    result = run_backtest(
        config, SystemClock(), date_from, date_to, progress=progress, run_dir=run_dir, stored=stored
    )
    summary = dict(result.result)
    summary["directory"] = str(result.directory)
    if with_report:
        path = write_backtest_report(
            BacktestRun.load(result.directory), result.directory / "report.html"
        )
        summary["report_path"] = str(path)
    return summary


def _run_directory(config: KeibaConfig, run_dir: str | None) -> Path:
    """A run directory given by the user; `None` or 'latest': the latest under home."""
    if run_dir is None or run_dir == "latest":
        return latest_run(config.home / "backtests")
    return Path(run_dir)


def _ordered(metrics: Mapping[str, Any]) -> list[str]:
    return sorted(
        metrics,
        key=lambda s: (_ORDER.index(s), "") if s in _ORDER else (len(_ORDER), s),
    )


def strategy_summaries(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One JSON-ready row per strategy of a run's result.json, in report order."""
    metrics: Mapping[str, Any] = result.get("metrics") or {}
    rows = []
    for key in _ordered(metrics):
        m = metrics[key] or {}
        dd = m.get("max_drawdown") or {}
        rows.append(
            {
                "strategy": key,
                "label": m.get("label", key),
                "bets": int(m.get("bets") or 0),
                "races_bet": int(m.get("races_bet") or 0),
                "races": int(m.get("races") or 0),
                "staked_yen": int(m.get("staked_yen") or 0),
                "returned_yen": int(m.get("returned_yen") or 0),
                "profit_yen": int(m.get("profit_yen") or 0),
                "end_yen": m.get("end_yen"),
                "return_rate": m.get("return_rate"),
                "hit_rate": m.get("hit_rate"),
                "max_drawdown": dd.get("fraction"),
                "max_drawdown_days": dd.get("days"),
                "sharpe_annualised": (m.get("sharpe") or {}).get("annualised"),
            }
        )
    return rows


def report(
    config: KeibaConfig,
    run_dir: str | None,
    out_dir: Path | None,
    *,
    seasons: int,
    seed: int,
    progress: Progress,
) -> dict[str, Any]:
    """Write the HTML report of a backtest run (with its Monte Carlo bankroll paths); the
    summary the command prints, the run's result.json under `result`."""
    began = time.perf_counter()
    directory = _run_directory(config, run_dir)
    run = BacktestRun.load(directory)
    base = MonteCarloParams(
        unit_yen=config.themis.unit_yen,
        min_stake_yen=config.themis.min_stake_yen,
        ev_min=config.themis.ev_threshold,
    )
    bundle = run_monte_carlo(
        run,
        seasons=seasons,
        seed=seed,
        kelly_fraction=run_kelly_fraction(run.result) or config.themis.kelly_fraction,
        base=base,
        progress=progress,
    )
    path = write_bundle_report(run, (out_dir or directory) / "report.html", bundle)
    return {
        "run": str(directory),
        "run_id": run.result.get("run_id", directory.name),
        "period": run.result.get("period"),
        "report": str(path),
        "strategies": strategy_summaries(run.result),
        "caveats": [*(run.result.get("caveats") or []), *sample_size_caveats(run)],
        "monte_carlo": {
            "source": bundle.source,
            "empirical": bundle.empirical,
            "kelly_fraction": bundle.kelly_fraction,
            **bundle.result.as_dict(),
            "fans": [
                {"fraction": f.fraction, "overestimate": f.overestimate, "p_ruin": f.p_ruin}
                for f in bundle.fans
            ],
            "ruin_curve": bundle.ruin.as_dict(),
        },
        "result": run.result,
        "seconds": round(time.perf_counter() - began, 3),
    }


def _from_backtest(config: KeibaConfig, run_dir: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what the bets come from, the season's parameters) of a backtest run."""
    directory = _run_directory(config, run_dir)
    run = BacktestRun.load(directory)
    drawn = empirical_sample(run)  # refuses fewer than 30 bets
    season: dict[str, Any] = {
        "races": drawn.bets_per_season,
        "bet_share": 1.0,
        "empirical": drawn.pairs,
        "growth_cap": GROWTH_CAP,
    }
    if run.result.get("start_yen"):
        season["start_yen"] = int(run.result["start_yen"])
    source = {
        "run": str(directory),
        "bets": drawn.bets,
        "period_days": drawn.period_days,
        "bets_per_season": drawn.bets_per_season,
    }
    return source, season


def simulate(
    config: KeibaConfig,
    *,
    seasons: int,
    races: int | None,
    bet_share: float | None,
    fractions: str,
    overestimate: str,
    seed: int,
    start_yen: int | None,
    ev_min: float | None,
    ev_excess: float,
    market_return: float,
    from_backtest: str | None,
) -> tuple[dict[str, Any], float]:
    """Monte Carlo bankroll paths for Kelly fractions against an overestimated edge, the bets
    drawn from the assumed distribution or from a backtest run's Themis bets (`from_backtest`:
    its directory or 'latest'); the result and the seconds the simulation took."""
    season: dict[str, Any] = {"races": 3_454, "bet_share": 0.3}
    source: dict[str, Any] | None = None
    if from_backtest is not None:
        source, season = _from_backtest(config, from_backtest)
    params = MonteCarloParams(
        seasons=seasons,
        races=season["races"] if races is None else races,
        bet_share=season["bet_share"] if bet_share is None else bet_share,
        fractions=parse_floats(fractions, "--fractions"),
        overestimates=parse_floats(overestimate, "--overestimate"),
        seed=seed,
        start_yen=season.get("start_yen", config.demo.bankroll_yen)
        if start_yen is None
        else start_yen,
        unit_yen=config.themis.unit_yen,
        min_stake_yen=config.themis.min_stake_yen,
        ev_min=config.themis.ev_threshold if ev_min is None else ev_min,
        ev_excess=ev_excess,
        market_return=market_return,
        empirical=season.get("empirical"),
        growth_cap=season.get("growth_cap"),
    )
    began = time.perf_counter()
    result = simulate_seasons(params).as_dict()
    if source is not None:
        result["from_backtest"] = source
    return result, time.perf_counter() - began
