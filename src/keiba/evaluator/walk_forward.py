"""Walk-forward schedule and the priced, predicted races a backtest replays.

Each calendar month of the backtest is a test window. Before it, the model is retrained on
every race day before the window: the last `combine_share` of those days fit the market stage
(Benter's combination, on predictions the model did not train on), the days before them train
the model (its latest 15% for early stopping). Nothing dated on or after the window's first day
is used to build its model, so each month is predicted out of time.

`priced_races` gives the starters of complete races (a row for every declared runner: the
market over the known finishers alone would use the result) with the odds a bettor saw at
decision time: the latest odds snapshot taken before the decision when the warehouse has one,
else the final odds moved by the late-drift model (`keiba.market.odds_drift`). Decision time
is post time minus the lead; where post time is unknown (the 2018 data), it is estimated from
the race number (R1 at 10:00 JST, 30 minutes apart) and the venue's place in the day (10
minutes apart), and the estimate is reported.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from keiba.common.clock import JST
from keiba.common.config import BacktestConfig, ModelConfig
from keiba.common.errors import KeibaError
from keiba.common.storage.warehouse import Warehouse
from keiba.market.fields import COMPLETE_FIELDS_SQL
from keiba.market.odds_drift import decision_odds
from keiba.market.probabilities import market_probabilities
from keiba.model_training.combination import MarketCombination, fit_combination
from keiba.model_training.model import TrainedModel, predict_proba, train_model, training_frame

__all__ = ["PricedRaces", "Window", "WindowModel", "plan_windows", "priced_races", "train_window"]

VALID_FRACTION = 0.15
MIN_COMBINE_DAYS = 2
FIRST_POST = dt.time(10, 0)
RACE_SPACING = dt.timedelta(minutes=30)
VENUE_SPACING = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class Window:
    """One test month and the periods its model was built from."""

    test_from: dt.date
    test_to: dt.date
    train_from: dt.date
    train_to: dt.date
    valid_from: dt.date
    combine_from: dt.date
    combine_to: dt.date

    def to_dict(self) -> dict[str, str]:
        return {k: v.isoformat() for k, v in asdict(self).items()}


def plan_windows(
    days: Sequence[dt.date],
    date_from: dt.date,
    date_to: dt.date,
    *,
    min_history_days: int,
    combine_share: float,
) -> list[Window]:
    """One window per calendar month with race days in [date_from, date_to]."""
    if date_to < date_from:
        raise KeibaError(f"--to {date_to} is before --from {date_from}")
    days = sorted(set(days))
    tested = [d for d in days if date_from <= d <= date_to]
    if not tested:
        raise KeibaError(f"no race days between {date_from} and {date_to} in the warehouse")
    months: dict[tuple[int, int], list[dt.date]] = {}
    for d in tested:
        months.setdefault((d.year, d.month), []).append(d)
    windows = []
    for (year, month), test_days in months.items():
        history = [d for d in days if d < test_days[0]]
        if len(history) < min_history_days:
            raise KeibaError(
                f"the test month {year}-{month:02d} has {len(history)} race days before it; the "
                f"walk-forward model needs at least {min_history_days} "
                "(backtest.min_history_days): start the backtest later or import earlier data"
            )
        n_combine = max(MIN_COMBINE_DAYS, round(len(history) * combine_share))
        train, combine = history[:-n_combine], history[-n_combine:]
        n_valid = max(1, round(len(train) * VALID_FRACTION))
        windows.append(
            Window(
                test_days[0],
                test_days[-1],
                train[0],
                train[-1],
                train[len(train) - n_valid],
                combine[0],
                combine[-1],
            )
        )
    return windows


@dataclass(frozen=True)
class PricedRaces:
    """Starters with decision-time odds, and how those odds were obtained."""

    frame: pl.DataFrame
    """race_id, horse_no, frame_no, race_date, venue_code, race_no, post_at, decision_at,
    settle_at, post_estimated, final_odds, decision_odds, odds_source, won, p_market,
    p_market_final."""
    exotic_odds: dict[str, dict[str, dict[str, float]]]
    """race_id → bet type → combination → decision-time odds (pools other than win)."""


def _schedule(frame: pl.DataFrame, config: BacktestConfig) -> pl.DataFrame:
    """Post time (estimated where missing), decision and settlement times, all UTC."""
    venue_rank = (pl.col("venue_code").rank("dense").over("race_date").cast(pl.Int64) - 1).alias(
        "_venue_rank"
    )
    frame = frame.with_columns(venue_rank)
    first_post = [
        dt.datetime.combine(d, FIRST_POST, tzinfo=JST).astimezone(dt.UTC)
        for d in frame["race_date"].to_list()
    ]
    offsets = [
        fp + RACE_SPACING * (rn - 1) + VENUE_SPACING * vr
        for fp, rn, vr in zip(
            first_post, frame["race_no"].to_list(), frame["_venue_rank"].to_list(), strict=True
        )
    ]
    post = frame["post_time"].to_list()
    post_at = [
        p.astimezone(dt.UTC) if p is not None else e for p, e in zip(post, offsets, strict=True)
    ]
    lead = dt.timedelta(minutes=config.decision_lead_minutes)
    delay = dt.timedelta(minutes=config.settle_delay_minutes)
    return frame.drop("_venue_rank").with_columns(
        pl.Series("post_at", post_at, dtype=pl.Datetime("us", "UTC")),
        pl.Series("decision_at", [p - lead for p in post_at], dtype=pl.Datetime("us", "UTC")),
        pl.Series("settle_at", [p + delay for p in post_at], dtype=pl.Datetime("us", "UTC")),
        pl.Series("post_estimated", [p is None for p in post], dtype=pl.Boolean),
    )


def _snapshot_odds(
    warehouse: Warehouse, race_ids: list[str], bet_types: Sequence[str]
) -> pl.DataFrame:
    empty = pl.DataFrame(
        schema={
            "race_id": pl.String,
            "bet_type": pl.String,
            "combination": pl.String,
            "odds": pl.Float64,
            "as_of": pl.Datetime("us", "UTC"),
            "stage": pl.String,
        }
    )
    if not race_ids or not warehouse.has_table("odds"):
        return empty
    found = warehouse.query(
        "SELECT race_id, bet_type, combination, CAST(odds AS DOUBLE) AS odds, as_of, stage "
        "FROM odds WHERE race_id IN (SELECT unnest(?)) AND bet_type IN (SELECT unnest(?))",
        [race_ids, list(bet_types)],
    )
    if found.is_empty():
        return empty
    return found.with_columns(
        pl.col("as_of").dt.replace_time_zone(None).dt.replace_time_zone("UTC")
    )


def _latest_before(snapshots: pl.DataFrame, decision_at: dict[str, dt.datetime]) -> pl.DataFrame:
    """Per race and bet type, the rows of the latest snapshot taken at or before the decision;
    failing that, the final odds (flagged `final`)."""
    if snapshots.is_empty():
        return snapshots.with_columns(pl.lit(False).alias("needs_drift"))
    times = pl.DataFrame(
        {"race_id": list(decision_at), "decision_at": list(decision_at.values())},
        schema={"race_id": pl.String, "decision_at": pl.Datetime("us", "UTC")},
    )
    rows = snapshots.join(times, on="race_id")
    before = rows.filter(pl.col("as_of") <= pl.col("decision_at"))
    before = before.filter(
        pl.col("as_of") == pl.col("as_of").max().over("race_id", "bet_type")
    ).with_columns(pl.lit(False).alias("needs_drift"))
    have = before.select("race_id", "bet_type").unique()
    final = rows.filter(pl.col("stage") == "final").join(
        have, on=["race_id", "bet_type"], how="anti"
    )
    final = final.filter(
        pl.col("as_of") == pl.col("as_of").max().over("race_id", "bet_type")
    ).with_columns(pl.lit(True).alias("needs_drift"))
    return pl.concat([before, final]).drop("decision_at")


def priced_races(
    warehouse: Warehouse,
    date_from: dt.date,
    date_to: dt.date,
    config: BacktestConfig,
) -> PricedRaces:
    """Starters of the complete races dated in [date_from, date_to], priced at decision time."""
    frame = warehouse.query(
        f"""
        SELECT r.race_id, CAST(r.horse_no AS BIGINT) AS horse_no,
               CAST(r.frame_no AS BIGINT) AS frame_no, ra.race_date,
               CAST(ra.venue_code AS BIGINT) AS venue_code, CAST(ra.race_no AS BIGINT) AS race_no,
               ra.post_time, CAST(r.win_odds_final AS DOUBLE) AS final_odds,
               CAST(coalesce(r.finish_pos = 1, FALSE) AS DOUBLE) AS first
        FROM runners r JOIN races ra USING (race_id)
        WHERE ra.race_date BETWEEN ? AND ? AND r.status NOT IN ('scratched', 'excluded')
          AND r.race_id IN ({COMPLETE_FIELDS_SQL})
        ORDER BY ra.race_date, r.race_id, r.horse_no
        """,
        [date_from, date_to],
    )
    frame = frame.with_columns(
        (pl.col("first") / pl.col("first").sum().over("race_id")).fill_nan(0.0).alias("won"),
        pl.col("post_time").dt.replace_time_zone(None).dt.replace_time_zone("UTC"),
    ).drop("first")
    # a race without final odds for some starter cannot be priced: leave it out whole
    frame = frame.filter(~pl.col("final_odds").is_null().any().over("race_id"))
    frame = _schedule(frame, config)
    decision_at = dict(frame.select("race_id", "decision_at").unique("race_id").iter_rows())
    pools = [b.value for b in config.pools]
    chosen = _latest_before(_snapshot_odds(warehouse, list(decision_at), pools), decision_at)

    win_snap = chosen.filter(pl.col("bet_type") == "win")
    snap_map: dict[tuple[str, int], float] = {}
    snap_races = set()
    for race_id, combination, odds, needs_drift in win_snap.select(
        "race_id", "combination", "odds", "needs_drift"
    ).iter_rows():
        if not needs_drift:
            snap_map[(race_id, int(combination))] = float(odds)
            snap_races.add(race_id)
    drift = config.odds_drift
    odds_out: list[float] = []
    source: list[str] = []
    for (race_id,), rows in frame.group_by("race_id", maintain_order=True):
        horses = rows["horse_no"].to_list()
        if race_id in snap_races and all((race_id, h) in snap_map for h in horses):
            odds_out += [snap_map[(race_id, h)] for h in horses]
            source += ["snapshot"] * len(horses)
        else:
            odds_out += decision_odds(rows["final_odds"].to_list(), str(race_id), drift)
            label = "final" if drift.model == "none" or drift.sigma == 0 else "final+drift"
            source += [label] * len(horses)
    frame = frame.with_columns(
        pl.Series("decision_odds", odds_out, dtype=pl.Float64),
        pl.Series("odds_source", source, dtype=pl.String),
    )
    frame = frame.with_columns(
        market_probabilities(frame, "decision_odds"),
        market_probabilities(frame, "final_odds").alias("p_market_final"),
    )
    exotic: dict[str, dict[str, dict[str, float]]] = {}
    # a quote at 1.0 (元返し, common for wide and place) can never be bought at value
    for (race_id, bet_type, needs_drift), rows in (
        chosen.filter((pl.col("bet_type") != "win") & (pl.col("odds") > 1.0))
        .sort("race_id", "bet_type", "combination")  # the drift's draws follow the combinations
        .group_by("race_id", "bet_type", "needs_drift", maintain_order=True)
    ):
        combos = rows["combination"].to_list()
        odds = rows["odds"].to_list()
        if needs_drift:
            odds = decision_odds(odds, f"{race_id}/{bet_type}", drift)
        exotic.setdefault(str(race_id), {})[str(bet_type)] = dict(zip(combos, odds, strict=True))
    return PricedRaces(frame, exotic)


@dataclass(frozen=True)
class WindowModel:
    window: Window
    model: TrainedModel
    combination: MarketCombination

    def to_dict(self, races: int) -> dict[str, Any]:
        return {
            **self.window.to_dict(),
            "model_version": self.model.version,
            "best_iteration": self.model.best_iteration,
            "alpha": self.combination.alpha,
            "beta": self.combination.beta,
            "combine_races": self.combination.races,
            "races": races,
        }


def predict(model: TrainedModel, warehouse: Warehouse, priced: pl.DataFrame) -> pl.DataFrame:
    """`priced` with `p_model` (null where a starter has no features)."""
    if priced.is_empty():
        return priced.with_columns(pl.lit(None, dtype=pl.Float64).alias("p_model"))
    first, last = priced["race_date"].min(), priced["race_date"].max()
    assert isinstance(first, dt.date)
    assert isinstance(last, dt.date)
    features = training_frame(warehouse, first, last, feature_version=model.feature_version)
    p_model = features.select("race_id", "horse_no").with_columns(
        pl.Series("p_model", predict_proba(model, features), dtype=pl.Float64)
    )
    return priced.join(p_model, on=["race_id", "horse_no"], how="left", maintain_order="left")


def train_window(
    warehouse: Warehouse,
    window: Window,
    model_config: ModelConfig,
    backtest: BacktestConfig,
    progress: Callable[[str], None] = lambda _s: None,
) -> WindowModel:
    """Train the window's model and fit its market stage on its combine period."""
    day = dt.timedelta(days=1)
    progress(f"training for {window.test_from:%Y-%m}")
    train = training_frame(warehouse, window.train_from, window.valid_from - day)
    valid = training_frame(warehouse, window.valid_from, window.train_to)
    if train.is_empty():
        raise KeibaError(f"no training rows for the window starting {window.test_from}")
    model = train_model(train, valid if valid.height else None, model_config)
    combine = predict(
        model,
        warehouse,
        priced_races(warehouse, window.combine_from, window.combine_to, backtest).frame,
    )
    combination = fit_combination(combine)
    return WindowModel(window, model, combination)
