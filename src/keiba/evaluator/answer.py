"""The sentence a report opens with: did the strategy make money, against what, and how sure.

A bettor reads the first lines of a report and stops. They must say whether Themis made or
lost money, what it would have made betting the market's own probabilities and the simple
baselines on the same races, and how far the figure can be trusted — the return rate's 95%
race-bootstrap interval (`keiba.evaluator.backtest_metrics`), whether that interval lies above,
below or across break-even, and whether there were too few bets to judge.

`backtest_answer(result)` reads a backtest's result.json (its `metrics`), `demo_answer` the
main job's figures. Both are plain text; the pages escape it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keiba.evaluator.backtest_frames import STRATEGIES
from keiba.evaluator.backtest_metrics import interval_text

__all__ = [
    "WIDE_INTERVAL_BETS",
    "backtest_answer",
    "certainty",
    "demo_answer",
    "outcome",
]

WIDE_INTERVAL_BETS = 300
"""Fewer bets than this: too few to rely on (the return rate's interval is wide)."""

_SUBJECTS = {
    "themis": "Themis (model + market)",
    "themis_market": "Themis on the market's own probabilities",
    "favourite": "the favourite at a flat 100 yen",
    "top_pick": "the model's top pick at a flat 100 yen",
}
_BASELINES = ("favourite", "top_pick")


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _listing(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)


def outcome(metrics: Mapping[str, Any], bet_word: str = "bet") -> str:
    """'lost 2,400 yen on 11 bets (return 0.0% [0.0%, 0.0%])', or 'placed no bets'."""
    bets = int(metrics.get("bets") or 0)
    if not bets:
        return f"placed no {bet_word}s"
    profit = int(metrics.get("profit_yen") or 0)
    if profit > 0:
        money = f"made {profit:,} yen"
    elif profit < 0:
        money = f"lost {-profit:,} yen"
    else:
        money = "broke even"
    rate = interval_text(metrics.get("return_rate"))
    return f"{money} on {_plural(bets, bet_word)} (return {rate})"


def certainty(metrics: Mapping[str, Any]) -> str:
    """How far the return rate can be trusted, in words ('' when nothing was bet)."""
    bets = int(metrics.get("bets") or 0)
    if not bets:
        return ""
    rate = metrics.get("return_rate") or {}
    low, high = rate.get("low"), rate.get("high")
    hits = (metrics.get("hit_rate") or {}).get("value")
    notes = []
    if hits == 0:
        notes.append("not one bet won")
    if low is None or high is None or int(metrics.get("races_bet") or 0) < 2:
        notes.append("a single race gives no interval")
    elif low > 1.0:
        notes.append("the whole 95% interval lies above break-even")
    elif high < 1.0:
        notes.append("the whole 95% interval lies below break-even")
    else:
        notes.append("its 95% interval includes 100%, so this run cannot tell it from break-even")
    if bets < WIDE_INTERVAL_BETS:
        notes.append(f"{_plural(bets, 'bet')} are too few to rely on")
    return _listing(notes)


def _subject(key: str, metrics: Mapping[str, Any]) -> str:
    return _SUBJECTS.get(key) or str(metrics.get("label") or STRATEGIES.get(key, key))


def backtest_answer(result: Mapping[str, Any]) -> str:
    """One sentence: Themis' money and certainty, then the market and the baselines."""
    metrics: Mapping[str, Mapping[str, Any]] = result.get("metrics") or {}
    races = int(result.get("races") or 0)
    if not any(int((m or {}).get("bets") or 0) for m in metrics.values()):
        return f"No strategy placed a bet on the {races:,} races replayed: nothing was won or lost."
    themis = metrics.get("themis") or {}
    head = f"{_subject('themis', themis)} {outcome(themis)}"
    sure = certainty(themis)
    head += f" — {sure}" if sure else f" on the {races:,} races replayed"
    market = metrics.get("themis_market")
    parts = [head]
    if market is not None:
        parts.append(f"against the market, {_subject('themis_market', market)} {outcome(market)}")
    others = [k for k in metrics if k not in ("themis", "themis_market")]
    ordered = [k for k in _BASELINES if k in others] + [k for k in others if k not in _BASELINES]
    baselines = [f"{_subject(k, metrics[k] or {})} {outcome(metrics[k] or {})}" for k in ordered]
    if baselines:
        parts.append(f"on the same races {_listing(baselines)}")
    return "; ".join(parts) + "."


def demo_answer(money: Mapping[str, Any], delta_r2: Mapping[str, Any] | None) -> str:
    """The main job's answer: Themis' win bets at the final odds, then the probabilities'
    ΔR² against the market's own with its interval (`delta`, `low`, `high`)."""
    head = f"Themis {outcome(money, 'win bet')}"
    sure = certainty(money)
    if sure:
        head += f" — {sure}"
    if not delta_r2 or delta_r2.get("delta") is None:
        return head + "."
    delta, low, high = delta_r2["delta"], delta_r2.get("low"), delta_r2.get("high")
    text = f"against the market, its probabilities' ΔR² is {delta:+.4f}"
    if low is None or high is None:
        return f"{head}; {text}."
    text += f" [{low:+.4f}, {high:+.4f}]"
    if low > 0:
        text += ": they beat the market's own probabilities on these races"
    elif high < 0:
        text += ": they are worse than the market's own probabilities"
    else:
        text += ": the interval includes 0, no measurable edge over the market"
    return f"{head}; {text}."
