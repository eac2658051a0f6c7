"""Running a snippet of Python under several Polars thread counts, to compare what it prints.

A module of its own (not a conftest) so tests anywhere can import it by one unambiguous name.
"""

from __future__ import annotations

import os
import subprocess
import sys

__all__ = ["outputs_by_polars_threads"]


def outputs_by_polars_threads(code: str, *args: str, threads: tuple[int, ...] = (1, 8)) -> set[str]:
    """What `python -c code args…` prints with each POLARS_MAX_THREADS (one value: no change)."""
    return {
        subprocess.run(
            [sys.executable, "-c", code, *args],
            env={**os.environ, "POLARS_MAX_THREADS": str(n)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for n in threads
    }
