"""Mutated and truncated jra2018 lines: the only failure is a typed record error with a locator,
and every line of a file is either loaded or quarantined."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keiba.common.errors import ImportValidationError, KeibaError
from keiba.common.ids import Venue
from keiba.data_collector.jra2018_payouts import assemble_payouts, parse_payout_line
from keiba.data_collector.jra2018_results import (
    Jra2018RecordError,
    KaisaiCalendar,
    SourceLine,
    assemble_results,
    expected_frame,
    parse_result_line,
)

CALENDAR = KaisaiCalendar(
    [
        (dt.date(2018, 1, 6), Venue.NAKAYAMA, 1, 1),
        (dt.date(2018, 12, 28), Venue.HANSHIN, 5, 9),
    ]
)
RESULT_LINES = [  # real lines of 2018 (a flat debutant, a jump race with &gt;, a slow last 3F)
    "2018-01-06,中山,01,サラ系3歳未勝利,ダート,右,1200,サラ系3歳,未勝利,良,16,1,8,15,"
    "コウギョウブライト,牡,3,462,0,72.9,02-02,38.7,戸崎 圭太,56.0,1,2,伊藤 大士",
    "2018-01-06,中山,01,サラ系3歳未勝利,ダート,右,1200,サラ系3歳,未勝利,良,16,2,2,3,"
    "ユメイチズ,牡,3,478,-,73.0,09-06,37.8,松岡 正海,56.0,2,6.7,浅野 洋一郎",
    "2018-12-28,阪神,04,障害3歳以上オープン,障害,芝-&gt;内,3140,サラ系障害3歳以上,オープン,良,"
    "14,3,4,6,テストホース,セ,5,480,-2,213.4,-,1.02.1,小坂 忠士,60.0,4,12.3,高橋 亮",
]
PAYOUT_LINES = [
    "201806010101,単勝,15,200,1",
    '201806010101,ワイド,3 - 15,"1,960",24',
    "201806010101,馬単,15 → 3,700,1",
    '201806010101,三連単,15 → 3 → 6,"12,340",30',
    "201809050904,枠連,3 - 3,450,1",
]


@st.composite
def mutated(draw: st.DrawFn, lines: list[str]) -> str:
    line = draw(st.sampled_from(lines))
    fields = line.split(",")
    kind = draw(st.sampled_from(["truncate", "field", "insert", "delete", "drop", "add", "any"]))
    if kind == "truncate":
        return line[: draw(st.integers(0, len(line)))]
    if kind == "field":
        index = draw(st.integers(0, len(fields) - 1))
        fields[index] = draw(
            st.one_of(
                st.text(max_size=12),
                st.integers(-(10**12), 10**12).map(str),
                st.floats(allow_nan=True, allow_infinity=True).map(str),
                st.sampled_from(["", "-", "0", "1", "1.0", "&gt;", "19", "99", "９", '"', "1,000"]),
            )
        )
        return ",".join(fields)
    if kind == "insert":
        at = draw(st.integers(0, len(line)))
        return line[:at] + draw(st.text(min_size=1, max_size=5)) + line[at:]
    if kind == "delete":
        at = draw(st.integers(0, max(0, len(line) - 1)))
        return line[:at] + line[at + 1 :]
    if kind == "drop":
        del fields[draw(st.integers(0, len(fields) - 1))]
        return ",".join(fields)
    if kind == "add":
        fields.insert(draw(st.integers(0, len(fields))), draw(st.text(max_size=6)))
        return ",".join(fields)
    return draw(st.text(max_size=200))


T = TypeVar("T")


def _outcome(parse: Callable[[], T]) -> T | Jra2018RecordError:
    """What parsing gives: the row, or the record error (any other exception propagates)."""
    try:
        return parse()
    except Jra2018RecordError as e:
        return e


FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(text=mutated(RESULT_LINES))
def test_a_mutated_results_line_parses_or_raises_a_located_record_error(text: str) -> None:
    line = SourceLine("results/x.csv", 41, text)
    row = _outcome(lambda: parse_result_line(line, CALENDAR))
    if isinstance(row, Jra2018RecordError):
        assert isinstance(row, ImportValidationError) and isinstance(row, KeibaError)
        assert row.locator == "results/x.csv:41" and (row.path, row.line) == ("results/x.csv", 41)
        return
    assert 1 <= row.horse_no <= row.field_size <= 18
    assert 1 <= row.finish_pos <= row.field_size and 1 <= row.popularity <= row.field_size
    assert row.frame_no == expected_frame(row.horse_no, row.field_size)
    assert row.win_odds_final > 1.0 and row.finish_time_s > 0 and row.last_3f_s > 0
    assert row.surface in ("turf", "dirt", "jump")


@FAST
@given(text=mutated(PAYOUT_LINES))
def test_a_mutated_payout_line_parses_or_raises_a_located_record_error(text: str) -> None:
    line = SourceLine("payouts.csv", 7, text)
    row = _outcome(lambda: parse_payout_line(line, CALENDAR))
    if isinstance(row, Jra2018RecordError):
        assert isinstance(row, ImportValidationError)
        assert row.locator == "payouts.csv:7"
        return
    assert row.payout_yen >= 100
    assert len(row.numbers) == row.bet_type.arity


@settings(max_examples=100, deadline=None)
@given(
    results=st.lists(st.one_of(st.sampled_from(RESULT_LINES), mutated(RESULT_LINES)), max_size=8),
    payouts=st.lists(st.one_of(st.sampled_from(PAYOUT_LINES), mutated(PAYOUT_LINES)), max_size=8),
)
def test_every_line_is_either_kept_or_quarantined(results: list[str], payouts: list[str]) -> None:
    result_lines = [SourceLine("r.csv", i, t) for i, t in enumerate(results, 1) if t.strip()]
    batch = assemble_results([result_lines], CALENDAR)
    kept = {line.locator for race in batch.races.values() for line in race.lines}
    quarantined = [r.locator for r in batch.quarantined]
    assert len(quarantined) == len(set(quarantined)), "a line quarantined twice"
    assert kept.isdisjoint(quarantined)
    assert kept | set(quarantined) == {line.locator for line in result_lines}
    assert {d.locator for d in batch.duplicates} <= kept
    for race in batch.races.values():  # an accepted race is whole and consistent
        assert len({row.horse_no for row in race.rows}) == len(race.rows) <= race.field_size
    payout_lines = [SourceLine("p.csv", i, t) for i, t in enumerate(payouts, 2) if t.strip()]
    paid = assemble_payouts([payout_lines], CALENDAR)
    kept = {row.source.locator for rows in paid.races.values() for row in rows}
    kept |= {d.locator for d in paid.duplicates}
    quarantined = [r.locator for r in paid.quarantined]
    assert len(quarantined) == len(set(quarantined))
    assert kept.isdisjoint(quarantined)
    assert kept | set(quarantined) == {line.locator for line in payout_lines}
