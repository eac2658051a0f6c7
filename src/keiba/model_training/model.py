"""The fundamental model: LightGBM whose scores, softmaxed within each race, are win probabilities.

`training_frame` joins point-in-time features to the winner label and the finishing positions;
`train_model` fits a booster on the discounted Plackett–Luce loss of the first
`order_places` finishers (its first stage is the winner's per-race softmax, conditional logit;
`order_places: 1` trains on the winner alone), with early stopping on the validation races'
winner log-loss; `predict_proba` turns a feature frame into probabilities that sum to 1 per
race.

With `model.offset: market` (`ModelConfig.offset`) the booster boosts from the market: each
runner's initial score is the log of its market probability (`p_market`, its race's win odds
de-vigged), so the trees learn only what the market leaves over, and the probabilities are
softmax(log p_market + trees). In training the offset of a race is its own final odds, past
at training time (`_with_market`); a race with a runner whose odds are missing, zero or
negative, or with a declared runner missing from the rows, is left out of training (counted in
the metrics as `offset_dropped_races`).
LightGBM adds the initial score to the scores its objective and metric see, but not to
`Booster.predict`: `predict_proba` adds it, from the frame's `p_market`, and refuses a frame
without a usable one. The offset is part of the model's version and stored with it.

With `market_feature=True` (a research variant, `keiba model walk-forward --market-feature`;
measured, not a setting) the trees also read the market as input columns (`MARKET_FEATURES`:
the runner's log p_market and its gap to the race's favourite, log p_market minus the race's
largest), from the same market as the offset: in training a race's own final odds, at
prediction the frame's `p_market`, which every frame the model prices must carry. The
columns are among the model's feature names (in its text, so in its version), and a model that
reads them is always priced with them (`uses_market`).

LightGBM is imported inside the functions that need it: importing this module (and the CLI
that imports it) stays fast.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import polars as pl

from keiba.common.config import ModelConfig
from keiba.common.errors import KeibaError
from keiba.common.storage.warehouse import Warehouse
from keiba.feature_engineering import FEATURE_COLUMNS, FEATURE_VERSION
from keiba.feature_engineering.build import FEATURES_TABLE, KEY_COLUMNS
from keiba.market.fields import COMPLETE_FIELDS_SQL
from keiba.model_training.objective import (
    group_codes,
    group_softmax,
    order_grad_hess,
    order_ranks,
    race_log_losses,
    softmax_grad_hess,
)

if TYPE_CHECKING:
    import lightgbm

__all__ = [
    "MARKET_FEATURES",
    "MARKET_OFFSET",
    "OFFSETS",
    "SOFTMAX_OBJECTIVE",
    "TrainedModel",
    "market_offset",
    "model_version",
    "predict_proba",
    "train_model",
    "training_frame",
    "uses_market",
    "with_market_features",
]

METRIC_NAME = "winner_log_loss"
MARKET_OFFSET = "market"
OFFSETS = (MARKET_OFFSET,)
"""The offsets a model can boost from (None: none, the trees alone)."""
MARKET_FEATURES = ("market_log_p", "market_log_p_gap")
"""The market as the trees' input (`train_model(market_feature=True)`): the runner's log
p_market, and it minus the largest log p_market of its race (0 for the favourite)."""
SOFTMAX_OBJECTIVE = "per-race softmax (conditional logit)"
# LightGBM writes the run's thread count among the parameters at the end of the model text
_THREADS_LINE = re.compile(r"^\[num_threads: [^\]\n]*\]\n", re.MULTILINE)


@dataclass(frozen=True)
class TrainedModel:
    """A trained fundamental model and what it was trained on.

    `booster` holds exactly `best_iteration` trees; `version` is derived from its text and the
    feature version, so the same training run always yields the same version.
    """

    version: str
    booster: lightgbm.Booster
    feature_names: tuple[str, ...]
    feature_version: str
    trained_from: dt.date
    trained_to: dt.date
    best_iteration: int
    metrics: dict[str, float] = field(default_factory=dict)
    objective: str = SOFTMAX_OBJECTIVE
    offset: str | None = None
    """`MARKET_OFFSET`: the scores are the trees' plus log p_market (see the module)."""


def uses_market(model: TrainedModel) -> bool:
    """Whether `model` is priced with the market (`p_market` of every runner): boosted from it,
    or reading it as a feature."""
    return model.offset is not None or any(c in model.feature_names for c in MARKET_FEATURES)


