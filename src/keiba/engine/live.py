"""A race's inputs as known at a moment of race day: the engine's live source.

On race day a race has no result yet, only its card (`entries`, from the collector) and odds
snapshots (`odds`). `live_race_inputs(warehouse, race_id, at, …)` builds the engine's
`RaceInputs` from what was known at `at` and nothing dated later:

- starters: the latest card fetched at or before `at`, less its scratched and excluded runners
  (`scratched`); frames from the card;
- odds: per pool, the latest snapshot taken at or before `at` (forecasts are not prices: they
  are never used). Win is required and must quote every starter; place and wide are offered at
  the low end of their range, as Themis decides them, without quotes at 1.0 (元返し: never a
  value bet) and without combinations naming a runner who is not starting. `odds_as_of` is the
  oldest of the snapshots used;
- probabilities: `p_market` from the win odds, `p_model` from the one source over exactly these
  starters (the `features` table must hold the race as this card describes it: the race day
  builds them with `keiba.feature_engineering.build_features_for_entries` before deciding), and
  `p_combined` from the model's market stage.

When the race cannot be decided, `LiveInputsError` says why in one line (the engine records the
race as skipped with it).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence

import polars as pl

from keiba.common.bet_types import BetType, parse_combination
from keiba.common.errors import KeibaError
from keiba.common.storage.warehouse import Warehouse
from keiba.engine.race import RaceInputs
from keiba.feature_engineering import ENTRIES_TABLE
from keiba.market.probabilities import market_probabilities
from keiba.model_training import TrainedModel
from keiba.model_training.combination import MarketCombination
from keiba.predictor.probabilities import race_probabilities

__all__ = ["LiveInputsError", "live_race_inputs"]

WITHDRAWN = ("scratched", "excluded")


class LiveInputsError(KeibaError):
    """A race cannot be decided from what is known at the time; `reason` is one line."""

    def __init__(self, race_id: str, reason: str) -> None:
        super().__init__(f"race {race_id}: {reason}")
        self.race_id = race_id
        self.reason = reason


def _utc(at: dt.datetime) -> dt.datetime:
    if at.tzinfo is None:
        raise ValueError(f"the time must be timezone-aware, was {at.isoformat()}")
    return at.astimezone(dt.UTC)


def _card(warehouse: Warehouse, race_id: str, at: dt.datetime) -> pl.DataFrame:
    """The race's latest card fetched at or before `at`, one row per declared runner."""
    if not warehouse.has_table(ENTRIES_TABLE):
        raise LiveInputsError(race_id, "no race cards have been collected")
    rows = warehouse.query(
        f"SELECT race_date, CAST(horse_no AS BIGINT) AS horse_no, "
        f"CAST(frame_no AS BIGINT) AS frame_no, status, as_of FROM {ENTRIES_TABLE} "
        "WHERE race_id = ? AND as_of <= ? ORDER BY horse_no",
        [race_id, at],
    )
    if rows.is_empty():
        raise LiveInputsError(race_id, f"no card fetched at or before {at.isoformat()}")
    return rows.filter(pl.col("as_of") == pl.col("as_of").max())


def _snapshots(
    warehouse: Warehouse, race_id: str, at: dt.datetime, pools: Sequence[BetType]
) -> dict[BetType, pl.DataFrame]:
    """Per pool, the rows of the latest non-forecast snapshot taken at or before `at`."""
    rows = warehouse.query(
        "SELECT bet_type, combination, CAST(odds AS DOUBLE) AS odds, as_of FROM odds "
        "WHERE race_id = ? AND as_of <= ? AND stage <> 'forecast' "
        "AND bet_type IN (SELECT unnest(?))",
        [race_id, at, [p.value for p in pools]],
    )
    latest = rows.filter(pl.col("as_of") == pl.col("as_of").max().over("bet_type"))
    return {
        BetType(str(bet)): group
        for (bet,), group in latest.group_by("bet_type", maintain_order=True)
    }


