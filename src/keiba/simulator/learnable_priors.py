"""What the world's generative structure says before any race is seen: the learnable floor's priors.

The learnable floor (`keiba.simulator.learnable`) filters each horse's, jockey's and trainer's
latent quantities from the recorded results. It starts from the world's true priors, moment-
matched to Gaussians, and predicts with the day's form integrated out. This module holds:

- `DevelopmentPrior`: a horse's ability with age is talent + development, where development
  depends on latent per-horse maturity, peak age, decline and birthday. Seen from the recorded
  age (days since 1 April of the birth year) it is a Gaussian process with the mean and
  covariance of the true law, tabulated weekly by Monte Carlo.
- `DistancePrior`: the fit to a distance, max(−½(log(d/pref)/width)², −2.5), as a Gaussian over
  every distance from 1,000 to 3,600 m (50 m apart), kept in the leading principal components.
- `person_priors`: mean and variance of jockeys' (veterans' and newcomers') and trainers' skill,
  by drawing the populations the way the world does.
- `FormBank`: E[softmax] when each starter's logit is uncertain with its own variance
  (posterior plus the day's form), the `FormIntegral` quadrature with one table per τ bin.

All Monte Carlo draws use fixed seeds: the priors are the same on every run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from keiba.simulator.knowable import FormIntegral
from keiba.simulator.population import BoolArray, FloatArray, IntArray, create_jockeys

__all__ = [
    "DevelopmentPrior",
    "DistancePrior",
    "FormBank",
    "PersonPriors",
    "person_priors",
]

_SEED = 20_240_601
_WEEK_YEARS = 7.0 / 365.25
_FIRST_AGE, _LAST_AGE = 1.5, 15.0
_DISTANCES = np.arange(1000.0, 3601.0, 50.0)
_EXPLAINED = 0.999


@dataclass(frozen=True)
class DevelopmentPrior:
    """Mean and covariance of development on a weekly grid of recorded age (years)."""

    ages: FloatArray
    mean: FloatArray
    cov: FloatArray

    @classmethod
    def build(cls, draws: int = 8000) -> DevelopmentPrior:
        rng = np.random.default_rng(_SEED)
        ages = np.arange(_FIRST_AGE, _LAST_AGE, _WEEK_YEARS)
        maturity = rng.uniform(0.5, 1.1, draws)
        peak = rng.normal(5.2, 0.6, draws)
        decline = rng.uniform(0.08, 0.2, draws)
        offset = rng.integers(-50, 50, draws) / 365.25
        years = ages[:, None] - offset[None, :]
        growth = -1.3 * np.exp(-(years - 2.0) / maturity[None, :])
        dev = growth - decline[None, :] * np.maximum(years - peak[None, :], 0.0) ** 2
        mean = dev.mean(axis=1)
        centred = dev - mean[:, None]
        return cls(ages, mean, centred @ centred.T / draws)

    def index(self, age_years: FloatArray) -> IntArray:
        """Grid cell of each recorded age (clipped to the grid)."""
        cell = np.rint((age_years - _FIRST_AGE) / _WEEK_YEARS).astype(np.int64)
        return np.asarray(np.clip(cell, 0, self.ages.size - 1), dtype=np.int64)


@dataclass(frozen=True)
class DistancePrior:
    """Fit to each distance = mean[d] + basis[d] · w, w ~ N(0, I)."""

    distances: FloatArray
    mean: FloatArray
    basis: FloatArray

    @classmethod
    def build(cls, draws: int = 40_000) -> DistancePrior:
        rng = np.random.default_rng(_SEED + 1)
        pref = np.clip(np.exp(rng.normal(np.log(1650.0), 0.22, draws)), 1000.0, 3400.0)
        width = rng.uniform(0.18, 0.32, draws)
        gap = np.log(_DISTANCES[:, None] / pref[None, :]) / width[None, :]
        fit = np.maximum(-0.5 * gap**2, -2.5)
        mean = fit.mean(axis=1)
        centred = fit - mean[:, None]
        values, vectors = np.linalg.eigh(centred @ centred.T / draws)
        order = np.argsort(-values)
        values, vectors = values[order], vectors[:, order]
        keep = int(np.searchsorted(np.cumsum(values) / values.sum(), _EXPLAINED)) + 1
        basis = vectors[:, :keep] * np.sqrt(values[:keep])[None, :]
        return cls(_DISTANCES, mean, basis)

    def index(self, distance_m: IntArray) -> IntArray:
        cell = np.rint((distance_m - _DISTANCES[0]) / 50.0).astype(np.int64)
        return np.asarray(np.clip(cell, 0, _DISTANCES.size - 1), dtype=np.int64)


@dataclass(frozen=True)
class PersonPriors:
    """Gaussian priors of skill: jockeys riding from the start, later newcomers, trainers."""

    veteran: tuple[float, float]
    newcomer: tuple[float, float]
    trainer: tuple[float, float]


def person_priors(count: int, years: int, worlds: int = 200) -> PersonPriors:
    """Moments of jockeys' skill drawn as the world draws them (`worlds` populations)."""
    rng = np.random.default_rng(_SEED + 2)
    veterans: list[FloatArray] = []
    newcomers: list[FloatArray] = []
    for _ in range(worlds):
        jockeys = create_jockeys(rng, count, 2000, years)
        veterans.append(jockeys.skill[:count])
        newcomers.append(jockeys.skill[count:])
    old, new = np.concatenate(veterans), np.concatenate(newcomers)
    return PersonPriors(
        veteran=(float(old.mean()), float(old.var())),
        newcomer=(float(new.mean()), float(new.var())),
        trainer=(0.0, 0.08**2),
    )


@dataclass
class FormBank:
    """p_i = E[softmax(x)_i] with x_i ~ N(a_i, τ_i²) independent, τ_i per starter."""

    step: float = 0.02
    tables: dict[int, FormIntegral] = field(default_factory=dict)

    def _table(self, cell: int) -> FormIntegral:
        if cell not in self.tables:
            self.tables[cell] = FormIntegral.of(1.0, cell * self.step)
        return self.tables[cell]

    def probabilities(self, logits: FloatArray, tau: FloatArray, starts: BoolArray) -> FloatArray:
        """Win probabilities per row of mean logits (padded; non-starters False get 0)."""
        a = np.where(starts, logits, -np.inf)
        a = np.where(starts, a - a.max(axis=1, keepdims=True), 0.0)
        cells = np.rint(np.where(starts, tau, tau.min()) / self.step).astype(np.int64)
        widest = float(cells.max()) * self.step
        x = np.arange(-6.0 - 7.0 * widest, math.log(a.shape[1]) + 14.0 + 7.0 * widest, 0.1)
        shifted = x[None, None, :] - a[:, :, None]
        log_cdf = np.zeros(shifted.shape)
        log_pdf = np.zeros(shifted.shape)
        for cell in np.unique(cells[starts]):
            table = self._table(int(cell))
            where = starts & (cells == cell)
            log_cdf[where] = np.interp(shifted[where], table.y, table.log_cdf)
            log_pdf[where] = np.interp(shifted[where], table.y, table.log_pdf)
        together = log_cdf.sum(axis=1, keepdims=True)
        integrand = np.exp(log_pdf + together - log_cdf)
        p = np.where(starts, np.trapezoid(integrand, dx=0.1, axis=2), 0.0)
        return np.asarray(p / p.sum(axis=1, keepdims=True), dtype=np.float64)
