"""The fundamental model: LightGBM with a per-race softmax objective, and its artefacts.

Importing this package does not import LightGBM (that happens when a model is trained or
loaded), so the CLI stays fast.
"""

from keiba.model_training.artifacts import load_model, save_model
from keiba.model_training.model import TrainedModel, predict_proba, train_model, training_frame
from keiba.model_training.objective import winner_log_loss

__all__ = [
    "TrainedModel",
    "load_model",
    "predict_proba",
    "save_model",
    "train_model",
    "training_frame",
    "winner_log_loss",
]
