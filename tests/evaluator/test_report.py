"""The main job's page (keiba.evaluator.report.render_report): answer first, caveats last."""

from __future__ import annotations

import datetime as dt
import html
import re

import polars as pl

from keiba.evaluator import report
from keiba.evaluator.backtest_frames import BETS_SCHEMA

BETS = pl.DataFrame(
    [
        {
            "strategy": "themis",
            "race_id": "2018052705021010",
            "race_date": dt.date(2018, 5, 27),
            "race_seq": 0,
            "bet_type": "win",
            "combination": "1",
            "stake_yen": 300,
            "probability": 0.31,
            "decision_odds": 4.2,
            "final_odds": 4.2,
            "paid_yen": 1_260,
            "refund": False,
            "hit": True,
            "venue": "東京",
            "race_no": 10,
            "race_name": "東京優駿",
            "horses": "ワグネリアン",
        }
    ],
    schema=BETS_SCHEMA,
)


def _page(bets: pl.DataFrame | None) -> str:
    chart = report.odds_band_chart(
        pl.DataFrame({"band": ["2–5"], "return_rate": [1.4]}, schema_overrides={"band": pl.String})
    )
    return report.render_report(
        "keiba — model against the market",
        [("Betting", [["bets", "1"]], ["", ""])],
        [chart],
        ["Bets are priced at the final win odds."],
        answer="Themis made 960 yen on 1 win bet.",
        bets=bets,
        appendix=[("Data", [["source", "sample"]], ["", ""])],
    )


def test_the_page_answers_first_and_keeps_the_caveats_and_settings_last() -> None:
    page = _page(BETS)
    assert re.search(r'<body><h1>[^<]*</h1><p class="answer">Themis made 960 yen', page)
    order = [
        page.index(marker)
        for marker in (
            'class="answer"',
            "<h2>Betting</h2>",
            "<h2>The bets</h2>",
            'data-chart="odds_bands"',
            "<h2>Caveats</h2>",
            '<p class="caveat">Bets are priced',
            "<h2>Data</h2>",
        )
    ]
    assert order == sorted(order)


def test_the_page_lists_its_bets_and_renders_japanese_as_text() -> None:
    page = html.unescape(_page(BETS))
    row = re.search(r"<tr data-race-id=\"2018052705021010\">(.*?)</tr>", page)
    assert row is not None
    cells = re.findall(r"<td>(.*?)</td>", row.group(1))
    assert cells[2:6] == ["東京 10R 東京優駿", "win 単勝", "1", "ワグネリアン"]
    assert cells[9:] == ["300", "won", "1,260"]
    assert 'download="bets.csv"' in page
    assert re.search(r"<text[^>]*>回収率 return rate \(%\)</text>", page)


def test_a_page_without_bets_says_so_or_leaves_the_section_out() -> None:
    assert 'data-empty="bets"' in _page(BETS.clear())
    assert "<h2>The bets</h2>" not in _page(None)
