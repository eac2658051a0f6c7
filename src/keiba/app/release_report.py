"""The comparison of a candidate with the release in force on the same races of race days.

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
as unsettled. A range of days is the sum of its days run under the home directory, and is
refused when the candidate (or the release in force) changes within it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import closing, contextmanager
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
from keiba.common.storage.warehouse import Warehouse
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
    until: dt.date | None = None,
) -> dict[str, Any]:
    """The shadow and the canary of `day` (default: today in JST) against the release in force,
    race by race, from the day's journal (default: the one under the home directory); with
    `until`, of every day from `day` to `until` run under the home directory, summed."""
    day = day or (clock or SystemClock()).now().astimezone(JST).date()
    if until is None:
        days = [(day, journal or journal_path(config.home, day))]
    else:
        days = _days_run(config, day, until, journal)
    shadow_rows, canary_rows = [], []
    shadow_logs: dict[str, Any] = {}
    canary_logs: dict[str, Any] = {}
    with _payouts(config) as results_of:
        for each, path in days:
            outcomes, posts = _read_day(path, each)
            shadow = log_rows(path.with_suffix(".shadow.jsonl"))
            canary = log_rows(path.with_suffix(".canary.jsonl"))
            rows = _day_rows(outcomes, posts, shadow, canary, results_of)
            shadow_rows += rows[0]
            canary_rows += rows[1]
            shadow_logs.update(shadow)
            canary_logs.update(canary)
    report: dict[str, Any] = {
        "date": day.isoformat(),
        "until": (until or day).isoformat(),
        "days": [d.isoformat() for d, _ in days],
        "journal": str(days[0][1]) if until is None else None,
    }
    report["shadow"] = _part("shadow", shadow_rows, shadow_logs, until is not None)
    report["canary"] = _part("canary", canary_rows, canary_logs, until is not None)
    return report


def _days_run(
    config: KeibaConfig, first: dt.date, last: dt.date, journal: Path | None
) -> list[tuple[dt.date, Path]]:
    """The days from `first` to `last` with a journal under the home directory."""
    if journal is not None:
        raise KeibaError("a journal names one day: compare a range from the home's journals")
    if last < first:
        raise KeibaError(f"the range ends ({last}) before it starts ({first})")
    span = (first + dt.timedelta(days=n) for n in range((last - first).days + 1))
    days = [(d, journal_path(config.home, d)) for d in span]
    days = [(d, path) for d, path in days if path.exists()]
    if not days:
        raise KeibaError(f"no race day from {first} to {last} has been run here")
    return days


@contextmanager
def _payouts(config: KeibaConfig) -> Iterator[Callable[[list[str]], dict[str, RaceResult]]]:
    """The official results of races, read from the dataset opened once (when needed)."""
    opened: list[Warehouse] = []

    def results_of(races: list[str]) -> dict[str, RaceResult]:
        if not races:
            return {}
        if not opened:
            opened.append(open_dataset(config, read_only=True))
        warehouse = opened[0]
        return race_results(warehouse, races) if warehouse.has_table("payouts") else {}

    try:
        yield results_of
    finally:
        for warehouse in opened:
            warehouse.close()


def _day_rows(
    outcomes: Mapping[str, Any],
    posts: Mapping[str, dt.datetime],
    shadow: Mapping[str, Any],
    canary: Mapping[str, Any],
    results_of: Callable[[list[str]], dict[str, RaceResult]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One day's rows of the shadow's comparison and of the canary's."""
    races = sorted(set(shadow) | set(canary))
    results = results_of(races)
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
    return shadow_rows, canary_rows


def _part(
    name: str, rows: list[dict[str, Any]], log: Mapping[str, Any], ranged: bool
) -> dict[str, Any] | None:
    """One comparison over its rows, named by its first race's candidate and release in force;
    a range is refused when they change within it: its sums would mix releases."""
    if not rows:
        return None
    key = "release_id" if name == "shadow" else "canary"
    pairs = {(log[r["race_id"]][key], log[r["race_id"]]["in_force"]) for r in rows}
    if ranged and len(pairs) > 1:
        found = ", ".join(f"{c} against {f}" for c, f in sorted(pairs))
        raise KeibaError(
            f"the {name} compared changes within the range ({found}): compare the days of "
            "each on their own"
        )
    first = log[rows[0]["race_id"]]
    candidate, in_force = first[key], first["in_force"]
    return {
        "release_id": candidate,
        "in_force": in_force,
        "races": rows,
        "totals": {
            "in_force": _totals(rows, "in_force"),
            "candidate": _totals(rows, "candidate"),
        },
    }
