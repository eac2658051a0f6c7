"""The canonical import format: one CSV or Parquet file per contract table.

A directory holds `races`, and optionally `runners`, `payouts`, `odds` and (simulated worlds
only) `true_probabilities`, each as `<table>.csv` or `<table>.parquet` with exactly the
contract's columns (docs/data-format.md). Reading validates every value against the schema in
`keiba.common.schema`; the first problem (in file order) raises `ImportValidationError` naming
the file, the line, the column and the reason, with a count of any further problems. All files
are validated before anything is written, and the load is one transaction, so a bad file never
leaves half an import behind.

The races' kind (real or simulated) is the caller's `kind`, else what an optional `dataset.json`
in the directory says (export writes one), else simulated when `true_probabilities` is present
and real otherwise; the warehouse refuses a kind other than its dataset's.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from keiba.common.bet_types import BetType, parse_combination
from keiba.common.clock import Clock, SystemClock
from keiba.common.errors import ImportValidationError
from keiba.common.ids import RaceKey
from keiba.common.polars_types import POLARS_TYPES
from keiba.common.schema import (
    CONTRACT_TABLES,
    DATASET_KINDS,
    TRUE_PROBABILITIES,
    Column,
    DatasetKind,
    LogicalType,
    Table,
)
from keiba.common.storage.warehouse import LoadResult, LoadSource, Warehouse

__all__ = [
    "DATASET_FILE",
    "CanonicalFile",
    "export_canonical",
    "import_canonical",
    "import_kind",
    "read_canonical",
    "write_canonical",
]

CANONICAL_TABLES: tuple[Table, ...] = (*CONTRACT_TABLES, TRUE_PROBABILITIES)
DATASET_FILE = "dataset.json"
"""Optional in a canonical directory: the dataset it came from, its kind and its loads."""
_TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?[+-]\d{2}:?\d{2}$"
_TRUE = {"true", "1", "t", "yes"}
_FALSE = {"false", "0", "f", "no"}


@dataclass(frozen=True)
class CanonicalFile:
    table: Table
    path: Path

    @property
    def is_csv(self) -> bool:
        return self.path.suffix == ".csv"

    def line(self, row_index: int) -> int:
        """Human line (CSV: after the header) or row number (Parquet) of a 0-based row."""
        return row_index + 2 if self.is_csv else row_index + 1


class _Problems:
    """Collects (row, column, reason) and raises the earliest one with a count of the rest."""

    def __init__(self, file: CanonicalFile) -> None:
        self.file = file
        self.found: list[tuple[int, str | None, str]] = []
        self.uncounted = 0

    def add_mask(self, mask: pl.Series, column: str | None, reason: str) -> None:
        hits = mask.fill_null(False).arg_true()
        if len(hits):
            self.found.append((int(hits[0]), column, reason))
            self.uncounted += len(hits) - 1

    def add(self, row: int | None, column: str | None, reason: str) -> None:
        self.found.append((row if row is not None else -1, column, reason))

    def raise_if_any(self) -> None:
        if not self.found:
            return
        self.found.sort(key=lambda item: item[0])
        row, column, reason = self.found[0]
        more = len(self.found) - 1 + self.uncounted
        if more:
            reason += f" (and {more} more problem{'s' if more > 1 else ''} in this file)"
        raise ImportValidationError(
            str(self.file.path), self.file.line(row) if row >= 0 else None, column, reason
        )


def _find_files(directory: Path) -> list[CanonicalFile]:
    if not directory.is_dir():
        raise ImportValidationError(str(directory), None, None, "not a directory")
    files: list[CanonicalFile] = []
    for t in CANONICAL_TABLES:
        found = [directory / f"{t.name}{ext}" for ext in (".csv", ".parquet")]
        present = [p for p in found if p.exists()]
        if len(present) > 1:
            raise ImportValidationError(
                str(directory), None, None, f"both {t.name}.csv and {t.name}.parquet exist"
            )
        if present:
            files.append(CanonicalFile(t, present[0]))
    if not any(f.table.name == "races" for f in files):
        raise ImportValidationError(
            str(directory), None, None, "no races.csv or races.parquet (the races file is required)"
        )
    return files


def _read_raw(file: CanonicalFile) -> pl.DataFrame:
    try:
        if file.is_csv:
            return pl.read_csv(file.path, infer_schema=False, encoding="utf8")
        return pl.read_parquet(file.path)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as e:
        raise ImportValidationError(str(file.path), None, None, f"unreadable: {e}") from e


def _convert(raw: pl.Series, column: Column, problems: _Problems) -> pl.Series:
    target = POLARS_TYPES[column.type]
    name = column.name
    if raw.dtype == target:
        return raw
    if column.type is LogicalType.TIMESTAMP and isinstance(raw.dtype, pl.Datetime):
        if raw.dtype.time_zone is None:
            problems.add(0, name, "timestamps must carry a time zone (UTC offset)")
            return pl.Series(name, [None] * len(raw), dtype=target)
        return raw.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    text = raw if raw.dtype == pl.String else raw.cast(pl.String, strict=False)
    text = text.str.strip_chars()
    text = pl.Series(name, text).set(text == "", None)
    if column.type is LogicalType.STRING:
        return text
    if column.type is LogicalType.INT:
        converted = text.cast(pl.Int64, strict=False)
        reason = "not a whole number"
    elif column.type is LogicalType.FLOAT:
        converted = text.cast(pl.Float64, strict=False)
        converted = converted.set(~converted.is_finite(), None)
        reason = "not a finite decimal number"
    elif column.type is LogicalType.BOOL:
        lowered = text.str.to_lowercase()
        converted = (
            pl.select(
                pl.when(lowered.is_in(_TRUE))
                .then(True)
                .when(lowered.is_in(_FALSE))
                .then(False)
                .otherwise(None)
            )
            .to_series()
            .alias(name)
        )
        reason = "not a boolean (true/false)"
    elif column.type is LogicalType.DATE:
        converted = text.str.to_date("%Y-%m-%d", strict=False)
        reason = "not a date YYYY-MM-DD"
    else:
        iso = text.str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T").str.replace(r"Z$", "+00:00")
        well_formed = iso.str.contains(_TIMESTAMP_PATTERN)
        converted = iso.set(~well_formed.fill_null(False), None).str.to_datetime(
            "%Y-%m-%dT%H:%M:%S%.f%z", time_zone="UTC", strict=False, time_unit="us"
        )
        reason = "not an ISO 8601 timestamp with a UTC offset (e.g. 2024-05-26T15:40:00+09:00)"
    problems.add_mask(text.is_not_null() & converted.is_null(), name, reason)
    return converted.alias(name)


def _column_checks(column: Column) -> list[tuple[pl.Expr, str]]:
    """The column's rules: each an expression true where a value breaks it, and the reason."""
    values = pl.col(column.name)
    checks: list[tuple[pl.Expr, str]] = []
    if not column.nullable:
        checks.append((values.is_null(), "missing value (the column is required)"))
    if column.choices is not None:
        checks.append(
            (
                values.is_not_null() & ~values.is_in(column.choices),
                f"not one of {', '.join(column.choices)}",
            )
        )
    if column.pattern is not None:
        checks.append(
            (
                values.is_not_null() & ~values.str.contains(f"^(?:{column.pattern})$"),
                f"does not match the pattern {column.pattern}",
            )
        )
    if column.minimum is not None:
        low = values <= column.minimum if column.exclusive_minimum else values < column.minimum
        bound = "above" if column.exclusive_minimum else "at least"
        checks.append((low, f"must be {bound} {column.minimum:g}"))
    if column.maximum is not None:
        checks.append((values > column.maximum, f"must be at most {column.maximum:g}"))
    return checks


