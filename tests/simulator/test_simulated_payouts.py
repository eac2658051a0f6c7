"""Payouts and odds agree with each other, with the finishing order and with JRA's rules."""

from __future__ import annotations

import math

import polars as pl

from keiba.common.bet_types import BetType, parse_combination
from keiba.simulator import SimulatedWorld

_NOT_STARTED = ("scratched", "excluded")


def _starters(world: SimulatedWorld) -> pl.DataFrame:
    return world.runners.filter(~pl.col("status").is_in(_NOT_STARTED))


def _field(world: SimulatedWorld) -> pl.DataFrame:
    """Per race: starters, and whether the first three places are free of dead heats."""
    return (
        _starters(world)
        .group_by("race_id")
        .agg(
            pl.len().alias("n"),
            ((pl.col("finish_pos") == 1).sum() == 1).alias("one_winner"),
            (
                ((pl.col("finish_pos") == 1).sum() == 1)
                & ((pl.col("finish_pos") == 2).sum() == 1)
                & ((pl.col("finish_pos") == 3).sum() == 1)
            ).alias("clean"),
        )
    )


def test_payouts_are_at_least_100_in_10_yen_steps_with_canonical_combinations(
    year_world: SimulatedWorld,
) -> None:
    payouts = year_world.payouts
    assert (payouts["payout_yen"] >= 100).all()
    assert (payouts["payout_yen"] % 10 == 0).all()
    assert (payouts["popularity"] >= 1).all()
    for bet, combination in payouts.select("bet_type", "combination").unique().iter_rows():
        parse_combination(BetType(bet), combination)


def test_win_payouts_match_the_final_odds_of_the_winner(year_world: SimulatedWorld) -> None:
    winners = (
        _starters(year_world)
        .filter(pl.col("finish_pos") == 1)
        .with_columns(pl.col("horse_no").cast(pl.String).alias("combination"))
        .join(_field(year_world), on="race_id")
    )
    paid = year_world.payouts.filter(pl.col("bet_type") == "win")
    joined = winners.join(paid, on=["race_id", "combination"], how="left")
    assert joined["payout_yen"].null_count() == 0
    sole = joined.filter(pl.col("one_winner"))
    assert (sole["payout_yen"] == (sole["win_odds_final"] * 100).round(0).cast(pl.Int64)).all()
    assert (sole["popularity_right"] == sole["popularity"]).all()
    shared = joined.filter(~pl.col("one_winner"))
    assert (shared["payout_yen"] <= (shared["win_odds_final"] * 100).round(0)).all()
    assert (year_world.runners["win_odds_final"].drop_nulls() >= 1.1).all()


def test_each_race_pays_the_right_number_of_combinations_per_bet_type(
    year_world: SimulatedWorld,
) -> None:
    counts = (
        year_world.payouts.group_by("race_id", "bet_type")
        .len()
        .pivot(on="bet_type", index="race_id", values="len")
        .fill_null(0)
    )
    table = _field(year_world).join(counts, on="race_id", how="left").fill_null(0)
    for column in ("win", "quinella", "exacta", "trio", "trifecta", "quinella_place"):
        assert (table[column] >= 1).all(), column
    clean = table.filter(pl.col("clean"))
    n = clean["n"]
    expected_place = pl.when(n >= 8).then(3).when(n >= 5).then(2).otherwise(0)
    assert clean.select((pl.col("place") == expected_place.alias("e")).all()).item()
    assert (clean["bracket_quinella"] == (n >= 9).cast(pl.Int64)).all()
    for column, expected in (
        ("win", 1),
        ("quinella", 1),
        ("quinella_place", 3),
        ("exacta", 1),
        ("trio", 1),
        ("trifecta", 1),
    ):
        assert (clean[column] == expected).all(), column
    heats = table.filter(~pl.col("clean"))
    assert heats.height > 0
    assert ((heats["win"] + heats["quinella_place"] + heats["trifecta"]) > 5).all()
    assert (table.filter(pl.col("n") <= 8)["bracket_quinella"] == 0).all()
    assert (table.filter(pl.col("n") <= 4)["place"] == 0).all()


def test_winning_combinations_follow_the_finishing_order(year_world: SimulatedWorld) -> None:
    top = (
        _starters(year_world)
        .join(_field(year_world).filter(pl.col("clean")), on="race_id")
        .filter(pl.col("finish_pos") <= 3)
        .sort("race_id", "finish_pos")
        .group_by("race_id", maintain_order=True)
        .agg(pl.col("horse_no"), pl.col("frame_no"))
    )
    paid = {
        (race, bet): combination
        for race, bet, combination in year_world.payouts.filter(
            pl.col("bet_type").is_in(["exacta", "trifecta", "trio", "bracket_quinella"])
        )
        .select("race_id", "bet_type", "combination")
        .iter_rows()
    }
    for race, horses, frames in top.iter_rows():
        a, b, c = horses
        assert paid[(race, "trifecta")] == f"{a}>{b}>{c}"
        assert paid[(race, "exacta")] == f"{a}>{b}"
        assert paid[(race, "trio")] == "-".join(str(h) for h in sorted(horses))
        if (race, "bracket_quinella") in paid:
            assert paid[(race, "bracket_quinella")] == "-".join(str(f) for f in sorted(frames[:2]))


