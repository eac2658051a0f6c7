"""The Python API: the warehouse and backtest runs as Polars (or pandas) frames, for notebooks.

Every function only reads. The warehouse is opened read-only and closed before the function
returns; the home directory is found as the `keiba` command finds it (`home`, else
`$KEIBA_HOME`, else the default) and its configuration is applied. Anything missing or wrong
is a `KeibaError` whose message says what and which command helps. docs/python-api.md
describes every column.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import polars as pl

from keiba.common.config import KeibaConfig, load_config
from keiba.common.errors import KeibaError
from keiba.common.ids import Venue
from keiba.common.schema import table
from keiba.common.storage.datasets import open_dataset
from keiba.common.storage.warehouse import Warehouse
from keiba.evaluator.backtest_frames import BETS_SCHEMA, BacktestRun, latest_run

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BET_COLUMNS",
    "METRIC_COLUMNS",
    "PREDICTION_COLUMNS",
    "RACE_COLUMNS",
    "RUNNER_COLUMNS",
    "backtest_bets",
    "backtest_metrics",
    "predictions",
    "races",
    "runners",
]

DateLike = dt.date | str
VenueLike = Venue | int | str
PathLike = str | Path

TIME_ZONE = "Asia/Tokyo"
"""Instants (post time, prediction time) are shown in Japan time; storage keeps UTC."""
PREDICTIONS_TABLE = "predictions"
"""Written by `keiba model predict` (keiba.predictor.predict, not imported here: it loads
LightGBM)."""

_VENUE_NAMES = {v.value: v.name.title() for v in Venue}
_VENUE_JAPANESE = {v.value: v.japanese for v in Venue}
_VENUE_BY_NAME = {v.name.lower(): v for v in Venue} | {v.japanese: v for v in Venue}
_VENUE = ("venue_code", "venue", "venue_ja")

RACE_COLUMNS: tuple[str, ...] = (
    "race_id",
    "dataset",
    "race_date",
    *_VENUE,
    "meeting",
    "meeting_day",
    "race_no",
    "post_time",
    "race_name",
    "grade",
    "race_class",
    "surface",
    "distance_m",
    "direction",
    "going",
    "weather",
    "field_size",
    "source",
    "netkeiba_race_id",
)
_RACE_INFO = (
    "race_date",
    *_VENUE,
    "race_no",
    "post_time",
    "race_name",
    "grade",
    "race_class",
    "surface",
    "distance_m",
    "going",
    "field_size",
)
RUNNER_COLUMNS: tuple[str, ...] = (
    "race_id",
    *_RACE_INFO,
    *(c for c in table("runners").column_names if c != "race_id"),
)
PREDICTION_COLUMNS: tuple[str, ...] = (
    "race_id",
    "race_date",
    *_VENUE,
    "race_no",
    "post_time",
    "race_name",
    "horse_no",
    "horse_name",
    "jockey_name",
    "trainer_name",
    "model_version",
    "feature_version",
    "as_of",
    "p_model",
    "p_market",
    "p_combined",
    "win_odds_final",
    "popularity",
    "status",
    "finish_pos",
)
_METRIC_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "strategy": pl.String,
    "label": pl.String,
    "start_yen": pl.Int64,
    "end_yen": pl.Int64,
    "days": pl.Int64,
    "races": pl.Int64,
    "races_bet": pl.Int64,
    "bets": pl.Int64,
    "refunds": pl.Int64,
    "staked_yen": pl.Int64,
    "returned_yen": pl.Int64,
    "profit_yen": pl.Int64,
    "return_rate": pl.Float64,
    "return_rate_low": pl.Float64,
    "return_rate_high": pl.Float64,
    "hit_rate": pl.Float64,
    "hit_rate_low": pl.Float64,
    "hit_rate_high": pl.Float64,
    "max_drawdown": pl.Float64,
    "max_drawdown_yen": pl.Int64,
    "max_drawdown_days": pl.Int64,
    "sharpe_daily": pl.Float64,
    "sharpe_annualised": pl.Float64,
}
METRIC_COLUMNS: tuple[str, ...] = tuple(_METRIC_SCHEMA)
BET_COLUMNS: tuple[str, ...] = tuple(BETS_SCHEMA)
"""The columns of `backtest_bets` (keiba.evaluator.backtest_frames.BETS_SCHEMA)."""


# --- arguments -------------------------------------------------------------------------------


def _date(value: DateLike | None, name: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise KeibaError(f"{name} must be a date such as 2018-06-02, not {value!r}") from None


def _venue(value: VenueLike | None) -> Venue | None:
    if value is None:
        return None
    if isinstance(value, str) and not value.strip().isdigit():
        found = _VENUE_BY_NAME.get(value.strip().lower())
        if found is None:
            known = ", ".join(v.name.title() for v in Venue)
            raise KeibaError(f"unknown venue {value!r}: use a JRA racecourse ({known}) or 1–10")
        return found
    try:
        return Venue(int(value))
    except ValueError:
        raise KeibaError(f"unknown venue {value!r}: JRA racecourse codes are 1 to 10") from None


def _race_filter(
    date_from: DateLike | None, date_to: DateLike | None, venue: VenueLike | None
) -> tuple[str, list[Any]]:
    """A WHERE condition on the races table aliased `ra`, and its parameters."""
    start, end, place = _date(date_from, "date_from"), _date(date_to, "date_to"), _venue(venue)
    if start is not None and end is not None and end < start:
        raise KeibaError(f"empty date range: date_from {start} is after date_to {end}")
    conditions, params = ["TRUE"], []
    for condition, value in (
        ("ra.race_date >= ?", start),
        ("ra.race_date <= ?", end),
        ("ra.venue_code = ?", None if place is None else int(place)),
    ):
        if value is not None:
            conditions.append(condition)
            params.append(value)
    return " AND ".join(conditions), params


# --- reading ---------------------------------------------------------------------------------


def _config(home: PathLike | None, dataset: str | None = None) -> KeibaConfig:
    return load_config(None, home, {"storage": {"dataset": dataset}} if dataset else None)


@contextmanager
def _warehouse(
    home: PathLike | None, dataset: str | None, *, predictions: bool = False
) -> Iterator[Warehouse]:
    """The dataset's warehouse (default: the selected one), read-only, holding races (and
    `predictions`), else a KeibaError saying which command fills it."""
    config = _config(home, dataset)
    name, at = config.storage.dataset, f"keiba --home {config.home}"
    load = f"load races first with `{at} data import DIR --dataset {name}`"
    with open_dataset(config, read_only=True) as warehouse:
        if not warehouse.has_table("races"):
            raise KeibaError(f"the dataset {name!r} holds no races: {load}")
        if predictions and not warehouse.has_table(PREDICTIONS_TABLE):
            raise KeibaError(
                f"the dataset {name!r} holds no predictions: train a model and store its "
                f"predictions with `{at} model train --dataset {name}` then "
                f"`{at} model predict --dataset {name}`"
            )
        yield warehouse


def _readable(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    """Venue names beside the code, instants in Japan time, columns in `columns`' order."""
    code = pl.col("venue_code")
    instants = [c for c in ("post_time", "as_of") if c in columns]
    return frame.with_columns(
        code.replace_strict(_VENUE_NAMES, return_dtype=pl.String).alias("venue"),
        code.replace_strict(_VENUE_JAPANESE, return_dtype=pl.String).alias("venue_ja"),
        *(pl.col(c).dt.convert_time_zone(TIME_ZONE) for c in instants),
    ).select(columns)


