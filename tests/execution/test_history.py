"""The 投票内容照会 CSV parser: the real columns in Shift_JIS, one clear line per bad row, and the
pairing of tickets with the rows that are them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from keiba.bankroll import Ticket
from keiba.common.bet_types import BetType
from keiba.common.ids import Venue
from keiba.execution import PaperBroker
from keiba.execution.history import (
    HISTORY_COLUMNS,
    HistoryFormatError,
    find_tickets,
    parse_history_csv,
    read_history_csv,
)

HEADER = ",".join(HISTORY_COLUMNS)
ROWS = [
    "20181125,0012,1,東京,日,11,単勝,05,300,―,―,0",
    '2018/11/25,0012,2,東京,日,11R,３連単,07→03→01,"1,200円",的中,"12,340",148080',
    "20181125,0013,1,京都,日,1,ワイド,18－01,100,―,―,0",
    "20181125,0013,2,京都,日,1,3連複,03―01―02,100,,,",
]


def _csv(*rows: str, header: str = HEADER) -> bytes:
    return "\r\n".join([header, *rows, ""]).encode("cp932")


def test_the_real_columns_in_shift_jis_are_read() -> None:
    rows = parse_history_csv(_csv(*ROWS), "history.csv")
    assert [
        (r.day, r.receipt, r.venue, r.race_no, r.bet_type, r.combination, r.stake, r.payout)
        for r in rows
    ] == [
        (dt.date(2018, 11, 25), "20181125-0012-1", Venue.TOKYO, 11, BetType.WIN, "5", 300, 0),
        (
            dt.date(2018, 11, 25),
            "20181125-0012-2",
            Venue.TOKYO,
            11,
            BetType.TRIFECTA,
            "7>3>1",
            1200,
            148080,
        ),
        (
            dt.date(2018, 11, 25),
            "20181125-0013-1",
            Venue.KYOTO,
            1,
            BetType.QUINELLA_PLACE,
            "1-18",
            100,
            0,
        ),
        (dt.date(2018, 11, 25), "20181125-0013-2", Venue.KYOTO, 1, BetType.TRIO, "1-2-3", 100, 0),
    ]
    assert rows[1].outcome == "的中" and rows[0].outcome == ""


@pytest.mark.parametrize(
    ("row", "what"),
    [
        ("20181125,0012,1,東京,日,11,単勝,05,250,―,―,0", "購入金額 '250': 250 yen is not a whole"),
        ("20181125,0012,1,東京,日,11,単勝,05,abc,―,―,0", "購入金額 'abc': not a number"),
        ("20181125,0012,1,浦和,日,11,単勝,05,100,―,―,0", "場名 '浦和': unknown JRA racecourse"),
        ("20181125,0012,1,東京,日,13,単勝,05,100,―,―,0", "レース '13': not a race number"),
        ("20181125,0012,1,東京,日,11,3連単フォーメーション,05,100,―,―,0", "式別"),
        ("20181125,0012,1,東京,日,11,馬連,05,100,―,―,0", "馬／組番 '05': a quinella combination"),
        ("20181132,0012,1,東京,日,11,単勝,05,100,―,―,0", "日付 '20181132'"),
        ("20181125,0012,1,東京,日,11,単勝,05,100,―,―", "11 fields, expected 12"),
    ],
)
def test_a_malformed_row_is_one_line_naming_file_line_and_what(row: str, what: str) -> None:
    with pytest.raises(HistoryFormatError) as raised:
        parse_history_csv(_csv(ROWS[0], row), "history.csv")
    message = str(raised.value)
    assert message.startswith("history.csv: line 3: ") and what in message
    assert "\n" not in message


def test_a_wrong_header_or_encoding_is_line_one(tmp_path: Path) -> None:
    with pytest.raises(HistoryFormatError, match=r"^h\.csv: line 1: the header is 日付,受付番号"):
        parse_history_csv(_csv(ROWS[0], header=HEADER.replace("通番", "番号")), "h.csv")
    path = tmp_path / "utf8.csv"
    path.write_bytes(b"\xff\xfe" + HEADER.encode("utf-16-le"))
    with pytest.raises(HistoryFormatError, match=rf"^{path}: line 1: "):
        read_history_csv(path)
    with pytest.raises(HistoryFormatError, match="line 1: no header"):
        parse_history_csv(b"", "empty.csv")


def test_each_row_answers_for_one_ticket() -> None:
    race = "2018112505050811"
    twins = [Ticket(f"t{i}", race, "win", "5", 300, "r") for i in (1, 2)]
    other_race = Ticket("t3", "2018112505050810", "win", "5", 300, "r")
    other_stake = Ticket("t4", race, "win", "5", 400, "r")
    rows = parse_history_csv(_csv(ROWS[0]))
    found = find_tickets([*twins, other_race, other_stake], rows)
    assert {k: v.receipt if v else None for k, v in found.items()} == {
        "t1": "20181125-0012-1",
        "t2": None,
        "t3": None,
        "t4": None,
    }


def test_the_paper_broker_has_a_history_of_what_it_accepted() -> None:
    race = "2018112505050811"
    broker = PaperBroker(closed_races=["2018112505050812"])
    tickets = [
        Ticket("t1", race, "win", "5", 300, "r"),
        Ticket("t2", "2018112505050812", "win", "5", 300, "r"),
        Ticket("t3", race, "exacta", "5>2", 100, "r"),
    ]
    answers = broker.submit(tickets)
    rows = broker.history(dt.date(2018, 11, 25))
    assert [(r.receipt, r.bet_type, r.combination, r.stake) for r in rows] == [
        (answers[0].receipt, BetType.WIN, "5", 300),
        (answers[2].receipt, BetType.EXACTA, "5>2", 100),
    ]
    assert broker.history(dt.date(2018, 11, 24)) == []
    assert {k: bool(v) for k, v in find_tickets(tickets, rows).items()} == {
        "t1": True,
        "t2": False,
        "t3": True,
    }
