"""The market stage: the plain c ∝ f^α q^β and the richer stages, on worlds built here.

Each world draws a market q per race, then the truth from q by the stage's own form (so the
truth is exactly what the stage can express), the winner from the truth, and a model f that
knows the truth with noise.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import polars as pl
import pytest

from keiba.common.errors import KeibaError
from keiba.model_training.combination import STAGES, MarketCombination, fit_combination
from keiba.model_training.objective import winner_log_loss


def _world(
    seed: int,
    races: int = 4000,
    *,
    beta_field: float = 0.0,
    beta_band: float = 0.0,
    sizes: tuple[int, int] = (6, 18),
) -> pl.DataFrame:
    """Races with market q; the truth p ∝ exp(β(n, q)·log q) with β = 1 + beta_field·log(n/14)
    + beta_band·log(q/0.1); f ∝ p·noise."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list[object]] = {
        k: [] for k in ("race_id", "horse_no", "won", "p_model", "p_market", "p_true")
    }
    for r in range(races):
        n = int(rng.integers(sizes[0], sizes[1] + 1))
        q = np.exp(rng.normal(0.0, 1.0, n))
        q /= q.sum()
        beta = 1.0 + beta_field * np.log(n / 14) + beta_band * np.log(q / 0.1)
        p = np.exp(beta * np.log(q))
        p /= p.sum()
        f = p * np.exp(rng.normal(0.0, 0.6, n))
        f /= f.sum()
        winner = rng.choice(n, p=p)
        rows["race_id"] += [f"R{r:05d}"] * n
        rows["horse_no"] += list(range(1, n + 1))
        rows["won"] += [float(i == winner) for i in range(n)]
        rows["p_model"] += f.tolist()
        rows["p_market"] += q.tolist()
        rows["p_true"] += p.tolist()
    return pl.DataFrame(rows)


def _log_loss(frame: pl.DataFrame, combination: MarketCombination) -> float:
    p = combination.apply(frame).to_numpy()
    return winner_log_loss(p, frame)


def test_the_field_stage_recovers_a_bias_that_depends_on_the_field_size() -> None:
    world = _world(1, beta_field=0.6)
    plain = fit_combination(world)
    field = fit_combination(world, stage="field")
    assert field.stage == "field" and set(field.extra) == {"alpha_field", "beta_field"}
    assert field.extra["beta_field"] == pytest.approx(0.6, abs=0.15)
    assert abs(field.extra["alpha_field"]) < 0.15
    assert field.beta == pytest.approx(1.0, abs=0.1) and abs(field.alpha) < 0.1
    # out of sample, on a fresh draw of the same world, the plain stage cannot express it
    fresh = _world(2, beta_field=0.6)
    gain = _log_loss(fresh, plain) - _log_loss(fresh, field)
    assert gain > 0.003
    # the richer stage gets most of the way from the plain one to the truth
    truth = winner_log_loss(fresh["p_true"].to_numpy(), fresh)
    assert gain > 0.5 * (_log_loss(fresh, plain) - truth)


def test_the_field_stage_finds_no_bias_where_there_is_none() -> None:
    field = fit_combination(_world(3), stage="field")
    assert abs(field.extra["beta_field"]) < 0.15 and abs(field.extra["alpha_field"]) < 0.15
    assert field.beta == pytest.approx(1.0, abs=0.1)


def test_the_band_stage_recovers_a_bias_that_depends_on_the_odds() -> None:
    world = _world(4, beta_band=-0.08)
    band = fit_combination(world, stage="band")
    assert band.extra["beta_band"] == pytest.approx(-0.08, abs=0.03)
    assert abs(band.extra["alpha_band"]) < 0.05
    fresh = _world(5, beta_band=-0.08)
    assert _log_loss(fresh, fit_combination(world)) - _log_loss(fresh, band) > 0.001


def test_with_its_extra_coefficients_at_zero_a_stage_is_exactly_the_plain_one() -> None:
    world = _world(6, races=300)
    plain = fit_combination(world)
    for stage in ("field", "band"):
        zero = MarketCombination(
            plain.alpha, plain.beta, 1, 0.0, stage, dict.fromkeys(STAGES[stage], 0.0)
        )
        assert zero.apply(world).equals(plain.apply(world))
        moved = MarketCombination(
            plain.alpha, plain.beta, 1, 0.0, stage, dict.fromkeys(STAGES[stage], 0.1)
        )
        assert not moved.apply(world).equals(plain.apply(world))


def test_where_every_field_has_fourteen_runners_the_field_stage_fits_the_plain_one() -> None:
    world = _world(7, races=400, sizes=(14, 14), beta_field=0.6)  # z_n = 0: no field term
    plain = fit_combination(world)
    field = fit_combination(world, stage="field")
    assert field.extra == {"alpha_field": 0.0, "beta_field": 0.0}
    assert (field.alpha, field.beta) == pytest.approx((plain.alpha, plain.beta), abs=1e-6)
    assert field.log_loss == pytest.approx(plain.log_loss, abs=1e-12)


def test_the_same_inputs_give_the_same_coefficients() -> None:
    world = _world(8, races=500, beta_field=0.3, beta_band=-0.05)
    for stage in STAGES:
        assert fit_combination(world, stage=stage) == fit_combination(world.clone(), stage=stage)


def test_a_richer_stage_keeps_the_fallbacks_of_the_plain_one() -> None:
    world = _world(9, races=60)
    field = fit_combination(world, stage="field")
    first, second = world["race_id"].unique(maintain_order=True)[:2]
    holes = world.with_columns(
        pl.when(pl.col("race_id") == first)
        .then(None)
        .otherwise(pl.col("p_market"))
        .alias("p_market"),
        pl.when((pl.col("race_id") == second) & (pl.col("horse_no") == 1))
        .then(None)
        .otherwise(pl.col("p_model"))
        .alias("p_model"),
    )
    combined = holes.with_columns(field.apply(holes))
    no_market = combined.filter(pl.col("race_id") == first)
    assert no_market["p_combined"].to_numpy() == pytest.approx(no_market["p_model"].to_numpy())
    race = combined.filter(pl.col("race_id") == second)
    assert race["p_combined"].sum() == pytest.approx(1.0)
    assert race["p_combined"].is_finite().all()


def test_a_stage_round_trips_through_json_and_an_old_record_reads_as_plain() -> None:
    field = fit_combination(_world(10, races=200), stage="field")
    assert MarketCombination(**json.loads(json.dumps(asdict(field)))) == field
    old = MarketCombination(**json.loads('{"alpha": 0.1, "beta": 0.9, "races": 5, "log_loss": 2}'))
    assert (old.stage, old.extra) == ("plain", {})


def test_an_unknown_stage_or_wrong_coefficients_are_refused() -> None:
    world = _world(11, races=30)
    with pytest.raises(KeibaError, match="unknown market stage 'curvy'"):
        fit_combination(world, stage="curvy")
    with pytest.raises(KeibaError, match="unknown market stage"):
        MarketCombination(0.0, 1.0, 1, 0.0, "curvy")
    with pytest.raises(KeibaError, match="has the coefficients alpha_field, beta_field"):
        MarketCombination(0.0, 1.0, 1, 0.0, "field", {"alpha_band": 0.0, "beta_band": 0.0})
    with pytest.raises(KeibaError, match="α and β only"):
        MarketCombination(0.0, 1.0, 1, 0.0, "plain", {"beta_field": 0.0})
