"""Walk-forward over years: each test year scored by a model built only from the years before it.

For a test year Y the fundamental model trains on every race day before the year Y−1 (its
latest 15% of days for early stopping), the market stage (Benter's combination) is fitted on
Y−1, on predictions of races the model never trained on, and every race of Y is scored out of
time. When there is no race day before Y−1 (the first test year after one season), the history
before Y is split instead: its last `combine_share` of race days fits the market stage. The
scores — market, model and combined pseudo-R², and ΔR² against the market with race-level
bootstrap intervals — are given per year and pooled over every test year's races; pooled, each
race keeps the model of its own year.

Ablations: for each feature group left out (`keiba.feature_engineering.FEATURE_GROUPS`) the
same years are run again with the models trained without that group's columns, and the pooled
combined log-likelihood of the full set is compared with the reduced set's, race by race: ΔR²
(full − without) with a bootstrap interval over the same race resamples as the ΔR² against the
market. A positive ΔR² whose interval excludes zero is what the group adds to the rest.

A richer market stage (`stage`, one of `keiba.model_training.combination.STAGES`) is fitted on
the same year Y−1 with the same model, beside the plain one: each year and the pool then also
give the plain stage's scores and the paired ΔR² of the richer stage against the plain one,
race by race, with a bootstrap interval over the same race resamples.

A fundamental model boosted from the market (`offset="market"`: LightGBM starts from each
runner's log market probability and its trees learn what the market leaves over;
`keiba.model_training.model`) is run the same way, and the plain model beside it on the same
windows: each year and the pool then also give the plain model's scores and the paired ΔR² of
the offset model's combination against the plain model's, race by race, with a bootstrap
interval over the same race resamples. A model reading the market as input
(`market_feature=True`: the runner's log market probability and its gap to the favourite as
feature columns, with the offset or without it) is compared with the plain model the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from keiba.common.config import BacktestConfig, ModelConfig
from keiba.common.errors import KeibaError
from keiba.common.storage.warehouse import Warehouse
from keiba.evaluator.evaluation import Evaluation, evaluate_frame
from keiba.evaluator.metrics import common_races, delta_r2_interval, score
from keiba.evaluator.walk_forward import (
    MIN_COMBINE_DAYS,
    VALID_FRACTION,
    Window,
    WindowModel,
    train_window,
)
from keiba.feature_engineering import FEATURE_COLUMNS, columns_without
from keiba.model_training.combination import STAGES
from keiba.model_training.model import OFFSETS
from keiba.model_training.pipeline import scored_frame

__all__ = ["Ablation", "YearResult", "YearlyWalkForward", "plan_years", "walk_forward_years"]

MIN_TRAIN_DAYS = 8


def _window(test: list[dt.date], train: list[dt.date], combine: list[dt.date]) -> Window:
    n_valid = max(1, round(len(train) * VALID_FRACTION))
    return Window(
        test[0], test[-1], train[0], train[-1], train[len(train) - n_valid], combine[0], combine[-1]
    )


def plan_years(
    days: Sequence[dt.date], years: Sequence[int], *, combine_share: float
) -> list[Window]:
    """One window per test year: train before Y−1, combine on Y−1 (or on the last
    `combine_share` of the history when nothing precedes Y−1), test Y."""
    days = sorted(set(days))
    windows = []
    for year in sorted(set(years)):
        test = [d for d in days if d.year == year]
        if not test:
            raise KeibaError(f"the dataset has no race day in {year}")
        history = [d for d in days if d.year < year]
        before_last = [d for d in history if d.year < year - 1]
        last_year = [d for d in history if d.year == year - 1]
        if len(before_last) >= MIN_TRAIN_DAYS and len(last_year) >= MIN_COMBINE_DAYS:
            train, combine = before_last, last_year
        else:
            n_combine = max(MIN_COMBINE_DAYS, round(len(history) * combine_share))
            train, combine = history[:-n_combine], history[-n_combine:]
        if len(train) < MIN_TRAIN_DAYS:
            raise KeibaError(
                f"the test year {year} has {len(history)} race days before it; at least "
                f"{MIN_TRAIN_DAYS + MIN_COMBINE_DAYS} are needed to train and combine"
            )
        windows.append(_window(test, train, combine))
    return windows


@dataclass(frozen=True)
class YearResult:
    year: int
    model: WindowModel
    evaluation: Evaluation
    versus_plain: dict[str, float] = field(default_factory=dict)
    """With a richer stage: the plain stage's scores and the paired ΔR² (`_versus_plain`);
    with an offset: the plain model's (`_versus_plain_model`)."""
    plain_model: WindowModel | None = None
    """With an offset: the plain model trained on the same window."""

    def row(self) -> dict[str, Any]:
        combination = self.model.combination
        plain = self.model.plain
        return (
            _row(str(self.year), self.evaluation)
            | self.versus_plain
            | {
                "stage": combination.stage,
                "alpha": combination.alpha,
                "beta": combination.beta,
                **combination.extra,
                **(
                    {"plain_alpha": plain.alpha, "plain_beta": plain.beta}
                    if plain is not None
                    else {}
                ),
                **(
                    {
                        "plain_model_alpha": self.plain_model.combination.alpha,
                        "plain_model_beta": self.plain_model.combination.beta,
                        "plain_model_version": self.plain_model.model.version,
                    }
                    if self.plain_model is not None
                    else {}
                ),
                **self.model.window.to_dict(),
                "model_version": self.model.model.version,
                "best_iteration": self.model.model.best_iteration,
            }
        )


