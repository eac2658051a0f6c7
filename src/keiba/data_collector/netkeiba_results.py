"""netkeiba result pages → one race: its row, every runner, every payout.

Two layouts: db.netkeiba.com (`race_table_01`, `pay_table_01`; EUC-JP; the same table since at
least 2010) and race.netkeiba.com (`RaceTable01`, `Payout_Detail_Table`). Columns are found by
their header text, so a column added or moved does not shift the others.

The 着順 cell gives the contract status: a number is `finished` at that (official) position,
`N(降)` or `N降` a demoted finisher (`demoted` true), 取消 `scratched`, 除外 `excluded`,
中止 `did_not_finish`, 失格 `disqualified`; only finishers have a position. The race is checked
whole: horse numbers unique and within the field, 枠番 as JRA allocates it, positions a standard
ranking (1, 1, 3 … for dead heats), popularity within the field, payouts at least 100 yen with a
combination of the bet type's arity naming horses (frames for 枠連) in the field, no combination
twice. Any problem raises `NetkeibaParseError`; nothing partial is returned.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

import lxml.html

from keiba.common.bet_types import BetType, format_combination
from keiba.common.ids import NetkeibaRaceId
from keiba.common.schema import table
from keiba.data_collector.jra2018_results import expected_frame
from keiba.data_collector.netkeiba_pages import (
    NetkeibaParseError,
    RaceHeader,
    check_value,
    norm,
    parse_db_header,
    parse_html,
    parse_race_header,
)

__all__ = [
    "ParsedPayout",
    "ParsedRace",
    "ParsedRunner",
    "check_field",
    "parse_db_result",
    "parse_race_result",
    "parse_runner_rows",
]

_RUNNERS = {c.name: c for c in table("runners").columns}
_PAYOUTS = {c.name: c for c in table("payouts").columns}
_HEADERS = {
    "着順": "finish",
    "枠番": "frame_no",
    "枠": "frame_no",
    "馬番": "horse_no",
    "印": "mark",  # on a card, a withdrawn runner's mark cell says 取消 / 除外
    "馬名": "horse_name",
    "性齢": "sex_age",
    "斤量": "weight_carried_kg",
    "騎手": "jockey",
    "タイム": "finish_time_s",
    "着差": "margin",
    "通過": "passing",
    "コーナー通過順": "passing",
    "上り": "last_3f_s",
    "後3F": "last_3f_s",
    "単勝": "win_odds_final",
    "単勝オッズ": "win_odds_final",
    "人気": "popularity",
    "馬体重": "body_weight",
    "馬体重(増減)": "body_weight",
    "調教師": "trainer",
    "厩舎": "trainer",
}
_STATUSES = {
    "取消": "scratched",
    "除外": "excluded",
    "中止": "did_not_finish",
    "失格": "disqualified",
}
_FINISH = re.compile(r"([0-9]{1,2})\s*(?:\((降|再)\)|(降))?")
_DECIMAL = re.compile(r"[0-9]{1,4}(?:\.[0-9]{1,2})?")
_TIME = re.compile(r"(?:([0-9]{1,2}):)?([0-9]{1,2}\.[0-9])")
_BODY = re.compile(r"([0-9]{3})\s*(?:\(\s*([+-]?[0-9]{1,3})\s*\))?")
_PASSING = re.compile(r"[0-9]{1,2}(?:-[0-9]{1,2}){0,3}")
_UNPUBLISHED = {"", "-", "--", "---", "---.-", "**", "計不"}
_BET_NAMES = {"3連複": "三連複", "3連単": "三連単"}


@dataclass(frozen=True, slots=True)
class ParsedRunner:
    horse_no: int
    frame_no: int
    horse_id: str | None
    horse_name: str
    sex: str | None
    age: int | None
    jockey_id: str | None
    jockey_name: str | None
    trainer_id: str | None
    trainer_name: str | None
    weight_carried_kg: float | None
    body_weight_kg: int | None
    body_weight_diff_kg: int | None
    status: str
    finish_pos: int | None
    demoted: bool
    finish_time_s: float | None
    margin: str | None
    passing: str | None
    last_3f_s: float | None
    win_odds_final: float | None
    popularity: int | None
    row: int


@dataclass(frozen=True, slots=True)
class ParsedPayout:
    bet_type: BetType
    combination: str
    payout_yen: int
    popularity: int | None


@dataclass(frozen=True, slots=True)
class ParsedRace:
    """A result page: the race, its runners (every declared one) and its payouts."""

    page: str
    header: RaceHeader
    runners: tuple[ParsedRunner, ...]
    payouts: tuple[ParsedPayout, ...]

    @property
    def race_id(self) -> str:
        return self.header.race_id

    @property
    def field_size(self) -> int:
        return len(self.runners)


class _Row:
    """One table row's cells by column name; every failure names the row and the column."""

    def __init__(self, page: str, row: int, cells: dict[str, lxml.html.HtmlElement]) -> None:
        self.page, self.row, self.cells = page, row, cells
        self.snippet = " | ".join(norm(c.text_content()) for c in cells.values())[:500]

    def fail(self, column: str, reason: str) -> NoReturn:
        raise NetkeibaParseError(
            self.page, reason, row=self.row, column=column, snippet=self.snippet
        )

    def text(self, name: str) -> str:
        cell = self.cells.get(name)
        return norm(cell.text_content()) if cell is not None else ""

    def required(self, name: str) -> str:
        value = self.text(name)
        if not value:
            self.fail(name, "missing value")
        return value

    def integer(self, name: str, *, optional: bool = False) -> int | None:
        value = self.text(name)
        if optional and value in _UNPUBLISHED:
            return None
        if not value.isascii() or not value.isdigit() or len(value) > 3:
            self.fail(name, f"{value!r} is not a whole number")
        number = int(value)
        check_value(self.page, _RUNNERS[name], number, row=self.row, shown=value)
        return number

    def decimal(self, name: str) -> float | None:
        value = self.text(name)
        if value in _UNPUBLISHED:
            return None
        if not _DECIMAL.fullmatch(value):
            self.fail(name, f"{value!r} is not a decimal number")
        number = float(value)
        check_value(self.page, _RUNNERS[name], number, row=self.row, shown=value)
        return number

    def link_id(self, name: str, kind: str) -> str | None:
        cell = self.cells.get(name)
        if cell is None:
            return None
        for href in cell.xpath(".//a/@href"):
            found = re.search(rf"/{kind}/(?:result/recent/)?([0-9A-Za-z]+)", str(href))
            if found:
                return found[1]
        return None