def _check_columns(frame: pl.DataFrame, columns: Sequence[Column], problems: _Problems) -> None:
    """Every value of every column against its column's rules, in one pass over the frame."""
    checks = [(c.name, *check) for c in columns for check in _column_checks(c)]
    if not checks or frame.is_empty():
        return
    found = frame.select(
        pl.struct(
            hits.fill_null(False).sum().alias("n"), hits.fill_null(False).arg_max().alias("first")
        ).alias(str(i))
        for i, (_, hits, _) in enumerate(checks)
    ).row(0)
    for (name, _, reason), hit in zip(checks, found, strict=True):
        if hit["n"]:
            problems.add(int(hit["first"]), name, reason)
            problems.uncounted += int(hit["n"]) - 1


def _check_rows(file: CanonicalFile, frame: pl.DataFrame, problems: _Problems) -> None:
    key = list(file.table.key)
    problems.add_mask(
        frame.select(pl.struct(key).is_duplicated()).to_series()
        & frame.select(pl.struct(key).is_first_distinct()).to_series().not_(),
        ",".join(key),
        "duplicate key (the same row appears earlier in the file)",
    )
    name = file.table.name
    if name == "races":
        rebuilt = frame.select(
            pl.concat_str(
                pl.col("race_date").dt.strftime("%Y%m%d"),
                *(
                    pl.col(c).cast(pl.String).str.zfill(2)
                    for c in ("venue_code", "meeting", "meeting_day", "race_no")
                ),
            )
        ).to_series()
        problems.add_mask(
            rebuilt != frame["race_id"],
            "race_id",
            "does not agree with race_date, venue_code, meeting, meeting_day and race_no",
        )
        problems.add_mask(
            frame["netkeiba_race_id"]
            != frame["race_id"].str.slice(0, 4) + frame["race_id"].str.slice(8, 8),
            "netkeiba_race_id",
            "does not agree with race_id",
        )
    if name == "runners":
        finished = frame["status"] == "finished"
        problems.add_mask(
            finished & frame["finish_pos"].is_null(), "finish_pos", "a finished runner needs one"
        )
        problems.add_mask(
            ~finished & frame["finish_pos"].is_not_null(),
            "finish_pos",
            "only finished runners have a position",
        )
    if name in ("payouts", "odds"):
        pairs = (
            frame.select("bet_type", "combination")
            .with_row_index("_row")
            .unique(subset=["bet_type", "combination"], keep="first")
        )
        for row, bet, combination in pairs.iter_rows():
            if bet is None or combination is None:
                continue
            try:
                parse_combination(BetType(bet), combination)
            except ValueError as e:
                problems.add(int(row), "combination", str(e))


