"""Releases in the audit chain: promotion, the release in force, rollback."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine

from keiba.bankroll.audit import verify
from keiba.common.clock import FixedClock
from keiba.common.config import ThemisConfig
from keiba.common.storage import create_ledger_engine
from keiba.release import CanarySettings, Release, ReleaseBook, ReleaseError

AT = dt.datetime(2026, 6, 24, 3, 0, tzinfo=dt.UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return create_ledger_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")


def test_a_release_id_names_dataset_model_and_policy() -> None:
    a = Release.of("sim", "fm-1", ThemisConfig())
    assert a.release_id == Release.of("sim", "fm-1", ThemisConfig(), {"x": 1}).release_id
    others = {
        Release.of("real", "fm-1", ThemisConfig()).release_id,
        Release.of("sim", "fm-2", ThemisConfig()).release_id,
        Release.of("sim", "fm-1", ThemisConfig(ev_threshold=1.2)).release_id,
    }
    assert a.release_id not in others and len(others) == 3
    assert a.themis() == ThemisConfig()


def test_promotions_stack_per_dataset_and_a_rollback_restores_the_one_before(
    engine: Engine,
) -> None:
    book = ReleaseBook(engine, FixedClock(AT))
    assert book.in_force("sim") is None
    first = Release.of("sim", "fm-1", ThemisConfig())
    second = Release.of("sim", "fm-2", ThemisConfig(ev_threshold=1.15))
    book.promote(first, by="ann", reason="first model")
    event = book.promote(second, by="bob", reason="better model", forced=("delta_r2",))
    book.promote(Release.of("other", "fm-9", ThemisConfig()), by="ann", reason="elsewhere")
    assert event.release == second and event.previous_id == first.release_id
    assert (event.by, event.reason, event.forced) == ("bob", "better model", ("delta_r2",))
    restored = book.rollback("sim", by="ann", reason="lost money")
    assert restored.release == first
    current = book.in_force("sim")
    assert current is not None and current.release == first
    assert [e.action for e in book.events("sim")] == ["promote", "promote", "rollback"]
    assert book.find("sim", second.release_id).model_version == "fm-2"
    assert verify(engine).ok


def test_a_rollback_needs_an_earlier_release_and_a_promotion_a_reason(engine: Engine) -> None:
    book = ReleaseBook(engine, FixedClock(AT))
    with pytest.raises(ReleaseError, match="no release is in force"):
        book.rollback("sim", by="ann", reason="x")
    book.promote(Release.of("sim", "fm-1", ThemisConfig()), by="ann", reason="first")
    with pytest.raises(ReleaseError, match="no earlier release"):
        book.rollback("sim", by="ann", reason="x")
    with pytest.raises(ReleaseError, match="reason"):
        book.promote(Release.of("sim", "fm-2", ThemisConfig()), by="ann", reason=" ")


def test_reading_an_empty_book_writes_nothing(engine: Engine) -> None:
    book = ReleaseBook(engine, FixedClock(AT))
    assert book.events("sim") == [] and book.releases("sim") == []
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM audit_log").scalar_one() == 0


def test_a_canary_needs_a_release_in_force_runs_alone_and_its_records_verify(
    engine: Engine,
) -> None:
    book = ReleaseBook(engine, FixedClock(AT))
    first, candidate = (
        Release.of("sim", "fm-1", ThemisConfig()),
        Release.of("sim", "fm-2", ThemisConfig()),
    )
    settings = CanarySettings(0.25, 1_000, 5_000)
    with pytest.raises(ReleaseError, match="none is on 'sim'"):
        book.start_canary(candidate, settings, by="ann", reason="try")
    book.promote(first, by="ann", reason="first")
    with pytest.raises(ReleaseError, match="already in force"):
        book.start_canary(first, settings, by="ann", reason="try")
    started = book.start_canary(candidate, settings, by="ann", reason="try")
    assert (started.action, started.by, started.previous_id) == ("canary", "ann", first.release_id)
    running = book.canary("sim")
    assert running is not None and running.release == candidate and running.settings == settings
    assert book.canary("real") is None
    with pytest.raises(ReleaseError, match="already runs"):
        book.start_canary(Release.of("sim", "fm-3", ThemisConfig()), settings, by="bob", reason="x")
    assert running.cap_left(0) == 1_000 and running.cap_left(4_500) == 500
    assert running.cap_left(5_000) == 0 and running.cap_left(9_000) == 0
    stopped = book.stop_canary("sim", by="bob", reason="enough")
    assert (stopped.action, stopped.by, stopped.reason) == ("canary_stop", "bob", "enough")
    assert book.canary("sim") is None and verify(engine).ok
