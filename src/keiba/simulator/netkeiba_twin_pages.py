"""netkeiba's pages for one simulated race, in the shapes race.netkeiba.com serves them.

Built with lxml's element builder after the saved real pages the collector's tests use
(`tests/data_collector/fixtures/netkeiba/`): the day's race list (`race_list_sub.html`), the
出馬表 (`shutuba.html`), the result page (`result.html`) and the odds API's JSON. Only what
keiba's parsers and a reader need is kept: the race header (title, RaceName, RaceData01/02),
the runner table with netkeiba's column headings, the payout tables, the list's items.

What a page shows depends on the instant it is asked for (`CardState`): body weights only
once published, withdrawn runners marked 取消 / 除外 (a `HorseList Cancel` row whose mark cell
is `Cancel_Txt`, as netkeiba marks them) only from the scratch time. Pages are UTF-8.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import lxml.html
from lxml.html import builder

from keiba.common.bet_types import BetType
from keiba.common.clock import JST
from keiba.simulator.netkeiba_twin_day import TwinDay, TwinRace
from keiba.simulator.netkeiba_twin_odds import OddsAnswer

__all__ = ["CardState", "render_card", "render_odds", "render_race_list", "render_result"]

h = builder.E
_SITE = "https://race.netkeiba.com"
_DB = "https://db.netkeiba.com"
_SURFACE = {"turf": ("芝", "Turf"), "dirt": ("ダ", "Dart"), "jump": ("障", "")}
_GOING = {"良": "良", "稍重": "稍", "重": "重", "不良": "不"}
_CLASS = {"1勝": "１勝クラス", "2勝": "２勝クラス", "3勝": "３勝クラス", "OP": "オープン"}
_GRADE_ICON = {"G1": "1", "G2": "2", "G3": "3", "OP": "5", "L": "15"}
_CANCEL = {"scratched": "取消", "excluded": "除外"}
_FINISH = {"did_not_finish": "中止", "disqualified": "失格", **_CANCEL}
_PAYOUTS = (
    (BetType.WIN, "Tansho", "単勝"),
    (BetType.PLACE, "Fukusho", "複勝"),
    (BetType.BRACKET_QUINELLA, "Wakuren", "枠連"),
    (BetType.QUINELLA, "Umaren", "馬連"),
    (BetType.QUINELLA_PLACE, "Wide", "ワイド"),
    (BetType.EXACTA, "Umatan", "馬単"),
    (BetType.TRIO, "Fuku3", "3連複"),
    (BetType.TRIFECTA, "Tan3", "3連単"),
)


@dataclass(frozen=True)
class CardState:
    """What the card shows at the instant it is asked for."""

    body_weights: bool
    withdrawals: bool


def _c(names: str, **more: str) -> dict[str, str]:
    return {"class": names, **more}


def _jst(at: dt.datetime) -> dt.datetime:
    return at.astimezone(JST)


def _document(race: TwinRace, path: str, title: str, body: Sequence[Any], page: str) -> bytes:
    url = f"{_SITE}/race/{path}?race_id={race.netkeiba_id}"
    doc = h.html(
        h.head(
            h.meta(charset="utf-8"),
            h.meta(property="og:url", content=url),
            h.link(rel="canonical", href=url),
            h.title(title),
        ),
        h.body(_c("race", id=page), h.div(_c("Wrap fc", id="page"), *body)),
    )
    html: bytes = lxml.html.tostring(doc, encoding="utf-8", doctype="<!DOCTYPE html>")
    return html


def _title(race: TwinRace, what: str) -> str:
    r, post = race.race, _jst(race.post_time)
    return (
        f"{r['race_name']} {what} | {post.year}年{post.month}月{post.day}日 "
        f"{race.key.venue.japanese}{r['race_no']}R レース情報(JRA) - netkeiba"
    )


def _header(race: TwinRace, field_size: int) -> Any:
    r = race.race
    mark, _ = _SURFACE[r["surface"]]
    going = _GOING.get(r["going"] or "", "")
    icon = _GRADE_ICON.get(r["grade"] or "")
    name = h.h1(_c("RaceName"), str(r["race_name"]))
    if icon:
        name.append(h.span(_c(f"Icon_GradeType Icon_GradeType{icon}")))
    direction = f" ({r['direction']})" if r["direction"] else ""
    data01 = h.div(
        _c("RaceData01"),
        f"{_jst(race.post_time):%H:%M}発走 /",
        h.span(f" {mark}{r['distance_m']}m"),
        f"{direction}\n/ 天候:{r['weather'] or ''}",
        h.span(_c("Icon_Weather Weather01")),
        "\n",
        h.span(_c("Item04"), f"/ 馬場:{going}"),
    )
    ages = re.search(r"[2-4]歳(?:以上)?", str(r["race_name"]))
    spans = [f"{r['meeting']}回", race.key.venue.japanese, f"{r['meeting_day']}日目"]
    spans += [f"サラ系{ages[0] if ages else ''}", _CLASS.get(r["race_class"], r["race_class"])]
    data02 = h.div(_c("RaceData02"), *[h.span(s) for s in [*spans, f"{field_size}頭"]])
    box = h.div(_c("RaceList_NameBox"), h.div(_c("RaceList_Item02"), name, data01, data02))
    return h.div(_c("RaceColumn01"), box)


def _body_weight(runner: Mapping[str, Any], shown: bool) -> list[Any]:
    kg, diff = runner["body_weight_kg"], runner["body_weight_diff_kg"]
    if not shown or kg is None:
        return []
    return [str(kg)] if diff is None else [str(kg), h.small(f"({diff:+d})" if diff else "(0)")]


def _people(runner: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    horse = h.a({"href": f"{_DB}/horse/{runner['horse_id']}", "title": runner["horse_name"]})
    horse.text = str(runner["horse_name"])
    jockey = h.a({"href": f"{_DB}/jockey/result/recent/{runner['jockey_id']}/"})
    jockey.text = str(runner["jockey_name"] or "")
    # the world gives a trainer no training centre; the page always names one
    region = "美浦" if str(runner["trainer_id"]).endswith(("1", "3", "5", "7", "9")) else "栗東"
    trainer = h.td(
        _c("Trainer"),
        h.span(_c("Label1" if region == "美浦" else "Label2"), region),
        h.a(
            {"href": f"{_DB}/trainer/result/recent/{runner['trainer_id']}/"},
            str(runner["trainer_name"] or ""),
        ),
    )
    return horse, jockey, trainer


def _card_row(runner: Mapping[str, Any], state: CardState) -> Any:
    no, frame = int(runner["horse_no"]), int(runner["frame_no"])
    cancel = _CANCEL.get(runner["status"]) if state.withdrawals else None
    horse, jockey, trainer = _people(runner)
    return h.tr(
        _c("HorseList Cancel" if cancel else "HorseList", id=f"tr_{no}"),
        h.td(_c(f"Waku{frame} Txt_C"), h.span(str(frame))),
        h.td(_c(f"Umaban{frame} Txt_C"), str(no)),
        h.td(_c("Cancel_Txt"), cancel) if cancel else h.td(_c("CheckMark Horse_Select")),
        h.td(_c("HorseInfo"), h.div(h.div(h.span(_c("HorseName"), horse)))),
        h.td(_c("Barei Txt_C"), f"{runner['sex']}{runner['age']}"),
        h.td(_c("Txt_C"), f"{runner['weight_carried_kg']:.1f}"),
        h.td(_c("Jockey"), jockey),
        trainer,
        h.td(_c("Weight"), *_body_weight(runner, state.body_weights and not cancel)),
        h.td(_c("Txt_R Popular"), h.span("---.-", id=f"odds-1_{no:02d}")),
        h.td(_c("Popular Popular_Ninki Txt_C"), h.span("**", id=f"ninki-1_{no:02d}")),
    )


def render_card(race: TwinRace, state: CardState) -> bytes:
    """The 出馬表 as it stands in `state`."""
    heads = ["枠", "馬番", "印", "馬名", "性齢", "斤量", "騎手", "厩舎"]
    weight = h.th(_c("Weight"), h.div(_c("Inner_Shutuba"), "馬体重", h.br(), h.small("(増減)")))
    header = h.tr(_c("Header"), *[h.th(t) for t in heads], weight, h.th(_c("Popular")))
    header.append(h.th(_c("Popular Popular_Ninki"), "人気"))
    table = h.table(
        _c("Shutuba_Table RaceTable01 ShutubaTable"),
        h.thead(header),
        *[_card_row(r, state) for r in race.runners],
    )
    body = [
        _header(race, len(race.runners)),
        h.div(_c("RaceColumn02"), h.div(_c("RaceTableArea"), table)),
    ]
    return _document(race, "shutuba.html", _title(race, "出馬表"), body, "race_top")


def _finish(runner: Mapping[str, Any]) -> str:
    if runner["finish_pos"] is None:
        return _FINISH.get(runner["status"], "")
    return f"{runner['finish_pos']}(降)" if runner["demoted"] else str(runner["finish_pos"])


def _time(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, rest = divmod(round(seconds * 10), 600)
    return f"{minutes}:{rest / 10:04.1f}" if minutes else f"{rest / 10:.1f}"


def _result_row(runner: Mapping[str, Any]) -> Any:
    horse, jockey, trainer = _people(runner)
    odds = runner["win_odds_final"]
    last = runner["last_3f_s"]
    return h.tr(
        _c("HorseList"),
        h.td(_c("Result_Num"), h.div(_c("Rank"), _finish(runner))),
        h.td(_c(f"Num Waku{runner['frame_no']}"), h.div(str(runner["frame_no"]))),
        h.td(_c("Num Txt_C"), h.div(str(runner["horse_no"]))),
        h.td(_c("Horse_Info"), h.span(_c("Horse_Name"), horse)),
        h.td(_c("Horse_Info Txt_C"), h.div(h.span(f"{runner['sex']}{runner['age']}"))),
        h.td(
            _c("Jockey_Info"),
            h.div(h.span(_c("JockeyWeight"), f"{runner['weight_carried_kg']:.1f}")),
        ),
        h.td(_c("Jockey"), jockey),
        h.td(_c("Time"), h.span(_c("RaceTime"), _time(runner["finish_time_s"]))),
        h.td(_c("Time"), h.span(_c("RaceTime"), runner["margin"] or "")),
        h.td(_c("Odds Txt_C"), h.span(_c("OddsPeople"), str(runner["popularity"] or ""))),
        h.td(_c("Odds Txt_R"), h.span(_c("Odds_Ninki"), "" if odds is None else f"{odds:.1f}")),
        h.td(_c("Time"), "" if last is None else f"{last:.1f}"),
        h.td(_c("PassageRate"), runner["passing"] or ""),
        trainer,
        h.td(_c("Weight"), *_body_weight(runner, True)),
    )


def _payout_row(css: str, name: str, paid: list[Mapping[str, Any]]) -> Any:
    result = h.td(_c("Result"))
    for p in paid:
        numbers = re.split(r"[->]", str(p["combination"]))
        if len(numbers) == 1:
            result.append(h.div(h.span(numbers[0])))
        else:
            result.append(h.ul(*[h.li(h.span(n)) for n in numbers]))
    amounts: list[Any] = []
    for p in paid:
        amounts += [h.br(), f"{p['payout_yen']:,}円"] if amounts else [f"{p['payout_yen']:,}円"]
    ninki = [h.span(f"{p['popularity']}人気") for p in paid if p["popularity"] is not None]
    return h.tr(
        _c(css), h.th(name), result, h.td(_c("Payout"), h.span(*amounts)), h.td(_c("Ninki"), *ninki)
    )


def _payout_tables(race: TwinRace) -> list[Any]:
    rows = []
    for bet, css, name in _PAYOUTS:
        paid = [p for p in race.payouts if p["bet_type"] == bet.value]
        if paid:
            rows.append(_payout_row(css, name, paid))
    return [
        h.table(_c("Payout_Detail_Table"), h.tbody(*rows[:4])),
        h.table(_c("Payout_Detail_Table"), h.tbody(*rows[4:])),
    ]


def render_result(race: TwinRace) -> bytes:
    """The 結果・払戻 page: every declared runner in finishing order, then the payouts."""
    heads = ["着順", "枠", "馬番", "馬名", "性齢", "斤量", "騎手", "タイム", "着差", "人気"]
    heads += ["単勝オッズ", "後3F", "コーナー通過順", "厩舎", "馬体重(増減)"]
    order = sorted(
        race.runners, key=lambda r: (r["finish_pos"] is None, r["finish_pos"] or 0, r["horse_no"])
    )
    table = h.table(
        _c("RaceTable01 RaceCommon_Table ResultRefund Table_Show_All", id="All_Result_Table"),
        h.thead(h.tr(_c("Header"), *[h.th(t) for t in heads])),
        h.tbody(*[_result_row(r) for r in order]),
    )
    payouts = h.div(_c("Result_Pay_Back"), *_payout_tables(race))
    body = [_header(race, len(race.runners)), h.div(_c("RaceColumn02"), table, payouts)]
    return _document(race, "result.html", _title(race, "結果・払戻"), body, "Netkeiba_Race_Result")


def _list_item(race: TwinRace, official: bool) -> Any:
    r = race.race
    page = "result" if official else "shutuba"
    mark, css = _SURFACE[r["surface"]]
    icon = _GRADE_ICON.get(r["grade"] or "")
    title = h.div(_c("RaceList_ItemTitle"), h.span(_c("ItemTitle"), str(r["race_name"])))
    if icon:
        title.append(h.span(_c(f"Icon_GradeType Icon_GradeType{icon} Icon_GradePos01")))
    data = h.div(
        _c("RaceData"),
        h.span(_c("RaceList_Itemtime"), f"{_jst(race.post_time):%H:%M} "),
        h.span(_c(f"RaceList_ItemLong {css}".strip()), f"{mark}{r['distance_m']}m"),
        h.span(_c("RaceList_Itemnumber"), f"{len(race.runners)}頭 "),
    )
    link = h.a(
        {"href": f"../race/{page}.html?race_id={race.netkeiba_id}&rf=race_list"},
        h.div(_c("Race_Num Race_Fixed"), h.span(f"{r['race_no']}R")),
        h.div(_c("RaceList_ItemContent"), title, data),
    )
    return h.li(_c("RaceList_DataItem"), link)


def render_race_list(day: TwinDay, official: Mapping[str, bool]) -> bytes:
    """The day's race list (a page fragment, as `race_list_sub.html` is), one block a venue."""
    venues: dict[int, list[TwinRace]] = {}
    for race in day.races:
        venues.setdefault(race.key.venue.value, []).append(race)
    blocks = []
    for races in venues.values():
        first = races[0]
        kaisai = first.netkeiba_id[:10]
        link = (
            f"../top/payback_list.html?kaisai_id={kaisai}"
            f"&kaisai_date={day.date:%Y%m%d}&rf=race_list"
        )
        title = h.p(
            _c("RaceList_DataTitle"),
            h.small(f"{first.race['meeting']}回 "),
            first.key.venue.japanese,
            h.small(f" {first.race['meeting_day']}日目"),
        )
        head = h.dt(
            _c("RaceList_DataHeader"),
            h.div(_c("RaceList_DataHeader_Top"), title, h.a({"href": link}, "払戻一覧")),
        )
        items = [_list_item(r, official.get(r.netkeiba_id, False)) for r in races]
        blocks.append(h.dl(_c("RaceList_DataList"), head, h.dd(_c("RaceList_Data"), h.ul(*items))))
    root = h.div(
        _c("RaceList_Body RaceList_Top", id="RaceTopRace"),
        h.div(_c("RaceList_Box clearfix"), *blocks),
    )
    html: bytes = lxml.html.tostring(root, encoding="utf-8")
    return b'<meta charset="UTF-8">\n' + html


def _odds_text(value: float) -> str:
    return f"{value:.1f}"


def render_odds(answer: OddsAnswer, stamp: dt.datetime) -> bytes:
    """The odds API's JSON for `answer`, its `official_datetime` written as `stamp` (JST)."""
    empty = {"yoso": "", "middle": "0", "result": "0.0"}[answer.status]
    odds: dict[str, dict[str, list[str]]] = {
        "1": {f"{n:02d}": [_odds_text(o), empty, str(p)] for n, (o, p) in answer.win.items()}
    }
    if answer.place:
        odds["2"] = {
            f"{n:02d}": [_odds_text(lo), _odds_text(hi), str(p)]
            for n, (lo, hi, p) in answer.place.items()
        }
    body = {
        "status": answer.status,
        "data": {"official_datetime": f"{_jst(stamp):%Y-%m-%d %H:%M:%S}", "odds": odds},
        "update_count": "0",
        "reason": "",
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
