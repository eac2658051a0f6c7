"""`keiba release list|show|rollback`, run in-process on a fresh home."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from keiba.cli.main import app
from keiba.common.clock import FixedClock
from keiba.common.config import ThemisConfig
from keiba.common.storage import create_ledger_engine
from keiba.release import Release, ReleaseBook

T0 = dt.datetime(2026, 6, 24, 3, 0, tzinfo=dt.UTC)
FIRST = Release.of("default", "fm-1", ThemisConfig())
SECOND = Release.of("default", "fm-2", ThemisConfig(ev_threshold=1.15))


@pytest.fixture
def keiba(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    for name in [k for k in os.environ if k.startswith("KEIBA_")]:
        monkeypatch.delenv(name)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["--home", str(tmp_path), *args])
        assert result.exit_code == code, result.output
        return result.stdout if "--json" in args else result.output

    return run


@pytest.fixture
def promoted(tmp_path: Path) -> None:
    engine = create_ledger_engine(f"sqlite:///{tmp_path / 'ledger' / 'ledger.sqlite'}")
    book = ReleaseBook(engine, FixedClock(T0))
    book.promote(FIRST, by="ann", reason="first")
    book.promote(SECOND, by="bob", reason="second")
    engine.dispose()


def test_list_show_and_a_rollback_by_hand(keiba: Callable[..., str], promoted: None) -> None:
    listed = json.loads(keiba("release", "list", "--json"))
    assert listed["in_force"] == SECOND.release_id and listed["shadow"] is None
    assert [e["by"] for e in listed["events"]] == ["ann", "bob"]
    assert json.loads(keiba("release", "show"))["policy"]["ev_threshold"] == 1.15
    assert json.loads(keiba("release", "show", FIRST.release_id))["model_version"] == "fm-1"
    said = keiba("release", "rollback", "--reason", "bad week", "--by", "carol")
    assert f"rollback: {FIRST.release_id}" in said
    listed = json.loads(keiba("release", "list", "--json"))
    assert listed["in_force"] == FIRST.release_id
    assert listed["events"][-1]["reason"] == "bad week"
    refused = keiba("release", "rollback", "--reason", "again", code=1)
    assert "no earlier release" in refused and len(refused.strip().splitlines()) == 1


def test_without_a_release_show_says_how_to_promote(keiba: Callable[..., str]) -> None:
    said = keiba("release", "show", code=1)
    assert "keiba release promote" in said and len(said.strip().splitlines()) == 1
    assert "no model" in keiba("release", "promote", "--reason", "try", code=1)


def test_a_canary_refuses_bad_settings_and_a_stop_with_none_running_in_one_line(
    keiba: Callable[..., str], promoted: None
) -> None:
    assert json.loads(keiba("release", "list", "--json"))["canary"] is None
    for args, said in (
        (("--share", "0.5", "--race-cap", "1000", "--day-cap", "500"), "exceeds its day cap"),
        (("--share", "1.5", "--race-cap", "1000", "--day-cap", "5000"), "share is in (0, 1]"),
        (("--share", "0.5", "--race-cap", "150", "--day-cap", "5000"), "multiple of 100"),
        (("--stop",), "no canary runs"),
    ):
        refused = keiba("release", "canary", "--reason", "try", *args, code=1)
        assert said in refused and len(refused.strip().splitlines()) == 1
    missing = keiba("release", "canary", "--reason", "try", "--share", "0.5", code=2)
    assert "--race-cap" in missing


def test_compare_without_the_days_journal_says_so_in_one_line(keiba: Callable[..., str]) -> None:
    said = keiba("release", "compare", "--date", "2026-06-20", code=1)
    assert "no journal for 2026-06-20" in said and len(said.strip().splitlines()) == 1
