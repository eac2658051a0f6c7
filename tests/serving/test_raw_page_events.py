"""A raw page lands in Cloud Storage → it is loaded: Eventarc's CloudEvents on `keiba serve`.

Saved netkeiba pages are stored with their index records in a bucket of the Cloud Storage
emulator, as the collector stores them; each event is posted as Eventarc delivers it (binary
mode: `ce-*` headers, the object's metadata as the body) with an ingester's token. The
warehouse (DuckDB here) gets the race's rows; delivering the same event again changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient

from data_collector.netkeiba_fixtures import RACE, fixture
from keiba.common.clock import FixedClock
from keiba.common.config import KeibaConfig, load_config
from keiba.common.storage.datasets import open_dataset
from keiba.common.storage.object_store import FsspecObjectStore
from keiba.data_collector.raw_pages import INDEX_PREFIX, PageKind, store_page
from keiba.serving.app import ServeSettings, create_app
from keiba.serving.auth import FailureThrottle, Role, TokenStore, tokens_path
from keiba.serving.server import ServeError, settings_for

FETCHED = dt.datetime(2026, 6, 28, 9, 0, tzinfo=dt.UTC)
TABLES = ("races", "runners", "payouts", "odds", "entries", "quarantine")


@dataclass
class Events:
    client: TestClient
    config: KeibaConfig
    store: FsspecObjectStore
    bucket: str
    prefix: str
    ingester: str
    viewer: str

    def name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def store_page(self, data: bytes, kind: PageKind, dataset: str | None = "default") -> str:
        """Store a page and its index record as the collector does; the record's object name."""
        before = set(self.store.list(INDEX_PREFIX))
        store_page(
            self.store,
            data,
            url=f"https://race.netkeiba.com/race/result.html?race_id={RACE}",
            kind=kind,
            fetched_at=FETCHED,
            race_id=RACE,
            dataset=dataset,
        )
        (key,) = set(self.store.list(INDEX_PREFIX)) - before
        return self.name(key)

    def post(
        self, name: str, *, bucket: str | None = None, token: str | None = None, **headers: str
    ) -> Any:
        bucket = bucket or self.bucket
        sent = {
            "authorization": f"Bearer {token or self.ingester}",
            "content-type": "application/json",
            "ce-specversion": "1.0",
            "ce-id": "7386509124",
            "ce-type": "google.cloud.storage.object.v1.finalized",
            "ce-source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
            "ce-subject": f"objects/{name}",
            "ce-time": "2026-06-28T09:00:01Z",
        }
        sent.update({k.replace("_", "-"): v for k, v in headers.items()})
        body = {"bucket": bucket, "name": name, "generation": "1", "contentType": "text/html"}
        return self.client.post("/events/raw-page", headers=sent, content=json.dumps(body))

    def tables(self) -> dict[str, pl.DataFrame]:
        with open_dataset(self.config) as warehouse:
            return {
                t: warehouse.query(f"SELECT * FROM {t}") for t in TABLES if warehouse.has_table(t)
            }


@contextmanager
def _serving(config: KeibaConfig, gcs_root: str) -> Iterator[Events]:
    storage = config.storage.model_copy(update={"object_store_url": gcs_root})
    config = config.model_copy(update={"storage": storage})
    clock = FixedClock(FETCHED + dt.timedelta(minutes=1))
    tokens = TokenStore(tokens_path(config.home), clock.now)
    _, ingester = tokens.create("eventarc", Role.INGESTER)
    _, viewer = tokens.create("viewer", Role.VIEWER)
    settings = ServeSettings(
        config, tokens, throttle=FailureThrottle(limit=1_000_000), clock=clock, ingest_events=True
    )
    bucket, _, prefix = gcs_root.removeprefix("gs://").partition("/")
    store = FsspecObjectStore(gcs_root)
    with TestClient(create_app(settings)) as client:
        yield Events(client, config, store, bucket, prefix, ingester, viewer)


@pytest.fixture
def events(gcs_emulator_url: str, gcs_root: str, tmp_path: Path) -> Iterator[Events]:
    with _serving(load_config(home=tmp_path / "home"), gcs_root) as served:
        yield served


def test_a_stored_page_is_loaded_once(events: Events) -> None:
    _loaded_once(events)


@pytest.mark.slow
def test_a_stored_page_is_loaded_once_into_bigquery(
    gcs_emulator_url: str, gcs_root: str, bq_emulator_url: str, tmp_path: Path
) -> None:
    """The cloud profile: the page goes to the BigQuery emulator's dataset, once."""
    config = load_config(home=tmp_path / "home")
    storage = config.storage.model_copy(
        update={
            "warehouse": "bigquery",
            "bigquery_project": "keiba-test",
            "bigquery_endpoint": bq_emulator_url,
            "bigquery_dataset_prefix": f"ev{tmp_path.name[-8:].replace('-', '_')}_",
        }
    )
    with _serving(config.model_copy(update={"storage": storage}), gcs_root) as served:
        _loaded_once(served)
        assert not (served.config.home / "warehouse").exists()


