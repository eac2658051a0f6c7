"""`keiba model tune`: a seeded search on walk-forward folds, each trial a nested MLflow run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from feature_engineering.synthetic import make_world, warehouse_of
from keiba.app.tuning import SEARCH_SPACE, search, write_model_params
from keiba.common.config import BacktestConfig, ModelConfig, load_config
from keiba.common.errors import ConfigError
from keiba.feature_engineering import build_features
from keiba.model_training.tracking import tracking_of


@pytest.mark.slow
def test_three_trials_twice_give_the_same_best_and_every_trial_is_logged(tmp_path: Path) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    frames = make_world(seed=11, n_days=60, start=dt.date(2020, 10, 3), races_per_venue=4)
    tracking = tracking_of(tmp_path, None, "tune-test")
    small = ModelConfig(num_boost_round=15)
    # leaves of up to 500 rows leave nothing to split in so small a world
    space = {**SEARCH_SPACE, "min_data_in_leaf": ("int_log", 5, 60)}
    with warehouse_of(frames) as warehouse:
        build_features(warehouse)
        first, second = (
            search(
                warehouse, [2021], small, BacktestConfig(), tracking, trials=3, seed=4, space=space
            )
            for _ in range(2)
        )
    assert [t["params"] for t in first["trials"]] == [t["params"] for t in second["trials"]]
    assert first["best"] == second["best"]
    assert len({str(t["params"]) for t in first["trials"]}) == 3  # three different points
    losses = [t["scores"]["model_log_loss"] for t in first["trials"]]
    assert first["best"]["scores"]["model_log_loss"] == min(losses)
    for t in first["trials"]:
        for name, (_, low, high) in space.items():
            assert low <= t["params"][name] <= high

    mlflow.set_tracking_uri(tracking.uri)
    client = MlflowClient(tracking_uri=tracking.uri)
    experiment = client.get_experiment_by_name("tune-test")
    assert experiment is not None
    parent = first["mlflow"]["run_id"]
    children = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent}'"
    )
    assert sorted(r.data.params["trial"] for r in children) == ["0", "1", "2"]
    for run in children:
        number = int(run.data.params["trial"])
        assert run.data.metrics["model_log_loss"] == pytest.approx(losses[number])
    best = client.get_run(parent).data
    assert best.metrics["best_model_log_loss"] == pytest.approx(min(losses))


def test_the_best_parameters_are_merged_into_the_config_train_reads(tmp_path: Path) -> None:
    home = tmp_path / "home"
    config_file = home / "keiba.yaml"
    home.mkdir()
    config_file.write_text("model:\n  seed: 3\nthemis:\n  kelly_fraction: 0.1\n", "utf-8")
    best = {"learning_rate": 0.07, "num_leaves": 15, "min_data_in_leaf": 80}
    write_model_params(config_file, best)
    config = load_config(None, home)
    assert (config.model.learning_rate, config.model.num_leaves) == (0.07, 15)
    assert config.model.min_data_in_leaf == 80 and config.model.seed == 3
    assert config.themis.kelly_fraction == 0.1
    config_file.write_text("- not a mapping\n", "utf-8")
    with pytest.raises(ConfigError, match="does not hold a mapping"):
        write_model_params(config_file, best)
    assert yaml.safe_load(config_file.read_text("utf-8")) == ["not a mapping"]
