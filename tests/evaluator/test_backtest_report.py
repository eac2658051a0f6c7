"""The backtest report (keiba.evaluator.backtest_report) on synthetic run directories.

`make_run` builds a realistic run directory (the layout of keiba.evaluator.backtest_frames): a
few hundred races of a simulated market, four strategies (Themis with Kelly sizing on win and
place tickets, the favourite and the model's top pick at a flat 100 yen, and Themis on the
market's own probabilities, which never finds value), their daily balances, the predictions and
a result.json whose metrics come from keiba.evaluator.backtest_metrics. The browser and CLI
tests import it from here.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import math
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from keiba.common.ids import Venue
from keiba.evaluator import report
from keiba.evaluator.answer import backtest_answer
from keiba.evaluator.backtest_frames import (
    BETS_SCHEMA,
    DAILY_SCHEMA,
    LATER_BETS_COLUMNS,
    PREDICTIONS_SCHEMA,
    STRATEGIES,
    BacktestRun,
)
from keiba.evaluator.backtest_metrics import all_metrics, interval_text
from keiba.evaluator.backtest_monte_carlo import RunBets, run_bets, simulate_seasons
from keiba.evaluator.backtest_report import (
    CHART_KEYS,
    LISTED_STRATEGIES,
    MC_FRACTIONS,
    MIN_EMPIRICAL_BETS,
    TooFewBetsError,
    empirical_sample,
    run_monte_carlo,
    sample_size_caveats,
    write_backtest_report,
)
from keiba.evaluator.bet_list import BET_LIST_COLUMNS
from keiba.evaluator.monte_carlo import RUIN_FRACTIONS, MonteCarloParams
from keiba.simulator.names import horse_names

START_YEN = 1_000_000
NO_VALUE = math.inf
"""A Themis threshold no bet reaches: a run where Themis never bets."""


def _softmax(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    e = np.exp(x - x.max())
    return e / e.sum()  # type: ignore[no-any-return]


def _odds(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return np.maximum(1.1, np.floor(values * 10 + 1e-9) / 10)


def _pays(stake: int, odds: float) -> int:
    return stake // 100 * round(odds * 100)


def make_run(
    root: Path,
    *,
    races: int = 400,
    races_per_day: int = 12,
    days_between: int = 7,
    themis_threshold: float = 1.05,
    baselines: bool = True,
    seed: int = 0,
    run_id: str | None = None,
    first_day: dt.date = dt.date(2018, 3, 3),
) -> Path:
    """Write a synthetic run directory under `root` and return it."""
    rng = np.random.default_rng(seed)
    names = iter(horse_names(np.random.default_rng(seed + 1), 17 * races))
    bets: list[dict[str, Any]] = []
    predictions: list[dict[str, Any]] = []
    balance = dict.fromkeys(STRATEGIES, START_YEN)
    daily: dict[tuple[str, dt.date], dict[str, Any]] = {}
    dates: list[dt.date] = []
    for i in range(races):
        day = i // races_per_day
        date = first_day + dt.timedelta(days=day * days_between)
        if not dates or dates[-1] != date:
            dates.append(date)
            for s in STRATEGIES:
                daily[(s, date)] = {
                    "strategy": s,
                    "race_date": date,
                    "start_yen": balance[s],
                    "staked_yen": 0,
                    "returned_yen": 0,
                    "end_yen": balance[s],
                    "races": 0,
                    "races_bet": 0,
                }
        slot = i % races_per_day
        race_id = f"{date:%Y%m%d}{5 + slot // 12:02d}01{day % 8 + 1:02d}{slot % 12 + 1:02d}"
        n = int(rng.integers(8, 17))
        horses = [next(names) for _ in range(n)]
        race_no = slot % 12 + 1
        strength = rng.normal(0.0, 1.0, n)
        p_true = _softmax(strength)
        final = _odds(0.8 / _softmax(strength + rng.normal(0.0, 0.25, n)))
        decision = _odds(final * np.exp(rng.normal(0.0, 0.1, n)))
        p_market = (1 / decision) / (1 / decision).sum()
        p_market_final = (1 / final) / (1 / final).sum()
        p_model = _softmax(strength + rng.normal(0.0, 0.35, n))
        blend = p_model**0.7 * p_market**0.5
        p_combined = blend / blend.sum()
        order = np.argsort(-(np.log(p_true) + rng.gumbel(size=n)))
        winner, top3 = int(order[0]), {int(h) for h in order[:3]}
        for h in range(n):
            predictions.append(
                {
                    "race_id": race_id,
                    "race_date": date,
                    "horse_no": h + 1,
                    "model_version": f"m{1 + i * 2 // races}",
                    "p_model": float(p_model[h]),
                    "p_combined": float(p_combined[h]),
                    "p_market": float(p_market[h]),
                    "p_market_final": float(p_market_final[h]),
                    "decision_odds": float(decision[h]),
                    "final_odds": float(final[h]),
                    "won": 1.0 if h == winner else 0.0,
                }
            )
        tickets: dict[str, list[dict[str, Any]]] = {s: [] for s in STRATEGIES}

        def ticket(
            strategy: str,
            bet_type: str,
            horse: int,
            stake: int,
            p: float,
            d_odds: float,
            f_odds: float,
            hit: bool,
            race_id: str = race_id,
            date: dt.date = date,
            i: int = i,
            tickets: dict[str, list[dict[str, Any]]] = tickets,
            race_no: int = race_no,
            horses: list[str] = horses,
        ) -> None:
            refund = bool(rng.random() < 0.01)
            tickets[strategy].append(
                {
                    "bankroll_yen": balance[strategy],
                    "venue": Venue(int(race_id[8:10])).japanese,
                    "race_no": race_no,
                    "race_name": "3歳未勝利" if race_no < 6 else "1勝クラス",
                    "horses": horses[horse],
                    "strategy": strategy,
                    "race_id": race_id,
                    "race_date": date,
                    "race_seq": i,
                    "bet_type": bet_type,
                    "combination": str(horse + 1),
                    "stake_yen": stake,
                    "probability": p,
                    "decision_odds": d_odds,
                    "final_odds": f_odds,
                    "paid_yen": stake if refund else (_pays(stake, f_odds) if hit else 0),
                    "refund": refund,
                    "hit": hit and not refund,
                }
            )

        if baselines:
            fav = int(np.argmin(decision))
            ticket(
                "favourite",
                "win",
                fav,
                100,
                float(p_market[fav]),
                float(decision[fav]),
                float(final[fav]),
                fav == winner,
            )
            top = int(np.argmax(p_model))
            ticket(
                "top_pick",
                "win",
                top,
                100,
                float(p_model[top]),
                float(decision[top]),
                float(final[top]),
                top == winner,
            )
        bankroll = balance["themis"]
        for h in range(n):
            p, o = float(p_combined[h]), float(decision[h])
            if p * o >= themis_threshold:
                kelly = (p * o - 1) / (o - 1)
                stake = min(int(0.25 * kelly * bankroll) // 100, bankroll // 5_000) * 100
                if stake >= 100:
                    ticket("themis", "win", h, stake, p, o, float(final[h]), h == winner)
                place_p = min(0.95, 2.7 * p)
                place_o, place_final = float(_odds(decision[h] / 3.2)), float(_odds(final[h] / 3.2))
                if place_p * place_o >= themis_threshold and stake >= 100:
                    ticket("themis", "place", h, 100, place_p, place_o, place_final, h in top3)
        # themis_market: the market's own probabilities never show value (p·o = 1/overround)
        for s, rows in tickets.items():
            row = daily[(s, date)]
            row["races"] += 1
            if rows:
                row["races_bet"] += 1
            staked = sum(t["stake_yen"] for t in rows)
            paid = sum(t["paid_yen"] for t in rows)
            row["staked_yen"] += staked
            row["returned_yen"] += paid
            balance[s] += paid - staked
            row["end_yen"] = balance[s]
            bets.extend(rows)

    directory = root / (run_id or f"20261121T101500Z-{dates[0]}-{dates[-1]}")
    directory.mkdir(parents=True)
    bets_frame = pl.DataFrame(bets, schema=BETS_SCHEMA, orient="row")
    daily_frame = pl.DataFrame(list(daily.values()), schema=DAILY_SCHEMA, orient="row")
    bets_frame.write_parquet(directory / "bets.parquet")
    daily_frame.write_parquet(directory / "daily.parquet")
    pl.DataFrame(predictions, schema=PREDICTIONS_SCHEMA, orient="row").write_parquet(
        directory / "predictions.parquet"
    )
    middle = dates[len(dates) // 2]
    schedule = [
        {
            "test_from": str(a),
            "test_to": str(b),
            "train_from": "2016-01-05",
            "train_to": str(a - dt.timedelta(days=60)),
            "combine_from": str(a - dt.timedelta(days=59)),
            "combine_to": str(a - dt.timedelta(days=1)),
            "model_version": f"m{j + 1}",
            "alpha": 1.05 - 0.02 * j,
            "beta": 0.48 + 0.01 * j,
            "races": sum(1 for d in dates if a <= d <= b) * races_per_day,
        }
        for j, (a, b) in enumerate(((dates[0], middle - dt.timedelta(days=1)), (middle, dates[-1])))
    ]
    result = {
        "run_id": directory.name,
        "created_at": "2026-11-21T10:15:00+00:00",
        "period": {"from": str(dates[0]), "to": str(dates[-1])},
        "data_source": "synthetic test world",
        "odds_source": "final",
        "odds_drift": {"model": "lognormal", "sigma": 0.1, "seed": 0},
        "start_yen": START_YEN,
        "schedule": schedule,
        "races": races,
        "races_incomplete": 3,
        "monitor": {
            "events": [
                {
                    "kind": "drawdown",
                    "tier": "warn",
                    "at": f"{middle}T06:00:00+00:00",
                    "drawdown": 0.12,
                }
            ],
            "stopped": False,
        },
        "ledger": {
            "path": str(directory / "ledger.sqlite"),
            "audit_ok": True,
            "final_balance_yen": balance["themis"],
        },
        "caveats": [
            "Decisions were made at drifted final odds (lognormal σ = 0.10): no odds snapshots."
        ],
        "metrics": all_metrics(bets_frame, daily_frame, START_YEN, resamples=200, seed=0),
        "timings_s": {"total": 12.5, "replay": 10.0},
    }
    (directory / "result.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    return directory


def figures(page: str) -> dict[str, str]:
    """data-chart key → the figure's inner HTML."""
    found = re.findall(r'<figure data-chart="([^"]+)">(.*?)</figure>', page, re.S)
    return dict(found)


