"""Race probabilities for decisions: the model's over the starters, then the market stage.

`race_probabilities` is what every decision path uses (the demo, the backtest, the race day):
`p_model` from the one source (`keiba.model_training.starters.model_probabilities`) and
`p_combined` from the model's market stage (Benter's combination with the market's de-vigged
probabilities `p_market`, which the starters must carry: the model alone where a race has no
complete market).
"""

from __future__ import annotations

import polars as pl

from keiba.common.errors import KeibaError
from keiba.common.storage.warehouse import Warehouse
from keiba.model_training import TrainedModel
from keiba.model_training.combination import MarketCombination
from keiba.model_training.starters import Priced, model_probabilities

__all__ = ["Priced", "race_probabilities"]


def race_probabilities(
    model: TrainedModel,
    combination: MarketCombination,
    warehouse: Warehouse,
    starters: pl.DataFrame,
) -> Priced:
    """`model_probabilities` plus `p_combined`; stale and unpriced races keep null `p_model`.

    A model boosted from the market adds the starters' own `p_market` to its scores: the market
    at decision time, the one the market stage combines."""
    if "p_market" not in starters.columns:
        raise KeibaError("the starters carry no market probabilities (p_market)")
    priced = model_probabilities(model, warehouse, starters)
    return Priced(
        priced.frame.with_columns(combination.apply(priced.frame)),
        priced.stale_races,
        priced.unpriced_races,
    )
