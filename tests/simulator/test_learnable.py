"""The learnable floor: a Gaussian filter over the world's latent quantities, fed by the record."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import polars as pl
import pytest

from keiba.simulator import WorldConfig, generate_world
from keiba.simulator.knowable import FormIntegral
from keiba.simulator.learnable import CardView, LearnableFilter, _order_messages
from keiba.simulator.learnable_odds import MarketReading
from keiba.simulator.learnable_priors import DevelopmentPrior, FormBank
from keiba.simulator.learnable_world import learnable_world

_CONFIG = WorldConfig(years=1, seed=5, max_race_days=40)


@pytest.fixture(scope="module")
def views() -> list[CardView]:
    seen: list[CardView] = []
    generate_world(_CONFIG, observer=seen.append)
    return seen


def _races(seed: int, starters: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mean = rng.normal(0.0, 0.9, (len(starters), 18))
    starts = np.arange(18)[None, :] < np.array(starters)[:, None]
    return mean, starts


def test_with_one_spread_for_all_it_is_the_knowable_integral() -> None:
    mean, starts = _races(1, (5, 12, 18))
    knowable = FormIntegral.of(1.0, 0.52).probabilities(mean, starts, 1.0)
    bank = FormBank().probabilities(mean, np.full(mean.shape, 0.52), starts)
    assert bank == pytest.approx(knowable, abs=1e-9)


def test_with_a_spread_per_starter_it_is_the_expected_softmax() -> None:
    mean, starts = _races(2, (16,))
    tau = np.random.default_rng(3).integers(20, 100, mean.shape) * 0.02
    p = FormBank().probabilities(mean, tau, starts)[0, :16]
    rng = np.random.default_rng(4)
    logits = mean[0, :16] + tau[0, :16] * rng.standard_normal((400_000, 16))
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected = (weights / weights.sum(axis=1, keepdims=True)).mean(axis=0)
    # Monte Carlo error at 400,000 draws is below 1e-3 for these probabilities
    assert p == pytest.approx(expected, abs=2e-3)


def test_an_order_raises_the_winner_and_lowers_the_last() -> None:
    starts = np.arange(18)[None, :] < 6
    rank = np.where(starts, np.arange(18)[None, :], 18)
    ranked = starts.copy()
    mean, precision = _order_messages(
        np.zeros((1, 18)), np.ones((1, 18)), rank, starts, ranked, (1.0, 0.81, 0.65)
    )
    assert mean[0, 0] > 0 > mean[0, 5]
    assert np.all(np.diff(mean[0, :6]) < 0)
    assert np.all(precision[0, :6] > 0) and np.all(precision[0, 6:] == 0)
    _, none = _order_messages(
        np.zeros((1, 18)), np.ones((1, 18)), rank, starts, np.zeros_like(starts), (1, 1, 1)
    )
    assert np.all(none == 0.0)


def test_exact_odds_read_back_the_strengths() -> None:
    """Without form and without the public's error, the odds give each strength exactly."""
    config = dataclasses.replace(WorldConfig(), market_noise=0.0)
    strength = np.random.default_rng(5).normal(0.0, 0.8, 12)
    race_of = np.zeros(12, dtype=np.int64)
    belief = np.exp(config.market_beta * config.strength_scale * strength)
    belief /= belief.sum()
    flat = belief**0.1 / (belief**0.1).sum()
    share = (1 - config.lottery_share) * belief + config.lottery_share * flat
    reading, precision = MarketReading(config).messages(
        race_of, 0.8 / share, strength, np.full(12, 0.1)
    )
    assert reading == pytest.approx(strength, abs=1e-6)
    assert np.all(precision > 0)


def test_development_is_below_the_peak_when_young_and_when_old() -> None:
    prior = DevelopmentPrior.build(2000)
    young, peak, old = prior.index(np.array([2.3, 5.0, 10.0]))
    assert prior.mean[young] < prior.mean[peak] - 0.5
    assert prior.mean[old] < prior.mean[peak] - 0.5
    assert prior.cov[young, young] > 0 and prior.cov[old, old] > 0


