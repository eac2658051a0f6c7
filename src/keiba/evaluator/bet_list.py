"""The bets themselves, as a reader checks them: which race, which horses, at what price, won.

`label_bets` adds the racecourse, race number and name and the names of a ticket's horses to
bets rows (`BETS_SCHEMA` of `keiba.evaluator.backtest_frames`) from the warehouse's `races` and
`runners` rows (`warehouse_names`); `bet_list` turns bets rows into the listing's records;
`bets_html` writes them as a plain HTML table with the same records downloadable as CSV from a
`data:` link (UTF-8 with a byte-order mark, so spreadsheets read the Japanese names). No script,
no network.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from keiba.common.bet_types import BetType, parse_combination
from keiba.common.errors import InvalidRaceIdError
from keiba.common.ids import RaceKey, Venue

if TYPE_CHECKING:
    from keiba.common.storage.warehouse import Warehouse

__all__ = [
    "BET_LIST_COLUMNS",
    "MAX_LISTED_BETS",
    "OPEN_LISTED_BETS",
    "bet_list",
    "bet_type_label",
    "bets_csv",
    "bets_html",
    "horse_names",
    "label_bets",
    "warehouse_names",
]

MAX_LISTED_BETS = 5_000
"""Rows of the HTML table at most; the CSV always holds every bet."""
OPEN_LISTED_BETS = 100
"""Up to this many bets the table is shown open; longer lists are folded (a click opens them)."""

BET_LIST_COLUMNS: dict[str, pl.DataType | type[pl.DataType]] = {
    "strategy": pl.String,
    "date": pl.Date,
    "race_id": pl.String,
    "race": pl.String,
    "bet_type": pl.String,
    "combination": pl.String,
    "horses": pl.String,
    "probability": pl.Float64,
    "decision_odds": pl.Float64,
    "final_odds": pl.Float64,
    "stake_yen": pl.Int64,
    "result": pl.String,
    "paid_yen": pl.Int64,
}
"""The records of the listing and the CSV's columns, in order."""

_HEADER = (
    "strategy",
    "date",
    "race",
    "bet type",
    "combination",
    "horses",
    "probability",
    "odds at decision",
    "final odds",
    "stake (yen)",
    "result",
    "paid (yen)",
)


# ---------------------------------------------------------------- names


def horse_names(
    bet_type: str, combination: str, names: Mapping[int, str], frames: Mapping[int, int]
) -> str | None:
    """The names of a ticket's horses in its order: 'A / B' (unordered), 'A → B' (ordered), a
    bracket's frames as '[A・B] / [C]'; None when the combination cannot be read."""
    try:
        kind = BetType(bet_type)
        numbers = parse_combination(kind, combination)
    except ValueError:
        return None
    if kind is BetType.BRACKET_QUINELLA:
        parts = [
            "[" + "・".join(names.get(h, f"#{h}") for h in sorted(frames) if frames[h] == f) + "]"
            for f in numbers
        ]
    else:
        parts = [names.get(n, f"#{n}") for n in numbers]
    return (" → " if kind.ordered else " / ").join(parts)


