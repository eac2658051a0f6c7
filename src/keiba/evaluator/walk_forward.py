"""The walk-forward schedule of a backtest: one model per test month, built from before it.

Each calendar month of the backtest is a test window. Before it, the model is retrained on
every race day before the window: the last `combine_share` of those days fit the market stage
(Benter's combination, on predictions the model did not train on), the days before them train
the model (its latest 15% for early stopping). Nothing dated on or after the window's first day
is used to build its model, so each month is predicted out of time. The combine period's races
are priced as the engine would see them (`keiba.engine.recorded`) and predicted by the one
source of probabilities (`keiba.predictor.probabilities`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from keiba.common.config import BacktestConfig, ModelConfig
from keiba.common.errors import KeibaError
from keiba.common.storage.warehouse import Warehouse
from keiba.engine.recorded import priced_races
from keiba.model_training.combination import MarketCombination, fit_combination
from keiba.model_training.model import TrainedModel, train_model, training_frame
from keiba.model_training.starters import model_probabilities

__all__ = ["Window", "WindowModel", "plan_windows", "train_window"]

VALID_FRACTION = 0.15
MIN_COMBINE_DAYS = 2


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
class WindowModel:
    window: Window
    model: TrainedModel
    combination: MarketCombination
    plain: MarketCombination | None = None
    """The plain stage fitted on the same races, when `combination` is a richer one."""

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


def train_window(
    warehouse: Warehouse,
    window: Window,
    model_config: ModelConfig,
    backtest: BacktestConfig,
    progress: Callable[[str], None] = lambda _s: None,
    *,
    feature_names: Sequence[str] | None = None,
    stage: str = "plain",
    market_feature: bool = False,
) -> WindowModel:
    """Train the window's model (on `feature_names`, default all; boosted from the market if
    `model_config.offset` says so, reading the market if `market_feature`) and fit its market
    stage (`stage`, and the plain one beside a richer one) on its combine period."""
    day = dt.timedelta(days=1)
    progress(f"training for {window.test_from:%Y-%m}")
    train = training_frame(warehouse, window.train_from, window.valid_from - day)
    valid = training_frame(warehouse, window.valid_from, window.train_to)
    if train.is_empty():
        raise KeibaError(f"no training rows for the window starting {window.test_from}")
    model = train_model(
        train,
        valid if valid.height else None,
        model_config,
        feature_names=feature_names,
        market_feature=market_feature,
    )
    combine = priced_races(warehouse, window.combine_from, window.combine_to, backtest).frame
    frame = model_probabilities(model, warehouse, combine).frame
    combination = fit_combination(frame, stage=stage)
    plain = None if stage == "plain" else fit_combination(frame)
    return WindowModel(window, model, combination, plain)