def _as_pandas(frame: pl.DataFrame) -> pd.DataFrame:
    """Integers and booleans become pandas' nullable Int64 and boolean (a null stays a null,
    and yen stay integers); dates become datetime64; instants keep their time zone."""
    import pandas as pd
    import pyarrow as pa

    nullable = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
    return frame.to_pandas(types_mapper=nullable.get)


def _out(frame: pl.DataFrame, as_pandas: bool) -> pl.DataFrame | pd.DataFrame:
    return _as_pandas(frame) if as_pandas else frame


# --- the warehouse ---------------------------------------------------------------------------


@overload
def races(
    *,
    date_from: DateLike | None = None,
    date_to: DateLike | None = None,
    venue: VenueLike | None = None,
    dataset: str | None = None,
    home: PathLike | None = None,
    as_pandas: Literal[False] = False,
) -> pl.DataFrame: ...
@overload
def races(
    *,
    date_from: DateLike | None = None,
    date_to: DateLike | None = None,
    venue: VenueLike | None = None,
    dataset: str | None = None,
    home: PathLike | None = None,
    as_pandas: Literal[True],
) -> pd.DataFrame: ...
def races(
    *,
    date_from: DateLike | None = None,
    date_to: DateLike | None = None,
    venue: VenueLike | None = None,
    dataset: str | None = None,
    home: PathLike | None = None,
    as_pandas: bool = False,
) -> pl.DataFrame | pd.DataFrame:
    """One row per race of the warehouse, sorted by race_id (date, venue, meeting, race).

    `date_from` and `date_to` (dates or ISO strings) are inclusive; `venue` is a racecourse
    (`Venue.TOKYO`, 5, "Tokyo" or "東京"). Columns: `RACE_COLUMNS`.
    """
    where, params = _race_filter(date_from, date_to, venue)
    with _warehouse(home, dataset) as warehouse:
        frame = warehouse.query(
            f"SELECT * EXCLUDE (ingested_at) FROM races ra WHERE {where} ORDER BY ra.race_id",
            params,
        )
    return _out(_readable(frame, RACE_COLUMNS), as_pandas)


