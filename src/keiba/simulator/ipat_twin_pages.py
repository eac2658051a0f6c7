"""The pages and the purchase-history CSV of the IPAT twin (`keiba.simulator.ipat_twin`).

Each page carries the elements a bettor's browser meets on JRA's IPAT web site: the INET-ID
form (`inetid`, a link titled ログイン), the subscriber form (`i` 加入者番号, `p` 暗証番号,
`r` P-ARS番号, ネット投票メニューへ), an お知らせ page with an OK button, the menu with the
購入限度額 and 通常投票, venue buttons, race buttons labelled like "11R (15:40)" (disabled once
sales close), a bet form (full-width bet-type names such as ３連単, 通常 method, horses, amount
in 100-yen units, セット), the list with its total to type again, 購入する behind a confirm
dialog, and the receipt page 「お客様の投票を受け付けました。」 with its 受付番号. The CSV is
投票内容照会's, in Shift_JIS with its column names.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from keiba.common.clock import JST

__all__ = [
    "BET_NAMES",
    "HISTORY_COLUMNS",
    "CartLine",
    "HistoryLine",
    "cart_page",
    "error_page",
    "history_csv",
    "login_page",
    "maintenance_page",
    "member_page",
    "menu_page",
    "notice_page",
    "race_page",
    "races_page",
    "result_page",
    "venues_page",
]

BET_NAMES = {
    "単勝": 1,
    "複勝": 1,
    "枠連": 2,
    "馬連": 2,
    "ワイド": 2,
    "馬単": 2,
    "３連複": 3,
    "３連単": 3,
}
"""The bet types of 通常投票 as the site names them, with how many numbers each takes."""
ORDERED = {"馬単", "３連単"}
HISTORY_COLUMNS = (
    "日付",
    "受付番号",
    "通番",
    "場名",
    "曜日",
    "レース",
    "式別",
    "馬／組番",
    "購入金額",
    "的中／返還",
    "払戻単価",
    "払戻／返還金額",
)
_WEEKDAYS = "月火水木金土日"


@dataclass(frozen=True)
class CartLine:
    """One line of the voting list as the site shows it."""

    race_label: str
    bet_name: str
    numbers: tuple[int, ...]
    stake: int

    @property
    def selection(self) -> str:
        joiner = "→" if self.bet_name in ORDERED else "―"
        return joiner.join(f"{n:02d}" for n in self.numbers)


@dataclass(frozen=True)
class HistoryLine:
    """One purchased ticket as 投票内容照会 lists it."""

    day: dt.date
    receipt_no: str
    serial: int
    venue_name: str
    race_no: int
    line: CartLine


def _page(title: str, body: str, script: str = "") -> bytes:
    js = f"<script>{script}</script>" if script else ""
    return (
        '<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head><body>{body}{js}</body></html>"
    ).encode()


def _error(message: str) -> str:
    return f'<p class="error" role="alert">{escape(message)}</p>' if message else ""


_SUBMIT_LINK = "this.closest('form').submit(); return false;"


def login_page(error: str = "", *, hidden: bool = False) -> bytes:
    """The INET-ID page; `hidden` is how the site looks after a session died silently."""
    style = ' style="display:none"' if hidden else ""
    return _page(
        "JRA IPAT",
        f'{_error(error)}<form id="inetid-form" method="post" action="/login/inetid"{style}>'
        '<label>INET-ID <input type="text" name="inetid" autocomplete="off"></label> '
        f'<a href="#" title="ログイン" onclick="{_SUBMIT_LINK}">ログイン</a></form>',
    )


def member_page(error: str = "") -> bytes:
    return _page(
        "JRA IPAT",
        f'{_error(error)}<form id="member-form" method="post" action="/login/member">'
        '<label>加入者番号 <input type="text" name="i" maxlength="8"></label> '
        '<label>暗証番号 <input type="password" name="p" maxlength="4"></label> '
        '<label>P-ARS番号 <input type="password" name="r" maxlength="4"></label> '
        f'<a href="#" title="ネット投票メニューへ" onclick="{_SUBMIT_LINK}">'
        "ネット投票メニューへ</a>"
        "</form>",
    )


def notice_page() -> bytes:
    return _page(
        "お知らせ",
        '<h1>お知らせ</h1><p>重要なお知らせがあります。</p><a href="/menu"><button>OK</button></a>',
    )


def _limit(limit_yen: int) -> str:
    return f'<p id="limit-line">購入限度額 <span id="limit">{limit_yen:,}</span>円</p>'


def menu_page(limit_yen: int) -> bytes:
    return _page(
        "ネット投票メニュー",
        f'<h1>ネット投票メニュー</h1>{_limit(limit_yen)}<a href="/vote">通常投票</a> '
        '<a href="/inquiry">投票内容照会</a>',
    )


def venues_page(venues: Sequence[tuple[str, str]], limit_yen: int) -> bytes:
    """Venue buttons: (code, name) of each racecourse selling today."""
    buttons = "".join(
        f'<form method="get" action="/vote/venue"><button class="venue" name="v" '
        f'value="{code}">{escape(name)}</button></form>'
        for code, name in venues
    )
    return _page(
        "通常投票", f"<h1>通常投票</h1>{_limit(limit_yen)}<div id='venues'>{buttons}</div>"
    )


def races_page(venue_name: str, races: Sequence[tuple[str, str, bool]]) -> bytes:
    """Race buttons of one venue: (value, label like "11R (15:40)", closed)."""
    buttons = "".join(
        f'<form method="get" action="/vote/race"><button class="race" name="r" value="{value}"'
        f"{' disabled' if closed else ''}>{escape(label)}</button></form>"
        for value, label, closed in races
    )
    return _page(
        "通常投票",
        f'<h2 id="venue-name">{escape(venue_name)}</h2><div id="races">{buttons}</div>'
        '<a href="/vote">場名選択へ戻る</a>',
    )


def race_page(race_value: str, header: str, cart_count: int, message: str = "") -> bytes:
    options = "".join(f"<option>{name}</option>" for name in BET_NAMES)
    horses = "".join(
        f'<label>{i}頭目 <input type="text" name="horse{i}" size="2"></label> ' for i in (1, 2, 3)
    )
    return _page(
        "通常投票",
        f'<div id="race-info">{escape(header)}</div>{message}'
        f'<form id="bet-form" method="post" action="/cart/add">'
        f'<input type="hidden" name="r" value="{race_value}">'
        f'<label>式別 <select name="bet_type">{options}</select></label> '
        '<label>方式 <select name="method"><option>通常</option></select></label> '
        f"{horses}"
        '<label>金額 <input type="text" name="units" size="4">00円</label> '
        '<button id="set" type="submit">セット</button></form>'
        f'<p>投票リスト <span id="cart-count">{cart_count}</span>件 '
        '<a id="to-cart" href="/cart">入力終了</a></p>',
    )


def cart_page(lines: Sequence[CartLine], token: str, *, double_submit: bool = False) -> bytes:
    """The voting list, its total, the field to type the total again, and 購入する."""
    rows = "".join(
        f"<tr class='line'><td>{escape(x.race_label)}</td><td>{x.bet_name}</td>"
        f"<td>{x.selection}</td><td>{x.stake:,}円</td></tr>"
        for x in lines
    )
    total = sum(x.stake for x in lines)
    again = "fetch('/cart/buy', {method: 'POST', body: new URLSearchParams(new FormData(f))});"
    script = (
        "document.getElementById('buy').addEventListener('click', function () {"
        "  if (!confirm('投票内容を送信します。よろしいですか？')) return;"
        "  const f = document.getElementById('buy-form');"
        f"  {again if double_submit else ''} f.submit();"
        "});"
    )
    return _page(
        "投票内容確認",
        f"<table id='cart'>{rows}</table>"
        f'<p>合計金額 <span id="cart-total">{total:,}</span>円</p>'
        f'<form id="buy-form" method="post" action="/cart/buy">'
        f'<input type="hidden" name="token" value="{token}">'
        '<label>合計金額入力 <input type="text" name="total"></label>'
        '<button id="buy" type="button">購入する</button></form>'
        '<form method="post" action="/cart/clear"><button id="clear">全て取消</button></form>',
        script,
    )


def result_page(receipt_no: str, at: dt.datetime, lines: Sequence[CartLine], limit: int) -> bytes:
    rows = "".join(
        f"<tr class='line'><td>{i}</td><td>{escape(x.race_label)}</td><td>{x.bet_name}</td>"
        f"<td>{x.selection}</td><td>{x.stake:,}円</td></tr>"
        for i, x in enumerate(lines, 1)
    )
    return _page(
        "投票受付",
        '<p id="accepted">お客様の投票を受け付けました。</p>'
        f'<p>受付番号 <span id="receipt-no">{receipt_no}</span> '
        f'受付時刻 <span id="accepted-at">{at.astimezone(JST):%H:%M}</span></p>'
        f"<table id='receipt-lines'>{rows}</table>{_limit(limit)}"
        '<a href="/menu">メニューへ</a>',
    )


def error_page(message: str) -> bytes:
    return _page("エラー", f'{_error(message)}<a href="/menu">メニューへ</a>')


def maintenance_page() -> bytes:
    return _page("メンテナンス", "<p id='maintenance'>ただいまシステムメンテナンス中です。</p>")


def history_csv(lines: Sequence[HistoryLine]) -> bytes:
    """投票内容照会's CSV of `lines`, in Shift_JIS, results not yet known (―)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HISTORY_COLUMNS)
    for h in lines:
        writer.writerow(
            [
                f"{h.day:%Y%m%d}",
                h.receipt_no,
                h.serial,
                h.venue_name,
                _WEEKDAYS[h.day.weekday()],
                h.race_no,
                h.line.bet_name.replace("３", "3"),
                h.line.selection,
                h.line.stake,
                "―",
                "―",
                0,
            ]
        )
    return out.getvalue().encode("shift_jis")
