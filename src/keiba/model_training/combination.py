"""The market stage (Benter 1994): combine the fundamental model with the market's odds.

c_i ∝ exp(α·log f_i + β·log q_i) within each race, where f is the fundamental model's
out-of-sample probability and q the de-vigged market probability. α and β are fitted by maximum
likelihood of the winners on races the fundamental model did not train on. A runner without a
model probability (no history, no features) falls back to the market alone, and a race where
the market is missing for any starter keeps the model alone.

Richer stages (`STAGES`) let α and β vary, in the same conditional logit fitted the same way:

- `field`: with the race's field size n, α(n) = α + α_field·z_n and β(n) = β + β_field·z_n,
  z_n = log(n / 14) (n is the number of the race's rows: its starters);
- `band`: with the runner's market probability, α(q) = α + α_band·z_q and β(q) = β + β_band·z_q,
  z_q = log(q / 0.1), so the stage can bend the market's favourite–longshot curve.

The extra coefficients carry an L2 penalty, a Gaussian prior of standard deviation
`EXTRA_PRIOR_SD` (fixed, never tuned on the data): it keeps them finite where the data cannot
tell them from α and β (every race of one field size). With its extra coefficients at zero a
richer stage is exactly the plain one. `plain` is the default.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.optimize import minimize

from keiba.common.errors import KeibaError
from keiba.model_training.objective import group_codes, group_softmax

__all__ = ["EXTRA_PRIOR_SD", "STAGES", "MarketCombination", "fit_combination"]

_FLOOR = 1e-9
FIELD_CENTRE = 14.0
"""z_n = log(n / FIELD_CENTRE): α and β of the `field` stage are those of a 14-runner race."""
BAND_CENTRE = 0.1
"""z_q = log(q / BAND_CENTRE): α and β of the `band` stage are those of a 10% runner."""
EXTRA_PRIOR_SD = 0.5
"""Standard deviation of the Gaussian prior (L2 penalty) on every extra coefficient."""

STAGES: dict[str, tuple[str, ...]] = {
    "plain": (),
    "field": ("alpha_field", "beta_field"),
    "band": ("alpha_band", "beta_band"),
}
"""Each market stage and the names of its coefficients beyond α and β."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class MarketCombination:
    alpha: float
    beta: float
    races: int
    log_loss: float
    stage: str = "plain"
    extra: dict[str, float] = field(default_factory=dict)
    """The stage's coefficients beyond α and β, by name (`STAGES[stage]`)."""

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise KeibaError(
                f"unknown market stage {self.stage!r}; the stages are {', '.join(STAGES)}"
            )
        if set(self.extra) != set(STAGES[self.stage]):
            raise KeibaError(
                f"the market stage {self.stage!r} has the coefficients "
                f"{', '.join(STAGES[self.stage]) or 'α and β only'}, not {sorted(self.extra)}"
            )

    def apply(
        self, frame: pl.DataFrame, model: str = "p_model", market: str = "p_market"
    ) -> pl.Series:
        """Combined probabilities aligned to `frame` rows (`race_id`, model and market columns;
        one row per starter, which the `field` stage counts)."""
        f = frame[model].to_numpy().astype(float)
        q = frame[market].to_numpy().astype(float)
        codes, n_races = group_codes(frame["race_id"])
        coefficients = [self.extra[name] for name in STAGES[self.stage]]
        return pl.Series(
            "p_combined",
            _combine(self.alpha, self.beta, coefficients, self.stage, f, q, codes, n_races),
        )


def _extra_terms(
    stage: str,
    log_f: FloatArray,
    log_q: FloatArray,
    codes: npt.NDArray[np.int64],
    n_races: int,
) -> list[FloatArray]:
    """The covariates of the stage's extra coefficients, in `STAGES[stage]` order."""
    if stage == "field":
        n = np.bincount(codes, minlength=n_races).astype(float)[codes]
        z = np.log(n / FIELD_CENTRE)
    elif stage == "band":
        z = log_q - np.log(BAND_CENTRE)
    else:
        return []
    return [log_f * z, log_q * z]


def _combine(
    alpha: float,
    beta: float,
    coefficients: list[float],
    stage: str,
    f: FloatArray,
    q: FloatArray,
    codes: npt.NDArray[np.int64],
    n_races: int,
) -> FloatArray:
    f_missing = np.isnan(f)
    q_missing = np.isnan(q)
    race_q_missing = np.bincount(codes, weights=q_missing.astype(float), minlength=n_races) > 0
    log_f = np.log(np.clip(np.where(f_missing, 1.0, f), _FLOOR, 1.0))
    log_q = np.log(np.clip(np.where(q_missing, 1.0, q), _FLOOR, 1.0))
    both = alpha * log_f + beta * log_q
    for c, x in zip(coefficients, _extra_terms(stage, log_f, log_q, codes, n_races), strict=True):
        both = both + c * x
    score = np.where(race_q_missing[codes], log_f, np.where(f_missing, log_q, both))
    return group_softmax(score, codes, n_races)


def fit_combination(
    frame: pl.DataFrame, model: str = "p_model", market: str = "p_market", *, stage: str = "plain"
) -> MarketCombination:
    """Fit α, β (and the stage's extra coefficients, penalised) by maximum likelihood on `frame`
    (`race_id`, `won`, model and market columns; one row per starter)."""
    if stage not in STAGES:
        raise KeibaError(f"unknown market stage {stage!r}; the stages are {', '.join(STAGES)}")
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
    terms = [log_f, log_q, *_extra_terms(stage, log_f, log_q, codes, n_races)]
    n_extra = len(terms) - 2
    # the penalty Σθ²/(2σ²) on the total log-likelihood, per race like the objective
    penalty = 1.0 / (2.0 * EXTRA_PRIOR_SD**2 * n_races)
    race_won = np.bincount(codes, weights=won, minlength=n_races)[codes]

    def objective(params: FloatArray) -> tuple[float, FloatArray]:
        score = params[0] * terms[0] + params[1] * terms[1]
        for k in range(2, len(terms)):
            score = score + params[k] * terms[k]
        peak = np.full(n_races, -np.inf)
        np.maximum.at(peak, codes, score)
        weights = np.exp(score - peak[codes])
        totals = np.bincount(codes, weights=weights, minlength=n_races)
        p = weights / totals[codes]
        log_z = np.log(totals) + peak
        nll = -(won * (score - log_z[codes])).sum()
        # d/dθ of −Σ y·(s − log Z): −Σ y·x + Σ_race (Σ y)·E_p[x]
        grad = np.array([-(won * x).sum() + (race_won * p * x).sum() for x in terms]) / n_races
        value = float(nll / n_races)
        if n_extra:
            extra = params[2:]
            value += penalty * float(extra @ extra)
            grad[2:] += 2.0 * penalty * extra
        return value, grad

    start = np.array([0.3, 0.8, *([0.0] * n_extra)])
    result = minimize(objective, start, jac=True, method="L-BFGS-B")
    if not result.success:
        raise KeibaError(f"the market combination did not converge: {result.message}")
    alpha, beta, *rest = (float(v) for v in result.x)
    # the log-loss reported is the winners' alone (the penalty left out)
    log_loss = float(result.fun) - (penalty * sum(v * v for v in rest) if n_extra else 0.0)
    return MarketCombination(
        alpha, beta, n_races, log_loss, stage, dict(zip(STAGES[stage], rest, strict=True))
    )