def empties(page: str) -> set[str]:
    return set(re.findall(r'<p class="empty" data-empty="([^"]+)">', page))


SEASONS = 200


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("backtests")
    return {
        "normal": make_run(root, run_id="20261121T101500Z-normal"),
        "no_themis": make_run(root, themis_threshold=NO_VALUE, run_id="20261121T101600Z-none"),
        "no_bets": make_run(
            root, races=60, themis_threshold=NO_VALUE, baselines=False, run_id="20261121T1017Z-0"
        ),
    }


@pytest.fixture(scope="module")
def pages(runs: dict[str, Path]) -> dict[str, str]:
    return {
        name: write_backtest_report(
            BacktestRun.load(d), d / "report.html", seasons=SEASONS, seed=1
        ).read_text(encoding="utf-8")
        for name, d in runs.items()
    }


def test_the_fixture_is_realistic(runs: dict[str, Path]) -> None:
    run = BacktestRun.load(runs["normal"])
    metrics = run.result["metrics"]
    assert list(metrics) == list(STRATEGIES)
    assert MIN_EMPIRICAL_BETS <= metrics["themis"]["bets"] < 1_000
    assert set(metrics["themis"]["by_bet_type"]) == {"win", "place"}
    assert metrics["favourite"]["bets"] + metrics["favourite"]["refunds"] == 400
    assert metrics["themis_market"]["bets"] == 0
    # the bankroll from the bets is the daily closing balance
    themis = run.bets.filter(pl.col("strategy") == "themis")
    assert (
        START_YEN + int((themis["paid_yen"] - themis["stake_yen"]).sum())
        == (metrics["themis"]["end_yen"])
    )


