"""The code and its tests read nothing outside the repository.

A fresh clone has no team folder beside it, so no file under `src/` or `tests/` may name one: no
relative path out of the checkout into a `shared` folder, no path built with a `"shared"` part,
no path through a `shared` folder (`shared/data`, `/work/shared`) in code or text. Data the
tests need is shipped under `tests/` instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_OUTSIDE = re.compile(
    rb"\.\.[/\\]shared\b"  # a relative path out of the checkout
    rb"|\bshared[/\\][\w.-]|\w[/\\]shared\b"  # a path through a folder named shared
    rb"|(?:/|joinpath\(|[\"']\.\.[\"']\s*,)\s*[\"']shared[\"']"  # a path built with "shared"
)


def outside_paths(text: bytes) -> list[str]:
    """Each line of `text` that names a shared folder outside the checkout."""
    return [
        line.decode("utf-8", "replace").strip()
        for line in text.splitlines()
        if _OUTSIDE.search(line)
    ]


def _files() -> list[Path]:
    return [
        path
        for top in ("src", "tests")
        for path in sorted((ROOT / top).rglob("*"))
        if path.is_file()
        and path != Path(__file__).resolve()
        and not any(p == "__pycache__" or p.startswith(".") for p in path.parts)
    ]


def test_no_file_under_src_or_tests_names_a_folder_outside_the_repository() -> None:
    files = _files()
    assert len(files) > 100  # the walk found the code, the tests and their fixtures
    found = {
        str(path.relative_to(ROOT)): lines
        for path in files
        if (lines := outside_paths(path.read_bytes()))
    }
    assert found == {}


@pytest.mark.parametrize(
    "line",
    [
        'FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "netkeiba"',
        "DATA = Path(__file__).parents[3] / 'shared' / 'data' / 'jra2018'",
        'source = Path("../shared/data/jra2018")',
        'os.path.join(root, "..", "shared")',
        "root.joinpath('shared', 'data')",
        "Import the data set (`../shared`) into races.",
        "kept unmodified in the project's shared data folder (`shared/data/jra2018/`)",
        'DATA = Path("/work/shared")',
    ],
)
def test_what_counts_as_outside(line: str) -> None:
    assert outside_paths(line.encode()) == [line]


@pytest.mark.parametrize(
    "line",
    [
        'shared = list(args.get("shared", []))',
        '{"mode": "mix", "shared": shared}',
        "a cluster shared by all test processes under a file lock",
        "settled_shared += 1",
        "ANSWERS = ROOT / 'tests' / 'fixtures' / 'shared_pages'",
        'INTERNAL = re.compile(r"issue \\d|shared/|TODO")',  # a test that forbids such paths
    ],
)
def test_what_does_not(line: str) -> None:
    assert outside_paths(line.encode()) == []
