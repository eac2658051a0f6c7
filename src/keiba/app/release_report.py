"""The comparison of a candidate with the release in force on the same races of one race day.

`compare` reads what the day's journal and its logs hold: the outcomes (what was bought, by
which release), the shadow log (`<journal>.shadow.jsonl`: the shadow candidate's decisions, never
bought) and the canary log (`<journal>.canary.jsonl`: the release in force's decisions, never
bought, on the races a canary ran). Two comparisons come out, each race by race:

- shadow: the shadow's tickets against the release in force's on every race it decided (on a
  canary's race, the release in force's decision in shadow stands for it);
- canary: on the races the canary ran, its tickets (bought) against the release in force's.

Each side's tickets are paid by JRA rules from the race's official payouts in the dataset, the
same payouts the ledger settles with, so a side's return is what it had (or would have had) at
the same odds; a race without its result yet counts its stake but not its return, and is shown
as unsettled.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

from keiba.app.day_release import log_rows
from keiba.common.bet_types import BetType
from keiba.common.clock import JST, Clock, SystemClock
from keiba.common.config import KeibaConfig
from keiba.common.errors import KeibaError
from keiba.common.ids import NetkeibaRaceId
from keiba.common.money import Yen
from keiba.common.storage.datasets import open_dataset
from keiba.engine import RaceResult
from keiba.engine.recorded import race_results
from keiba.market.settlement import settle_ticket
from keiba.scheduler.journal import Journal, journal_path

__all__ = ["compare", "side_return"]


def side_return(tickets: Iterable[Mapping[str, Any]], result: RaceResult | None) -> int | None:
    """What the tickets return at the race's official payouts; None without a result."""
    if result is None or not result.payouts:
        return None
    return sum(
        int(
            settle_ticket(
                BetType(str(t["bet_type"])),
                str(t["combination"]),
                Yen(int(t["stake_yen"])),
                result.payouts,
                result.statuses,
                result.frames or None,
            ).paid
        )
        for t in tickets
    )


def _side(tickets: list[dict[str, Any]], result: RaceResult | None) -> dict[str, Any]:
    staked = sum(int(t["stake_yen"]) for t in tickets)
    returned = side_return(tickets, result)
    return {
        "tickets": len(tickets),
        "staked_yen": staked,
        "returned_yen": returned,
        "profit_yen": None if returned is None else returned - staked,
        "bets": [{k: t[k] for k in ("bet_type", "combination", "stake_yen")} for t in tickets],
    }


def _totals(rows: list[dict[str, Any]], side: str) -> dict[str, Any]:
    settled = [r for r in rows if r["settled"]]
    return {
        "races": len(rows),
        "tickets": sum(r[side]["tickets"] for r in rows),
        "staked_yen": sum(r[side]["staked_yen"] for r in rows),
        "settled_races": len(settled),
        "settled_staked_yen": sum(r[side]["staked_yen"] for r in settled),
        "returned_yen": sum(r[side]["returned_yen"] or 0 for r in settled),
        "profit_yen": sum(r[side]["profit_yen"] or 0 for r in settled),
    }


def _row(
    race_id: str,
    post: dt.datetime | None,
    in_force: list[dict[str, Any]],
    candidate: list[dict[str, Any]],
    result: RaceResult | None,
) -> dict[str, Any]:
    return {
        "race_id": race_id,
        "post_time": post.astimezone(JST).isoformat() if post else None,
        "settled": result is not None and bool(result.payouts),
        "in_force": _side(in_force, result),
        "candidate": _side(candidate, result),
    }


def _bought(detail: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [dict(t) for t in (detail or {}).get("tickets", [])]


def _read_day(path: Path, day: dt.date) -> tuple[dict[str, Any], dict[str, dt.datetime]]:
    """The journal's outcomes and post times, keyed by race key."""
    if not path.exists():
        raise KeibaError(f"no journal for {day} at {path}: the day has not been run here")
    with closing(Journal(path)) as journal:
        plan, outcomes = journal.plan(), journal.outcomes()
    keys = {r: str(NetkeibaRaceId.parse(r).to_race_key(day)) for r in outcomes}
    posts = {keys.get(r.race_id, r.race_id): r.post_time for r in plan.races} if plan else {}
    return {keys[r]: o for r, o in outcomes.items()}, posts


def compare(
    config: KeibaConfig,
    day: dt.date | None = None,
    journal: Path | None = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """The shadow and the canary of `day` (default: today in JST) against the release in force,
    race by race, from the day's journal (default: the one under the home directory)."""
    day = day or (clock or SystemClock()).now().astimezone(JST).date()
    path = journal or journal_path(config.home, day)
    outcomes, posts = _read_day(path, day)
    shadow = log_rows(path.with_suffix(".shadow.jsonl"))
    canary = log_rows(path.with_suffix(".canary.jsonl"))
    races = sorted(set(shadow) | set(canary))
    results: dict[str, RaceResult] = {}
    if races:
        with open_dataset(config, read_only=True) as warehouse:
            if warehouse.has_table("payouts"):
                results = race_results(warehouse, races)
    shadow_rows, canary_rows = [], []
    for race_id in races:
        outcome = outcomes.get(race_id)
        bought = _bought(outcome.detail if outcome else None)
        result = results.get(race_id)
        post = posts.get(race_id)
        if race_id in canary:
            in_force = [dict(t) for t in canary[race_id]["tickets"]]
            canary_rows.append(_row(race_id, post, in_force, bought, result))
        else:
            in_force = bought
        if race_id in shadow:
            candidate = [dict(t) for t in shadow[race_id]["tickets"]]
            shadow_rows.append(_row(race_id, post, in_force, candidate, result))
    report: dict[str, Any] = {"date": day.isoformat(), "journal": str(path)}
    for name, rows, log in (("shadow", shadow_rows, shadow), ("canary", canary_rows, canary)):
        if not rows:
            report[name] = None
            continue
        first = log[rows[0]["race_id"]]
        report[name] = {
            "release_id": first["release_id"] if name == "shadow" else first["canary"],
            "in_force": first["in_force"],
            "races": rows,
            "totals": {
                "in_force": _totals(rows, "in_force"),
                "candidate": _totals(rows, "candidate"),
            },
        }
    return report