def test_every_chart_is_drawn_for_a_normal_run(pages: dict[str, str]) -> None:
    page = pages["normal"]
    charts = figures(page)
    assert set(charts) == set(CHART_KEYS)
    for key, inner in charts.items():
        assert "<svg" in inner and "</svg>" in inner, key
        assert re.search(r"<path[^>]* d=", inner), key
    assert not empties(page)
    # the charts in page order
    assert re.findall(r'data-chart="([^"]+)"', page) == list(CHART_KEYS)


def test_the_page_answers_first_then_results_then_caveats(
    runs: dict[str, Path], pages: dict[str, str]
) -> None:
    page = pages["normal"]
    result = BacktestRun.load(runs["normal"]).result
    first = re.search(r'<body><h1>[^<]*</h1><p class="answer">(.*?)</p>', page)
    assert first is not None
    answer = html.unescape(first.group(1))
    assert answer == backtest_answer(result)
    metrics = result["metrics"]
    themis = metrics["themis"]
    money = "made" if themis["profit_yen"] > 0 else "lost"
    assert answer.startswith(
        f"Themis (model + market) {money} {abs(themis['profit_yen']):,} yen on "
        f"{themis['bets']:,} bets (return {interval_text(themis['return_rate'])})"
    )
    assert interval_text(metrics["favourite"]["return_rate"]) in answer
    assert interval_text(metrics["top_pick"]["return_rate"]) in answer
    assert "against the market, Themis on the market's own probabilities placed no bets" in answer
    order = [
        page.index(marker)
        for marker in (
            'class="answer"',
            "<h2>Strategies</h2>",
            'data-chart="bankroll"',
            "<h2>The bets</h2>",
            'data-chart="ruin"',
            '<p class="caveat">',
            "<h2>Walk-forward schedule</h2>",
        )
    ]
    assert order == sorted(order)
    caveats = re.findall(r'<p class="caveat">(.*?)</p>', page)
    assert any("drifted final odds" in c for c in caveats)
    assert any("Themis on the market" in c and "placed no bets" in c for c in caveats)