def _header_names(table_el: lxml.html.HtmlElement) -> list[str | None]:
    for tr in table_el.xpath(".//tr"):
        ths = tr.xpath("./th")
        if ths:
            return [_HEADERS.get(norm(th.text_content()).replace(" ", "")) for th in ths]
    return []


def _data_rows(table_el: lxml.html.HtmlElement) -> list[lxml.html.HtmlElement]:
    return [tr for tr in table_el.xpath(".//tr") if tr.xpath("./td") and not tr.xpath("./th")]


def _cells(
    page: str, row: int, tr: lxml.html.HtmlElement, names: Sequence[str | None]
) -> dict[str, lxml.html.HtmlElement]:
    tds = tr.xpath("./td")
    if len(tds) < len(names):
        snippet = norm(tr.text_content())[:500]
        raise NetkeibaParseError(
            page, f"{len(tds)} cells, the header has {len(names)}", row=row, snippet=snippet
        )
    return {name: td for name, td in zip(names, tds, strict=False) if name is not None}


def _strip_marks(name: str) -> str:
    return re.sub(r"^[▲△☆★◇◆*]+", "", name).strip()


def _trainer_name(text: str) -> str | None:
    text = re.sub(r"^\[[^\]]*\]\s*|^(?:栗東|美浦|地方|海外)\s*", "", text).strip()
    return text or None