def with_market_features(frame: pl.DataFrame, column: str = "p_market") -> pl.DataFrame:
    """`frame` with `MARKET_FEATURES` from `column`, each race from its own rows alone;
    KeibaError (as `market_offset`) where a runner's market probability is missing or not
    positive."""
    log_p = pl.Series("market_log_p", market_offset(frame, column), dtype=pl.Float64)
    return frame.with_columns(log_p).with_columns(
        (pl.col("market_log_p") - pl.col("market_log_p").max().over("race_id")).alias(
            "market_log_p_gap"
        )
    )


def model_version(model_text: str, feature_version: str, offset: str | None = None) -> str:
    """`fm-` and the first 12 hex digits of sha256(model text, feature version[, offset]): a
    model boosted from an offset cannot pass for one without it."""
    head = feature_version if offset is None else f"{feature_version}\noffset={offset}"
    digest = hashlib.sha256(f"{head}\n{model_text}".encode()).hexdigest()
    return f"fm-{digest[:12]}"


def _check_offset(offset: str | None) -> None:
    if offset is not None and offset not in OFFSETS:
        raise KeibaError(f"unknown offset {offset!r}; the offsets are {', '.join(OFFSETS)}")


def market_offset(frame: pl.DataFrame, column: str = "p_market") -> npt.NDArray[np.float64]:
    """log `column` (the market's probability) row by row; KeibaError naming the first race with
    a runner whose market probability is missing or not positive."""
    if column not in frame.columns:
        raise KeibaError(f"the model boosts from the market and the frame has no {column!r}")
    p = frame[column].cast(pl.Float64).fill_null(np.nan).to_numpy()
    bad = ~(np.isfinite(p) & (p > 0))
    if bad.any():
        race = frame["race_id"][int(np.argmax(bad))]
        raise KeibaError(
            f"race {race} has a runner without a usable market probability: the model boosts "
            "from the market and cannot price it"
        )
    return np.asarray(np.log(p), dtype=np.float64)


