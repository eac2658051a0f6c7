"""The object store's contract, run on a local directory and on Cloud Storage (an emulator)."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from keiba.common.config import load_config
from keiba.common.errors import ConfigError, StorageError
from keiba.common.storage import FsspecObjectStore, ObjectExistsError

LAYOUT = {
    "raw-data/netkeiba/ab/abc.html": b"<html>race</html>",
    "raw-data/netkeiba-index/20200105/1.json": b"{}",
    "processed/features/v3/2020.parquet": b"PAR1",
    "models/v1/model.txt": b"tree",
    "models/v1/meta.json": b'{"v": 1}',
    "models/latest.json": b'{"version": "v1"}',
    "models-old/v0/model.txt": b"old",
}


def test_put_get_exists(store: FsspecObjectStore) -> None:
    url = store.put("models/v1/model.txt", b"abc")
    assert url == f"{store.root}/models/v1/model.txt"
    assert store.get("models/v1/model.txt") == b"abc"
    assert store.exists("models/v1/model.txt")
    assert not store.exists("models/v1/other.txt")


def test_put_replaces(store: FsspecObjectStore) -> None:
    store.put("models/latest.json", b"v1")
    store.put("models/latest.json", b"v2")
    assert store.get("models/latest.json") == b"v2"
    assert store.list("models") == ["models/latest.json"]


def test_put_new_writes_once(store: FsspecObjectStore) -> None:
    url = store.put_new("audit/checkpoints/000000000007-aa.json", b"first")
    assert url.endswith("/audit/checkpoints/000000000007-aa.json")
    with pytest.raises(ObjectExistsError) as caught:
        store.put_new("audit/checkpoints/000000000007-aa.json", b"second")
    assert isinstance(caught.value, StorageError)
    assert str(caught.value) == f"object {url} exists; not overwritten"
    assert store.get("audit/checkpoints/000000000007-aa.json") == b"first"


def test_put_new_has_one_winner_among_racing_writers(store: FsspecObjectStore) -> None:
    outcomes: dict[int, bool] = {}

    def write(i: int) -> None:
        try:
            store.put_new("audit/checkpoints/race.json", f"writer {i}".encode())
            outcomes[i] = True
        except ObjectExistsError:
            outcomes[i] = False

    threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, won in outcomes.items() if won]
    assert len(outcomes) == 6 and len(winners) == 1
    assert store.get("audit/checkpoints/race.json") == f"writer {winners[0]}".encode()


def test_content_addressed_is_stored_once(store: FsspecObjectStore) -> None:
    data = b"<html>page</html>"
    digest = hashlib.sha256(data).hexdigest()
    key = store.put_content_addressed("raw-data/netkeiba", data, ".html")
    assert key == f"raw-data/netkeiba/{digest[:2]}/{digest}.html"
    assert store.put_content_addressed("raw-data/netkeiba/", data, ".html") == key
    other = store.put_content_addressed("raw-data/netkeiba", b"<html>other</html>", ".html")
    assert other != key
    assert store.list("raw-data") == sorted([key, other])
    assert store.get(key) == data


def test_listing_by_prefix(store: FsspecObjectStore) -> None:
    for key, data in LAYOUT.items():
        store.put(key, data)
    models = ["models/latest.json", "models/v1/meta.json", "models/v1/model.txt"]
    assert store.list("models") == models
    assert store.list("models/") == models
    assert store.list("models/v1") == ["models/v1/meta.json", "models/v1/model.txt"]
    assert store.list("raw-data/netkeiba-index/20200105/") == [
        "raw-data/netkeiba-index/20200105/1.json"
    ]
    assert store.list("processed") == ["processed/features/v3/2020.parquet"]
    assert store.list("model") == []
    assert store.list("nothing") == []
    assert [store.get(k) for k in store.list("models")] == [LAYOUT[k] for k in models]


def test_stores_under_other_prefixes_do_not_see_each_other(store_root: str) -> None:
    first, second = FsspecObjectStore(store_root + "/a"), FsspecObjectStore(store_root + "/b")
    first.put("models/x", b"1")
    assert second.list("models") == []
    assert not second.exists("models/x")
    assert FsspecObjectStore(store_root).list("a") == ["a/models/x"]


def test_missing_object_is_one_clear_line(store: FsspecObjectStore) -> None:
    with pytest.raises(StorageError) as caught:
        store.get("models/none")
    assert str(caught.value) == f"no object {store.root}/models/none"


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "a/./b"])
def test_bad_keys_are_refused(store: FsspecObjectStore, key: str) -> None:
    with pytest.raises(StorageError, match="invalid object key"):
        store.put(key, b"x")
    with pytest.raises(StorageError, match="invalid object key"):
        store.put_new(key, b"x")


def test_local_temporary_files_are_never_listed(tmp_path: Path) -> None:
    store = FsspecObjectStore(str(tmp_path))
    store.put("models/v1/model.txt", b"abc")
    (tmp_path / "models" / "v1" / ".model.txt.tmp123").write_bytes(b"half")
    assert store.list("models") == ["models/v1/model.txt"]


@pytest.mark.usefixtures("gcs_emulator_url")
def test_cloud_storage_is_chosen_by_configuration(tmp_path: Path, gcs_root: str) -> None:
    config = load_config(home=tmp_path, overrides={"storage": {"object_store_url": gcs_root}})
    store = FsspecObjectStore(config.object_store_url)
    assert store.put("models/v1/model.txt", b"abc") == f"{gcs_root}/models/v1/model.txt"
    assert FsspecObjectStore(gcs_root).get("models/v1/model.txt") == b"abc"
    assert not (tmp_path / "objects").exists()


@pytest.mark.usefixtures("gcs_emulator_url")
def test_a_missing_bucket_is_a_storage_error() -> None:
    store = FsspecObjectStore("gs://no-such-bucket/keiba")
    with pytest.raises(StorageError, match=r"^no object gs://no-such-bucket/keiba/models/x$"):
        store.get("models/x")
    with pytest.raises(StorageError, match=r"^cannot write object gs://no-such-bucket/keiba/m"):
        store.put("models/x", b"1")


def test_a_cloud_url_must_name_a_bucket() -> None:
    with pytest.raises(StorageError, match="names no bucket"):
        FsspecObjectStore("gs://")


@pytest.mark.parametrize(
    ("url", "problem"),
    [("s3://bucket/keiba", "use a directory"), ("gs://", "names no bucket")],
)
def test_the_configuration_refuses_unknown_stores(tmp_path: Path, url: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=f"storage.object_store_url: .*{problem}"):
        load_config(home=tmp_path, overrides={"storage": {"object_store_url": url}})
