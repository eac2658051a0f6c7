"""The cloud profile on emulators: import → features → train → evaluate → predict → backtest
with the warehouse on BigQuery and the object store on Cloud Storage, against the embedded
profile on the same data.

The features agree to 1e-6, not to the bit: BigQuery averages exact decimals as NUMERIC (nine
decimals) where DuckDB averages them as doubles. A model trained on slightly different floats
is another model version, so the model's own figures are compared only for being there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from cli_runner import keiba

from feature_engineering.synthetic import make_world
from keiba.common.config import load_config
from keiba.common.storage.bigquery import bigquery_client, bigquery_dataset_id
from keiba.common.storage.datasets import open_dataset
from keiba.data_collector.canonical import write_canonical

SMALL_MODEL = {
    "KEIBA_MODEL__NUM_BOOST_ROUND": "15",
    "KEIBA_MODEL__NUM_LEAVES": "7",
    "KEIBA_MODEL__MIN_DATA_IN_LEAF": "20",
    "KEIBA_MODEL__LEARNING_RATE": "0.1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
}


def _ok(home: Path, *args: str) -> Any:
    result = keiba(home, *args, "--json", env=SMALL_MODEL)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _features(home: Path) -> pl.DataFrame:
    config = load_config(None, home)
    with open_dataset(config, "sim", must_exist=True) as warehouse:
        return warehouse.query("SELECT * FROM features ORDER BY race_id, horse_no")


def _pipeline(home: Path, world: Path) -> dict[str, Any]:
    imported = _ok(home, "data", "import", str(world), "--dataset", "sim")
    trained = _ok(home, "model", "train", "--dataset", "sim")
    version = trained["model_version"]
    evaluated = _ok(
        home, "model", "evaluate", "--dataset", "sim", "--model", version, "--resamples", "50"
    )
    predicted = _ok(
        home, "model", "predict", "--dataset", "sim", "--from", evaluated["test_period"][0]
    )
    first, last = evaluated["test_period"]
    backtest = _ok(
        home, "backtest", "run", "--dataset", "sim", "--from", first, "--to", last, "--no-report"
    )
    return {
        "import": imported,
        "train": trained,
        "evaluate": evaluated,
        "predict": predicted,
        "backtest": backtest,
    }


@pytest.mark.slow
def test_the_cloud_profile_gives_the_embedded_figures(
    tmp_path: Path, bq_emulator_url: str, gcs_emulator_url: str, gcs_root: str
) -> None:
    world = tmp_path / "world"
    write_canonical(make_world(seed=5, n_days=24), world)
    embedded, cloud = tmp_path / "embedded", tmp_path / "cloud"
    cloud.mkdir()
    storage = {
        "warehouse": "bigquery",
        "bigquery_project": "keiba-test",
        "bigquery_endpoint": bq_emulator_url,
        "bigquery_dataset_prefix": f"k{tmp_path.name[-8:].replace('-', '_')}_",
        "object_store_url": gcs_root,
    }
    (cloud / "keiba.yaml").write_text(yaml.safe_dump({"storage": storage}))

    local, remote = _pipeline(embedded, world), _pipeline(cloud, world)

    assert remote["import"][0]["rows_written"] == local["import"][0]["rows_written"]
    assert not (cloud / "warehouse").exists() and not (cloud / "objects").exists()
    client = bigquery_client("keiba-test", endpoint=bq_emulator_url)
    races = client.get_table(
        f"keiba-test.{bigquery_dataset_id('sim', storage['bigquery_dataset_prefix'])}.races"
    )
    assert races.time_partitioning.field == "race_date"
    assert remote["train"]["periods"] == local["train"]["periods"]
    local_features, remote_features = _features(embedded), _features(cloud)
    assert local_features.columns == remote_features.columns
    for column in local_features.columns:
        mine, theirs = local_features[column], remote_features[column]
        if mine.dtype.is_float():
            assert (mine.is_null() == theirs.is_null()).all(), column
            assert ((mine - theirs).abs().max() or 0.0) < 1e-6, column
        else:
            assert mine.equals(theirs), column
    scores = remote["evaluate"]["scores"]
    assert scores["p_market"] == local["evaluate"]["scores"]["p_market"]
    assert 0 < scores["p_model"]["pseudo_r2"] < 1 and 0 < scores["p_combined"]["pseudo_r2"] < 1
    assert remote["predict"]["rows"] == local["predict"]["rows"] > 0
    assert remote["backtest"]["races"] == local["backtest"]["races"] > 0
    assert "BigQuery dataset keiba-test." in remote["backtest"]["data_source"]
    status = _ok(cloud, "data", "status")
    assert status["warehouse_dir"] == "BigQuery project keiba-test"
    assert [(d["name"], d["races"]) for d in status["datasets"]] == [("sim", 288)]
    refused = keiba(cloud, "data", "drop", "sim", "--yes")
    assert refused.returncode == 1 and "bq rm -r" in refused.stderr
    again = _ok(cloud, "data", "import", str(world), "--dataset", "sim")
    assert again[0]["unchanged"]["races"] == 288 and not any(again[0]["rows_written"].values())