_LATER_COLUMNS = {("true_probabilities", "p_knowable")}
"""Nullable columns added to the contract later: a file written before them may lack them."""


def _read_one(file: CanonicalFile) -> pl.DataFrame:
    raw = _read_raw(file)
    expected = list(file.table.column_names)
    later = [c for c in expected if (file.table.name, c) in _LATER_COLUMNS]
    raw = raw.with_columns(pl.lit(None, pl.String).alias(c) for c in later if c not in raw.columns)
    missing = [c for c in expected if c not in raw.columns]
    extra = [c for c in raw.columns if c not in expected]
    if missing:
        raise ImportValidationError(str(file.path), None, missing[0], "missing column")
    if extra:
        raise ImportValidationError(
            str(file.path), None, extra[0], "unexpected column (not in the data contract)"
        )
    problems = _Problems(file)
    columns = [_convert(raw[c.name], c, problems) for c in file.table.columns]
    frame = pl.DataFrame(columns)
    _check_columns(frame, file.table.columns, problems)
    problems.raise_if_any()
    for race_id in frame["race_id"].unique().to_list():
        RaceKey.parse(race_id)  # the pattern passed; this checks the date and ranges
    _check_rows(file, frame, problems)
    problems.raise_if_any()
    return frame


def read_canonical(
    directory: Path, known_race_ids: set[str] | None = None
) -> dict[str, pl.DataFrame]:
    """Read and validate a canonical directory; returns typed frames keyed by table name."""
    files = _find_files(directory)
    frames: dict[str, pl.DataFrame] = {}
    for file in files:
        try:
            frames[file.table.name] = _read_one(file)
        except ImportValidationError:
            raise
        except ValueError as e:  # an id that matched the pattern but is not a real race key
            raise ImportValidationError(str(file.path), None, "race_id", str(e)) from e
    race_ids = set(frames["races"]["race_id"].to_list()) | (known_race_ids or set())
    for file in files:
        if file.table.name == "races":
            continue
        orphan = ~frames[file.table.name]["race_id"].is_in(list(race_ids))
        problems = _Problems(file)
        problems.add_mask(orphan, "race_id", "race is neither in the races file nor the warehouse")
        problems.raise_if_any()
    return frames


