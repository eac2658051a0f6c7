"""Import the real 2018 JRA data set (`tests/data_collector/fixtures/jra2018/`) into races,
runners and payouts.

Inputs: the results CSVs (`results/*.csv`, 27 columns, no header, one line per runner that
finished), `payouts_2018.csv` (netkeiba race ids) and `kaisai_calendar.json`, which maps a
date and racecourse to its 開催回 and 日目 and so gives each race its 16-digit race key and joins
the payouts to it. Pass directories or files; the calendar is found among them or beside them.

What a line becomes (`jra2018_results`, `jra2018_payouts`): integral odds `2` are 2.0; the
`&gt;` entity in jump courses is unescaped; （GI）/（GII）/（GIII）/（L） in the title, also the
jump forms （J・GI）…, give the grade G1/G2/G3/L and leave the title (others, e.g. （重賞）, stay in
the name with no grade); 芝/ダート/障害 → turf/dirt/jump; the pre-2019 classes are renamed
(500万下 → 1勝, 1000万下 → 2勝, 1600万下 → 3勝, オープン → OP); a debut's body-weight change `-`
and a missing corner record `-` are null; a last-3-furlong time written `1.02.1` is 62.1 s. Every
line is a runner with status finished and its position; runners that did not finish are not in
the files and are not invented (the published field size is kept). Horse, jockey and trainer ids,
post time, weather and margin are null; demotions are not flagged in the source (demoted=false).
Every value is checked against the contract (odds above 1.0, payouts at least 100 yen, horse
numbers, positions and popularity within the field size, the 枠番 that JRA's allocation gives
the horse number, a combination's arity and separator for its bet type, a date and racecourse
the calendar knows); a race's lines must agree on the race and rank 1, 1, 3, … (dead heats).

**The race is the unit: a race is written whole (race row, every runner, every payout) or not at
all.** A bad line goes to quarantine with `path:line`, the reason and the raw text; then
- every other line of its race (results and payouts alike) goes to quarantine too, each with the
  reason "withheld with race …", and nothing of the race is written. A race already in the
  warehouse stays as it was;
- a line that names no readable race (unparseable, or a date or racecourse the calendar does not
  know) cannot be given to a race. Since the files list a race's lines together, it withholds
  the race just before and just after it in its file — for results only if that race has fewer
  rows than its field size (a complete race cannot be missing a runner);
- a line identical to an earlier line of the same race (the source repeats 2018-05-05 新潟
  R1–R9 in the April and May files) is kept once and listed in the report; two different lines
  for the same horse or payout combination make the race bad.
Payouts whose race is neither in the results nor already in the warehouse are quarantined and
listed as payouts without a race. So every line read is loaded, listed as a duplicate, or in
quarantine: nothing is dropped silently and no race is half-written. The load is one
transaction, and a race whose rows equal the stored ones is left alone, so re-importing changes
nothing; quarantine keeps one row per (source, locator, reason) and is written just before the
load, so a failed load leaves the bad records on file and a re-run adds nothing twice.

Cross-checks, reported and never hidden: the winner's final odds × 100 against the win payout
(dead heats for first are listed instead of checked); races with fewer rows than their field
size; races that end up without payouts; payouts without a race; races with tied positions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl

from keiba.common.bet_types import BetType
from keiba.common.clock import Clock
from keiba.common.errors import ImportValidationError
from keiba.common.polars_types import POLARS_TYPES
from keiba.common.schema import Table, table
from keiba.common.storage.warehouse import LoadResult, LoadSource, Warehouse, check_load_kind
from keiba.data_collector.canonical import CanonicalFile, _check_columns, _Problems
from keiba.data_collector.jra2018_payouts import (
    PAYOUT_HEADER,
    PayoutsBatch,
    assemble_payouts,
    check_against_field,
)
from keiba.data_collector.jra2018_results import (
    SOURCE,
    DuplicateLine,
    KaisaiCalendar,
    ResultsBatch,
    SourceLine,
    assemble_results,
    read_lines,
    split_line,
)
from keiba.data_collector.quarantine import quarantine

__all__ = [
    "CALENDAR_NAME",
    "CrossChecks",
    "DeadHeatForFirst",
    "Jra2018ImportReport",
    "OddsMismatch",
    "ShortField",
    "TableCounts",
    "import_jra2018",
]

CALENDAR_NAME = "kaisai_calendar.json"


@dataclass(frozen=True)
class TableCounts:
    """Rows this import produced for a table, and what the load did with their races."""

    rows: int
    new: int
    changed: int
    unchanged: int
    rows_written: int


@dataclass(frozen=True)
class OddsMismatch:
    race_id: str
    horse_no: int
    win_odds: float
    win_payouts: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class DeadHeatForFirst:
    race_id: str
    horse_nos: tuple[int, ...]
    win_odds: tuple[float, ...]
    win_payouts: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ShortField:
    race_id: str
    rows: int
    field_size: int


@dataclass(frozen=True)
class CrossChecks:
    odds_checked: int
    odds_passed: int
    odds_mismatches: tuple[OddsMismatch, ...]
    dead_heats_for_first: tuple[DeadHeatForFirst, ...]
    no_win_payout: tuple[str, ...]
    short_fields: tuple[ShortField, ...]
    races_without_payouts: tuple[str, ...]
    payouts_without_race: tuple[str, ...]
    tied_races: tuple[str, ...]
    duplicate_lines: tuple[DuplicateLine, ...]


@dataclass(frozen=True)
class Jra2018ImportReport:
    files: tuple[str, ...]
    result_lines: int
    payout_lines: int
    races: TableCounts
    runners: TableCounts
    payouts: TableCounts
    quarantined: int
    """Lines this import sent to quarantine."""
    quarantine_new: int
    """Of those, rows the quarantine table did not hold yet."""
    withheld_races: tuple[str, ...]
    checks: CrossChecks

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> list[str]:
        """A few human lines: counts and the cross-check figures."""
        c = self.checks
        lines = [
            f"read {self.result_lines:,} result lines and {self.payout_lines:,} payout lines "
            f"from {len(self.files)} files",
        ]
        for name, counts in (("races", self.races), ("runners", self.runners)):
            lines.append(
                f"{name}: {counts.rows:,} rows; races new {counts.new:,}, changed "
                f"{counts.changed:,}, unchanged {counts.unchanged:,}"
            )
        lines += [
            f"payouts: {self.payouts.rows:,} rows; races new {self.payouts.new:,}, changed "
            f"{self.payouts.changed:,}, unchanged {self.payouts.unchanged:,}",
            f"quarantined: {self.quarantined:,} lines ({self.quarantine_new:,} new), "
            f"{len(self.withheld_races):,} races withheld",
            f"duplicate lines kept once: {len(c.duplicate_lines):,}",
            f"odds × 100 = win payout: {c.odds_passed:,} of {c.odds_checked:,} "
            f"({len(c.odds_mismatches):,} mismatches); dead heats for first: "
            f"{len(c.dead_heats_for_first):,}; races without a win payout: "
            f"{len(c.no_win_payout):,}",
            f"races with fewer rows than their field: {len(c.short_fields):,} "
            f"({sum(s.field_size - s.rows for s in c.short_fields):,} runners absent)",
            f"races with tied positions: {len(c.tied_races):,}",
            f"races without payouts: {len(c.races_without_payouts):,}; payouts without a race: "
            f"{len(c.payouts_without_race):,} races",
        ]
        return lines


@dataclass(frozen=True)
class _Inputs:
    results: tuple[Path, ...]
    payouts: tuple[Path, ...]
    calendar: Path


def _is_payouts(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.readline().removeprefix(b"\xef\xbb\xbf")
    return head.startswith(b"race_id,")


def _discover(paths: Sequence[Path], calendar: Path | None) -> _Inputs:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            files.append(path)
        else:
            raise ImportValidationError(str(path), None, None, "no such file or directory")
    unique = list(dict.fromkeys(p.resolve() for p in files))
    csvs = [p for p in unique if p.suffix.lower() == ".csv"]
    if not csvs:
        raise ImportValidationError(", ".join(map(str, paths)), None, None, "no CSV files")
    if calendar is None:
        near = [p for p in unique if p.name == CALENDAR_NAME]
        for path in (p.resolve() for p in paths):
            base = path if path.is_dir() else path.parent
            near += [
                d / CALENDAR_NAME for d in (base, base.parent) if (d / CALENDAR_NAME).is_file()
            ]
        if not near:
            raise ImportValidationError(
                ", ".join(map(str, paths)), None, None, f"no {CALENDAR_NAME} among or beside them"
            )
        calendar = near[0]
    payouts = tuple(p for p in csvs if _is_payouts(p))
    return _Inputs(tuple(p for p in csvs if p not in payouts), payouts, calendar)


def _payout_lines(path: Path) -> list[SourceLine]:
    lines = read_lines(path)
    header = tuple(f.strip() for f in split_line(lines[0])) if lines else ()
    if header != PAYOUT_HEADER:
        raise ImportValidationError(
            str(path), 1, None, f"header {header} is not {', '.join(PAYOUT_HEADER)}"
        )
    return lines[1:]


def _frame(t: Table, columns: dict[str, list[Any]]) -> pl.DataFrame:
    frame = pl.DataFrame(columns, schema={c.name: POLARS_TYPES[c.type] for c in t.columns})
    problems = _Problems(CanonicalFile(t, Path(f"jra2018 {t.name} frame")))
    _check_columns(frame, t.columns, problems)  # the parsers checked every value: a last guard
    problems.raise_if_any()
    return frame


def _frames(
    results: ResultsBatch, payouts: PayoutsBatch, ingested_at: dt.datetime
) -> dict[str, pl.DataFrame]:
    races = [race.rows[0] for race in results.races.values()]
    runners = [row for race in results.races.values() for row in race.rows]
    paid = [row for rows in payouts.races.values() for row in rows]
    race_columns: dict[str, list[Any]] = {
        "race_id": [str(r.race_key) for r in races],
        "netkeiba_race_id": [str(r.race_key.to_netkeiba()) for r in races],
        "race_date": [r.race_key.race_date for r in races],
        "venue_code": [r.race_key.venue.value for r in races],
        "meeting": [r.race_key.meeting for r in races],
        "meeting_day": [r.race_key.meeting_day for r in races],
        "race_no": [r.race_key.race_no for r in races],
        "post_time": [None] * len(races),
        "weather": [None] * len(races),
        "source": [SOURCE] * len(races),
        "ingested_at": [ingested_at] * len(races),
    }
    for name in ("race_name", "grade", "race_class", "surface", "distance_m", "direction"):
        race_columns[name] = [getattr(r, name) for r in races]
    race_columns["going"] = [r.going for r in races]
    race_columns["field_size"] = [r.field_size for r in races]
    runner_columns: dict[str, list[Any]] = {
        "race_id": [str(r.race_key) for r in runners],
        "status": ["finished"] * len(runners),
        "demoted": [False] * len(runners),
    }
    for name in ("horse_id", "jockey_id", "trainer_id", "margin"):
        runner_columns[name] = [None] * len(runners)
    for column in table("runners").column_names:
        if column not in runner_columns:
            runner_columns[column] = [getattr(r, column) for r in runners]
    payout_columns: dict[str, list[Any]] = {
        "race_id": [p.race_id for p in paid],
        "bet_type": [p.bet_type.value for p in paid],
        "combination": [p.combination for p in paid],
        "payout_yen": [p.payout_yen for p in paid],
        "popularity": [p.popularity for p in paid],
    }
    return {
        "races": _frame(table("races"), race_columns),
        "runners": _frame(table("runners"), runner_columns),
        "payouts": _frame(table("payouts"), payout_columns),
    }


def _join(results: ResultsBatch, payouts: PayoutsBatch, warehouse: Warehouse) -> list[str]:
    """Withhold races whose other half is bad; returns payout races that have no race."""
    for race_id in sorted(payouts.withheld & set(results.races)):
        results.withhold(race_id, f"withheld with race {race_id}: its payouts are quarantined")
    stored = warehouse.query("SELECT race_id, field_size FROM races")
    field_sizes = dict(
        zip(stored["race_id"].to_list(), stored["field_size"].to_list(), strict=True)
    )
    field_sizes.update({race_id: race.field_size for race_id, race in results.races.items()})
    orphans: list[str] = []
    for race_id in sorted(payouts.races):
        if race_id in results.withheld:
            payouts.withhold(race_id, f"withheld with race {race_id}: its results are quarantined")
        elif race_id not in field_sizes:
            orphans.append(race_id[:4] + race_id[8:])
            payouts.withhold(race_id, f"race {race_id} is neither in the results nor the warehouse")
        elif bad := check_against_field(payouts.races[race_id], field_sizes[race_id]):
            first = next(line for line in payouts.lines[race_id] if line in bad)
            why = f"withheld with race {race_id}: first bad payout {first.locator} ({bad[first]})"
            payouts.withhold(race_id, why, {line: [reason] for line, reason in bad.items()})
            results.withhold(race_id, why)
    return orphans


def _odds_checks(
    results: ResultsBatch, payouts: PayoutsBatch
) -> tuple[int, int, list[OddsMismatch], list[DeadHeatForFirst], list[str]]:
    checked, passed = 0, 0
    mismatches: list[OddsMismatch] = []
    dead_heats: list[DeadHeatForFirst] = []
    no_win: list[str] = []
    for race_id, race in results.races.items():
        paid = payouts.races.get(race_id)
        if not paid:
            continue
        wins = tuple((p.combination, p.payout_yen) for p in paid if p.bet_type is BetType.WIN)
        winners = [row for row in race.rows if row.finish_pos == 1]
        if not wins:
            no_win.append(race_id)
        elif len(winners) > 1:
            dead_heats.append(
                DeadHeatForFirst(
                    race_id,
                    tuple(w.horse_no for w in winners),
                    tuple(w.win_odds_final for w in winners),
                    wins,
                )
            )
        else:
            checked += 1
            winner = winners[0]
            if wins == ((str(winner.horse_no), round(winner.win_odds_final * 100)),):
                passed += 1
            else:
                mismatches.append(
                    OddsMismatch(race_id, winner.horse_no, winner.win_odds_final, wins)
                )
    return checked, passed, mismatches, dead_heats, no_win


def _counts(name: str, frame: pl.DataFrame, loaded: LoadResult) -> TableCounts:
    return TableCounts(
        rows=frame.height,
        new=loaded.new.get(name, 0),
        changed=loaded.changed.get(name, 0),
        unchanged=loaded.unchanged.get(name, 0),
        rows_written=loaded.rows_written.get(name, 0),
    )


def _ids_with_payouts(warehouse: Warehouse, race_ids: Iterable[str]) -> set[str]:
    wanted = pl.DataFrame({"race_id": list(race_ids)}, schema={"race_id": pl.String()})
    stored = warehouse.query("SELECT DISTINCT race_id FROM payouts")["race_id"]
    return set(wanted.filter(pl.col("race_id").is_in(stored.implode()))["race_id"].to_list())


def import_jra2018(
    warehouse: Warehouse, paths: Sequence[Path], clock: Clock, *, calendar: Path | None = None
) -> Jra2018ImportReport:
    """Import the jra2018 results and payouts (directories or files) into the warehouse.

    The races are real: a dataset of simulated races is refused before anything is written.
    Bad lines go to quarantine and take their whole race with them (see the module docstring);
    everything else is loaded in one transaction. A file that cannot be read at all, or a
    payouts file with a wrong header, raises `ImportValidationError` before anything is written.
    """
    now = clock.now()
    if now.tzinfo is None:
        raise ValueError(f"the clock must give timezone-aware instants, was {now.isoformat()}")
    ingested_at = now.astimezone(dt.UTC)
    inputs = _discover(paths, calendar)
    days = KaisaiCalendar.from_json(inputs.calendar)
    results = assemble_results([read_lines(p) for p in inputs.results], days)
    payouts = assemble_payouts([_payout_lines(p) for p in inputs.payouts], days)
    warehouse.ensure_schema()
    check_load_kind(warehouse, "real")
    orphans = _join(results, payouts, warehouse)
    checked, passed, mismatches, dead_heats, no_win = _odds_checks(results, payouts)
    frames = _frames(results, payouts, ingested_at)
    records = results.quarantined + payouts.quarantined
    quarantine_new = quarantine(warehouse, records, clock)
    given = ", ".join(str(Path(p).resolve()) for p in paths)
    loaded = warehouse.load(frames, LoadSource("real", f"jra2018 {given}", ingested_at))
    with_payouts = _ids_with_payouts(warehouse, results.races)
    tied = [
        race_id
        for race_id, race in results.races.items()
        if len({row.finish_pos for row in race.rows}) < len(race.rows)
    ]
    return Jra2018ImportReport(
        files=tuple(str(p) for p in (*inputs.results, *inputs.payouts, inputs.calendar)),
        result_lines=results.lines_read,
        payout_lines=payouts.lines_read,
        races=_counts("races", frames["races"], loaded),
        runners=_counts("runners", frames["runners"], loaded),
        payouts=_counts("payouts", frames["payouts"], loaded),
        quarantined=len(records),
        quarantine_new=quarantine_new,
        withheld_races=tuple(sorted(results.withheld | payouts.withheld)),
        checks=CrossChecks(
            odds_checked=checked,
            odds_passed=passed,
            odds_mismatches=tuple(mismatches),
            dead_heats_for_first=tuple(dead_heats),
            no_win_payout=tuple(no_win),
            short_fields=tuple(
                ShortField(race_id, len(race.rows), race.field_size)
                for race_id, race in results.races.items()
                if race.short
            ),
            races_without_payouts=tuple(sorted(set(results.races) - with_payouts)),
            payouts_without_race=tuple(orphans),
            tied_races=tuple(tied),
            duplicate_lines=tuple(results.duplicates + payouts.duplicates),
        ),
    )
