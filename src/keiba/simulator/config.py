"""What a simulated world is made from (`WorldConfig`) and what it is (`SimulatedWorld`).

Every tunable number of the model lives in `WorldConfig` with a default that reproduces the
JRA market facts (docs/simulator.md); `__post_init__` refuses values that make no sense with a
message naming the field and the value it was given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

__all__ = ["SimulatedWorld", "WorldConfig"]


@dataclass(frozen=True)
class WorldConfig:
    """A simulated JRA world: calendar span, seed, and the parameters of its models.

    Racing: `strength_scale` turns a runner's strength (talent, age, aptitudes, jockey,
    trainer, draw, weight, daily form with sd `form_noise`) into log-odds;
    `harville_gamma`/`harville_delta` are the powers of the discounted-Harville finishing
    model for 2nd and for 3rd and later. About `crop_size` 2-year-olds enter each year;
    `jockeys` and `trainers` set those populations.

    Market: the public believes `b ∝ p_true**market_beta · exp(market_noise·ε)`. The win
    pool is bet in proportion to b, the place pool to the public's Harville top-3 (top-2)
    probabilities raised to `place_power`, the other pools to its plain Harville
    probabilities raised to `exotic_flb_power` with `combination_noise` log-normal noise per
    combination; in every pool a `lottery_share` of the money is spread almost evenly
    (tickets bought on numbers and names), which makes deep longshots the worst bets. The
    defaults were tuned so that `market_statistics` lands on JRA's published figures: favourites win
    about 33% and place about 64%, return about 77% to win and 83% to place, longshots
    (popularity 14–18) about 40%.

    Incidents are per declared runner (`scratch_rate`, `exclusion_rate`), per starter
    (`dnf_rate`, `disqualification_rate`), per pair of adjacent finishers (`tie_rate`) and
    per race (`demotion_rate`). `max_race_days` stops after that many recorded race days
    (small worlds for tests); `burn_in_years` of unrecorded racing before `start_year` let
    classes and careers settle. `include_exotic_odds` adds the final odds of every exotic
    combination (about 6,000 rows a race: meant for small worlds).
    """

    years: int = 1
    seed: int = 0
    start_year: int = 2015
    include_exotic_odds: bool = False
    max_race_days: int | None = None
    burn_in_years: int = 1
    crop_size: int = 4600
    jockeys: int = 130
    trainers: int = 180
    strength_scale: float = 1.48
    form_noise: float = 0.35
    harville_gamma: float = 0.81
    harville_delta: float = 0.65
    market_beta: float = 0.97
    market_noise: float = 0.5
    lottery_share: float = 0.15
    place_power: float = 1.36
    exotic_flb_power: float = 0.9
    combination_noise: float = 0.15
    scratch_rate: float = 0.0035
    exclusion_rate: float = 0.0012
    dnf_rate: float = 0.0028
    disqualification_rate: float = 0.0002
    tie_rate: float = 0.0022
    demotion_rate: float = 0.002

    def __post_init__(self) -> None:
        _check_int("years", self.years, 1, 50)
        _check_int("seed", self.seed, 0, 2**63 - 1)
        _check_int("start_year", self.start_year, 1990, 2200)
        _check_int("burn_in_years", self.burn_in_years, 0, 10)
        _check_int("crop_size", self.crop_size, 500, 20_000)
        _check_int("jockeys", self.jockeys, 60, 1_000)
        _check_int("trainers", self.trainers, 40, 2_000)
        if not isinstance(self.include_exotic_odds, bool):
            raise ValueError(
                f"include_exotic_odds must be a bool, was {self.include_exotic_odds!r}"
            )
        if self.max_race_days is not None:
            _check_int("max_race_days", self.max_race_days, 1, 100_000)
        _check_float("strength_scale", self.strength_scale, 0.0, 10.0, open_low=True)
        _check_float("form_noise", self.form_noise, 0.0, 3.0)
        _check_float("harville_gamma", self.harville_gamma, 0.0, 2.0, open_low=True)
        _check_float("harville_delta", self.harville_delta, 0.0, 2.0, open_low=True)
        _check_float("market_beta", self.market_beta, 0.0, 2.0, open_low=True)
        _check_float("market_noise", self.market_noise, 0.0, 3.0)
        _check_float("lottery_share", self.lottery_share, 0.0, 0.5)
        _check_float("place_power", self.place_power, 0.0, 3.0, open_low=True)
        _check_float("exotic_flb_power", self.exotic_flb_power, 0.0, 2.0, open_low=True)
        _check_float("combination_noise", self.combination_noise, 0.0, 3.0)
        _check_float("scratch_rate", self.scratch_rate, 0.0, 0.1)
        _check_float("exclusion_rate", self.exclusion_rate, 0.0, 0.1)
        _check_float("dnf_rate", self.dnf_rate, 0.0, 0.1)
        _check_float("disqualification_rate", self.disqualification_rate, 0.0, 0.1)
        _check_float("tie_rate", self.tie_rate, 0.0, 0.1)
        _check_float("demotion_rate", self.demotion_rate, 0.0, 0.5)


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, was {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, was {value}")


def _check_float(
    name: str, value: object, low: float, high: float, *, open_low: bool = False
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, was {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, was {value}")
    too_low = number <= low if open_low else number < low
    if too_low or number > high:
        bound = f"above {low:g}" if open_low else f"at least {low:g}"
        raise ValueError(f"{name} must be {bound} and at most {high:g}, was {value}")


@dataclass(frozen=True, eq=False)
class SimulatedWorld:
    """The tables of the data contract for a simulated world, plus the truth behind them."""

    races: pl.DataFrame
    runners: pl.DataFrame
    payouts: pl.DataFrame
    odds: pl.DataFrame
    true_probabilities: pl.DataFrame

    def frames(self) -> dict[str, pl.DataFrame]:
        """The five tables keyed by their contract names."""
        return {
            "races": self.races,
            "runners": self.runners,
            "payouts": self.payouts,
            "odds": self.odds,
            "true_probabilities": self.true_probabilities,
        }