def warehouse_names(warehouse: Warehouse, race_ids: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The `races` and `runners` rows `label_bets` reads, for `race_ids`."""
    races = warehouse.query(
        "SELECT race_id, CAST(venue_code AS BIGINT) AS venue_code, "
        "CAST(race_no AS BIGINT) AS race_no, race_name FROM races "
        "WHERE race_id IN (SELECT unnest(?))",
        [race_ids],
    )
    runners = warehouse.query(
        "SELECT race_id, CAST(horse_no AS BIGINT) AS horse_no, "
        "CAST(frame_no AS BIGINT) AS frame_no, horse_name FROM runners "
        "WHERE race_id IN (SELECT unnest(?))",
        [race_ids],
    )
    return races, runners


def _venue(code: int | None) -> str | None:
    if code is None:
        return None
    try:
        return Venue(int(code)).japanese
    except ValueError:
        return str(code)


def label_bets(bets: pl.DataFrame, races: pl.DataFrame, runners: pl.DataFrame) -> pl.DataFrame:
    """`bets` with `venue`, `race_no`, `race_name` and `horses` set from `races` (race_id,
    venue_code, race_no, race_name) and `runners` (race_id, horse_no, frame_no, horse_name)."""
    about = {
        str(r): (_venue(code), None if no is None else int(no), name)
        for r, code, no, name in races.select(
            "race_id", "venue_code", "race_no", "race_name"
        ).iter_rows()
    }
    names: dict[str, dict[int, str]] = {}
    frames: dict[str, dict[int, int]] = {}
    for race_id, horse, frame, name in runners.select(
        "race_id", "horse_no", "frame_no", "horse_name"
    ).iter_rows():
        if name is not None:
            names.setdefault(str(race_id), {})[int(horse)] = str(name)
        if frame is not None:
            frames.setdefault(str(race_id), {})[int(horse)] = int(frame)
    rows = bets.select("race_id", "bet_type", "combination").iter_rows()
    labels = [
        (
            *about.get(race_id, (None, None, None)),
            horse_names(kind, combination, names.get(race_id, {}), frames.get(race_id, {}))
            if race_id in names
            else None,
        )
        for race_id, kind, combination in rows
    ]
    columns = ("venue", "race_no", "race_name", "horses")
    dtypes = (pl.String, pl.Int64, pl.String, pl.String)
    return bets.with_columns(
        pl.Series(c, [row[i] for row in labels], dtype=t)
        for i, (c, t) in enumerate(zip(columns, dtypes, strict=True))
    )


# ---------------------------------------------------------------- the listing


def _race(race_id: str, venue: str | None, race_no: int | None, name: str | None) -> str:
    """'東京 11R 東京優駿'; the race key's venue and number when the run has no names."""
    if venue is None or race_no is None:
        try:
            key = RaceKey.parse(race_id)
        except InvalidRaceIdError:
            return race_id
        venue, race_no = venue or key.venue.japanese, race_no or key.race_no
    return " ".join(p for p in (venue, f"{race_no}R", name) if p)


def _result(refund: bool | None, hit: bool | None) -> str:
    return "refunded" if refund else "won" if hit else "lost"


def bet_list(bets: pl.DataFrame) -> pl.DataFrame:
    """The listing's records (`BET_LIST_COLUMNS`) of bets rows, in the order they were bet."""
    ordered = bets.sort("race_seq", "strategy", "bet_type", "combination")
    records: dict[str, list[Any]] = {
        "race": [
            _race(*row)
            for row in ordered.select("race_id", "venue", "race_no", "race_name").iter_rows()
        ],
        "result": [_result(*row) for row in ordered.select("refund", "hit").iter_rows()],
    }
    frame = ordered.rename({"race_date": "date"}).with_columns(
        pl.Series("race", records["race"], dtype=pl.String),
        pl.Series("result", records["result"], dtype=pl.String),
    )
    return frame.select(list(BET_LIST_COLUMNS)).cast(BET_LIST_COLUMNS)  # type: ignore[arg-type]


def bets_csv(records: pl.DataFrame) -> bytes:
    """The records as CSV, UTF-8 with a byte-order mark."""
    return "\ufeff".encode() + records.write_csv().encode("utf-8")


def _odds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def bet_type_label(bet_type: str, separator: str = " ") -> str:
    """'win 単勝' (with the Japanese name where the bet type is known)."""
    try:
        return f"{bet_type}{separator}{BetType(bet_type).japanese}"
    except ValueError:
        return bet_type


def _cells(row: Mapping[str, Any]) -> list[str]:
    p = row["probability"]
    return [
        str(row["strategy"]),
        str(row["date"]),
        str(row["race"]),
        bet_type_label(row["bet_type"]),
        str(row["combination"]),
        row["horses"] or "—",
        "—" if p is None else f"{p:.3f}",
        _odds(row["decision_odds"]),
        _odds(row["final_odds"]),
        f"{row['stake_yen']:,}",
        str(row["result"]),
        f"{row['paid_yen']:,}",
    ]


def bets_html(records: pl.DataFrame, labels: Mapping[str, str], what: str) -> str:
    """The table (strategies shown by `labels`) and the CSV link; `what` names the bets."""
    data = base64.b64encode(bets_csv(records)).decode("ascii")
    link = (
        f'<a class="download" download="bets.csv" href="data:text/csv;charset=utf-8;base64,{data}">'
        f"Download the {records.height:,} bets as CSV</a>"
    )
    shown = records.head(MAX_LISTED_BETS)
    rows = "".join(
        f'<tr data-race-id="{html.escape(str(r["race_id"]))}">'
        + "".join(
            f"<td>{html.escape(c)}</td>"
            for c in _cells({**r, "strategy": labels.get(r["strategy"], r["strategy"])})
        )
        + "</tr>"
        for r in shown.iter_rows(named=True)
    )
    head = "".join(f"<th>{html.escape(h)}</th>" for h in _HEADER)
    more = (
        f" The table lists the first {MAX_LISTED_BETS:,}; the CSV holds all."
        if records.height > MAX_LISTED_BETS
        else ""
    )
    summary = f"{records.height:,} {html.escape(what)}, in the order they were bet.{more}"
    return (
        f"<p>{link}</p>"
        f'<details class="bets"{" open" if records.height <= OPEN_LISTED_BETS else ""}>'
        f"<summary>{summary}</summary>"
        f'<table data-bets="{records.height}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table></details>"
    )
