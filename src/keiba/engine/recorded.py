"""Recorded races as of decision time: the inputs a replay feeds the engine.

`priced_races` gives the starters of complete races (a row for every declared runner: the
market over the known finishers alone would use the result) with the odds a bettor saw at
decision time: the latest odds snapshot taken at or before the decision when the warehouse has
one, else the final odds moved by the late-drift model (`keiba.market.odds_drift`). Decision
time is post time minus the lead; where post time is unknown (the 2018 data), it is estimated
from the race number (R1 at 10:00 JST, 30 minutes apart) and the venue's place in the day (10
minutes apart), and the estimate is reported.

`replay_races` turns priced starters with their probabilities into the engine's `RaceInputs`
(the offers: win odds, and each other pool's decision-time odds where the race's payouts list
that pool, since a pool without payouts could never be settled), and `race_results` reads the
official results the replay settles with.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from keiba.common.bet_types import BetType
from keiba.common.clock import JST
from keiba.common.config import BacktestConfig
from keiba.common.storage.warehouse import Warehouse
from keiba.engine.race import RaceInputs, RaceResult
from keiba.engine.replay import ReplayRace
from keiba.market.fields import COMPLETE_FIELDS_SQL
from keiba.market.odds_drift import decision_odds
from keiba.market.probabilities import market_probabilities

__all__ = ["PricedRaces", "priced_races", "race_results", "replay_races"]

FIRST_POST = dt.time(10, 0)
RACE_SPACING = dt.timedelta(minutes=30)
VENUE_SPACING = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class PricedRaces:
    """Starters with decision-time odds, and how those odds were obtained."""

    frame: pl.DataFrame
    """race_id, horse_no, frame_no, race_date, venue_code, race_no, post_at, decision_at,
    settle_at, post_estimated, final_odds, decision_odds, odds_source, won, p_market,
    p_market_final."""
    exotic_odds: dict[str, dict[str, dict[str, float]]]
    """race_id → bet type → combination → decision-time odds (pools other than win)."""


def _schedule(frame: pl.DataFrame, config: BacktestConfig) -> pl.DataFrame:
    """Post time (estimated where missing), decision and settlement times, all UTC."""
    venue_rank = (pl.col("venue_code").rank("dense").over("race_date").cast(pl.Int64) - 1).alias(
        "_venue_rank"
    )
    frame = frame.with_columns(venue_rank)
    first_post = [
        dt.datetime.combine(d, FIRST_POST, tzinfo=JST).astimezone(dt.UTC)
        for d in frame["race_date"].to_list()
    ]
    offsets = [
        fp + RACE_SPACING * (rn - 1) + VENUE_SPACING * vr
        for fp, rn, vr in zip(
            first_post, frame["race_no"].to_list(), frame["_venue_rank"].to_list(), strict=True
        )
    ]
    post = frame["post_time"].to_list()
    post_at = [
        p.astimezone(dt.UTC) if p is not None else e for p, e in zip(post, offsets, strict=True)
    ]
    lead = dt.timedelta(minutes=config.decision_lead_minutes)
    delay = dt.timedelta(minutes=config.settle_delay_minutes)
    return frame.drop("_venue_rank").with_columns(
        pl.Series("post_at", post_at, dtype=pl.Datetime("us", "UTC")),
        pl.Series("decision_at", [p - lead for p in post_at], dtype=pl.Datetime("us", "UTC")),
        pl.Series("settle_at", [p + delay for p in post_at], dtype=pl.Datetime("us", "UTC")),
        pl.Series("post_estimated", [p is None for p in post], dtype=pl.Boolean),
    )


def _snapshot_odds(
    warehouse: Warehouse, race_ids: list[str], bet_types: Sequence[str]
) -> pl.DataFrame:
    empty = pl.DataFrame(
        schema={
            "race_id": pl.String,
            "bet_type": pl.String,
            "combination": pl.String,
            "odds": pl.Float64,
            "as_of": pl.Datetime("us", "UTC"),
            "stage": pl.String,
        }
    )
    if not race_ids or not warehouse.has_table("odds"):
        return empty
    found = warehouse.query(
        "SELECT race_id, bet_type, combination, CAST(odds AS DOUBLE) AS odds, as_of, stage "
        "FROM odds WHERE race_id IN (SELECT unnest(?)) AND bet_type IN (SELECT unnest(?))",
        [race_ids, list(bet_types)],
    )
    if found.is_empty():
        return empty
    return found.with_columns(
        pl.col("as_of").dt.replace_time_zone(None).dt.replace_time_zone("UTC")
    )


def _latest_before(snapshots: pl.DataFrame, decision_at: dict[str, dt.datetime]) -> pl.DataFrame:
    """Per race and bet type, the rows of the latest snapshot taken at or before the decision;
    failing that, the final odds (flagged `final`)."""
    if snapshots.is_empty():
        return snapshots.with_columns(pl.lit(False).alias("needs_drift"))
    times = pl.DataFrame(
        {"race_id": list(decision_at), "decision_at": list(decision_at.values())},
        schema={"race_id": pl.String, "decision_at": pl.Datetime("us", "UTC")},
    )
    rows = snapshots.join(times, on="race_id")
    before = rows.filter(pl.col("as_of") <= pl.col("decision_at"))
    before = before.filter(
        pl.col("as_of") == pl.col("as_of").max().over("race_id", "bet_type")
    ).with_columns(pl.lit(False).alias("needs_drift"))
    have = before.select("race_id", "bet_type").unique()
    final = rows.filter(pl.col("stage") == "final").join(
        have, on=["race_id", "bet_type"], how="anti"
    )
    final = final.filter(
        pl.col("as_of") == pl.col("as_of").max().over("race_id", "bet_type")
    ).with_columns(pl.lit(True).alias("needs_drift"))
    return pl.concat([before, final]).drop("decision_at")


def priced_races(
    warehouse: Warehouse,
    date_from: dt.date,
    date_to: dt.date,
    config: BacktestConfig,
) -> PricedRaces:
    """Starters of the complete races dated in [date_from, date_to], priced at decision time."""
    frame = warehouse.query(
        f"""
        SELECT r.race_id, CAST(r.horse_no AS BIGINT) AS horse_no,
               CAST(r.frame_no AS BIGINT) AS frame_no, ra.race_date,
               CAST(ra.venue_code AS BIGINT) AS venue_code, CAST(ra.race_no AS BIGINT) AS race_no,
               ra.post_time, CAST(r.win_odds_final AS DOUBLE) AS final_odds,
               CAST(coalesce(r.finish_pos = 1, FALSE) AS DOUBLE) AS first
        FROM runners r JOIN races ra USING (race_id)
        WHERE ra.race_date BETWEEN ? AND ? AND r.status NOT IN ('scratched', 'excluded')
          AND r.race_id IN ({COMPLETE_FIELDS_SQL})
        ORDER BY ra.race_date, r.race_id, r.horse_no
        """,
        [date_from, date_to],
    )
    frame = frame.with_columns(
        (pl.col("first") / pl.col("first").sum().over("race_id")).fill_nan(0.0).alias("won"),
        pl.col("post_time").dt.replace_time_zone(None).dt.replace_time_zone("UTC"),
    ).drop("first")
    # a race without final odds for some starter cannot be priced: leave it out whole
    frame = frame.filter(~pl.col("final_odds").is_null().any().over("race_id"))
    frame = _schedule(frame, config)
    decision_at = dict(frame.select("race_id", "decision_at").unique("race_id").iter_rows())
    pools = [b.value for b in config.pools]
    chosen = _latest_before(_snapshot_odds(warehouse, list(decision_at), pools), decision_at)

    win_snap = chosen.filter(pl.col("bet_type") == "win")
    snap_map: dict[tuple[str, int], float] = {}
    snap_races = set()
    for race_id, combination, odds, needs_drift in win_snap.select(
        "race_id", "combination", "odds", "needs_drift"
    ).iter_rows():
        if not needs_drift:
            snap_map[(race_id, int(combination))] = float(odds)
            snap_races.add(race_id)
    drift = config.odds_drift
    odds_out: list[float] = []
    source: list[str] = []
    for (race_id,), rows in frame.group_by("race_id", maintain_order=True):
        horses = rows["horse_no"].to_list()
        if race_id in snap_races and all((race_id, h) in snap_map for h in horses):
            odds_out += [snap_map[(race_id, h)] for h in horses]
            source += ["snapshot"] * len(horses)
        else:
            odds_out += decision_odds(rows["final_odds"].to_list(), str(race_id), drift)
            label = "final" if drift.model == "none" or drift.sigma == 0 else "final+drift"
            source += [label] * len(horses)
    frame = frame.with_columns(
        pl.Series("decision_odds", odds_out, dtype=pl.Float64),
        pl.Series("odds_source", source, dtype=pl.String),
    )
    frame = frame.with_columns(
        market_probabilities(frame, "decision_odds"),
        market_probabilities(frame, "final_odds").alias("p_market_final"),
    )
    exotic: dict[str, dict[str, dict[str, float]]] = {}
    # a quote at 1.0 (元返し, common for wide and place) can never be bought at value
    for (race_id, bet_type, needs_drift), rows in (
        chosen.filter((pl.col("bet_type") != "win") & (pl.col("odds") > 1.0))
        .sort("race_id", "bet_type", "combination")  # the drift's draws follow the combinations
        .group_by("race_id", "bet_type", "needs_drift", maintain_order=True)
    ):
        combos = rows["combination"].to_list()
        odds = rows["odds"].to_list()
        if needs_drift:
            odds = decision_odds(odds, f"{race_id}/{bet_type}", drift)
        exotic.setdefault(str(race_id), {})[str(bet_type)] = dict(zip(combos, odds, strict=True))
    return PricedRaces(frame, exotic)


def race_results(warehouse: Warehouse, race_ids: Sequence[str]) -> dict[str, RaceResult]:
    """The official payouts, every declared runner's status and frames, by race."""
    ids = list(race_ids)
    payouts: dict[str, dict[tuple[str, str], int]] = {r: {} for r in ids}
    for race_id, bet, combination, paid in warehouse.query(
        "SELECT race_id, bet_type, combination, payout_yen FROM payouts "
        "WHERE race_id IN (SELECT unnest(?))",
        [ids],
    ).iter_rows():
        payouts[race_id][(bet, combination)] = int(paid)
    statuses: dict[str, dict[int, str]] = {r: {} for r in ids}
    frames: dict[str, dict[int, int]] = {r: {} for r in ids}
    for race_id, horse, frame_no, status in warehouse.query(
        "SELECT race_id, horse_no, frame_no, status FROM runners "
        "WHERE race_id IN (SELECT unnest(?))",
        [ids],
    ).iter_rows():
        statuses[race_id][int(horse)] = str(status)
        if frame_no is not None:
            frames[race_id][int(horse)] = int(frame_no)
    return {r: RaceResult(payouts[r], statuses[r], frames[r]) for r in ids}


