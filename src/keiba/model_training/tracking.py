"""MLflow tracking of training and evaluation runs.

By default runs go to a local store under the home directory (`sqlite:///<home>/mlflow/mlflow.db`
with artefacts in `<home>/mlflow/artifacts`); `model.tracking_uri` (or `--tracking-uri`) points
at a tracking server instead. MLflow is imported inside the functions: importing this module
costs nothing.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keiba.common.errors import KeibaError

if TYPE_CHECKING:
    from keiba.model_training.model import TrainedModel

__all__ = ["TrackedRun", "Tracking", "add_to_run", "log_run", "tracking_of"]


@dataclass(frozen=True)
class Tracking:
    """Where runs are tracked: the URI, the experiment, and (local store only) the artefact root."""

    uri: str
    experiment: str
    artifact_location: str | None = None


@dataclass(frozen=True)
class TrackedRun:
    run_id: str
    experiment_id: str
    tracking_uri: str
    model_uri: str | None


def tracking_of(home: Path, tracking_uri: str | None, experiment: str) -> Tracking:
    """The tracking target: `tracking_uri` if given, else the local store under `home`."""
    if tracking_uri:
        return Tracking(tracking_uri, experiment)
    root = (home / "mlflow").resolve()
    root.mkdir(parents=True, exist_ok=True)
    return Tracking(f"sqlite:///{root / 'mlflow.db'}", experiment, (root / "artifacts").as_uri())


def _pip_requirements() -> list[str]:
    names = ("lightgbm", "numpy", "scikit-learn", "scipy", "mlflow")
    pins = []
    for name in names:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return pins


def _experiment_id(client: Any, tracking: Tracking) -> str:
    found = client.get_experiment_by_name(tracking.experiment)
    if found is not None:
        return str(found.experiment_id)
    return str(
        client.create_experiment(tracking.experiment, artifact_location=tracking.artifact_location)
    )


def _clean(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:6000]


def log_run(
    tracking: Tracking,
    *,
    run_name: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    tags: Mapping[str, str] | None = None,
    dicts: Mapping[str, Any] | None = None,
    figures: Mapping[str, Any] | None = None,
    model: TrainedModel | None = None,
) -> TrackedRun:
    """Log one finished run: parameters, metrics, JSON artefacts, figures and the model.

    Any MLflow failure (an unreachable server, a rejected name) is a `KeibaError`.
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    with warnings.catch_warnings():
        # MLflow warns about its own internals on import (type hints, deprecations): noise.
        warnings.filterwarnings("ignore", module=r"mlflow(\.|$)")
        import mlflow
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        try:
            mlflow.set_tracking_uri(tracking.uri)
            client = MlflowClient(tracking_uri=tracking.uri)
            experiment_id = _experiment_id(client, tracking)
            model_uri: str | None = None
            with mlflow.start_run(
                experiment_id=experiment_id, run_name=run_name, tags=dict(tags or {})
            ) as run:
                mlflow.log_params({k: _clean(v) for k, v in params.items()})
                finite = {k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}
                if finite:
                    mlflow.log_metrics(finite)
                for name, data in (dicts or {}).items():
                    mlflow.log_dict(data, name)
                for name, figure in (figures or {}).items():
                    mlflow.log_figure(figure, name)
                    import matplotlib.pyplot as plt

                    plt.close(figure)
                if model is not None:
                    import mlflow.lightgbm

                    info = mlflow.lightgbm.log_model(
                        model.booster, name="model", pip_requirements=_pip_requirements()
                    )
                    model_uri = str(info.model_uri)
            return TrackedRun(run.info.run_id, experiment_id, tracking.uri, model_uri)
        except (MlflowException, OSError) as e:
            raise KeibaError(f"MLflow tracking at {tracking.uri} failed: {e}") from e


def add_to_run(
    tracking: Tracking,
    run_id: str,
    *,
    params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float] | None = None,
    dicts: Mapping[str, Any] | None = None,
) -> None:
    """Log more parameters, metrics and JSON artefacts to a finished run (a search's parent run
    gets its best trial once every trial is logged). MLflow failures are a `KeibaError`."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"mlflow(\.|$)")
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        try:
            client = MlflowClient(tracking_uri=tracking.uri)
            for key, value in (params or {}).items():
                client.log_param(run_id, key, _clean(value))
            for key, value in (metrics or {}).items():
                if math.isfinite(float(value)):
                    client.log_metric(run_id, key, float(value))
            for name, data in (dicts or {}).items():
                client.log_dict(run_id, data, name)
        except (MlflowException, OSError) as e:
            raise KeibaError(f"MLflow tracking at {tracking.uri} failed: {e}") from e