def _runner(page: str, row: int, r: _Row, *, card: bool) -> ParsedRunner:
    sex_age = r.required("sex_age")
    found = re.fullmatch(r"(牡|牝|セ|騸)([0-9]{1,2})", sex_age)
    if found is None:
        r.fail("sex_age", f"{sex_age!r} is not sex and age like 牝3")
    sex = "セ" if found[1] == "騸" else found[1]
    age = int(found[2])
    check_value(page, _RUNNERS["age"], age, row=row, shown=sex_age)
    body = r.text("body_weight")
    body_kg: int | None = None
    body_diff: int | None = None
    if body not in _UNPUBLISHED and not body.startswith("計不"):
        weight = _BODY.fullmatch(body)
        if weight is None:
            r.fail("body_weight", f"{body!r} is not a body weight like 438(+4)")
        body_kg = int(weight[1])
        check_value(page, _RUNNERS["body_weight_kg"], body_kg, row=row, shown=body)
        if weight[2] is not None and weight[2] != "":
            body_diff = int(weight[2])
            check_value(page, _RUNNERS["body_weight_diff_kg"], body_diff, row=row, shown=body)
    horse_no = r.integer("horse_no")
    frame_no = r.integer("frame_no")
    assert horse_no is not None
    assert frame_no is not None
    status, position, demoted = "declared", None, False
    if not card:
        status, position, demoted = _finish(r)
    elif any(marker in r.snippet for marker in ("取消", "除外")):
        status = "scratched" if "取消" in r.snippet else "excluded"
    finish_time = None
    if not card:
        time_text = r.text("finish_time_s")
        if time_text not in _UNPUBLISHED:
            parts = _TIME.fullmatch(time_text)
            if parts is None:
                r.fail("finish_time_s", f"{time_text!r} is not a time like 1:49.7")
            finish_time = int(parts[1] or 0) * 60 + float(parts[2])
    passing = r.text("passing") or None
    if passing is not None and not _PASSING.fullmatch(passing):
        r.fail("passing", f"{passing!r} is not corner positions like 5-5-3-3")
    return ParsedRunner(
        horse_no=horse_no,
        frame_no=frame_no,
        horse_id=r.link_id("horse_name", "horse"),
        horse_name=r.required("horse_name"),
        sex=sex,
        age=age,
        jockey_id=r.link_id("jockey", "jockey"),
        jockey_name=_strip_marks(r.text("jockey")) or None,
        trainer_id=r.link_id("trainer", "trainer"),
        trainer_name=_trainer_name(r.text("trainer")),
        weight_carried_kg=r.decimal("weight_carried_kg"),
        body_weight_kg=body_kg,
        body_weight_diff_kg=body_diff,
        status=status,
        finish_pos=position,
        demoted=demoted,
        finish_time_s=finish_time,
        margin=None if card else (r.text("margin") or None),
        passing=passing,
        last_3f_s=None if card else r.decimal("last_3f_s"),
        win_odds_final=None if card else r.decimal("win_odds_final"),
        popularity=None if card else r.integer("popularity", optional=True),
        row=row,
    )


def _finish(r: _Row) -> tuple[str, int | None, bool]:
    text = r.required("finish")
    if text in _STATUSES:
        return _STATUSES[text], None, False
    found = _FINISH.fullmatch(text)
    if found is None:
        r.fail("finish", f"{text!r} is neither a position nor 取消, 除外, 中止, 失格")
    position = int(found[1])
    check_value(r.page, _RUNNERS["finish_pos"], position, row=r.row, shown=text)
    return "finished", position, bool(found[2] == "降" or found[3])


def parse_runner_rows(
    table_el: lxml.html.HtmlElement, page: str, *, card: bool, required: Sequence[str]
) -> tuple[ParsedRunner, ...]:
    """Every data row of a runner table, parsed by its header's column names."""
    names = _header_names(table_el)
    missing = [name for name in required if name not in names]
    if missing:
        raise NetkeibaParseError(page, f"the runner table has no column {missing[0]!r}")
    rows = _data_rows(table_el)
    if not rows:
        raise NetkeibaParseError(page, "the runner table has no rows")
    runners = []
    for index, tr in enumerate(rows, 1):
        runners.append(
            _runner(page, index, _Row(page, index, _cells(page, index, tr, names)), card=card)
        )
    return tuple(runners)


