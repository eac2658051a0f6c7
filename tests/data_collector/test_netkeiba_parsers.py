"""Each saved netkeiba page parses to the values read off it; statuses map to the contract."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from netkeiba_fixtures import fixture

from keiba.common.bet_types import BetType
from keiba.common.clock import JST
from keiba.common.ids import NetkeibaRaceId
from keiba.data_collector.netkeiba_cards import parse_card, parse_race_list
from keiba.data_collector.netkeiba_odds import parse_odds_api, parse_odds_page
from keiba.data_collector.netkeiba_pages import NetkeibaParseError, decode_page
from keiba.data_collector.netkeiba_results import ParsedRace, parse_db_result, parse_race_result


def paid(race: ParsedRace, bet: BetType) -> dict[str, tuple[int, int | None]]:
    return {p.combination: (p.payout_yen, p.popularity) for p in race.payouts if p.bet_type is bet}


def test_db_result_2020_sapporo_1r() -> None:
    race = parse_db_result(fixture("db_result_202001010101.html"), "db2020")
    h = race.header
    assert h.race_id == "2020072501010101"
    assert (h.race_name, h.grade, h.race_class) == ("2歳未勝利", None, "未勝利")
    assert (h.surface, h.distance_m, h.direction, h.going, h.weather) == (
        "turf", 1800, "右", "良", "曇",
    )  # fmt: skip
    assert h.post_time == dt.datetime(2020, 7, 25, 0, 55, tzinfo=dt.UTC)  # 09:55 JST
    assert race.field_size == 6
    winner = race.runners[0]
    assert (winner.horse_no, winner.frame_no, winner.horse_name, winner.horse_id) == (
        6, 6, "ウインルーア", "2018101626",
    )  # fmt: skip
    assert (winner.sex, winner.age, winner.weight_carried_kg) == ("牝", 2, 54.0)
    assert (winner.jockey_name, winner.jockey_id, winner.trainer_name) == (
        "横山武史", "01170", "青木孝文",
    )  # fmt: skip
    assert (winner.finish_time_s, winner.last_3f_s, winner.passing) == (109.7, 35.6, "5-5-3-3")
    assert (winner.win_odds_final, winner.popularity) == (16.0, 3)
    assert (winner.body_weight_kg, winner.body_weight_diff_kg) == (438, 4)
    assert (winner.status, winner.finish_pos, winner.demoted) == ("finished", 1, False)
    assert race.runners[1].margin == "1.3/4"
    assert paid(race, BetType.WIN) == {"6": (1600, 3)}
    assert paid(race, BetType.PLACE) == {"6": (490, 4), "2": (130, 2)}
    assert paid(race, BetType.QUINELLA_PLACE) == {"2-6": (150, 3), "3-6": (170, 4), "2-3": (110, 1)}
    assert paid(race, BetType.EXACTA) == {"6>2": (3920, 9)}
    assert paid(race, BetType.TRIFECTA) == {"6>2>3": (5180, 16)}
    assert paid(race, BetType.BRACKET_QUINELLA) == {}  # not sold with six runners


def test_db_result_2023_nakayama_1r() -> None:
    race = parse_db_result(fixture("db_result_202306010101.html"), "db2023")
    assert race.header.race_id == "2023010506010101"
    assert (race.header.surface, race.header.distance_m) == ("dirt", 1200)
    assert race.field_size == 16
    first = race.runners[0]
    assert (first.horse_no, first.horse_name, first.jockey_name, first.win_odds_final) == (
        14, "シュバルツガイスト", "武豊", 1.8,
    )  # fmt: skip
    last = race.runners[-1]
    assert (last.finish_pos, last.horse_no, last.horse_name) == (16, 10, "コノハナミカミ")
    assert paid(race, BetType.WIN) == {"14": (180, 1)}
    assert paid(race, BetType.BRACKET_QUINELLA) == {"3-7": (470, 2)}
    assert paid(race, BetType.TRIO) == {"1-5-14": (3040, 8)}
    assert paid(race, BetType.TRIFECTA) == {"14>5>1": (8890, 25)}


def test_db_result_2010_layout_with_a_dead_heat_for_first() -> None:
    race = parse_db_result(fixture("db_result_201005030211_dead_heat.html"), "db2010")
    h = race.header
    assert h.race_id == "2010052305030211"
    assert (h.race_name, h.grade, h.race_class) == ("第71回優駿牝馬", "G1", "OP")
    assert (h.surface, h.distance_m, h.direction, h.going, h.weather) == (
        "turf", 2400, "左", "稍重", "雨",
    )  # fmt: skip
    assert race.field_size == 18
    top = {r.horse_no: (r.finish_pos, r.horse_name, r.margin) for r in race.runners[:3]}
    assert top == {
        17: (1, "アパパネ", None),
        18: (1, "サンテミリオン", "同着"),
        2: (3, "アグネスワルツ", "2"),
    }
    assert paid(race, BetType.WIN) == {"17": (210, 1), "18": (380, 5)}
    assert paid(race, BetType.BRACKET_QUINELLA) == {"8-8": (1750, 9)}
    assert paid(race, BetType.EXACTA) == {"17>18": (1520, 5), "18>17": (2020, 14)}
    assert paid(race, BetType.TRIFECTA) == {"17>18>2": (20460, 101), "18>17>2": (24290, 127)}


def test_race_result_page_utf8() -> None:
    race = parse_race_result(fixture("race_result_202602010607.html"), "result")
    h = race.header
    assert h.race_id == "2026062802010607"
    assert (h.race_name, h.race_class, h.surface, h.distance_m, h.going) == (
        "3歳以上1勝クラス", "1勝", "dirt", 1700, "稍重",
    )  # fmt: skip
    assert h.post_time == dt.datetime(2026, 6, 28, 4, 10, tzinfo=dt.UTC)
    assert race.field_size == h.stated_field_size == 10
    winner = race.runners[0]
    assert (winner.horse_no, winner.horse_name, winner.jockey_name, winner.trainer_name) == (
        4, "キャットテイル", "河原田", "野中",
    )  # fmt: skip
    assert (winner.win_odds_final, winner.popularity, winner.finish_time_s) == (6.7, 4, 104.9)
    assert paid(race, BetType.WIN) == {"4": (670, 4)}
    assert paid(race, BetType.PLACE) == {"4": (210, 5), "2": (170, 1), "9": (1060, 9)}
    assert paid(race, BetType.BRACKET_QUINELLA) == {"2-4": (1920, 10)}
    assert paid(race, BetType.QUINELLA_PLACE) == {
        "2-4": (620, 8),
        "4-9": (6940, 39),
        "2-9": (4930, 33),
    }
    assert paid(race, BetType.TRIFECTA) == {"4>2>9": (153680, 358)}


def test_race_cards() -> None:
    card = parse_card(fixture("race_shutuba_202602010607.html"), "card")
    assert card.race_id == "2026062802010607"
    assert [r.horse_name for r in card.runners][:2] == ["ウィンターガーデン", "ビーチイン"]
    assert {r.status for r in card.runners} == {"declared"}
    assert all(r.finish_pos is None and r.win_odds_final is None for r in card.runners)
    assert [(r.horse_no, r.frame_no) for r in card.runners][6:8] == [(7, 7), (8, 7)]
    old = parse_card(fixture("race_shutuba_202001010102.html"), "card2020")  # EUC-JP
    assert old.race_id == "2020072501010102"
    assert len(old.runners) == 14
    first = old.runners[0]
    assert (first.horse_name, first.weight_carried_kg, first.jockey_name) == (
        "ムーンフェアリー", 51.0, "秋山稔",
    )  # fmt: skip


@pytest.mark.parametrize(("mark", "status"), [("取消", "scratched"), ("除外", "excluded")])
def test_a_withdrawn_runner_on_a_card(mark: str, status: str) -> None:
    # netkeiba marks a withdrawn runner in the 印 column: <td class="Cancel_Txt">取消</td>
    text = fixture("race_shutuba_202602010607.html").decode()
    row = text.index('<tr class="HorseList" id="tr_4">')
    cell = '<td class="CheckMark Horse_Select">\n</td>'
    edited = text[:row] + text[row:].replace(cell, f'<td class="Cancel_Txt">{mark}</td>', 1)
    card = parse_card(edited.encode(), "card")
    assert [(r.horse_no, r.status) for r in card.runners if r.status != "declared"] == [(3, status)]


def test_race_list() -> None:
    listed = parse_race_list(fixture("race_list_20260628.html"), "list", dt.date(2026, 6, 28))
    ids = [str(r) for r in listed.race_ids]
    assert len(ids) == 36
    assert {i[4:6] for i in ids} == {"02", "03", "10"}  # 函館, 福島, 小倉
    assert "202602010607" in ids and "202603020211" in ids
    with pytest.raises(NetkeibaParseError, match="expected 20260629"):
        parse_race_list(fixture("race_list_20260628.html"), "list", dt.date(2026, 6, 29))


def test_race_list_post_times() -> None:
    listed = parse_race_list(fixture("race_list_20260628.html"), "list", dt.date(2026, 6, 28))
    posts = {str(r.race_id): r.post_time for r in listed.races}
    assert posts["202603020201"] == dt.datetime(2026, 6, 28, 10, 5, tzinfo=JST)
    assert posts["202603020202"] == dt.datetime(2026, 6, 28, 10, 45, tzinfo=JST)
    assert posts["202603020201"].astimezone(dt.UTC).hour == 1  # 10:05 JST is 01:05 UTC
    assert all(p.utcoffset() == dt.timedelta(hours=9) for p in posts.values())
    for venue in ("02", "03", "10"):  # each venue's races are run in race-number order
        times = [posts[i] for i in sorted(posts) if i[4:6] == venue]
        assert len(times) == 12 and times == sorted(times) and len(set(times)) == 12


@pytest.mark.parametrize("time", ["", "未定", "25:10", "10:5x"])
def test_race_list_unreadable_post_time_names_the_race(time: str) -> None:
    page = fixture("race_list_20260628.html").decode("utf-8")
    damaged = page.replace(">10:45 <", f">{time}<", 1).encode("utf-8")
    with pytest.raises(NetkeibaParseError, match="race 202603020202 has no readable post time"):
        parse_race_list(damaged, "list", dt.date(2026, 6, 28))


@pytest.mark.parametrize(
    ("name", "race", "stage", "as_of", "quotes"),
    [
        ("odds_api_final_202603020211.json", "202603020211", "final",
         dt.datetime(2026, 6, 28, 6, 52, 30, tzinfo=dt.UTC), 32),
        ("odds_api_middle_202603020611.json", "202603020611", "interim",
         dt.datetime(2026, 7, 11, 7, 40, 16, tzinfo=dt.UTC), 32),
        ("odds_api_forecast_202602011011.json", "202602011011", "forecast",
         dt.datetime(2026, 7, 11, 7, 15, 50, tzinfo=dt.UTC), 14),
    ],
)  # fmt: skip
def test_odds_api_states(name: str, race: str, stage: str, as_of: dt.datetime, quotes: int) -> None:
    snap = parse_odds_api(fixture(name), name, NetkeibaRaceId.parse(race), dt.date(2026, 7, 12))
    assert (snap.stage, snap.as_of, len(snap.quotes)) == (stage, as_of, quotes)


def test_odds_api_values() -> None:
    final = parse_odds_api(
        fixture("odds_api_final_202603020211.json"), "f",
        NetkeibaRaceId.parse("202603020211"), dt.date(2026, 6, 28),
    )  # fmt: skip
    assert final.race_id == "2026062803020211"
    win = {q.combination: (q.odds, q.popularity) for q in final.quotes if q.bet_type is BetType.WIN}
    assert win["13"] == (5.4, 1) and win["10"] == (151.8, 16)
    place = {
        q.combination: (q.odds, q.odds_high) for q in final.quotes if q.bet_type is BetType.PLACE
    }
    assert place["5"] == (1.9, 2.3) and place["10"] == (21.2, 28.4)
    forecast = parse_odds_api(
        fixture("odds_api_forecast_202602011011.json"), "y",
        NetkeibaRaceId.parse("202602011011"), dt.date(2026, 7, 12),
    )  # fmt: skip
    assert {q.bet_type for q in forecast.quotes} == {BetType.WIN}
    assert next(q for q in forecast.quotes if q.combination == "9").odds == 5.1


def test_odds_page_has_no_published_odds() -> None:
    page = parse_odds_page(fixture("race_odds_win_place_20260222_kokura11.html"), "odds")
    assert page.header.race_id == "2026022210011011"
    assert (page.header.race_name, page.header.grade) == ("小倉大賞典", "G3")
    assert page.bet_type is BetType.TRIO  # the saved page is the 3連複 tab (type=b7)
    assert len(page.horses) == 16 and page.horses[1] == "マテンロウオリオン"
    assert page.cells == 105 and page.snapshot is None  # every cell is ---.- until JS fills it


def test_the_meta_charset_is_not_trusted() -> None:
    data = fixture("race_odds_win_place_20260222_kokura11.html")
    assert b'charset="EUC-JP"' in data[:200]
    assert "小倉大賞典" in decode_page(data, "odds")
    assert "アパパネ" in decode_page(fixture("db_result_201005030211_dead_heat.html"), "db")


def _edit_db_rows(edits: dict[int, str]) -> bytes:
    """The 2023 db page with the 着順 cell of some rows (1-based) replaced."""
    text = fixture("db_result_202306010101.html").decode("euc_jp")
    start = text.index("race_table_01")
    head, body = text[:start], text[start:]
    rows = body.split("<tr>")
    for row, value in edits.items():
        rows[row] = re.sub(r">[^<]*</td>", f">{value}</td>", rows[row], count=1)
    return (head + "<tr>".join(rows)).encode("euc_jp")


def test_statuses_and_demotion_map_to_the_contract() -> None:
    data = _edit_db_rows({3: "3(降)", 13: "失格", 14: "中止", 15: "除外", 16: "取消"})
    race = parse_db_result(data, "edited")
    by_row = {r.row: r for r in race.runners}
    assert (by_row[3].status, by_row[3].finish_pos, by_row[3].demoted) == ("finished", 3, True)
    assert [(by_row[n].status, by_row[n].finish_pos) for n in (13, 14, 15, 16)] == [
        ("disqualified", None), ("did_not_finish", None), ("excluded", None), ("scratched", None),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("edits", "column"),
    [({2: "5"}, "finish_pos"), ({2: "19"}, "finish_pos"), ({2: "二"}, "finish")],
)
def test_inconsistent_positions_are_typed_errors(edits: dict[int, str], column: str) -> None:
    with pytest.raises(NetkeibaParseError) as caught:
        parse_db_result(_edit_db_rows(edits), "edited")
    assert caught.value.column == column and caught.value.locator.startswith("edited row ")


def test_bad_payouts_and_odds_are_typed_errors() -> None:
    text = fixture("race_result_202602010607.html").decode()
    with pytest.raises(NetkeibaParseError, match="at least 100"):
        parse_race_result(text.replace("670円", "90円").encode(), "p")
    with pytest.raises(NetkeibaParseError, match="beyond"):
        parse_race_result(
            text.replace("<span>4</span></div>", "<span>14</span></div>", 1).encode(), "p"
        )
    odds = fixture("odds_api_final_202603020211.json").replace(b'"9.0"', b'"0.8"')
    with pytest.raises(NetkeibaParseError, match=r"below 1\.0"):
        parse_odds_api(odds, "o", NetkeibaRaceId.parse("202603020211"), dt.date(2026, 6, 28))
    with pytest.raises(NetkeibaParseError, match="not in the id's year"):
        parse_odds_api(
            fixture("odds_api_final_202603020211.json"), "o",
            NetkeibaRaceId.parse("202603020211"), dt.date(2025, 6, 28),
        )  # fmt: skip


def test_a_page_of_another_race_is_refused() -> None:
    with pytest.raises(NetkeibaParseError, match="expected 202602010608"):
        parse_race_result(
            fixture("race_result_202602010607.html"), "r", NetkeibaRaceId.parse("202602010608")
        )