def _versus_plain(frame: pl.DataFrame, evaluation: Evaluation, resamples: int) -> dict[str, float]:
    """The plain stage (`p_plain`) on the races `evaluation` scored: its pseudo-R², its ΔR²
    against the market, and the richer stage's (`p_combined`) ΔR² against it, paired race by
    race, each with its 95% bootstrap interval (the evaluation's race resamples)."""
    columns = ["p_market", "p_model", "p_combined", "p_plain"]
    columns += [c for c in ("p_true", "p_knowable") if c in evaluation.scores]
    same = common_races(frame, columns).filter((pl.col("won") > 0).any().over("race_id"))
    plain = score(same, "p_plain")
    if plain.races != evaluation.races:
        raise KeibaError(
            f"the plain stage scores {plain.races} races and the evaluation {evaluation.races}"
        )
    market, market_low, market_high = delta_r2_interval(
        same, "p_plain", "p_market", resamples=resamples
    )
    delta, low, high = delta_r2_interval(same, "p_combined", "p_plain", resamples=resamples)
    return {
        "plain_r2": plain.pseudo_r2,
        "plain_delta_r2": market,
        "plain_delta_r2_low": market_low,
        "plain_delta_r2_high": market_high,
        "versus_plain": delta,
        "versus_plain_low": low,
        "versus_plain_high": high,
    }


def _beside(
    frame: pl.DataFrame,
    other: pl.DataFrame,
    model_as: str,
    combined_as: str,
    scored: Sequence[str] = (),
) -> pl.DataFrame:
    """`frame` with `other`'s p_model and p_combined beside its own (renamed `model_as`,
    `combined_as`), on the races where both, the market and `scored` price every starter and
    that have a winner: the races two runs are compared on, race by race."""
    both = frame.join(
        other.select(
            "race_id",
            "horse_no",
            pl.col("p_model").alias(model_as),
            pl.col("p_combined").alias(combined_as),
        ),
        on=["race_id", "horse_no"],
        how="left",
    )
    columns = ["p_market", "p_model", "p_combined", model_as, combined_as, *scored]
    return common_races(both, columns).filter((pl.col("won") > 0).any().over("race_id"))


def _versus_plain_model(
    frame: pl.DataFrame, plain: pl.DataFrame, evaluation: Evaluation, resamples: int
) -> dict[str, float]:
    """The plain model's run (`plain`: its `p_model`, `p_combined`) on the races `evaluation`
    scored in `frame` (the offset model's run): its model and combined pseudo-R², its combined
    ΔR² against the market, and the offset model's combined ΔR² against it, paired race by race,
    each with its 95% bootstrap interval (the evaluation's race resamples)."""
    scored = [c for c in ("p_true", "p_knowable") if c in evaluation.scores]
    same = _beside(frame, plain, "p_plain_model", "p_plain_combined", scored)
    combined = score(same, "p_plain_combined")
    if combined.races != evaluation.races:
        raise KeibaError(
            f"the plain model scores {combined.races} races and the offset model {evaluation.races}"
        )
    market, market_low, market_high = delta_r2_interval(
        same, "p_plain_combined", "p_market", resamples=resamples
    )
    delta, low, high = delta_r2_interval(
        same, "p_combined", "p_plain_combined", resamples=resamples
    )
    return {
        "plain_model_r2": score(same, "p_plain_model").pseudo_r2,
        "plain_combined_r2": combined.pseudo_r2,
        "plain_delta_r2": market,
        "plain_delta_r2_low": market_low,
        "plain_delta_r2_high": market_high,
        "versus_plain_model": delta,
        "versus_plain_model_low": low,
        "versus_plain_model_high": high,
    }