def check_field(page: str, runners: Sequence[ParsedRunner], stated: int | None) -> int:
    """Check the runners as a field; returns its size (declared runners)."""
    size = len(runners)
    if stated is not None and stated != size:
        raise NetkeibaParseError(
            page, f"{size} runner rows for a field of {stated}", column="field_size"
        )
    check_value(page, table("races").column("field_size"), size)
    seen: dict[int, int] = {}
    for runner in runners:
        where = runner.row
        if runner.horse_no in seen:
            raise NetkeibaParseError(
                page,
                f"horse {runner.horse_no} also on row {seen[runner.horse_no]}",
                column="horse_no",
                row=where,
            )
        seen[runner.horse_no] = runner.row
        if runner.horse_no > size:
            raise NetkeibaParseError(
                page,
                f"horse {runner.horse_no} is beyond the field of {size}",
                column="horse_no",
                row=where,
            )
        if runner.frame_no != expected_frame(runner.horse_no, size):
            raise NetkeibaParseError(
                page,
                f"frame {runner.frame_no} does not hold horse {runner.horse_no} in a field of "
                f"{size} (expected {expected_frame(runner.horse_no, size)})",
                column="frame_no",
                row=where,
            )
        if runner.popularity is not None and runner.popularity > size:
            raise NetkeibaParseError(
                page,
                f"popularity {runner.popularity} is beyond the field of {size}",
                column="popularity",
                row=where,
            )
    positions = sorted(r.finish_pos for r in runners if r.finish_pos is not None)
    for runner in runners:
        if runner.finish_pos is None:
            continue
        if runner.finish_pos != 1 + sum(1 for p in positions if p < runner.finish_pos):
            raise NetkeibaParseError(
                page,
                f"position {runner.finish_pos} does not fit the race's positions {positions}",
                row=runner.row,
                column="finish_pos",
            )
    return size


def _numbers(page: str, bet: BetType, parts: Sequence[str], field_size: int, row: int) -> str:
    try:
        numbers = [int(p) for p in parts]
        combination = format_combination(bet, numbers)
    except ValueError as e:
        raise NetkeibaParseError(
            page, f"{bet.value} {' '.join(parts)!r}: {e}", row=row, column="combination"
        ) from None
    limit = min(8, field_size) if bet is BetType.BRACKET_QUINELLA else field_size
    if any(n > limit for n in numbers):
        raise NetkeibaParseError(
            page,
            f"{bet.value} {combination} names a number beyond {limit}",
            row=row,
            column="combination",
        )
    return combination


def _yen(page: str, text: str, row: int) -> int:
    value = text.replace("円", "").replace(",", "").strip()
    if not value.isascii() or not value.isdigit() or len(value) > 12:
        raise NetkeibaParseError(
            page, f"{text!r} is not an amount of yen", row=row, column="payout_yen"
        )
    yen = int(value)
    check_value(page, _PAYOUTS["payout_yen"], yen, row=row, shown=text)
    return yen


def _popularity(page: str, text: str, row: int) -> int | None:
    value = text.replace("人気", "").strip()
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 6:
        raise NetkeibaParseError(
            page, f"{text!r} is not a popularity", row=row, column="popularity"
        )
    return int(value)


def _payout_rows(
    page: str,
    bet_name: str,
    combos: list[list[str]],
    amounts: list[str],
    ranks: list[str],
    field_size: int,
    row: int,
) -> list[ParsedPayout]:
    try:
        bet = BetType.from_japanese(_BET_NAMES.get(bet_name, bet_name))
    except ValueError:
        raise NetkeibaParseError(
            page, f"{bet_name!r} is not a bet type", row=row, column="bet_type"
        ) from None
    if not combos or len(combos) != len(amounts) or (ranks and len(ranks) != len(combos)):
        raise NetkeibaParseError(
            page,
            f"{bet_name}: {len(combos)} combinations, {len(amounts)} payouts, "
            f"{len(ranks)} popularities",
            row=row,
        )
    return [
        ParsedPayout(
            bet,
            _numbers(page, bet, parts, field_size, row),
            _yen(page, amount, row),
            _popularity(page, ranks[i], row) if ranks else None,
        )
        for i, (parts, amount) in enumerate(zip(combos, amounts, strict=True))
    ]