def _loaded_once(events: Events) -> None:
    record = events.store_page(fixture("race_result_202602010607.html"), PageKind.RESULT)
    first = events.post(record)
    assert first.status_code == 200, first.text
    done = first.json()
    assert done["outcome"] == "loaded" and done["object"] == record
    assert done["ingest"]["races"] == 1 and done["ingest"]["loaded"]["new"]["races"] == 1
    tables = events.tables()
    assert tables["races"]["netkeiba_race_id"].to_list() == [RACE]
    assert tables["runners"].height == done["ingest"]["runners"] > 0
    assert tables["payouts"].height == done["ingest"]["payouts"] > 0

    again = events.post(record)  # Eventarc delivers at least once
    assert again.status_code == 200, again.text
    loaded = again.json()["ingest"]["loaded"]
    assert loaded["unchanged"]["races"] == 1, loaded
    assert not any(loaded["new"].values()) and not any(loaded["changed"].values()), loaded
    assert not any(loaded["rows_written"].values()), loaded
    after = events.tables()
    assert after.keys() == tables.keys()
    for name, frame in tables.items():
        assert after[name].equals(frame), name


def test_a_malformed_page_is_quarantined_not_loaded(events: Events) -> None:
    record = events.store_page(b"<html><body>Service Unavailable</body></html>", PageKind.RESULT)
    answer = events.post(record)
    assert answer.status_code == 200, answer.text
    done = answer.json()
    assert done["outcome"] == "quarantined" and RACE in done["reason"]
    tables = events.tables()
    assert tables["quarantine"].height == 1
    assert "races" not in tables or tables["races"].is_empty()
    assert events.post(record).json()["ingest"]["quarantine_new"] == 0


def test_other_objects_and_datasets_are_ignored(events: Events) -> None:
    record = events.store_page(fixture("race_result_202602010607.html"), PageKind.RESULT, "other")
    assert events.post(record).json()["outcome"] == "ignored"
    (page,) = events.store.list("raw-data/netkeiba/")
    for key in (page, "models/latest.json"):
        answer = events.post(events.name(key))
        assert answer.status_code == 200 and answer.json()["outcome"] == "ignored", key
    assert "races" not in events.tables()


def test_bad_events_get_one_clear_error(events: Events) -> None:
    record = events.store_page(fixture("race_result_202602010607.html"), PageKind.RESULT)
    refused = {
        "another bucket": events.post(record, bucket="someone-elses-bucket"),
        "another type": events.post(record, ce_type="google.cloud.storage.object.v1.deleted"),
        "a subject that disagrees": events.post(record, ce_subject="objects/elsewhere"),
        "a source that disagrees": events.post(
            record, ce_source="//storage.googleapis.com/projects/_/buckets/x"
        ),
    }
    for what, answer in refused.items():
        assert answer.status_code == 400, what
        assert "\n" not in answer.json()["error"], what
    assert "someone-elses-bucket" in refused["another bucket"].json()["error"]
    bad_record = f"{INDEX_PREFIX}/20260628/broken.json"
    events.store.put(bad_record, b"{not json")
    answer = events.post(events.name(bad_record))
    assert answer.status_code == 400 and "unreadable" in answer.json()["error"]
    not_json = events.client.post(
        "/events/raw-page",
        headers={
            "authorization": f"Bearer {events.ingester}",
            "ce-type": "google.cloud.storage.object.v1.finalized",
            "ce-id": "1",
        },
        content=b"\xff\xfe",
    )
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["error"]
    assert "races" not in events.tables()


def test_only_the_ingester_may_post_events(events: Events) -> None:
    record = events.store_page(fixture("race_result_202602010607.html"), PageKind.RESULT)
    assert events.post(record, token=events.viewer).status_code == 403
    assert events.post(record, token="kb_00000000_nothing").status_code == 401
    assert "races" not in events.tables()


def test_the_route_exists_only_when_asked_for(tmp_path: Path) -> None:
    config = load_config(home=tmp_path / "home")
    clock = FixedClock(FETCHED)
    settings = ServeSettings(config, TokenStore(tokens_path(config.home), clock.now), clock=clock)
    with TestClient(create_app(settings)) as client:
        assert client.post("/events/raw-page").status_code == 404


def test_serving_events_needs_a_cloud_storage_store(tmp_path: Path, gcs_root: str) -> None:
    config = load_config(home=tmp_path / "home")
    with pytest.raises(ServeError, match="Cloud Storage"):
        settings_for(config, "main", ingest_events=True)
    storage = config.storage.model_copy(update={"object_store_url": gcs_root})
    cloud = config.model_copy(update={"storage": storage})
    assert settings_for(cloud, "main", ingest_events=True).ingest_events


def test_the_command_refuses_events_without_cloud_storage(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from keiba.cli.main import app

    env = {k: None for k in os.environ if k.startswith("KEIBA_")}
    done = CliRunner().invoke(
        app, ["--home", str(tmp_path / "home"), "serve", "--ingest-events"], env=env
    )
    assert done.exit_code == 1, done.stdout
    assert "Cloud Storage" in done.stderr and len(done.stderr.strip().splitlines()) == 1
