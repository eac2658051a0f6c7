"""A shadow candidate: decided beside the release in force, never bought, audited."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from keiba.common.bet_types import BetType
from keiba.common.clock import FixedClock
from keiba.common.config import ThemisConfig
from keiba.common.storage import create_ledger_engine
from keiba.engine import Account, RaceInputs, ReplayRace
from keiba.release import Release, ReleaseBook, ReleaseError, ReleaseShadow
from keiba.themis import Bankroll

AT = dt.datetime(2026, 6, 7, 3, 0, tzinfo=dt.UTC)
CANDIDATE = Release.of("sim", "fm-2", ThemisConfig())


def race(at: dt.datetime, model_version: str) -> RaceInputs:
    """Eight runners; horse 1 is believed twice as likely as its odds say."""
    horses = tuple(range(1, 9))
    return RaceInputs(
        race_id=f"{at:%Y%m%d}01020301",
        race_date=at.date(),
        decision_at=at,
        horses=horses,
        frames={h: (h + 1) // 2 for h in horses},
        probabilities={h: 0.5 if h == 1 else 0.5 / 7 for h in horses},
        offers={BetType.WIN: {str(h): 4.0 if h == 1 else 9.0 for h in horses}},
        model_version=model_version,
        odds_source="final",
    )


def test_a_shadow_decides_as_themis_would_with_its_own_policy() -> None:
    inputs = race(AT, "fm-2")
    bold = ReleaseShadow(CANDIDATE).decide(inputs, Bankroll(100_000, 0, 0, 100_000))
    strict = Release.of("sim", "fm-2", ThemisConfig(ev_threshold=5.0))
    assert (
        bold.bets
        and not ReleaseShadow(strict).decide(inputs, Bankroll(100_000, 0, 0, 100_000)).bets
    )
    row = ReleaseShadow(CANDIDATE).row(inputs.race_id, "r-in-force", bold)
    assert row["status"] == "decided" and row["in_force"] == "r-in-force"
    assert row["staked_yen"] == bold.total_stake > 0
    assert ReleaseShadow(CANDIDATE).row(inputs.race_id, "r", "no odds")["status"] == "skipped"


def test_in_a_replay_it_is_a_shadow_strategy_with_its_own_account() -> None:
    inputs = race(AT, "fm-2")
    replayed = ReplayRace(inputs, 0, AT, {}, {}, {}, {})
    account = Account("shadow", cash=100_000, day_start=100_000)
    bets = ReleaseShadow(CANDIDATE).bets(replayed, account)
    expected = ReleaseShadow(CANDIDATE).decide(inputs, Bankroll(100_000, 0, 0, 100_000))
    assert [(b.combination, b.stake) for b in bets] == [
        (b.combination, int(b.stake)) for b in expected.bets
    ]


def test_a_shadow_runs_until_stopped_or_promoted(tmp_path: Path) -> None:
    book = ReleaseBook(create_ledger_engine(f"sqlite:///{tmp_path / 'l.sqlite'}"), FixedClock(AT))
    assert book.shadow("sim") is None
    book.start_shadow(CANDIDATE, by="ann", reason="compare")
    assert book.shadow("sim") == CANDIDATE and book.in_force("sim") is None
    assert book.stop_shadow("sim", by="ann", reason="enough") == CANDIDATE
    assert book.shadow("sim") is None
    with pytest.raises(ReleaseError, match="no candidate runs in shadow"):
        book.stop_shadow("sim", by="ann", reason="again")
    book.start_shadow(CANDIDATE, by="ann", reason="compare")
    book.promote(CANDIDATE, by="ann", reason="it did well")
    assert book.shadow("sim") is None
