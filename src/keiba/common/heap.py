"""Keeping a long-running process's garbage collector off the objects it keeps for its life.

A process that imports keiba holds a few hundred thousand objects (modules, classes, caches)
for as long as it runs. Python's cyclic collector walks all of them at every full collection,
which stops the process for 100 ms or more: on a race day that pause can land in a decision
with seconds to the close, in the server it lands in every request in flight. `settle_heap`
collects the garbage there is and then exempts every object left from later collections
(`gc.freeze`); objects freed by their last reference are freed all the same, and later
collections walk only what was made after.
"""

from __future__ import annotations

import gc

__all__ = ["settle_heap"]


def settle_heap() -> None:
    """Collect the garbage there is, then exempt every object left from later collections."""
    gc.collect()
    gc.freeze()
