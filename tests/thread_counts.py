"""Running a snippet of Python under several Polars or BLAS thread counts, to compare what it
prints.

A module of its own (not a conftest) so tests anywhere can import it by one unambiguous name.
"""

from __future__ import annotations

import os
import subprocess
import sys

__all__ = ["outputs_by_blas_threads", "outputs_by_polars_threads"]


def outputs_by_polars_threads(code: str, *args: str, threads: tuple[int, ...] = (1, 8)) -> set[str]:
    """What `python -c code args…` prints with each POLARS_MAX_THREADS (one value: no change)."""
    return _outputs(code, args, [{"POLARS_MAX_THREADS": str(n)} for n in threads])


def outputs_by_blas_threads(code: str, *args: str, threads: tuple[int, ...] = (1, 2)) -> set[str]:
    """What `python -c code args…` prints with each number of BLAS (OpenBLAS/OpenMP) threads."""
    names = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    return _outputs(code, args, [dict.fromkeys(names, str(n)) for n in threads])


def _outputs(code: str, args: tuple[str, ...], settings: list[dict[str, str]]) -> set[str]:
    return {
        subprocess.run(
            [sys.executable, "-c", code, *args],
            env={**os.environ, **setting},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for setting in settings
    }
