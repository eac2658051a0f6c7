import datetime as dt
import json
import math
import statistics
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keiba.evaluator.backtest_frames import (
    BETS_SCHEMA,
    DAILY_SCHEMA,
    LATER_BETS_COLUMNS,
    STRATEGIES,
)
from keiba.evaluator.backtest_metrics import all_metrics, odds_band, strategy_metrics

D0 = dt.date(2024, 1, 6)


def _bet(
    race_id: str,
    bet_type: str,
    stake: int,
    decision_odds: float | None,
    final_odds: float | None,
    paid: int,
    *,
    refund: bool = False,
    strategy: str = "themis",
    day: dt.date = D0,
) -> dict[str, Any]:
    return {
        "strategy": strategy,
        "race_id": race_id,
        "race_date": day,
        "race_seq": int(race_id.lstrip("r") or 0),
        "bet_type": bet_type,
        "combination": "1",
        "stake_yen": stake,
        "probability": 0.1,
        "decision_odds": decision_odds,
        "final_odds": final_odds,
        "paid_yen": paid,
        "refund": refund,
        "hit": (not refund) and paid > 0,
    }


def _bets(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=BETS_SCHEMA)


def _daily(
    start: int,
    ends: list[int],
    dates: list[dt.date] | None = None,
    strategy: str = "themis",
    races: int = 12,
) -> pl.DataFrame:
    dates = dates or [D0 + dt.timedelta(days=i) for i in range(len(ends))]
    starts = [start, *ends[:-1]]
    rows = [
        {
            "strategy": strategy,
            "race_date": d,
            "start_yen": s,
            "staked_yen": 0,
            "returned_yen": e - s,
            "end_yen": e,
            "races": races,
            "races_bet": 0,
        }
        for d, s, e in zip(dates, starts, ends, strict=True)
    ]
    return pl.DataFrame(rows, schema=DAILY_SCHEMA)


def _example_bets() -> pl.DataFrame:
    return _bets(
        [
            _bet("r1", "win", 200, 3.0, 2.5, 600),
            _bet("r1", "place", 100, 1.3, None, 130),
            _bet("r2", "win", 100, 10.0, 12.5, 0),
            _bet("r3", "win", 300, 2.0, 1.6, 300, refund=True),
            _bet("r4", "quinella", 100, 25.0, 20.0, 0),
        ]
    )


def _metrics(bets: pl.DataFrame, daily: pl.DataFrame | None = None, **kw: Any) -> dict[str, Any]:
    """Metrics of "themis", the starting balance read off the first daily row."""
    daily = _daily(10_000, [10_230]) if daily is None else daily
    start = int(daily.sort("race_date")["start_yen"][0])
    return strategy_metrics(bets, daily, "themis", start, **kw)


# --- hand-computed money, rates, splits -------------------------------------------------------


def test_totals_exclude_refunds() -> None:
    m = _metrics(_example_bets())
    assert m["strategy"] == "themis"
    assert m["label"] == STRATEGIES["themis"]
    assert (m["bets"], m["refunds"], m["races_bet"]) == (4, 1, 4)
    assert (m["staked_yen"], m["returned_yen"], m["profit_yen"]) == (500, 730, 230)
    assert m["return_rate"]["value"] == pytest.approx(730 / 500)
    assert m["hit_rate"]["value"] == pytest.approx(2 / 4)
    assert (m["start_yen"], m["end_yen"], m["days"], m["races"]) == (10_000, 10_230, 1, 12)


def test_bootstrap_bounds_lie_within_the_reachable_range() -> None:
    # Races that stood: r1 (300 staked, 730 back, 2 hits of 2), r2 and r4 (100 staked, 0 back).
    m = _metrics(_example_bets())
    rr, hr = m["return_rate"], m["hit_rate"]
    assert 0.0 <= rr["low"] <= rr["value"] <= rr["high"] <= 730 / 300
    assert 0.0 <= hr["low"] <= hr["value"] <= hr["high"] <= 1.0


