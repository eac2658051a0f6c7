"""One race's decision from the warehouse or a payload (`keiba.app.decide`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from keiba.app.decide import decide_race, from_payload, from_warehouse
from keiba.common.config import KeibaConfig, load_config
from keiba.common.errors import KeibaError
from keiba.common.storage import LoadSource
from keiba.common.storage.datasets import open_dataset
from keiba.themis import Bankroll, Quote

R1, R2 = "2020010506010101", "2020010506010102"


@pytest.fixture
def config(tiny_world, tmp_path: Path) -> KeibaConfig:
    config = load_config(None, tmp_path)
    with open_dataset(config) as w:
        w.load(tiny_world, LoadSource("real", "tiny", dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))
    return config


def test_without_snapshots_or_probabilities_the_race_is_priced_by_its_final_odds(
    config: KeibaConfig,
) -> None:
    race = from_warehouse(config, R2)
    assert race.odds == {"win": {"1": 1.8, "2": 4.0, "3": 5.0}}  # horse 4 was scratched
    inverse = {1: 1 / 1.8, 2: 1 / 4.0, 3: 1 / 5.0}
    total = sum(inverse.values())
    assert race.probabilities == pytest.approx({h: v / total for h, v in inverse.items()})
    assert race.frames == {1: 1, 2: 2, 3: 3}
    assert len(race.notes) == 2
    result = decide_race(config, dataclasses.replace(race, bankroll=Bankroll(1_000_000)))
    assert result["bets"] == []  # the market's own probabilities never beat its takeout
    assert result["notes"][:2] == race.notes


def test_snapshots_and_given_probabilities_are_used_as_they_are(config: KeibaConfig) -> None:
    given = {1: 0.7, 2: 0.15, 3: 0.1, 4: 0.05}
    race = from_warehouse(config, R1, given)
    assert race.probabilities == given and race.notes == []
    assert race.odds["win"]["1"] == Quote(2.0, None, None)
    result = decide_race(config, dataclasses.replace(race, bankroll=1_000_000))
    assert [(b["bet_type"], b["combination"]) for b in result["bets"]] == [("win", "1")]


def test_an_unknown_race_and_a_missing_bankroll_are_clear_errors(config: KeibaConfig) -> None:
    with pytest.raises(KeibaError, match="no starters for race 2020010506019999"):
        from_warehouse(config, "2020010506019999")
    with pytest.raises(KeibaError, match="no bankroll"):
        decide_race(config, from_warehouse(config, R2))


def test_a_payload_becomes_themis_inputs() -> None:
    race = from_payload(
        {
            "probabilities": {"1": 0.6, "2": 0.4},
            "odds": {"win": {"1": 2.0}, "place": {"2": {"odds": 1.2, "odds_high": 1.5}}},
            "frames": {"1": 1, "2": 2},
            "bankroll": {"balance_yen": 5_000, "tickets_today": 2},
        },
        "race.json",
    )
    assert race.probabilities == {1: 0.6, 2: 0.4} and race.frames == {1: 1, 2: 2}
    assert race.odds == {"win": {"1": 2.0}, "place": {"2": Quote(1.2, 1.5, None)}}
    assert race.bankroll == Bankroll(5_000, tickets_today=2)
    with pytest.raises(KeibaError, match=r"race\.json must hold an object with"):
        from_payload({"odds": {}}, "race.json")
    with pytest.raises(KeibaError, match="probabilities: keys must be horse numbers"):
        from_payload({"probabilities": {"one": 1.0}, "odds": {}}, "race.json")