def _row(label: str, evaluation: Evaluation) -> dict[str, Any]:
    scores = evaluation.scores
    delta, low, high = evaluation.delta_r2["p_combined"]
    model_delta, model_low, model_high = evaluation.delta_r2["p_model"]
    return {
        "year": label,
        "races": evaluation.races,
        "market_r2": scores["p_market"].pseudo_r2,
        "model_r2": scores["p_model"].pseudo_r2,
        "combined_r2": scores["p_combined"].pseudo_r2,
        "delta_r2": delta,
        "delta_r2_low": low,
        "delta_r2_high": high,
        "model_delta_r2": model_delta,
        "model_delta_r2_low": model_low,
        "model_delta_r2_high": model_high,
    }


@dataclass(frozen=True)
class Ablation:
    """The pooled walk-forward with one feature group left out, against the full set."""

    group: str
    features: int
    races: int
    model_r2: float
    combined_r2: float
    delta_r2: float
    """Pooled combined pseudo-R² of the full set minus that of the set without `group`."""
    delta_r2_low: float
    delta_r2_high: float

    def row(self) -> dict[str, Any]:
        return {"without": self.group, **{k: v for k, v in vars(self).items() if k != "group"}}


@dataclass(frozen=True)
class YearlyWalkForward:
    """Every test year's result, the pooled evaluation of all their races and the ablations."""

    years: list[YearResult]
    pooled: Evaluation
    ablations: list[Ablation]
    stage: str = "plain"
    pooled_versus_plain: dict[str, float] = field(default_factory=dict)
    offset: str | None = None
    market_feature: bool = False

    def rows(self) -> list[dict[str, Any]]:
        """One row per year, then the pooled row (year `pooled`)."""
        pooled = _row("pooled", self.pooled) | self.pooled_versus_plain | {"stage": self.stage}
        return [y.row() for y in self.years] + [pooled]

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for year in self.years:
            out |= year.evaluation.metrics(prefix=f"y{year.year}_")
            out |= {f"y{year.year}_{k}": v for k, v in year.versus_plain.items()}
            out |= {f"y{year.year}_{k}": v for k, v in year.model.combination.extra.items()}
        out |= {f"pooled_{k}": v for k, v in self.pooled_versus_plain.items()}
        for a in self.ablations:
            out |= {
                f"without_{a.group}_{k}": float(v)
                for k, v in a.row().items()
                if k not in ("without", "features")
            }
        return out | self.pooled.metrics(prefix="pooled_")

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "offset": self.offset,
            "market_feature": self.market_feature,
            "rows": self.rows(),
            "ablations": [a.row() for a in self.ablations],
            "years": {str(y.year): y.evaluation.to_dict() for y in self.years},
            "pooled": self.pooled.to_dict(),
        }


def _run_years(
    warehouse: Warehouse,
    windows: Sequence[Window],
    model_config: ModelConfig,
    backtest: BacktestConfig,
    feature_names: Sequence[str],
    progress: Callable[[int], None],
    stage: str,
    offset: str | None = None,
    market_feature: bool = False,
) -> tuple[list[WindowModel], pl.DataFrame]:
    """Each window's model and its test year's scored frame, pooled (rows of every year; with
    a richer stage, the plain stage's probabilities as `p_plain`); `progress(i)` before the
    i-th window."""
    models, frames = [], []
    for i, window in enumerate(windows):
        progress(i)
        model = train_window(
            warehouse,
            window,
            model_config.model_copy(update={"offset": offset}),
            backtest,
            feature_names=feature_names,
            stage=stage,
            market_feature=market_feature,
        )
        models.append(model)
        frame = scored_frame(
            warehouse, model.model, model.combination, window.test_from, window.test_to
        )
        if model.plain is not None:
            frame = frame.with_columns(model.plain.apply(frame).alias("p_plain"))
        frames.append(frame)
    return models, pl.concat(frames, how="diagonal_relaxed")