def _declared_kind(directory: Path) -> DatasetKind | None:
    path = directory / DATASET_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ImportValidationError(str(path), None, None, f"unreadable: {e}") from e
    kind = data.get("kind") if isinstance(data, dict) else None
    for known in DATASET_KINDS:
        if kind == known:
            return known
    raise ImportValidationError(str(path), None, "kind", f"not one of {', '.join(DATASET_KINDS)}")


def import_kind(
    directory: Path, frames: Mapping[str, pl.DataFrame], kind: DatasetKind | None = None
) -> DatasetKind:
    """The kind of the races in a canonical directory (see the module docstring)."""
    declared = _declared_kind(directory)
    if kind is not None and declared is not None and kind != declared:
        raise ImportValidationError(
            str(directory / DATASET_FILE), None, "kind", f"says {declared}, not {kind}"
        )
    has_truth = "true_probabilities" in frames
    chosen: DatasetKind = kind or declared or ("simulated" if has_truth else "real")
    if chosen == "real" and has_truth:
        raise ImportValidationError(
            str(directory), None, None, "true_probabilities exist only in simulated data"
        )
    return chosen


def import_canonical(
    warehouse: Warehouse,
    directory: Path,
    *,
    kind: DatasetKind | None = None,
    clock: Clock | None = None,
    source: str | None = None,
) -> LoadResult:
    """Validate the whole directory, then load it in one transaction (idempotent).

    `kind` of the races: see the module docstring; a kind other than the dataset's is refused
    (`DatasetKindError`) with nothing written. The load is listed in the dataset as `source`
    (default: the directory) at `clock`'s time (default: the system clock).
    """
    warehouse.ensure_schema()
    known = set(warehouse.query("SELECT race_id FROM races")["race_id"].to_list())
    frames = read_canonical(directory, known)
    chosen = import_kind(directory, frames, kind)
    at = (clock or SystemClock()).now()
    name = source or f"canonical {directory.resolve()}"
    return warehouse.load(frames, LoadSource(chosen, name, at))


def write_canonical(
    frames: Mapping[str, pl.DataFrame], out_dir: Path, fmt: str = "parquet"
) -> None:
    """Write frames as a canonical directory; each file appears whole or not at all."""
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be csv or parquet, was {fmt!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        target = out_dir / f"{name}.{fmt}"
        fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{name}.", suffix=f".{fmt}")
        os.close(fd)
        try:
            if fmt == "csv":
                frame.write_csv(tmp, datetime_format="%Y-%m-%dT%H:%M:%S%:z")
            else:
                frame.write_parquet(tmp, compression="zstd")
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _write_dataset_file(warehouse: Warehouse, out_dir: Path) -> None:
    kind = warehouse.kind()
    if kind is None:
        return
    loads = warehouse.query("SELECT * FROM dataset_loads ORDER BY loaded_at, source")
    info: dict[str, Any] = {"name": warehouse.dataset, "kind": kind, "loads": loads.to_dicts()}
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".{DATASET_FILE}.tmp"
    tmp.write_text(json.dumps(info, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(out_dir / DATASET_FILE)


def export_canonical(warehouse: Warehouse, out_dir: Path, fmt: str = "parquet") -> dict[str, int]:
    """Write every non-empty contract table of the warehouse as a canonical directory, and
    `dataset.json` (the dataset's name, kind and loads); returns the rows per table."""
    counts: dict[str, int] = {}
    frames: dict[str, pl.DataFrame] = {}
    for t in CANONICAL_TABLES:
        frame = warehouse.query(
            f"SELECT {', '.join(t.column_names)} FROM {t.name} ORDER BY {', '.join(t.key)}"
        )
        if frame.height:
            frames[t.name] = frame
            counts[t.name] = frame.height
    write_canonical(frames, out_dir, fmt)
    _write_dataset_file(warehouse, out_dir)
    return counts
