"""The HTML report of a backtest run (`keiba backtest report`): one self-contained page.

Reads a run directory (`keiba.evaluator.backtest_frames.BacktestRun`) and answers first: one
sentence (`keiba.evaluator.answer.backtest_answer`) says whether Themis made money, what the
market's own probabilities and the baselines made on the same races, and how sure each figure
is. The results follow — the strategies' figures with their intervals, the bankroll and
drawdown curves, the baselines, the bets themselves (`keiba.evaluator.bet_list`: a table and
the same rows as CSV), returns by bet type and odds band, calibration, and a Monte Carlo of the
bankroll's risk on the run's own bets (`backtest_monte_carlo`; none with fewer than
`MIN_EMPIRICAL_BETS` bets) — then the caveats, the walk-forward schedule and the settings.

Charts are inline SVG under `<figure data-chart=…>` (keys in `CHART_KEYS`), their text kept as
`<text>` so the reader's browser draws the Japanese with its own fonts; a chart with nothing to
draw is replaced by a sentence in a `<p class="empty" data-empty=…>`. No scripts, no network:
the page renders offline.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from keiba.evaluator import report
from keiba.evaluator.answer import WIDE_INTERVAL_BETS, backtest_answer
from keiba.evaluator.backtest_frames import STRATEGIES, BacktestRun
from keiba.evaluator.backtest_metrics import interval_text, percent_text
from keiba.evaluator.backtest_monte_carlo import (
    DEFAULT_SEASONS,
    GROWTH_CAP,
    MC_FRACTIONS,
    MIN_EMPIRICAL_BETS,
    EmpiricalSample,
    MonteCarloBundle,
    Progress,
    TooFewBetsError,
    empirical_sample,
    run_kelly_fraction,
    run_monte_carlo,
    themis_bet_count,
)
from keiba.evaluator.bet_list import bet_list, bet_type_label, bets_html
from keiba.evaluator.metrics import calibration_table
from keiba.evaluator.monte_carlo import MonteCarloParams, MonteCarloResult

__all__ = [
    "CHART_KEYS",
    "DEFAULT_SEASONS",
    "GROWTH_CAP",
    "LISTED_STRATEGIES",
    "MC_FRACTIONS",
    "MIN_EMPIRICAL_BETS",
    "WIDE_INTERVAL_BETS",
    "EmpiricalSample",
    "MonteCarloBundle",
    "TooFewBetsError",
    "empirical_sample",
    "render_backtest_report",
    "run_kelly_fraction",
    "run_monte_carlo",
    "sample_size_caveats",
    "strategy_keys",
    "write_backtest_report",
    "write_bundle_report",
]

CHART_KEYS: tuple[str, ...] = (
    "bankroll",
    "drawdown",
    "baselines",
    "bet_types",
    "odds_bands",
    "calibration",
    "mc_fan",
    "ruin",
)
"""Every chart the page can hold, in page order (`data-chart` of the figure, or `data-empty` of
the sentence that replaces it)."""

LISTED_STRATEGIES: tuple[str, ...] = ("themis", "themis_market")
"""The strategies whose bets the page lists one by one (the flat baselines bet every race; all
their tickets are in the run's bets.parquet)."""
_SHORT = {"themis": "Themis", "themis_market": "Themis (market)"}
"""The strategies' names in the bets table, where a long label on every row would crowd it."""

# ---------------------------------------------------------------- formatting


def _yen(value: Any) -> str:
    return "—" if value is None else f"{int(value):,}"


def _num(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{float(value):.{digits}f}"


def _triple(iv: Mapping[str, Any] | None) -> report.Interval | None:
    if not iv or iv.get("value") is None:
        return None
    return (float(iv["value"]), iv.get("low"), iv.get("high"))


def _empty(key: str, text: str) -> str:
    return f'<p class="empty" data-empty="{html.escape(key)}">{html.escape(text)}</p>'


def _label(metrics: Mapping[str, Any], key: str) -> str:
    return str(metrics.get("label") or STRATEGIES.get(key, key))


def strategy_keys(run: BacktestRun) -> list[str]:
    """The run's strategies: those with metrics, then any others with bets; report order."""
    metrics: Mapping[str, Any] = run.result.get("metrics") or {}
    keys = list(metrics)
    keys += [s for s in run.bets["strategy"].unique().sort().to_list() if s not in keys]
    known = list(STRATEGIES)
    return sorted(keys, key=lambda s: (known.index(s), "") if s in known else (len(known), s))


def _metrics(run: BacktestRun, key: str) -> dict[str, Any]:
    metrics: dict[str, Any] = (run.result.get("metrics") or {}).get(key) or {}
    return metrics


def _colours(run: BacktestRun, keys: Sequence[str]) -> list[str]:
    """Each strategy's colour, the same in every chart."""
    every = strategy_keys(run)
    return [report.palette_colour(every.index(k) if k in every else len(every)) for k in keys]


def _bets_of(run: BacktestRun, key: str) -> int:
    metrics = _metrics(run, key)
    if "bets" in metrics:
        return int(metrics["bets"])
    return run.bets.filter((pl.col("strategy") == key) & ~pl.col("refund")).height


# ---------------------------------------------------------------- caveats


def sample_size_caveats(run: BacktestRun) -> list[str]:
    """Warnings computed from the run: strategies without bets, small samples and wide or
    inconclusive intervals, an incomplete replay, a failed audit, a stopped monitor."""
    notes: list[str] = []
    for key in strategy_keys(run):
        m = _metrics(run, key)
        label = _label(m, key)
        bets = _bets_of(run, key)
        rate = m.get("return_rate") or {}
        value, low, high = rate.get("value"), rate.get("low"), rate.get("high")
        if bets == 0:
            notes.append(
                f"{label} placed no bets in this run: its figures are empty and its curves and "
                "bars are left out of the charts."
            )
            continue
        if bets < WIDE_INTERVAL_BETS:
            if low is not None and high is not None:
                notes.append(
                    f"{label}: only {bets:,} bets (fewer than {WIDE_INTERVAL_BETS}), so the 95% "
                    f"interval of its return rate is {(high - low) * 100:.0f} percentage points "
                    f"wide ({percent_text(low)} to {percent_text(high)}): read its figures as "
                    "anecdotes."
                )
            else:
                notes.append(
                    f"{label}: only {bets:,} bets (fewer than {WIDE_INTERVAL_BETS}) and no "
                    "interval for its return rate: read its figures as anecdotes."
                )
        if value is not None and low is not None and high is not None and low <= 1.0 <= high:
            notes.append(
                f"{label}: the 95% interval of its return rate ({percent_text(low)} to "
                f"{percent_text(high)}) includes 100%: this run cannot tell it from break-even."
            )
    themis = themis_bet_count(run)
    if themis < MIN_EMPIRICAL_BETS:
        notes.append(
            f"Themis placed {themis} bet(s), fewer than {MIN_EMPIRICAL_BETS}: too few to "
            "resample, so the page simulates no bankroll risk (no fan chart, no ruin curve)."
        )
    ledger = run.result.get("ledger") or {}
    if ledger.get("audit_ok") is False:
        notes.append("The ledger audit FAILED: the Themis figures cannot be trusted.")
    monitor = run.result.get("monitor") or {}
    if monitor.get("stopped"):
        notes.append("The monitor stopped betting during the run (see the monitor events).")
    return notes


# ---------------------------------------------------------------- tables


_STRATEGY_HEADER = (
    "strategy",
    "bets",
    "races bet / races",
    "refunds",
    "staked (yen)",
    "returned (yen)",
    "profit (yen)",
    "end bankroll (yen)",
    "return rate [95% CI]",
    "hit rate [95% CI]",
    "max drawdown",
    "DD length (race days)",
    "Sharpe (annualised)",
    "odds decision/final (mean, median)",
)


def _strategy_rows(run: BacktestRun) -> list[list[str]]:
    rows = []
    for key in strategy_keys(run):
        m = _metrics(run, key)
        dd = m.get("max_drawdown") or {}
        drift = m.get("odds_drift") or {}
        sharpe = m.get("sharpe") or {}
        dd_days = dd.get("days")
        if not _bets_of(run, key):
            dd, dd_days = {}, None
        elif dd_days is not None and dd.get("recovered") is False:
            dd_days = f"{dd_days} (not recovered)"
        rows.append(
            [
                _label(m, key),
                f"{_bets_of(run, key):,}",
                f"{m.get('races_bet', 0):,} / {m.get('races', 0):,}",
                f"{m.get('refunds', 0):,}",
                _yen(m.get("staked_yen")),
                _yen(m.get("returned_yen")),
                _yen(m.get("profit_yen")),
                _yen(m.get("end_yen")),
                interval_text(m.get("return_rate")),
                interval_text(m.get("hit_rate")),
                percent_text(dd.get("fraction")),
                "—" if dd_days is None else str(dd_days),
                _num(sharpe.get("annualised")),
                (
                    "—"
                    if drift.get("mean_ratio") is None
                    else f"{_num(drift['mean_ratio'], 3)}, {_num(drift.get('median_ratio'), 3)}"
                ),
            ]
        )
    return rows


def _bet_type_rows(run: BacktestRun) -> list[list[str]]:
    rows = []
    for key in strategy_keys(run):
        m = _metrics(run, key)
        for bet_type, b in (m.get("by_bet_type") or {}).items():
            rows.append(
                [
                    _label(m, key),
                    bet_type_label(bet_type),
                    f"{b.get('bets', 0):,}",
                    _yen(b.get("staked_yen")),
                    _yen(b.get("returned_yen")),
                    _yen(b.get("profit_yen")),
                    interval_text(b.get("return_rate")),
                    interval_text(b.get("hit_rate")),
                ]
            )
    return rows


def _odds_band_rows(run: BacktestRun) -> list[list[str]]:
    rows = []
    for key in strategy_keys(run):
        m = _metrics(run, key)
        for b in m.get("by_odds_band") or []:
            rows.append(
                [
                    _label(m, key),
                    str(b.get("band")),
                    f"{b.get('bets', 0):,}",
                    _yen(b.get("staked_yen")),
                    _yen(b.get("returned_yen")),
                    percent_text(b.get("return_rate")),
                ]
            )
    return rows


def _schedule_rows(result: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for s in result.get("schedule") or []:
        rows.append(
            [
                f"{s.get('test_from')} to {s.get('test_to')}",
                f"{s.get('train_from')} to {s.get('train_to')}",
                f"{s.get('combine_from')} to {s.get('combine_to')}",
                str(s.get("model_version", "—")),
                _num(s.get("alpha"), 3),
                _num(s.get("beta"), 3),
                f"{int(s.get('races') or 0):,}",
            ]
        )
    return rows


def _run_rows(run: BacktestRun) -> list[list[str]]:
    r = run.result
    period = r.get("period") or {}
    drift = r.get("odds_drift") or {}
    ledger = r.get("ledger") or {}
    monitor = r.get("monitor") or {}
    timings = r.get("timings_s") or {}
    drift_text = str(drift.get("model", "—"))
    if drift.get("model") not in (None, "none"):
        drift_text += f" (σ = {drift.get('sigma')}, seed {drift.get('seed')})"
    audit = ledger.get("audit_ok")
    return [
        ["run", str(r.get("run_id", run.directory.name))],
        ["created", str(r.get("created_at", "—"))],
        ["period", f"{period.get('from', '—')} to {period.get('to', '—')}"],
        ["data source", str(r.get("data_source", "—"))],
        ["odds at decision time", str(r.get("odds_source", "—"))],
        ["odds drift model", drift_text],
        ["starting bankroll", f"{_yen(r.get('start_yen'))} yen"],
        [
            "races replayed (incomplete, left out)",
            f"{int(r.get('races') or 0):,} ({int(r.get('races_incomplete') or 0):,})",
        ],
        [
            "ledger (Themis)",
            f"audit {'passed' if audit else 'FAILED' if audit is False else '—'}, final "
            f"balance {_yen(ledger.get('final_balance_yen'))} yen",
        ],
        [
            "monitor",
            f"{len(monitor.get('events') or []):,} event(s)"
            + (", betting stopped" if monitor.get("stopped") else ""),
        ],
        ["run time", f"{_num(timings.get('total'), 1)} s"],
        ["directory", str(run.directory)],
    ]


def _event_rows(result: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for e in (result.get("monitor") or {}).get("events") or []:
        rest = ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("kind", "tier", "at"))
        rows.append([str(e.get("at", "")), str(e.get("kind", "")), str(e.get("tier") or ""), rest])
    return rows


def _mc_rows(result: MonteCarloResult) -> list[list[str]]:
    rows = []
    for s in result.scenarios:
        q, dd = s.terminal_quantiles, s.p_drawdown
        rows.append(
            [
                f"{s.fraction:g}",
                percent_text(s.p_ruin),
                percent_text(dd.get("0.2")),
                percent_text(dd.get("0.3")),
                percent_text(dd.get("0.5")),
                *(f"{q[k]:.2f}" for k in ("0.05", "0.25", "0.5", "0.75", "0.95")),
                f"{s.terminal_mean:.2f}",
                "—" if s.recovery_median_bets is None else f"{s.recovery_median_bets:,.0f}",
                percent_text(s.never_recovered),
                f"{s.mean_bets_placed:,.0f}",
                percent_text(s.p_capped),
            ]
        )
    return rows


_MC_HEADER = (
    "Kelly",
    "P(ruin)",
    "DD>20%",
    "DD>30%",
    "DD>50%",
    "W q05",
    "q25",
    "q50",
    "q75",
    "q95",
    "W mean",
    "recovery median (bets)",
    "never recovered",
    "bets placed (mean)",
    "reached the cap",
)


# ---------------------------------------------------------------- charts


def _bankroll_section(run: BacktestRun) -> list[str]:
    keys = strategy_keys(run)
    start_yen = int(run.result.get("start_yen") or 0)
    with_bets = [k for k in keys if _bets_of(run, k) > 0]
    without = [_label(_metrics(run, k), k) for k in keys if k not in with_bets]
    if not with_bets:
        return [
            _empty("bankroll", "No strategy placed a bet: there is no bankroll curve to draw."),
            _empty("drawdown", "No strategy placed a bet: there is no drawdown to draw."),
        ]
    all_seq = run.bets["race_seq"].drop_nulls()
    x0 = min(0, int(all_seq.min()) - 1) if not all_seq.is_empty() else 0  # type: ignore[arg-type]
    curves: dict[str, tuple[list[int], list[int]]] = {}
    underwater: dict[str, tuple[list[dt.date], list[float]]] = {}
    for key in with_bets:
        m = _metrics(run, key)
        start = int(m.get("start_yen") or start_yen)
        per_race = (
            run.bets.filter(pl.col("strategy") == key)
            .group_by("race_seq")
            .agg((pl.col("paid_yen") - pl.col("stake_yen")).sum().alias("net"))
            .sort("race_seq")
        )
        balance = start + np.cumsum(per_race["net"].to_numpy().astype(np.int64))
        curves[_label(m, key)] = (
            [x0, *per_race["race_seq"].to_list()],
            [start, *balance.tolist()],
        )
        days = run.daily.filter(pl.col("strategy") == key).sort("race_date")
        if days.height:
            ends = days["end_yen"].to_numpy().astype(np.float64)
            peaks = np.maximum.accumulate(np.concatenate([[float(start)], ends]))[1:]
            with np.errstate(divide="ignore", invalid="ignore"):
                below = np.where(peaks > 0, ends / peaks - 1.0, 0.0)
            underwater[_label(m, key)] = (days["race_date"].to_list(), below.tolist())
    note = f" No bets, so no curve: {', '.join(without)}." if without else ""
    parts = [
        report.bankroll_curves_chart(
            curves,
            start_yen,
            "Bankroll of each strategy after every race it bet (start + cumulative payouts − "
            f"stakes, races in post-time order; dashed: the start).{note}",
            colours=_colours(run, with_bets),
        ).html()
    ]
    if underwater:
        parts.append(
            report.underwater_chart(
                underwater,
                "Drawdown: each race day's closing bankroll below its running peak (the max "
                f"drawdown of the table is the deepest point).{note}",
                colours=_colours(
                    run, [k for k in with_bets if _label(_metrics(run, k), k) in underwater]
                ),
            ).html()
        )
    else:
        parts.append(_empty("drawdown", "The run has no daily balances: no drawdown curve."))
    return parts


def _wrap(text: str) -> str:
    return "\n".join(textwrap.wrap(text, 22)) or text


def _baselines_section(run: BacktestRun) -> str:
    keys = strategy_keys(run)
    if not any(_bets_of(run, k) > 0 for k in keys):
        return _empty("baselines", "No strategy placed a bet: no return rates to compare.")
    labels = [_label(_metrics(run, k), k) for k in keys]
    values = [
        _triple(_metrics(run, k).get("return_rate")) if _bets_of(run, k) else None for k in keys
    ]
    return report.rate_bars_chart(
        "baselines",
        "Return rate (回収率) of each strategy with its 95% race-bootstrap interval; dashed: "
        "100% (break-even). The favourite and the model's top pick at a flat 100 yen are the "
        "baselines Themis has to beat; the count above a bar is its bets.",
        [_wrap(label) for label in labels],
        {"return rate": values},
        xlabel="strategy",
        counts={"return rate": [_bets_of(run, k) for k in keys]},
        colours=_colours(run, keys),
    ).html()


def _bet_type_section(run: BacktestRun) -> str:
    keys = [k for k in strategy_keys(run) if _bets_of(run, k) > 0]
    types: list[str] = []
    for k in keys:
        types += [t for t in (_metrics(run, k).get("by_bet_type") or {}) if t not in types]
    if not types:
        return _empty("bet_types", "No bets: no return by bet type.")
    series: dict[str, list[report.Interval | None]] = {}
    counts: dict[str, list[int]] = {}
    for k in keys:
        by_type = _metrics(run, k).get("by_bet_type") or {}
        label = _label(_metrics(run, k), k)
        series[label] = [_triple((by_type.get(t) or {}).get("return_rate")) for t in types]
        counts[label] = [int((by_type.get(t) or {}).get("bets") or 0) for t in types]
    return report.rate_bars_chart(
        "bet_types",
        "Return rate (回収率) by bet type with 95% race-bootstrap intervals; dashed: 100%. The "
        "count above a bar is its bets.",
        [bet_type_label(t, "\n") for t in types],
        series,
        xlabel="bet type",
        counts=counts,
        colours=_colours(run, keys),
    ).html()


def _band_low(band: str) -> float:
    head = band.replace("+", "").split("–")[0]
    try:
        return float(head)
    except ValueError:
        return math.inf


def _odds_band_section(run: BacktestRun) -> str:
    keys = [k for k in strategy_keys(run) if _bets_of(run, k) > 0]
    bands: list[str] = []
    for k in keys:
        bands += [
            str(b["band"])
            for b in _metrics(run, k).get("by_odds_band") or []
            if str(b["band"]) not in bands
        ]
    if not bands:
        return _empty("odds_bands", "No bets: no return by odds band.")
    bands.sort(key=lambda b: (_band_low(b), b))
    series: dict[str, list[report.Interval | None]] = {}
    counts: dict[str, list[int]] = {}
    for k in keys:
        rows = {str(b["band"]): b for b in _metrics(run, k).get("by_odds_band") or []}
        label = _label(_metrics(run, k), k)
        series[label] = [
            None
            if bands[i] not in rows or rows[bands[i]].get("return_rate") is None
            else (float(rows[bands[i]]["return_rate"]), None, None)
            for i in range(len(bands))
        ]
        counts[label] = [int((rows.get(b) or {}).get("bets") or 0) for b in bands]
    return report.rate_bars_chart(
        "odds_bands",
        "Return rate by the decision odds of the ticket (no intervals: few bets per band "
        "make them very wide); dashed: 100%. The count above a bar is its bets.",
        bands,
        series,
        xlabel="decision odds band",
        counts=counts,
        colours=_colours(run, keys),
    ).html()


_CALIBRATED = {
    "p_model": "model",
    "p_combined": "model + market",
    "p_market": "market (decision odds)",
}


def _calibration_section(run: BacktestRun) -> str:
    tables: dict[str, pl.DataFrame] = {}
    predictions = run.predictions
    if predictions.height:
        for column, label in _CALIBRATED.items():
            table = calibration_table(predictions, column, bins=20)
            if table.height:
                tables[label] = table
    if not tables:
        return _empty("calibration", "The run has no predictions: no calibration to draw.")
    races = predictions["race_id"].n_unique()
    chart = report.calibration_chart(tables)
    chart.caption = (
        f"Calibration on the {races:,} replayed races ({predictions.height:,} starters): the "
        "mean predicted win probability of 20 equal-count bins against the observed win "
        "frequency; dashed: perfect calibration."
    )
    return chart.html()


def _mc_note(bundle: MonteCarloBundle) -> str:
    p = bundle.result.params
    return (
        f'<p class="note">Bets drawn from {html.escape(bundle.source)}. {p.seasons:,} seasons, '
        f"start {p.start_yen:,} yen, ruin = bankroll below {p.floor_yen:,} yen, seed {p.seed}. "
        "Stakes are the bet's share of the bankroll (scaled by the Kelly fraction over the "
        f"run's {bundle.kelly_fraction:g}) rounded down to {p.unit_yen:,} yen, one bet after "
        "another, without Themis' per-race and per-day caps; a season stops betting once its "
        f"bankroll is {p.growth_cap or GROWTH_CAP:,.0f}× the start.</p>"
    )


def _mc_section(bundle: MonteCarloBundle) -> list[str]:
    if not bundle.empirical:
        sentence = f"No Monte Carlo: it would draw from {bundle.source}."
        return [
            _empty("mc_fan", sentence),
            _empty("ruin", "No ruin curve either: it needs the run's own bets to resample."),
        ]
    fan = bundle.fans[0]
    return [
        _mc_note(bundle),
        report.fan_chart(
            bundle.fans,
            f"The bankroll over a simulated season of the run's own bets at {fan.fraction:g} "
            "Kelly: the median, the 25–75% and the 5–95% bands across seasons; dashed: the start.",
            titles=[f"the run's bets at {fan.fraction:g} Kelly: P(ruin) {fan.p_ruin:.1%}"],
        ).html(),
        report.ruin_chart(
            bundle.ruin,
            "P(ruin within a season) against the Kelly fraction, the run's stakes scaled by it; "
            "dotted: the run's fraction.",
            marked_fraction=bundle.kelly_fraction,
            labels=["the run's own bets"],
        ).html(),
        report.table_html(
            _mc_rows(bundle.result),
            _MC_HEADER,
            "DD>x: P(max drawdown > x); W: terminal bankroll / start (quantiles, mean); "
            "recovery: bets from the deepest trough back to the peak before it.",
        ),
    ]


def _bets_section(run: BacktestRun) -> str:
    listed = [k for k in strategy_keys(run) if k in LISTED_STRATEGIES]
    own = run.bets.filter(pl.col("strategy").is_in(listed))
    if own.is_empty():
        names = " and ".join(_label(_metrics(run, k), k) for k in listed) or "Themis"
        return f'<p class="empty" data-empty="bets">{html.escape(names)}: no bets to list.</p>'
    betting = [_label(_metrics(run, k), k) for k in listed if k in set(own["strategy"])]
    return bets_html(bet_list(own), _SHORT, "tickets of " + " and ".join(betting))


def _context(run: BacktestRun) -> str:
    r = run.result
    period = r.get("period") or {}
    return (
        f'<p class="note">{int(r.get("races") or 0):,} races replayed from '
        f"{html.escape(str(period.get('from')))} to {html.escape(str(period.get('to')))}, "
        f"{_yen(r.get('start_yen'))} yen to start for each strategy; data "
        f"{html.escape(str(r.get('data_source', '—')))}, odds at decision time "
        f"{html.escape(str(r.get('odds_source', '—')))}. Intervals are 95% bootstrap intervals "
        "over races; the caveats are below the results.</p>"
    )


# ---------------------------------------------------------------- the page


def render_backtest_report(run: BacktestRun, bundle: MonteCarloBundle) -> str:
    """The whole page, as a string (see the module docstring)."""
    r = run.result
    period = r.get("period") or {}
    title = f"Backtest {period.get('from', '?')} to {period.get('to', '?')}"
    caveats = [str(c) for c in r.get("caveats") or []] + sample_size_caveats(run)
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="answer">{html.escape(backtest_answer(r))}</p>',
        _context(run),
        "<h2>Strategies</h2>",
        report.table_html(_strategy_rows(run), _STRATEGY_HEADER),
        '<p class="note">Return rate (回収率) = returned / staked; hit rate (的中率) = winning '
        "tickets / tickets; intervals: 95% bootstrap over races. Max drawdown on the closing "
        "balance of each race day; its length in race days from the peak to the recovery (or "
        "the end). Sharpe: daily bankroll returns, annualised by the race days per year. Odds "
        "decision/final above 1: the price at decision was longer than the final one.</p>",
        "<h2>Bankroll</h2>",
        *_bankroll_section(run),
        "<h2>Against the baselines</h2>",
        _baselines_section(run),
        "<h2>The bets</h2>",
        _bets_section(run),
        "<h2>By bet type</h2>",
        _bet_type_section(run),
        report.table_html(
            _bet_type_rows(run),
            (
                "strategy",
                "bet type",
                "bets",
                "staked",
                "returned",
                "profit",
                "return rate [95% CI]",
                "hit rate [95% CI]",
            ),
        ),
        "<h2>By odds band</h2>",
        _odds_band_section(run),
        report.table_html(
            _odds_band_rows(run),
            ("strategy", "band", "bets", "staked", "returned", "return rate"),
        ),
        "<h2>Calibration</h2>",
        _calibration_section(run),
        "<h2>Monte Carlo: the bankroll's risk on the run's own bets</h2>",
        *_mc_section(bundle),
        "<h2>Caveats</h2>",
        *(f'<p class="caveat">{html.escape(c)}</p>' for c in caveats),
        "<h2>Walk-forward schedule</h2>",
        report.table_html(
            _schedule_rows(r),
            ("test", "model trained on", "market stage fit on", "model", "α", "β", "races"),
        )
        if r.get("schedule")
        else '<p class="empty">The run records no schedule.</p>',
        "<h2>Run</h2>",
        report.table_html(_run_rows(run), ("", "")),
    ]
    events = _event_rows(r)
    if events:
        body += ["<h3>Monitor events</h3>", report.table_html(events, ("at", "kind", "tier", ""))]
    return report.page(title, "".join(body))


def write_backtest_report(
    run: BacktestRun,
    path: Path,
    *,
    seasons: int = DEFAULT_SEASONS,
    seed: int = 0,
    kelly_fraction: float | None = None,
    base: MonteCarloParams | None = None,
    progress: Progress | None = None,
) -> Path:
    """Simulate (`run_monte_carlo`), render and write the page atomically; returns `path`."""
    bundle = run_monte_carlo(
        run,
        seasons=seasons,
        seed=seed,
        kelly_fraction=kelly_fraction,
        base=base,
        progress=progress,
    )
    return write_bundle_report(run, path, bundle)


def write_bundle_report(run: BacktestRun, path: Path, bundle: MonteCarloBundle) -> Path:
    """Render and write the page of an already simulated `bundle`."""
    return report.write_report(path, render_backtest_report(run, bundle))
