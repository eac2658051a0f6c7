"""The jra2018 importer on small hand-written lines: every quirk, every bad-row rule."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from keiba.common.clock import FixedClock
from keiba.common.errors import ImportValidationError
from keiba.common.ids import Venue
from keiba.common.storage import DatasetKindError, DuckDBWarehouse, LoadSource
from keiba.data_collector.jra2018 import Jra2018ImportReport, import_jra2018
from keiba.data_collector.jra2018_payouts import parse_payout_line
from keiba.data_collector.jra2018_results import (
    Jra2018RecordError,
    KaisaiCalendar,
    SourceLine,
    expected_frame,
    parse_result_line,
)

CLOCK = FixedClock(dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC))
CALENDAR_JSON = [
    {
        "date": "20180106",
        "venues": [
            {"venue": "中山", "kaisai": 1, "day": 1},
            {"venue": "京都", "kaisai": 1, "day": 1},
        ],
    },
    {"date": "20180107", "venues": [{"venue": "中山", "kaisai": 1, "day": 2}]},
]
CALENDAR = KaisaiCalendar(
    [
        (dt.date(2018, 1, 6), Venue.NAKAYAMA, 1, 1),
        (dt.date(2018, 1, 6), Venue.KYOTO, 1, 1),
        (dt.date(2018, 1, 7), Venue.NAKAYAMA, 1, 2),
    ]
)
# A real line (2018_01.csv line 1) in named columns; tests override what they need.
REAL = {
    "date": "2018-01-06",
    "venue": "中山",
    "race_no": "01",
    "title": "サラ系3歳未勝利",
    "surface": "ダート",
    "direction": "右",
    "distance": "1200",
    "age_condition": "サラ系3歳",
    "race_class": "未勝利",
    "going": "良",
    "field_size": "16",
    "pos": "1",
    "frame": "8",
    "horse": "15",
    "name": "コウギョウブライト",
    "sex": "牡",
    "age": "3",
    "weight": "462",
    "diff": "0",
    "time": "72.9",
    "passing": "02-02",
    "last3f": "38.7",
    "jockey": "戸崎 圭太",
    "carried": "56.0",
    "popularity": "1",
    "odds": "2",
    "trainer": "伊藤 大士",
}
RACE_A, RACE_B, RACE_C = "2018010606010101", "2018010608010102", "2018010706010211"


def result_line(**overrides: str) -> str:
    unknown = set(overrides) - set(REAL)
    assert not unknown, unknown
    return ",".join({**REAL, **overrides}.values())


def parse(text: str) -> object:
    return parse_result_line(SourceLine("r.csv", 7, text), CALENDAR)


# ---------------------------------------------------------------- one results line, each quirk


def test_a_real_line_parses_to_the_contract_values() -> None:
    row = parse_result_line(SourceLine("r.csv", 1, result_line()), CALENDAR)
    assert str(row.race_key) == RACE_A
    assert str(row.race_key.to_netkeiba()) == "201806010101"
    assert (row.surface, row.race_class, row.grade, row.going) == ("dirt", "未勝利", None, "良")
    assert (row.field_size, row.finish_pos, row.frame_no, row.horse_no) == (16, 1, 8, 15)
    assert (row.body_weight_kg, row.body_weight_diff_kg, row.popularity) == (462, 0, 1)
    assert (row.finish_time_s, row.last_3f_s, row.weight_carried_kg) == (72.9, 38.7, 56.0)
    assert (row.jockey_name, row.trainer_name, row.passing) == ("戸崎 圭太", "伊藤 大士", "02-02")


@pytest.mark.parametrize(
    ("text", "odds"), [("2", 2.0), ("2.0", 2.0), ("1.1", 1.1), ("929.4", 929.4)]
)
def test_integral_odds_mean_a_whole_decimal(text: str, odds: float) -> None:
    row = parse_result_line(SourceLine("r.csv", 1, result_line(odds=text)), CALENDAR)
    assert row.win_odds_final == odds


def test_html_entity_in_a_jump_course_is_unescaped() -> None:
    line = result_line(surface="障害", direction="芝-&gt;内", race_class="オープン")
    row = parse_result_line(SourceLine("r.csv", 1, line), CALENDAR)
    assert (row.surface, row.direction) == ("jump", "芝->内")


def test_a_debut_has_no_body_weight_change_and_a_missing_passing_is_null() -> None:
    row = parse_result_line(SourceLine("r.csv", 1, result_line(diff="-", passing="-")), CALENDAR)
    assert (row.body_weight_diff_kg, row.passing) == (None, None)


def test_a_slow_last_3f_written_as_minutes_is_seconds() -> None:
    row = parse_result_line(SourceLine("r.csv", 1, result_line(last3f="1.02.1")), CALENDAR)
    assert row.last_3f_s == pytest.approx(62.1)


@pytest.mark.parametrize(
    ("published", "normalised"),
    [
        ("新馬", "新馬"),
        ("未勝利", "未勝利"),
        ("500万下", "1勝"),
        ("1000万下", "2勝"),
        ("1600万下", "3勝"),
        ("オープン", "OP"),
    ],
)
def test_class_names_are_normalised(published: str, normalised: str) -> None:
    row = parse_result_line(SourceLine("r.csv", 1, result_line(race_class=published)), CALENDAR)
    assert row.race_class == normalised


@pytest.mark.parametrize(
    ("title", "name", "grade"),
    [
        ("有馬記念（GI）", "有馬記念", "G1"),
        ("日経賞（GII）", "日経賞", "G2"),
        ("中山金杯（GIII）", "中山金杯", "G3"),
        ("中山大障害（J・GI）", "中山大障害", "G1"),
        ("阪神スプリングジャンプ（J・GII）", "阪神スプリングジャンプ", "G2"),
        ("リステッド競走（L）", "リステッド競走", "L"),
        ("葵ステークス（重賞）", "葵ステークス（重賞）", None),
        ("サラ系3歳未勝利", "サラ系3歳未勝利", None),
    ],
)
def test_grade_comes_from_the_title(title: str, name: str, grade: str | None) -> None:
    row = parse_result_line(SourceLine("r.csv", 1, result_line(title=title)), CALENDAR)
    assert (row.race_name, row.grade) == (name, grade)


@pytest.mark.parametrize(
    ("field_size", "horse", "frame"),
    [(5, 5, 5), (8, 8, 8), (9, 7, 7), (9, 8, 8), (9, 9, 8), (16, 15, 8), (18, 12, 6), (18, 13, 7)],
)
def test_frame_numbers_follow_the_jra_rule(field_size: int, horse: int, frame: int) -> None:
    assert expected_frame(horse, field_size) == frame


@pytest.mark.parametrize(
    ("overrides", "column", "reason"),
    [
        ({"venue": "中出"}, "venue", "not a JRA racecourse"),
        ({"date": "2018-01-09"}, "date", "not a race day in the calendar"),
        ({"date": "2018-01-07", "venue": "京都"}, "venue", "did not race on 2018-01-07"),
        ({"date": "2018-02-30"}, "date", "not a calendar date"),
        ({"horse": "17", "frame": "8"}, "horse_no", "beyond the field size 16"),
        ({"odds": "0"}, "win_odds_final", "must be above 1"),
        ({"odds": "1"}, "win_odds_final", "must be above 1"),
        ({"odds": "---"}, "win_odds_final", "not a decimal number"),
        ({"frame": "7"}, "frame_no", "expected 8"),
        ({"surface": "砂"}, "surface", "not one of"),
        ({"race_class": "2勝クラス"}, "race_class", "not one of"),
        ({"diff": "+"}, "body_weight_diff_kg", "not a whole number"),
        ({"weight": "計不"}, "body_weight_kg", "not a whole number"),
        ({"name": ""}, "horse_name", "missing value"),
    ],
)
def test_a_bad_value_names_the_line_and_column(
    overrides: dict[str, str], column: str, reason: str
) -> None:
    with pytest.raises(Jra2018RecordError) as caught:
        parse(result_line(**overrides))
    assert caught.value.locator == "r.csv:7"
    assert caught.value.column == column
    assert reason in caught.value.reason


def test_a_truncated_line_is_a_record_error() -> None:
    with pytest.raises(Jra2018RecordError, match="26 columns, expected 27"):
        parse(result_line().rsplit(",", 1)[0])


# ---------------------------------------------------------------- one payouts line


@pytest.mark.parametrize(
    ("bet", "combination", "yen", "bet_type", "canonical", "payout"),
    [
        ("単勝", "1", "110", "win", "1", 110),
        ("複勝", "12", "1,020", "place", "12", 1020),
        ("枠連", "3 - 3", "1,960", "bracket_quinella", "3-3", 1960),
        ("馬連", "7 - 3", "420", "quinella", "3-7", 420),
        ("ワイド", "3 - 5", "1,960", "quinella_place", "3-5", 1960),
        ("馬単", "7 → 3", "2,320", "exacta", "7>3", 2320),
        ("三連複", "7 - 1 - 3", "12,340", "trio", "1-3-7", 12340),
        ("三連単", "7 → 3 → 1", "10,153,500", "trifecta", "7>3>1", 10153500),
    ],
)
def test_payout_lines_become_canonical(
    bet: str, combination: str, yen: str, bet_type: str, canonical: str, payout: int
) -> None:
    text = f'201806010101,{bet},{combination},"{yen}",3'
    row = parse_payout_line(SourceLine("p.csv", 2, text), CALENDAR)
    assert (row.race_id, row.bet_type.value, row.combination) == (RACE_A, bet_type, canonical)
    assert (row.payout_yen, row.popularity) == (payout, 3)


@pytest.mark.parametrize(
    ("text", "column", "reason"),
    [
        ("201806010101,単勝,1,90,1", "payout_yen", "must be at least 100"),
        ("201806010101,馬連,1,480,1", "combination", "names 2, not 1"),
        ("201806010101,三連単,1 → 2,480,1", "combination", "names 3, not 2"),
        ("201806010101,馬単,1 - 2,480,1", "combination", "does not use '-'"),
        ("201806010101,馬連,1 → 2,480,1", "combination", "does not use '→'"),
        ("201806010101,馬連,2 - 2,480,1", "combination", "repeats a horse"),
        ("201806010101,枠連,9 - 1,480,1", "combination", "outside 1–8"),
        ("201806010101,WIN5,1,480,1", "bet_type", "not a JRA bet type"),
        ('201806010101,単勝,1,"1,96",1', "payout_yen", "not an amount of yen"),
        ("201806010301,単勝,1,200,1", "race_id", "not in the calendar"),
        ("20180601010,単勝,1,200,1", "race_id", "12 ASCII digits"),
        ("201806010101,単勝,1,200", None, "4 columns, expected 5"),
    ],
)
def test_a_bad_payout_line_names_the_line_and_column(
    text: str, column: str | None, reason: str
) -> None:
    with pytest.raises(Jra2018RecordError) as caught:
        parse_payout_line(SourceLine("p.csv", 9, text), CALENDAR)
    assert caught.value.locator == "p.csv:9"
    assert caught.value.column == column
    assert reason in caught.value.reason


# ---------------------------------------------------------------- a small data set on disk


def race_lines(finishers: list[tuple[int, int, str]], field_size: int, **race: str) -> list[str]:
    """Lines of one race: (position, horse number, odds) per finisher."""
    return [
        result_line(
            **race,
            field_size=str(field_size),
            pos=str(pos),
            horse=str(horse),
            frame=str(expected_frame(horse, field_size)),
            name=f"ホース{race.get('venue', '中山')}{race.get('race_no', '01')}{horse}",
            odds=odds,
            popularity=str(rank),
            diff="-" if horse == 1 else "4",
        )
        for rank, (pos, horse, odds) in enumerate(finishers, 1)
    ]


def small_data_set() -> tuple[list[str], list[str]]:
    """Three races (A: 中山 R1, 9 runners; B: 京都 R2, jump, dead heat for first, one absent;
    C: 中山 day 2 R11, G1, no payouts) and a payout for a race that is not in the results."""
    a = race_lines(
        [(1, 8, "2"), (2, 9, "5.5"), *((p, p - 2, f"{p * 3}.1") for p in range(3, 10))],
        9,
        title="サラ系3歳500万下",
        race_class="500万下",
    )
    b = race_lines(
        [(1, 2, "3.0"), (1, 4, "4.2"), (3, 1, "6.0"), (4, 5, "12.5")],
        5,
        venue="京都",
        race_no="02",
        title="テストジャンプステークス（J・GIII）",
        surface="障害",
        direction="芝-&gt;内",
        distance="3000",
        age_condition="サラ系障害3歳以上",
        race_class="オープン",
    )
    c = race_lines(
        [(1, 2, "1.4"), (2, 3, "3.1"), (3, 1, "8.0")],
        3,
        date="2018-01-07",
        race_no="11",
        title="テスト記念（GI）",
        surface="芝",
        distance="2500",
        race_class="オープン",
    )
    payouts = [
        "race_id,bet_type,combination,payout_yen,popularity",
        "201806010101,単勝,8,200,1",
        "201806010101,複勝,8,110,1",
        "201806010101,複勝,9,150,2",
        "201806010101,複勝,1,300,5",
        "201806010101,枠連,8 - 8,450,1",
        "201806010101,馬連,8 - 9,480,1",
        "201806010101,ワイド,8 - 9,200,1",
        "201806010101,ワイド,1 - 8,500,4",
        '201806010101,ワイド,1 - 9,"1,020",9',
        "201806010101,馬単,8 → 9,700,1",
        '201806010101,三連複,1 - 8 - 9,"1,960",5',
        '201806010101,三連単,8 → 9 → 1,"12,340",30',
        "201808010102,単勝,2,150,1",
        "201808010102,単勝,4,210,2",
        "201808010102,複勝,2,110,1",
        "201808010102,複勝,4,120,2",
        "201808010102,馬連,2 - 4,300,1",
        "201808010102,ワイド,2 - 4,140,1",
        "201808010102,ワイド,1 - 2,160,2",
        "201808010102,ワイド,1 - 4,190,3",
        "201808010102,馬単,2 → 4,320,1",
        "201808010102,馬単,4 → 2,350,2",
        "201808010102,三連複,1 - 2 - 4,280,1",
        "201808010102,三連単,2 → 4 → 1,900,1",
        "201808010102,三連単,4 → 2 → 1,990,2",
        "201806010212,単勝,3,330,2",
    ]
    return a + b + c, payouts


def write_data_set(root: Path, results: list[str], payouts: list[str]) -> Path:
    (root / "results").mkdir(parents=True, exist_ok=True)
    (root / "results" / "jra_race_result_2018_01.csv").write_text(
        "".join(f"{line}\n" for line in results), encoding="utf-8"
    )
    (root / "payouts_2018.csv").write_text(
        "".join(f"{line}\r\n" for line in payouts), encoding="utf-8"
    )
    (root / "kaisai_calendar.json").write_text(json.dumps(CALENDAR_JSON), encoding="utf-8")
    return root


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return write_data_set(tmp_path / "jra2018", *small_data_set())


def _results_path(root: Path) -> str:
    return str((root / "results" / "jra_race_result_2018_01.csv").resolve())


def _payouts_path(root: Path) -> str:
    return str((root / "payouts_2018.csv").resolve())


def _import(w: DuckDBWarehouse, paths: list[Path]) -> Jra2018ImportReport:
    return import_jra2018(w, paths, CLOCK)


def _race_ids(w: DuckDBWarehouse) -> set[str]:
    return set(w.query("SELECT race_id FROM races")["race_id"].to_list())


def test_the_small_data_set_loads_with_every_quirk(data_dir: Path) -> None:
    with DuckDBWarehouse(None) as w:
        report = _import(w, [data_dir])
        races = w.query("SELECT * FROM races ORDER BY race_id")
        runners = w.query("SELECT * FROM runners ORDER BY race_id, horse_no")
        payouts = w.query("SELECT * FROM payouts ORDER BY race_id, bet_type, combination")
    assert races["race_id"].to_list() == [RACE_A, RACE_B, RACE_C]
    assert races["netkeiba_race_id"].to_list() == ["201806010101", "201808010102", "201806010211"]
    assert races["meeting_day"].to_list() == [1, 1, 2]
    assert races["grade"].to_list() == [None, "G3", "G1"]
    names = ["サラ系3歳500万下", "テストジャンプステークス", "テスト記念"]
    assert races["race_name"].to_list() == names
    assert races["race_class"].to_list() == ["1勝", "OP", "OP"]
    assert races["surface"].to_list() == ["dirt", "jump", "turf"]
    assert races["direction"].to_list() == ["右", "芝->内", "右"]
    assert races["field_size"].to_list() == [9, 5, 3]
    assert races["source"].unique().to_list() == ["jra2018-csv"]
    assert races["ingested_at"].unique().to_list() == [CLOCK.now()]
    assert races["post_time"].null_count() == races["weather"].null_count() == 3
    assert runners.height == 9 + 4 + 3
    assert runners["status"].unique().to_list() == ["finished"]
    assert runners["horse_id"].null_count() == runners.height
    dead_heat = runners.filter(pl.col("race_id") == RACE_B).sort("horse_no")
    assert dead_heat["finish_pos"].to_list() == [3, 1, 1, 4]  # both winners kept, horse 3 absent
    winner_a = runners.filter((pl.col("race_id") == RACE_A) & (pl.col("horse_no") == 8))
    assert winner_a["win_odds_final"].to_list() == [2.0]
    debut = runners.filter(pl.col("horse_no") == 1)["body_weight_diff_kg"].to_list()
    assert debut == [None, None, None]
    in_a = payouts.filter(pl.col("race_id") == RACE_A)
    assert set(in_a["combination"].to_list()) >= {"8-8", "8>9", "1-8-9", "8>9>1"}
    assert in_a.filter(pl.col("bet_type") == "trifecta")["payout_yen"].to_list() == [12340]
    assert payouts.filter(pl.col("race_id") == RACE_B).height == 13
    assert (report.races.rows, report.runners.rows, report.payouts.rows) == (3, 16, 25)
    checks = report.checks
    assert (checks.odds_checked, checks.odds_passed, checks.odds_mismatches) == (1, 1, ())
    assert [d.race_id for d in checks.dead_heats_for_first] == [RACE_B]
    assert checks.dead_heats_for_first[0].horse_nos == (2, 4)
    assert [(s.race_id, s.rows, s.field_size) for s in checks.short_fields] == [(RACE_B, 4, 5)]
    assert checks.races_without_payouts == (RACE_C,)
    assert checks.payouts_without_race == ("201806010212",)
    assert checks.tied_races == (RACE_B,)
    assert report.quarantined == 1  # the payout without a race
    assert report.withheld_races == ("2018010706010212",)


def test_a_second_import_changes_nothing(data_dir: Path, tmp_path: Path) -> None:
    with DuckDBWarehouse(tmp_path / "w.duckdb") as w:
        first = _import(w, [data_dir])
        tables = {
            name: w.query(f"SELECT * FROM {name} ORDER BY ALL")
            for name in ("races", "runners", "payouts", "quarantine")
        }
        second = import_jra2018(w, [data_dir], FixedClock(dt.datetime(2025, 1, 1, tzinfo=dt.UTC)))
        for name, before in tables.items():
            assert w.query(f"SELECT * FROM {name} ORDER BY ALL").equals(before), name
    assert first.races.new == 3 and first.quarantine_new == 1
    assert (second.races.unchanged, second.runners.unchanged, second.payouts.unchanged) == (3, 3, 2)
    assert second.races.rows_written == second.runners.rows_written == 0
    assert second.payouts.rows_written == second.quarantine_new == 0


def _replace(lines: list[str], old: str, new: str) -> list[str]:
    hits = [i for i, line in enumerate(lines) if old in line]
    assert hits, old
    out = list(lines)
    out[hits[0]] = out[hits[0]].replace(old, new, 1)
    return out


Mutation = Callable[[list[str], list[str]], tuple[list[str], list[str]]]
BAD_ROWS: dict[str, tuple[Mutation, str, int, str, set[str]]] = {
    # name: (mutation, file, line, reason fragment, races still loaded)
    "unknown venue": (
        lambda r, p: ([*r, result_line(venue="中出", race_no="05")], p),
        "results",
        17,
        "not a JRA racecourse",
        {RACE_A, RACE_B, RACE_C},
    ),
    "date not in the calendar": (
        lambda r, p: ([*r, result_line(date="2018-01-13")], p),
        "results",
        17,
        "not a race day in the calendar",
        {RACE_A, RACE_B, RACE_C},
    ),
    "horse number beyond the field": (
        lambda r, p: (_replace(r, ",2,8,9,ホース中山019,", ",2,8,10,ホース中山019,"), p),
        "results",
        2,
        "beyond the field size 9",
        {RACE_B, RACE_C},
    ),
    "odds 0": (
        lambda r, p: (_replace(r, ",5.5,", ",0,"), p),
        "results",
        2,
        "must be above 1",
        {RACE_B, RACE_C},
    ),
    "payout 90": (
        lambda r, p: (r, _replace(p, "201806010101,複勝,8,110,", "201806010101,複勝,8,90,")),
        "payouts",
        3,
        "must be at least 100",
        {RACE_B, RACE_C},
    ),
    "wrong arity": (
        lambda r, p: (r, _replace(p, "馬連,8 - 9,", "馬連,8,")),
        "payouts",
        7,
        "names 2, not 1",
        {RACE_B, RACE_C},
    ),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_a_bad_row_goes_to_quarantine_and_the_good_races_load(case: str, tmp_path: Path) -> None:
    mutate, file, line, reason, loaded = BAD_ROWS[case]
    root = write_data_set(tmp_path / "jra2018", *mutate(*small_data_set()))
    with DuckDBWarehouse(None) as w:
        report = _import(w, [root])
        quarantined = w.query("SELECT * FROM quarantine ORDER BY locator")
        assert _race_ids(w) == loaded
        if RACE_A not in loaded:  # the whole race is withheld: no runner, no payout
            assert w.query(f"SELECT * FROM runners WHERE race_id = '{RACE_A}'").is_empty()
            assert w.query(f"SELECT * FROM payouts WHERE race_id = '{RACE_A}'").is_empty()
    path = _results_path(root) if file == "results" else _payouts_path(root)
    bad = quarantined.filter(pl.col("locator") == f"{path}:{line}")
    assert bad.height == 1 and reason in bad["reason"][0], quarantined["reason"].to_list()
    assert bad["raw"][0] and bad["source"][0] == "jra2018-csv"
    assert bad["seen_at"][0] == CLOCK.now()
    if RACE_A not in loaded:  # every line of race A is accounted for: 9 runners, 12 payouts
        assert RACE_A in report.withheld_races
        a_lines = quarantined.filter(pl.col("reason").str.contains(f"withheld with race {RACE_A}"))
        assert a_lines.height == 9 + 12 - 1
    assert report.quarantined == quarantined.height


def test_a_bad_reimport_leaves_the_stored_race_as_it_was(data_dir: Path, tmp_path: Path) -> None:
    with DuckDBWarehouse(None) as w:
        _import(w, [data_dir])
        before = w.query("SELECT * FROM runners ORDER BY race_id, horse_no")
        results, payouts = small_data_set()
        bad = write_data_set(tmp_path / "bad", _replace(results, ",5.5,", ",0,"), payouts)
        report = _import(w, [bad])
        assert w.query("SELECT * FROM runners ORDER BY race_id, horse_no").equals(before)
    assert RACE_A in report.withheld_races
    assert report.runners.unchanged == 2


def test_an_unreadable_line_withholds_a_short_neighbour_only(tmp_path: Path) -> None:
    results, payouts = small_data_set()
    # B (lines 10–13) has 4 rows for a field of 5; C (14–16) is complete.
    results = [*results[:11], "garbage", *results[11:], "2018-01-07"]
    root = write_data_set(tmp_path / "jra2018", results, payouts)
    with DuckDBWarehouse(None) as w:
        report = _import(w, [root])
        assert _race_ids(w) == {RACE_A, RACE_C}
        reasons = dict(w.query("SELECT locator, reason FROM quarantine").iter_rows())
    path = _results_path(root)
    assert "cannot tell the race" in reasons[f"{path}:12"]
    assert "cannot tell the race" in reasons[f"{path}:18"]
    assert f"unreadable line {path}:12" in reasons[f"{path}:10"]
    assert RACE_B in report.withheld_races
    assert f"{_payouts_path(root)}:14" in reasons  # B's payouts are withheld with it


def test_duplicate_lines_are_kept_once_and_conflicts_withhold_the_race(tmp_path: Path) -> None:
    results, payouts = small_data_set()
    root = write_data_set(tmp_path / "jra2018", results, payouts)
    (root / "results" / "jra_race_result_2018_02.csv").write_text(
        "\n".join(results[13:16]) + "\n", encoding="utf-8"
    )
    with DuckDBWarehouse(None) as w:
        report = _import(w, [root])
        assert w.query("SELECT count(*) AS n FROM runners")["n"][0] == 16
    assert [d.race_id for d in report.checks.duplicate_lines] == [RACE_C] * 3
    assert report.checks.duplicate_lines[0].first_locator == f"{_results_path(root)}:14"
    (root / "results" / "jra_race_result_2018_02.csv").write_text(
        results[13].replace(",1.4,", ",1.5,") + "\n", encoding="utf-8"
    )
    with DuckDBWarehouse(None) as w:
        report = _import(w, [root])
        assert _race_ids(w) == {RACE_A, RACE_B}
    assert RACE_C in report.withheld_races


def test_payouts_join_races_already_in_the_warehouse(data_dir: Path) -> None:
    with DuckDBWarehouse(None) as w:
        first = _import(w, [data_dir / "results"])
        assert first.payouts.rows == 0 and len(first.checks.races_without_payouts) == 3
        second = _import(w, [data_dir / "payouts_2018.csv"])
        assert w.query("SELECT count(*) AS n FROM payouts")["n"][0] == 25
    assert second.races.rows == 0 and second.payouts.new == 2
    assert second.checks.payouts_without_race == ("201806010212",)


def test_a_wrong_payouts_header_or_no_calendar_stops_before_writing(
    data_dir: Path, tmp_path: Path
) -> None:
    text = (data_dir / "payouts_2018.csv").read_text(encoding="utf-8")
    (data_dir / "payouts_2018.csv").write_text(text.replace(",popularity", ",pop"), "utf-8")
    with DuckDBWarehouse(None) as w:
        with pytest.raises(ImportValidationError, match="header"):
            _import(w, [data_dir])
        assert not w.has_table("races") or _race_ids(w) == set()
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "r.csv").write_text(result_line() + "\n", encoding="utf-8")
    with DuckDBWarehouse(None) as w, pytest.raises(ImportValidationError, match="kaisai_calendar"):
        _import(w, [lone / "r.csv"])


def test_the_report_summarises_in_words(data_dir: Path) -> None:
    with DuckDBWarehouse(None) as w:
        report = _import(w, [data_dir])
    text = "\n".join(report.summary())
    assert "odds × 100 = win payout: 1 of 1" in text
    assert "dead heats for first: 1" in text
    assert json.dumps(report.to_dict())


def test_real_races_go_to_a_real_dataset_and_a_simulated_one_refuses_them(
    data_dir: Path, tiny_world: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    with DuckDBWarehouse(tmp_path / "jra.duckdb") as w:
        report = _import(w, [data_dir])
        assert report.quarantined == 1 and w.kind() == "real"
        loads = w.query("SELECT source, kind, races FROM dataset_loads").rows()
        assert loads == [(f"jra2018 {data_dir.resolve()}", "real", 3)]
    with DuckDBWarehouse(tmp_path / "sim.duckdb") as w:
        w.load(tiny_world, LoadSource("simulated", "a world", CLOCK.now()))
        with pytest.raises(
            DatasetKindError, match="'sim' holds simulated races and these are real"
        ):
            _import(w, [data_dir])
        assert _race_ids(w) == {"2020010506010101", "2020010506010102"}
        assert w.query("SELECT count(*) AS n FROM quarantine")["n"][0] == 0