@overload
def runners(
    *,
    date_from: DateLike | None = None,
    date_to: DateLike | None = None,
    venue: VenueLike | None = None,
    dataset: str | None = None,
    home: PathLike | None = None,
    as_pandas: Literal[False] = False,
) -> pl.DataFrame: ...
@overload
def runners(
    *,
    date_from: DateLike | None = None,
    date_to: DateLike | None = None,
    venue: VenueLike | None = None,
    dataset: str | None = None,
    home: PathLike | None = None,
    as_pandas: Literal[True],
) -> pd.DataFrame: ...
def runners(
    *,
    date_from: DateLike | None = None,
    date_to: DateLike | None = None,
    venue: VenueLike | None = None,
    dataset: str | None = None,
    home: PathLike | None = None,
    as_pandas: bool = False,
) -> pl.DataFrame | pd.DataFrame:
    """One row per declared runner (scratched ones too: see `status`), with its race's date,
    venue, name and conditions, sorted by race_id and horse_no. Filters as in `races`.
    Columns: `RUNNER_COLUMNS`."""
    where, params = _race_filter(date_from, date_to, venue)
    race_info = ", ".join(f"ra.{c}" for c in _RACE_INFO if c not in ("venue", "venue_ja"))
    with _warehouse(home, dataset) as warehouse:
        frame = warehouse.query(
            f"SELECT r.*, {race_info} FROM runners r JOIN races ra ON ra.race_id = r.race_id "
            f"WHERE {where} ORDER BY r.race_id, r.horse_no",
            params,
        )
    return _out(_readable(frame, RUNNER_COLUMNS), as_pandas)


def _model_versions(warehouse: Warehouse) -> list[str]:
    found = warehouse.query(
        f"SELECT DISTINCT model_version FROM {PREDICTIONS_TABLE} ORDER BY model_version"
    )
    return [str(v) for v in found["model_version"]]


@overload
def predictions(
    model_version: str | None = None,
    *,
    date_from: DateLike | None = None,
    date_to: DateLike | None = None,
    venue: VenueLike | None = None,
    dataset: str | None = None,
    home: PathLike | None = None,
    as_pandas: Literal[False] = False,
) -> pl.DataFrame: ...
@overload
def predictions(
    model_version: str | None = None,
    *,
    date_from: DateLike | None = None,
    date_to: DateLike | None = None,
    venue: VenueLike | None = None,
    dataset: str | None = None,
    home: PathLike | None = None,
    as_pandas: Literal[True],
) -> pd.DataFrame: ...
def predictions(
    model_version: str | None = None,
    *,
    date_from: DateLike | None = None,
    date_to: DateLike | None = None,
    venue: VenueLike | None = None,
    dataset: str | None = None,
    home: PathLike | None = None,
    as_pandas: bool = False,
) -> pl.DataFrame | pd.DataFrame:
    """The stored win probabilities (`keiba model predict`) beside the market's and the final odds,
    with the horse's and the race's names; one row per starter and model version, sorted by
    model_version, race_id and horse_no. `model_version=None` reads every stored version.
    Filters as in `races`. Columns: `PREDICTION_COLUMNS`."""
    where, params = _race_filter(date_from, date_to, venue)
    if model_version is not None:
        where += " AND p.model_version = ?"
        params.append(model_version)
    with _warehouse(home, dataset, predictions=True) as warehouse:
        if model_version is not None and model_version not in (
            versions := _model_versions(warehouse)
        ):
            raise KeibaError(
                f"no predictions of model version {model_version!r} in the dataset "
                f"{warehouse.dataset!r}; "
                f"stored: {', '.join(versions) or 'none'}"
            )
        frame = warehouse.query(
            f"""SELECT p.race_id, p.horse_no, p.model_version, p.feature_version, p.as_of,
                   p.p_model, p.p_market, p.p_combined, r.horse_name, r.jockey_name,
                   r.trainer_name, r.win_odds_final, r.popularity, r.status, r.finish_pos,
                   ra.race_date, ra.venue_code, ra.race_no, ra.post_time, ra.race_name
            FROM {PREDICTIONS_TABLE} p JOIN races ra ON ra.race_id = p.race_id
            LEFT JOIN runners r ON r.race_id = p.race_id AND r.horse_no = p.horse_no
            WHERE {where} ORDER BY p.model_version, p.race_id, p.horse_no""",
            params,
        )
    return _out(_readable(frame, PREDICTION_COLUMNS), as_pandas)


