"""Settling the heap collects the garbage there is and exempts the rest from collections."""

from __future__ import annotations

import gc
import weakref

from keiba.common.heap import settle_heap


class _Node:
    def __init__(self) -> None:
        self.me = self


def test_settling_collects_the_garbage_there_is_and_freezes_what_is_left() -> None:
    was_enabled = gc.isenabled()
    gc.disable()  # only settle_heap collects during the test
    gc.unfreeze()
    try:
        garbage = weakref.ref(_Node())  # a cycle with no reference left
        kept = _Node()
        assert garbage() is not None
        settle_heap()
        assert garbage() is None
        assert gc.get_freeze_count() > 0
        assert not any(o is kept for o in gc.get_objects(generation=2))
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()
