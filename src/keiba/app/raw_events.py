"""A raw page lands in Cloud Storage → it is loaded into the warehouse.

Eventarc delivers each `google.cloud.storage.object.v1.finalized` event of the data bucket as
a CloudEvent in binary mode: the `ce-*` headers and, as the body, the object's metadata
(`bucket`, `name`, …). Its filters can name the bucket but not a prefix, so every object the
bucket receives arrives here, and `ingest_stored_object` acts only on the raw pages' index
records (`raw-data/netkeiba-index/…` under the object store's prefix): a record says what its
page is (kind, URL, race, date, dataset), which a content-addressed page cannot, and it is
written just after its page. Other objects of the bucket are acknowledged and left alone.

The record's page is parsed and loaded as `keiba data reparse` would, for the configured
dataset only; a page that fails its checks is quarantined, as the collector does. Eventarc
delivers at least once: loading a page again changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from keiba.app.serving import BusyError
from keiba.common.clock import Clock
from keiba.common.config import KeibaConfig
from keiba.common.errors import KeibaError
from keiba.common.logging import get_logger
from keiba.common.storage.datasets import open_dataset
from keiba.common.storage.object_store import FsspecObjectStore
from keiba.data_collector.netkeiba_ingest import ingest_pages
from keiba.data_collector.raw_pages import INDEX_PREFIX, RawPage

__all__ = [
    "FINALIZED",
    "EventError",
    "StoredObject",
    "ingest_stored_object",
    "parse_storage_event",
]

log = get_logger(__name__)

FINALIZED = "google.cloud.storage.object.v1.finalized"
SOURCE_PREFIX = "//storage.googleapis.com/projects/_/buckets/"
MAX_BODY = 64 * 1024


class EventError(KeibaError):
    """The request is not a Cloud Storage event this service accepts."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    """The object an event is about."""

    bucket: str
    name: str
    event_id: str


def parse_storage_event(headers: Mapping[str, str], body: bytes) -> StoredObject:
    """The object of a binary-mode CloudEvent of an object's finalization; `EventError` (one
    line) for anything else: another event type, a subject or source that disagrees with the
    body, a body that is not the object's JSON metadata."""
    kind = headers.get("ce-type", "")
    if kind != FINALIZED:
        raise EventError(f"expected a CloudEvent of type {FINALIZED}, got {kind or 'none'!r}")
    event_id = headers.get("ce-id", "")
    if not event_id:
        raise EventError("the CloudEvent has no ce-id")
    if len(body) > MAX_BODY:
        raise EventError(f"the event's body is over {MAX_BODY} bytes")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise EventError("the event's body is not JSON") from None
    bucket = data.get("bucket") if isinstance(data, dict) else None
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(bucket, str) or not bucket or not isinstance(name, str) or not name:
        raise EventError("the event's body names no bucket and object (bucket, name)")
    subject = headers.get("ce-subject", "")
    if subject != f"objects/{name}":
        raise EventError(f"the CloudEvent's subject {subject!r} is not objects/{name}")
    source = headers.get("ce-source", "")
    if source and source != SOURCE_PREFIX + bucket:
        raise EventError(f"the CloudEvent's source {source!r} is not the bucket {bucket}")
    return StoredObject(bucket, name, event_id)


def _store_root(config: KeibaConfig) -> tuple[str, str]:
    """The object store's bucket and prefix (`gs://BUCKET/PREFIX`)."""
    url = config.object_store_url
    if not url.startswith("gs://"):
        raise EventError(f"the object store {url} is not in Cloud Storage: it has no events")
    bucket, _, prefix = url.removeprefix("gs://").strip("/").partition("/")
    return bucket, prefix


def _ignored(obj: StoredObject, reason: str) -> dict[str, Any]:
    log.info("events.ignored", object=obj.name, reason=reason)
    return {"object": obj.name, "outcome": "ignored", "reason": reason, "ingest": None}


def ingest_stored_object(config: KeibaConfig, obj: StoredObject, clock: Clock) -> dict[str, Any]:
    """Load the page an index record names into the configured dataset; what was done.

    Another bucket than the object store's is refused (`EventError`); the bucket's other
    objects, and the records of other datasets' pages, are ignored. An unreadable record is
    `EventError`; a page whose checks fail is quarantined (outcome `quarantined`)."""
    bucket, prefix = _store_root(config)
    if obj.bucket != bucket:
        raise EventError(f"bucket {obj.bucket} is not this service's object store ({bucket})")
    base = f"{prefix}/" if prefix else ""
    key = obj.name.removeprefix(base)
    if not obj.name.startswith(base) or not key.startswith(f"{INDEX_PREFIX}/"):
        return _ignored(obj, f"not a raw page's index record ({INDEX_PREFIX}/ under the store)")
    store = FsspecObjectStore(config.object_store_url)
    try:
        page = RawPage.from_json(store.get(key).decode("utf-8"))
    except (ValueError, KeyError, TypeError) as e:
        raise EventError(f"the index record {obj.name} is unreadable: {e}") from None
    dataset = config.storage.dataset
    if not page.belongs_to(dataset):
        return _ignored(obj, f"a page of dataset {page.dataset}, not {dataset}")
    if not store.exists(page.content_key):
        raise BusyError(f"the page {page.content_key} of {obj.name} is not stored yet")
    with open_dataset(config) as warehouse:
        report = ingest_pages(
            warehouse,
            [page],
            lambda p: store.get(p.content_key),
            clock,
            source=f"netkeiba page {page.content_key}",
            kind=warehouse.kind() or "real",
        )
    outcome = "quarantined" if report.quarantined else "loaded"
    log.info("events.ingested", object=obj.name, url=page.url, outcome=outcome)
    return {
        "object": obj.name,
        "outcome": outcome,
        "reason": "; ".join(report.quarantine_locators) or None,
        "ingest": report.to_dict(),
    }