def test_bootstrap_of_two_races_spans_both_extremes() -> None:
    # Resamples are AA, AB, BB with chances 1/4, 1/2, 1/4: the 2.5%/97.5% quantiles are the
    # all-A and all-B ratios.
    bets = _bets([_bet("r1", "win", 100, 3.0, 3.0, 300), _bet("r2", "win", 100, 4.0, 4.0, 0)])
    m = _metrics(bets)
    assert m["return_rate"] == {"value": 1.5, "low": 0.0, "high": 3.0}
    assert m["hit_rate"] == {"value": 0.5, "low": 0.0, "high": 1.0}


def test_bootstrap_resamples_races_not_tickets() -> None:
    # Ten winning tickets in one race, ten losing ones in another: resampling races gives a hit
    # rate of 0 a quarter of the time; resampling tickets would almost never (2^-20).
    rows = [_bet("r1", "win", 100, 2.0, 2.0, 200) for _ in range(10)]
    rows += [_bet("r2", "win", 100, 2.0, 2.0, 0) for _ in range(10)]
    m = _metrics(_bets(rows))
    assert m["hit_rate"]["low"] == 0.0
    assert m["hit_rate"]["high"] == 1.0


def test_one_race_gives_a_degenerate_interval() -> None:
    bets = _bets([_bet("r1", "win", 100, 3.0, 3.0, 300), _bet("r1", "place", 100, 1.2, None, 0)])
    m = _metrics(bets)
    assert m["return_rate"] == {"value": 1.5, "low": 1.5, "high": 1.5}
    assert m["hit_rate"] == {"value": 0.5, "low": 0.5, "high": 0.5}


def test_split_by_bet_type() -> None:
    by_type = _metrics(_example_bets())["by_bet_type"]
    assert list(by_type) == ["win", "place", "quinella"]  # BetType order
    win = by_type["win"]
    assert (win["bets"], win["staked_yen"], win["returned_yen"], win["profit_yen"]) == (
        2,
        300,
        600,
        300,
    )
    assert win["return_rate"]["value"] == pytest.approx(2.0)
    assert win["hit_rate"]["value"] == pytest.approx(0.5)
    place = by_type["place"]
    assert (place["bets"], place["staked_yen"], place["returned_yen"]) == (1, 100, 130)
    assert place["return_rate"] == {"value": 1.3, "low": 1.3, "high": 1.3}
    assert by_type["quinella"]["return_rate"]["value"] == 0.0
    assert by_type["quinella"]["hit_rate"]["value"] == 0.0


def test_a_bet_type_with_only_refunds_is_not_listed() -> None:
    bets = _bets(
        [
            _bet("r1", "win", 100, 3.0, 3.0, 0),
            _bet("r2", "exacta", 100, 30.0, None, 100, refund=True),
        ]
    )
    assert list(_metrics(bets)["by_bet_type"]) == ["win"]


@pytest.mark.parametrize(
    ("odds", "band"),
    [
        (1.0, "1–2"),
        (1.99, "1–2"),
        (2.0, "2–5"),
        (4.99, "2–5"),
        (5.0, "5–10"),
        (10.0, "10–20"),
        (20.0, "20–50"),
        (50.0, "50–100"),
        (99.9, "50–100"),
        (100.0, "100+"),
        (5000.0, "100+"),
        (math.inf, "100+"),
    ],
)
def test_odds_band_boundaries(odds: float, band: str) -> None:
    assert odds_band(odds) == band


def test_odds_band_rejects_nan() -> None:
    with pytest.raises(ValueError, match="NaN"):
        odds_band(math.nan)


def test_split_by_odds_band_uses_decision_odds_and_skips_refunds() -> None:
    rows = _example_bets().to_dicts()
    rows.append(_bet("r5", "win", 100, 2.0, 9.0, 0))  # boundary: 2.0 is "2–5" (final odds ignored)
    bands = _metrics(_bets(rows))["by_odds_band"]
    assert bands == [
        {"band": "1–2", "bets": 1, "staked_yen": 100, "returned_yen": 130, "return_rate": 1.3},
        {"band": "2–5", "bets": 2, "staked_yen": 300, "returned_yen": 600, "return_rate": 2.0},
        {"band": "10–20", "bets": 1, "staked_yen": 100, "returned_yen": 0, "return_rate": 0.0},
        {"band": "20–50", "bets": 1, "staked_yen": 100, "returned_yen": 0, "return_rate": 0.0},
    ]