def _listed(run: BacktestRun) -> pl.DataFrame:
    return run.bets.filter(pl.col("strategy").is_in(LISTED_STRATEGIES)).sort(
        "race_seq", "strategy", "bet_type", "combination"
    )


def test_the_bets_are_listed_with_their_race_and_horses(
    runs: dict[str, Path], pages: dict[str, str]
) -> None:
    run = BacktestRun.load(runs["normal"])
    own = _listed(run)
    assert own.height == run.bets.filter(pl.col("strategy") == "themis").height > 0
    table = re.search(r'<table data-bets="(\d+)">(.*?)</table>', pages["normal"], re.S)
    assert table is not None and int(table.group(1)) == own.height
    rows = re.findall(r'<tr data-race-id="([^"]+)">(.*?)</tr>', table.group(2))
    assert len(rows) == own.height
    for (race_id, cells), bet in zip(rows, own.iter_rows(named=True), strict=True):
        row = [html.unescape(c) for c in re.findall(r"<td>(.*?)</td>", cells)]
        assert race_id == bet["race_id"]
        assert row[1] == str(bet["race_date"])
        assert row[2] == f"{bet['venue']} {bet['race_no']}R {bet['race_name']}"
        assert row[3] == {"win": "win 単勝", "place": "place 複勝"}[bet["bet_type"]]
        assert row[4] == bet["combination"] and row[5] == bet["horses"]
        assert row[7] == f"{bet['decision_odds']:.1f}" and row[8] == f"{bet['final_odds']:.1f}"
        assert row[9] == f"{bet['stake_yen']:,}" and row[11] == f"{bet['paid_yen']:,}"
        assert row[10] == ("refunded" if bet["refund"] else "won" if bet["hit"] else "lost")


def test_the_csv_link_holds_the_same_bets(runs: dict[str, Path], pages: dict[str, str]) -> None:
    own = _listed(BacktestRun.load(runs["normal"]))
    link = re.search(
        r'<a class="download" download="bets.csv" '
        r'href="data:text/csv;charset=utf-8;base64,([A-Za-z0-9+/=]+)">',
        pages["normal"],
    )
    assert link is not None
    raw = base64.b64decode(link.group(1))
    assert raw.startswith("\ufeff".encode())  # spreadsheets read it as UTF-8
    csv = pl.read_csv(io.BytesIO(raw[3:]), schema_overrides={"date": pl.Date, "race_id": pl.String})
    assert csv.columns == list(BET_LIST_COLUMNS)
    assert csv["race_id"].to_list() == own["race_id"].to_list()
    assert csv["horses"].to_list() == own["horses"].to_list()
    assert csv["date"].to_list() == own["race_date"].to_list()
    assert csv["stake_yen"].to_list() == own["stake_yen"].to_list()
    assert csv["paid_yen"].to_list() == own["paid_yen"].to_list()
    assert csv["decision_odds"].to_list() == own["decision_odds"].to_list()
    assert set(csv["result"]) <= {"won", "lost", "refunded"}
    assert (csv["result"] == "won").sum() == int(own["hit"].sum())