# --- backtest runs ---------------------------------------------------------------------------


def _run_directory(run: PathLike | None, home: PathLike | None) -> Path:
    """`run` if it is a directory; else a run id under <home>/backtests; None: the latest."""
    if run is not None and run != "latest" and Path(run).expanduser().is_dir():
        return Path(run).expanduser()
    backtests = _config(home).home / "backtests"
    if run is None or run == "latest":
        return latest_run(backtests)
    return backtests / run


@overload
def backtest_bets(
    run: PathLike | None = None,
    *,
    home: PathLike | None = None,
    as_pandas: Literal[False] = False,
) -> pl.DataFrame: ...
@overload
def backtest_bets(
    run: PathLike | None = None,
    *,
    home: PathLike | None = None,
    as_pandas: Literal[True],
) -> pd.DataFrame: ...
def backtest_bets(
    run: PathLike | None = None,
    *,
    home: PathLike | None = None,
    as_pandas: bool = False,
) -> pl.DataFrame | pd.DataFrame:
    """Every ticket of every strategy of a backtest run, in the order they were bought.

    `run` is a run directory, a run id under <home>/backtests, or None (or "latest") for the
    latest run there. Columns: `BET_COLUMNS`.
    """
    return _out(BacktestRun.load(_run_directory(run, home)).bets, as_pandas)


def _metric_row(m: Mapping[str, Any]) -> dict[str, Any]:
    """One strategy's metrics (keiba.evaluator.backtest_metrics.strategy_metrics), flat."""
    drawdown, sharpe = m.get("max_drawdown") or {}, m.get("sharpe") or {}
    row = {k: m.get(k) for k in METRIC_COLUMNS}
    for rate in ("return_rate", "hit_rate"):
        interval = m.get(rate) or {}
        row |= {rate: interval.get("value")}
        row |= {f"{rate}_{end}": interval.get(end) for end in ("low", "high")}
    return row | {
        "max_drawdown": drawdown.get("fraction"),
        "max_drawdown_yen": drawdown.get("yen"),
        "max_drawdown_days": drawdown.get("days"),
        "sharpe_daily": sharpe.get("daily"),
        "sharpe_annualised": sharpe.get("annualised"),
    }


@overload
def backtest_metrics(
    run: PathLike | None = None,
    *,
    home: PathLike | None = None,
    as_pandas: Literal[False] = False,
) -> pl.DataFrame: ...
@overload
def backtest_metrics(
    run: PathLike | None = None,
    *,
    home: PathLike | None = None,
    as_pandas: Literal[True],
) -> pd.DataFrame: ...
def backtest_metrics(
    run: PathLike | None = None,
    *,
    home: PathLike | None = None,
    as_pandas: bool = False,
) -> pl.DataFrame | pd.DataFrame:
    """One row per strategy of a backtest run, in report order: money, return and hit rates
    with their 95% race-level bootstrap intervals, maximum drawdown and Sharpe ratio — the
    figures of the run's result.json, as `keiba backtest report` shows them. `run` as in
    `backtest_bets`. Columns: `METRIC_COLUMNS`."""
    directory = _run_directory(run, home)
    metrics: Mapping[str, Any] | None = BacktestRun.load(directory).result.get("metrics")
    if not isinstance(metrics, Mapping):
        raise KeibaError(f"{directory / 'result.json'} holds no metrics: the run is incomplete")
    rows = [_metric_row(m) for m in metrics.values()]
    return _out(pl.DataFrame(rows, schema=_METRIC_SCHEMA, orient="row"), as_pandas)
