"""The IPAT twin without a browser: logins, sessions, the deposit, sales close, maintenance,
receipts, and its 投票内容照会 CSV read back by keiba's parser (Shift_JIS, the real columns)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import httpx
import pytest

from keiba.common.bet_types import BetType
from keiba.common.clock import JST, FixedClock
from keiba.common.ids import Venue
from keiba.execution.history import HISTORY_COLUMNS, parse_history_csv
from keiba.simulator.ipat_twin import (
    COOKIE,
    IpatAccount,
    IpatAnswer,
    IpatFaults,
    IpatRace,
    IpatTwin,
    serving_ipat,
)

TOKYO_11 = "2018112505050811"
KYOTO_1 = "2018112508050801"
RACES = (
    IpatRace(TOKYO_11, dt.datetime(2018, 11, 25, 15, 40, tzinfo=JST)),
    IpatRace(KYOTO_1, dt.datetime(2018, 11, 25, 10, 1, tzinfo=JST)),
)
ACCOUNT = IpatAccount("ABCD1234", "12345678", "1111", "2222", deposit_yen=5_000)


def _twin(at: dt.datetime | None = None) -> IpatTwin:
    clock = FixedClock(at or dt.datetime(2018, 11, 25, 9, 0, tzinfo=JST))
    return IpatTwin(RACES, ACCOUNT, clock, IpatFaults())


def _text(answer: IpatAnswer) -> str:
    return answer.body.decode()


def _login(twin: IpatTwin, pin: str = "1111") -> str:
    first = twin.answer("POST", "/login/inetid", {"inetid": "ABCD1234"}, None)
    sid = dict(first.headers)["Set-Cookie"].split(";")[0].removeprefix(f"{COOKIE}=")
    member = {"i": "12345678", "p": pin, "r": "2222"}
    answer = twin.answer("POST", "/login/member", member, sid)
    assert (answer.status, dict(answer.headers)["Location"]) == (303, "/notice")
    assert "お知らせ" in _text(twin.answer("GET", "/notice", {}, sid))
    return sid


def _add(
    twin: IpatTwin, sid: str, race: str, name: str, horses: Mapping[str, str], units: str
) -> str:
    form = {"r": race, "bet_type": name, "method": "通常", "units": units, **horses}
    return _text(twin.answer("POST", "/cart/add", form, sid))


def _buy(twin: IpatTwin, sid: str, total: int) -> str:
    cart = _text(twin.answer("GET", "/cart", {}, sid))
    token = cart.split('name="token" value="')[1].split('"')[0]
    return _text(twin.answer("POST", "/cart/buy", {"token": token, "total": str(total)}, sid))


def test_the_login_needs_all_four_credentials() -> None:
    twin = _twin()
    wrong_id = twin.answer("POST", "/login/inetid", {"inetid": "ABCD1235"}, None)
    assert "INET-IDが正しくありません" in _text(wrong_id) and not wrong_id.headers
    first = twin.answer("POST", "/login/inetid", {"inetid": "ABCD1234"}, None)
    sid = dict(first.headers)["Set-Cookie"].split(";")[0].removeprefix(f"{COOKIE}=")
    wrong = twin.answer("POST", "/login/member", {"i": "12345678", "p": "1112", "r": "2222"}, sid)
    assert "正しくありません" in _text(wrong)
    assert 'id="limit"' not in _text(twin.answer("GET", "/menu", {}, sid))
    sid = _login(twin)
    assert '<span id="limit">5,000</span>' in _text(twin.answer("GET", "/menu", {}, sid))


def test_a_session_expires_silently_into_a_hidden_login_form() -> None:
    twin = _twin()
    sid = _login(twin)
    assert isinstance(twin.clock, FixedClock)
    twin.clock.advance(dt.timedelta(minutes=21))
    page = _text(twin.answer("GET", "/menu", {}, sid))
    assert 'name="inetid"' in page and 'style="display:none"' in page and "通常投票" not in page


def test_a_purchase_gets_a_receipt_and_takes_its_total_off_the_deposit() -> None:
    twin = _twin()
    sid = _login(twin)
    assert "追加しました" in _add(
        twin, sid, TOKYO_11, "３連単", {"horse1": "7", "horse2": "3", "horse3": "1"}, "2"
    )
    assert "追加しました" in _add(twin, sid, KYOTO_1, "馬連", {"horse1": "9", "horse2": "2"}, "1")
    assert "合計金額が一致しません" in _buy(twin, sid, 200)
    page = _buy(twin, sid, 300)
    assert "お客様の投票を受け付けました。" in page and '<span id="receipt-no">0001</span>' in page
    assert twin.deposit_yen == 4_700
    assert [(p.receipt_no, p.serial, p.line.selection) for p in twin.purchases] == [
        ("0001", 1, "07→03→01"),
        ("0001", 2, "02―09"),
    ]
    _add(twin, sid, TOKYO_11, "単勝", {"horse1": "5"}, "1")
    assert '<span id="receipt-no">0002</span>' in _buy(twin, sid, 100)


def test_the_deposit_is_the_hard_cap() -> None:
    twin = _twin()
    sid = _login(twin)
    _add(twin, sid, TOKYO_11, "単勝", {"horse1": "5"}, "51")
    assert "購入限度額（5,000円）を超えています" in _buy(twin, sid, 5_100)
    twin.set_deposit(0)
    assert "入金指示を行ってください" in _buy(twin, sid, 5_100)
    assert twin.purchases == []


def test_sales_close_two_minutes_before_post() -> None:
    twin = _twin(dt.datetime(2018, 11, 25, 9, 58, 59, tzinfo=JST))
    sid = _login(twin)
    venue = _text(twin.answer("GET", "/vote/venue?v=08", {}, sid))
    assert f'value="{KYOTO_1}">1R (10:01)</button>' in venue
    _add(twin, sid, KYOTO_1, "単勝", {"horse1": "5"}, "1")
    assert isinstance(twin.clock, FixedClock)
    twin.clock.advance(dt.timedelta(seconds=1))
    assert f'value="{KYOTO_1}" disabled>' in _text(twin.answer("GET", "/vote/venue?v=08", {}, sid))
    assert "締め切" in _buy(twin, sid, 100)
    assert twin.purchases == []


def test_the_nightly_maintenance_window() -> None:
    twin = _twin(dt.datetime(2018, 11, 24, 23, 50, tzinfo=JST))
    assert "メンテナンス" in _text(twin.answer("GET", "/", {}, None))
    assert isinstance(twin.clock, FixedClock)
    twin.clock.advance(dt.timedelta(minutes=15))
    assert "メンテナンス" not in _text(twin.answer("GET", "/", {}, None))


def test_the_history_csv_round_trips_through_the_parser() -> None:
    twin = _twin()
    sid = _login(twin)
    _add(twin, sid, TOKYO_11, "３連単", {"horse1": "7", "horse2": "3", "horse3": "1"}, "2")
    _add(twin, sid, TOKYO_11, "ワイド", {"horse1": "18", "horse2": "1"}, "3")
    _add(twin, sid, KYOTO_1, "単勝", {"horse1": "4"}, "1")
    _buy(twin, sid, 600)
    answer = twin.answer("GET", "/inquiry/csv?date=20181125", {}, sid)
    assert answer.content_type == "text/csv; charset=Shift_JIS"
    header = answer.body.split(b"\r\n")[0]
    assert header.decode("shift_jis").split(",") == list(HISTORY_COLUMNS)
    assert "払戻／返還金額".encode("shift_jis") in header  # Shift_JIS, not UTF-8
    rows = parse_history_csv(answer.body, "twin")
    assert [(r.receipt, r.venue, r.race_no, r.bet_type, r.combination, r.stake) for r in rows] == [
        ("20181125-0001-1", Venue.TOKYO, 11, BetType.TRIFECTA, "7>3>1", 200),
        ("20181125-0001-2", Venue.TOKYO, 11, BetType.QUINELLA_PLACE, "1-18", 300),
        ("20181125-0001-3", Venue.KYOTO, 1, BetType.WIN, "4", 100),
    ]
    assert parse_history_csv(twin.answer("GET", "/inquiry/csv?date=20181124", {}, sid).body) == []


def test_faults_fire_once_and_a_hang_is_released_when_the_twin_stops() -> None:
    twin = _twin()
    twin.faults.server_error("/menu", 503)
    sid = _login(twin)
    assert twin.answer("GET", "/menu", {}, sid).status == 503
    assert twin.answer("GET", "/menu", {}, sid).status == 200
    twin.faults.timeout("/menu")
    with serving_ipat(twin) as url, pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{url}/menu", cookies={COOKIE: sid}, timeout=0.5)
    assert twin.released.is_set()