def _ablation(
    group: str, features: int, full: pl.DataFrame, reduced: pl.DataFrame, resamples: int
) -> Ablation:
    """The full set's pooled frame against the reduced set's, on the races both score (the
    races the full evaluation scores, so the bootstrap draws the same resamples)."""
    both = _beside(full, reduced, "p_model_without", "p_combined_without")
    delta, low, high = delta_r2_interval(
        both, "p_combined", "p_combined_without", resamples=resamples
    )
    return Ablation(
        group,
        features,
        score(both, "p_combined").races,
        score(both, "p_model_without").pseudo_r2,
        score(both, "p_combined_without").pseudo_r2,
        delta,
        low,
        high,
    )


def walk_forward_years(
    warehouse: Warehouse,
    years: Sequence[int],
    model_config: ModelConfig,
    backtest: BacktestConfig,
    *,
    without: Sequence[str] = (),
    resamples: int = 1000,
    stage: str = "plain",
    offset: str | None = None,
    market_feature: bool = False,
    progress: Callable[[str, int, int], None] = lambda _s, _d, _t: None,
) -> YearlyWalkForward:
    """Train, combine (with the market stage `stage`; a richer one is also compared with the
    plain one) and score each test year (features must be built); pool the years; then, for
    each group in `without`, the same without that group's features (an `Ablation`). The models
    boost from `model_config.offset`; with an `offset` given, they boost from it (ablations
    too), and the plain model (no offset) is run beside them on the same windows and compared
    race by race. With `market_feature`, the models also read the market as input (with the
    offset `offset`, or none), and are compared with the plain model (neither) the same way."""
    if stage not in STAGES:
        raise KeibaError(f"unknown market stage {stage!r}; the stages are {', '.join(STAGES)}")
    if offset is not None and offset not in OFFSETS:
        raise KeibaError(f"unknown offset {offset!r}; the offsets are {', '.join(OFFSETS)}")
    richer = stage != "plain"
    compared = offset is not None or market_feature
    if not compared:
        offset = model_config.offset
    if richer and compared:
        raise KeibaError("a richer market stage and an offset are compared one at a time")
    reduced = {group: columns_without([group]) for group in dict.fromkeys(without)}
    days = list(warehouse.query("SELECT DISTINCT race_date FROM races")["race_date"])
    windows = plan_years(days, years, combine_share=backtest.combine_share)
    runs = 1 + len(reduced) + compared
    total = len(windows) * runs
    models, pooled = _run_years(
        warehouse,
        windows,
        model_config,
        backtest,
        FEATURE_COLUMNS,
        lambda i: progress("years", i, total),
        stage,
        offset,
        market_feature,
    )
    plain_models: list[WindowModel | None] = [None] * len(windows)
    plain_pooled: pl.DataFrame | None = None
    if compared:
        done = len(windows) * (runs - 1)
        found, plain_pooled = _run_years(
            warehouse,
            windows,
            model_config,
            backtest,
            FEATURE_COLUMNS,
            lambda i: progress("years", done + i, total),
            stage,
            None,
            False,
        )
        plain_models = list(found)
    results = []
    for window, model, plain in zip(windows, models, plain_models, strict=True):
        within = pl.col("race_date").is_between(window.test_from, window.test_to)
        frame = pooled.filter(within)
        evaluation = evaluate_frame(frame, resamples=resamples)
        versus = _versus_plain(frame, evaluation, resamples) if richer else {}
        if plain_pooled is not None:
            versus = _versus_plain_model(frame, plain_pooled.filter(within), evaluation, resamples)
        results.append(YearResult(window.test_from.year, model, evaluation, versus, plain))
    ablations = []
    for k, (group, names) in enumerate(reduced.items()):
        done = len(windows) * (1 + k)

        def step(i: int, done: int = done) -> None:
            progress("years", done + i, total)

        _, frame = _run_years(
            warehouse, windows, model_config, backtest, names, step, stage, offset, market_feature
        )
        ablations.append(_ablation(group, len(names), pooled, frame, resamples))
    progress("years", total, total)
    evaluation = evaluate_frame(pooled, resamples=resamples)
    versus = _versus_plain(pooled, evaluation, resamples) if richer else {}
    if plain_pooled is not None:
        versus = _versus_plain_model(pooled, plain_pooled, evaluation, resamples)
    return YearlyWalkForward(results, evaluation, ablations, stage, versus, offset, market_feature)
