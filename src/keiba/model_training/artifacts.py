"""Model artefacts in the object store: `models/<version>/model.txt` and `meta.json`.

The model text is LightGBM's own format (trees of the best iteration only); `meta.json` holds
everything else a `TrainedModel` carries (with the offset of a model boosted from the market,
which is part of its version hash), and the dataset (name and kind) it was trained on.
Loading checks that the text still hashes to the version it is stored under, so a corrupted or
swapped artefact is refused, not used.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from keiba.common.errors import KeibaError, StorageError
from keiba.common.storage.object_store import ObjectStore
from keiba.model_training.model import SOFTMAX_OBJECTIVE, TrainedModel, model_version

__all__ = ["MODELS_PREFIX", "load_model", "model_prefix", "save_model"]

MODELS_PREFIX = "models"
_FORMAT = 1


def model_prefix(version: str) -> str:
    """The object-store key prefix of a model version."""
    if not version or "/" in version or version in (".", ".."):
        raise KeibaError(f"invalid model version {version!r}")
    return f"{MODELS_PREFIX}/{version}"


def save_model(
    model: TrainedModel, store: ObjectStore, *, dataset: Mapping[str, str | None] | None = None
) -> str:
    """Write model.txt, then meta.json (its presence marks a complete artefact); returns prefix.

    `dataset` ({"name": …, "kind": …}) records the data the model was trained on."""
    prefix = model_prefix(model.version)
    text = model.booster.model_to_string()
    if model_version(text, model.feature_version, model.offset) != model.version:
        raise KeibaError(f"model {model.version} does not match its booster; refusing to save")
    meta: dict[str, Any] = {
        "format": _FORMAT,
        "version": model.version,
        "feature_names": list(model.feature_names),
        "feature_version": model.feature_version,
        "trained_from": model.trained_from.isoformat(),
        "trained_to": model.trained_to.isoformat(),
        "best_iteration": model.best_iteration,
        "metrics": model.metrics,
        "objective": model.objective,
    }
    if model.offset is not None:
        meta["offset"] = model.offset
    if dataset is not None:
        meta["dataset"] = dict(dataset)
    store.put(f"{prefix}/model.txt", text.encode())
    store.put(f"{prefix}/meta.json", json.dumps(meta, indent=2, sort_keys=True).encode())
    return prefix


def load_model(store: ObjectStore, version: str) -> TrainedModel:
    """Load a saved model version; raises KeibaError if it is missing or does not verify."""
    import lightgbm as lgb

    prefix = model_prefix(version)
    try:
        meta = json.loads(store.get(f"{prefix}/meta.json"))
        text = store.get(f"{prefix}/model.txt").decode()
    except StorageError as e:
        raise KeibaError(f"model {version} is not in the object store ({e})") from e
    offset = meta.get("offset")
    if meta.get("version") != version or (
        model_version(text, meta["feature_version"], offset) != version
    ):
        raise KeibaError(f"model {version} in the object store does not match its version hash")
    booster = lgb.Booster(model_str=text)
    if list(meta["feature_names"]) != booster.feature_name():
        # the names are in the (hashed) model text: among them the market columns of a model
        # reading the market, which must never be priced without them
        raise KeibaError(f"model {version}: meta.json's feature names are not the model's")
    return TrainedModel(
        version=version,
        booster=booster,
        feature_names=tuple(meta["feature_names"]),
        feature_version=meta["feature_version"],
        trained_from=dt.date.fromisoformat(meta["trained_from"]),
        trained_to=dt.date.fromisoformat(meta["trained_to"]),
        best_iteration=int(meta["best_iteration"]),
        metrics={str(k): float(v) for k, v in meta["metrics"].items()},
        objective=str(meta.get("objective", SOFTMAX_OBJECTIVE)),
        offset=None if offset is None else str(offset),
    )
