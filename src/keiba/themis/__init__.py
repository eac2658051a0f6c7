"""Themis: the blind decision engine. Probabilities, odds and a bankroll in; bets out.

It knows no horse names, features, clock or database: `decide` is a pure function of frozen
inputs, so swapping the model never changes it and testing it needs only numbers.
"""

from keiba.themis.decide import Bet, Decision, DecisionError, Rejection, decide
from keiba.themis.sizing import kelly_fraction

__all__ = ["Bet", "Decision", "DecisionError", "Rejection", "decide", "kelly_fraction"]