def _win_odds(race_id: str, snapshot: pl.DataFrame | None, horses: Sequence[int]) -> list[float]:
    if snapshot is None:
        raise LiveInputsError(race_id, "no win odds published yet (forecasts are not prices)")
    quoted = dict(zip(snapshot["combination"], snapshot["odds"], strict=True))
    missing = [h for h in horses if str(h) not in quoted]
    if missing:
        named = ", ".join(map(str, missing))
        raise LiveInputsError(race_id, f"no win odds for starter(s) {named} in the latest odds")
    return [float(quoted[str(h)]) for h in horses]


def _other_offers(
    snapshots: Mapping[BetType, pl.DataFrame], horses: Sequence[int]
) -> dict[BetType, dict[str, float]]:
    starters = set(horses)
    offers: dict[BetType, dict[str, float]] = {}
    for bet, rows in snapshots.items():
        if bet is BetType.WIN:
            continue
        quotes = {
            str(c): float(o)
            for c, o in rows.select("combination", "odds").iter_rows()
            if o > 1.0 and set(parse_combination(bet, str(c))) <= starters
        }
        if quotes:
            offers[bet] = quotes
    return offers


def _probabilities(
    warehouse: Warehouse,
    race_id: str,
    starters: pl.DataFrame,
    model: TrainedModel,
    combination: MarketCombination,
) -> dict[int, float]:
    try:
        priced = race_probabilities(model, combination, warehouse, starters)
    except KeibaError as e:
        raise LiveInputsError(race_id, f"no model probabilities: {e}") from e
    if priced.stale_races:
        raise LiveInputsError(
            race_id, "features are missing or stale: they do not describe the card's starters"
        )
    if priced.unpriced_races:
        raise LiveInputsError(
            race_id, "a starter has no market probability, which the model boosts from"
        )
    p = priced.frame["p_combined"].to_list()
    if any(v is None or not math.isfinite(v) or v < 0 for v in p) or abs(sum(p) - 1.0) > 1e-6:
        raise LiveInputsError(race_id, "the combined probabilities are not a distribution")
    return dict(zip(starters["horse_no"].to_list(), p, strict=True))


def live_race_inputs(
    warehouse: Warehouse,
    race_id: str,
    at: dt.datetime,
    model: TrainedModel,
    combination: MarketCombination,
    pools: Sequence[BetType] = (BetType.WIN,),
) -> RaceInputs:
    """The race as known at `at` (see the module docstring); raises `LiveInputsError`."""
    at = _utc(at)
    card = _card(warehouse, race_id, at)
    running = card.filter(~pl.col("status").is_in(WITHDRAWN))
    if running.is_empty():
        raise LiveInputsError(race_id, "every runner on the card is withdrawn")
    horses = [int(h) for h in running["horse_no"]]
    snapshots = _snapshots(warehouse, race_id, at, [BetType.WIN, *pools])
    win = _win_odds(race_id, snapshots.get(BetType.WIN), horses)
    starters = pl.DataFrame(
        {"race_id": race_id, "horse_no": horses, "race_date": running["race_date"], "odds": win}
    )
    starters = starters.with_columns(market_probabilities(starters, "odds"))
    offers = _other_offers({b: s for b, s in snapshots.items() if b in pools}, horses)
    if BetType.WIN in pools:
        offers = {BetType.WIN: {str(h): o for h, o in zip(horses, win, strict=True)}, **offers}
    used: list[dt.datetime] = [
        t for b, s in snapshots.items() if b is BetType.WIN or b in offers for t in s["as_of"]
    ]
    withdrawn = card.filter(pl.col("status").is_in(WITHDRAWN))["horse_no"]
    return RaceInputs(
        race_id=race_id,
        race_date=running["race_date"][0],
        decision_at=at,
        horses=tuple(horses),
        frames=dict(zip(horses, (int(f) for f in running["frame_no"]), strict=True)),
        probabilities=_probabilities(warehouse, race_id, starters, model, combination),
        offers=offers,
        model_version=model.version,
        odds_source="snapshot",
        odds_as_of=min(used).astimezone(dt.UTC),
        scratched=frozenset(int(h) for h in withdrawn),
    )
