"""`keiba model tune`: a seeded search on walk-forward folds, each trial a nested MLflow run."""

from __future__ import annotations

import datetime as dt
import os
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


def test_writing_the_best_parameters_keeps_the_file_s_comments_order_and_mode(
    tmp_path: Path,
) -> None:
    config_file = tmp_path / "keiba.yaml"
    original = (
        "# my racing home\n"
        "themis:\n"
        "  kelly_fraction: 0.1  # a quarter was too much for me\n"
        "model:\n"
        "  seed: 3\n"
        "  learning_rate: 0.05  # the old one\n"
    )
    config_file.write_text(original, "utf-8")
    config_file.chmod(0o640)
    write_model_params(config_file, {"learning_rate": 0.07, "num_leaves": 15})
    text = config_file.read_text("utf-8")
    assert text.startswith("# my racing home\nthemis:\n  kelly_fraction: 0.1  # a quarter")
    assert "learning_rate: 0.07  # the old one" in text
    assert yaml.safe_load(text) == {
        "themis": {"kelly_fraction": 0.1},
        "model": {"seed": 3, "learning_rate": 0.07, "num_leaves": 15},
    }
    assert config_file.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["keiba.yaml"]  # no file left beside it


def test_a_config_file_that_cannot_be_replaced_is_left_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file = tmp_path / "keiba.yaml"
    config_file.write_text("model:\n  seed: 3\n", "utf-8")

    def full_disk(source: str, target: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(ConfigError, match=r"cannot write .*No space left"):
        write_model_params(config_file, {"num_leaves": 15})
    assert config_file.read_text("utf-8") == "model:\n  seed: 3\n"
    assert [p.name for p in tmp_path.iterdir()] == ["keiba.yaml"]