def _with_market(frame: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """`frame` with `p_market` from `win_odds_final` (1/odds normalised within the race, as
    `keiba.market.probabilities`), keeping only the races whose every declared runner has a row
    (`complete_field`) with odds above zero; and the number of races left out."""
    for column in ("win_odds_final", "complete_field"):
        if column not in frame.columns:
            raise KeibaError(f"the training frame has no {column!r} column for the market offset")
    odds = pl.col("win_odds_final").cast(pl.Float64)
    usable = (odds.is_not_null() & odds.is_finite() & (odds > 0)).all().over("race_id")
    kept = frame.filter(usable & pl.col("complete_field").fill_null(False).all().over("race_id"))
    dropped = frame["race_id"].n_unique() - kept["race_id"].n_unique()
    inverse = 1.0 / pl.col("win_odds_final").cast(pl.Float64)
    return kept.with_columns((inverse / inverse.sum().over("race_id")).alias("p_market")), dropped


def training_frame(
    warehouse: Warehouse,
    date_from: dt.date | None,
    date_to: dt.date | None,
    *,
    feature_version: str = FEATURE_VERSION,
) -> pl.DataFrame:
    """Features of starters joined to the label `won` (1/k for a k-way dead heat, else 0),
    `finish_pos` (null for a runner that did not finish), the runner's `win_odds_final` and
    `complete_field` (every declared runner of the race has a row), for the market offset.

    Races dated in [date_from, date_to] (inclusive; None = open), without races that have no
    finished winner; sorted by race_id and horse_no.
    """
    if not warehouse.has_table(FEATURES_TABLE):
        raise KeibaError("the warehouse has no features table: build the features first")
    where = ""
    params: list[Any] = [feature_version]
    if date_from is not None:
        where += " AND f.race_date >= ?"
        params.append(date_from)
    if date_to is not None:
        where += " AND f.race_date <= ?"
        params.append(date_to)
    names = (*KEY_COLUMNS, *FEATURE_COLUMNS)
    sql = f"""WITH labelled AS (
      SELECT {", ".join(f"f.{c}" for c in names)},
        CASE WHEN r.status = 'finished' AND r.finish_pos = 1 THEN 1 ELSE 0 END AS is_winner,
        CASE WHEN r.status = 'finished' THEN r.finish_pos END AS finish_pos,
        CAST(r.win_odds_final AS DOUBLE) AS win_odds_final,
        f.race_id IN ({COMPLETE_FIELDS_SQL}) AS complete_field
      FROM {FEATURES_TABLE} f
      JOIN runners r ON r.race_id = f.race_id AND r.horse_no = f.horse_no
      WHERE f.feature_version = ?{where}
    ), counted AS (
      SELECT *, SUM(is_winner) OVER (PARTITION BY race_id) AS winners FROM labelled
    )
    SELECT {", ".join(names)},
      CASE WHEN is_winner = 1 THEN 1.0 / winners ELSE 0.0 END AS won, finish_pos,
      win_odds_final, complete_field
    FROM counted WHERE winners > 0
    ORDER BY race_id, horse_no"""
    frame = warehouse.query(sql, params)
    return frame.with_columns(
        pl.col("horse_no").cast(pl.Int64),
        pl.col("as_of").cast(pl.Datetime("us", "UTC")),
        *(pl.col(c).cast(pl.Float64) for c in (*FEATURE_COLUMNS, "won")),
        pl.col("finish_pos").cast(pl.Int64),
        pl.col("win_odds_final").cast(pl.Float64),
        pl.col("complete_field").cast(pl.Boolean),
    )


def _matrix(frame: pl.DataFrame, feature_names: Sequence[str]) -> npt.NDArray[np.float64]:
    missing = [c for c in feature_names if c not in frame.columns]
    if missing:
        raise KeibaError(f"the frame lacks feature columns: {', '.join(missing)}")
    matrix = frame.select(pl.col(c).cast(pl.Float64) for c in feature_names).to_numpy()
    return np.asarray(matrix, dtype=np.float64)


def _with_winner(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    for column in ("race_id", "race_date", "won"):
        if column not in frame.columns:
            raise KeibaError(f"the {name} frame has no {column!r} column")
    kept = frame.filter(pl.col("won").fill_null(0).sum().over("race_id") > 0)
    if kept.is_empty():
        raise KeibaError(f"the {name} frame has no race with a winner")
    return kept


def _feature_version(frame: pl.DataFrame) -> str:
    if "feature_version" not in frame.columns:
        return FEATURE_VERSION
    versions = frame["feature_version"].unique().to_list()
    if len(versions) != 1:
        raise KeibaError(f"the training frame mixes feature versions: {sorted(versions)}")
    return str(versions[0])


class _Races:
    """The race structure and labels of one dataset, for the objective and the metric."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.codes, self.n_groups = group_codes(frame["race_id"])
        self.labels = frame["won"].cast(pl.Float64).fill_null(0.0).to_numpy()

    def log_loss(self, scores: npt.ArrayLike) -> float:
        p = group_softmax(scores, self.codes, self.n_groups)
        return float(np.nanmean(race_log_losses(p, self.labels, self.codes, self.n_groups)))

    def uniform_log_loss(self) -> float:
        return self.log_loss(np.zeros(len(self.labels)))

    def objective(self, config: ModelConfig, frame: pl.DataFrame) -> Any:
        """The loss's gradient and Hessian: the winner's softmax, or the discounted
        Plackett–Luce loss of the first `config.order_places` finishers."""
        if config.order_places == 1:
            return lambda preds, _: softmax_grad_hess(preds, self.labels, self.codes, self.n_groups)
        if "finish_pos" not in frame.columns:
            raise KeibaError("the training frame has no 'finish_pos' column for order_places > 1")
        ranks = order_ranks(frame["finish_pos"].to_numpy(), self.codes, self.n_groups)
        powers = (1.0, config.order_gamma, *[config.order_delta] * (config.order_places - 2))
        return lambda preds, _: order_grad_hess(
            preds, self.labels, ranks, self.codes, self.n_groups, powers
        )


def train_model(
    train: pl.DataFrame,
    valid: pl.DataFrame | None,
    config: ModelConfig,
    *,
    feature_names: Sequence[str] | None = None,
    market_feature: bool = False,
) -> TrainedModel:
    """Fit the per-race softmax booster; early stopping on `valid`'s winner log-loss if given.

    Frames need race_id, race_date, won and the feature columns (`FEATURE_COLUMNS` unless
    `feature_names` says otherwise); races without a winner are ignored. With `config.offset`
    "market" they also need `win_odds_final` and `complete_field` (`training_frame`): the
    booster starts from each runner's log market probability (see the module); with
    `market_feature` the trees also read `MARKET_FEATURES`, from the same market. The same
    frames and config give the same model and version on any machine: column-wise histograms
    and `deterministic=True` make the trees independent of `config.num_threads`, which is left
    out of the model text.
    """
    import lightgbm as lgb

    offset = config.offset
    _check_offset(offset)
    names = tuple(feature_names) if feature_names is not None else FEATURE_COLUMNS
    names = tuple(c for c in names if c not in MARKET_FEATURES)
    if market_feature:
        names = (*names, *MARKET_FEATURES)
    train = _with_winner(train, "training")
    valid = None if valid is None else _with_winner(valid, "validation")
    dropped: dict[str, float] = {}
    if offset is not None or market_feature:
        train, n_train = _with_market(train)
        dropped["offset_dropped_races"] = float(n_train)
        train = _with_winner(train, "training")  # refuses a frame the market left empty
        if valid is not None:
            valid, n_valid = _with_market(valid)
            dropped["offset_dropped_races"] += float(n_valid)
            valid = valid if valid.height else None
    if market_feature:
        train = with_market_features(train)
        valid = None if valid is None else with_market_features(valid)
    train_races = _Races(train)
    train_init = market_offset(train) if offset is not None else None
    dtrain = lgb.Dataset(
        _matrix(train, names),
        label=train_races.labels,
        feature_name=list(names),
        init_score=train_init,
    )

    params: dict[str, Any] = {
        "objective": train_races.objective(config, train),
        "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves,
        "min_data_in_leaf": config.min_data_in_leaf,
        "feature_fraction": config.feature_fraction,
        "lambda_l2": config.lambda_l2,
        "seed": config.seed,
        "deterministic": True,
        "force_col_wise": True,
        "num_threads": config.num_threads,
        "metric": "None",
        "verbosity": -1,
    }
    valid_races: _Races | None = None
    valid_sets: list[lgb.Dataset] = []
    callbacks: list[Any] = []
    if valid is not None:
        valid_races = _Races(valid)
        valid_sets.append(
            lgb.Dataset(
                _matrix(valid, names),
                label=valid_races.labels,
                reference=dtrain,
                init_score=market_offset(valid) if offset is not None else None,
            )
        )
        callbacks.append(
            lgb.early_stopping(config.early_stopping_rounds, first_metric_only=True, verbose=False)
        )
    scored = valid_races

    def metric(preds: npt.NDArray[np.float64], _: lgb.Dataset) -> tuple[str, float, bool]:
        assert scored is not None
        return METRIC_NAME, scored.log_loss(preds), False

    booster = lgb.train(
        params,
        dtrain,
        num_boost_round=config.num_boost_round,
        valid_sets=valid_sets,
        valid_names=["valid"] if valid_sets else None,
        feval=metric if valid_sets else None,
        callbacks=callbacks,
    )
    best = booster.best_iteration if booster.best_iteration > 0 else booster.current_iteration()
    text = _THREADS_LINE.sub("", booster.model_to_string(num_iteration=best), count=1)
    final = lgb.Booster(model_str=text)
    feature_version = _feature_version(train)

    def scores(frame: pl.DataFrame) -> npt.NDArray[np.float64]:
        trees = np.asarray(final.predict(_matrix(frame, names)), dtype=np.float64)
        return trees + market_offset(frame) if offset is not None else trees

    metrics = {
        "train_races": float(train_races.n_groups),
        "train_log_loss": train_races.log_loss(scores(train)),
        "train_uniform_log_loss": train_races.uniform_log_loss(),
        **dropped,
    }
    if valid is not None and valid_races is not None:
        loss = valid_races.log_loss(scores(valid))
        uniform = valid_races.uniform_log_loss()
        metrics |= {
            "valid_races": float(valid_races.n_groups),
            "valid_log_loss": loss,
            "valid_uniform_log_loss": uniform,
            "valid_pseudo_r2": 1.0 - loss / uniform if uniform > 0 else 0.0,
        }
    return TrainedModel(
        version=model_version(text, feature_version, offset),
        booster=final,
        feature_names=names,
        feature_version=feature_version,
        trained_from=train["race_date"].min(),  # type: ignore[arg-type]
        trained_to=train["race_date"].max(),  # type: ignore[arg-type]
        best_iteration=int(best),
        metrics=metrics,
        objective=_objective_name(config),
        offset=offset,
    )


def _objective_name(config: ModelConfig) -> str:
    if config.order_places == 1:
        return SOFTMAX_OBJECTIVE
    return (
        f"discounted Plackett-Luce over the first {config.order_places} places "
        f"(gamma {config.order_gamma:g}, delta {config.order_delta:g})"
    )


def predict_proba(model: TrainedModel, frame: pl.DataFrame) -> npt.NDArray[np.float64]:
    """Win probabilities aligned to `frame`'s rows: softmax of the scores within each race_id.

    A model boosted from the market adds log `p_market` to its trees' scores, and a model
    reading the market computes `MARKET_FEATURES` from it: `frame` must then carry a positive
    `p_market` for every row (KeibaError otherwise)."""
    _check_offset(model.offset)
    if frame.is_empty():
        return np.zeros(0, dtype=np.float64)
    if any(c in model.feature_names for c in MARKET_FEATURES):
        frame = with_market_features(frame)
    scores = np.asarray(model.booster.predict(_matrix(frame, model.feature_names)), np.float64)
    if model.offset is not None:
        scores = scores + market_offset(frame)
    codes, n_groups = group_codes(frame["race_id"])
    return group_softmax(scores, codes, n_groups)
