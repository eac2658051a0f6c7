"""The whole real 2018 year, imported into a fresh DuckDB file from the shipped archive
(`fixtures/jra2018/`, unpacked into a temporary folder; its README gives the sources).

The results files hold 48,329 lines, of which 129 (2018-05-05 新潟 R1–R9) appear in both the
April and the May file, so 48,200 distinct runners load; the payouts file holds 41,322 data rows
(41,323 lines with the header), every one valid and joined to its race.
"""

from __future__ import annotations

import datetime as dt
import tarfile
from pathlib import Path

import pytest

from keiba.common.clock import FixedClock
from keiba.common.storage import DuckDBWarehouse
from keiba.data_collector.jra2018 import Jra2018ImportReport, import_jra2018

ARCHIVE = Path(__file__).resolve().parent / "fixtures" / "jra2018" / "jra2018.tar.xz"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def imported(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Jra2018ImportReport, Jra2018ImportReport, dict[str, int], dict[str, int]]:
    root = tmp_path_factory.mktemp("jra2018")
    data = root / "jra2018"
    with tarfile.open(ARCHIVE, "r:xz") as archive:
        archive.extractall(data, filter="data")
    db = root / "warehouse.duckdb"
    counts = "SELECT " + ", ".join(
        f"(SELECT count(*) FROM {t}) AS {t}" for t in ("races", "runners", "payouts", "quarantine")
    )
    with DuckDBWarehouse(db) as w:
        first = import_jra2018(w, [data], FixedClock(dt.datetime(2024, 1, 1, tzinfo=dt.UTC)))
        after_first = w.query(counts).row(0, named=True)
        second = import_jra2018(w, [data], FixedClock(dt.datetime(2024, 1, 2, tzinfo=dt.UTC)))
        after_second = w.query(counts).row(0, named=True)
    return first, second, after_first, after_second


def test_every_race_runner_and_payout_of_2018_loads(imported) -> None:
    first, _, stored, _ = imported
    assert (first.result_lines, first.payout_lines) == (48_329, 41_322)
    assert stored == {"races": 3_454, "runners": 48_200, "payouts": 41_322, "quarantine": 0}
    assert (first.races.new, first.runners.rows, first.payouts.rows) == (3_454, 48_200, 41_322)
    assert len(first.checks.duplicate_lines) == 129
    assert {d.race_id[:10] for d in first.checks.duplicate_lines} == {"2018050504"}
    assert first.quarantined == 0 and first.withheld_races == ()


def test_every_race_joins_its_payouts(imported) -> None:
    checks = imported[0].checks
    assert checks.races_without_payouts == ()
    assert checks.payouts_without_race == ()
    assert checks.no_win_payout == ()


def test_winning_odds_match_the_win_payout_except_the_dead_heats(imported) -> None:
    checks = imported[0].checks
    assert (checks.odds_checked, checks.odds_passed, checks.odds_mismatches) == (3_448, 3_448, ())
    assert [d.race_id for d in checks.dead_heats_for_first] == [
        "2018010806010307",  # 2018-01-08 中山 R7
        "2018031806020803",
        "2018052705021208",
        "2018081804020712",
        "2018100705040208",
        "2018102808040901",
    ]
    assert all(len(d.horse_nos) == 2 == len(d.win_payouts) for d in checks.dead_heats_for_first)


def test_absent_runners_and_ties_are_reported(imported) -> None:
    checks = imported[0].checks
    assert len(checks.short_fields) == 363
    assert sum(s.field_size - s.rows for s in checks.short_fields) == 418
    assert len(checks.tied_races) == 95


def test_a_second_import_changes_nothing(imported) -> None:
    first, second, after_first, after_second = imported
    assert after_second == after_first
    assert (second.races.unchanged, second.runners.unchanged, second.payouts.unchanged) == (
        3_454,
        3_454,
        3_454,
    )
    written = (second.races.rows_written, second.runners.rows_written, second.payouts.rows_written)
    assert written == (0, 0, 0) and second.quarantine_new == 0
    assert second.checks == first.checks