def test_odds_drift() -> None:
    drift = _metrics(_example_bets())["odds_drift"]
    # Stood with final odds: 3.0/2.5 = 1.2, 10/12.5 = 0.8, 25/20 = 1.25 (the place bet has none,
    # the refunded one does not count).
    assert drift["bets"] == 3
    assert drift["mean_ratio"] == pytest.approx((1.2 + 0.8 + 1.25) / 3)
    assert drift["median_ratio"] == pytest.approx(1.2)
    assert drift["share_shorter_at_close"] == pytest.approx(2 / 3)


def test_other_strategies_rows_are_ignored() -> None:
    rows = _example_bets().to_dicts()
    rows.append(_bet("r1", "win", 5000, 3.0, 2.5, 15000, strategy="favourite"))
    daily = pl.concat([_daily(10_000, [10_230]), _daily(10_000, [20_000], strategy="favourite")])
    m = _metrics(_bets(rows), daily)
    assert (m["bets"], m["staked_yen"], m["end_yen"]) == (4, 500, 10_230)


# --- drawdown ---------------------------------------------------------------------------------


def _dates(n: int) -> list[dt.date]:
    return [D0 + dt.timedelta(days=7 * i) for i in range(n)]


def test_drawdown_with_recovery() -> None:
    days = _dates(5)
    daily = _daily(1000, [1200, 900, 1100, 1250, 1000], days)
    dd = _metrics(_bets([]), daily)["max_drawdown"]
    # Worst: 1200 → 900 (25%); the later 1250 → 1000 is only 20%. Back to 1200 on day 4.
    assert dd == {
        "fraction": pytest.approx(0.25),
        "yen": 300,
        "days": 3,
        "peak_date": days[0].isoformat(),
        "trough_date": days[1].isoformat(),
        "recovered": True,
    }


def test_drawdown_never_recovered_from_the_start() -> None:
    days = _dates(4)
    daily = _daily(1000, [900, 950, 800, 850], days)
    dd = _metrics(_bets([]), daily)["max_drawdown"]
    assert dd == {
        "fraction": pytest.approx(0.2),
        "yen": 200,
        "days": 4,
        "peak_date": None,
        "trough_date": days[2].isoformat(),
        "recovered": False,
    }


def test_drawdown_starts_at_the_last_day_on_the_peak() -> None:
    days = _dates(4)
    dd = _metrics(_bets([]), _daily(1000, [1200, 1200, 900, 1200], days))["max_drawdown"]
    assert (dd["peak_date"], dd["trough_date"], dd["days"], dd["recovered"]) == (
        days[1].isoformat(),
        days[2].isoformat(),
        2,
        True,
    )


def test_no_drawdown_on_a_rising_series() -> None:
    dd = _metrics(_bets([]), _daily(1000, [1100, 1200, 1200, 1300]))["max_drawdown"]
    assert dd == {
        "fraction": 0.0,
        "yen": 0,
        "days": 0,
        "peak_date": None,
        "trough_date": None,
        "recovered": True,
    }


def test_daily_rows_are_taken_in_date_order() -> None:
    days = _dates(3)
    daily = _daily(1000, [800, 1100, 1200], days).reverse()
    m = _metrics(_bets([]), daily)
    assert m["end_yen"] == 1200
    assert m["max_drawdown"]["trough_date"] == days[0].isoformat()


# --- Sharpe -----------------------------------------------------------------------------------


def test_sharpe_worked_example() -> None:
    days = [dt.date(2024, 1, 6), dt.date(2024, 1, 7), dt.date(2024, 1, 13), dt.date(2024, 1, 14)]
    daily = _daily(1000, [1100, 1100, 990, 1089], days)  # returns +10%, 0 (no bet), −10%, +10%
    returns = [0.1, 0.0, -0.1, 0.1]
    expected = statistics.mean(returns) / statistics.stdev(returns)
    assert expected == pytest.approx(0.025 / math.sqrt(0.0275 / 3))
    per_year = 4 / 9 * 365.25  # four race days in a nine-day span
    s = _metrics(_bets([]), daily)["sharpe"]
    assert s["days"] == 4
    assert s["daily"] == pytest.approx(expected)
    assert s["annualised"] == pytest.approx(expected * math.sqrt(per_year))


