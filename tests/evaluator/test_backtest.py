"""The backtester on the shipped 2018 season: money, settlement, baselines, monitor, schedule.

One aggressive run (every expected return ≥ 1.0 bought, wide late-odds drift, monitor tiers of
0.5% and 1%) makes Themis bet and the monitor stop it within March 2018, so every path runs.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from keiba.app.replay import run_backtest
from keiba.bankroll import Ledger
from keiba.common.clock import FixedClock
from keiba.common.config import KeibaConfig, load_config
from keiba.common.errors import KeibaError
from keiba.common.ids import Venue
from keiba.common.storage import DuckDBWarehouse, create_ledger_engine
from keiba.evaluator.backtest import ACCOUNT, BacktestResult
from keiba.evaluator.backtest_frames import STRATEGIES, BacktestRun
from keiba.evaluator.main_job import SAMPLE_DATASET, load_sample, load_sample_dataset

FROM, TO = dt.date(2018, 3, 1), dt.date(2018, 3, 31)
CLOCK_AT = dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC)
AGGRESSIVE: dict[str, Any] = {
    "logging": {"level": "warning"},
    "themis": {"ev_threshold": 1.0, "kelly_fraction": 0.5},
    "backtest": {"odds_drift": {"sigma": 0.4, "seed": 1}},
    "monitor": {
        "drawdown_tiers": [
            {"name": "warn", "drawdown": 0.005, "stake_multiplier": 0.5},
            {"name": "stop", "drawdown": 0.01, "stake_multiplier": 0.0, "stop_buying": True},
        ]
    },
}


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> KeibaConfig:
    home = tmp_path_factory.mktemp("backtest-home")
    return load_sample_dataset(load_config(None, home, AGGRESSIVE), FixedClock(CLOCK_AT))


@pytest.fixture(scope="module")
def run(config: KeibaConfig) -> BacktestResult:
    return run_backtest(config, FixedClock(CLOCK_AT), FROM, TO)


@pytest.fixture(scope="module")
def loaded(run: BacktestResult) -> BacktestRun:
    return BacktestRun.load(run.directory)


def _themis(loaded: BacktestRun) -> pl.DataFrame:
    return loaded.bets.filter(pl.col("strategy") == "themis")


def _ledger(run: BacktestResult) -> Ledger:
    engine = create_ledger_engine(f"sqlite:///{run.directory / 'ledger.sqlite'}")
    return Ledger(engine, FixedClock(CLOCK_AT), account=ACCOUNT)


def test_themis_bets_and_the_ledger_agree_to_the_yen(
    run: BacktestResult, loaded: BacktestRun
) -> None:
    bets = _themis(loaded)
    assert bets.height > 0, "the aggressive policy must bet"
    start = run.result["start_yen"]
    profit = int(bets["paid_yen"].sum()) - int(bets["stake_yen"].sum())
    ledger = _ledger(run)
    assert ledger.balance() == start + profit == run.result["ledger"]["final_balance_yen"]
    assert ledger.balances().reserved == 0
    tickets = {t["ticket_id"]: t for t in ledger.tickets()}
    assert len(tickets) == bets.height
    assert all(t["state"] == "settled" and t["receipt"] for t in tickets.values())
    assert sorted(int(t["payout_yen"]) for t in tickets.values()) == sorted(bets["paid_yen"])
    assert run.result["ledger"]["audit_ok"] is True
    assert run.result["decisions_recorded"] == bets["race_id"].n_unique()


def test_tickets_are_settled_by_the_official_payouts(
    config: KeibaConfig, loaded: BacktestRun
) -> None:
    warehouse = DuckDBWarehouse(config.duckdb_path)
    try:
        payouts = warehouse.query("SELECT race_id, bet_type, combination, payout_yen FROM payouts")
    finally:
        warehouse.close()
    paid = {(r, b, c): p for r, b, c, p in payouts.iter_rows()}
    for row in loaded.bets.iter_rows(named=True):
        per_100 = paid.get((row["race_id"], row["bet_type"], row["combination"]))
        expected = 0 if per_100 is None else row["stake_yen"] // 100 * per_100
        assert row["paid_yen"] == expected, row
        assert row["hit"] == (expected > 0)
        assert not row["refund"]


def test_baselines_bet_every_race_on_the_same_races(
    run: BacktestResult, loaded: BacktestRun
) -> None:
    races = run.result["races"]
    predictions = loaded.predictions
    for strategy in ("favourite", "top_pick"):
        bets = loaded.bets.filter(pl.col("strategy") == strategy)
        assert bets.height == races
        assert int(bets["stake_yen"].sum()) == 100 * races
    favourites = (
        predictions.sort("decision_odds", "horse_no")
        .group_by("race_id", maintain_order=True)
        .first()
        .select("race_id", pl.col("horse_no").cast(pl.String).alias("combination"))
    )
    chosen = loaded.bets.filter(pl.col("strategy") == "favourite").select("race_id", "combination")
    assert chosen.sort("race_id").equals(favourites.sort("race_id"))
    assert list(run.result["metrics"]) == list(STRATEGIES)
    assert set(loaded.daily["strategy"]) == set(STRATEGIES)


def test_bets_carry_the_race_the_horses_and_the_bankroll_they_were_sized_from(
    config: KeibaConfig, run: BacktestResult, loaded: BacktestRun
) -> None:
    warehouse = DuckDBWarehouse(config.duckdb_path)
    try:
        races = warehouse.query("SELECT race_id, venue_code, race_no, race_name FROM races")
        runners = warehouse.query("SELECT race_id, horse_no, horse_name FROM runners")
    finally:
        warehouse.close()
    about = {r: (Venue(int(v)).japanese, int(n), name) for r, v, n, name in races.iter_rows()}
    names = {(r, int(h)): name for r, h, name in runners.iter_rows()}
    win = loaded.bets.filter(pl.col("bet_type") == "win")
    assert win.height == loaded.bets.height  # 2018 offers the win pool only
    for bet in win.iter_rows(named=True):
        assert (bet["venue"], bet["race_no"], bet["race_name"]) == about[bet["race_id"]]
        assert bet["horses"] == names[(bet["race_id"], int(bet["combination"]))]
    themis = _themis(loaded)
    # the first Themis bet was sized from the start; each from what the account had left
    assert themis["bankroll_yen"][0] == run.result["start_yen"]
    assert (themis["bankroll_yen"] >= themis["stake_yen"]).all()
    # never more than the start plus the net of the earlier races (some may still be running)
    earlier = (
        themis.group_by("race_seq")
        .agg((pl.col("paid_yen") - pl.col("stake_yen")).sum().alias("net"))
        .sort("race_seq")
        .select("race_seq", (pl.col("net").cum_sum() - pl.col("net")).alias("earlier"))
    )
    sized = themis.join(earlier, on="race_seq")
    assert (sized["bankroll_yen"] <= run.result["start_yen"] + sized["earlier"]).all()
    assert (
        sized.filter(pl.col("race_seq") > pl.col("race_seq").min())["bankroll_yen"].min()
        < (run.result["start_yen"])
    )  # the losses of earlier races were taken out


def test_the_monitor_stops_buying_and_the_stop_is_in_the_audit_chain(
    run: BacktestResult, loaded: BacktestRun
) -> None:
    monitor = run.result["monitor"]
    assert monitor["stopped"] is True
    assert monitor["races_skipped"] > 0
    events = _ledger(run).monitor_events()
    stops = [e for e in events if e["kind"] == "drawdown_tier" and e["stop_buying"]]
    assert stops, events
    stopped_at = dt.datetime.fromisoformat(stops[0]["at"])
    # nothing bought after the stop: every Themis bet's race was decided before it
    assert _themis(loaded)["race_date"].max() <= stopped_at.date()
    skipped = loaded.daily.filter(
        (pl.col("strategy") == "themis") & (pl.col("race_date") > stopped_at.date())
    )
    assert skipped.height > 0 and int(skipped["staked_yen"].sum()) == 0


def test_each_month_is_predicted_by_a_model_trained_before_it(
    run: BacktestResult, loaded: BacktestRun
) -> None:
    schedule = run.result["schedule"]
    assert len(schedule) == 1
    window = schedule[0]
    assert window["combine_to"] < window["test_from"] == "2018-03-03"
    assert window["train_to"] < window["combine_from"]
    assert set(loaded.predictions["model_version"]) == {window["model_version"]}
    assert loaded.predictions["race_date"].min() >= FROM


def test_the_sample_runs_in_its_own_dataset_and_the_run_records_it(
    config: KeibaConfig, run: BacktestResult
) -> None:
    assert run.result["dataset"] == {"name": SAMPLE_DATASET, "kind": "real"}
    assert run.result["data_source"].startswith(f"dataset {SAMPLE_DATASET} (real, ")
    assert sorted(p.name for p in (config.home / "warehouse").iterdir()) == [
        "jra2018-sample.duckdb"
    ]  # the user's selected dataset (default) was never created


def test_every_output_says_the_odds_are_modelled(run: BacktestResult) -> None:
    caveats = " ".join(run.result["caveats"])
    assert "late-drift model" in caveats and "σ = 0.4" in caveats
    assert "estimated" in caveats  # 2018 has no post times
    assert run.result["races_incomplete"] > 0
    assert run.result["races_unpredicted"] == 0  # every complete 2018 race has a winner
    assert f"{run.result['races_incomplete']:,} races in the period lack rows" in caveats


def test_the_same_backtest_gives_the_same_bets(
    config: KeibaConfig, run: BacktestResult, loaded: BacktestRun, tmp_path: Path
) -> None:
    again = run_backtest(config, FixedClock(CLOCK_AT), FROM, TO, run_dir=tmp_path / "again")
    second = BacktestRun.load(again.directory)
    assert second.bets.equals(loaded.bets)
    assert second.daily.equals(loaded.daily)
    assert again.result["metrics"] == run.result["metrics"]


def test_a_run_directory_is_never_overwritten(config: KeibaConfig, run: BacktestResult) -> None:
    with pytest.raises(KeibaError, match="already holds a backtest run"):
        run_backtest(config, FixedClock(CLOCK_AT), FROM, TO, run_dir=run.directory)


def test_too_early_a_start_is_refused(config: KeibaConfig, tmp_path: Path) -> None:
    with pytest.raises(KeibaError, match="2018-01 has 0 race days before it"):
        run_backtest(config, FixedClock(CLOCK_AT), dt.date(2018, 1, 1), TO, run_dir=tmp_path / "x")


def test_exotic_pools_are_bought_at_snapshot_odds_and_settled_by_the_payouts(
    tmp_path: Path,
) -> None:
    """Quinella quotes taken before the decision (generous ones, so Themis buys) are offered
    beside win; every quinella ticket is paid exactly its official payout row."""
    from contract_frames import contract_frame
    from keiba.common.bet_types import BetType
    from keiba.common.schema import table
    from keiba.themis import exotics

    config = load_config(
        None,
        tmp_path,
        {**AGGRESSIVE, "backtest": {"pools": ["win", "quinella"], "monitor": False}},
    )
    day = dt.date(2018, 3, 3)
    warehouse = DuckDBWarehouse(config.duckdb_path)
    try:
        load_sample(warehouse)
        runners = warehouse.query(
            "SELECT race_id, horse_no, win_odds_final FROM runners JOIN races USING (race_id) "
            "WHERE race_date = ? AND win_odds_final IS NOT NULL ORDER BY race_id, horse_no",
            [day],
        )
        rows = []
        for (race_id,), race in runners.group_by("race_id", maintain_order=True):
            inverse = {
                int(h): 1 / o for h, o in zip(race["horse_no"], race["win_odds_final"], strict=True)
            }
            total = sum(inverse.values())
            orders = exotics.finish_orders({h: v / total for h, v in inverse.items()})
            quinella = exotics.combination_probabilities(orders, BetType.QUINELLA)
            rows += [
                {
                    "race_id": race_id,
                    "bet_type": "quinella",
                    "combination": combination,
                    "odds": max(1.1, round(1.15 / p, 1)),  # 15% over the fair price
                    "as_of": dt.datetime.combine(day, dt.time(0, 0), tzinfo=dt.UTC),
                    "stage": "interim",
                }
                for combination, p in quinella.items()
                if p > 0.002
            ]
        warehouse.load({"odds": contract_frame(table("odds"), rows)})
        payouts = {
            (r, c): p
            for r, c, p in warehouse.query(
                "SELECT race_id, combination, payout_yen FROM payouts WHERE bet_type = 'quinella'"
            ).iter_rows()
        }
    finally:
        warehouse.close()

    result = run_backtest(config, FixedClock(CLOCK_AT), day, day, run_dir=tmp_path / "run")
    bets = BacktestRun.load(result.directory).bets.filter(pl.col("strategy") == "themis")
    quinella = bets.filter(pl.col("bet_type") == "quinella")
    assert quinella.height > 0
    for row in quinella.iter_rows(named=True):
        per_100 = payouts.get((row["race_id"], row["combination"]))
        assert row["paid_yen"] == (0 if per_100 is None else row["stake_yen"] // 100 * per_100)
        assert row["final_odds"] is None  # no final quinella odds in the data
    assert "quinella" in result.result["metrics"]["themis"]["by_bet_type"]
    ledger = _ledger(result)
    assert ledger.balance() == result.result["start_yen"] + int(bets["paid_yen"].sum()) - int(
        bets["stake_yen"].sum()
    )


def test_a_race_without_payouts_is_left_out_and_named_never_lost(tmp_path: Path) -> None:
    config = load_config(None, tmp_path, AGGRESSIVE)
    day = dt.date(2018, 3, 3)
    warehouse = DuckDBWarehouse(config.duckdb_path)
    try:
        load_sample(warehouse)
        victim = warehouse.query("SELECT min(race_id) AS r FROM races WHERE race_date = ?", [day])[
            "r"
        ][0]
        warehouse._con.execute("DELETE FROM payouts WHERE race_id = ?", [victim])
    finally:
        warehouse.close()
    result = run_backtest(config, FixedClock(CLOCK_AT), day, day, run_dir=tmp_path / "run")
    assert result.result["races_without_payouts"] == [victim]
    assert any(victim in c and "could not be settled" in c for c in result.result["caveats"])
    run = BacktestRun.load(result.directory)
    assert victim not in set(run.bets["race_id"])
    assert victim not in set(run.predictions["race_id"])


def test_a_model_boosted_from_the_market_is_priced_with_the_odds_it_would_buy_at(
    tmp_path: Path,
) -> None:
    settings = {**AGGRESSIVE, "model": {"offset": "market"}}
    config = load_sample_dataset(load_config(None, tmp_path, settings), FixedClock(CLOCK_AT))
    result = run_backtest(config, FixedClock(CLOCK_AT), FROM, TO)
    predictions = BacktestRun.load(result.directory).predictions
    assert result.result["races_unpredicted"] == 0 and predictions.height > 0
    trees = (pl.col("p_model").log() - pl.col("p_market").log()).abs().mean().alias("t")
    against_final = (
        (pl.col("p_model").log() - pl.col("p_market_final").log()).abs().mean().alias("f")
    )
    drift = (pl.col("p_market").log() - pl.col("p_market_final").log()).abs().mean().alias("d")
    moved, final, drifted = predictions.select(trees, against_final, drift).row(0)
    # the model starts from the decision's market (the odds drift σ = 0.4 away from the final
    # ones): its probabilities follow those odds, not the final odds, and not the trees alone
    assert drifted > 0.1 and moved < 0.5 * final
