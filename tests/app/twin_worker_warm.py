"""Loads Themis's compiled solver in the crash test's fork server, after `twin_worker`.

Every child forked from the server then starts with the solver's kernels in memory: the race
day's `warm_up()` finds them loaded instead of importing numba and reading its cache again, half
a second of CPU in each of the hundred children. It starts no thread (the server's children are
forked from it: see `twin_worker`): numba's kernels run on the calling thread.
"""

from __future__ import annotations

from keiba.themis import warm_up

warm_up()
