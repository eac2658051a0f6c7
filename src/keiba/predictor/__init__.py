"""Win probabilities for upcoming (or past) races from a trained model version."""

from keiba.predictor.predict import (
    PREDICTION_COLUMNS,
    PREDICTIONS_TABLE,
    STORED_PREDICTION_COLUMNS,
    predict_races,
    with_market_stage,
    write_predictions,
)

__all__ = [
    "PREDICTIONS_TABLE",
    "PREDICTION_COLUMNS",
    "STORED_PREDICTION_COLUMNS",
    "predict_races",
    "with_market_stage",
    "write_predictions",
]