def test_sharpe_skips_days_without_money() -> None:
    rows = [
        {"strategy": "themis", "race_date": dt.date(2024, 1, 6), "start_yen": 100,
         "staked_yen": 100, "returned_yen": 0, "end_yen": 0, "races": 12, "races_bet": 1},
        {"strategy": "themis", "race_date": dt.date(2024, 1, 7), "start_yen": 0,
         "staked_yen": 0, "returned_yen": 0, "end_yen": 0, "races": 12, "races_bet": 0},
    ]  # fmt: skip
    m = _metrics(_bets([]), pl.DataFrame(rows, schema=DAILY_SCHEMA))
    assert m["sharpe"] == {"daily": None, "annualised": None, "days": 1}
    assert m["max_drawdown"]["fraction"] == 1.0


def test_sharpe_is_undefined_without_variation() -> None:
    s = _metrics(_bets([]), _daily(1000, [1000, 1000, 1000]))["sharpe"]
    assert s == {"daily": None, "annualised": None, "days": 3}


# --- no bets, JSON, all strategies ------------------------------------------------------------


def test_zero_bet_strategy_has_every_figure() -> None:
    daily = _daily(10_000, [10_000, 10_000])
    m = strategy_metrics(_bets([]), daily, "themis", 10_000)
    none = {"value": None, "low": None, "high": None}
    assert m["return_rate"] == none
    assert m["hit_rate"] == none
    assert (m["bets"], m["refunds"], m["races_bet"], m["staked_yen"], m["profit_yen"]) == (
        0,
        0,
        0,
        0,
        0,
    )
    assert (m["days"], m["races"], m["end_yen"]) == (2, 24, 10_000)
    assert m["odds_drift"] == {
        "bets": 0,
        "mean_ratio": None,
        "median_ratio": None,
        "share_shorter_at_close": None,
    }
    assert m["by_bet_type"] == {}
    assert m["by_odds_band"] == []
    assert m["sharpe"] == {"daily": None, "annualised": None, "days": 2}
    assert m["max_drawdown"]["fraction"] == 0.0
    json.dumps(m, allow_nan=False)


def test_only_refunds_counts_the_race_but_no_bet() -> None:
    bets = _bets([_bet("r1", "win", 100, 3.0, 3.0, 100, refund=True)])
    m = _metrics(bets)
    assert (m["races_bet"], m["bets"], m["refunds"], m["staked_yen"]) == (1, 0, 1, 0)
    assert m["return_rate"]["value"] is None
    assert m["hit_rate"]["value"] is None
    assert m["odds_drift"]["bets"] == 0


def test_strategy_absent_everywhere() -> None:
    m = strategy_metrics(_bets([]), _daily(1000, [1000]).clear(), "nobody", 5000)
    assert (m["label"], m["end_yen"], m["days"], m["races"]) == ("nobody", 5000, 0, 0)
    assert m["max_drawdown"]["recovered"] is True
    json.dumps(m, allow_nan=False)


def test_all_metrics_order_and_json() -> None:
    rows = _example_bets().to_dicts()
    rows.append(_bet("r1", "win", 100, 3.0, 2.5, 300, strategy="favourite"))
    daily = pl.concat(
        [
            _daily(10_000, [9_000], strategy="zeta"),
            _daily(10_000, [10_200], strategy="favourite"),
            _daily(10_000, [10_000], strategy="alpha"),
            _daily(10_000, [10_230], strategy="themis"),
        ]
    )
    result = all_metrics(_bets(rows), daily, 10_000, resamples=200)
    assert list(result) == ["themis", "favourite", "alpha", "zeta"]
    assert result["favourite"]["returned_yen"] == 300
    assert result["alpha"]["bets"] == 0
    decoded = json.loads(json.dumps(result, allow_nan=False))
    assert decoded == result


def test_resamples_must_be_positive() -> None:
    with pytest.raises(ValueError, match="resamples"):
        _metrics(_example_bets(), resamples=0)


