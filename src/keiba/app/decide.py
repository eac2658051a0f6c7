"""One race's Themis decision, from the warehouse or from a JSON payload.

A payload holds `probabilities` ({horse: p}), `odds` ({bet type: {combination: odds or
{"odds", "odds_high", "pool_yen"}}}), optionally `frames` ({horse: frame}) and `bankroll`
(yen, or {"balance_yen", "staked_today_yen", "tickets_today", "day_start_yen"}). From the
warehouse the odds are the latest snapshot of the `odds` table (the final win odds of
`runners` when the race has none) and the probabilities are the caller's, else the market's
own (1/odds normalised: with them Themis should buy nothing, since the takeout makes every
expected return lower than 1).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from keiba.common.config import KeibaConfig
from keiba.common.errors import KeibaError
from keiba.common.storage.datasets import open_dataset, warehouse_location
from keiba.market.probabilities import market_probabilities
from keiba.themis import Bankroll, Quote, decide

__all__ = [
    "RaceInputs",
    "decide_given",
    "decide_race",
    "from_payload",
    "from_warehouse",
    "horse_keyed",
]


@dataclass(frozen=True)
class RaceInputs:
    """Themis' inputs for one race, and what the caller should know about where they came from."""

    probabilities: Mapping[int, float]
    odds: Mapping[Any, Mapping[str, float | Quote]]
    frames: Mapping[int, int] | None = None
    bankroll: Bankroll | int | None = None
    notes: list[str] = field(default_factory=list)


def horse_keyed(data: Any, what: str) -> dict[int, Any]:
    """`data` ({"3": …}) keyed by horse number; `what` names it in the error."""
    if not isinstance(data, dict):
        raise KeibaError(f"{what} must be an object keyed by horse number")
    try:
        return {int(k): v for k, v in data.items()}
    except ValueError as e:
        raise KeibaError(f"{what}: keys must be horse numbers ({e})") from e


def _quotes(odds: Any) -> dict[str, dict[str, float | Quote]]:
    if not isinstance(odds, dict):
        raise KeibaError("odds must be an object keyed by bet type")
    result: dict[str, dict[str, float | Quote]] = {}
    for bet, quotes in odds.items():
        if not isinstance(quotes, dict):
            raise KeibaError(f"odds.{bet} must be an object keyed by combination")
        result[bet] = {
            c: Quote(v["odds"], v.get("odds_high"), v.get("pool_yen")) if isinstance(v, dict) else v
            for c, v in quotes.items()
        }
    return result


def from_payload(data: Any, where: str) -> RaceInputs:
    """The race a JSON payload describes; `where` (a file name) names it in errors."""
    if not isinstance(data, dict) or "probabilities" not in data or "odds" not in data:
        raise KeibaError(f"{where} must hold an object with 'probabilities' and 'odds'")
    bankroll = data.get("bankroll")
    if isinstance(bankroll, dict):
        bankroll = Bankroll(**bankroll)
    return RaceInputs(
        probabilities=horse_keyed(data["probabilities"], "probabilities"),
        odds=_quotes(data["odds"]),
        frames=horse_keyed(data["frames"], "frames") if "frames" in data else None,
        bankroll=bankroll,
    )


def _read_race(config: KeibaConfig, race_id: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    with open_dataset(config, read_only=True) as warehouse:
        runners = warehouse.query(
            "SELECT race_id, horse_no, frame_no, win_odds_final FROM runners "
            "WHERE race_id = ? AND status NOT IN ('scratched', 'excluded') ORDER BY horse_no",
            [race_id],
        )
        odds = warehouse.query(
            "SELECT bet_type, combination, odds, odds_high, pool_yen FROM odds WHERE race_id = ? "
            "QUALIFY row_number() OVER "
            "(PARTITION BY bet_type, combination ORDER BY as_of DESC) = 1",
            [race_id],
        )
    if runners.height == 0:
        where = warehouse_location(config, config.storage.dataset)
        raise KeibaError(f"no starters for race {race_id} in {where}")
    return runners, odds


def from_warehouse(
    config: KeibaConfig, race_id: str, probabilities: Mapping[int, float] | None = None
) -> RaceInputs:
    """The race as the selected dataset holds it, priced by `probabilities` or the market."""
    runners, odds_rows = _read_race(config, race_id)
    notes: list[str] = []
    odds: dict[str, dict[str, float | Quote]] = {}
    for bet, combination, o, high, pool in odds_rows.iter_rows():
        odds.setdefault(bet, {})[combination] = Quote(o, high, pool)
    priced = runners.filter(pl.col("win_odds_final") > 0)
    if not odds:
        win = zip(priced["horse_no"], priced["win_odds_final"], strict=True)
        odds = {"win": {str(h): o for h, o in win}}
        notes.append("no odds snapshots for this race: using the final win odds of `runners`")
    if probabilities is None:
        market = market_probabilities(priced)
        probabilities = dict(zip(priced["horse_no"], market, strict=True))
        notes.append("probabilities are the market's own (1/odds normalised): expect no bets")
    frames = dict(zip(runners["horse_no"], runners["frame_no"], strict=True))
    return RaceInputs(probabilities, odds, frames, None, notes)


def decide_race(config: KeibaConfig, race: RaceInputs) -> dict[str, Any]:
    """Themis' decision on the race under the configured policy, with the inputs' notes first."""
    if race.bankroll is None:
        raise KeibaError("the race has no bankroll to decide with")
    decision = decide(
        race.probabilities, race.odds, race.bankroll, config.themis, frames=race.frames
    )
    result = decision.to_dict()
    result["notes"] = race.notes + result["notes"]
    return result


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise KeibaError(f"cannot read {path}: {e.strerror}") from e
    except json.JSONDecodeError as e:
        raise KeibaError(f"{path} is not valid JSON: {e}") from e


def decide_given(
    config: KeibaConfig,
    race_id: str | None,
    input_file: Path | None,
    probabilities: Path | None,
    bankroll_yen: int | None,
    staked_today_yen: int = 0,
    tickets_today: int = 0,
) -> dict[str, Any]:
    """`keiba bet decide`: the decision on a warehouse race (`race_id`, priced by the JSON
    `probabilities` file or the market) or on the race of a JSON payload (`input_file`),
    with the bankroll given (`bankroll_yen` and today's stakes) instead of the payload's."""
    if (race_id is None) == (input_file is None):
        raise KeibaError("give a race id or --input FILE (one of them)")
    if input_file is not None:
        race = from_payload(_read_json(input_file), str(input_file))
    else:
        win = None
        if probabilities is not None:
            win = horse_keyed(_read_json(probabilities), "probabilities")
        race = from_warehouse(config, str(race_id), win)
    if bankroll_yen is not None:
        given = Bankroll(bankroll_yen, staked_today_yen, tickets_today)
        race = dataclasses.replace(race, bankroll=given)
    if race.bankroll is None:
        raise KeibaError("give the bankroll: --bankroll YEN")
    return decide_race(config, race)
