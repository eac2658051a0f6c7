"""The Themis bench times decisions with the heap settled, and gives the process back as it was."""

from __future__ import annotations

import gc

import pytest

from keiba.common import heap
from keiba.themis import bench


def test_the_full_decisions_are_timed_settled_and_the_heap_is_unfrozen_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen: list[int] = []
    settle = heap.settle_heap

    def settling() -> None:
        settle()
        frozen.append(gc.get_freeze_count())

    monkeypatch.setattr(bench, "settle_heap", settling)
    gc.unfreeze()
    report = bench._full_decisions(1, 3, reference=False)
    assert report["median_bets"] >= 0
    assert frozen and frozen[0] > 0  # timed with the heap settled
    assert gc.get_freeze_count() == 0  # and handed back unfrozen
