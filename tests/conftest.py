"""Shared test fixtures: a tiny hand-made world in the data contract, and a no-network guard."""

from __future__ import annotations

import datetime as dt
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, settings

import bq_emulator
import gcs_emulator
from contract_frames import contract_frame
from keiba.common.schema import Column, table

# Property tests draw the same examples on every run and every machine (derandomized), and a
# machine busy with other work neither fails them on time (no deadline) nor on slow generation.
settings.register_profile(
    "keiba", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("keiba")


# Under `pytest -n N --dist loadgroup` (`make test`), the tests that use one of these fixtures,
# built once per test process, run in one worker: it is then built once per run, not once per
# worker. Tests that use none of them are spread one by one, as `--dist load` would.
SHARED_FIXTURES = {
    "morning": "morning",
    "twin_home": "twin-home",
    "bq_emulator_url": "bigquery-emulator",
    "mlflow_server": "mlflow-server",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        group = next((g for name, g in SHARED_FIXTURES.items() if name in names), None)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


def _race(race_id: str, race_no: int, field_size: int) -> dict[str, Any]:
    date = dt.date(int(race_id[:4]), int(race_id[4:6]), int(race_id[6:8]))
    return {
        "race_id": race_id,
        "netkeiba_race_id": race_id[:4] + race_id[8:],
        "race_date": date,
        "venue_code": int(race_id[8:10]),
        "meeting": int(race_id[10:12]),
        "meeting_day": int(race_id[12:14]),
        "race_no": race_no,
        "post_time": dt.datetime(date.year, date.month, date.day, 1, 5, tzinfo=dt.UTC),
        "race_name": "3歳未勝利",
        "race_class": "未勝利",
        "surface": "dirt",
        "distance_m": 1200,
        "direction": "右",
        "going": "良",
        "weather": "晴",
        "field_size": field_size,
        "source": "test",
        "ingested_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
    }


def _runner(
    race_id: str, horse_no: int, pos: int | None, odds: float | None, **kw: Any
) -> dict[str, Any]:
    return {
        "race_id": race_id,
        "horse_no": horse_no,
        "frame_no": horse_no,
        "horse_name": f"テストホース{horse_no}",
        "status": kw.get("status", "finished"),
        "finish_pos": pos,
        "demoted": False,
        "win_odds_final": odds,
        "popularity": kw.get("popularity"),
        "sex": "牡",
        "age": 3,
    }


@pytest.fixture
def tiny_world() -> dict[str, pl.DataFrame]:
    """Two races on 2020-01-05 at Nakayama: 4 runners each; horse 4 of race 2 scratched."""
    r1, r2 = "2020010506010101", "2020010506010102"
    races = [_race(r1, 1, 4), _race(r2, 2, 4)]
    runners = [
        _runner(r1, 1, 1, 2.0),
        _runner(r1, 2, 2, 3.5),
        _runner(r1, 3, 3, 6.0),
        _runner(r1, 4, 4, 12.0),
        _runner(r2, 1, 2, 1.8),
        _runner(r2, 2, 1, 4.0),
        _runner(r2, 3, 3, 5.0),
        _runner(r2, 4, None, None, status="scratched"),
    ]
    payouts = [
        {"race_id": r1, "bet_type": "win", "combination": "1", "payout_yen": 200, "popularity": 1},
        {"race_id": r1, "bet_type": "quinella", "combination": "1-2", "payout_yen": 350},
        {"race_id": r1, "bet_type": "exacta", "combination": "1>2", "payout_yen": 600},
        {"race_id": r2, "bet_type": "win", "combination": "2", "payout_yen": 400, "popularity": 2},
    ]
    as_of = dt.datetime(2020, 1, 5, 1, 4, tzinfo=dt.UTC)
    odds = [
        {
            "race_id": r1,
            "bet_type": "win",
            "combination": str(h),
            "odds": o,
            "as_of": as_of,
            "stage": "final",
        }
        for h, o in ((1, 2.0), (2, 3.5), (3, 6.0), (4, 12.0))
    ]
    return {
        "races": contract_frame(table("races"), races),
        "runners": contract_frame(table("runners"), runners),
        "payouts": contract_frame(table("payouts"), payouts),
        "odds": contract_frame(table("odds"), odds),
    }


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests may talk to loopback only."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if (
            isinstance(host, str)
            and host not in ("127.0.0.1", "localhost", "::1")
            and not (host.startswith("/"))
        ):
            raise RuntimeError(f"network access to {host!r} in a test")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(scope="session")
def morning(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A keiba home on a simulated race day, built once (`race_morning.Morning`)."""
    from race_morning import race_morning

    return race_morning(tmp_path_factory.mktemp("race-morning"))


@pytest.fixture(scope="session")
def twin_home(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The twin's day of a small simulated world prepared once (`twin_home.TwinHome`): its
    `prepare` copies it into a test's own home. Read only."""
    from twin_home import twin_home

    return twin_home(tmp_path_factory.mktemp("twin-home") / "home")


BUCKET = "keiba-test"
"""The Cloud Storage emulator's bucket."""


@pytest.fixture(scope="session")
def gcs_emulator_url() -> Iterator[str]:
    gcs_emulator.require()
    with gcs_emulator.running(BUCKET) as url:
        yield url


@pytest.fixture
def gcs_root() -> str:
    """A fresh `gs://` root on the emulator (its own prefix in the test bucket)."""
    return f"gs://{BUCKET}/{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def bq_emulator_url() -> Iterator[str]:
    bq_emulator.require()
    with bq_emulator.running() as url:
        yield url


__all__ = ["Column", "contract_frame"]