def test_japanese_is_text_in_the_charts_and_the_page_carries_a_cjk_font(
    pages: dict[str, str],
) -> None:
    page = pages["normal"]
    charts = figures(page)
    assert re.search(r"<text[^>]*>回収率 return rate \(%\)</text>", charts["baselines"])
    assert re.search(r"<text[^>]*>単勝</text>", charts["bet_types"])
    assert "DejaVuSans-" not in page  # no glyphs drawn as paths
    style = page[page.index("<style>") : page.index("</style>")]
    for font in (*report.CJK_FONTS, "IPAexGothic"):
        assert f'"{font}"' in style
        assert font in charts["baselines"]  # the chart's text names them too
    # the page embeds the glyphs of its own Japanese text (horse names included)
    assert style.startswith('<style>@font-face { font-family: "IPAexGothic"; ')
    assert style.index("@font-face") < style.index("body {")


def test_the_strategies_table_has_every_figure(
    runs: dict[str, Path], pages: dict[str, str]
) -> None:
    page = pages["normal"]
    metrics = BacktestRun.load(runs["normal"]).result["metrics"]
    table = page[page.index("<h2>Strategies</h2>") : page.index("<h2>Bankroll</h2>")]
    for m in metrics.values():
        assert html.escape(m["label"]) in table
        assert f"{m['staked_yen']:,}" in table and f"{m['profit_yen']:,}" in table
    rr = metrics["favourite"]["return_rate"]
    assert f"{rr['value'] * 100:.1f}% [{rr['low'] * 100:.1f}%, {rr['high'] * 100:.1f}%]" in table
    assert f"{metrics['themis']['max_drawdown']['fraction'] * 100:.1f}%" in table
    assert f"{metrics['favourite']['sharpe']['annualised']:.2f}" in table
    assert f"{metrics['favourite']['odds_drift']['mean_ratio']:.3f}" in table
    for heading in ("Walk-forward schedule", "Monitor events", "By bet type", "By odds band"):
        assert heading in page
    assert "m1" in page and "m2" in page  # the schedule's models


def test_the_monte_carlo_uses_the_runs_own_bets(
    runs: dict[str, Path], pages: dict[str, str]
) -> None:
    sample = run_bets(BacktestRun.load(runs["normal"]))
    page = pages["normal"]
    assert f"the run&#x27;s own {sample.bets:,} Themis bets" in page
    assert re.search(r"<text[^>]*>the run(&#39;|')s bets at 0.25 Kelly", figures(page)["mc_fan"])
    assert "assumed distribution" not in page and "overestimated" not in page