def test_place_payouts_lie_within_the_published_place_odds(year_world: SimulatedWorld) -> None:
    place = year_world.odds.filter(pl.col("bet_type") == "place")
    assert (place["odds_high"] >= place["odds"]).all()
    paid = (
        year_world.payouts.filter(pl.col("bet_type") == "place")
        .join(_field(year_world).filter(pl.col("clean")), on="race_id")
        .join(place, on=["race_id", "combination"])
    )
    assert paid.height > 0
    assert (paid["payout_yen"] >= (paid["odds"] * 100).round(0)).all()
    assert (paid["payout_yen"] <= (paid["odds_high"] * 100).round(0)).all()


def test_win_and_place_odds_cover_every_starter_at_post_time(year_world: SimulatedWorld) -> None:
    odds = year_world.odds
    assert (odds["stage"] == "final").all()
    win = odds.filter(pl.col("bet_type") == "win")
    starters = _starters(year_world).with_columns(
        pl.col("horse_no").cast(pl.String).alias("combination")
    )
    joined = starters.join(win, on=["race_id", "combination"], how="left")
    assert joined["odds"].null_count() == 0
    assert (joined["odds"] == joined["win_odds_final"]).all()
    assert win["odds_high"].null_count() == win.height
    assert (win["pool_yen"] >= 100).all()
    posts = year_world.races.select("race_id", "post_time")
    assert (
        (odds.join(posts, on="race_id").select(pl.col("as_of") == pl.col("post_time")))
        .to_series()
        .all()
    )
    place_races = odds.filter(pl.col("bet_type") == "place")["race_id"].unique()
    sold = _field(year_world).filter(pl.col("n") >= 5)["race_id"]
    assert set(place_races.to_list()) == set(sold.to_list())


def test_popularity_ranks_the_win_odds_with_ties_broken_by_money(
    year_world: SimulatedWorld,
) -> None:
    win = year_world.odds.filter(pl.col("bet_type") == "win").select(
        "race_id", pl.col("combination").cast(pl.Int64).alias("horse_no"), "pool_yen"
    )
    ranked = (
        _starters(year_world)
        .join(win, on=["race_id", "horse_no"])
        .sort(
            "race_id",
            "win_odds_final",
            "pool_yen",
            "horse_no",
            descending=[False, False, True, False],
        )
        .with_columns(pl.int_range(1, pl.len() + 1).over("race_id").alias("expected"))
    )
    assert (ranked["popularity"] == ranked["expected"]).all()


def test_exotic_odds_cover_every_combination_and_agree_with_the_payouts(
    small_world: SimulatedWorld,
) -> None:
    field = _field(small_world)
    counts = (
        small_world.odds.group_by("race_id", "bet_type")
        .len()
        .pivot(on="bet_type", index="race_id", values="len")
        .join(field, on="race_id")
    )
    for row in counts.iter_rows(named=True):
        n = row["n"]
        assert row["quinella"] == math.comb(n, 2)
        assert row["quinella_place"] == math.comb(n, 2)
        assert row["exacta"] == n * (n - 1)
        assert row["trio"] == math.comb(n, 3)
        assert row["trifecta"] == n * (n - 1) * (n - 2)
        assert (row["bracket_quinella"] or 0) > 0 if n >= 9 else not row["bracket_quinella"]
    wide = small_world.odds.filter(pl.col("bet_type") == "quinella_place")
    assert (wide["odds_high"] >= wide["odds"]).all()
    single = ["quinella", "exacta", "trio", "trifecta", "bracket_quinella"]
    paid = small_world.payouts.join(field.filter(pl.col("clean")), on="race_id").join(
        small_world.odds, on=["race_id", "bet_type", "combination"]
    )
    one = paid.filter(pl.col("bet_type").is_in(single))
    assert one.height > 0
    assert (one["payout_yen"] == (one["odds"] * 100).round(0).cast(pl.Int64)).all()
    two = paid.filter(pl.col("bet_type") == "quinella_place")
    assert (two["payout_yen"] >= (two["odds"] * 100).round(0)).all()
    assert (two["payout_yen"] <= (two["odds_high"] * 100).round(0)).all()