def _predict(views: list[CardView], learn: bool = True) -> list[np.ndarray]:
    learner = LearnableFilter(_CONFIG)
    if not learn:
        learner._learn = lambda *args: None  # type: ignore[method-assign]
    return [learner.observe(view) for view in views]


def _log_loss(views: list[CardView], predictions: list[np.ndarray]) -> float:
    losses = []
    for view, p in zip(views, predictions, strict=True):
        won = (view.run_order[view.started] == 1) & view.finished[view.started]
        losses.extend(-np.log(p[won]))
    return float(np.mean(losses))


def test_learning_from_the_record_beats_the_priors(views: list[CardView]) -> None:
    later = slice(20, None)
    learnt = _predict(views)[later]
    priors = _predict(views, learn=False)[later]
    assert _log_loss(views[later], learnt) < _log_loss(views[later], priors) - 0.05
    for p in learnt:
        assert p.sum() > 0


def test_a_day_is_predicted_before_its_results_are_read(views: list[CardView]) -> None:
    """Reversing one day's finishing orders moves no prediction of that day or before, and
    moves the later ones."""
    day = 10
    view = views[day]
    reversed_order = np.where(view.finished, view.finished.sum() + 1 - view.run_order, 0)
    changed = [*views[:day], dataclasses.replace(view, run_order=reversed_order), *views[day + 1 :]]
    before, after = _predict(views), _predict(changed)
    for k in range(day + 1):
        assert np.array_equal(before[k], after[k])
    assert any(not np.array_equal(before[k], after[k]) for k in range(day + 1, len(views)))


def test_a_learnable_world_gives_both_floors_for_every_starter() -> None:
    learnable = learnable_world(WorldConfig(years=1, seed=5, max_race_days=6))
    truth = learnable.truth
    assert truth.height == learnable.world.true_probabilities.height
    sums = truth.group_by("race_id").agg(pl.col("p_learnable", "p_learnable_results").sum())
    assert sums["p_learnable"].to_numpy() == pytest.approx(1.0, abs=1e-9)
    assert sums["p_learnable_results"].to_numpy() == pytest.approx(1.0, abs=1e-9)
    assert (truth["p_learnable"] != truth["p_learnable_results"]).any()


def _debut_race(jockey: np.ndarray) -> CardView:
    n = jockey.size
    return CardView(
        day=dt.date(2016, 7, 2).toordinal(),
        race_of=np.zeros(n, dtype=np.int64),
        horse=np.arange(n),
        horse_birth_year=np.full(n, 2014),
        female=np.zeros(n, dtype=bool),
        jockey=jockey,
        trainer=np.zeros(n, dtype=np.int64),
        surface=np.zeros(n, dtype=np.int64),
        distance=np.full(n, 1600),
        going=np.zeros(n, dtype=np.int64),
        draw_fraction=np.linspace(0.0, 1.0, n),
        draw_slope=np.zeros(n),
        weight_kg=np.full(n, 55.0),
        days_since_run=np.full(n, -1),
        body_weight_change=np.zeros(n, dtype=np.int64),
        started=np.ones(n, dtype=bool),
        finished=np.ones(n, dtype=bool),
        run_order=np.arange(1, n + 1),
        horse_no=np.arange(1, n + 1),
    )


def test_debutants_on_better_jockeys_are_rated_higher_before_they_run() -> None:
    """The world gives the best available jockeys to the best-rated runners that change
    jockey: the order of their jockeys is read before the race, not their talent prior alone."""
    view = _debut_race(np.array([3, 0, 2, 1]))
    blind = LearnableFilter(_CONFIG, choice_sharpness=0.0)
    reading = LearnableFilter(_CONFIG)
    for learner in (blind, reading):
        learner._grow(view)
        learner._meet(view)
        learner.jockey[:4] = [0.3, 0.1, -0.1, -0.3]
    reading._read_jockey_choices(view)
    talent = reading.x[:4, 0]
    assert np.all(blind.x[:4, 0] == blind.x[0, 0])
    assert talent[1] > talent[3] > talent[2] > talent[0]
    assert np.all(reading.p[:4, 0, 0] < blind.p[:4, 0, 0])