def test_run_bets_are_the_stakes_shares_and_real_payouts(runs: dict[str, Path]) -> None:
    run = BacktestRun.load(runs["normal"])
    sample = run_bets(run)
    themis = run.bets.filter((pl.col("strategy") == "themis") & ~pl.col("refund")).sort(
        "race_seq", "bet_type", "combination"
    )
    assert sample.bets == themis.height
    stake = themis["stake_yen"].to_numpy()
    assert np.array_equal(sample.stake_fraction, stake / themis["bankroll_yen"].to_numpy())
    assert np.array_equal(sample.pay_per_100 * stake // 100, themis["paid_yen"].to_numpy())
    assert (sample.pay_per_100 == 0).sum() == (~themis["hit"]).sum()


def test_a_run_without_recorded_bankrolls_estimates_them(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    old = tmp_path / "old"
    shutil.copytree(runs["normal"], old)
    bets = pl.read_parquet(old / "bets.parquet").drop(*LATER_BETS_COLUMNS)
    bets.write_parquet(old / "bets.parquet")
    run = BacktestRun.load(old)
    assert run.bets["bankroll_yen"].null_count() == run.bets["horses"].null_count() == bets.height
    # the fixture settles each race before the next: the estimate is exact
    new = run_bets(BacktestRun.load(runs["normal"]))
    assert np.array_equal(run_bets(run).stake_fraction, new.stake_fraction)
    page = write_backtest_report(run, old / "report.html", seasons=20).read_text("utf-8")
    assert re.search(r"<td>東京 \d+R</td>", page)  # the race key's venue and number


def _one_bet(fraction: float, pay_per_100: int) -> RunBets:
    return RunBets(np.array([fraction]), np.array([pay_per_100]), ((0.5, 2.0),), 365, 40)


@pytest.mark.parametrize("pay", [0, 120])
def test_simulated_seasons_stake_the_share_and_pay_the_real_payout(pay: int) -> None:
    params = MonteCarloParams(seasons=3, races=40, bet_share=1, start_yen=100_000)
    seen: list[int] = []
    paths = simulate_seasons(
        _one_bet(0.1, pay),
        params,
        np.array([0.25, 0.5]),
        0.25,
        lambda t, bankroll: seen.append(int(bankroll[1, 0])),
    )
    for i, share in enumerate((0.1, 0.2)):  # the run's fraction, then twice its stakes
        bankroll = 100_000
        for _ in range(40):
            stake = int(share * bankroll / 100 + 1e-9) * 100
            bankroll += stake // 100 * pay - stake if stake >= 100 else 0
            if bankroll < params.floor_yen:
                break  # ruined: the season stops betting
        assert set(paths.terminal_yen[i]) == {bankroll}
    assert len(seen) == 40 and seen[-1] == paths.terminal_yen[1, 0]
    assert paths.ruined.any() == (pay == 0 and seen[-1] < params.floor_yen)


def test_a_run_whose_bets_all_lost_shows_a_falling_fan(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    lost = tmp_path / "lost"
    shutil.copytree(runs["normal"], lost)
    bets = pl.read_parquet(lost / "bets.parquet")
    themis = pl.col("strategy") == "themis"
    bets = bets.with_columns(
        pl.when(themis & ~pl.col("refund")).then(0).otherwise(pl.col("paid_yen")).alias("paid_yen"),
        pl.when(themis).then(False).otherwise(pl.col("hit")).alias("hit"),
    )
    bets.write_parquet(lost / "bets.parquet")
    bundle = run_monte_carlo(BacktestRun.load(lost), seasons=50, seed=0)
    fan = bundle.fans[0]
    assert bundle.empirical and (fan.bankroll_yen <= fan.start_yen).all()
    assert (np.diff(fan.bankroll_yen, axis=1) <= 0).all()
    assert fan.bankroll_yen[:, -1].max() < fan.start_yen
    assert all(s.terminal_quantiles["0.95"] < 1 for s in bundle.result.scenarios)


def test_a_run_where_themis_never_bets_draws_no_monte_carlo(
    runs: dict[str, Path], pages: dict[str, str]
) -> None:
    page = pages["no_themis"]
    assert set(figures(page)) == set(CHART_KEYS) - {"mc_fan", "ruin"}
    assert empties(page) == {"mc_fan", "ruin", "bets"}
    assert "fewer than 30" in page and "assumed distribution" not in page
    assert "Themis on the model (+ market) placed no bets" in page
    assert "no bets" in figures(page)["baselines"]
    bundle = run_monte_carlo(BacktestRun.load(runs["no_themis"]), seasons=10)
    assert not bundle.empirical and bundle.fans == () and bundle.ruin.fractions == ()
    assert bundle.result.scenarios == [] and "fewer than 30" in bundle.source


def test_a_run_without_any_bet_says_so_instead_of_empty_charts(pages: dict[str, str]) -> None:
    page = pages["no_bets"]
    missing = {"bankroll", "drawdown", "baselines", "bet_types", "odds_bands", "mc_fan", "ruin"}
    assert empties(page) == missing | {"bets"}
    assert set(figures(page)) == set(CHART_KEYS) - missing
    assert "No strategy placed a bet" in page


def test_the_page_is_self_contained(pages: dict[str, str]) -> None:
    for page in pages.values():
        lowered = page.lower()
        for needle in ("<script", "<link", "<img", "<iframe", "@import", "url(http", "src="):
            assert needle not in lowered, needle
        # the only URLs are XML namespace names and the SVG metadata's licence identifiers
        for url in set(re.findall(r"https?://[^\"' )<>]+", page)):
            assert re.match(r"https?://(www\.w3\.org|purl\.org|creativecommons\.org)/", url), url
        # the one link is the CSV, inline
        assert set(re.findall(r'href="([a-z]+):', page)) <= {"data"}


def test_the_same_seed_gives_the_same_page(runs: dict[str, Path], tmp_path: Path) -> None:
    run = BacktestRun.load(runs["normal"])
    a = write_backtest_report(run, tmp_path / "a.html", seasons=50, seed=3).read_bytes()
    b = write_backtest_report(run, tmp_path / "b.html", seasons=50, seed=3).read_bytes()
    assert a == b


def test_sample_size_caveats_give_the_intervals_width(tmp_path: Path) -> None:
    run = BacktestRun.load(make_run(tmp_path, races=120, seed=4))
    notes = sample_size_caveats(run)
    themis = run.result["metrics"]["themis"]
    assert themis["bets"] < 300
    rr = themis["return_rate"]
    width = f"{(rr['high'] - rr['low']) * 100:.0f} percentage points wide"
    assert any("Themis on the model" in n and width in n for n in notes), notes


def test_empirical_sample(runs: dict[str, Path]) -> None:
    run = BacktestRun.load(runs["normal"])
    sample = empirical_sample(run)
    themis = run.bets.filter((pl.col("strategy") == "themis") & ~pl.col("refund"))
    assert sample.bets == themis.height
    assert sorted(sample.pairs) == sorted(
        zip(themis["probability"].to_list(), themis["decision_odds"].to_list(), strict=True)
    )
    period = run.result["period"]
    days = (dt.date.fromisoformat(period["to"]) - dt.date.fromisoformat(period["from"])).days + 1
    assert sample.period_days == days
    assert sample.bets_per_season == round(sample.bets * 365 / days)
    with pytest.raises(TooFewBetsError, match=r"has 0 themis bet\(s\).*fewer than 30"):
        empirical_sample(BacktestRun.load(runs["no_themis"]))


def test_the_monte_carlo_bundle(runs: dict[str, Path]) -> None:
    seen: list[tuple[str, int, int]] = []
    bundle = run_monte_carlo(
        BacktestRun.load(runs["normal"]),
        seasons=50,
        seed=0,
        kelly_fraction=0.5,
        progress=lambda stage, done, total: seen.append((stage, done, total)),
    )
    assert bundle.empirical and bundle.kelly_fraction == 0.5
    assert [(f.fraction, f.seasons) for f in bundle.fans] == [(0.5, 50)]
    assert bundle.ruin.fractions == RUIN_FRACTIONS and bundle.ruin.p_ruin.shape == (1, 10)
    assert [s.fraction for s in bundle.result.scenarios] == list(MC_FRACTIONS)  # 0.5 is one
    assert bundle.result.params.bets == run_bets(BacktestRun.load(runs["normal"])).bets_per_season
    assert {stage for stage, _, _ in seen} == {"Monte Carlo"}
    assert seen[-1][1] == seen[-1][2] == bundle.result.params.bets


def test_downsample_keeps_the_extremes() -> None:
    rng = np.random.default_rng(0)
    y = np.cumsum(rng.normal(size=50_000))
    x = list(range(y.size))
    xs, ys = report.downsample(x, y)
    assert len(xs) <= report.MAX_CURVE_POINTS + 2
    assert xs[0] == 0 and xs[-1] == y.size - 1 and xs == sorted(xs)
    assert min(ys) == y.min() and max(ys) == y.max()
    assert report.downsample([1, 2], [3.0, 4.0]) == ([1, 2], [3.0, 4.0])


@pytest.mark.slow
def test_a_long_run_stays_small(tmp_path: Path) -> None:
    directory = make_run(tmp_path, races=3_000, races_per_day=24, days_between=3, seed=7)
    run = BacktestRun.load(directory)
    path = write_backtest_report(run, directory / "report.html", seasons=100, seed=0)
    size = path.stat().st_size
    assert size < 3_000_000, size
    assert set(figures(path.read_text(encoding="utf-8"))) == set(CHART_KEYS)
