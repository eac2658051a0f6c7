"""The Python API (keiba.api, re-exported lazily by `keiba`) and its documentation.

A tiny world of three races — two at Nakayama on 2020-01-05 and 2020-01-12, one at Kyoto on
2020-01-05 — is loaded into a temporary home; backtest runs are the synthetic run directories of
tests/evaluator/test_backtest_report.py. docs/python-api.md's example runs on the 2018 sample.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest

import keiba
from contract_frames import contract_frame
from keiba import api
from keiba.common.clock import FixedClock
from keiba.common.config import load_config
from keiba.common.ids import Venue
from keiba.common.schema import table
from keiba.common.storage import DuckDBWarehouse
from keiba.evaluator.backtest_frames import BETS_SCHEMA

sys.path.insert(0, str(Path(__file__).resolve().parent / "evaluator"))
make_run: Callable[..., Path] = importlib.import_module("test_backtest_report").make_run

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "python-api.md"
SAMPLE = ROOT / "src" / "keiba" / "sample_data" / "jra2018"
JST = "Asia/Tokyo"

NAKAYAMA_1, KYOTO_1, NAKAYAMA_2 = "2020010506010101", "2020010508010101", "2020011206010201"


def _race(race_id: str, field_size: int) -> dict[str, Any]:
    day = dt.date(int(race_id[:4]), int(race_id[4:6]), int(race_id[6:8]))
    return {
        "race_id": race_id,
        "netkeiba_race_id": race_id[:4] + race_id[8:],
        "race_date": day,
        "venue_code": int(race_id[8:10]),
        "meeting": int(race_id[10:12]),
        "meeting_day": int(race_id[12:14]),
        "race_no": int(race_id[14:]),
        "post_time": dt.datetime(day.year, day.month, day.day, 1, 5, tzinfo=dt.UTC),
        "race_name": f"{race_id[8:10]} 3歳未勝利",
        "race_class": "未勝利",
        "surface": "dirt",
        "distance_m": 1200,
        "going": "良",
        "field_size": field_size,
        "source": "test",
        "ingested_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
    }


def _runner(race_id: str, horse_no: int, pos: int | None, odds: float | None) -> dict[str, Any]:
    return {
        "race_id": race_id,
        "horse_no": horse_no,
        "frame_no": horse_no,
        "horse_name": f"馬{race_id[8:10]}-{horse_no}",
        "jockey_name": f"騎手{horse_no}",
        "trainer_name": f"調教師{horse_no}",
        "status": "finished" if pos is not None else "scratched",
        "finish_pos": pos,
        "demoted": False,
        "win_odds_final": odds,
        "popularity": horse_no if odds is not None else None,
    }


WORLD = {
    "races": [_race(NAKAYAMA_1, 3), _race(KYOTO_1, 2), _race(NAKAYAMA_2, 2)],
    "runners": [
        _runner(NAKAYAMA_1, 1, 2, 2.0),
        _runner(NAKAYAMA_1, 2, 1, 3.0),
        _runner(NAKAYAMA_1, 3, None, None),
        _runner(KYOTO_1, 1, 1, 1.5),
        _runner(KYOTO_1, 2, 2, 2.5),
        _runner(NAKAYAMA_2, 1, 1, 1.8),
        _runner(NAKAYAMA_2, 2, 2, 2.2),
    ],
}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    with DuckDBWarehouse(load_config(home=tmp_path).duckdb_path) as warehouse:
        warehouse.load({name: contract_frame(table(name), rows) for name, rows in WORLD.items()})
    return tmp_path


def _store_predictions(home: Path, versions: dict[str, list[str]]) -> None:
    """Predictions of each model version for the starters of its races, by the real writer."""
    from keiba.predictor.predict import STORED_PREDICTION_COLUMNS, write_predictions

    starters = [r for r in WORLD["runners"] if r["finish_pos"] is not None]
    rows = [
        {
            "race_id": r["race_id"],
            "horse_no": r["horse_no"],
            "p_model": 0.25 + 0.25 * (r["horse_no"] == 1) + 0.1 * i,
            "p_market": 1 / r["win_odds_final"],
            "p_combined": 0.5,
            "model_version": version,
            "feature_version": "v1",
            "as_of": dt.datetime(2020, 1, 4, 15, 0, tzinfo=dt.UTC),
        }
        for i, (version, race_ids) in enumerate(versions.items())
        for r in starters
        if r["race_id"] in race_ids
    ]
    frame = pl.DataFrame(rows).select(STORED_PREDICTION_COLUMNS)
    with DuckDBWarehouse(load_config(home=home).duckdb_path) as warehouse:
        write_predictions(warehouse, frame)


# --- races and runners -----------------------------------------------------------------------


def test_races_are_the_warehouse_races_with_readable_venues_and_japan_time(home: Path) -> None:
    frame = keiba.races(home=home)
    assert frame.columns == list(api.RACE_COLUMNS)
    assert frame["race_id"].to_list() == [NAKAYAMA_1, KYOTO_1, NAKAYAMA_2]
    assert frame["venue"].to_list() == ["Nakayama", "Kyoto", "Nakayama"]
    assert frame["venue_ja"].to_list() == ["中山", "京都", "中山"]
    assert frame.schema["race_date"] == pl.Date
    assert frame.schema["venue_code"] == pl.Int64
    assert frame.schema["post_time"] == pl.Datetime("us", JST)
    first = frame.row(0, named=True)
    assert first["post_time"] == dt.datetime(2020, 1, 5, 1, 5, tzinfo=dt.UTC)  # the same instant
    assert first["post_time"].hour == 10  # shown in Japan time
    assert (first["race_no"], first["field_size"], first["source"]) == (1, 3, "test")


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"date_from": dt.date(2020, 1, 6)}, [NAKAYAMA_2]),
        ({"date_to": "2020-01-05"}, [NAKAYAMA_1, KYOTO_1]),
        ({"date_from": "2020-01-05", "date_to": "2020-01-05"}, [NAKAYAMA_1, KYOTO_1]),
        ({"venue": "Nakayama"}, [NAKAYAMA_1, NAKAYAMA_2]),
        ({"venue": "kyoto"}, [KYOTO_1]),
        ({"venue": "京都"}, [KYOTO_1]),
        ({"venue": 8}, [KYOTO_1]),
        ({"venue": " 8 "}, [KYOTO_1]),
        ({"venue": Venue.NAKAYAMA, "date_to": dt.datetime(2020, 1, 5, 23, 0)}, [NAKAYAMA_1]),
        ({"venue": "Tokyo"}, []),
    ],
)
def test_filters_select_races_by_date_and_venue(
    home: Path, filters: dict[str, Any], expected: list[str]
) -> None:
    found = keiba.races(home=home, **filters)
    assert found["race_id"].to_list() == expected
    assert found.schema == keiba.races(home=home).schema
    runners = keiba.runners(home=home, **filters)
    assert runners["race_id"].unique(maintain_order=True).to_list() == expected


def test_runners_carry_their_race_and_names_and_keep_scratched_horses(home: Path) -> None:
    frame = keiba.runners(home=home)
    assert frame.columns == list(api.RUNNER_COLUMNS)
    assert frame.select("race_id", "horse_no").rows() == [
        (r["race_id"], r["horse_no"]) for r in WORLD["runners"]
    ]
    races = keiba.races(home=home)
    race_info = [c for c in frame.columns if c in races.columns]
    assert frame.select(race_info).unique(maintain_order=True).equals(races.select(race_info))
    scratched = frame.filter(pl.col("status") == "scratched").row(0, named=True)
    assert (scratched["race_id"], scratched["horse_no"], scratched["finish_pos"]) == (
        NAKAYAMA_1,
        3,
        None,
    )
    winner = frame.filter((pl.col("race_id") == KYOTO_1) & (pl.col("finish_pos") == 1))
    assert winner.select("horse_name", "jockey_name", "trainer_name", "venue").row(0) == (
        "馬08-1",
        "騎手1",
        "調教師1",
        "Kyoto",
    )
    expected = {c.name: c for c in table("runners").columns}
    assert frame.schema["demoted"] == pl.Boolean
    assert frame.schema["win_odds_final"] == pl.Float64
    assert all(frame.schema[n] == pl.Int64 for n, c in expected.items() if c.type == "int")


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"date_from": "5 Jan 2020"}, "date_from must be a date such as 2018-06-02"),
        ({"date_to": "2020-13-01"}, "date_to must be a date"),
        ({"date_from": "2020-01-12", "date_to": "2020-01-05"}, "empty date range"),
        ({"venue": "Ooi"}, "unknown venue 'Ooi'.*Sapporo.*Kokura"),
        ({"venue": 11}, "unknown venue 11"),
    ],
)
def test_bad_filters_are_one_clear_error(home: Path, filters: dict[str, Any], message: str) -> None:
    for read in (keiba.races, keiba.runners, keiba.predictions):
        with pytest.raises(keiba.KeibaError, match=message):
            read(home=home, **filters)


def test_no_warehouse_says_where_and_which_command_loads_one(tmp_path: Path) -> None:
    for read in (keiba.races, keiba.runners, keiba.predictions):
        with pytest.raises(keiba.KeibaError) as caught:
            read(home=tmp_path)
        message = str(caught.value)
        assert f"there is no dataset 'default' in {tmp_path / 'warehouse'}" in message
        assert "keiba data import DIR --dataset default" in message
    assert not (tmp_path / "warehouse").exists()  # reading never creates one


def test_an_empty_warehouse_is_the_same_error(tmp_path: Path) -> None:
    DuckDBWarehouse(load_config(home=tmp_path).duckdb_path).close()
    with pytest.raises(keiba.KeibaError, match="holds no races: load races first with"):
        keiba.runners(home=tmp_path)


def test_a_dataset_is_read_by_name_and_others_are_not_seen(tmp_path: Path) -> None:
    from keiba.evaluator.main_job import load_sample_dataset

    load_sample_dataset(
        load_config(home=tmp_path), FixedClock(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    )
    frame = keiba.races(home=tmp_path, dataset="jra2018-sample", date_to="2018-01-06")
    assert frame.height > 0 and set(frame["dataset"]) == {"jra2018-sample"}
    with pytest.raises(keiba.KeibaError, match="datasets: jra2018-sample"):
        keiba.races(home=tmp_path, dataset="other")


def test_the_warehouse_is_opened_read_only(home: Path) -> None:
    # DuckDB refuses a read-write connection beside a read-only one in the same process.
    with DuckDBWarehouse(load_config(home=home).duckdb_path, read_only=True):
        assert keiba.races(home=home).height == 3
        assert keiba.runners(home=home).height == 7


def test_home_defaults_to_keiba_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEIBA_HOME", str(home))
    assert keiba.races()["race_id"].to_list() == [NAKAYAMA_1, KYOTO_1, NAKAYAMA_2]


# --- predictions -----------------------------------------------------------------------------


def test_predictions_sit_beside_the_market_odds_and_names(home: Path) -> None:
    _store_predictions(home, {"fm-a": [NAKAYAMA_1, KYOTO_1], "fm-b": [KYOTO_1]})
    frame = keiba.predictions(home=home)
    assert frame.columns == list(api.PREDICTION_COLUMNS)
    assert frame.select("model_version", "race_id", "horse_no").rows() == [
        ("fm-a", NAKAYAMA_1, 1),
        ("fm-a", NAKAYAMA_1, 2),
        ("fm-a", KYOTO_1, 1),
        ("fm-a", KYOTO_1, 2),
        ("fm-b", KYOTO_1, 1),
        ("fm-b", KYOTO_1, 2),
    ]
    row = frame.filter((pl.col("model_version") == "fm-b") & (pl.col("horse_no") == 2))
    assert row.row(0, named=True) | {"post_time": None, "as_of": None} == {
        "race_id": KYOTO_1,
        "race_date": dt.date(2020, 1, 5),
        "venue_code": 8,
        "venue": "Kyoto",
        "venue_ja": "京都",
        "race_no": 1,
        "post_time": None,
        "race_name": "08 3歳未勝利",
        "horse_no": 2,
        "horse_name": "馬08-2",
        "jockey_name": "騎手2",
        "trainer_name": "調教師2",
        "model_version": "fm-b",
        "feature_version": "v1",
        "as_of": None,
        "p_model": pytest.approx(0.35),
        "p_market": pytest.approx(1 / 2.5),
        "p_combined": 0.5,
        "win_odds_final": 2.5,
        "popularity": 2,
        "status": "finished",
        "finish_pos": 2,
    }
    assert frame.schema["as_of"] == pl.Datetime("us", JST)
    assert frame["as_of"][0] == dt.datetime(2020, 1, 4, 15, 0, tzinfo=dt.UTC)
    assert (frame["as_of"][0].day, frame["as_of"][0].hour) == (5, 0)  # midnight in Japan


def test_predictions_filter_by_model_version_date_and_venue(home: Path) -> None:
    _store_predictions(home, {"fm-a": [NAKAYAMA_1, KYOTO_1, NAKAYAMA_2], "fm-b": [KYOTO_1]})
    assert keiba.predictions("fm-b", home=home)["race_id"].unique().to_list() == [KYOTO_1]
    nakayama = keiba.predictions("fm-a", venue="中山", date_from="2020-01-06", home=home)
    assert nakayama["race_id"].unique().to_list() == [NAKAYAMA_2]
    assert keiba.predictions("fm-b", venue="Nakayama", home=home).is_empty()
    with pytest.raises(
        keiba.KeibaError, match=r"no predictions of model version 'fm-c'.*fm-a, fm-b"
    ):
        keiba.predictions("fm-c", home=home)


def test_no_predictions_says_which_commands_make_them(home: Path) -> None:
    with pytest.raises(keiba.KeibaError) as caught:
        keiba.predictions(home=home)
    message = str(caught.value)
    assert "holds no predictions" in message
    at = f"keiba --home {home}"
    assert f"`{at} model train --dataset default` then `{at} model predict --dataset default`" in (
        message
    )


def test_the_predictions_table_is_the_predictors() -> None:
    from keiba.predictor.predict import PREDICTIONS_TABLE

    assert api.PREDICTIONS_TABLE == PREDICTIONS_TABLE


# --- backtest runs ---------------------------------------------------------------------------


@pytest.fixture
def runs(tmp_path: Path) -> tuple[Path, Path]:
    """Two runs under <home>/backtests: an older one where Themis never bets, then a newer one."""
    backtests = tmp_path / "backtests"
    old = make_run(backtests, races=36, themis_threshold=float("inf"), run_id="20261120T0900Z")
    new = make_run(backtests, races=36, seed=1, run_id="20261121T0900Z")
    return old, new


def test_backtest_bets_reads_the_latest_run_by_default(
    tmp_path: Path, runs: tuple[Path, Path]
) -> None:
    old, new = runs
    frame = keiba.backtest_bets(home=tmp_path)
    assert frame.schema == pl.Schema(BETS_SCHEMA)
    assert frame.columns == list(api.BET_COLUMNS)
    assert frame.equals(pl.read_parquet(new / "bets.parquet"))
    assert "themis" in frame["strategy"].to_list()
    assert keiba.backtest_bets("latest", home=tmp_path).equals(frame)
    by_id = keiba.backtest_bets(old.name, home=tmp_path)
    assert by_id.equals(pl.read_parquet(old / "bets.parquet"))
    assert "themis" not in by_id["strategy"].to_list()
    assert keiba.backtest_bets(str(old)).equals(by_id)


def test_backtest_metrics_are_the_runs_figures_flat(
    tmp_path: Path, runs: tuple[Path, Path]
) -> None:
    _, new = runs
    stored = json.loads((new / "result.json").read_text(encoding="utf-8"))["metrics"]
    frame = keiba.backtest_metrics(new)
    assert frame.columns == list(api.METRIC_COLUMNS)
    assert frame["strategy"].to_list() == list(stored)
    assert frame.equals(keiba.backtest_metrics(home=tmp_path))
    for row in frame.iter_rows(named=True):
        m = stored[row["strategy"]]
        assert row["label"] == m["label"]
        for key in ("start_yen", "end_yen", "bets", "refunds", "staked_yen", "profit_yen"):
            assert row[key] == m[key]
        assert row["return_rate"] == m["return_rate"]["value"]
        assert (row["hit_rate_low"], row["hit_rate_high"]) == (
            m["hit_rate"]["low"],
            m["hit_rate"]["high"],
        )
        assert row["max_drawdown"] == m["max_drawdown"]["fraction"]
        assert row["max_drawdown_yen"] == m["max_drawdown"]["yen"]
        assert row["max_drawdown_days"] == m["max_drawdown"]["days"]
        assert row["sharpe_annualised"] == m["sharpe"]["annualised"]
    assert frame.schema["profit_yen"] == pl.Int64
    assert frame.schema["return_rate_low"] == pl.Float64


def test_a_strategy_that_never_bet_has_null_rates(tmp_path: Path, runs: tuple[Path, Path]) -> None:
    old, _ = runs
    themis = keiba.backtest_metrics(old).filter(pl.col("strategy") == "themis").row(0, named=True)
    assert (themis["bets"], themis["staked_yen"]) == (0, 0)
    assert themis["return_rate"] is None
    assert themis["return_rate_low"] is None


def test_backtest_errors_name_what_is_missing(tmp_path: Path, runs: tuple[Path, Path]) -> None:
    with pytest.raises(keiba.KeibaError, match=r"no backtest run under .*keiba backtest"):
        keiba.backtest_bets(home=tmp_path / "elsewhere")
    with pytest.raises(keiba.KeibaError, match="nope is not a backtest run"):
        keiba.backtest_metrics("nope", home=tmp_path)
    _, new = runs
    result = json.loads((new / "result.json").read_text(encoding="utf-8"))
    del result["metrics"]
    (new / "result.json").write_text(json.dumps(result), encoding="utf-8")
    with pytest.raises(keiba.KeibaError, match="holds no metrics"):
        keiba.backtest_metrics(new)


# --- pandas ----------------------------------------------------------------------------------


def test_as_pandas_keeps_integers_and_nulls(home: Path, runs: tuple[Path, Path]) -> None:
    _store_predictions(home, {"fm-a": [NAKAYAMA_1]})
    _, new = runs
    reads: list[Callable[..., Any]] = [keiba.races, keiba.runners, keiba.predictions]
    for read in reads:
        polars_frame, pandas_frame = read(home=home), read(home=home, as_pandas=True)
        assert isinstance(pandas_frame, pd.DataFrame)
        assert list(pandas_frame.columns) == polars_frame.columns
        assert len(pandas_frame) == polars_frame.height
    runners = keiba.runners(home=home, as_pandas=True)
    assert str(runners["finish_pos"].dtype) == "Int64"
    assert runners["finish_pos"].isna().sum() == 1  # the scratched horse, not NaN in floats
    assert str(runners["demoted"].dtype) == "boolean"
    assert str(runners["post_time"].dtype) == f"datetime64[us, {JST}]"
    assert runners["race_date"].iloc[0] == pd.Timestamp("2020-01-05")
    bets = keiba.backtest_bets(new, as_pandas=True)
    assert str(bets["stake_yen"].dtype) == "Int64"
    assert int(bets["stake_yen"].sum()) == int(
        pl.read_parquet(new / "bets.parquet")["stake_yen"].sum()
    )
    metrics = keiba.backtest_metrics(new, as_pandas=True)
    assert list(metrics.columns) == list(api.METRIC_COLUMNS)
    assert str(metrics["profit_yen"].dtype) == "Int64"


# --- the package -----------------------------------------------------------------------------


def test_import_keiba_loads_the_api_only_when_used() -> None:
    code = (
        "import sys, keiba\n"
        "assert 'keiba.api' not in sys.modules and 'polars' not in sys.modules\n"
        "assert 'races' in dir(keiba)\n"
        "keiba.races\n"
        "assert 'keiba.api' in sys.modules\n"
        "try:\n    keiba.nothing\nexcept AttributeError as e:\n    print(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "module 'keiba' has no attribute 'nothing'"


def test_every_exported_name_is_the_apis() -> None:
    for name in keiba.__all__:
        assert getattr(keiba, name) is getattr(api, name, None) or name == "KeibaError"
    assert keiba.KeibaError is importlib.import_module("keiba.common.errors").KeibaError


# --- the documentation -----------------------------------------------------------------------

_DOC_TYPES: dict[str, pl.DataType | type[pl.DataType]] = {
    "String": pl.String,
    "Int64": pl.Int64,
    "Float64": pl.Float64,
    "Boolean": pl.Boolean,
    "Date": pl.Date,
    "JST": pl.Datetime("us", JST),
}


def _documented_columns(function: str) -> list[tuple[str, str]]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split(f"### `{function}(")[1].split("\n### ")[0]
    return re.findall(r"^\| `(\w+)` \| (\w+) \|", section, flags=re.M)


def test_the_reference_lists_every_column_with_its_type(
    home: Path, runs: tuple[Path, Path]
) -> None:
    _store_predictions(home, {"fm-a": [NAKAYAMA_1]})
    _, new = runs
    frames = {
        "races": keiba.races(home=home),
        "runners": keiba.runners(home=home),
        "predictions": keiba.predictions(home=home),
        "backtest_bets": keiba.backtest_bets(new),
        "backtest_metrics": keiba.backtest_metrics(new),
    }
    assert set(frames) == set(keiba.__all__) - {"KeibaError"}
    for function, frame in frames.items():
        documented = _documented_columns(function)
        assert [name for name, _ in documented] == frame.columns, function
        for name, type_name in documented:
            assert frame.schema[name] == _DOC_TYPES[type_name], (function, name)


def _example() -> tuple[str, str]:
    section = DOC.read_text(encoding="utf-8").split("\n## Example")[1].split("\n## ")[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    (output,) = re.findall(r"```text\n(.*?)```", section, flags=re.S)
    return code, output


def test_the_documented_example_runs_and_prints_what_the_doc_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv("KEIBA_CONFIG", raising=False)
    code, output = _example()
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(code, str(DOC), "exec"), namespace)
    assert capsys.readouterr().out == output
    assert namespace["home"].parent == tmp_path
    sample_races = pl.read_parquet(SAMPLE / "races.parquet")
    assert namespace["races"]["race_id"].to_list() == sorted(sample_races["race_id"])
