"""When a cached read is taken again: whenever one of its files changed, never just after."""

from __future__ import annotations

import os
import time
from pathlib import Path

from keiba.app.serving import RECENT_NS, files_stamp


def test_a_stamp_changes_with_its_files_and_is_none_just_after_a_write(tmp_path: Path) -> None:
    db, wal = tmp_path / "x.sqlite", tmp_path / "x.sqlite-wal"
    db.write_bytes(b"one")
    old = time.time_ns() - 10 * RECENT_NS
    os.utime(db, ns=(old, old))
    first = files_stamp(db, wal)
    assert first == (old, 3, 0, 0)
    assert files_stamp(db, wal) == first
    wal.write_bytes(b"w")  # written now: not to be cached
    assert files_stamp(db, wal) is None
    os.utime(wal, ns=(old + 1, old + 1))
    assert files_stamp(db, wal) not in (None, first)