def _offers(
    win_odds: Mapping[int, float],
    exotic_odds: Mapping[str, Mapping[str, float]],
    paid_pools: set[str],
    pools: Sequence[BetType],
) -> dict[BetType, dict[str, float]]:
    offers: dict[BetType, dict[str, float]] = {}
    if BetType.WIN in pools:
        offers[BetType.WIN] = {str(h): o for h, o in win_odds.items()}
    for bet_type, quotes in exotic_odds.items():
        # a pool without payout rows could never be settled: it is not offered
        if BetType(bet_type) in pools and bet_type in paid_pools:
            offers[BetType(bet_type)] = dict(quotes)
    return offers


def replay_races(
    frame: pl.DataFrame,
    exotic_odds: Mapping[str, Mapping[str, Mapping[str, float]]],
    results: Mapping[str, RaceResult],
    pools: Sequence[BetType],
) -> list[ReplayRace]:
    """Priced starters with `p_model`, `p_market`, `p_combined` and `model_version` as the
    engine's races, in decision order (ties: venue, then race id)."""
    races = []
    ordered = frame.sort("decision_at", "venue_code", "race_id", "horse_no")
    for seq, ((race_id,), rows) in enumerate(ordered.group_by("race_id", maintain_order=True)):
        race = str(race_id)
        horses = [int(h) for h in rows["horse_no"].to_list()]

        def by_horse(column: str, rows: pl.DataFrame = rows, horses: list[int] = horses) -> Any:
            return dict(zip(horses, rows[column].to_list(), strict=True))

        win_odds = by_horse("decision_odds")
        paid_pools = {bet for bet, _ in results[race].payouts} if race in results else set()
        source = str(rows["odds_source"][0])
        decision_at: dt.datetime = rows["decision_at"][0]
        inputs = RaceInputs(
            race_id=race,
            race_date=rows["race_date"][0],
            decision_at=decision_at,
            horses=tuple(horses),
            frames=by_horse("frame_no"),
            probabilities=by_horse("p_combined"),
            offers=_offers(win_odds, exotic_odds.get(race, {}), paid_pools, pools),
            model_version=str(rows["model_version"][0]),
            odds_source=source,
            odds_as_of=rows["odds_as_of"][0] if "odds_as_of" in rows.columns else None,
        )
        races.append(
            ReplayRace(
                inputs=inputs,
                seq=seq,
                settle_at=rows["settle_at"][0],
                p_model=by_horse("p_model"),
                p_market=by_horse("p_market"),
                win_odds=win_odds,
                final_odds=by_horse("final_odds"),
            )
        )
    return races
