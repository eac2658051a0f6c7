"""The market stage (Benter 1994): combine the fundamental model with the market's odds.

c_i ∝ exp(α·log f_i + β·log q_i) within each race, where f is the fundamental model's
out-of-sample probability and q the de-vigged market probability. α and β are fitted by maximum
likelihood of the winners on races the fundamental model did not train on. A runner without a
model probability (no history, no features) falls back to the market alone, and a race where
the market is missing for any starter keeps the model alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.optimize import minimize

from keiba.common.errors import KeibaError
from keiba.model_training.objective import group_codes, group_softmax

__all__ = ["MarketCombination", "fit_combination"]

_FLOOR = 1e-9


@dataclass(frozen=True)
class MarketCombination:
    alpha: float
    beta: float
    races: int
    log_loss: float

    def apply(
        self, frame: pl.DataFrame, model: str = "p_model", market: str = "p_market"
    ) -> pl.Series:
        """Combined probabilities aligned to `frame` rows (`race_id`, model and market columns)."""
        f = frame[model].to_numpy().astype(float)
        q = frame[market].to_numpy().astype(float)
        codes, n_races = group_codes(frame["race_id"])
        return pl.Series("p_combined", _combine(self.alpha, self.beta, f, q, codes, n_races))


def _combine(
    alpha: float,
    beta: float,
    f: npt.NDArray[np.float64],
    q: npt.NDArray[np.float64],
    codes: npt.NDArray[np.int64],
    n_races: int,
) -> npt.NDArray[np.float64]:
    f_missing = np.isnan(f)
    q_missing = np.isnan(q)
    race_q_missing = np.bincount(codes, weights=q_missing.astype(float), minlength=n_races) > 0
    log_f = np.log(np.clip(np.where(f_missing, 1.0, f), _FLOOR, 1.0))
    log_q = np.log(np.clip(np.where(q_missing, 1.0, q), _FLOOR, 1.0))
    score = np.where(
        race_q_missing[codes],
        log_f,
        np.where(f_missing, log_q, alpha * log_f + beta * log_q),
    )
    return group_softmax(score, codes, n_races)


def fit_combination(
    frame: pl.DataFrame, model: str = "p_model", market: str = "p_market"
) -> MarketCombination:
    """Fit α, β by maximum likelihood on `frame` (`race_id`, `won`, model and market columns)."""
    complete = frame.filter(
        ~(
            pl.col(model).is_null().any().over("race_id")
            | pl.col(market).is_null().any().over("race_id")
        )
    )
    if complete["race_id"].n_unique() < 20:
        raise KeibaError(
            f"fitting the market combination needs at least 20 races with both model and "
            f"market probabilities, was {complete['race_id'].n_unique()}"
        )
    log_f = np.log(np.clip(complete[model].to_numpy().astype(float), _FLOOR, 1.0))
    log_q = np.log(np.clip(complete[market].to_numpy().astype(float), _FLOOR, 1.0))
    won = complete["won"].to_numpy().astype(float)
    codes, n_races = group_codes(complete["race_id"])

    def objective(params: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        a, b = params
        score = a * log_f + b * log_q
        peak = np.full(n_races, -np.inf)
        np.maximum.at(peak, codes, score)
        weights = np.exp(score - peak[codes])
        totals = np.bincount(codes, weights=weights, minlength=n_races)
        p = weights / totals[codes]
        log_z = np.log(totals) + peak
        nll = -(won * (score - log_z[codes])).sum()
        # d/dθ of −Σ y·(s − log Z): −Σ y·x + Σ_race (Σ y)·E_p[x]
        race_won = np.bincount(codes, weights=won, minlength=n_races)[codes]
        grad_a = -(won * log_f).sum() + (race_won * p * log_f).sum()
        grad_b = -(won * log_q).sum() + (race_won * p * log_q).sum()
        return float(nll / n_races), np.array([grad_a, grad_b]) / n_races

    result = minimize(objective, np.array([0.3, 0.8]), jac=True, method="L-BFGS-B")
    if not result.success:
        raise KeibaError(f"the market combination did not converge: {result.message}")
    alpha, beta = (float(v) for v in result.x)
    return MarketCombination(alpha, beta, n_races, float(result.fun))
