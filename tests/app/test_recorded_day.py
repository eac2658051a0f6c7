"""A race day replayed from the pages it recorded, in simulated time, through the same engine.

A three-race day of a small simulated world is played once against the netkeiba twin; every
page it fetched is stored with the instant it was fetched. Each test replays that recording
from a fresh copy of the home: with the same settings the replay must decide exactly as the
recorded day did; with a later decision it must see only what had been recorded by then.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
from test_app_race_day import _config, _three_races, play

from keiba.app.race_day import DayRun
from keiba.app.recorded_day import prepare_replay, replay_day
from keiba.app.twin_day import TwinPrepared
from keiba.bankroll import Ledger
from keiba.bankroll.audit import verify
from keiba.common.config import KeibaConfig
from keiba.common.errors import KeibaError
from keiba.common.storage import create_ledger_engine
from keiba.common.storage.datasets import open_dataset
from keiba.scheduler import Outcome
from twin_home import WORLD, TwinHome


@pytest.fixture(scope="module")
def recorded_home(
    tmp_path_factory: pytest.TempPathFactory, twin_home: TwinHome
) -> tuple[Path, KeibaConfig, DayRun]:
    """A home in which a three-race twin day was played (and so recorded)."""
    home = tmp_path_factory.mktemp("recorded-home")
    full = twin_home.prepare(_config(home), world=WORLD)
    prepared = TwinPrepared(full.config, _three_races(full.day), full.run_dir, full.model_store)
    day, _ = play(prepared)
    return home, prepared.config, day


@pytest.fixture
def recorded(
    recorded_home: tuple[Path, KeibaConfig, DayRun], tmp_path: Path
) -> tuple[KeibaConfig, DayRun]:
    """A fresh copy of the recorded home: a replay in it touches no other test."""
    home, config, day = recorded_home
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    return config.model_copy(update={"home": copy}), day


def _rows(day: DayRun) -> list[dict[str, object]]:
    return day.rows()


def _tickets(ledger_url: str, account: str) -> list[dict[str, object]]:
    engine = create_ledger_engine(ledger_url)
    try:
        return Ledger(engine, _Later(), account).tickets()
    finally:
        engine.dispose()


class _Later:
    def now(self) -> dt.datetime:
        return dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def _races(config: KeibaConfig) -> int:
    with open_dataset(config, must_exist=True) as warehouse:
        return int(warehouse.query("SELECT count(*) AS n FROM races")["n"][0])


def test_a_replay_with_the_same_settings_decides_exactly_as_the_recorded_day(
    recorded: tuple[KeibaConfig, DayRun],
) -> None:
    config, original = recorded
    races_before = _races(config)
    replayed = replay_day(config, original.race_date)
    assert _rows(replayed) == _rows(original)
    assert {o.outcome for o in replayed.outcomes.values()} & {Outcome.BOUGHT}, _rows(original)
    assert replayed.ledger != original.ledger and replayed.journal != original.journal
    bought = _tickets(replayed.ledger, replayed.account)
    assert [(t["race_id"], t["stake_yen"], t["payout_yen"]) for t in bought] == [
        (t["race_id"], t["stake_yen"], t["payout_yen"])
        for t in _tickets(original.ledger, original.account)
    ]
    assert replayed.balance_yen == original.balance_yen
    assert verify(create_ledger_engine(replayed.ledger)).ok
    assert _races(config) == races_before  # the recorded dataset is not touched

    again = replay_day(config, original.race_date)  # a finished replay resumes: nothing redone
    assert _rows(again) == _rows(original)
    assert len(_tickets(again.ledger, again.account)) == len(bought)


def test_a_later_decision_sees_only_what_was_recorded_by_then(
    recorded: tuple[KeibaConfig, DayRun],
) -> None:
    config, original = recorded
    later = config.model_copy(
        update={
            "race_day": config.race_day.model_copy(
                update={"decision_lead_s": 200, "max_odds_age_s": 60}
            )
        }
    )
    replayed = replay_day(later, original.race_date)
    assert set(replayed.outcomes) == set(original.outcomes)
    for outcome in replayed.outcomes.values():
        # nothing was fetched between the recorded decision and the new one, 160 s later: the
        # replay never gets a fresher page than had been recorded by then
        assert outcome.outcome is Outcome.SKIPPED
        found = re.search(r"odds are (\d+) s old at decision \(limit 60 s\)", outcome.reason)
        assert found and int(found[1]) >= 160, outcome.reason


def test_a_fresh_replay_starts_over_and_a_day_never_recorded_is_refused(
    recorded: tuple[KeibaConfig, DayRun],
) -> None:
    config, original = recorded
    first = replay_day(config, original.race_date)
    journal = Path(first.journal)
    journal.write_bytes(b"not a journal")  # only a fresh start gets past this
    fresh = replay_day(config, original.race_date, fresh=True)
    assert _rows(fresh) == _rows(original)
    with pytest.raises(KeibaError, match="no pages were recorded for"):
        prepare_replay(config, original.race_date + dt.timedelta(days=1))