def test_a_large_run_adds_up() -> None:
    rng = np.random.default_rng(1)
    n = 20_000
    race = rng.integers(0, 3_000, n)
    odds = rng.uniform(1.2, 80.0, n)
    hit = rng.random(n) < 1 / odds
    bets = pl.DataFrame(
        {
            "strategy": ["themis"] * n,
            "race_id": [f"r{r:05d}" for r in race],
            "race_date": [D0] * n,
            "race_seq": race,
            "bet_type": rng.choice(["win", "place", "quinella"], n),
            "combination": ["1"] * n,
            "stake_yen": [100] * n,
            "probability": 1 / odds,
            "decision_odds": odds,
            "final_odds": odds * rng.uniform(0.8, 1.2, n),
            "paid_yen": np.where(hit, (odds * 100).astype(np.int64), 0),
            "refund": [False] * n,
            "hit": hit,
        },
        # the metrics read no name or bankroll column
        schema={k: t for k, t in BETS_SCHEMA.items() if k not in LATER_BETS_COLUMNS},
    )
    m = _metrics(bets)
    assert m["bets"] == n
    assert m["staked_yen"] == int(bets["stake_yen"].sum())


# --- properties -------------------------------------------------------------------------------


@st.composite
def _tickets(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(0, 25))
    rows = []
    for _ in range(n):
        race = draw(st.integers(1, 6))
        stake = 100 * draw(st.integers(1, 20))
        odds = draw(st.floats(1.0, 500.0))
        refund = draw(st.booleans()) and draw(st.booleans())  # about a quarter
        won = draw(st.booleans())
        paid = stake if refund else (int(stake * odds) if won else 0)
        final = draw(st.none() | st.floats(1.0, 500.0))
        bet_type = draw(st.sampled_from(["win", "place", "quinella", "trio"]))
        rows.append(
            _bet(f"r{race}", bet_type, stake, odds, final, paid, refund=refund, day=D0)
            | {"combination": str(len(rows))}
        )
    return rows


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(_tickets())
def test_property_interval_contains_estimate(rows: list[dict[str, Any]]) -> None:
    m = _metrics(_bets(rows), resamples=500)
    for figures in (m, *m["by_bet_type"].values()):
        for name in ("return_rate", "hit_rate"):
            rate = figures[name]
            if rate["value"] is None:
                assert rate["low"] is None and rate["high"] is None
            else:
                assert rate["low"] <= rate["value"] <= rate["high"]


@PROPERTY
@given(_tickets(), st.randoms(use_true_random=False))
def test_property_row_order_does_not_matter(rows: list[dict[str, Any]], random: Any) -> None:
    shuffled = list(rows)
    random.shuffle(shuffled)
    assert _metrics(_bets(rows), resamples=300) == _metrics(_bets(shuffled), resamples=300)


@PROPERTY
@given(_tickets(), st.integers(0, 2**32 - 1))
def test_property_same_seed_same_interval(rows: list[dict[str, Any]], seed: int) -> None:
    first = _metrics(_bets(rows), resamples=300, seed=seed)
    second = _metrics(_bets(rows), resamples=300, seed=seed)
    assert first["return_rate"] == second["return_rate"]
    assert first["hit_rate"] == second["hit_rate"]
    assert first["by_bet_type"] == second["by_bet_type"]


@PROPERTY
@given(_tickets())
def test_property_money_adds_up(rows: list[dict[str, Any]]) -> None:
    m = _metrics(_bets(rows), resamples=50)
    assert m["profit_yen"] == m["returned_yen"] - m["staked_yen"]
    assert m["bets"] + m["refunds"] == len(rows)
    by_type = m["by_bet_type"].values()
    for key in ("bets", "staked_yen", "returned_yen", "profit_yen"):
        assert sum(t[key] for t in by_type) == m[key]
    for t in by_type:
        assert t["profit_yen"] == t["returned_yen"] - t["staked_yen"]
    for key in ("bets", "staked_yen", "returned_yen"):
        assert sum(b[key] for b in m["by_odds_band"]) == m[key]
    stood = [r for r in rows if not r["refund"]]
    assert m["staked_yen"] == sum(r["stake_yen"] for r in stood)
    assert m["returned_yen"] == sum(r["paid_yen"] for r in stood)
    json.dumps(m, allow_nan=False)
