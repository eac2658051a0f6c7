"""The win probability a perfect model of history could reach: the day's form integrated out.

A starter's true strength is its mean strength μ (everything that can be known before the
race: ability, aptitudes, jockey, trainer, draw, weight, freshness, body-weight swing) plus
the day's form ε ~ N(0, σ²), and `p_true` is the softmax of s·(μ + ε) over the starters. No
record of past races can know ε, so the best probability a model of the past can give is

    p_knowable_i = E_ε[softmax(s·(μ + ε))_i].

Softmax is the law of the argmax of logits plus independent standard Gumbel noise G, so the
win is the argmax of s·μ_j + X_j with X = s·ε + G independent across starters, and

    p_knowable_i = ∫ f(x − s·μ_i) Π_{j≠i} F(x − s·μ_j) dx,

with F and f the distribution and density of X. This is computed by deterministic
quadrature, no random numbers: F and f (a Normal–Gumbel convolution) are tabulated once by
Gauss–Hermite quadrature over the normal term, and the one-dimensional integral over x is the
trapezoid rule on a fine grid. Each race's probabilities are renormalised to sum to one (the
sums before that are within about 2e-6 of one at the default parameters).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from keiba.simulator.population import BoolArray, FloatArray

__all__ = ["FormIntegral"]

_HERMITE_NODES = 64
_TABLE_STEP = 0.005
_GRID_STEP = 0.1


@dataclass(frozen=True)
class FormIntegral:
    """Tabulated log F and log f of X = τ·Z + G (Z standard normal, G standard Gumbel)."""

    tau: float
    y: FloatArray
    log_cdf: FloatArray
    log_pdf: FloatArray

    @classmethod
    def of(cls, scale: float, form_noise: float) -> FormIntegral:
        """The table for logits `scale · strength` with daily form of sd `form_noise`."""
        tau = scale * form_noise
        nodes, weights = np.polynomial.hermite_e.hermegauss(_HERMITE_NODES)
        log_w = np.log(weights / weights.sum())
        y = np.arange(-8.0 - 7.0 * tau, 40.0 + 7.0 * tau, _TABLE_STEP)
        u = y[:, None] - tau * nodes[None, :]
        log_cdf = logsumexp(log_w - np.exp(-u), axis=1)
        log_pdf = logsumexp(log_w - u - np.exp(-u), axis=1)
        return cls(tau, y, np.asarray(log_cdf), np.asarray(log_pdf))

    def probabilities(self, strength: FloatArray, starts: BoolArray, scale: float) -> FloatArray:
        """p_knowable per row of mean strengths (rows padded; non-starters, False, get 0)."""
        logits = np.where(starts, scale * strength, -np.inf)
        top = logits.max(axis=1, keepdims=True)
        a = np.where(starts, logits - top, 0.0)
        width = math.log(a.shape[1]) + 14.0 + 7.0 * self.tau
        x = np.arange(-6.0 - 7.0 * self.tau, width, _GRID_STEP)
        shifted = x[None, None, :] - a[:, :, None]
        log_cdf = np.where(starts[:, :, None], np.interp(shifted, self.y, self.log_cdf), 0.0)
        log_pdf = np.interp(shifted, self.y, self.log_pdf)
        together = log_cdf.sum(axis=1, keepdims=True)
        integrand = np.exp(log_pdf + together - log_cdf)
        p = np.where(starts, np.trapezoid(integrand, dx=_GRID_STEP, axis=2), 0.0)
        return np.asarray(p / p.sum(axis=1, keepdims=True), dtype=np.float64)
