"""Win probabilities for upcoming (or past) races from a trained model version."""

from keiba.predictor.predict import PREDICTION_COLUMNS, predict_races

__all__ = ["PREDICTION_COLUMNS", "predict_races"]
