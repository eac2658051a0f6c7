"""A simulated world with its learnable floor: each recorded race predicted from the record before.

`learnable_world(config)` generates the world (`generate_world`), keeping what the record shows of
each race day (`CardView`), then runs the learnable floor's filter (`LearnableFilter`) over the
days in order, twice: from the results alone, and from the results and the past races' final
win odds. Each race is predicted before its day is learnt, so a prediction reads only races of
earlier days. It is not part of the default generation: it doubles its cost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from keiba.simulator.config import SimulatedWorld, WorldConfig
from keiba.simulator.learnable import CHOICE_SHARPNESS, CardView, LearnableFilter
from keiba.simulator.population import FloatArray
from keiba.simulator.world import generate_world

__all__ = ["LearnableWorld", "learnable_world"]


@dataclass(frozen=True, eq=False)
class LearnableWorld:
    """The world, and per starter (rows of `world.true_probabilities`) the learnable floors."""

    world: SimulatedWorld
    truth: pl.DataFrame
    """race_id, horse_no, p_true, p_knowable, p_learnable_results (from results alone) and
    p_learnable (from results and past odds)."""


def learnable_world(
    config: WorldConfig,
    progress: Callable[[int, int], None] | None = None,
    choice_sharpness: float = CHOICE_SHARPNESS,
) -> LearnableWorld:
    """Generate `config`'s world and predict every recorded starter with the learnable floor
    (`choice_sharpness`: how sharply jockeys' choices are read, `LearnableFilter`)."""
    views: list[CardView] = []
    world = generate_world(config, progress, observer=views.append)
    truth = world.true_probabilities
    odds = truth.join(
        world.runners.select("race_id", "horse_no", "win_odds_final"),
        on=["race_id", "horse_no"],
        how="left",
        maintain_order="left",
    )["win_odds_final"].to_numpy()
    results = _run(LearnableFilter(config, choice_sharpness), views, None)
    with_odds = _run(
        LearnableFilter(config, choice_sharpness), views, np.asarray(odds, dtype=np.float64)
    )
    return LearnableWorld(
        world,
        truth.with_columns(
            pl.Series("p_learnable_results", results), pl.Series("p_learnable", with_odds)
        ),
    )


def _run(learner: LearnableFilter, views: list[CardView], odds: FloatArray | None) -> FloatArray:
    """Predictions of every starter in record order; `odds` per starter in the same order."""
    out: list[FloatArray] = []
    at = 0
    for view in views:
        count = int(view.started.sum())
        day_odds = None
        if odds is not None:
            day_odds = np.full(view.horse.size, np.nan)
            day_odds[view.started] = odds[at : at + count]
        out.append(learner.observe(view, day_odds))
        at += count
    return np.concatenate(out) if out else np.zeros(0)
