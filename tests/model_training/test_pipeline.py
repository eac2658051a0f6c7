"""Training both stages, storing them, and tracking the run on a real MLflow server."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dataset_frames import with_truth
from feature_engineering.synthetic import make_world, warehouse_of
from keiba.common.config import KeibaConfig, load_config
from keiba.common.errors import KeibaError
from keiba.common.storage import DuckDBWarehouse, FsspecObjectStore
from keiba.evaluator.evaluation import evaluate_frame
from keiba.model_training import predict_proba, training_frame
from keiba.model_training.pipeline import (
    check_model_dataset,
    default_test_period,
    evaluate_version,
    latest_version,
    load_stored_model,
    plan_periods,
    train_and_store,
)


@pytest.fixture(scope="module")
def warehouse() -> Iterator[DuckDBWarehouse]:
    w = warehouse_of(make_world(seed=5, n_days=24))
    yield w
    w.close()


def config_for(home: Path) -> KeibaConfig:
    return load_config(
        None,
        home,
        {
            "model": {
                "num_boost_round": 30,
                "learning_rate": 0.1,
                "num_leaves": 7,
                "min_data_in_leaf": 20,
            }
        },
    )


def test_default_periods_split_race_days_half_quarter_quarter(warehouse: DuckDBWarehouse) -> None:
    days = sorted(warehouse.query("SELECT DISTINCT race_date FROM races")["race_date"])
    p = plan_periods(warehouse)
    assert (p.train_from, p.train_to, p.combine_from, p.combine_to) == (
        days[0],
        days[11],
        days[12],
        days[17],
    )
    assert p.train_from < p.valid_from <= p.train_to
    explicit = plan_periods(warehouse, train_to=days[9], combine_to=days[15])
    assert (explicit.combine_from, explicit.combine_to) == (days[10], days[15])
    with pytest.raises(KeibaError, match="ordered"):
        plan_periods(warehouse, train_to=days[12], combine_from=days[12])


def test_training_run_is_tracked_on_a_server_and_the_model_round_trips(
    warehouse: DuckDBWarehouse, mlflow_server: str, tmp_path: Path, tiny_world
) -> None:
    import mlflow.lightgbm
    from mlflow.tracking import MlflowClient

    config = config_for(tmp_path)
    store = FsspecObjectStore(str(tmp_path / "objects"))
    periods = plan_periods(warehouse)
    result = train_and_store(
        config,
        warehouse,
        store,
        periods,
        evaluate=evaluate_frame,
        tracking_uri=mlflow_server,
        rebuild_features=True,
    )
    version = result.stored.model.version
    assert latest_version(store) == version
    assert result.run.tracking_uri == mlflow_server

    client = MlflowClient(tracking_uri=mlflow_server)
    run = client.get_run(result.run.run_id)
    params, metrics = run.data.params, run.data.metrics
    assert params["feature_version"] == result.stored.model.feature_version
    assert params["train_from"] == periods.train_from.isoformat()
    assert params["combine_to"] == periods.combine_to.isoformat()
    assert params["lgb_num_boost_round"] == "30"
    assert run.data.tags["keiba.model_version"] == version
    trained_on = {"name": "memory", "kind": "real"}  # the in-memory warehouse's dataset
    assert result.to_dict()["dataset"] == trained_on
    assert (run.data.tags["keiba.dataset"], run.data.tags["keiba.dataset_kind"]) == (
        "memory",
        "real",
    )
    assert (params["dataset"], params["dataset_kind"]) == ("memory", "real")
    assert json.loads(store.get(f"models/{version}/meta.json"))["dataset"] == trained_on
    for name in (
        "valid_pseudo_r2",
        "combination_alpha",
        "combine_delta_r2_combined",
        "combine_market_pseudo_r2",
        "combine_top_pick_win_rate_favourite",
    ):
        assert np.isfinite(metrics[name]), name
    assert all("@" not in name for name in metrics)
    artifacts = {a.path for a in client.list_artifacts(result.run.run_id)}
    assert {"combine_calibration.png", "combine_evaluation.json", "combination.json"} <= artifacts

    # The model logged to MLflow predicts exactly what the stored one does.
    stored = load_stored_model(store, version)
    assert stored.combination == result.stored.combination
    assert stored.training["mlflow_run_id"] == result.run.run_id
    mlflow.set_tracking_uri(mlflow_server)
    booster = mlflow.lightgbm.load_model(result.run.model_uri)
    frame = training_frame(warehouse, periods.combine_from, periods.combine_to)
    x = frame.select(stored.model.feature_names).to_numpy()
    np.testing.assert_allclose(booster.predict(x), stored.model.booster.predict(x))
    assert np.allclose(
        predict_proba(stored.model, frame), predict_proba(result.stored.model, frame)
    )

    # Evaluating on the test period logs a second run with the test metrics and the plot.
    first, last = default_test_period(warehouse, stored)
    assert first > periods.combine_to
    evaluated = evaluate_version(
        config,
        warehouse,
        stored,
        first,
        last,
        evaluate=evaluate_frame,
        tracking_uri=mlflow_server,
        resamples=50,
    )
    assert evaluated["races"] > 20
    test_run = client.get_run(evaluated["mlflow"]["run_id"])
    assert test_run.data.metrics["test_delta_r2_combined"] == pytest.approx(
        evaluated["delta_r2_vs_market"]["p_combined"]["delta"]
    )
    assert test_run.data.tags["keiba.training_run"] == result.run.run_id
    assert {"calibration.png", "evaluation.json"} <= {
        a.path for a in client.list_artifacts(test_run.info.run_id)
    }
    with pytest.raises(KeibaError, match="after the model's combination period"):
        evaluate_version(
            config,
            warehouse,
            stored,
            periods.combine_to,
            last,
            evaluate=evaluate_frame,
            track=False,
        )

    # A model is used only on races of the kind it was trained on.
    assert stored.dataset == trained_on and evaluated["dataset"] == trained_on
    with DuckDBWarehouse(None) as simulated:
        simulated.load(with_truth(tiny_world))
        with pytest.raises(KeibaError, match=r"trained on real races .* holds simulated races"):
            evaluate_version(
                config, simulated, stored, first, last, evaluate=evaluate_frame, track=False
            )
        with pytest.raises(KeibaError, match="trained on real races"):
            check_model_dataset(stored, simulated)
    older = dataclasses.replace(
        stored, training={k: v for k, v in stored.training.items() if k != "dataset"}
    )
    with pytest.raises(KeibaError, match="does not record whether it was trained on real or"):
        check_model_dataset(older, warehouse)


def test_a_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    store = FsspecObjectStore(str(tmp_path))
    with pytest.raises(KeibaError, match="keiba model train"):
        load_stored_model(store)
    with pytest.raises(KeibaError, match="not in the object store"):
        load_stored_model(store, "fm-000000000000")


def test_an_unreachable_tracking_server_is_a_keiba_error(
    warehouse: DuckDBWarehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keiba.model_training.tracking import log_run, tracking_of

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    with socket_port() as port:
        tracking = tracking_of(tmp_path, f"http://127.0.0.1:{port}", "keiba")
        with pytest.raises(KeibaError, match="MLflow tracking"):
            log_run(tracking, run_name="x", params={}, metrics={})


def socket_port() -> _ClosedPort:
    return _ClosedPort()


class _ClosedPort:
    """A loopback port nobody listens on."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        return None


def test_default_tracking_is_a_local_store_under_home(tmp_path: Path) -> None:
    from keiba.model_training.tracking import tracking_of

    t = tracking_of(tmp_path, None, "keiba")
    assert t.uri == f"sqlite:///{(tmp_path / 'mlflow' / 'mlflow.db').resolve()}"
    assert t.artifact_location == (tmp_path / "mlflow" / "artifacts").resolve().as_uri()
    assert tracking_of(tmp_path, "http://127.0.0.1:1", "e").artifact_location is None
    _ = dt
