"""What a race's final win odds say of each starter's strength on the day (the learnable floor).

The public's belief is b ∝ p_true**β · exp(noise·ε'), and the win pool is bet in proportion to
(1 − L)·b + L·b**0.1/Σ b**0.1 (the lottery share L). So the odds' implied shares q give b back
(a fixed point, solved by iteration), and log b / (β·s) = μ + ε + (noise / (β·s))·ε' + a
constant per race: a Gaussian reading of each starter's strength on the day, μ + ε, with the
public's error as its noise. Where the lottery money swamps a longshot's share, b is read from
a small difference and the odds' rounding (to 0.1) is blown up; that is added to the noise.
The race's constant is estimated from the field (each reading against the filter's prior
mean, weighted by precision), and its uncertainty added too.
"""

from __future__ import annotations

import numpy as np

from keiba.simulator.config import WorldConfig
from keiba.simulator.market import LOTTERY_POWER
from keiba.simulator.population import BoolArray, FloatArray, IntArray

__all__ = ["MarketReading"]

_ITERATIONS = 30


class MarketReading:
    """Readings of μ + ε from final win odds, with the world's market parameters."""

    def __init__(self, config: WorldConfig) -> None:
        self.lottery = config.lottery_share
        self.slope = config.market_beta * config.strength_scale
        self.noise_var = (config.market_noise / self.slope) ** 2

    def messages(
        self, race_of: IntArray, win_odds: FloatArray, mean: FloatArray, day_var: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """(reading, precision) per runner; precision 0 where a runner has no odds."""
        has = np.isfinite(win_odds) & (win_odds > 0)
        if not has.any():
            return np.zeros(mean.size), np.zeros(mean.size)
        safe_odds = np.where(has, win_odds, 1.0)
        q = _shares(race_of, np.where(has, 1.0 / safe_odds, 0.0))
        belief = self._belief(race_of, q, has)
        lifted = np.where(has, (1.0 - self.lottery) * belief, 1.0)
        spread = (0.03 / safe_odds + 0.005) * q / lifted
        reading_var = self.noise_var + (spread / self.slope) ** 2
        raw = np.log(np.where(has, belief, 1.0)) / self.slope
        weight = np.where(has, 1.0 / (day_var + reading_var), 0.0)
        total = np.bincount(race_of, weights=weight)
        level = np.bincount(race_of, weights=weight * (raw - mean)) / np.where(total > 0, total, 1)
        reading = raw - level[race_of]
        variance = reading_var + 1.0 / np.where(total > 0, total, 1.0)[race_of]
        return np.where(has, reading, 0.0), np.where(has, 1.0 / variance, 0.0)

    def _belief(self, race_of: IntArray, q: FloatArray, has: BoolArray) -> FloatArray:
        """b solving q = (1 − L)·b + L·b**0.1/Σ b**0.1 per race (b sums to one)."""
        b = q.copy()
        for _ in range(_ITERATIONS):
            flat = _shares(
                race_of, np.where(has, np.power(np.maximum(b, 1e-300), LOTTERY_POWER), 0)
            )
            b = np.maximum((q - self.lottery * flat) / (1.0 - self.lottery), 1e-4 * q)
            b = _shares(race_of, np.where(has, b, 0.0))
        return b


def _shares(race_of: IntArray, values: FloatArray) -> FloatArray:
    total = np.bincount(race_of, weights=values)
    return np.asarray(values / np.where(total > 0, total, 1.0)[race_of], dtype=np.float64)
