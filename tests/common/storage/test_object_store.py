import pytest

from keiba.common.errors import StorageError
from keiba.common.storage import FsspecObjectStore


def test_put_get_list(tmp_path) -> None:
    store = FsspecObjectStore(str(tmp_path / "objects"))
    store.put("models/v1/model.txt", b"abc")
    assert store.get("models/v1/model.txt") == b"abc"
    assert store.exists("models/v1/model.txt")
    assert store.list("models") == ["models/v1/model.txt"]
    assert store.list("nothing") == []


def test_content_addressed_is_stored_once(tmp_path) -> None:
    store = FsspecObjectStore(str(tmp_path))
    key = store.put_content_addressed("raw-data", b"<html>", ".html")
    assert key == store.put_content_addressed("raw-data", b"<html>", ".html")
    assert key.startswith("raw-data/") and key.endswith(".html")
    assert len(store.list("raw-data")) == 1


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b"])
def test_bad_keys_are_refused(tmp_path, key: str) -> None:
    with pytest.raises(StorageError, match="invalid object key"):
        FsspecObjectStore(str(tmp_path)).put(key, b"x")


def test_missing_object_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(StorageError, match="no object"):
        FsspecObjectStore(str(tmp_path)).get("models/none")
