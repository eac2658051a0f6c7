"""The opening sentence of the reports (keiba.evaluator.answer) in every case a run can end in."""

from __future__ import annotations

from typing import Any

import pytest

from keiba.evaluator.answer import (
    WIDE_INTERVAL_BETS,
    backtest_answer,
    certainty,
    demo_answer,
    outcome,
)
from keiba.evaluator.backtest_metrics import interval_text


def _m(
    bets: int, profit: int, rate: tuple[float, float | None, float | None], **more: Any
) -> dict[str, Any]:
    value, low, high = rate
    return {
        "bets": bets,
        "races_bet": more.pop("races_bet", bets),
        "profit_yen": profit,
        "return_rate": {"value": value, "low": low, "high": high},
        "hit_rate": {"value": more.pop("hits", 0.25), "low": None, "high": None},
        **more,
    }


NO_BETS = {"bets": 0, "profit_yen": 0, "return_rate": {"value": None, "low": None, "high": None}}


def test_outcome_says_made_lost_or_broke_even_with_the_interval() -> None:
    made = _m(400, 12_300, (1.2, 1.05, 1.4))
    assert (
        outcome(made)
        == f"made 12,300 yen on 400 bets (return {interval_text(made['return_rate'])})"
    )
    assert outcome(_m(1, -100, (0.0, 0.0, 0.0))).startswith("lost 100 yen on 1 bet (return 0.0%")
    assert outcome(_m(20, 0, (1.0, 0.5, 1.5))).startswith("broke even on 20 bets")
    assert outcome(NO_BETS) == "placed no bets"
    assert outcome(NO_BETS, "win bet") == "placed no win bets"


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        ((1.2, 1.05, 1.4), "the whole 95% interval lies above break-even"),
        ((0.8, 0.7, 0.9), "the whole 95% interval lies below break-even"),
        ((0.95, 0.8, 1.1), "its 95% interval includes 100%, so this run cannot tell it from"),
        ((1.0, 1.0, 1.0), "its 95% interval includes 100%"),  # touching counts as including
        ((0.9, None, None), "a single race gives no interval"),
    ],
)
def test_certainty_places_the_interval_against_break_even(
    rate: tuple[float, float | None, float | None], expected: str
) -> None:
    text = certainty(_m(WIDE_INTERVAL_BETS, 0, rate))
    assert text.startswith(expected)
    assert "too few" not in text


def test_certainty_flags_few_bets_a_single_race_and_no_win() -> None:
    text = certainty(_m(11, -2_400, (0.0, 0.0, 0.0), hits=0.0))
    assert text == (
        "not one bet won, the whole 95% interval lies below break-even and 11 bets are too "
        "few to rely on"
    )
    one_race = certainty(_m(3, 500, (1.5, 1.5, 1.5), races_bet=1))
    assert one_race.startswith("a single race gives no interval")
    assert certainty(NO_BETS) == ""


def _result(**metrics: dict[str, Any]) -> dict[str, Any]:
    return {"races": 2_595, "metrics": metrics}


def test_backtest_answer_leads_with_themis_then_the_market_and_the_baselines() -> None:
    themis = _m(11, -2_400, (0.0, 0.0, 0.0), hits=0.0)
    favourite = _m(2_595, -60_950, (0.765, 0.719, 0.812))
    top = _m(2_595, -30_140, (0.884, 0.788, 0.999))
    answer = backtest_answer(
        _result(themis=themis, favourite=favourite, top_pick=top, themis_market=NO_BETS)
    )
    assert answer == (
        "Themis (model + market) lost 2,400 yen on 11 bets (return 0.0% [0.0%, 0.0%]) — "
        "not one bet won, the whole 95% interval lies below break-even and 11 bets are too "
        "few to rely on; against the market, Themis on the market's own probabilities placed "
        "no bets; on the same races the favourite at a flat 100 yen lost 60,950 yen on 2,595 "
        "bets (return 76.5% [71.9%, 81.2%]) and the model's top pick at a flat 100 yen lost "
        "30,140 yen on 2,595 bets (return 88.4% [78.8%, 99.9%])."
    )


def test_backtest_answer_when_themis_did_not_bet_or_nobody_did() -> None:
    favourite = _m(500, -9_000, (0.82, 0.7, 0.95))
    answer = backtest_answer(_result(themis=NO_BETS, favourite=favourite))
    assert answer.startswith(
        "Themis (model + market) placed no bets on the 2,595 races replayed; on the same "
        "races the favourite at a flat 100 yen lost 9,000 yen"
    )
    assert "against the market" not in answer  # the run had no such strategy
    assert backtest_answer(_result(themis=NO_BETS, favourite=NO_BETS)) == (
        "No strategy placed a bet on the 2,595 races replayed: nothing was won or lost."
    )
    assert backtest_answer({}) == (
        "No strategy placed a bet on the 0 races replayed: nothing was won or lost."
    )


def test_demo_answer_with_the_delta_r2_against_the_market() -> None:
    money = _m(40, 3_200, (1.1, 0.7, 1.6))
    answer = demo_answer(money, {"delta": 0.0012, "low": -0.0004, "high": 0.0031})
    assert answer.startswith("Themis made 3,200 yen on 40 win bets (return 110.0% [70.0%, 160.0%])")
    assert answer.endswith(
        "against the market, its probabilities' ΔR² is +0.0012 [-0.0004, +0.0031]: the "
        "interval includes 0, no measurable edge over the market."
    )
    assert "they beat the market" in demo_answer(money, {"delta": 0.01, "low": 0.002, "high": 0.02})
    assert "worse than the market" in demo_answer(
        money, {"delta": -0.01, "low": -0.02, "high": -0.002}
    )
    assert demo_answer(NO_BETS, None) == "Themis placed no win bets."