def _texts(cell: lxml.html.HtmlElement) -> list[str]:
    return [t for t in (norm(s) for s in cell.itertext()) if t]


def _check_payouts(page: str, payouts: list[ParsedPayout]) -> tuple[ParsedPayout, ...]:
    seen: set[tuple[BetType, str]] = set()
    for payout in payouts:
        key = (payout.bet_type, payout.combination)
        if key in seen:
            raise NetkeibaParseError(
                page,
                f"{payout.bet_type.value} {payout.combination} is paid twice",
                column="combination",
            )
        seen.add(key)
    if not payouts:
        raise NetkeibaParseError(page, "no payouts")
    return tuple(payouts)


def parse_db_result(data: bytes, page: str, expected: NetkeibaRaceId | None = None) -> ParsedRace:
    """A db.netkeiba.com result page; raises only `NetkeibaParseError`."""
    doc = parse_html(data, page)
    header = parse_db_header(doc, page, expected)
    tables = doc.xpath('//table[contains(@class,"race_table_01")]')
    if not tables:
        raise NetkeibaParseError(page, "no result table (race_table_01)")
    runners = parse_runner_rows(
        tables[0],
        page,
        card=False,
        required=("finish", "frame_no", "horse_no", "horse_name", "sex_age"),
    )
    field_size = check_field(page, runners, None)
    payouts: list[ParsedPayout] = []
    for index, tr in enumerate(doc.xpath('//table[contains(@class,"pay_table_01")]//tr'), 1):
        ths, tds = tr.xpath("./th"), tr.xpath("./td")
        if not ths or len(tds) < 2:
            raise NetkeibaParseError(page, "a payout row needs a bet type and its cells", row=index)
        combos = [re.split(r"\s*(?:-|→)\s*", t) for t in _texts(tds[0])]
        payouts += _payout_rows(
            page, norm(ths[0].text_content()), combos, _texts(tds[1]),
            _texts(tds[2]) if len(tds) > 2 else [], field_size, index,
        )  # fmt: skip
    return ParsedRace(page, header, runners, _check_payouts(page, payouts))


def parse_race_result(data: bytes, page: str, expected: NetkeibaRaceId | None = None) -> ParsedRace:
    """A race.netkeiba.com 結果・払戻 page; raises only `NetkeibaParseError`."""
    doc = parse_html(data, page)
    header = parse_race_header(doc, page, expected)
    tables = doc.xpath('//table[contains(@class,"RaceTable01")]')
    if not tables:
        raise NetkeibaParseError(page, "no result table (RaceTable01)")
    runners = parse_runner_rows(
        tables[0],
        page,
        card=False,
        required=("finish", "frame_no", "horse_no", "horse_name", "sex_age"),
    )
    field_size = check_field(page, runners, header.stated_field_size)
    payouts: list[ParsedPayout] = []
    for index, tr in enumerate(doc.xpath('//table[contains(@class,"Payout_Detail_Table")]//tr'), 1):
        ths = tr.xpath("./th")
        result = tr.xpath('./td[contains(@class,"Result")]')
        amount = tr.xpath('./td[contains(@class,"Payout")]')
        ninki = tr.xpath('./td[contains(@class,"Ninki")]')
        if not ths or not result or not amount:
            raise NetkeibaParseError(page, "a payout row needs Result and Payout cells", row=index)
        groups = result[0].xpath("./ul")
        combos = [_texts(ul) for ul in groups] if groups else [[t] for t in _texts(result[0])]
        payouts += _payout_rows(
            page, norm(ths[0].text_content()), [c for c in combos if c], _texts(amount[0]),
            list(_texts(ninki[0])) if ninki else [], field_size, index,
        )  # fmt: skip
    return ParsedRace(page, header, runners, _check_payouts(page, payouts))
