"""WorldConfig refuses values that make no sense, naming the field and the value."""

from __future__ import annotations

from typing import Any

import pytest

from keiba.simulator import WorldConfig


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("years", 0, "years must be between 1 and 50, was 0"),
        ("years", 2.5, "years must be an integer, was 2.5"),
        ("seed", -1, "seed must be between"),
        ("start_year", 1800, "start_year must be between"),
        ("strength_scale", 0.0, "strength_scale must be above 0"),
        ("market_beta", float("nan"), "market_beta must be finite"),
        ("market_noise", -0.1, "market_noise must be at least 0"),
        ("lottery_share", 0.9, "lottery_share must be at least 0 and at most 0.5, was 0.9"),
        ("tie_rate", "0.01", "tie_rate must be a number"),
        ("max_race_days", 0, "max_race_days must be between"),
        ("include_exotic_odds", 1, "include_exotic_odds must be a bool"),
        ("crop_size", 10, "crop_size must be between"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        WorldConfig(**{field: value})


def test_defaults_are_valid_and_frozen() -> None:
    config = WorldConfig()
    assert (config.years, config.seed, config.start_year) == (1, 0, 2015)
    assert config.include_exotic_odds is False
    with pytest.raises(AttributeError):
        config.years = 2
