"""The backtest report (keiba.evaluator.backtest_report) on synthetic run directories.

`make_run` builds a realistic run directory (the layout of keiba.evaluator.backtest_frames): a
few hundred races of a simulated market, four strategies (Themis with Kelly sizing on win and
place tickets, the favourite and the model's top pick at a flat 100 yen, and Themis on the
market's own probabilities, which never finds value), their daily balances, the predictions and
a result.json whose metrics come from keiba.evaluator.backtest_metrics. The browser and CLI
tests import it from here.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from keiba.evaluator import report
from keiba.evaluator.backtest_frames import (
    BETS_SCHEMA,
    DAILY_SCHEMA,
    PREDICTIONS_SCHEMA,
    STRATEGIES,
    BacktestRun,
)
from keiba.evaluator.backtest_metrics import all_metrics
from keiba.evaluator.backtest_report import (
    CHART_KEYS,
    MIN_EMPIRICAL_BETS,
    TooFewBetsError,
    empirical_sample,
    run_monte_carlo,
    sample_size_caveats,
    write_backtest_report,
)

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
        ) -> None:
            refund = bool(rng.random() < 0.01)
            tickets[strategy].append(
                {
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


def test_caveats_come_first_and_include_computed_ones(pages: dict[str, str]) -> None:
    page = pages["normal"]
    caveats = re.findall(r'<p class="caveat">(.*?)</p>', page)
    assert page.index('class="caveat"') < page.index("<h2>Strategies</h2>")
    assert any("drifted final odds" in c for c in caveats)
    assert any("Themis on the market" in c and "placed no bets" in c for c in caveats)


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
    run = BacktestRun.load(runs["normal"])
    sample = empirical_sample(run)
    assert f"the run&#x27;s own {sample.bets:,} Themis bets" in pages["normal"]
    assert "0.25 Kelly" in pages["normal"]  # the fan chart at the default fraction


def test_a_run_where_themis_never_bets_still_renders(pages: dict[str, str]) -> None:
    page = pages["no_themis"]
    assert set(figures(page)) == set(CHART_KEYS)  # the baselines still have curves and bars
    assert "the assumed distribution" in page and "fewer than 30" in page
    assert "Themis on the model (+ market) placed no bets" in page
    assert "no bets" in figures(page)["baselines"]


def test_a_run_without_any_bet_says_so_instead_of_empty_charts(pages: dict[str, str]) -> None:
    page = pages["no_bets"]
    missing = {"bankroll", "drawdown", "baselines", "bet_types", "odds_bands"}
    assert empties(page) == missing
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


def test_the_same_seed_gives_the_same_page(runs: dict[str, Path], tmp_path: Path) -> None:
    run = BacktestRun.load(runs["no_bets"])
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
    assert [f.overestimate for f in bundle.fans] == [1.0, 2.0]
    assert all(f.fraction == 0.5 for f in bundle.fans)
    assert bundle.ruin.p_ruin.shape == (3, 10)
    assert len(bundle.result.scenarios) == 12  # 0.5 is one of the table's fractions already
    last = {stage: (done, total) for stage, done, total in seen}
    assert set(last) == {"MC table", "MC fan ×1", "MC fan ×2", "MC ruin"}
    assert all(done == total > 0 for done, total in last.values())


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
