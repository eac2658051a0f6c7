"""The bets listing (keiba.evaluator.bet_list): names from the warehouse's rows, the records,
the table and its CSV."""

from __future__ import annotations

import base64
import datetime as dt
import io
import re

import polars as pl

from keiba.evaluator.backtest_frames import BETS_SCHEMA
from keiba.evaluator.bet_list import (
    BET_LIST_COLUMNS,
    MAX_LISTED_BETS,
    OPEN_LISTED_BETS,
    bet_list,
    bets_html,
    horse_names,
    label_bets,
)

RACE = "2018052705021010"  # 東京, 10R
OTHER = "2018052708030212"  # 京都, 12R
NAMES = {1: "ワグネリアン", 2: "エポカドーロ", 3: "コズミックフォース", 4: "エタリオウ"}
FRAMES = {1: 1, 2: 1, 3: 2, 4: 3}


def _bets(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    """Bets rows of (race_id, bet_type, combination), 100 yen each, settled as lost."""
    return pl.DataFrame(
        [
            {
                "strategy": "themis",
                "race_id": race_id,
                "race_date": dt.date(2018, 5, 27),
                "race_seq": i,
                "bet_type": bet_type,
                "combination": combination,
                "stake_yen": 100,
                "probability": 0.1,
                "decision_odds": 12.3,
                "final_odds": None,
                "paid_yen": 0,
                "refund": False,
                "hit": False,
            }
            for i, (race_id, bet_type, combination) in enumerate(rows)
        ],
        schema=BETS_SCHEMA,
    )


def _warehouse_rows() -> tuple[pl.DataFrame, pl.DataFrame]:
    races = pl.DataFrame(
        {"race_id": [RACE], "venue_code": [5], "race_no": [10], "race_name": ["東京優駿"]}
    )
    runners = pl.DataFrame(
        {
            "race_id": [RACE] * 4,
            "horse_no": list(NAMES),
            "frame_no": [FRAMES[h] for h in NAMES],
            "horse_name": list(NAMES.values()),
        }
    )
    return races, runners


def test_horse_names_follow_the_combination() -> None:
    assert horse_names("win", "3", NAMES, FRAMES) == "コズミックフォース"
    assert horse_names("quinella", "1-3", NAMES, FRAMES) == "ワグネリアン / コズミックフォース"
    assert horse_names("exacta", "3>1", NAMES, FRAMES) == "コズミックフォース → ワグネリアン"
    assert horse_names("trifecta", "4>1>2", NAMES, FRAMES) == (
        "エタリオウ → ワグネリアン → エポカドーロ"
    )
    # a bracket names every horse of each frame
    assert horse_names("bracket_quinella", "1-3", NAMES, FRAMES) == (
        "[ワグネリアン・エポカドーロ] / [エタリオウ]"
    )
    assert horse_names("win", "9", NAMES, FRAMES) == "#9"  # a number without a name
    assert horse_names("quinella", "3-1", NAMES, FRAMES) is None  # not canonical
    assert horse_names("lottery", "1", NAMES, FRAMES) is None


def test_label_bets_from_the_warehouse_rows() -> None:
    bets = _bets([(RACE, "win", "1"), (RACE, "quinella", "2-4"), (OTHER, "win", "5")])
    labelled = label_bets(bets, *_warehouse_rows())
    assert labelled.columns == bets.columns
    assert labelled["venue"].to_list() == ["東京", "東京", None]
    assert labelled["race_no"].to_list() == [10, 10, None]
    assert labelled["race_name"].to_list() == ["東京優駿", "東京優駿", None]
    assert labelled["horses"].to_list() == ["ワグネリアン", "エポカドーロ / エタリオウ", None]


def test_the_records_name_the_race_even_without_names() -> None:
    bets = _bets([(RACE, "win", "1"), (OTHER, "win", "5"), ("x-1", "win", "2")])
    labelled = label_bets(bets, *_warehouse_rows())
    records = bet_list(labelled)
    assert list(records.schema.items()) == list(BET_LIST_COLUMNS.items())
    # from the warehouse's names; else the race key's venue and number; else the id itself
    assert records["race"].to_list() == ["東京 10R 東京優駿", "京都 12R", "x-1"]
    assert records["result"].to_list() == ["lost"] * 3


def test_results_are_won_lost_or_refunded() -> None:
    bets = _bets([(RACE, "win", str(h)) for h in (1, 2, 3)]).with_columns(
        pl.Series("paid_yen", [560, 0, 100]),
        pl.Series("hit", [True, False, False]),
        pl.Series("refund", [False, False, True]),
    )
    assert bet_list(bets)["result"].to_list() == ["won", "lost", "refunded"]


def _csv_rows(page: str) -> pl.DataFrame:
    found = re.search(r'href="data:text/csv;charset=utf-8;base64,([^"]+)"', page)
    assert found is not None
    raw = base64.b64decode(found.group(1))
    assert raw[:3] == "\ufeff".encode()
    return pl.read_csv(io.BytesIO(raw[3:]), schema_overrides={"race_id": pl.String})


def test_a_long_list_is_folded_and_capped_but_the_csv_holds_every_bet() -> None:
    short = bet_list(label_bets(_bets([(RACE, "win", "1")] * 3), *_warehouse_rows()))
    page = bets_html(short, {"themis": "Themis"}, "tickets of Themis")
    assert '<details class="bets" open>' in page
    assert page.count("<tr data-race-id=") == 3 and "<td>Themis</td>" in page
    assert _csv_rows(page).height == 3

    many = MAX_LISTED_BETS + 5
    assert many > OPEN_LISTED_BETS
    long = bet_list(_bets([(RACE, "win", "1")] * many))
    page = bets_html(long, {}, "tickets")
    assert '<details class="bets">' in page
    assert page.count("<tr data-race-id=") == MAX_LISTED_BETS
    assert f"first {MAX_LISTED_BETS:,}; the CSV holds all" in page
    assert _csv_rows(page).height == many
