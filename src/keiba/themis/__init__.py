"""Themis: the blind decision engine. Probabilities, odds and a bankroll in; bets out.

It knows no horse names, features, clock or database: `decide` is a pure function of frozen
inputs, so swapping the model never changes it and testing it needs only numbers. See
docs/themis.md for the policy, the sizing rules and the reasons a quote is rejected.
"""

from keiba.themis.decide import Bet, Decision, Rejection, decide
from keiba.themis.exotics import FinishOrders, combination_probabilities, finish_orders
from keiba.themis.inputs import Bankroll, DecisionError, Quote
from keiba.themis.joint import warm_up
from keiba.themis.rules import Reason
from keiba.themis.sizing import (
    expected_return,
    isaacs_expected_profit,
    isaacs_stake,
    joint_kelly,
    kelly_fraction,
    simultaneous_kelly,
)

__all__ = [
    "Bankroll",
    "Bet",
    "Decision",
    "DecisionError",
    "FinishOrders",
    "Quote",
    "Reason",
    "Rejection",
    "combination_probabilities",
    "decide",
    "expected_return",
    "finish_orders",
    "isaacs_expected_profit",
    "isaacs_stake",
    "joint_kelly",
    "kelly_fraction",
    "simultaneous_kelly",
    "warm_up",
]
