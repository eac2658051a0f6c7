"""Every loader says what kind of races it brings; a dataset of the other kind refuses them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from dataset_frames import moved, with_truth
from keiba.common.clock import FixedClock
from keiba.common.errors import ImportValidationError
from keiba.common.storage import DatasetKindError, DuckDBWarehouse, LoadSource
from keiba.data_collector.canonical import export_canonical, import_canonical, write_canonical
from keiba.data_collector.netkeiba_ingest import ingest_pages
from keiba.data_collector.raw_pages import PageKind, RawPage

CLOCK = FixedClock(dt.datetime(2026, 5, 1, 3, tzinfo=dt.UTC))


def _races(w: DuckDBWarehouse) -> int:
    return int(w.query("SELECT count(*) AS n FROM races")["n"][0])


@pytest.fixture
def directories(tiny_world, tmp_path: Path) -> tuple[Path, Path]:
    real, simulated = tmp_path / "real", tmp_path / "simulated"
    write_canonical(tiny_world, real, "csv")
    write_canonical(with_truth(moved(tiny_world, 4)), simulated, "csv")
    return real, simulated


def test_canonical_import_infers_the_kind_and_refuses_the_other(directories, tmp_path) -> None:
    real, simulated = directories
    with DuckDBWarehouse(tmp_path / "jra.duckdb") as w:
        import_canonical(w, real, clock=CLOCK)
        assert w.kind() == "real"
        with pytest.raises(DatasetKindError, match="'jra' holds real races and these are sim"):
            import_canonical(w, simulated, clock=CLOCK)
        assert _races(w) == 2
        loads = w.query("SELECT source, loaded_at, races FROM dataset_loads").rows()
        assert loads == [(f"canonical {real.resolve()}", CLOCK.now(), 2)]
    with DuckDBWarehouse(tmp_path / "sim.duckdb") as w:
        import_canonical(w, simulated, clock=CLOCK)
        assert w.kind() == "simulated" and _races(w) == 2
        with pytest.raises(DatasetKindError, match="holds simulated races and these are real"):
            import_canonical(w, real, clock=CLOCK)
    with (
        DuckDBWarehouse(None) as w,
        pytest.raises(ImportValidationError, match="true_probabilities exist only in simulated"),
    ):
        import_canonical(w, simulated, kind="real", clock=CLOCK)


def test_export_writes_the_dataset_and_its_kind_travels_with_it(tiny_world, tmp_path) -> None:
    # simulated races without true probabilities: only dataset.json can tell their kind
    with DuckDBWarehouse(tmp_path / "world.duckdb") as w:
        w.load(tiny_world, LoadSource("simulated", "a world", CLOCK.now()))
        export_canonical(w, tmp_path / "out", "csv")
    info = json.loads((tmp_path / "out" / "dataset.json").read_text(encoding="utf-8"))
    assert (info["name"], info["kind"]) == ("world", "simulated")
    assert [load["source"] for load in info["loads"]] == ["a world"]
    with DuckDBWarehouse(tmp_path / "copy.duckdb") as w:
        import_canonical(w, tmp_path / "out", clock=CLOCK)
        assert w.kind() == "simulated"
    with DuckDBWarehouse(None) as w, pytest.raises(ImportValidationError, match="says simulated"):
        import_canonical(w, tmp_path / "out", kind="real", clock=CLOCK)


def _garbage_result_page() -> RawPage:
    url = "https://race.netkeiba.com/race/result.html?race_id=202606010101"
    return RawPage(url, PageKind.RESULT, "k", CLOCK.now(), "202606010101", dt.date(2026, 1, 5))


def test_netkeiba_pages_are_refused_by_a_simulated_dataset(tiny_world) -> None:
    page = _garbage_result_page()
    with DuckDBWarehouse(None) as w:
        w.load(with_truth(tiny_world))
        with pytest.raises(DatasetKindError, match="holds simulated races and these are real"):
            ingest_pages(w, [page], lambda p: b"\x00garbage", CLOCK)
        assert int(w.query("SELECT count(*) AS n FROM quarantine")["n"][0]) == 0
    with DuckDBWarehouse(None) as w:  # the same page quarantined where it may load
        assert ingest_pages(w, [page], lambda p: b"\x00garbage", CLOCK).quarantined == 1


def test_pages_of_a_simulated_twin_load_as_simulated_races(tiny_world) -> None:
    page = _garbage_result_page()
    with DuckDBWarehouse(None) as w:
        w.load(with_truth(tiny_world))
        report = ingest_pages(w, [page], lambda p: b"\x00garbage", CLOCK, kind="simulated")
        assert report.quarantined == 1
    with DuckDBWarehouse(None) as w:
        w.load(tiny_world, LoadSource("real", "netkeiba", CLOCK.now()))
        with pytest.raises(DatasetKindError, match="holds real races and these are simulated"):
            ingest_pages(w, [page], lambda p: b"\x00garbage", CLOCK, kind="simulated")
