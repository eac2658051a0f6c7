"""What a backtest run leaves behind: the frames' schemas and the run directory's layout.

A run directory (`<home>/backtests/<run id>/`) holds

- `result.json`: the run's settings, periods, models, caveats and metrics (`BacktestRun.result`);
- `bets.parquet`: one row per ticket of every strategy (`BETS_SCHEMA`);
- `daily.parquet`: one row per strategy and race day (`DAILY_SCHEMA`);
- `predictions.parquet`: one row per starter of every replayed race (`PREDICTIONS_SCHEMA`);
- `ledger.sqlite`: the paper account of the Themis strategy (the real ledger, its own database).

The engine (`keiba.evaluator.backtest`) writes them; metrics and the report only read them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from keiba.common.errors import KeibaError

__all__ = [
    "BETS_SCHEMA",
    "DAILY_SCHEMA",
    "LATER_BETS_COLUMNS",
    "PREDICTIONS_SCHEMA",
    "STRATEGIES",
    "BacktestRun",
    "latest_run",
]

STRATEGIES: dict[str, str] = {
    "themis": "Themis on the model (+ market)",
    "favourite": "favourite, flat 100 yen",
    "top_pick": "model's top pick, flat 100 yen",
    "themis_market": "Themis on the market's own probabilities",
}
"""Strategy key → label, in the order reports show them."""

BETS_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "strategy": pl.String,
    "race_id": pl.String,
    "race_date": pl.Date,
    "race_seq": pl.Int64,
    # Position of the race in the replay (post-time order), shared by every strategy.
    "bet_type": pl.String,
    "combination": pl.String,
    "stake_yen": pl.Int64,
    "probability": pl.Float64,
    # The probability the strategy's own model gave the ticket (market's for the favourite).
    "decision_odds": pl.Float64,
    # The odds seen at decision time (place and wide: the low end).
    "final_odds": pl.Float64,
    # The final odds of the combination where known (win: the final win odds), else null.
    "paid_yen": pl.Int64,
    # Money returned: the payout, or the stake when refunded, or 0.
    "refund": pl.Boolean,
    "hit": pl.Boolean,
    "bankroll_yen": pl.Int64,
    # The balance the strategy sized the ticket from (cash, open stakes deducted).
    "venue": pl.String,
    # The racecourse in Japanese (東京), as the warehouse's venue code names it.
    "race_no": pl.Int64,
    "race_name": pl.String,
    "horses": pl.String,
    # The names of the combination's horses in its order ("A / B", ordered "A → B"); a bracket
    # names each frame's horses ("[A・B] / [C]").
}

LATER_BETS_COLUMNS = ("bankroll_yen", "venue", "race_no", "race_name", "horses")
"""Columns a run written before they existed lacks; `BacktestRun.load` reads them as null."""

DAILY_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "strategy": pl.String,
    "race_date": pl.Date,
    "start_yen": pl.Int64,
    "staked_yen": pl.Int64,
    "returned_yen": pl.Int64,
    "end_yen": pl.Int64,
    "races": pl.Int64,
    "races_bet": pl.Int64,
}

PREDICTIONS_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "race_id": pl.String,
    "race_date": pl.Date,
    "horse_no": pl.Int64,
    "model_version": pl.String,
    "p_model": pl.Float64,
    "p_combined": pl.Float64,
    "p_market": pl.Float64,
    # De-vigged from the odds seen at decision time.
    "p_market_final": pl.Float64,
    # De-vigged from the final odds.
    "decision_odds": pl.Float64,
    "final_odds": pl.Float64,
    "won": pl.Float64,
    # 1, or 1/k for each of k runners in a dead heat for first, else 0.
}


def _read(path: Path, schema: dict[str, Any], later: tuple[str, ...] = ()) -> pl.DataFrame:
    if not path.exists():
        raise KeibaError(f"{path} is missing: the backtest run is incomplete")
    frame = pl.read_parquet(path)
    frame = frame.with_columns(
        pl.lit(None, dtype=schema[c]).alias(c) for c in later if c not in frame.columns
    )
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise KeibaError(f"{path} lacks the columns {missing}")
    return frame.select(list(schema))


@dataclass(frozen=True)
class BacktestRun:
    """A finished run directory, read back."""

    directory: Path
    result: dict[str, Any]
    bets: pl.DataFrame
    daily: pl.DataFrame
    predictions: pl.DataFrame

    @classmethod
    def load(cls, directory: Path) -> BacktestRun:
        result_path = directory / "result.json"
        if not result_path.exists():
            raise KeibaError(f"{directory} is not a backtest run (no result.json)")
        try:
            result = json.loads(result_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise KeibaError(f"{result_path} is not valid JSON: {e}") from e
        return cls(
            directory,
            result,
            _read(directory / "bets.parquet", BETS_SCHEMA, LATER_BETS_COLUMNS),
            _read(directory / "daily.parquet", DAILY_SCHEMA),
            _read(directory / "predictions.parquet", PREDICTIONS_SCHEMA),
        )


def latest_run(backtests_dir: Path) -> Path:
    """The most recent run directory under `backtests_dir` (run ids sort by time)."""
    runs = sorted(p for p in backtests_dir.glob("*") if (p / "result.json").exists())
    if not runs:
        raise KeibaError(f"no backtest run under {backtests_dir}: run `keiba backtest run` first")
    return runs[-1]
